//! Webhooks (docs/notifications.md, "Webhooks"): the API, signed deliveries
//! of each event to a real HTTP receiver on loopback, retries with the same
//! id, the delivery log, and the refusal of private targets.

use std::time::Duration;

use onair_server::notify::OutboxTiming;
use onair_server::store::WebhookRecord;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Agent, TestApp, TestConfig, spawn_app, spawn_app_with};
use crate::receiver::{DELIVERY_SOON, Receiver, assert_signed};

const SLUG: &str = "acme";

fn hooks_path() -> String {
    format!("/api/v1/accounts/{SLUG}/webhooks")
}

async fn add_webhook(app: &TestApp, admin: &Agent, url: &str, events: &[&str]) -> Value {
    app.post(
        &hooks_path(),
        Some(&admin.token),
        json!({"url": url, "events": events}),
    )
    .await
    .expect(StatusCode::CREATED)["webhook"]
        .clone()
}

async fn start_conversation(app: &TestApp, text: &str) -> Value {
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations"),
        None,
        json!({"visitor_token": onair_server::auth::new_token(), "text": text,
               "email": "vic@visitor.example"}),
    )
    .await
    .expect(StatusCode::CREATED)
}

async fn deliveries(app: &TestApp, admin: &Agent, webhook_id: &str) -> Vec<Value> {
    let body = app
        .get(
            &format!("{}/{webhook_id}/deliveries", hooks_path()),
            Some(&admin.token),
        )
        .await
        .expect(StatusCode::OK);
    body["deliveries"].as_array().expect("a list").clone()
}

/// The delivery log once it has `at_least` attempts (or what it has after a
/// while).
async fn deliveries_once(
    app: &TestApp,
    admin: &Agent,
    webhook_id: &str,
    at_least: usize,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + DELIVERY_SOON;
    loop {
        let log = deliveries(app, admin, webhook_id).await;
        if log.len() >= at_least || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quick_retries() -> TestConfig {
    TestConfig {
        outbox_timing: Some(OutboxTiming {
            first_retry: Duration::from_millis(200),
            ..OutboxTiming::default()
        }),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn a_webhook_is_created_listed_with_its_secret_and_deleted() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let created = app
        .post(
            &hooks_path(),
            Some(&owner.token),
            json!({"url": "http://127.0.0.1:9/hook",
                   "events": ["status.changed", "message.created", "status.changed"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let webhook = &created["webhook"];
    let mut keys: Vec<&str> = webhook
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "events", "id", "secret", "url"]);
    assert_eq!(
        webhook["events"],
        json!(["message.created", "status.changed"])
    );
    let secret = webhook["secret"].as_str().expect("a secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = webhook["id"].as_str().expect("an id");

    let listed = app
        .get(&hooks_path(), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed, json!({"webhooks": [webhook]}));
    assert_eq!(deliveries(&app, &owner, id).await, Vec::<Value>::new());

    let other = add_webhook(
        &app,
        &owner,
        "https://127.0.0.1/other",
        &["message.created"],
    )
    .await;
    assert_ne!(other["secret"], webhook["secret"], "each its own secret");
    app.delete(&format!("{}/{id}", hooks_path()), Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let listed = app
        .get(&hooks_path(), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed, json!({"webhooks": [other]}));
    app.delete(&format!("{}/{id}", hooks_path()), Some(&owner.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_webhook");
    app.get(
        &format!("{}/{id}/deliveries", hooks_path()),
        Some(&owner.token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_webhook");
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_a_code_that_says_why() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    for (body, code) in [
        (
            json!({"url": "ftp://hooks.example/x", "events": ["message.created"]}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "not a url", "events": ["message.created"]}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "http://", "events": ["message.created"]}),
            "invalid_webhook_url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": []}),
            "invalid_webhook_events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["message.deleted"]}),
            "invalid_webhook_events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["message.created"], "secret": "mine"}),
            "invalid_request",
        ),
    ] {
        let answer = app
            .post(&hooks_path(), Some(&owner.token), body.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        if code != "invalid_request" {
            answer.expect_error(StatusCode::BAD_REQUEST, code);
        }
    }
    let listed = app
        .get(&hooks_path(), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed, json!({"webhooks": []}), "nothing stored");
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused_without_the_flag() {
    let app = spawn_app_with(TestConfig {
        refuse_private_webhooks: true,
        ..TestConfig::default()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let answer = app
            .post(
                &hooks_path(),
                Some(&owner.token),
                json!({"url": url, "events": ["message.created"]}),
            )
            .await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_webhook_url");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("--allow-private-webhooks"),
            "{url}: {message}"
        );
    }
}

#[tokio::test]
async fn a_stored_private_target_is_refused_at_delivery_too() {
    // A webhook made while the flag was on, or a name that resolved to a
    // public address then and to loopback now (DNS rebinding): the check on
    // delivery refuses both a name and a literal address.
    let app = spawn_app_with(TestConfig {
        refuse_private_webhooks: true,
        ..quick_retries()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    let receiver = Receiver::start().await;
    let port = receiver.port();
    let account_id = app.hub.account(SLUG).await.expect("account").id.clone();
    for (id, url) in [
        ("by-name", format!("http://localhost:{port}/name")),
        ("by-address", receiver.url("/address")),
    ] {
        let record = WebhookRecord {
            id: id.to_owned(),
            account_id: account_id.clone(),
            url,
            events: vec!["conversation.created".to_owned()],
            secret: "whsec_test".to_owned(),
            created_at: jiff::Timestamp::now(),
        };
        app.hub.store.create_webhook(&record).await.expect("store");
    }
    app.set_status(&owner, "online").await;
    start_conversation(&app, "Hello?").await;
    for id in ["by-name", "by-address"] {
        let log = deliveries_once(&app, &owner, id, 1).await;
        let newest = log.first().unwrap_or_else(|| panic!("{id}: an attempt"));
        assert_eq!(newest["result"], "retrying", "{id}: {newest}");
        assert_eq!(newest["status"], Value::Null, "{id}: {newest}");
        let error = newest["error"].as_str().expect("an error");
        assert!(error.contains("not a public address"), "{id}: {error}");
    }
    assert!(receiver.all().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn each_event_is_delivered_signed_with_the_body_the_api_shows() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "offline").await;
    let receiver = Receiver::start().await;
    let webhook = add_webhook(
        &app,
        &owner,
        &receiver.url("/all"),
        &["conversation.created", "message.created", "status.changed"],
    )
    .await;
    let secret = webhook["secret"].as_str().expect("secret");

    app.set_status(&owner, "online").await;
    let status = app.status(SLUG, None).await;
    let changed = receiver
        .wait_until("status.changed online", |all| {
            all.iter().any(|r| r.body["data"]["status"] == "online")
        })
        .await
        .into_iter()
        .find(|r| r.body["data"]["status"] == "online")
        .expect("found");
    assert_signed(&changed, secret);
    assert_eq!(changed.body["event"], "status.changed");
    assert_eq!(changed.body["account"], SLUG);
    assert_eq!(
        changed.body["data"], status,
        "the snapshot as the API shows it"
    );

    let started = start_conversation(&app, "Is anyone there?").await;
    let created = receiver.delivery("/all", "conversation.created").await;
    assert_signed(&created, secret);
    assert_eq!(created.body["data"], started["conversation"]);
    let message = receiver.delivery("/all", "message.created").await;
    assert_signed(&message, secret);
    assert_eq!(message.body["data"], started["message"]);
    for received in [&changed, &created, &message] {
        let body = received.body.as_object().expect("an object");
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["account", "created_at", "data", "event", "id"]);
        assert!(
            received.body["id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert!(
            received.body["created_at"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some(),
            "{}",
            received.body
        );
    }

    // An agent's reply is a message too.
    let id = started["conversation"]["id"].as_str().expect("id");
    let reply = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&owner.token),
            json!({"text": "Yes, hello!"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let all = receiver
        .wait_until("the reply", |all| {
            all.iter().any(|r| r.body["data"]["text"] == "Yes, hello!")
        })
        .await;
    let delivered = all
        .iter()
        .find(|r| r.body["data"]["text"] == "Yes, hello!")
        .expect("found");
    assert_eq!(delivered.body["event"], "message.created");
    assert_eq!(delivered.body["data"], reply["message"]);
    let ids: std::collections::HashSet<&str> =
        all.iter().filter_map(|r| r.body["id"].as_str()).collect();
    assert_eq!(ids.len(), all.len(), "each delivery its own id");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_id_and_both_attempts_are_logged() {
    let app = spawn_app_with(quick_retries()).await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500]);
    let webhook = add_webhook(
        &app,
        &owner,
        &receiver.url("/hook"),
        &["conversation.created"],
    )
    .await;
    let secret = webhook["secret"].as_str().expect("secret");
    let id = webhook["id"].as_str().expect("id");

    start_conversation(&app, "Hello").await;
    let both = receiver.wait_until("a retry", |all| all.len() >= 2).await;
    assert_eq!(both.len(), 2, "{both:#?}");
    assert_eq!(both[0].body["id"], both[1].body["id"], "the same id");
    assert_eq!(both[0].raw, both[1].raw, "the same body");
    for received in &both {
        assert_signed(received, secret);
    }

    let log = deliveries_once(&app, &owner, id, 2).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    let (second, first) = (&log[0], &log[1]);
    let delivery_id = both[0].body["id"].clone();
    assert_eq!(first["id"], delivery_id);
    assert_eq!(second["id"], delivery_id);
    assert_eq!(first["event"], "conversation.created");
    assert_eq!(first["result"], "retrying");
    assert_eq!(first["status"], 500);
    assert_eq!(first["error"], "the receiver answered 500");
    let next: jiff::Timestamp = first["next_attempt_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("a next attempt");
    let tried: jiff::Timestamp = first["attempted_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("an attempt time");
    assert!(next > tried, "{first}");
    assert_eq!(second["result"], "delivered");
    assert_eq!(second["status"], 200);
    assert_eq!(second["error"], Value::Null);
    assert_eq!(second["next_attempt_at"], Value::Null);
}

#[tokio::test]
async fn an_event_a_webhook_does_not_subscribe_to_is_not_sent_to_it() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "offline").await;
    let receiver = Receiver::start().await;
    add_webhook(
        &app,
        &owner,
        &receiver.url("/messages"),
        &["message.created"],
    )
    .await;
    add_webhook(
        &app,
        &owner,
        &receiver.url("/rest"),
        &["conversation.created", "status.changed"],
    )
    .await;

    app.set_status(&owner, "online").await;
    start_conversation(&app, "Hi").await;
    // The items of one conversation are stored, claimed and sent together:
    // once these two are in, so is everything it caused.
    receiver.delivery("/rest", "conversation.created").await;
    receiver.delivery("/messages", "message.created").await;
    receiver.delivery("/rest", "status.changed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for received in receiver.all() {
        let event = received.body["event"].as_str().unwrap_or_default();
        match received.path.as_str() {
            "/messages" => assert_eq!(event, "message.created"),
            "/rest" => assert!(
                event == "conversation.created" || event == "status.changed",
                "{event}"
            ),
            other => panic!("a delivery to {other}"),
        }
    }
}

#[tokio::test]
async fn a_deleted_webhook_gets_no_more_deliveries() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let receiver = Receiver::start().await;
    let gone = add_webhook(&app, &owner, &receiver.url("/gone"), &["message.created"]).await;
    add_webhook(&app, &owner, &receiver.url("/kept"), &["message.created"]).await;
    start_conversation(&app, "first").await;
    receiver.delivery("/gone", "message.created").await;
    receiver.delivery("/kept", "message.created").await;

    let id = gone["id"].as_str().expect("id");
    app.delete(&format!("{}/{id}", hooks_path()), Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    start_conversation(&app, "second").await;
    receiver
        .wait_until("the second message at /kept", |all| {
            all.iter()
                .any(|r| r.path == "/kept" && r.body["data"]["text"] == "second")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_gone: Vec<_> = receiver
        .all()
        .into_iter()
        .filter(|r| r.path == "/gone")
        .collect();
    assert_eq!(to_gone.len(), 1, "{to_gone:#?}");
}

#[tokio::test]
async fn webhooks_are_for_admins_of_their_own_account() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let agent = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let stranger = app.create_account("globex").await;
    let webhook = add_webhook(
        &app,
        &owner,
        "http://127.0.0.1:9/hook",
        &["message.created"],
    )
    .await;
    let id = webhook["id"].as_str().expect("id");
    let item = format!("{}/{id}", hooks_path());
    let log = format!("{item}/deliveries");
    let body = json!({"url": "http://127.0.0.1:9/x", "events": ["message.created"]});
    for (who, code) in [(&agent, "admin_required"), (&stranger, "wrong_account")] {
        app.get(&hooks_path(), Some(&who.token))
            .await
            .expect_error(StatusCode::FORBIDDEN, code);
        app.post(&hooks_path(), Some(&who.token), body.clone())
            .await
            .expect_error(StatusCode::FORBIDDEN, code);
        app.delete(&item, Some(&who.token))
            .await
            .expect_error(StatusCode::FORBIDDEN, code);
        app.get(&log, Some(&who.token))
            .await
            .expect_error(StatusCode::FORBIDDEN, code);
    }
    assert_eq!(
        app.get(&hooks_path(), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Another account's admin cannot reach this webhook through their own
    // account either.
    app.delete(
        &format!("/api/v1/accounts/globex/webhooks/{id}"),
        Some(&stranger.token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_webhook");
    app.get(
        &format!("/api/v1/accounts/globex/webhooks/{id}/deliveries"),
        Some(&stranger.token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_webhook");
    let listed = app
        .get(&hooks_path(), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["webhooks"].as_array().map(Vec::len), Some(1));
}
