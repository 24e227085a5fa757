//! Notifications with the real binary: its flags, an email and a webhook
//! delivery that survive `kill -9` while their receiver is down, and a
//! cluster that sends each once (docs/notifications.md).

#[path = "../../server/tests/common/receiver.rs"]
mod receiver;
#[path = "../../server/tests/common/smtp.rs"]
mod smtp;

use std::process::Stdio;
use std::time::Duration;

use onair_tests::*;
use receiver::{Receiver, assert_signed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smtp::SmtpSink;

const FROM: &str = "onair <noreply@onair.example>";

#[test]
fn smtp_without_a_sender_is_a_clear_start_up_error() {
    let database = Database::new();
    let output = onair()
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database.url())
        .args(["--smtp-url", "smtp://mailer:s3cret@127.0.0.1:2525"])
        .env_remove("ONAIR_MAIL_FROM")
        .stdin(Stdio::null())
        .output()
        .expect("run onair serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--smtp-url needs --mail-from"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let output = onair()
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database.url())
        .args([
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--mail-from",
            "not an address",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run onair serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--mail-from"), "{stderr}");
}

#[tokio::test]
async fn an_offline_message_acknowledged_before_kill_9_is_emailed_once_after_restart() {
    let sink = SmtpSink::start().await;
    sink.set_down(true);
    let database = Database::new();
    let url = sink.url();
    let args = [
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        FROM,
        "--public-url",
        "https://chat.acme.example/",
        "--outbox-retry-ms",
        "200",
        "--outbox-lease-ms",
        "1000",
    ];
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        args: &args,
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    server.create_account("acme").await;
    let (status, body) = server
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "v".repeat(43), "name": "Vic", "email": "vic@visitor.example",
                   "text": "Call me back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["delivery"], "offline");
    let id = body["conversation"]["id"].as_str().expect("id").to_owned();
    server.kill_9();
    assert!(sink.mails().is_empty(), "the relay was down");

    sink.set_down(false);
    let mut server = Server::start_with(&database, options());
    let mails = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails[0].to, [owner_email("acme")]);
    assert!(
        mails[0].body().contains(&format!(
            "https://chat.acme.example/dashboard#conversation={id}"
        )),
        "{}",
        mails[0].body()
    );
    // Longer than a lease and a retry: nothing more comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.mails().len(), 1, "exactly one email");
    server.stop();
    let log = server.finish_log();
    assert!(
        !log.contains("vic@visitor.example"),
        "no addresses in logs:\n{log}"
    );
}

#[tokio::test]
async fn the_nodes_of_a_cluster_send_each_email_once() {
    use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};

    let sink = SmtpSink::start().await;
    sink.set_down(true);
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let url = sink.url();
    let args = [
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        FROM,
        "--outbox-retry-ms",
        "200",
    ];
    let nodes = Cluster::start(3, &database, &redis, &args);
    let owner = nodes[0].create_account("acme").await;
    let (status, body) = nodes[0]
        .request(
            Method::POST,
            "/api/v1/accounts/acme/agents",
            Some(&owner),
            json!({"name": "Sam", "email": "sam@acme.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Offline messages through every node while the relay is down: each
    // node's worker tries, fails and retries.
    for n in 0..9 {
        let (status, body) = nodes[n % 3]
            .request(
                Method::POST,
                "/api/v1/accounts/acme/conversations",
                None,
                json!({"visitor_token": format!("visitor-token-{n:02}-0123456789"),
                       "email": "vic@visitor.example", "text": format!("message {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.set_down(false);

    let mails = sink.wait_for(18, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails_then = sink.mails();
    assert_eq!(
        mails_then.len(),
        18,
        "two agents × nine messages, once each"
    );
    let mut sent: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            let body = m.body();
            let n = (0..9)
                .find(|n| body.contains(&format!("message {n}\r\n")))
                .expect("a message number");
            (m.to.join(","), format!("message {n}"))
        })
        .collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 18, "no email twice: {sent:?}");
}

/// Creates a webhook through the API; returns it.
async fn add_webhook(server: &Server, token: &str, url: &str, events: &[&str]) -> Value {
    let (status, body) = server
        .request(
            Method::POST,
            "/api/v1/accounts/acme/webhooks",
            Some(token),
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["webhook"].clone()
}

#[tokio::test]
async fn private_webhook_targets_need_the_flag_or_its_variable() {
    let receiver = Receiver::start().await;
    let database = Database::new();
    let mut server = Server::start_operated(&database);
    let token = server.create_account("acme").await;
    let (status, body) = server
        .request(
            Method::POST,
            "/api/v1/accounts/acme/webhooks",
            Some(&token),
            json!({"url": receiver.url("/hook"), "events": ["message.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_webhook_url", "{body}");
    server.stop();

    let server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            env: &[("ONAIR_ALLOW_PRIVATE_WEBHOOKS", "1")],
            ..Options::default()
        },
    );
    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    add_webhook(
        &server,
        &token,
        &receiver.url("/hook"),
        &["message.created"],
    )
    .await;
}

#[tokio::test]
async fn a_webhook_delivery_acknowledged_before_kill_9_arrives_after_restart_with_its_id() {
    let receiver = Receiver::start().await;
    receiver.answer_always(503);
    let database = Database::new();
    let args = ["--outbox-retry-ms", "200", "--outbox-lease-ms", "1000"];
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        args: &args,
        env: &[("ONAIR_ALLOW_PRIVATE_WEBHOOKS", "true")],
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    let webhook = add_webhook(
        &server,
        &token,
        &receiver.url("/hook"),
        &["message.created"],
    )
    .await;
    let secret = webhook["secret"].as_str().expect("secret").to_owned();
    let (status, body) = server
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "v".repeat(43), "email": "vic@visitor.example",
                   "text": "Call me back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    receiver
        .wait_until("a first attempt", |all| !all.is_empty())
        .await;
    server.kill_9();
    // A request the dead process had already written is still answered
    // "down": whatever is answered 200 comes from the restarted one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.answer_always(200);
    let server = Server::start_with(&database, options());
    // The visitor's message and the automatic offline reply: two deliveries,
    // each delivered once.
    let delivered = |all: &[receiver::Received]| {
        let mut ids: Vec<&Value> = all
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| &r.body["id"])
            .collect();
        ids.sort_by_key(|id| id.to_string());
        ids.dedup();
        ids.len()
    };
    let all = receiver
        .wait_until("both deliveries answered 200", |all| delivered(all) == 2)
        .await;
    // Longer than a lease and a retry: nothing more comes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all_then = receiver.all();
    assert_eq!(
        all_then.len(),
        all.len(),
        "nothing after the 200s: {all_then:#?}"
    );
    assert_eq!(
        all.iter().filter(|r| r.answered == 200).count(),
        2,
        "{all:#?}"
    );
    let visitors: Vec<_> = all
        .iter()
        .filter(|r| r.body["data"] == body["message"])
        .collect();
    assert!(visitors.len() >= 2, "retried across the restart: {all:#?}");
    for received in &all {
        assert_signed(received, &secret);
    }
    for received in &visitors {
        assert_eq!(
            received.body["id"], visitors[0].body["id"],
            "the same id every time"
        );
    }
    drop(server);
}

#[tokio::test]
async fn the_nodes_of_a_cluster_send_each_status_change_once() {
    use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};

    let receiver = Receiver::start().await;
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let nodes = Cluster::start(3, &database, &redis, &["--allow-private-webhooks"]);
    let owner = nodes[0].create_account("acme").await;
    nodes[0].set_status(&owner, "offline").await;
    add_webhook(
        &nodes[0],
        &owner,
        &receiver.url("/status"),
        &["status.changed"],
    )
    .await;
    let status_is = |wanted: &'static str| {
        move |all: &[receiver::Received]| all.iter().any(|r| r.body["data"]["status"] == wanted)
    };
    nodes[1].set_status(&owner, "online").await;
    receiver.wait_until("online", status_is("online")).await;
    nodes[2].set_status(&owner, "offline").await;
    receiver.wait_until("offline", status_is("offline")).await;
    // Every node derives (heartbeats, the bus): none may send a change again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = receiver.all();
    let mut changes: Vec<(String, u64)> = all
        .iter()
        .map(|r| {
            assert_eq!(r.body["event"], "status.changed");
            let scope = r.body["data"]["group"].as_str().unwrap_or("").to_owned();
            let version = r.body["data"]["version"].as_u64().expect("a version");
            (scope, version)
        })
        .collect();
    let delivered = changes.len();
    changes.sort();
    changes.dedup();
    assert_eq!(changes.len(), delivered, "each change once: {all:#?}");
    assert_eq!(
        all.iter()
            .filter(|r| r.body["data"]["status"] == "online")
            .count(),
        1,
        "{all:#?}"
    );
}

#[tokio::test]
async fn a_visitor_connected_to_another_node_gets_no_email_for_a_reply_they_saw() {
    use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};

    let sink = SmtpSink::start().await;
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let url = sink.url();
    let args = [
        "--smtp-url",
        url.as_str(),
        "--mail-from",
        FROM,
        "--reply-digest-ms",
        "300",
    ];
    let nodes = Cluster::start(2, &database, &redis, &args);
    let owner = nodes[0].create_account("acme").await;
    let visitor = "visitor-token-connected-0123456789";
    let (status, started) = nodes[0]
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": visitor, "email": "vic@visitor.example", "text": "Anyone?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["conversation"]["id"]
        .as_str()
        .expect("conversation id")
        .to_owned();
    // The owner's notification of the offline message.
    sink.wait_for(1, Duration::from_secs(10)).await;
    let to_visitor = || {
        sink.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to.contains("vic@visitor.example")))
            .collect::<Vec<_>>()
    };
    let reply = |text: &'static str| {
        let owner = owner.clone();
        let id = id.clone();
        let node = &nodes[0];
        async move {
            let (status, body) = node
                .request(
                    Method::POST,
                    &format!("/api/v1/conversations/{id}/messages"),
                    Some(&owner),
                    json!({ "text": text }),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };

    // The visitor's chat box is connected to node 1; node 0 takes the reply.
    let mut stream = nodes[1]
        .events(&format!(
            "/api/v1/accounts/acme/conversations/{id}/events?visitor_token={visitor}"
        ))
        .await;
    stream.expect("conversation").await;
    reply("Seen live").await;
    // Well past the digest window and a retry: no email to the visitor.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(to_visitor().is_empty(), "the visitor saw the reply live");

    // Gone from node 1: the next reply is emailed to them, the first is not in it.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    reply("Sent by email").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while to_visitor().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = to_visitor();
    assert_eq!(mails.len(), 1, "one digest to the absent visitor");
    let body = mails[0].body();
    assert!(body.contains("Sent by email"), "{body}");
    assert!(!body.contains("Seen live"), "{body}");
}

/// The receiver's public key and authentication secret of RFC 8291,
/// Appendix A: a valid device subscription without a key generator here.
/// (The payload's encryption is checked in the server's own push tests.)
const RFC8291_P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const RFC8291_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

#[tokio::test]
async fn a_dashboard_open_on_another_node_holds_back_the_push() {
    use onair_tests::cluster::{Cluster, PgDatabase, RedisServer};

    let service = Receiver::start().await;
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let nodes = Cluster::start(2, &database, &redis, &["--push-allow-loopback"]);
    let owner = nodes[0].create_account("acme").await;
    let (status, body) = nodes[0]
        .request(
            Method::PUT,
            "/api/v1/me/push",
            Some(&owner),
            json!({"endpoint": service.url("/push/phone"), "expirationTime": null,
                   "keys": {"p256dh": RFC8291_P256DH, "auth": RFC8291_AUTH}}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The owner's dashboard on another device is open on node 1; the
    // visitor writes through node 0.
    let desk = nodes[1]
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let mut dashboard = nodes[1]
        .events(&format!("/api/v1/me/events?access_token={desk}"))
        .await;
    dashboard
        .next_event()
        .await
        .expect("the dashboard's first event");
    let (status, started) = nodes[0]
        .request(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            json!({"visitor_token": "visitor-token-pushed-0123456789ab",
                   "name": "Vic Visitor", "email": "vic@visitor.example",
                   "text": "Anyone there?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["conversation"]["id"]
        .as_str()
        .expect("conversation id")
        .to_owned();
    // Longer than a push takes when one is due (see below).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        service.all().is_empty(),
        "the open dashboard shows the message: {:#?}",
        service.all()
    );

    // Closed on node 1: node 0's next visitor message is pushed to the phone.
    drop(dashboard);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while service.all().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no push after the dashboard closed"
        );
        let (status, body) = nodes[0]
            .request(
                Method::POST,
                &format!("/api/v1/accounts/acme/conversations/{id}/messages"),
                None,
                json!({"visitor_token": "visitor-token-pushed-0123456789ab", "text": "Hello?"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pushes = service.all();
    assert!(
        pushes.iter().all(|p| p.path == "/push/phone"),
        "{pushes:#?}"
    );
}
