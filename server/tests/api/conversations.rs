//! Conversations (docs/conversations.md) over real HTTP and SSE: the visitor routes,
//! the agent inbox, the live events of both, automatic replies on a manual
//! clock, the rate limits, and what survives a restart.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use onair_server::store::{
    AccountData, AccountRecord, AgentRecord, AvatarRecord, ConversationFilter, ConversationRecord,
    GroupRecord, MessageRecord, OutboxItem, SessionRecord, Store, StoreResult, WebhookAttempt,
    WebhookRecord,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::*;

const SLUG: &str = "acme";
/// How long a test listens to show that nothing was pushed.
const QUIET: Duration = Duration::from_millis(300);
/// A Monday morning; times on the manual clock are counted from it.
const T0: &str = "2026-11-23T10:00:00Z";

const OFFLINE_REPLY_EN: &str = "Thanks for your message! We're not here right now, but we'll get back to you as soon as we can.";
const OFFLINE_REPLY_DE: &str = "Vielen Dank für Ihre Nachricht! Wir sind gerade nicht erreichbar, melden uns aber so schnell wie möglich bei Ihnen.";
const BUSY_REPLY_EN: &str = "Thanks for your patience — all of our team are busy right now. Someone will be with you shortly.";

// ---------------------------------------------------------------------------
// Starting a conversation

#[tokio::test]
async fn a_conversation_started_while_online_is_delivered_live_and_open() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;

    let body = start(
        &app,
        json!({"visitor_token": token(), "name": " Vera ", "text": "  Hello there \n"}),
    )
    .await
    .expect(StatusCode::CREATED);

    assert_eq!(keys(&body), ["conversation", "delivery", "message"]);
    assert_eq!(body["delivery"], "live");
    let conversation = &body["conversation"];
    assert_eq!(
        keys(conversation),
        [
            "created_at",
            "email",
            "group",
            "id",
            "last_message_at",
            "name",
            "page",
            "state"
        ]
    );
    assert_eq!(
        conversation["page"],
        Value::Null,
        "the chat box said no page"
    );
    assert!(conversation["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(conversation["state"], "open");
    assert_eq!(conversation["group"], Value::Null);
    assert_eq!(conversation["name"], "Vera");
    assert_eq!(conversation["email"], Value::Null);
    assert_eq!(conversation["last_message_at"], conversation["created_at"]);
    let message = &body["message"];
    assert_eq!(
        keys(message),
        [
            "agent",
            "agent_id",
            "author",
            "conversation_id",
            "created_at",
            "id",
            "text"
        ]
    );
    assert_eq!(message["conversation_id"], conversation["id"]);
    assert_eq!(message["author"], "visitor");
    assert_eq!(message["agent_id"], Value::Null);
    assert_eq!(message["agent"], Value::Null);
    assert_eq!(message["text"], "Hello there", "text is trimmed");
    assert_eq!(message["created_at"], conversation["created_at"]);
}

#[tokio::test]
async fn while_offline_a_conversation_needs_an_email_and_becomes_an_offline_message() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let visitor = token();

    for email in [None, Some(""), Some("  ")] {
        let mut body = json!({"visitor_token": visitor, "text": "Are you there?"});
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        start(&app, body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "missing_email");
    }
    start(
        &app,
        json!({"visitor_token": visitor, "text": "Hi", "email": "not an email"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_email");

    let body = start(
        &app,
        json!({"visitor_token": visitor, "text": "Call me back", "email": "Vera@Example.COM"}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(body["delivery"], "offline");
    assert_eq!(body["conversation"]["state"], "offline");
    assert_eq!(body["conversation"]["email"], "vera@example.com");

    // The refused attempts left nothing behind.
    let inbox = inbox(&app, &owner, "").await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], body["conversation"]["id"]);
}

#[tokio::test]
async fn a_busy_scope_delivers_live() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "busy").await;
    let body = start(&app, json!({"visitor_token": token(), "text": "Hi"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(body["delivery"], "live");
    assert_eq!(body["conversation"]["state"], "open");
}

#[tokio::test]
async fn visitor_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.set_status(&owner, "online").await;
    let ok = token();

    let check = async |body: Value, status: StatusCode, code: &str| {
        let answer = start(&app, body.clone()).await;
        if status == StatusCode::CREATED {
            assert_eq!(answer.status, status, "{body}: {}", answer.body);
        } else {
            answer.expect_error(status, code);
        }
    };
    let bad = StatusCode::BAD_REQUEST;
    let text = |t: &str| json!({"visitor_token": ok, "text": t});
    check(text("hi"), StatusCode::CREATED, "").await;
    check(text(""), bad, "invalid_text").await;
    check(text(" \n\t "), bad, "invalid_text").await;
    check(text(&"a".repeat(4001)), bad, "invalid_text").await;
    // 4000 characters of two bytes each: characters are counted, not bytes.
    check(text(&"é".repeat(4000)), StatusCode::CREATED, "").await;
    check(json!({"visitor_token": ok}), bad, "missing_field").await;
    check(json!({"text": "hi"}), bad, "missing_field").await;
    for token in [
        "short",
        "abcdefghijklmnopqrstu",
        "abcdefghijklmnopqrstuvw=",
        "",
    ] {
        let body = json!({"visitor_token": token, "text": "hi"});
        check(body, bad, "invalid_visitor_token").await;
    }
    check(
        json!({"visitor_token": 12, "text": "hi"}),
        bad,
        "invalid_visitor_token",
    )
    .await;
    let with = |field: &str, value: Value| {
        let mut body = text("hi");
        body[field] = value;
        body
    };
    check(with("name", json!("n".repeat(201))), bad, "invalid_name").await;
    check(
        with("name", json!("n".repeat(200))),
        StatusCode::CREATED,
        "",
    )
    .await;
    check(with("name", json!("a\u{0}b")), bad, "invalid_name").await;
    check(with("email", json!("nope")), bad, "invalid_email").await;
    check(with("lang", json!("pt")), bad, "invalid_lang").await;
    check(with("lang", json!("it")), StatusCode::CREATED, "").await;
    check(with("color", json!("red")), bad, "unknown_field").await;
    check(with("group", json!("sales")), StatusCode::CREATED, "").await;
    check(
        with("group", json!("nope")),
        StatusCode::NOT_FOUND,
        "unknown_group",
    )
    .await;
    check(
        with("group", json!("Not A Key!")),
        StatusCode::NOT_FOUND,
        "unknown_group",
    )
    .await;

    let raw = app
        .raw(
            Method::POST,
            "/api/v1/accounts/acme/conversations",
            None,
            "{\"text\": ",
        )
        .await;
    raw.expect_error(bad, "malformed_json");
    // Nothing invalid was stored.
    assert_eq!(inbox(&app, &owner, "").await.len(), 5);
}

#[tokio::test]
async fn a_conversation_shows_the_page_the_visitor_wrote_from() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let body = |page: Value| json!({"visitor_token": token(), "text": "Hi", "page": page});
    let started = start(
        &app,
        body(json!({"url": " https://shop.example/teapots?colour=blue ", "title": "Teapots\n— Shop"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = started["conversation"]["id"].as_str().expect("an id");
    assert_eq!(
        started["conversation"]["page"],
        json!({"url": "https://shop.example/teapots?colour=blue", "title": "Teapots — Shop"})
    );
    // The agent sees it in the inbox and the conversation, as stored.
    let shown = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        shown["conversation"]["page"],
        started["conversation"]["page"]
    );
    let listed = inbox(&app, &owner, "").await;
    assert_eq!(
        listed[0]["page"]["url"],
        "https://shop.example/teapots?colour=blue"
    );
    // A title is optional, and a long one is cut.
    let untitled = start(&app, body(json!({"url": "http://shop.example/"})))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(untitled["conversation"]["page"]["title"], Value::Null);
    let long = start(
        &app,
        body(json!({"url": "http://shop.example/", "title": "x".repeat(1000)})),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(
        long["conversation"]["page"]["title"].as_str().map(str::len),
        Some(300)
    );
    // Only web pages: no script, no data, nothing relative or too long.
    for url in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "/teapots",
        "https://",
        "https://shop.example/a b",
    ] {
        start(&app, body(json!({"url": url})))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_page");
    }
    let too_long = format!("https://shop.example/{}", "a".repeat(2048));
    start(&app, body(json!({"url": too_long})))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_page");
    start(
        &app,
        body(json!({"url": "https://shop.example/", "referrer": "x"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "unknown_field");
}

#[tokio::test]
async fn a_body_over_16_kib_is_refused_with_413() {
    let app = spawn_app().await;
    app.create_account(SLUG).await;
    let body = json!({"visitor_token": token(), "text": "a".repeat(17 * 1024)});
    start(&app, body)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn an_unknown_account_answers_404_on_every_visitor_route() {
    let app = spawn_app().await;
    let visitor = token();
    let body = json!({"visitor_token": visitor, "text": "hi"});
    app.post("/api/v1/accounts/nobody/conversations", None, body.clone())
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_account");
    app.post(
        "/api/v1/accounts/nobody/conversations/x/messages",
        None,
        body,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_account");
    app.get(
        &format!("/api/v1/accounts/nobody/conversations/x/events?visitor_token={visitor}"),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_account");
}

// ---------------------------------------------------------------------------
// A visitor's further messages and stream

#[tokio::test]
async fn a_visitor_writes_again_with_their_token_and_a_wrong_token_finds_nothing() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "first").await;

    let body = say(&app, &id, &visitor, " second ")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(keys(&body), ["delivery", "message"]);
    assert_eq!(body["delivery"], "live");
    assert_eq!(body["message"]["text"], "second");
    assert_eq!(body["message"]["author"], "visitor");
    assert_eq!(body["message"]["conversation_id"], id.as_str());

    say(&app, &id, &token(), "intruder")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    say(&app, "no-such-conversation", &visitor, "hi")
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    say(&app, &id, &visitor, "")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_text");
    say(&app, &id, "short", "hi")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_visitor_token");
    app.post(
        &conversation_path(&id, "/messages"),
        None,
        json!({"visitor_token": visitor, "text": "hi", "email": "a@b.example"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "unknown_field");

    // The stream is refused the same way, before it starts.
    let wrong = events_path(&id, &token());
    app.get(&wrong, None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.get(&conversation_path(&id, "/events"), None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_visitor_token");

    let (_, messages) = conversation(&app, &owner, &id).await;
    assert_eq!(texts(&messages), ["first", "second"]);
}

#[tokio::test]
async fn a_visitor_reads_a_closed_conversation_with_its_token_and_no_one_else_does() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Do you ship to Norway?").await;
    reply(&app, &owner, &id, "We do!").await;
    app.post(
        &format!("/api/v1/conversations/{id}/close"),
        Some(&owner.token),
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);

    let path = |visitor: &str| format!("{}?visitor_token={visitor}", conversation_path(&id, ""));
    let body = app.get(&path(&visitor), None).await.expect(StatusCode::OK);
    assert_eq!(keys(&body), ["conversation", "messages"]);
    assert_eq!(body["conversation"]["id"], id.as_str());
    assert_eq!(body["conversation"]["state"], "closed");
    let messages = body["messages"].as_array().expect("messages").clone();
    assert_eq!(texts(&messages), ["Do you ship to Norway?", "We do!"]);
    assert_eq!(messages[1]["agent"]["name"], "Owner");

    app.get(&path(&token()), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.get(&conversation_path(&id, ""), None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_visitor_token");
    let other = format!(
        "{}?visitor_token={visitor}",
        conversation_path("no-such-conversation", "")
    );
    app.get(&other, None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
}

#[tokio::test]
async fn the_visitor_stream_replays_the_history_then_pushes_every_new_message() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;
    reply(&app, &owner, &id, "Hi, how can I help?").await;

    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    let opening = stream.next().await;
    assert_eq!(opening.event, "conversation");
    assert_eq!(opening.data["id"], id.as_str());
    assert_eq!(opening.data["state"], "open");
    assert_eq!(opening.id, None, "only messages carry an id");
    let first = stream.next().await;
    let second = stream.next().await;
    assert_message(&first, "visitor", "Hello");
    assert_message(&second, "agent", "Hi, how can I help?");
    assert_eq!(second.data["agent_id"], owner.id.as_str());
    assert_eq!(
        second.data["agent"],
        json!({"id": owner.id, "name": "Owner", "avatar_url": null}),
        "who answered, for the chat box"
    );
    assert!(seq(&first) < seq(&second));

    reply(&app, &owner, &id, "Still there?").await;
    let pushed = stream.next().await;
    assert_message(&pushed, "agent", "Still there?");
    say(&app, &id, &visitor, "Yes")
        .await
        .expect(StatusCode::CREATED);
    let own = stream.next().await;
    assert_message(&own, "visitor", "Yes");
    assert!(seq(&second) < seq(&pushed) && seq(&pushed) < seq(&own));
    assert_eq!(stream.next_within(QUIET).await, None, "nothing twice");
}

#[tokio::test]
async fn last_event_id_resumes_without_duplicates_or_gaps() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "one").await;
    reply(&app, &owner, &id, "two").await;

    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    assert_message(&stream.next().await, "visitor", "one");
    let last_seen = stream.next().await;
    assert_message(&last_seen, "agent", "two");
    let last_id = last_seen.id.clone().expect("an id");
    drop(stream);

    // Written while the visitor is away.
    reply(&app, &owner, &id, "three").await;
    say(&app, &id, &visitor, "four")
        .await
        .expect(StatusCode::CREATED);
    reply(&app, &owner, &id, "five").await;

    // The header an EventSource sends when it reconnects…
    let mut resumed = app.sse(&events_path(&id, &visitor), Some(&last_id)).await;
    assert_eq!(resumed.next().await.event, "conversation");
    let missed = [
        resumed.next().await,
        resumed.next().await,
        resumed.next().await,
    ];
    assert_eq!(
        missed
            .iter()
            .map(|e| e.data["text"].clone())
            .collect::<Vec<_>>(),
        ["three", "four", "five"]
    );
    let ids: Vec<u64> = missed.iter().map(seq).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids[0] > last_id.parse::<u64>().expect("a number"));
    reply(&app, &owner, &id, "six").await;
    assert_message(&resumed.next().await, "agent", "six");
    assert_eq!(resumed.next_within(QUIET).await, None, "no duplicates");

    // …and the query parameter a new EventSource can set.
    let path = format!("{}&last_event_id={last_id}", events_path(&id, &visitor));
    let mut fresh = app.sse(&path, None).await;
    assert_eq!(fresh.next().await.event, "conversation");
    for text in ["three", "four", "five", "six"] {
        assert_eq!(fresh.next().await.data["text"], text);
    }
    assert_eq!(fresh.next_within(QUIET).await, None);
}

#[tokio::test]
async fn messages_written_while_a_stream_connects_arrive_exactly_once() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "start").await;
    const REPLIES: usize = 40;

    // Replies keep coming while streams connect: whatever the interleaving
    // of a connection's history read and its live feed, each stream sees
    // every message once, in order.
    let writer = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/conversations/{id}/messages"));
        let token = owner.token.clone();
        tokio::spawn(async move {
            for n in 0..REPLIES {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("reply {n}")}))
                    .send()
                    .await
                    .expect("reply");
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        })
    };
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(app.sse(&events_path(&id, &visitor), None).await);
    }
    writer.await.expect("writer");
    let (_, stored) = conversation(&app, &owner, &id).await;
    let expected = texts(&stored);
    assert_eq!(expected.len(), REPLIES + 1);
    for mut stream in streams {
        assert_eq!(stream.next().await.event, "conversation");
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            seen.push(stream.next().await.data["text"].clone());
        }
        assert_eq!(seen, expected);
        assert_eq!(stream.next_within(QUIET).await, None, "no duplicates");
    }
}

#[tokio::test]
async fn an_admin_exports_then_erases_a_conversation_for_good() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let bob = app.add_agent(SLUG, &owner, "Bob", &[]).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "please forget me").await;
    app.post(
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&bob.token),
        json!({"text": "of course"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut visitor_stream = app.sse(&events_path(&id, &visitor), None).await;
    let mut agent_stream = app.agent_events(&owner).await;
    while agent_stream.next().await.event != "site" {}

    // Agents who are not admins may do neither.
    app.get(
        &format!("/api/v1/conversations/{id}/export"),
        Some(&bob.token),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "admin_required");
    app.delete(&format!("/api/v1/conversations/{id}"), Some(&bob.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "admin_required");

    let export = app
        .get(
            &format!("/api/v1/conversations/{id}/export"),
            Some(&owner.token),
        )
        .await;
    assert!(
        export
            .headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment")),
        "{:?}",
        export.headers
    );
    let export = export.expect(StatusCode::OK);
    assert_eq!(export["conversation"]["id"], id.as_str());
    let texts: Vec<&str> = export["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["please forget me", "of course"]);

    app.delete(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.delete(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    let list = app
        .get("/api/v1/conversations", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list["conversations"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    // Dashboards are told; the visitor's stream ends and cannot come back.
    let erased = loop {
        let event = agent_stream.next().await;
        if event.event == "conversation_erased" {
            break event;
        }
    };
    assert_eq!(erased.data["id"], id.as_str());
    assert!(
        visitor_stream.ends_within(SOON).await,
        "the visitor stream goes on"
    );
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations/{id}/messages"),
        None,
        json!({"visitor_token": visitor, "text": "hello?"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
}

/// Only accepted messages count against a visitor's limit: ten messages that
/// failed to be stored (500) leave the visitor all its places.
#[tokio::test]
async fn messages_that_failed_to_be_stored_do_not_use_up_the_rate_limit() {
    let gate = Arc::new(Gate::default());
    let wrapper = {
        let gate = Arc::clone(&gate);
        StoreWrapper(Arc::new(move |inner| {
            Arc::new(GatedStore {
                inner,
                gate: Arc::clone(&gate),
            }) as Arc<dyn Store>
        }))
    };
    let app = spawn_app_with(TestConfig {
        store_wrapper: Some(wrapper),
        ..TestConfig::default()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "first").await;
    let path = format!("/api/v1/accounts/{SLUG}/conversations/{id}/messages");
    gate.fail_appends.store(true, Ordering::SeqCst);
    for n in 0..10 {
        app.post(
            &path,
            None,
            json!({"visitor_token": visitor, "text": format!("lost {n}")}),
        )
        .await
        .expect_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    }
    gate.fail_appends.store(false, Ordering::SeqCst);
    // The first message counted; nine places are left.
    for n in 0..9 {
        app.post(
            &path,
            None,
            json!({"visitor_token": visitor, "text": format!("kept {n}")}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    app.post(
        &path,
        None,
        json!({"visitor_token": visitor, "text": "one too many"}),
    )
    .await
    .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// The stream subscribes to the live feed before it reads the history: a
/// message stored and published between that read and the first live frame
/// still arrives, once. The store is paused right after the history read
/// while an agent replies.
#[tokio::test]
async fn a_message_stored_right_after_the_history_read_still_arrives_once() {
    let gate = Arc::new(Gate::default());
    let wrapper = {
        let gate = Arc::clone(&gate);
        StoreWrapper(Arc::new(move |inner| {
            Arc::new(GatedStore {
                inner,
                gate: Arc::clone(&gate),
            }) as Arc<dyn Store>
        }))
    };
    let app = spawn_app_with(TestConfig {
        store_wrapper: Some(wrapper),
        ..TestConfig::default()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "before").await;

    gate.armed.store(true, Ordering::SeqCst);
    let path = events_path(&id, &visitor);
    let in_the_gap = async {
        gate.history_read.notified().await;
        reply(&app, &owner, &id, "in the gap").await;
        gate.go_on.notify_one();
    };
    let (mut stream, ()) = tokio::join!(app.sse(&path, None), in_the_gap);

    assert_eq!(stream.next().await.event, "conversation");
    assert_message(&stream.next().await, "visitor", "before");
    assert_message(&stream.next().await, "agent", "in the gap");
    assert_eq!(stream.next_within(QUIET).await, None);
}

// ---------------------------------------------------------------------------
// Agents: live events and group routing

#[tokio::test]
async fn agents_receive_conversation_and_message_events_on_their_stream() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let mut dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();

    let id = start_ok(&app, &visitor, "Hello").await;
    let created = next_conversation_event(&mut dashboard).await;
    assert_eq!(created.event, "conversation");
    assert_eq!(created.data["id"], id.as_str());
    assert_eq!(created.data["state"], "open");
    let first = next_conversation_event(&mut dashboard).await;
    assert_message(&first, "visitor", "Hello");
    assert_eq!(first.id, None, "agent streams carry no ids");

    app.advance(SignedDuration::from_secs(1));
    say(&app, &id, &visitor, "Anyone?")
        .await
        .expect(StatusCode::CREATED);
    let updated = next_conversation_event(&mut dashboard).await;
    assert_eq!(updated.event, "conversation");
    assert_ne!(
        updated.data["last_message_at"], created.data["last_message_at"],
        "the conversation event carries the new last_message_at"
    );
    assert_message(
        &next_conversation_event(&mut dashboard).await,
        "visitor",
        "Anyone?",
    );

    reply(&app, &ann, &id, "Ann here").await;
    assert_eq!(
        next_conversation_event(&mut dashboard).await.event,
        "conversation"
    );
    let answer = next_conversation_event(&mut dashboard).await;
    assert_message(&answer, "agent", "Ann here");
    assert_eq!(answer.data["agent_id"], ann.id.as_str());
}

#[tokio::test]
async fn replies_carry_the_agents_name_as_the_account_knows_it_now() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;
    let posted = reply(&app, &ann, &id, "Ann here").await;
    assert_eq!(
        posted["message"]["agent"],
        json!({"id": ann.id, "name": "Ann", "avatar_url": null})
    );
    assert_eq!(
        replayed_agent(&app, &id, &visitor, &ann).await["name"],
        "Ann"
    );

    let agent_path = format!("/api/v1/accounts/{SLUG}/agents/{}", ann.id);
    app.patch(
        &agent_path,
        Some(&owner.token),
        json!({"name": "Ann Baker"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        replayed_agent(&app, &id, &visitor, &ann).await["name"],
        "Ann Baker"
    );
    let shown = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["messages"][1]["agent"]["name"], "Ann Baker");

    // A deleted agent's replies stay theirs, without a name to show.
    app.delete(&agent_path, Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(replayed_agent(&app, &id, &visitor, &ann).await, Value::Null);
}

#[tokio::test]
async fn an_agent_sets_the_name_visitors_see_on_its_replies_and_typing() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;
    let me = app
        .patch(
            "/api/v1/me",
            Some(&ann.token),
            json!({"name": "  Ann from Support "}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["name"], "Ann from Support");
    let posted = reply(&app, &ann, &id, "Ann here").await;
    assert_eq!(posted["message"]["agent"]["name"], "Ann from Support");
    let mut chat_box = app.sse(&events_path(&id, &visitor), None).await;
    for _ in 0..3 {
        chat_box.next().await; // the conversation, "Hello", "Ann here"
    }
    agent_typing(&app, &ann, &id)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(chat_box.next().await.data["name"], "Ann from Support");

    for bad in [" ", &"x".repeat(201), "Ann\u{7}"] {
        app.patch("/api/v1/me", Some(&ann.token), json!({"name": bad}))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_name");
    }
    // Its own name and notifications only: not its role.
    app.patch("/api/v1/me", Some(&ann.token), json!({"role": "admin"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "unknown_field");
}

#[tokio::test]
async fn a_group_conversation_reaches_its_members_and_ungrouped_agents_only() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let sue = app.add_agent(SLUG, &owner, "Sue", &["support"]).await;
    let mut owner_stream = app.agent_events(&owner).await;
    let mut sam_stream = app.agent_events(&sam).await;
    let mut sue_stream = app.agent_events(&sue).await;
    app.set_status(&sam, "online").await;
    app.set_status(&owner, "online").await;

    let sales = start_in(&app, "sales", "Price list?").await;
    for stream in [&mut sam_stream, &mut owner_stream] {
        let event = next_conversation_event(stream).await;
        assert_eq!(event.event, "conversation");
        assert_eq!(event.data["id"], sales.as_str());
        assert_eq!(event.data["group"], "sales");
        assert_message(
            &next_conversation_event(stream).await,
            "visitor",
            "Price list?",
        );
    }

    // A site-wide conversation reaches everyone: for Sue it is the first
    // conversation event, so the sales one never reached her.
    let site = start_ok(&app, &token(), "General question").await;
    for stream in [&mut sue_stream, &mut sam_stream, &mut owner_stream] {
        let event = next_conversation_event(stream).await;
        assert_eq!(event.data["id"], site.as_str());
        assert_eq!(event.data["group"], Value::Null);
        next_conversation_event(stream).await;
    }

    // And a support one reaches Sue and the owner, not Sam.
    let support = start_in(&app, "support", "It broke").await;
    for stream in [&mut sue_stream, &mut owner_stream] {
        assert_eq!(
            next_conversation_event(stream).await.data["id"],
            support.as_str()
        );
        next_conversation_event(stream).await;
    }
    assert_eq!(next_conversation_within(&mut sam_stream, QUIET).await, None);

    // Every agent of the account still finds every conversation in the inbox.
    assert_eq!(inbox(&app, &sam, "").await.len(), 3);
}

#[tokio::test]
async fn a_deleted_groups_conversations_count_as_the_sites() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sue = app.add_agent(SLUG, &owner, "Sue", &["support"]).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_conversation(&app, &visitor, Some("sales"), "Hi").await;
    app.delete("/api/v1/accounts/acme/groups/sales", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);

    let mut sue_stream = app.agent_events(&sue).await;
    say(&app, &id, &visitor, "Hello?")
        .await
        .expect(StatusCode::CREATED);
    let event = next_conversation_event(&mut sue_stream).await;
    assert_eq!(event.data["id"], id.as_str());
    assert_eq!(
        event.data["group"], "sales",
        "the conversation keeps its key"
    );
}

// ---------------------------------------------------------------------------
// Agents: the inbox, one conversation, replies, closing

#[tokio::test]
async fn the_inbox_lists_conversations_newest_first_filtered_by_group_and_state() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let first_visitor = token();
    let first = start_ok(&app, &first_visitor, "first").await;
    app.advance(SignedDuration::from_secs(1));
    let sales = start_in(&app, "sales", "second").await;
    app.advance(SignedDuration::from_secs(1));
    app.set_status(&owner, "offline").await;
    let offline = start(
        &app,
        json!({"visitor_token": token(), "text": "third", "email": "c@example.com"}),
    )
    .await
    .expect(StatusCode::CREATED)["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.set_status(&owner, "online").await;
    app.advance(SignedDuration::from_secs(1));
    // A new message brings the first conversation back to the top.
    say(&app, &first, &first_visitor, "again")
        .await
        .expect(StatusCode::CREATED);

    let ids = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (first, sales, offline) = (first.as_str(), sales.as_str(), offline.as_str());
    assert_eq!(ids(inbox(&app, &owner, "").await), [first, offline, sales]);
    assert_eq!(ids(inbox(&app, &owner, "?group=sales").await), [sales]);
    assert_eq!(ids(inbox(&app, &owner, "?state=offline").await), [offline]);
    assert_eq!(
        ids(inbox(&app, &owner, "?state=open").await),
        [first, sales]
    );
    assert_eq!(ids(inbox(&app, &owner, "?state=closed").await), [""; 0]);
    assert_eq!(ids(inbox(&app, &owner, "?limit=2").await), [first, offline]);
    assert_eq!(
        ids(inbox(&app, &owner, "?group=sales&state=open&limit=200").await),
        [sales]
    );
    assert!(inbox(&app, &owner, "?group=support").await.is_empty());

    // Each row previews its newest message that is not an automatic reply.
    let previews: Vec<(Value, Value)> = inbox(&app, &owner, "")
        .await
        .iter()
        .map(|c| {
            (
                c["last_message"]["author"].clone(),
                c["last_message"]["text"].clone(),
            )
        })
        .collect();
    assert_eq!(
        previews,
        [
            (json!("visitor"), json!("again")),
            (json!("visitor"), json!("third")),
            (json!("visitor"), json!("second")),
        ]
    );
    reply(&app, &owner, sales, &"long ".repeat(40)).await;
    let row = inbox(&app, &owner, "?group=sales").await.remove(0);
    assert_eq!(row["last_message"]["author"], "agent");
    let text = row["last_message"]["text"].as_str().expect("text");
    assert_eq!(text.chars().count(), 140, "{text}");
    assert!(
        text.starts_with("long long") && text.ends_with('…'),
        "{text}"
    );

    for (query, code) in [
        ("?state=pending", "invalid_state"),
        ("?limit=0", "invalid_limit"),
        ("?limit=201", "invalid_limit"),
        ("?limit=ten", "invalid_limit"),
        ("?group=Not%20A%20Key", "invalid_group"),
    ] {
        app.get(&format!("/api/v1/conversations{query}"), Some(&owner.token))
            .await
            .expect_error(StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn an_agent_reads_a_conversation_with_all_its_messages_in_order() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "a").await;
    reply(&app, &owner, &id, "b").await;
    say(&app, &id, &visitor, "c")
        .await
        .expect(StatusCode::CREATED);

    let body = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(keys(&body), ["conversation", "messages"]);
    assert_eq!(body["conversation"]["id"], id.as_str());
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(texts(messages), ["a", "b", "c"]);
    assert_eq!(messages[1]["author"], "agent");
    assert_eq!(messages[1]["agent_id"], owner.id.as_str());
    assert_eq!(
        body["conversation"]["last_message_at"],
        messages[2]["created_at"]
    );
    app.get("/api/v1/conversations/nope", Some(&owner.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.post(
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&owner.token),
        json!({"text": "  "}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_text");
}

#[tokio::test]
async fn an_agents_reply_turns_an_offline_message_into_an_open_conversation() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let visitor = token();
    let id = start(
        &app,
        json!({"visitor_token": visitor, "text": "Call me", "email": "v@example.com"}),
    )
    .await
    .expect(StatusCode::CREATED)["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut visitor_stream = app.sse(&events_path(&id, &visitor), None).await;
    assert_eq!(visitor_stream.next().await.data["state"], "offline");
    assert_message(&visitor_stream.next().await, "visitor", "Call me");
    assert_message(&visitor_stream.next().await, "bot", OFFLINE_REPLY_EN);
    let mut dashboard = app.agent_events(&owner).await;

    reply(&app, &owner, &id, "Calling you now").await;

    let changed = next_conversation_event(&mut dashboard).await;
    assert_eq!(changed.event, "conversation");
    assert_eq!(changed.data["state"], "open");
    let state = visitor_stream.next().await;
    assert_eq!(state.event, "conversation");
    assert_eq!(state.data["state"], "open");
    assert_message(&visitor_stream.next().await, "agent", "Calling you now");
    let (conversation, _) = conversation(&app, &owner, &id).await;
    assert_eq!(conversation["state"], "open");
}

#[tokio::test]
async fn a_visitor_message_follows_the_scopes_status_of_the_moment() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;

    app.set_status(&owner, "offline").await;
    let answer = say(&app, &id, &visitor, "Hello?")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(answer["delivery"], "offline");
    let (conversation, _) = conversation(&app, &owner, &id).await;
    assert_eq!(conversation["state"], "offline");
}

#[tokio::test]
async fn closing_a_conversation_is_pushed_and_refuses_further_messages() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Thanks, bye").await;
    let mut visitor_stream = app.sse(&events_path(&id, &visitor), None).await;
    visitor_stream.next().await;
    visitor_stream.next().await;
    let mut dashboard = app.agent_events(&owner).await;

    let body = app
        .post(
            &format!("/api/v1/conversations/{id}/close"),
            Some(&owner.token),
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(keys(&body), ["conversation"]);
    assert_eq!(body["conversation"]["state"], "closed");

    let pushed = next_conversation_event(&mut dashboard).await;
    assert_eq!(
        (pushed.event.as_str(), &pushed.data["state"]),
        ("conversation", &json!("closed"))
    );
    let pushed = visitor_stream.next().await;
    assert_eq!(
        (pushed.event.as_str(), &pushed.data["state"]),
        ("conversation", &json!("closed"))
    );

    say(&app, &id, &visitor, "one more thing")
        .await
        .expect_error(StatusCode::CONFLICT, "conversation_closed");
    app.post(
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&owner.token),
        json!({"text": "wait"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conversation_closed");
    // Closing again is harmless and pushes nothing.
    let again = app
        .post(
            &format!("/api/v1/conversations/{id}/close"),
            Some(&owner.token),
            Value::Null,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["conversation"]["state"], "closed");
    assert_eq!(next_conversation_within(&mut dashboard, QUIET).await, None);
    app.post(
        "/api/v1/conversations/nope/close",
        Some(&owner.token),
        Value::Null,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
}

#[tokio::test]
async fn agent_routes_need_credentials() {
    let app = spawn_app().await;
    app.create_account(SLUG).await;
    for (method, path) in [
        (Method::GET, "/api/v1/conversations"),
        (Method::GET, "/api/v1/conversations/x"),
        (Method::POST, "/api/v1/conversations/x/messages"),
        (Method::POST, "/api/v1/conversations/x/close"),
        (Method::POST, "/api/v1/conversations/x/typing"),
    ] {
        let body = if method == Method::POST {
            json!({"text": "hi"})
        } else {
            Value::Null
        };
        app.request(method.clone(), path, None, body.clone())
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "missing_credentials");
        app.request(method, path, Some("not-a-token"), body)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

#[tokio::test]
async fn another_accounts_conversations_are_invisible() {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    let globex = app.create_account("globex").await;
    app.set_status(&acme, "online").await;
    let mut globex_stream = app.agent_events(&globex).await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "for acme only").await;

    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/conversations/{id}"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{id}/messages"),
            json!({"text": "hijack"}),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{id}/close"),
            Value::Null,
        ),
    ] {
        app.request(method, &path, Some(&globex.token), body)
            .await
            .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    }
    assert!(inbox(&app, &globex, "").await.is_empty());
    assert_eq!(inbox(&app, &acme, "").await.len(), 1);
    assert_eq!(
        next_conversation_within(&mut globex_stream, QUIET).await,
        None
    );

    // The visitor's token does not open it under another account either.
    app.post(
        &format!("/api/v1/accounts/globex/conversations/{id}/messages"),
        None,
        json!({"visitor_token": visitor, "text": "hi"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.get(
        &format!("/api/v1/accounts/globex/conversations/{id}/events?visitor_token={visitor}"),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    let (conversation, messages) = conversation(&app, &acme, &id).await;
    assert_eq!(conversation["state"], "open");
    assert_eq!(texts(&messages), ["for acme only"]);
}

// ---------------------------------------------------------------------------
// Automatic replies, on a manual clock

#[tokio::test]
async fn the_offline_reply_comes_at_once_and_once_per_conversation() {
    let app = spawn_app_with(manual_clock()).await;
    app.create_account(SLUG).await;
    let visitor = token();
    let id = start(
        &app,
        json!({"visitor_token": visitor, "text": "Hello?", "email": "v@example.com"}),
    )
    .await
    .expect(StatusCode::CREATED)["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    assert_message(&stream.next().await, "visitor", "Hello?");
    let bot = stream.next().await;
    assert_message(&bot, "bot", OFFLINE_REPLY_EN);
    assert_eq!(bot.data["agent_id"], Value::Null);

    say(&app, &id, &visitor, "Anyone?")
        .await
        .expect(StatusCode::CREATED);
    assert_message(&stream.next().await, "visitor", "Anyone?");
    app.advance(SignedDuration::from_secs(3600));
    assert_eq!(stream.next_within(QUIET).await, None, "one offline reply");
}

#[tokio::test]
async fn the_busy_reply_comes_at_once_while_busy_and_once_per_wait() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "busy").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    assert_message(&stream.next().await, "visitor", "Hi");
    assert_message(&stream.next().await, "bot", BUSY_REPLY_EN);

    say(&app, &id, &visitor, "Hello?")
        .await
        .expect(StatusCode::CREATED);
    assert_message(&stream.next().await, "visitor", "Hello?");
    app.advance(SignedDuration::from_secs(600));
    assert_eq!(stream.next_within(QUIET).await, None, "one per wait");

    // An agent's answer ends the wait; the next message starts another.
    reply(&app, &owner, &id, "Sorry, one moment").await;
    assert_message(&stream.next().await, "agent", "Sorry, one moment");
    say(&app, &id, &visitor, "Ok")
        .await
        .expect(StatusCode::CREATED);
    assert_message(&stream.next().await, "visitor", "Ok");
    assert_message(&stream.next().await, "bot", BUSY_REPLY_EN);
}

#[tokio::test]
async fn an_unanswered_visitor_gets_the_busy_reply_after_busy_after_seconds_exactly_once() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let mut dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    assert_message(&stream.next().await, "visitor", "Hi");
    next_conversation_event(&mut dashboard).await;
    next_conversation_event(&mut dashboard).await;

    // The default busy_after_seconds is 45, counted from the first message.
    app.advance(SignedDuration::from_secs(30));
    say(&app, &id, &visitor, "Hello?")
        .await
        .expect(StatusCode::CREATED);
    assert_message(&stream.next().await, "visitor", "Hello?");
    app.advance(SignedDuration::from_secs(14));
    assert_eq!(stream.next_within(QUIET).await, None, "too early");

    app.advance(SignedDuration::from_secs(1));
    let bot = stream.next().await;
    assert_message(&bot, "bot", BUSY_REPLY_EN);
    assert_eq!(bot.data["created_at"], "2026-11-23T10:00:45Z");
    // Agents see it too.
    next_conversation_event(&mut dashboard).await;
    next_conversation_event(&mut dashboard).await;
    assert_eq!(
        next_conversation_event(&mut dashboard).await.event,
        "conversation"
    );
    assert_message(
        &next_conversation_event(&mut dashboard).await,
        "bot",
        BUSY_REPLY_EN,
    );

    app.advance(SignedDuration::from_secs(3600));
    say(&app, &id, &visitor, "Still waiting")
        .await
        .expect(StatusCode::CREATED);
    assert_message(&stream.next().await, "visitor", "Still waiting");
    app.advance(SignedDuration::from_secs(3600));
    assert_eq!(
        stream.next_within(QUIET).await,
        None,
        "exactly once per wait"
    );
    let (_, messages) = conversation(&app, &owner, &id).await;
    assert_eq!(
        messages.iter().filter(|m| m["author"] == "bot").count(),
        1,
        "{messages:?}"
    );
}

#[tokio::test]
async fn no_busy_reply_comes_when_an_agent_answered_in_time() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    stream.next().await;

    app.advance(SignedDuration::from_secs(44));
    reply(&app, &owner, &id, "Hello!").await;
    assert_message(&stream.next().await, "agent", "Hello!");
    app.advance(SignedDuration::from_secs(3600));
    assert_eq!(stream.next_within(QUIET).await, None);
    let (_, messages) = conversation(&app, &owner, &id).await;
    assert_eq!(texts(&messages), ["Hi", "Hello!"]);
}

#[tokio::test]
async fn changing_busy_after_seconds_moves_a_pending_busy_reply() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    stream.next().await;

    app.advance(SignedDuration::from_secs(20));
    app.patch_account(SLUG, &owner, json!({"busy_after_seconds": 10}))
        .await;
    // Ten seconds after the first message have passed already: at once.
    let bot = stream.next().await;
    assert_message(&bot, "bot", BUSY_REPLY_EN);
    assert_eq!(bot.data["created_at"], "2026-11-23T10:00:20Z");
}

#[tokio::test]
async fn a_pending_busy_reply_survives_a_restart() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hi").await;
    app.advance(SignedDuration::from_secs(10));
    drop(dashboard);

    let app = app
        .restart(TestConfig {
            manual_clock: Some(at(10)),
            ..TestConfig::default()
        })
        .await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    assert_message(&stream.next().await, "visitor", "Hi");
    app.advance(SignedDuration::from_secs(34));
    assert_eq!(stream.next_within(QUIET).await, None);
    app.advance(SignedDuration::from_secs(1));
    // The owner counts as present after the restart (within grace): busy reply.
    assert_message(&stream.next().await, "bot", BUSY_REPLY_EN);
}

#[tokio::test]
async fn replies_are_the_accounts_own_or_the_default_in_the_visitors_language() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let offline_reply_of = async |body: Value| -> Option<String> {
        let visitor = token();
        let mut body = body;
        body["visitor_token"] = json!(visitor);
        body["email"] = json!("v@example.com");
        let id = start(&app, body).await.expect(StatusCode::CREATED)["conversation"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (_, messages) = conversation(&app, &owner, &id).await;
        messages
            .iter()
            .find(|m| m["author"] == "bot")
            .map(|m| m["text"].as_str().expect("text").to_owned())
    };

    let german = json!({"text": "Hallo", "lang": "de"});
    assert_eq!(
        offline_reply_of(german.clone()).await.as_deref(),
        Some(OFFLINE_REPLY_DE)
    );
    assert_eq!(
        offline_reply_of(json!({"text": "Hello"})).await.as_deref(),
        Some(OFFLINE_REPLY_EN),
        "English without a language"
    );
    let account = app
        .patch_account(SLUG, &owner, json!({"offline_reply": "Back on Monday!"}))
        .await;
    assert_eq!(account["offline_reply"], "Back on Monday!");
    assert_eq!(
        offline_reply_of(german.clone()).await.as_deref(),
        Some("Back on Monday!"),
        "a customised text is used whatever the language"
    );
    app.patch_account(SLUG, &owner, json!({"offline_reply": ""}))
        .await;
    assert_eq!(offline_reply_of(german.clone()).await, None, "turned off");
    let account = app
        .patch_account(SLUG, &owner, json!({"offline_reply": null}))
        .await;
    assert_eq!(account["offline_reply"], Value::Null);
    assert_eq!(
        offline_reply_of(german.clone()).await.as_deref(),
        Some(OFFLINE_REPLY_DE)
    );

    // Per language: each visitor gets theirs, the default where none is
    // given, and nothing where it is empty.
    let account = app
        .patch_account(
            SLUG,
            &owner,
            json!({"offline_reply": {"de": "Bis Montag!", "it": ""}}),
        )
        .await;
    assert_eq!(
        account["offline_reply"],
        json!({"de": "Bis Montag!", "it": ""})
    );
    assert_eq!(
        offline_reply_of(german).await.as_deref(),
        Some("Bis Montag!")
    );
    assert_eq!(
        offline_reply_of(json!({"text": "Hello", "lang": "en"}))
            .await
            .as_deref(),
        Some(OFFLINE_REPLY_EN)
    );
    assert_eq!(
        offline_reply_of(json!({"text": "Ciao", "lang": "it"})).await,
        None,
        "turned off in Italian"
    );
}

#[tokio::test]
async fn the_automatic_reply_texts_are_settings_validated_and_stored() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let account = app
        .get("/api/v1/accounts/acme", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(account["offline_reply"], Value::Null, "default texts");
    assert_eq!(account["busy_reply"], Value::Null);

    for field in ["offline_reply", "busy_reply"] {
        let code = format!("invalid_{field}");
        for value in [json!("x".repeat(1001)), json!(5), json!(["a"])] {
            app.patch(
                "/api/v1/accounts/acme",
                Some(&owner.token),
                json!({field: value}),
            )
            .await
            .expect_error(StatusCode::BAD_REQUEST, &code);
        }
        let longest = "é".repeat(1000);
        let patched = app
            .patch_account(SLUG, &owner, json!({field: longest}))
            .await;
        assert_eq!(patched[field], longest.as_str());
    }
    // Other patches leave them alone.
    let patched = app
        .patch_account(SLUG, &owner, json!({"name": "Acme 2"}))
        .await;
    assert_eq!(patched["busy_reply"], "é".repeat(1000).as_str());

    let app = app.restart(TestConfig::default()).await;
    let owner = app.login(SLUG, "owner@acme.example", "again").await;
    let account = app
        .get("/api/v1/accounts/acme", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(account["offline_reply"], "é".repeat(1000).as_str());
}

// ---------------------------------------------------------------------------
// Typing

#[tokio::test]
async fn typing_reaches_the_other_side_at_most_once_a_second_and_is_never_stored() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let mut dashboard = app.agent_events(&owner).await;
    let visitor = token();
    let started = start(
        &app,
        json!({"visitor_token": visitor, "name": "Vera", "text": "Hello"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = started["conversation"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut chat_box = app.sse(&events_path(&id, &visitor), None).await;
    assert_eq!(chat_box.next().await.event, "conversation");
    assert_message(&chat_box.next().await, "visitor", "Hello");

    visitor_typing(&app, &id, &visitor)
        .await
        .expect(StatusCode::NO_CONTENT);
    let typing = next_typing(&mut dashboard).await;
    assert_eq!(
        typing.data,
        json!({"conversation_id": id, "author": "visitor", "name": "Vera"})
    );
    assert_eq!(typing.id, None);
    // Another within the second is answered, and not passed on.
    visitor_typing(&app, &id, &visitor)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(next_typing_within(&mut dashboard, QUIET).await, None);

    // The agent types: the chat box learns who, and the agent's own stream
    // does not echo it.
    agent_typing(&app, &owner, &id)
        .await
        .expect(StatusCode::NO_CONTENT);
    let typing = chat_box.next().await;
    assert_eq!(typing.event, "typing");
    assert_eq!(
        typing.data,
        json!({"conversation_id": id, "author": "agent", "name": "Owner"})
    );
    assert_eq!(typing.id, None, "not a message: no id to resume from");
    agent_typing(&app, &owner, &id)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(chat_box.next_within(QUIET).await, None);
    assert_eq!(next_typing_within(&mut dashboard, QUIET).await, None);

    // A second after the last one passed on, the next goes out again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    visitor_typing(&app, &id, &visitor)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(next_typing(&mut dashboard).await.data["author"], "visitor");

    // Nothing of it was stored: the conversation holds its one message.
    let shown = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["messages"].as_array().map(Vec::len), Some(1));
    // And a stream opened now replays no typing.
    let mut fresh = app.sse(&events_path(&id, &visitor), None).await;
    assert_eq!(fresh.next().await.event, "conversation");
    assert_message(&fresh.next().await, "visitor", "Hello");
    assert_eq!(fresh.next_within(QUIET).await, None);
}

#[tokio::test]
async fn a_visitors_typing_reaches_only_the_agents_of_its_group() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let sue = app.add_agent(SLUG, &owner, "Sue", &["support"]).await;
    app.set_status(&sam, "online").await;
    let mut sam_stream = app.agent_events(&sam).await;
    let mut sue_stream = app.agent_events(&sue).await;
    let visitor = token();
    let id = start_conversation(&app, &visitor, Some("sales"), "Price list?").await;
    visitor_typing(&app, &id, &visitor)
        .await
        .expect(StatusCode::NO_CONTENT);
    let typing = next_typing(&mut sam_stream).await;
    assert_eq!(typing.data["conversation_id"], id.as_str());
    assert_eq!(typing.data.get("name"), None, "no name given, none sent");
    assert_eq!(next_typing_within(&mut sue_stream, QUIET).await, None);
}

#[tokio::test]
async fn typing_needs_the_conversations_token_and_an_open_conversation() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let other = app.create_account("other").await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;

    visitor_typing(&app, &id, &token())
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    visitor_typing(&app, &id, "short")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_visitor_token");
    visitor_typing(&app, "nope", &visitor)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");
    app.post(
        &format!("/api/v1/accounts/nope/conversations/{id}/typing"),
        None,
        json!({"visitor_token": visitor}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_account");
    app.post(
        &conversation_path(&id, "/typing"),
        None,
        json!({"visitor_token": visitor, "text": "extra"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "unknown_field");
    // Another account's agent finds nothing.
    agent_typing(&app, &other, &id)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_conversation");

    app.post(
        &format!("/api/v1/conversations/{id}/close"),
        Some(&owner.token),
        Value::Null,
    )
    .await
    .expect(StatusCode::OK);
    visitor_typing(&app, &id, &visitor)
        .await
        .expect_error(StatusCode::CONFLICT, "conversation_closed");
    agent_typing(&app, &owner, &id)
        .await
        .expect_error(StatusCode::CONFLICT, "conversation_closed");
}

// ---------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn a_visitor_token_may_send_ten_messages_a_minute() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "1").await;
    for n in 2..=10 {
        say(&app, &id, &visitor, &n.to_string())
            .await
            .expect(StatusCode::CREATED);
    }

    let refused = say(&app, &id, &visitor, "11").await;
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(retry_after(&refused), 60);
    // A new conversation with the same token counts against the same limit.
    let again = start(&app, json!({"visitor_token": visitor, "text": "new"})).await;
    again.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    app.advance(SignedDuration::from_secs(20));
    assert_eq!(retry_after(&say(&app, &id, &visitor, "11").await), 40);
    // Another visitor is not slowed down.
    start_ok(&app, &token(), "other").await;

    app.advance(SignedDuration::from_secs(40));
    say(&app, &id, &visitor, "11")
        .await
        .expect(StatusCode::CREATED);
    let (_, messages) = conversation(&app, &owner, &id).await;
    let visitor_texts: Vec<Value> = messages
        .iter()
        .filter(|m| m["author"] == "visitor")
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        visitor_texts,
        (1..=11).map(|n| json!(n.to_string())).collect::<Vec<_>>(),
        "refused messages were not stored"
    );
}

#[tokio::test]
async fn a_client_address_may_send_sixty_messages_a_minute_and_others_are_not_slowed() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    for _ in 0..6 {
        let visitor = token();
        let id = start_ok(&app, &visitor, "hello").await;
        for _ in 0..9 {
            say(&app, &id, &visitor, "more")
                .await
                .expect(StatusCode::CREATED);
        }
    }

    let refused = start(&app, json!({"visitor_token": token(), "text": "61st"})).await;
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(retry_after(&refused), 60);

    // Another address (loopback has a whole /8) is not affected.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .expect("client");
    let response = elsewhere
        .post(app.url("/api/v1/accounts/acme/conversations"))
        .json(&json!({"visitor_token": token(), "text": "from elsewhere"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);

    app.advance(SignedDuration::from_secs(60));
    start_ok(&app, &token(), "a minute later").await;
}

#[tokio::test]
async fn a_rate_limited_answer_is_readable_cross_origin() {
    let app = spawn_app_with(manual_clock()).await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    for _ in 0..10 {
        start_ok(&app, &visitor, "hi").await;
    }
    let response = app
        .client
        .post(app.url("/api/v1/accounts/acme/conversations"))
        .header("Origin", "https://shop.example")
        .json(&json!({"visitor_token": visitor, "text": "again"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        header("access-control-expose-headers").as_deref(),
        Some("Retry-After")
    );
    assert_eq!(header("retry-after").as_deref(), Some("60"));
}

// ---------------------------------------------------------------------------
// CORS, durability, metrics

#[tokio::test]
async fn visitor_routes_answer_cors_like_the_status_routes() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "hi").await;

    for path in [
        "/api/v1/accounts/acme/conversations".to_owned(),
        conversation_path(&id, "/messages"),
        conversation_path(&id, "/events"),
    ] {
        let response = app
            .client
            .request(Method::OPTIONS, app.url(&path))
            .header("Origin", "https://shop.example")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .expect("preflight");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        let methods = response
            .headers()
            .get("access-control-allow-methods")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(methods.contains("POST"), "{path}: {methods}");
        let allowed = response
            .headers()
            .get("access-control-allow-headers")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(allowed.contains("Content-Type"), "{path}: {allowed}");
    }

    app.patch_account(
        SLUG,
        &owner,
        json!({"allowed_origins": ["https://shop.example"]}),
    )
    .await;
    let from = |origin: &'static str| {
        app.client
            .post(app.url("/api/v1/accounts/acme/conversations"))
            .header("Origin", origin)
            .json(&json!({"visitor_token": token(), "text": "hi"}))
            .send()
    };
    let allowed = from("https://shop.example").await.expect("request");
    assert_eq!(allowed.status(), StatusCode::CREATED);
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let refused = from("https://evil.example").await.expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // A bad body from an allowed origin is still readable there.
    let bad = app
        .client
        .post(app.url("/api/v1/accounts/acme/conversations"))
        .header("Origin", "https://shop.example")
        .body("not json")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn conversations_and_messages_survive_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;
    reply(&app, &owner, &id, "Hi").await;
    let before = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);

    let app = app.restart(TestConfig::default()).await;
    let after = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(after, before);
    // The visitor carries on where they were, ids still increasing.
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    stream.next().await;
    let last = stream.next().await;
    say(&app, &id, &visitor, "I'm back")
        .await
        .expect(StatusCode::CREATED);
    let next = stream.next().await;
    assert_message(&next, "visitor", "I'm back");
    assert!(seq(&next) > seq(&last));
}

#[tokio::test]
async fn metrics_count_visitor_streams_and_messages() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = token();
    let id = start_ok(&app, &visitor, "Hello").await;
    reply(&app, &owner, &id, "Hi").await;
    let mut stream = app.sse(&events_path(&id, &visitor), None).await;
    stream.next().await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("onair_open_streams{kind=\"conversation\"} 1"),
        "{text}"
    );
    assert!(text.contains("onair_messages_total 2"), "{text}");
}

// ---------------------------------------------------------------------------
// Helpers

/// Pauses the next history read (when armed) after it has read; fails
/// message writes while `fail_appends` is set.
#[derive(Debug, Default)]
struct Gate {
    armed: AtomicBool,
    history_read: Notify,
    go_on: Notify,
    fail_appends: AtomicBool,
}

#[derive(Debug)]
struct GatedStore {
    inner: Arc<dyn Store>,
    gate: Arc<Gate>,
}

#[async_trait]
impl Store for GatedStore {
    async fn conversation_with_messages(
        &self,
        account_id: &str,
        id: &str,
        after: u64,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        let read = self
            .inner
            .conversation_with_messages(account_id, id, after)
            .await;
        if self.gate.armed.swap(false, Ordering::SeqCst) {
            self.gate.history_read.notify_one();
            self.gate.go_on.notified().await;
        }
        read
    }

    async fn load_all(&self) -> StoreResult<Vec<AccountData>> {
        self.inner.load_all().await
    }
    async fn load_account(&self, slug: &str) -> StoreResult<Option<AccountData>> {
        self.inner.load_account(slug).await
    }
    async fn create_account(
        &self,
        account: &AccountRecord,
        owner: &AgentRecord,
    ) -> StoreResult<()> {
        self.inner.create_account(account, owner).await
    }
    async fn update_account(&self, account: &AccountRecord) -> StoreResult<()> {
        self.inner.update_account(account).await
    }
    async fn set_version(&self, account_id: &str, version: u64) -> StoreResult<()> {
        self.inner.set_version(account_id, version).await
    }
    async fn put_agent(&self, agent: &AgentRecord) -> StoreResult<()> {
        self.inner.put_agent(agent).await
    }
    async fn delete_agent(&self, agent_id: &str) -> StoreResult<()> {
        self.inner.delete_agent(agent_id).await
    }
    async fn put_avatar(&self, avatar: &AvatarRecord) -> StoreResult<bool> {
        self.inner.put_avatar(avatar).await
    }
    async fn delete_avatar(&self, agent_id: &str) -> StoreResult<()> {
        self.inner.delete_avatar(agent_id).await
    }
    async fn avatar(&self, hash: &str) -> StoreResult<Option<AvatarRecord>> {
        self.inner.avatar(hash).await
    }
    async fn put_group(&self, group: &GroupRecord) -> StoreResult<()> {
        self.inner.put_group(group).await
    }
    async fn delete_group(&self, account_id: &str, key: &str) -> StoreResult<()> {
        self.inner.delete_group(account_id, key).await
    }
    async fn put_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.inner.put_session(session).await
    }
    async fn touch_session(
        &self,
        session_id: &str,
        last_seen: Timestamp,
        streaming: bool,
    ) -> StoreResult<()> {
        self.inner
            .touch_session(session_id, last_seen, streaming)
            .await
    }
    async fn delete_session(&self, session_id: &str) -> StoreResult<()> {
        self.inner.delete_session(session_id).await
    }
    async fn create_conversation(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        self.inner
            .create_conversation(conversation, messages, outbox)
            .await
    }
    async fn append_messages(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>> {
        if self.gate.fail_appends.load(Ordering::SeqCst) {
            return Err(onair_server::store::StoreError::Backend(
                "the disk is full".into(),
            ));
        }
        self.inner
            .append_messages(conversation, messages, outbox)
            .await
    }
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        self.inner.claim_outbox(now, lease_until, limit).await
    }
    async fn outbox_sent(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        self.inner.outbox_sent(id, at).await
    }
    async fn outbox_retry(&self, id: &str, next: Timestamp, error: &str) -> StoreResult<()> {
        self.inner.outbox_retry(id, next, error).await
    }
    async fn outbox_failed(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<()> {
        self.inner.outbox_failed(id, at, error).await
    }
    async fn outbox_pending(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        self.inner.outbox_pending().await
    }
    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64> {
        self.inner.prune_outbox(before).await
    }
    async fn delete_conversation(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        self.inner.delete_conversation(account_id, id).await
    }
    async fn last_messages(
        &self,
        conversation_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, MessageRecord>> {
        self.inner.last_messages(conversation_ids).await
    }
    async fn reply_digest_start(&self, conversation_id: &str) -> StoreResult<Option<u64>> {
        self.inner.reply_digest_start(conversation_id).await
    }
    async fn finish_reply_digest(
        &self,
        conversation_id: &str,
        from: u64,
        sent_up_to: u64,
        follow_up: &OutboxItem,
    ) -> StoreResult<bool> {
        self.inner
            .finish_reply_digest(conversation_id, from, sent_up_to, follow_up)
            .await
    }
    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        self.inner.conversation(account_id, id).await
    }
    async fn list_conversations(
        &self,
        account_id: &str,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<ConversationRecord>> {
        self.inner.list_conversations(account_id, filter).await
    }
    async fn messages_after(
        &self,
        conversation_id: &str,
        after: u64,
    ) -> StoreResult<Vec<MessageRecord>> {
        self.inner.messages_after(conversation_id, after).await
    }
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        self.inner.create_webhook(webhook).await
    }
    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        self.inner.webhooks(account_id).await
    }
    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.inner.webhook(id).await
    }
    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        self.inner.delete_webhook(account_id, id).await
    }
    async fn record_webhook_attempt(
        &self,
        webhook_id: &str,
        attempt: &WebhookAttempt,
        keep: u32,
    ) -> StoreResult<()> {
        self.inner
            .record_webhook_attempt(webhook_id, attempt, keep)
            .await
    }
    async fn webhook_attempts(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookAttempt>> {
        self.inner.webhook_attempts(webhook_id, limit).await
    }
    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> StoreResult<()> {
        self.inner.enqueue_outbox(items).await
    }
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.meta(key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.inner.set_meta(key, value).await
    }
    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        self.inner.insert_meta_if_absent(key, value).await
    }
    async fn put_push_subscription(
        &self,
        subscription: &onair_server::store::PushSubscriptionRecord,
    ) -> StoreResult<bool> {
        self.inner.put_push_subscription(subscription).await
    }
    async fn push_subscription(
        &self,
        session_id: &str,
    ) -> StoreResult<Option<onair_server::store::PushSubscriptionRecord>> {
        self.inner.push_subscription(session_id).await
    }
    async fn push_subscriptions(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<onair_server::store::PushSubscriptionRecord>> {
        self.inner.push_subscriptions(account_id).await
    }
    async fn delete_push_subscription(
        &self,
        session_id: &str,
        endpoint: Option<&str>,
    ) -> StoreResult<bool> {
        self.inner
            .delete_push_subscription(session_id, endpoint)
            .await
    }
}

fn manual_clock() -> TestConfig {
    TestConfig {
        manual_clock: Some(at(0)),
        ..TestConfig::default()
    }
}

/// `T0` plus some seconds.
fn at(seconds: i64) -> Timestamp {
    T0.parse::<Timestamp>().expect("T0") + SignedDuration::from_secs(seconds)
}

/// A fresh visitor token, as a widget would make one.
fn token() -> String {
    onair_server::auth::new_token()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn texts(messages: &[Value]) -> Vec<Value> {
    messages.iter().map(|m| m["text"].clone()).collect()
}

fn conversation_path(id: &str, rest: &str) -> String {
    format!("/api/v1/accounts/{SLUG}/conversations/{id}{rest}")
}

fn events_path(id: &str, visitor: &str) -> String {
    format!(
        "{}?visitor_token={visitor}",
        conversation_path(id, "/events")
    )
}

async fn start(app: &TestApp, body: Value) -> Answer {
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations"),
        None,
        body,
    )
    .await
}

async fn start_conversation(
    app: &TestApp,
    visitor: &str,
    group: Option<&str>,
    text: &str,
) -> String {
    let mut body = json!({"visitor_token": visitor, "text": text});
    if let Some(group) = group {
        body["group"] = json!(group);
    }
    let answer = start(app, body).await.expect(StatusCode::CREATED);
    answer["conversation"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Starts a site-wide conversation (the scope must not be offline).
async fn start_ok(app: &TestApp, visitor: &str, text: &str) -> String {
    start_conversation(app, visitor, None, text).await
}

async fn start_in(app: &TestApp, group: &str, text: &str) -> String {
    start_conversation(app, &token(), Some(group), text).await
}

async fn say(app: &TestApp, id: &str, visitor: &str, text: &str) -> Answer {
    app.post(
        &conversation_path(id, "/messages"),
        None,
        json!({"visitor_token": visitor, "text": text}),
    )
    .await
}

async fn reply(app: &TestApp, agent: &Agent, id: &str, text: &str) -> Value {
    let body = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            Some(&agent.token),
            json!({"text": text}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(keys(&body), ["message"]);
    body
}

/// A new visitor stream's replay of conversation `id` (the visitor's "Hello", then `agent`'s
/// "Ann here"): the reply's `agent`.
async fn replayed_agent(app: &TestApp, id: &str, visitor: &str, agent: &Agent) -> Value {
    let mut stream = app.sse(&events_path(id, visitor), None).await;
    assert_eq!(stream.next().await.event, "conversation");
    assert_message(&stream.next().await, "visitor", "Hello");
    let answer = stream.next().await;
    assert_message(&answer, "agent", "Ann here");
    assert_eq!(answer.data["agent_id"], agent.id.as_str());
    answer.data["agent"].clone()
}

async fn visitor_typing(app: &TestApp, id: &str, visitor: &str) -> Answer {
    app.post(
        &conversation_path(id, "/typing"),
        None,
        json!({"visitor_token": visitor}),
    )
    .await
}

async fn agent_typing(app: &TestApp, agent: &Agent, id: &str) -> Answer {
    app.post(
        &format!("/api/v1/conversations/{id}/typing"),
        Some(&agent.token),
        Value::Null,
    )
    .await
}

async fn inbox(app: &TestApp, agent: &Agent, query: &str) -> Vec<Value> {
    let body = app
        .get(&format!("/api/v1/conversations{query}"), Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(keys(&body), ["conversations"]);
    body["conversations"]
        .as_array()
        .expect("conversations")
        .clone()
}

async fn conversation(app: &TestApp, agent: &Agent, id: &str) -> (Value, Vec<Value>) {
    let body = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    (
        body["conversation"].clone(),
        body["messages"].as_array().expect("messages").clone(),
    )
}

#[track_caller]
fn assert_message(event: &Event, author: &str, text: &str) {
    assert_eq!(event.event, "message", "{event:?}");
    assert_eq!(event.data["author"], author, "{event:?}");
    assert_eq!(event.data["text"], text, "{event:?}");
}

/// A visitor stream message's id, its `seq`.
#[track_caller]
fn seq(event: &Event) -> u64 {
    event
        .id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a numeric id: {event:?}"))
}

#[track_caller]
fn retry_after(answer: &Answer) -> u64 {
    answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After header: {answer:?}"))
}

/// The next `conversation` or `message` event of an agent stream, skipping
/// its `agent` and `site` events.
#[track_caller]
fn next_conversation_event(stream: &mut Sse) -> impl Future<Output = Event> + '_ {
    next_soon(stream, &["conversation", "message"])
}

async fn next_conversation_within(stream: &mut Sse, within: Duration) -> Option<Event> {
    next_of(stream, &["conversation", "message"], within).await
}

/// The next `typing` event of a stream, skipping the others.
#[track_caller]
fn next_typing(stream: &mut Sse) -> impl Future<Output = Event> + '_ {
    next_soon(stream, &["typing"])
}

async fn next_typing_within(stream: &mut Sse, within: Duration) -> Option<Event> {
    next_of(stream, &["typing"], within).await
}

/// The next event of one of `kinds` within [`SOON`]; panics, naming the caller, when none came.
#[track_caller]
fn next_soon<'a>(
    stream: &'a mut Sse,
    kinds: &'static [&'static str],
) -> impl Future<Output = Event> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        match next_of(stream, kinds, SOON).await {
            Some(event) => event,
            None => panic!("no {kinds:?} event within {SOON:?} (called at {caller})"),
        }
    }
}

/// The next event of one of `kinds` within `within`.
async fn next_of(stream: &mut Sse, kinds: &[&str], within: Duration) -> Option<Event> {
    tokio::time::timeout(within, async {
        while let Some(event) = stream.next_event().await {
            if kinds.contains(&event.event.as_str()) {
                return Some(event);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
