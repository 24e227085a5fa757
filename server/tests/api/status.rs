//! The status rules (docs/status.md) and the streams that carry them
//! (`/me/events`, the status stream, `/metrics`), over real HTTP and SSE.
//!
//! Time-driven rules run on a manual clock: a test moves it and then waits for
//! the push the server's timer must make, with no request in between. Real
//! time is used only where it is the thing under test (keep-alives, a grace
//! period of one second).

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use onair_shared::model::builtin_message;
use onair_shared::wire::{Lang, Status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// How long a test listens to show that nothing was pushed.
const QUIET: Duration = Duration::from_millis(300);

const SLUG: &str = "acme";

/// Monday 2026-11-23, 11:00 in Prague (CET, UTC+1).
const MONDAY_11_PRAGUE: &str = "2026-11-23T10:00:00Z";

// ---------------------------------------------------------------------------
// The snapshot

#[tokio::test]
async fn a_snapshot_has_exactly_the_contract_fields() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    app.set_status(&sam, "online").await;

    let snapshot = app.status(SLUG, Some("sales")).await;
    let mut keys: Vec<&str> = snapshot
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account",
            "email_replies",
            "group",
            "hide_when_offline",
            "message",
            "next_change",
            "reason",
            "status",
            "version"
        ]
    );
    assert_eq!(snapshot["account"], "acme");
    assert_eq!(snapshot["group"], "sales");
    assert_eq!(snapshot["status"], "online");
    assert_eq!(snapshot["reason"], "agents_online");
    assert_eq!(snapshot["message"], Value::Null);
    assert_eq!(snapshot["next_change"], Value::Null, "no office hours set");
    assert!(snapshot["version"].as_u64().is_some_and(|v| v > 0));

    let site = app.status(SLUG, None).await;
    assert_eq!(site["group"], Value::Null, "the site scope has no group");
    assert_eq!(site["account"], "acme");
}

#[tokio::test]
async fn the_message_is_the_accounts_busy_or_offline_message_and_null_when_online() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.patch_account(
        SLUG,
        &owner,
        json!({"busy_message": "All hands busy", "offline_message": "Gone fishing"}),
    )
    .await;

    let offline = app.status(SLUG, None).await;
    assert_eq!(offline["status"], "offline");
    assert_eq!(offline["reason"], "no_agent_available");
    assert_eq!(offline["message"], "Gone fishing");

    app.set_status(&owner, "busy").await;
    let busy = app.status(SLUG, None).await;
    assert_eq!(busy["status"], "busy");
    assert_eq!(busy["reason"], "agents_busy");
    assert_eq!(busy["message"], "All hands busy");

    app.set_status(&owner, "online").await;
    let online = app.status(SLUG, None).await;
    assert_eq!(online["status"], "online");
    assert_eq!(online["message"], Value::Null);
}

#[tokio::test]
async fn an_unknown_account_answers_404_unknown_account_for_the_snapshot_and_the_stream() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/accounts/nobody/status",
        "/api/v1/accounts/nobody/status/events",
    ] {
        let answer = app.get(path, None).await;
        answer.expect_error(StatusCode::NOT_FOUND, "unknown_account");
        assert_json_content_type(&answer.headers, path);
    }
}

#[tokio::test]
async fn an_unknown_group_answers_404_unknown_group_before_any_stream_starts() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    for path in [
        "/api/v1/accounts/acme/status?group=nope",
        "/api/v1/accounts/acme/status/events?group=nope",
    ] {
        let answer = app.get(path, None).await;
        answer.expect_error(StatusCode::NOT_FOUND, "unknown_group");
        assert_json_content_type(&answer.headers, path);
    }
}

// ---------------------------------------------------------------------------
// Derivation over HTTP

#[tokio::test]
async fn an_account_without_groups_is_online_exactly_while_one_agent_is() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;

    assert_scope(&app, None, "offline", "no_agent_available").await;
    app.set_status(&ann, "online").await;
    assert_scope(&app, None, "online", "agents_online").await;
    app.set_status(&owner, "online").await;
    app.set_status(&ann, "offline").await;
    assert_scope(&app, None, "online", "agents_online").await;
    app.set_status(&owner, "offline").await;
    assert_scope(&app, None, "offline", "no_agent_available").await;
}

#[tokio::test]
async fn a_group_member_puts_its_group_and_the_site_online_but_not_another_group() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;

    app.set_status(&sam, "online").await;
    assert_scope(&app, None, "online", "agents_online").await;
    assert_scope(&app, Some("sales"), "online", "agents_online").await;
    assert_scope(&app, Some("support"), "offline", "no_agent_available").await;
}

#[tokio::test]
async fn an_ungrouped_agent_counts_for_every_group() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    // A grouped agent who is offline, so the groups have members of their own.
    app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;

    // The owner is in no group.
    app.set_status(&owner, "online").await;
    assert_scope(&app, None, "online", "agents_online").await;
    assert_scope(&app, Some("sales"), "online", "agents_online").await;
    assert_scope(&app, Some("support"), "online", "agents_online").await;
}

#[tokio::test]
async fn online_beats_busy_and_busy_alone_shows_busy() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;

    app.set_status(&ann, "busy").await;
    assert_scope(&app, None, "busy", "agents_busy").await;
    app.set_status(&owner, "online").await;
    assert_scope(&app, None, "online", "agents_online").await;
    app.set_status(&owner, "offline").await;
    assert_scope(&app, None, "busy", "agents_busy").await;
}

#[tokio::test]
async fn an_agent_who_chose_online_but_logged_out_leaves_the_chat_offline() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    app.set_status(&ann, "online").await;
    assert_scope(&app, None, "online", "agents_online").await;

    logout(&app, &ann).await;

    assert_scope(&app, None, "offline", "no_agent_available").await;
    // The chosen status survives the logout; only availability is gone.
    let view = app
        .get(
            &format!("/api/v1/accounts/acme/agents/{}", ann.id),
            Some(&owner.token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(view["status"], "online");
    assert_eq!(view["available"], false);
}

// ---------------------------------------------------------------------------
// Status streams

#[tokio::test]
async fn a_status_stream_sends_the_current_snapshot_at_once_with_its_version_as_id() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "busy").await;
    let current = app.status(SLUG, None).await;

    let mut stream = app.status_events(SLUG, None).await;
    let first = stream.next().await;
    assert_eq!(first.event, "status");
    assert_eq!(first.data, current);
    assert_id_is_version(&first);
}

#[tokio::test]
async fn setting_the_same_status_twice_pushes_nothing_the_second_time() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let mut stream = app.status_events(SLUG, None).await;
    stream.next().await;

    app.set_status(&owner, "online").await;
    let pushed = stream.next().await;
    assert_status(&pushed, "online", "agents_online");

    app.set_status(&owner, "online").await;
    assert_eq!(
        stream.next_within(QUIET).await,
        None,
        "a duplicate was pushed"
    );
}

#[tokio::test]
async fn a_change_in_one_group_is_not_pushed_to_another_groups_stream() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let mut sales = app.status_events(SLUG, Some("sales")).await;
    let mut support = app.status_events(SLUG, Some("support")).await;
    sales.next().await;
    support.next().await;

    app.set_status(&sam, "online").await;

    let pushed = sales.next().await;
    assert_status(&pushed, "online", "agents_online");
    assert_eq!(pushed.data["group"], "sales");
    assert_eq!(
        support.next_within(QUIET).await,
        None,
        "support did not change"
    );
}

#[tokio::test]
async fn versions_strictly_increase_with_every_pushed_change_and_never_repeat() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    let sam = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let mut site = app.status_events(SLUG, None).await;
    let mut sales = app.status_events(SLUG, Some("sales")).await;
    let mut site_versions = vec![version_of(&site.next().await)];
    let mut sales_versions = vec![version_of(&sales.next().await)];

    for status in ["online", "busy", "offline", "busy", "online", "offline"] {
        app.set_status(&sam, status).await;
        let on_site = site.next().await;
        let on_sales = sales.next().await;
        assert_eq!(on_site.data["status"], status);
        assert_eq!(on_sales.data["status"], status);
        assert_id_is_version(&on_site);
        assert_id_is_version(&on_sales);
        site_versions.push(version_of(&on_site));
        sales_versions.push(version_of(&on_sales));
    }
    // A new group changes neither existing scope: nothing is pushed.
    app.add_group(SLUG, &owner, "support").await;
    assert_eq!(
        site.next_within(QUIET).await,
        None,
        "the site did not change"
    );
    assert_eq!(sales.next_within(QUIET).await, None, "sales did not change");

    for versions in [&site_versions, &sales_versions] {
        assert!(
            versions.windows(2).all(|pair| pair[0] < pair[1]),
            "versions must strictly increase: {versions:?}"
        );
    }
    let last = app.status(SLUG, None).await;
    assert_eq!(last["version"].as_u64(), site_versions.last().copied());
}

/// A chat box that stops reading (a frozen tab, a stalled network) piles
/// nothing up on the server: while its socket is full the stream takes no
/// frame for it, and when it reads again it gets the newest snapshot, with
/// versions that only went up (docs/streams.md).
#[tokio::test]
async fn a_reader_that_stops_reading_gets_only_the_newest_snapshot_when_it_drains() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CHANGES: usize = 2000;
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(2048)
        .expect("a small receive buffer");
    let mut reader = socket.connect(app.addr).await.expect("connect");
    reader
        .write_all(
            format!("GET /api/v1/accounts/{SLUG}/status/events HTTP/1.1\r\nHost: onair\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    // The snapshots in what arrived (after the answer's head).
    let frames = |bytes: &[u8]| {
        let mut parser = onair_shared::sse::SseParser::new();
        parser.feed(bytes);
        std::iter::from_fn(|| parser.next())
            .filter_map(|frame| match frame {
                onair_shared::sse::SseFrame::Event(e) => {
                    serde_json::from_str::<Value>(&e.data).ok()
                }
                onair_shared::sse::SseFrame::Comment(_) => None,
            })
            .collect::<Vec<_>>()
    };
    while frames(&received).is_empty() {
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut chunk))
            .await
            .expect("the first snapshot")
            .expect("read");
        assert!(n > 0, "the stream closed");
        received.extend_from_slice(&chunk[..n]);
    }

    // The reader stops reading while the status changes many times.
    let mut last = String::new();
    for i in 0..CHANGES {
        last = if i % 2 == 0 { "online" } else { "busy" }.to_owned();
        app.set_status(&owner, &last).await;
    }
    let newest = app.status(SLUG, None).await;
    assert_eq!(newest["status"], last.as_str());

    // It drains: the newest snapshot comes, after only a few of the others.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = frames(&received);
        if events
            .last()
            .is_some_and(|e| e["version"] == newest["version"])
        {
            break;
        }
        let n = tokio::time::timeout_at(deadline.into(), reader.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("the newest snapshot never came: {events:?}"))
            .expect("read");
        assert!(n > 0, "the stream closed");
        received.extend_from_slice(&chunk[..n]);
    }
    let events = frames(&received);
    let versions: Vec<u64> = events
        .iter()
        .map(|e| e["version"].as_u64().expect("version"))
        .collect();
    assert!(
        versions.windows(2).all(|pair| pair[0] < pair[1]),
        "never a duplicate or an older snapshot after a newer one: {versions:?}"
    );
    assert_eq!(events.last(), Some(&newest));
    // What the socket's buffers held while the reader was away (about 200
    // frames in 64 KiB), and the newest: far fewer than the changes made.
    // (With the kernel's send-buffer autotuning every change was queued.)
    assert!(
        events.len() < CHANGES / 4,
        "{} of {CHANGES} changes were queued for a reader that did not read",
        events.len()
    );
}

#[tokio::test]
async fn versions_keep_increasing_across_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "busy").await;
    let before = app.status(SLUG, None).await["version"]
        .as_u64()
        .expect("a version");

    let app = app.restart(TestConfig::default()).await;
    let after_restart = app.status(SLUG, None).await["version"]
        .as_u64()
        .expect("a version");
    assert!(
        after_restart >= before,
        "version went back from {before} to {after_restart}"
    );
    let mut stream = app.status_events(SLUG, None).await;
    stream.next().await;
    let owner = app.login(SLUG, &owner.email, "after restart").await;
    app.set_status(&owner, "online").await;
    let pushed = stream.next().await;
    assert_status(&pushed, "online", "agents_online");
    assert!(version_of(&pushed) > before.max(after_restart));
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = spawn_app_with(TestConfig {
        keep_alive: Some(Duration::from_millis(200)),
        ..TestConfig::default()
    })
    .await;
    app.create_account(SLUG).await;
    let mut stream = app.status_events(SLUG, None).await;
    stream.next().await;
    let comments_before = stream.comments;

    let started = Instant::now();
    while stream.comments == comments_before {
        assert!(
            started.elapsed() < SOON,
            "no keep-alive comment within {SOON:?}"
        );
        let event = stream.next_within(Duration::from_millis(50)).await;
        assert_eq!(event, None, "nothing changed, so only comments may come");
    }
    eprintln!(
        "first keep-alive after {:?} (interval 200 ms)",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_status_change_is_pushed_at_once() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let mut stream = app.status_events(SLUG, None).await;
    stream.next().await;

    let started = Instant::now();
    app.set_status(&owner, "online").await;
    let pushed = stream.next().await;
    eprintln!(
        "status push latency, PUT sent to event read: {:?}",
        started.elapsed()
    );
    assert_status(&pushed, "online", "agents_online");
}

// ---------------------------------------------------------------------------
// One agent, many devices

#[tokio::test]
async fn a_status_change_on_one_device_reaches_every_device_of_the_agent() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let laptop = app.add_agent(SLUG, &owner, "Sam", &["sales"]).await;
    let phone = app.login(SLUG, &laptop.email, "Sam's phone").await;
    let mut devices = [
        app.agent_events(&laptop).await,
        app.agent_events(&phone).await,
    ];
    for device in &mut devices {
        let (agent, site) = agent_and_site(device).await;
        assert_eq!(agent["id"], laptop.id.as_str());
        assert_eq!(agent["status"], "offline");
        assert_eq!(
            site,
            json!({"site": "offline", "groups": {"sales": "offline", "support": "offline"}})
        );
    }

    app.set_status(&laptop, "online").await;

    for device in &mut devices {
        let (agent, site) = agent_and_site(device).await;
        assert_eq!(agent["id"], laptop.id.as_str());
        assert_eq!(agent["status"], "online");
        assert_eq!(agent["available"], true);
        assert_eq!(
            site,
            json!({"site": "online", "groups": {"sales": "online", "support": "offline"}})
        );
    }
}

#[tokio::test]
async fn an_admin_forcing_an_agents_status_reaches_every_device_of_the_agent() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let laptop = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let phone = app.login(SLUG, &laptop.email, "Ann's phone").await;
    app.set_status(&laptop, "online").await;
    let mut devices = [
        app.agent_events(&laptop).await,
        app.agent_events(&phone).await,
    ];
    for device in &mut devices {
        let (agent, site) = agent_and_site(device).await;
        assert_eq!(agent["status"], "online");
        assert_eq!(site["site"], "online");
    }

    app.patch(
        &format!("/api/v1/accounts/acme/agents/{}", laptop.id),
        Some(&owner.token),
        json!({"status": "offline"}),
    )
    .await
    .expect(StatusCode::OK);

    for device in &mut devices {
        let (agent, site) = agent_and_site(device).await;
        assert_eq!(agent["status"], "offline");
        assert_eq!(agent["available"], false);
        assert_eq!(site, json!({"site": "offline", "groups": {}}));
    }
}

// ---------------------------------------------------------------------------
// Presence on a manual clock

#[tokio::test]
async fn an_open_agent_stream_keeps_the_agent_present_far_past_grace() {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let _dashboard = app.agent_events(&ann).await;
    app.set_status(&ann, "online").await;
    let mut stream = app.status_events(SLUG, None).await;
    assert_status(&stream.next().await, "online", "agents_online");

    app.advance(SignedDuration::from_hours(10));
    // Make the server re-derive through a change of someone else's (Ann sends
    // nothing), then ask it afresh whether Ann is available.
    app.patch_account(SLUG, &owner, json!({"name": "Acme Ten Hours Later"}))
        .await;

    assert_eq!(
        stream.next_within(QUIET).await,
        None,
        "the chat went offline while the dashboard was open"
    );
    let view = app
        .get(
            &format!("/api/v1/accounts/acme/agents/{}", ann.id),
            Some(&owner.token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(view["available"], true, "{view}");
    assert_scope(&app, None, "online", "agents_online").await;
}

#[tokio::test]
async fn closing_the_agent_stream_starts_grace_and_the_timer_takes_the_chat_offline_when_it_ends() {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let mut stream = app.status_events(SLUG, None).await;
    assert_status(&stream.next().await, "online", "agents_online");
    app.advance(SignedDuration::from_secs(1000));

    drop(dashboard);
    wait_until_no_agent_stream(&app, &owner).await;

    // Grace is 120 s from the close.
    app.advance(SignedDuration::from_secs(119));
    assert_eq!(
        stream.next_within(QUIET).await,
        None,
        "offline before grace ended"
    );
    app.advance(SignedDuration::from_secs(1));
    let pushed = stream.next().await;
    assert_status(&pushed, "offline", "no_agent_available");
}

#[tokio::test]
async fn logging_out_ends_that_devices_agent_stream_and_takes_the_chat_offline_without_grace() {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let mut dashboard = app.agent_events(&ann).await;
    app.set_status(&ann, "online").await;
    let mut stream = app.status_events(SLUG, None).await;
    assert_status(&stream.next().await, "online", "agents_online");

    logout(&app, &ann).await;

    assert!(
        dashboard.ends_within(SOON).await,
        "the logged-out device's stream stayed open"
    );
    // The clock has not moved: no grace at all.
    assert_status(&stream.next().await, "offline", "no_agent_available");
}

#[tokio::test]
async fn deleting_a_group_ends_its_status_streams() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    let mut sales = app.status_events(SLUG, Some("sales")).await;
    let mut site = app.status_events(SLUG, None).await;
    sales.next().await;
    site.next().await;

    app.delete("/api/v1/accounts/acme/groups/sales", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);

    assert!(
        sales.ends_within(SOON).await,
        "the deleted group's stream stayed open"
    );
    assert!(
        !site.ends_within(QUIET).await,
        "the site stream must stay open"
    );
    app.get("/api/v1/accounts/acme/status?group=sales", None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_group");
}

#[tokio::test]
async fn with_one_second_of_grace_an_idle_agent_goes_offline_about_a_second_later() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.patch_account(SLUG, &owner, json!({"grace_seconds": 1}))
        .await;
    let mut stream = app.status_events(SLUG, None).await;
    stream.next().await;
    let logged_in = Instant::now();
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    let put = Instant::now();
    app.set_status(&ann, "online").await;
    assert_status(&stream.next().await, "online", "agents_online");

    // Nothing happens now: no request, no stream of Ann's.
    let limit = Duration::from_millis(2500);
    let pushed = stream
        .next_within(limit.saturating_sub(put.elapsed()))
        .await
        .expect("offline within 2.5 s of the PUT");
    let after_put = put.elapsed();
    assert_status(&pushed, "offline", "no_agent_available");
    // The PUT was Ann's last sign of life, so grace ends a second after it.
    assert!(
        after_put >= Duration::from_millis(900),
        "offline only {after_put:?} after the last sign of life"
    );
    eprintln!(
        "grace expiry push: {after_put:?} after the PUT (lateness {:?} past PUT + 1 s; {:?} after login + 1 s)",
        after_put.saturating_sub(Duration::from_secs(1)),
        logged_in.elapsed().saturating_sub(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn a_heartbeat_extends_presence_by_grace_seconds() {
    extends_presence(SignOfLife::Heartbeat).await;
}

#[tokio::test]
async fn any_authenticated_request_extends_presence_by_grace_seconds() {
    extends_presence(SignOfLife::Request).await;
}

// ---------------------------------------------------------------------------
// Office hours on a manual clock

#[tokio::test]
async fn office_hours_close_and_open_on_time_with_next_change_naming_the_next_boundary() {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    put_account_hours(&app, &owner, prague_weekdays(&["mon"])).await;

    let mut stream = app.status_events(SLUG, None).await;
    let first = stream.next().await;
    assert_status(&first, "online", "agents_online");
    assert_eq!(first.data["next_change"], "2026-11-23T16:00:00Z");

    app.set_time(ts("2026-11-23T16:00:00Z"));
    let closed = stream.next().await;
    assert_status(&closed, "offline", "outside_office_hours");
    assert_eq!(closed.data["next_change"], "2026-11-30T08:00:00Z");
    assert!(closed.data["message"].is_string());

    app.set_time(ts("2026-11-30T08:00:00Z"));
    let open = stream.next().await;
    assert_status(&open, "online", "agents_online");
    assert_eq!(open.data["next_change"], "2026-11-30T16:00:00Z");
}

#[tokio::test]
async fn every_office_hours_boundary_is_pushed_even_when_the_clock_reaches_it_at_once() {
    // The clock jumps to the next boundary as soon as the previous push is
    // read, before the server's timer has necessarily looked again.
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    put_account_hours(
        &app,
        &owner,
        prague_weekdays(&["mon", "tue", "wed", "thu", "fri"]),
    )
    .await;
    let mut stream = app.status_events(SLUG, None).await;
    let mut event = stream.next().await;
    assert_status(&event, "online", "agents_online");

    for _ in 0..12 {
        let boundary = ts(event.data["next_change"].as_str().expect("a next change"));
        let was_online = event.data["status"] == "online";
        app.set_time(boundary);
        event = stream.next().await;
        let (status, reason) = if was_online {
            ("offline", "outside_office_hours")
        } else {
            ("online", "agents_online")
        };
        assert_status(&event, status, reason);
    }
    // Twelve boundaries on, it is opening time on Tuesday of the next week
    // (the weekend was one closed stretch); it closes at 17:00 Prague time.
    assert_eq!(event.data["next_change"], "2026-12-01T16:00:00Z");
}

#[tokio::test]
async fn a_groups_own_office_hours_replace_the_accounts() {
    // Monday 20:00 in Prague: the account is closed, the night shift open.
    let app = spawn_app_with(manual_clock("2026-11-23T19:00:00Z")).await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "night").await;
    app.add_group(SLUG, &owner, "day").await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    put_account_hours(&app, &owner, prague_weekdays(&["mon"])).await;
    let night_hours = json!({"enabled": true, "timezone": "Europe/Prague",
                             "weekly": {"mon": [{"from": "18:00", "to": "23:00"}]}});
    app.put(
        "/api/v1/accounts/acme/groups/night/office-hours",
        Some(&owner.token),
        night_hours,
    )
    .await
    .expect(StatusCode::OK);

    let site = assert_scope(&app, None, "offline", "outside_office_hours").await;
    assert_eq!(site["next_change"], "2026-11-30T08:00:00Z");
    let day = assert_scope(&app, Some("day"), "offline", "outside_office_hours").await;
    assert_eq!(day["next_change"], "2026-11-30T08:00:00Z");
    let night = assert_scope(&app, Some("night"), "online", "agents_online").await;
    assert_eq!(night["next_change"], "2026-11-23T22:00:00Z");

    // Without hours of its own the group follows the account again.
    let mut stream = app.status_events(SLUG, Some("night")).await;
    stream.next().await;
    app.delete(
        "/api/v1/accounts/acme/groups/night/office-hours",
        Some(&owner.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let pushed = stream.next().await;
    assert_status(&pushed, "offline", "outside_office_hours");
    assert_eq!(pushed.data["next_change"], "2026-11-30T08:00:00Z");
}

#[tokio::test]
async fn putting_office_hours_that_are_closed_now_pushes_offline_at_once() {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let mut stream = app.status_events(SLUG, None).await;
    let first = stream.next().await;
    assert_status(&first, "online", "agents_online");
    assert_eq!(first.data["next_change"], Value::Null);

    // Open on Tuesdays only; it is Monday.
    put_account_hours(&app, &owner, prague_weekdays(&["tue"])).await;

    let pushed = stream.next().await;
    assert_status(&pushed, "offline", "outside_office_hours");
    assert_eq!(pushed.data["next_change"], "2026-11-24T08:00:00Z");
}

#[tokio::test]
async fn next_change_follows_the_new_york_dst_change_of_2026_11_01() {
    // Saturday 2026-10-31, 18:00 EDT (UTC-4); on Sunday 09:00 is EST (UTC-5).
    let app = spawn_app_with(manual_clock("2026-10-31T22:00:00Z")).await;
    let owner = app.create_account(SLUG).await;
    let _dashboard = app.agent_events(&owner).await;
    app.set_status(&owner, "online").await;
    let nine_to_five = json!([{"from": "09:00", "to": "17:00"}]);
    put_account_hours(
        &app,
        &owner,
        json!({"enabled": true, "timezone": "America/New_York",
               "weekly": {"sat": nine_to_five, "sun": nine_to_five}}),
    )
    .await;

    let mut stream = app.status_events(SLUG, None).await;
    let closed = stream.next().await;
    assert_status(&closed, "offline", "outside_office_hours");
    assert_eq!(closed.data["next_change"], "2026-11-01T14:00:00Z");

    app.set_time(ts("2026-11-01T14:00:00Z"));
    let open = stream.next().await;
    assert_status(&open, "online", "agents_online");
    assert_eq!(open.data["next_change"], "2026-11-01T22:00:00Z");
}

// ---------------------------------------------------------------------------
// Settings (a settings change is pushed)

#[tokio::test]
async fn changing_the_busy_message_while_busy_pushes_the_new_message() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "busy").await;
    let mut stream = app.status_events(SLUG, None).await;
    let first = stream.next().await;
    assert_status(&first, "busy", "agents_busy");

    app.patch_account(SLUG, &owner, json!({"busy_message": "Back in five"}))
        .await;

    let pushed = stream.next().await;
    assert_status(&pushed, "busy", "agents_busy");
    assert_eq!(pushed.data["message"], "Back in five");
    assert!(version_of(&pushed) > version_of(&first));
}

#[tokio::test]
async fn messages_per_language_reach_the_snapshot_and_stream_of_that_language_only() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "busy").await;
    let account = app
        .patch_account(
            SLUG,
            &owner,
            json!({"busy_message": {"en": "All hands busy", "de": "Alle beschäftigt"}}),
        )
        .await;
    assert_eq!(
        account["busy_message"],
        json!({"en": "All hands busy", "de": "Alle beschäftigt"})
    );
    assert_eq!(account["offline_message"], Value::Null, "the built-in text");

    let message_in = async |lang: &str| {
        let path = format!("/api/v1/accounts/{SLUG}/status?lang={lang}");
        app.get(&path, None).await.expect(StatusCode::OK)["message"].clone()
    };
    assert_eq!(message_in("de").await, "Alle beschäftigt");
    assert_eq!(message_in("de-CH").await, "Alle beschäftigt");
    assert_eq!(message_in("en").await, "All hands busy");
    assert_eq!(app.status(SLUG, None).await["message"], "All hands busy");
    // A language the account left out gets the built-in text in that language.
    let french = builtin_message(Status::Busy, Lang::Fr, false).unwrap();
    assert_eq!(message_in("fr").await, french);
    app.get(&format!("/api/v1/accounts/{SLUG}/status?lang=pt"), None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_lang");
    app.get(
        &format!("/api/v1/accounts/{SLUG}/status/events?lang=xx"),
        None,
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_lang");

    let events = format!("/api/v1/accounts/{SLUG}/status/events");
    let mut german = app.sse(&format!("{events}?lang=de"), None).await;
    let mut english = app.sse(&events, None).await;
    let mut italian = app.sse(&format!("{events}?lang=it"), None).await;
    let first = german.next().await;
    assert_eq!(first.data["message"], "Alle beschäftigt");
    english.next().await;
    italian.next().await;

    // Only the German text changes: only German chat boxes are told.
    app.patch_account(
        SLUG,
        &owner,
        json!({"busy_message": {"en": "All hands busy", "de": "Gleich zurück"}}),
    )
    .await;
    let pushed = german.next().await;
    assert_eq!(pushed.data["message"], "Gleich zurück");
    assert!(version_of(&pushed) > version_of(&first));
    assert_eq!(
        english.next_within(QUIET).await,
        None,
        "English did not change"
    );
    assert_eq!(
        italian.next_within(QUIET).await,
        None,
        "Italian did not change"
    );

    // A status change reaches every language, each in its own words.
    app.set_status(&owner, "offline").await;
    let offline = |lang| builtin_message(Status::Offline, lang, false).unwrap();
    assert_eq!(german.next().await.data["message"], offline(Lang::De));
    assert_eq!(english.next().await.data["message"], offline(Lang::En));
    assert_eq!(italian.next().await.data["message"], offline(Lang::It));
}

#[tokio::test]
async fn account_texts_are_a_string_an_object_of_languages_or_null_and_bad_ones_are_named() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    for (value, says) in [
        (json!({"pt": "Olá"}), "\"pt\""),
        (json!({"de": 5}), "busy_message.de"),
        (json!({"de": "x".repeat(1001)}), "busy_message.de"),
        (json!(["a"]), "busy_message"),
        (json!(true), "busy_message"),
    ] {
        let answer = app
            .patch(
                "/api/v1/accounts/acme",
                Some(&owner.token),
                json!({"busy_message": value}),
            )
            .await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_busy_message");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{value}: {message}");
    }
    let patched = app
        .patch_account(SLUG, &owner, json!({"offline_message": "Gone fishing"}))
        .await;
    assert_eq!(patched["offline_message"], "Gone fishing");
    assert_eq!(
        app.status(SLUG, None).await["message"],
        "Gone fishing",
        "a plain string is every language's"
    );
    let path = format!("/api/v1/accounts/{SLUG}/status?lang=es");
    assert_eq!(
        app.get(&path, None).await.expect(StatusCode::OK)["message"],
        "Gone fishing"
    );

    let patched = app
        .patch_account(SLUG, &owner, json!({"offline_message": null}))
        .await;
    assert_eq!(patched["offline_message"], Value::Null);
    let spanish = builtin_message(Status::Offline, Lang::Es, false).unwrap();
    assert_eq!(
        app.get(&path, None).await.expect(StatusCode::OK)["message"],
        spanish
    );
}

#[tokio::test]
async fn turning_on_hide_when_offline_is_pushed_to_open_chat_boxes() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let mut stream = app.status_events(SLUG, None).await;
    let first = stream.next().await;
    assert_eq!(first.data["hide_when_offline"], false);

    app.patch_account(SLUG, &owner, json!({"hide_when_offline": true}))
        .await;

    let pushed = stream.next().await;
    assert_status(&pushed, "offline", "no_agent_available");
    assert_eq!(pushed.data["hide_when_offline"], true);
    assert!(version_of(&pushed) > version_of(&first));
    assert_eq!(app.status(SLUG, None).await["hide_when_offline"], true);
}

// ---------------------------------------------------------------------------
// CORS

#[tokio::test]
async fn any_origin_may_read_the_status_when_no_origins_are_configured() {
    let app = spawn_app().await;
    app.create_account(SLUG).await;
    let response = with_origin(
        &app,
        Method::GET,
        "/api/v1/accounts/acme/status",
        "https://x.example",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allow_origin(&response), Some("*"));

    // Errors carry the header too, so a widget elsewhere can read why.
    let unknown = with_origin(
        &app,
        Method::GET,
        "/api/v1/accounts/acme/status?group=nope",
        "https://x.example",
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(allow_origin(&unknown), Some("*"));
}

#[tokio::test]
async fn with_allowed_origins_an_allowed_origin_is_echoed_and_another_is_refused() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.patch_account(
        SLUG,
        &owner,
        json!({"allowed_origins": ["https://shop.example"]}),
    )
    .await;

    for path in [
        "/api/v1/accounts/acme/status",
        "/api/v1/accounts/acme/status/events",
    ] {
        let allowed = with_origin(&app, Method::GET, path, "https://shop.example").await;
        assert_eq!(allowed.status(), StatusCode::OK, "{path}");
        assert_eq!(allow_origin(&allowed), Some("https://shop.example"));
        drop(allowed);

        let refused = with_origin(&app, Method::GET, path, "https://evil.example").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = refused.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "origin_not_allowed", "{path}");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_preflight_answers_204_with_the_allowed_methods() {
    let app = spawn_app().await;
    app.create_account(SLUG).await;
    for path in [
        "/api/v1/accounts/acme/status",
        "/api/v1/accounts/acme/status/events",
    ] {
        let response = with_origin(&app, Method::OPTIONS, path, "https://x.example").await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(allow_origin(&response), Some("*"));
        let methods = response
            .headers()
            .get("access-control-allow-methods")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(methods.contains("GET"), "allow-methods {methods:?}");
    }
}

// ---------------------------------------------------------------------------
// Metrics

#[tokio::test]
async fn metrics_count_open_status_streams_and_events_sent() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    assert_eq!(metric(&app, "onair_open_streams{kind=\"status\"}").await, 0);
    let mut first = app.status_events(SLUG, None).await;
    let mut second = app.status_events(SLUG, None).await;
    first.next().await;
    second.next().await;
    assert_eq!(metric(&app, "onair_open_streams{kind=\"status\"}").await, 2);
    let sent_before = metric(&app, "onair_events_sent_total").await;

    app.set_status(&owner, "online").await;
    first.next().await;
    second.next().await;

    let sent_after = metric(&app, "onair_events_sent_total").await;
    assert!(
        sent_after >= sent_before + 2,
        "events sent {sent_before} -> {sent_after}"
    );
}

// ---------------------------------------------------------------------------
// Helpers

fn manual_clock(start: &str) -> TestConfig {
    TestConfig {
        manual_clock: Some(ts(start)),
        ..TestConfig::default()
    }
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 instant")
}

/// Open 09:00–17:00 in Prague on these weekdays.
fn prague_weekdays(days: &[&str]) -> Value {
    let weekly: serde_json::Map<String, Value> = days
        .iter()
        .map(|day| ((*day).to_owned(), json!([{"from": "09:00", "to": "17:00"}])))
        .collect();
    json!({"enabled": true, "timezone": "Europe/Prague", "weekly": weekly, "exceptions": []})
}

async fn put_account_hours(app: &TestApp, admin: &Agent, hours: Value) {
    app.put(
        "/api/v1/accounts/acme/office-hours",
        Some(&admin.token),
        hours,
    )
    .await
    .expect(StatusCode::OK);
}

async fn logout(app: &TestApp, agent: &Agent) {
    app.delete("/api/v1/sessions/current", Some(&agent.token))
        .await
        .expect(StatusCode::NO_CONTENT);
}

/// Asserts a scope's snapshot and returns it.
#[track_caller]
fn assert_scope<'a>(
    app: &'a TestApp,
    group: Option<&'a str>,
    status: &'a str,
    reason: &'a str,
) -> impl Future<Output = Value> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let snapshot = app.status(SLUG, group).await;
        assert_eq!(
            (snapshot["status"].as_str(), snapshot["reason"].as_str()),
            (Some(status), Some(reason)),
            "scope {group:?}: {snapshot} (at {caller})"
        );
        snapshot
    }
}

#[track_caller]
fn assert_status(event: &Event, status: &str, reason: &str) {
    assert_eq!(event.event, "status", "{event:?}");
    assert_eq!(event.data["status"], status, "{event:?}");
    assert_eq!(event.data["reason"], reason, "{event:?}");
    assert_id_is_version(event);
}

#[track_caller]
fn assert_id_is_version(event: &Event) {
    assert_eq!(
        event.id.as_deref(),
        Some(version_of(event).to_string().as_str()),
        "the SSE id must be the snapshot's version: {event:?}"
    );
}

#[track_caller]
fn version_of(event: &Event) -> u64 {
    event.data["version"].as_u64().expect("a version")
}

#[track_caller]
fn assert_json_content_type(headers: &reqwest::header::HeaderMap, path: &str) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{path}: content type {content_type:?}, expected a JSON error before any stream"
    );
}

/// The next `agent` and `site` events of an agent stream, in either order
/// (both feeds change together and the server may interleave them).
async fn agent_and_site(stream: &mut Sse) -> (Value, Value) {
    let (mut agent, mut site) = (None, None);
    for _ in 0..2 {
        let event = stream.next().await;
        match event.event.as_str() {
            "agent" => agent = Some(event.data),
            "site" => site = Some(event.data),
            other => panic!("unexpected event {other}: {event:?}"),
        }
    }
    (agent.expect("an agent event"), site.expect("a site event"))
}

/// Waits until the server has counted the end of the agent's streams, which is
/// when its grace period starts. There is no event for this, so it looks at
/// the hub's presence directly.
async fn wait_until_no_agent_stream(app: &TestApp, agent: &Agent) {
    let live = app.hub.account(SLUG).await.expect("live account");
    let open_streams = || {
        live.lock()
            .model()
            .agents
            .get(&agent.id)
            .and_then(|a| a.sessions.get(&agent.session_id))
            .map_or(0, |s| s.open_streams)
    };
    let waited = tokio::time::timeout(SOON, async {
        while open_streams() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the server never saw the stream close");
}

#[derive(Debug, Clone, Copy)]
enum SignOfLife {
    Heartbeat,
    /// Any authenticated request; `GET /me` here.
    Request,
}

/// Shared by the heartbeat and request tests: with grace 120 s, a sign of
/// life 100 s after the last one keeps the chat online until 220 s.
async fn extends_presence(sign_of_life: SignOfLife) {
    let app = spawn_app_with(manual_clock(MONDAY_11_PRAGUE)).await;
    let owner = app.create_account(SLUG).await;
    let ann = app.add_agent(SLUG, &owner, "Ann", &[]).await;
    app.set_status(&ann, "online").await;
    let mut stream = app.status_events(SLUG, None).await;
    assert_status(&stream.next().await, "online", "agents_online");

    app.advance(SignedDuration::from_secs(100));
    match sign_of_life {
        SignOfLife::Heartbeat => {
            app.post("/api/v1/me/heartbeat", Some(&ann.token), Value::Null)
                .await
                .expect(StatusCode::NO_CONTENT);
        }
        SignOfLife::Request => {
            app.get("/api/v1/me", Some(&ann.token))
                .await
                .expect(StatusCode::OK);
        }
    }
    app.advance(SignedDuration::from_secs(100));
    assert_eq!(
        stream.next_within(QUIET).await,
        None,
        "offline 200 s after login although a sign of life came at 100 s"
    );
    app.advance(SignedDuration::from_secs(21));
    assert_status(&stream.next().await, "offline", "no_agent_available");
}

async fn with_origin(app: &TestApp, method: Method, path: &str, origin: &str) -> reqwest::Response {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .header("Origin", origin);
    if method == Method::OPTIONS {
        request = request.header("Access-Control-Request-Method", "GET");
    }
    request.send().await.expect("request")
}

fn allow_origin(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
}
