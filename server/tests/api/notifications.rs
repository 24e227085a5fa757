//! Email notifications (docs/notifications.md): who gets an email for an
//! offline message, what it says, retries, and nothing without SMTP. A real
//! SMTP conversation with the test sink (`common/smtp.rs`).

use std::sync::Arc;
use std::time::Duration;

use onair_server::notify::{EmailPayload, MailConfig, Outbox, OutboxTiming};
use onair_server::store::{ConversationRecord, MessageRecord, OutboxItem};
use onair_shared::wire::{Author, ConversationState};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Agent, TestApp, TestConfig, metric, spawn_app, spawn_app_with};
use crate::smtp::{Mail, SmtpSink};

const SLUG: &str = "acme";
const PUBLIC: &str = "https://chat.acme.example";
/// How long a test waits for an email that should go at once.
const MAIL_SOON: Duration = Duration::from_secs(10);

fn outbox(sink: &SmtpSink, first_retry: Duration) -> Arc<Outbox> {
    let timing = OutboxTiming {
        first_retry,
        ..OutboxTiming::default()
    };
    let config = MailConfig::new(&sink.url(), "onair <noreply@onair.example>", PUBLIC, timing)
        .expect("mail config");
    Arc::new(Outbox::new(config).expect("outbox"))
}

async fn app_sending_to(sink: &SmtpSink) -> TestApp {
    spawn_app_with(TestConfig {
        outbox: Some(outbox(sink, Duration::from_millis(200))),
        ..TestConfig::default()
    })
    .await
}

async fn start(app: &TestApp, body: Value) -> Value {
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations"),
        None,
        body,
    )
    .await
    .expect(StatusCode::CREATED)
}

fn recipients(mails: &[Mail]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

/// Lets a worker that was going to send something more do it.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn set_notifications(app: &TestApp, agent: &Agent, on: bool) -> Value {
    app.patch(
        "/api/v1/me",
        Some(&agent.token),
        json!({"email_notifications": on}),
    )
    .await
    .expect(StatusCode::OK)
}

#[tokio::test]
async fn an_offline_message_emails_each_eligible_agent_with_notifications_on() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let _sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let _sue = app.add_agent(SLUG, &owner, "Sue", &["support"]).await;
    let _nat = app.add_agent(SLUG, &owner, "Nat", &[]).await;
    let gil = app.add_agent(SLUG, &owner, "Gil", &["sales"]).await;
    let ida = app
        .add_agent(SLUG, &owner, "Ida", &["sales", "support"])
        .await;

    // Gil turns them off himself; an admin turns Ida's off.
    let me = set_notifications(&app, &gil, false).await;
    assert_eq!(me["email_notifications"], false);
    let ida_view = app
        .patch(
            &format!("/api/v1/accounts/{SLUG}/agents/{}", ida.id),
            Some(&owner.token),
            json!({"email_notifications": false}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ida_view["email_notifications"], false);
    let shown = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["email_notifications"], true, "on by default");
    app.patch(
        "/api/v1/me",
        Some(&gil.token),
        json!({"email_notifications": "no"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_email_notifications");

    let started = start(
        &app,
        json!({"visitor_token": onair_server::auth::new_token(), "group": "sales",
               "name": "Vic Visitor", "email": "vic@visitor.example",
               "text": "Please call me back about the order"}),
    )
    .await;
    assert_eq!(started["delivery"], "offline");
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let mails = sink.wait_for(3, MAIL_SOON).await;
    settle().await;
    let mails_then = sink.mails();
    assert_eq!(mails_then.len(), 3, "{mails_then:#?}");
    // Sales: its members and the agents in no group; not support's Sue; not
    // Gil nor Ida, who turned notifications off.
    assert_eq!(
        recipients(&mails),
        ["nat@acme.example", "owner@acme.example", "sam@acme.example"]
    );
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "one email per agent");
        assert_eq!(mail.from, "noreply@onair.example");
        assert_eq!(
            mail.header("Subject").as_deref(),
            Some("New message from Vic Visitor on acme Inc")
        );
        assert_eq!(
            mail.header("Reply-To").as_deref(),
            Some("\"Vic Visitor\" <vic@visitor.example>")
        );
        assert_eq!(
            mail.header("From").as_deref(),
            Some("onair <noreply@onair.example>")
        );
        assert!(mail.data.contains("multipart/alternative"), "{}", mail.data);
        assert!(mail.data.contains("text/plain"), "{}", mail.data);
        assert!(mail.data.contains("text/html"), "{}", mail.data);
        let body = mail.body();
        assert!(
            body.contains("Please call me back about the order"),
            "{body}"
        );
        assert!(body.contains("Name:  Vic Visitor"), "{body}");
        assert!(body.contains("Email: vic@visitor.example"), "{body}");
        let link = format!("{PUBLIC}/dashboard#conversation={id}");
        assert_eq!(
            body.matches(&link).count(),
            2,
            "{link} in both parts of {body}"
        );
    }
    assert_eq!(metric(&app, "onair_outbox_sent_total").await, 3);
    assert_eq!(metric(&app, "onair_outbox_queued").await, 0);
    assert_eq!(metric(&app, "onair_outbox_failed_total").await, 0);
}

#[tokio::test]
async fn live_messages_send_no_mail_and_each_offline_one_does() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = onair_server::auth::new_token();
    let started = start(
        &app,
        json!({"visitor_token": visitor, "text": "Hello, anyone?"}),
    )
    .await;
    assert_eq!(started["delivery"], "live");
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let said = app
        .post(
            &format!("/api/v1/accounts/{SLUG}/conversations/{id}/messages"),
            None,
            json!({"visitor_token": visitor, "text": "Still live"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(said["delivery"], "live");
    settle().await;
    assert!(sink.mails().is_empty(), "no mail for live messages");
    assert_eq!(sink.attempts(), 0);

    // The agent goes offline; the visitor writes again: an offline message.
    app.set_status(&owner, "offline").await;
    let said = app
        .post(
            &format!("/api/v1/accounts/{SLUG}/conversations/{id}/messages"),
            None,
            json!({"visitor_token": visitor, "text": "Gone? Write me then"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(said["delivery"], "offline");
    let mails = sink.wait_for(1, MAIL_SOON).await;
    assert_eq!(recipients(&mails), ["owner@acme.example"]);
    assert!(mails[0].body().contains("Gone? Write me then"));
    // No name, no email: the subject names nobody, there is no Reply-To.
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("New message from a visitor on acme Inc")
    );
    assert_eq!(mails[0].header("Reply-To"), None);
    settle().await;
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_relay_that_refuses_at_first_gets_the_mail_on_a_retry() {
    let sink = SmtpSink::start().await;
    sink.refuse_next(2);
    let app = app_sending_to(&sink).await;
    let _owner = app.create_account(SLUG).await;
    start(
        &app,
        json!({"visitor_token": onair_server::auth::new_token(), "email": "vic@visitor.example",
               "text": "Retry me"}),
    )
    .await;
    let mails = sink.wait_for(1, MAIL_SOON).await;
    assert_eq!(recipients(&mails), ["owner@acme.example"]);
    assert_eq!(sink.attempts(), 3, "two refusals (451), then accepted");
    assert_eq!(metric(&app, "onair_outbox_retried_total").await, 2);
    assert_eq!(metric(&app, "onair_outbox_sent_total").await, 1);
    settle().await;
    assert_eq!(sink.mails().len(), 1, "sent once");
}

#[tokio::test]
async fn a_visitor_name_cannot_inject_a_header() {
    let sink = SmtpSink::start().await;
    let outbox = outbox(&sink, Duration::from_millis(200));
    let app = spawn_app_with(TestConfig {
        outbox: Some(Arc::clone(&outbox)),
        ..TestConfig::default()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    let evil = "Vic\r\nBcc: x@evil.example";
    // The API refuses such a name outright…
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations"),
        None,
        json!({"visitor_token": onair_server::auth::new_token(), "name": evil,
               "email": "vic@visitor.example", "text": "hi"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_name");
    settle().await;
    assert!(sink.mails().is_empty());

    // …and should one reach the outbox anyway, it stays data.
    let account_id = app.hub.account(SLUG).await.expect("account").id.clone();
    let now = jiff::Timestamp::now();
    let conversation = ConversationRecord {
        id: "c-evil".to_owned(),
        account_id: account_id.clone(),
        group: None,
        state: ConversationState::Offline,
        name: Some(evil.to_owned()),
        email: Some("vic@visitor.example".to_owned()),
        visitor_token_hash: [7; 32],
        lang: None,
        created_at: now,
        last_message_at: now,
        replies: Default::default(),
        page: None,
    };
    let message = MessageRecord {
        seq: 0,
        id: "m-evil".to_owned(),
        conversation_id: conversation.id.clone(),
        author: Author::Visitor,
        agent_id: None,
        text: "Subject: also not a header\r\nBcc: y@evil.example".to_owned(),
        created_at: now,
    };
    let payload = EmailPayload {
        agent_id: owner.id.clone(),
        to_name: "Owner\r\nCc: z@evil.example".to_owned(),
        to: owner.email.clone(),
        account_name: "acme\r\nBcc: w@evil.example".to_owned(),
        conversation_id: conversation.id.clone(),
        message_id: message.id.clone(),
        visitor_name: conversation.name.clone(),
        visitor_email: conversation.email.clone(),
        text: message.text.clone(),
    };
    let item = OutboxItem {
        id: "o-evil".to_owned(),
        account_id,
        kind: "email".to_owned(),
        payload: serde_json::to_string(&payload).expect("json"),
        created_at: now,
        due_at: now,
        attempts: 0,
    };
    app.hub
        .store
        .create_conversation(&conversation, &[message], &[item])
        .await
        .expect("stored");
    outbox.wake();
    let mails = sink.wait_for(1, MAIL_SOON).await;
    let mail = &mails[0];
    assert_eq!(
        mail.to,
        ["owner@acme.example"],
        "the envelope has the agent only"
    );
    for line in mail.headers().split("\r\n") {
        let lower = line.to_ascii_lowercase();
        assert!(
            !lower.starts_with("bcc:") && !lower.starts_with("cc:"),
            "a header was injected: {line:?} in\n{}",
            mail.headers()
        );
    }
    assert_eq!(
        mail.headers()
            .split("\r\n")
            .filter(|l| l.to_ascii_lowercase().starts_with("subject:"))
            .count(),
        1
    );
    assert!(
        mail.header("Subject")
            .expect("subject")
            .contains("evil.example")
    );
    // The visitor's words are the body's, headers or not.
    assert!(
        mail.body().contains("Bcc: y@evil.example"),
        "{}",
        mail.body()
    );
    assert!(
        mail.header("Reply-To")
            .expect("reply-to")
            .contains("<vic@visitor.example>")
    );
}

/// An app whose digests of agents' replies gather for `window`.
async fn app_with_digests(sink: &SmtpSink, window: Duration) -> TestApp {
    let timing = OutboxTiming {
        first_retry: Duration::from_millis(200),
        reply_digest_window: window,
        ..OutboxTiming::default()
    };
    let config = MailConfig::new(&sink.url(), "onair <noreply@onair.example>", PUBLIC, timing)
        .expect("mail config");
    spawn_app_with(TestConfig {
        outbox: Some(Arc::new(Outbox::new(config).expect("outbox"))),
        ..TestConfig::default()
    })
    .await
}

async fn reply(app: &TestApp, agent: &Agent, id: &str, text: &str) {
    app.post(
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&agent.token),
        json!({"text": text}),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// Starts an offline conversation (`body` plus a fresh visitor token) and
/// waits for its email to the owner; returns its id.
async fn offline_conversation(app: &TestApp, sink: &SmtpSink, mut body: Value) -> String {
    body["visitor_token"] = json!(onair_server::auth::new_token());
    let started = start(app, body).await;
    sink.wait_for(1, MAIL_SOON).await;
    started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Mails to the visitor, Vic.
fn to_vic(sink: &SmtpSink) -> Vec<Mail> {
    sink.mails()
        .into_iter()
        .filter(|m| m.to == ["vic@visitor.example"])
        .collect()
}

#[tokio::test]
async fn replies_to_an_absent_visitor_go_by_email_several_in_one() {
    let sink = SmtpSink::start().await;
    let window = Duration::from_millis(1500);
    let app = app_with_digests(&sink, window).await;
    let owner = app.create_account(SLUG).await;
    let id = offline_conversation(
        &app,
        &sink,
        json!({"name": "Vic", "email": "vic@visitor.example", "text": "Do you ship to Norway?"}),
    )
    .await;

    // Two replies within the window: one email with both, after the window.
    reply(&app, &owner, &id, "Yes, we do.").await;
    reply(&app, &owner, &id, "Shipping takes <3 days> & costs 5 €.").await;
    tokio::time::sleep(window / 2).await;
    assert!(to_vic(&sink).is_empty(), "nothing before the window ends");
    sink.wait_for(2, MAIL_SOON).await;
    settle().await;
    let mails = to_vic(&sink);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("acme Inc sent you 2 replies")
    );
    assert_eq!(
        mail.header("To").as_deref(),
        Some("Vic <vic@visitor.example>")
    );
    assert_eq!(
        mail.header("From").as_deref(),
        Some("onair <noreply@onair.example>")
    );
    let body = mail.body();
    assert!(body.contains("Hello Vic,"), "{body}");
    assert!(body.contains("Yes, we do."), "{body}");
    assert!(
        body.contains("Shipping takes <3 days> & costs 5 €."),
        "{body}"
    );
    assert!(
        body.contains("Shipping takes &lt;3 days&gt; &amp; costs 5 €."),
        "the HTML part escapes: {body}"
    );
    assert!(
        body.find("Yes, we do.") < body.find("Shipping takes"),
        "in order"
    );

    // A later reply starts a digest of its own.
    reply(&app, &owner, &id, "Anything else?").await;
    sink.wait_for(3, MAIL_SOON).await;
    settle().await;
    let mails = to_vic(&sink);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(
        mails[1].header("Subject").as_deref(),
        Some("acme Inc replied to your message")
    );
    let body = mails[1].body();
    assert!(body.contains("Anything else?"), "{body}");
    assert!(
        !body.contains("Yes, we do."),
        "sent replies do not go again: {body}"
    );
    assert_eq!(metric(&app, "onair_outbox_queued").await, 0);
}

#[tokio::test]
async fn a_digest_speaks_the_conversations_language() {
    let sink = SmtpSink::start().await;
    let app = app_with_digests(&sink, Duration::from_millis(300)).await;
    let owner = app.create_account(SLUG).await;
    let id = offline_conversation(
        &app,
        &sink,
        json!({"name": "Vera", "email": "vic@visitor.example", "text": "Hallo?", "lang": "de"}),
    )
    .await;
    reply(&app, &owner, &id, "Ja, gern.").await;
    reply(&app, &owner, &id, "Noch etwas?").await;
    sink.wait_for(2, MAIL_SOON).await;
    let mails = to_vic(&sink);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("acme Inc hat Ihnen 2 Antworten geschickt")
    );
    let body = mails[0].body();
    assert!(body.contains("Hallo Vera,"), "{body}");
    assert!(
        body.contains("acme Inc hat auf Ihre Nachricht geantwortet:"),
        "{body}"
    );
    assert!(body.contains("lang=\"de\""), "{body}");
}

#[tokio::test]
async fn a_connected_visitor_or_one_without_an_address_gets_no_email() {
    let sink = SmtpSink::start().await;
    let window = Duration::from_millis(300);
    let app = app_with_digests(&sink, window).await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = onair_server::auth::new_token();
    let started = start(
        &app,
        json!({"visitor_token": visitor, "email": "vic@visitor.example", "text": "Hi"}),
    )
    .await;
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let anonymous = start(
        &app,
        json!({"visitor_token": onair_server::auth::new_token(), "text": "Hi, no address"}),
    )
    .await;
    let anonymous = anonymous["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // The visitor's chat box is open: the reply arrives there.
    let mut events = app
        .sse(
            &format!("/api/v1/accounts/{SLUG}/conversations/{id}/events?visitor_token={visitor}"),
            None,
        )
        .await;
    events
        .next_within(Duration::from_secs(5))
        .await
        .expect("the conversation");
    reply(&app, &owner, &id, "Seen live").await;
    reply(&app, &owner, &anonymous, "Nobody to mail").await;
    tokio::time::sleep(window * 3).await;
    settle().await;
    assert!(sink.mails().is_empty(), "{:#?}", sink.mails());

    // The chat box closes; the next reply goes by email, alone.
    drop(events);
    tokio::time::sleep(Duration::from_millis(200)).await;
    reply(&app, &owner, &id, "Mailed this time").await;
    let mails = sink.wait_for(1, MAIL_SOON).await;
    let body = mails[0].body();
    assert!(body.contains("Mailed this time"), "{body}");
    assert!(!body.contains("Seen live"), "{body}");
    assert_eq!(mails[0].to, ["vic@visitor.example"]);
}

#[tokio::test]
async fn the_snapshot_says_whether_replies_go_by_email() {
    let sink = SmtpSink::start().await;
    let mailing = app_sending_to(&sink).await;
    mailing.create_account(SLUG).await;
    assert_eq!(mailing.status(SLUG, None).await["email_replies"], true);
    let silent = spawn_app().await;
    silent.create_account(SLUG).await;
    let snapshot = silent.status(SLUG, None).await;
    assert_eq!(snapshot["email_replies"], false, "{snapshot}");
}

#[tokio::test]
async fn without_smtp_nothing_is_queued_or_sent() {
    let app = spawn_app().await;
    let _owner = app.create_account(SLUG).await;
    let started = start(
        &app,
        json!({"visitor_token": onair_server::auth::new_token(), "email": "vic@visitor.example",
               "text": "Anyone?"}),
    )
    .await;
    assert_eq!(started["delivery"], "offline");
    assert!(app.hub.outbox.is_none());
    assert_eq!(
        app.hub.store.outbox_pending().await.expect("pending"),
        (0, None)
    );
    let db = rusqlite_count(&app.db_path);
    assert_eq!(db, 0, "no outbox rows at all");
    assert_eq!(metric(&app, "onair_outbox_queued").await, 0);
}

/// Rows of the outbox table, read straight from the SQLite file.
fn rusqlite_count(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))
        .expect("count")
}
