//! End-to-end tests of the real `onair` binary: it is started as a child
//! process on port 0 with its own SQLite file, driven over real HTTP and SSE,
//! stopped with real signals (SIGTERM, SIGKILL) and started again.
//!
//! The binary comes from `ONAIR_BIN` (set by `cargo xtask test`), or is built
//! once with `cargo build -p onair-server --bin onair`.

use onair_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_server_logs_where_it_listens_and_answers_healthz() {
    let database = Database::new();
    let mut server = Server::start(&database);
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.get("/widget.js", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get("/api/v1/accounts/nobody/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_account");
    server.stop();
    let log = server.finish_log();
    assert!(
        log.contains(&format!("listening on {}", server.base)),
        "{log}"
    );
}

#[tokio::test]
async fn an_account_created_by_the_cli_can_log_in_to_a_server_started_later() {
    let database = Database::new();
    let created = database.create_account("acme", "Europe/Prague");
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(
        created.status.success(),
        "account create failed: {}\n{stdout}",
        String::from_utf8_lossy(&created.stderr)
    );
    let printed: Value = serde_json::from_str(&stdout).expect("account create prints JSON");
    assert_eq!(printed["account"]["slug"], "acme");
    assert_eq!(printed["account"]["name"], "acme Ltd");
    assert_eq!(printed["account"]["timezone"], "Europe/Prague");
    assert_eq!(printed["owner"]["email"], owner_email("acme"));
    assert_eq!(printed["owner"]["role"], "admin");
    assert!(
        !stdout.contains(PASSWORD),
        "the password must not be printed"
    );

    let mut server = Server::start(&database);
    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["id"], printed["owner"]["id"]);
    let (status, body) = server
        .login("acme", &owner_email("acme"), "wrong password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    server.stop();
}

#[tokio::test]
async fn an_account_created_by_the_cli_while_the_server_runs_can_log_in_at_once() {
    let database = Database::new();
    let mut server = Server::start(&database);
    // The server has not heard of it yet.
    let (status, _) = server.get("/api/v1/accounts/acme/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let created = database.create_account("acme", "Europe/Prague");
    assert!(
        created.status.success(),
        "account create failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );

    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    server.set_status(&token, "online").await;
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online");
    // A second one, created next to a running server that already knows the first.
    let created = database.create_account("globex", "America/New_York");
    assert!(created.status.success());
    server
        .login_ok("globex", &owner_email("globex"), PASSWORD)
        .await;
    server.stop();
}

#[tokio::test]
async fn account_create_writes_the_store_only_and_leaves_other_accounts_versions_alone() {
    let database = Database::new();
    assert!(
        database
            .create_account("acme", "Europe/Prague")
            .status
            .success()
    );
    let mut server = Server::start(&database);
    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    server.set_status(&token, "online").await;
    let before = server.get_ok("/api/v1/accounts/acme/status", None).await["version"]
        .as_u64()
        .expect("version");
    let mut stream = server.events("/api/v1/accounts/acme/status/events").await;
    stream.expect("status").await;

    // Another account created next to the running server.
    let created = database.create_account("globex", "America/New_York");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(
        !stream
            .ends_within(std::time::Duration::from_millis(300))
            .await,
        "acme's stream saw something"
    );
    server.stop();

    // The stored version is what the server left: a restart starts two past
    // it, as after any restart, and not further.
    let mut server = Server::start(&database);
    let after = server.get_ok("/api/v1/accounts/acme/status", None).await["version"]
        .as_u64()
        .expect("version");
    assert!(after > before, "versions never go back: {before} → {after}");
    server.stop();
    let mut again = Server::start(&database);
    let restarted = again.get_ok("/api/v1/accounts/acme/status", None).await["version"]
        .as_u64()
        .expect("version");
    assert_eq!(
        after - before,
        restarted - after,
        "account create bumped acme's stored version ({before} → {after}, a plain restart {after} → {restarted})"
    );
    again.stop();
}

#[tokio::test]
async fn the_cli_refuses_invalid_input_with_a_clear_message() {
    let database = Database::new();
    let bad = database.create_account("acme", "Mars/Olympus_Mons");
    assert!(!bad.status.success(), "a bad timezone must fail");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("Mars/Olympus_Mons") && stderr.contains("timezone"),
        "the message should name the timezone: {stderr}"
    );
    assert!(bad.stdout.is_empty(), "nothing on stdout when it fails");

    // The slug is now free; taking it twice is refused.
    let first = database.create_account("acme", "Europe/Prague");
    assert!(first.status.success());
    let again = database.create_account("acme", "Europe/Prague");
    assert!(!again.status.success(), "a taken slug must fail");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("acme"), "{stderr}");

    let mut server = Server::start(&database);
    server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    server.stop();
}

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_cleanly() {
    let database = Database::new();
    let mut server = Server::start_operated(&database);
    let token = server.create_account("acme").await;
    server.set_status(&token, "online").await;
    let mut agent = server
        .events(&format!("/api/v1/me/events?access_token={token}"))
        .await;
    agent.expect("agent").await;
    let mut status = server.events("/api/v1/accounts/acme/status/events").await;
    assert_eq!(status.expect("status").await.data["status"], "online");

    let status_code = server.terminate(SOON);
    assert!(
        status_code.success(),
        "exit status {status_code}; log:\n{}",
        server.finish_log()
    );
    assert!(agent.ends_within(SOON).await, "the agent stream must end");
    assert!(status.ends_within(SOON).await, "the status stream must end");
    let log = server.finish_log();
    assert!(!log.contains("ERROR"), "{log}");

    // Nothing was lost, and the restart does not flap the chat box.
    let mut server = Server::start(&database);
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["status"], "online");
    server.stop();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let database = Database::new();
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/groups",
            Some(&token),
            json!({"key": "vip", "name": "Very important"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.set_status(&token, "online").await;
    let version_before = server.get_ok("/api/v1/accounts/acme/status", None).await["version"]
        .as_u64()
        .expect("version");
    server.kill_9();

    let mut server = Server::start_with(&database, options());
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let version_after = snapshot["version"].as_u64().expect("version");
    assert!(
        version_after > version_before,
        "version {version_after} after kill -9, {version_before} before"
    );
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["status"], "online");
    let groups = server
        .get_ok("/api/v1/accounts/acme/groups", Some(&token))
        .await;
    assert_eq!(
        groups,
        json!({"groups": [{"key": "vip", "name": "Very important"}]})
    );
    let (status, _) = server
        .get("/api/v1/accounts/acme/status?group=vip", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}

#[tokio::test]
async fn demo_creates_the_demo_account_once() {
    let database = Database::new();
    let demo = || Options {
        demo: true,
        ..Options::default()
    };
    let mut server = Server::start_with(&database, demo());
    let site = server.get_ok("/api/v1/accounts/demo/status", None).await;
    assert_eq!(site["account"], "demo");
    for group in ["sales", "support"] {
        let snapshot = server
            .get_ok(&format!("/api/v1/accounts/demo/status?group={group}"), None)
            .await;
        assert_eq!(snapshot["group"], group);
    }
    for email in ["alice@demo.onair", "bob@demo.onair", "carol@demo.onair"] {
        server.login_ok("demo", email, "onair-demo").await;
    }
    server.stop();
    let log = server.finish_log();
    assert!(
        log.contains("alice@demo.onair") && log.contains("onair-demo"),
        "--demo prints the logins: {log}"
    );

    // Again on the same database: it starts, and nothing is created twice.
    let mut server = Server::start_with(&database, demo());
    let alice = server
        .login_ok("demo", "alice@demo.onair", "onair-demo")
        .await;
    let agents = server
        .get_ok("/api/v1/accounts/demo/agents", Some(&alice))
        .await;
    let mut emails: Vec<&str> = agents["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["email"].as_str().expect("email"))
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        ["alice@demo.onair", "bob@demo.onair", "carol@demo.onair"]
    );
    let groups = server
        .get_ok("/api/v1/accounts/demo/groups", Some(&alice))
        .await;
    let keys: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["sales", "support"]);
    let me = server.get_ok("/api/v1/me", Some(&alice)).await;
    // Alice's logins from both runs; the seeding's own login was ended.
    let devices: Vec<&str> = me["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["device"].as_str().expect("device"))
        .collect();
    assert_eq!(devices, ["e2e", "e2e"], "{me}");
    server.stop();
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let database = Database::new();
    let mut server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            log: Some("debug"),
            ..Options::default()
        },
    );
    let token = server.create_account("acme").await;
    // A wrong operator token is refused, and does not show up either.
    let (status, _) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts",
            Some("wrong-operator-token-b7d1"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut stream = server
        .events(&format!("/api/v1/me/events?access_token={token}"))
        .await;
    stream.expect("agent").await;
    server.get_ok("/api/v1/me", Some(&token)).await;
    server.set_status(&token, "online").await;
    server.get_ok("/api/v1/accounts/acme", Some(&token)).await;
    // Visitor tokens are secrets too: in a body, and in an event stream's query.
    let started = post_visitor(
        &server,
        "/api/v1/accounts/acme/conversations",
        json!({"visitor_token": VISITOR_TOKEN, "text": "hello"}),
    )
    .await;
    let id = started["conversation"]["id"].as_str().expect("an id");
    let mut visitor = server
        .events(&format!(
            "/api/v1/accounts/acme/conversations/{id}/events?visitor_token={VISITOR_TOKEN}"
        ))
        .await;
    visitor.expect("message").await;
    drop(visitor);
    // Refused requests carry tokens too.
    let (status, _) = server
        .get(&format!("/api/v1/me/events?access_token={token}x"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .get(&format!("/api/v1/nothing-here?access_token={token}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get("/api/v1/me", Some(&format!("{token}-ended")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    drop(stream);
    server.stop();

    let log = server.finish_log();
    assert!(
        log.contains("DEBUG") && log.contains("/api/v1/me/events"),
        "the log should show debug output about the requests:\n{log}"
    );
    for (what, secret) in [
        ("agent token", token.as_str()),
        ("operator token", OPERATOR_TOKEN),
        ("wrong operator token", "wrong-operator-token-b7d1"),
        ("password", PASSWORD),
        ("visitor token", VISITOR_TOKEN),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn after_a_crash_a_session_that_had_expired_does_not_come_back() {
    let database = Database::new();
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    };
    // A first run that ends cleanly records when it stopped.
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    let (status, body) = server
        .request(
            reqwest::Method::PATCH,
            "/api/v1/accounts/acme",
            Some(&token),
            json!({"grace_seconds": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop();

    // A second run: the owner goes online without a stream and walks away;
    // once the grace period has passed the chat box is offline. Then it crashes.
    let mut server = Server::start_with(&database, options());
    let mut events = server.events("/api/v1/accounts/acme/status/events").await;
    events.expect("status").await;
    server.set_status(&token, "online").await;
    assert_eq!(events.expect("status").await.data["status"], "online");
    // Within SOON (5 s): the grace period is 3 s.
    assert_eq!(events.expect("status").await.data["status"], "offline");
    server.kill_9();

    // Nobody was there when it crashed, so nobody is there after it.
    let mut server = Server::start_with(&database, options());
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "offline", "{snapshot}");
    server.stop();
}

/// Polls `/metrics` until it shows `sample` (each poll is a round trip).
async fn wait_for_metric(server: &Server, sample: &str) {
    let polled = tokio::time::timeout(SOON, async {
        loop {
            let text = server
                .client
                .get(server.url("/metrics"))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            if text.lines().any(|line| line == sample) {
                return;
            }
        }
    })
    .await;
    assert!(polled.is_ok(), "/metrics never showed {sample}");
}

/// A visitor token as the widget makes one: 32 random bytes, base64url.
const VISITOR_TOKEN: &str = "k3J9wQm2Vx7pL0aZcE5tYb8nR1uHs4Dg6fIoMqWjXeA";

async fn post_visitor(server: &Server, path: &str, body: Value) -> Value {
    let (status, body) = server
        .request(reqwest::Method::POST, path, None, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    body
}

#[tokio::test]
async fn visitor_messages_answered_201_survive_kill_9() {
    let database = Database::new();
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    server.set_status(&token, "online").await;
    let started = post_visitor(
        &server,
        "/api/v1/accounts/acme/conversations",
        json!({"visitor_token": VISITOR_TOKEN, "text": "Do you ship to Norway?"}),
    )
    .await;
    assert_eq!(started["delivery"], "live");
    let live_id = started["conversation"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    post_visitor(
        &server,
        &format!("/api/v1/accounts/acme/conversations/{live_id}/messages"),
        json!({"visitor_token": VISITOR_TOKEN, "text": "And to Iceland?"}),
    )
    .await;
    server.set_status(&token, "offline").await;
    let offline = post_visitor(
        &server,
        "/api/v1/accounts/acme/conversations",
        json!({"visitor_token": VISITOR_TOKEN, "text": "Please call me back",
               "email": "vera@example.com"}),
    )
    .await;
    assert_eq!(offline["delivery"], "offline");
    // Killed the instant the last 201 arrived: no chance to flush anything.
    server.kill_9();

    let mut server = Server::start_with(&database, options());
    let inbox = server.get_ok("/api/v1/conversations", Some(&token)).await;
    let states: Vec<(&str, &str)> = inbox["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id"),
                c["state"].as_str().expect("state"),
            )
        })
        .collect();
    let offline_id = offline["conversation"]["id"].as_str().expect("an id");
    assert_eq!(
        states,
        [(offline_id, "offline"), (live_id.as_str(), "open")],
        "{inbox}"
    );
    let live = server
        .get_ok(&format!("/api/v1/conversations/{live_id}"), Some(&token))
        .await;
    let texts: Vec<&str> = live["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["Do you ship to Norway?", "And to Iceland?"]);
    let offline = server
        .get_ok(&format!("/api/v1/conversations/{offline_id}"), Some(&token))
        .await;
    assert_eq!(offline["conversation"]["email"], "vera@example.com");
    assert_eq!(offline["messages"][0]["text"], "Please call me back");
    assert_eq!(
        offline["messages"][1]["author"], "bot",
        "the offline reply too"
    );
    server.stop();
}

#[tokio::test]
async fn a_message_written_in_an_agents_grace_window_is_in_the_inbox_after_logging_back_in() {
    let database = Database::new();
    let mut server = Server::start_operated(&database);
    let laptop = server.create_account("acme").await;
    let mut dashboard = server
        .events(&format!("/api/v1/me/events?access_token={laptop}"))
        .await;
    dashboard.expect("agent").await;
    server.set_status(&laptop, "online").await;
    // The laptop lid closes: the stream drops without going offline.
    drop(dashboard);
    wait_for_metric(&server, "onair_open_streams{kind=\"agent\"} 0").await;

    // Within grace the chat box stays online and a customer writes.
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let started = post_visitor(
        &server,
        "/api/v1/accounts/acme/conversations",
        json!({"visitor_token": VISITOR_TOKEN, "text": "Is anyone there?", "name": "Vera"}),
    )
    .await;
    assert_eq!(started["delivery"], "live");
    let id = started["conversation"]["id"].as_str().expect("an id");

    // The agent logs in again, from another device.
    let phone = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let inbox = server.get_ok("/api/v1/conversations", Some(&phone)).await;
    let conversations = inbox["conversations"].as_array().expect("conversations");
    assert_eq!(conversations.len(), 1, "{inbox}");
    assert_eq!(conversations[0]["id"], id);
    assert_eq!(conversations[0]["name"], "Vera");
    let conversation = server
        .get_ok(&format!("/api/v1/conversations/{id}"), Some(&phone))
        .await;
    assert_eq!(conversation["messages"][0]["text"], "Is anyone there?");
    server.stop();
}

#[test]
fn cluster_mode_on_a_sqlite_file_is_refused_at_start_with_a_clear_message() {
    let database = Database::new();
    let output = onair()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database.url(),
        ])
        .args(["--redis", "redis://127.0.0.1:6379"])
        .output()
        .expect("run onair serve");
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--redis") && stderr.contains("postgres://"),
        "the message should say what is needed: {stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(
        !stderr.contains("backtrace"),
        "a message, not a backtrace: {stderr}"
    );
}
