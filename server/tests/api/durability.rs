//! Restarts (docs/status.md): everything stored comes back, chat boxes do
//! not flap while devices reconnect, and versions never go backwards.
//!
//! Each test stops its server and starts a new one on the same SQLite file with
//! `TestApp::restart`, as a deploy would.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// A Monday morning, so office hours and clocks in these tests are deterministic.
fn monday_morning() -> Timestamp {
    "2026-03-02T09:00:00Z".parse().expect("timestamp")
}

fn manual_at(at: Timestamp) -> TestConfig {
    TestConfig {
        manual_clock: Some(at),
        ..TestConfig::default()
    }
}

fn after(at: Timestamp, seconds: i64) -> Timestamp {
    at + SignedDuration::from_secs(seconds)
}

/// How long a test listens to be sure that nothing is pushed.
const QUIET: Duration = Duration::from_millis(300);

/// The agents of an account by email: (status, groups, role, name, id).
async fn directory(app: &TestApp, slug: &str, admin: &Agent) -> BTreeMap<String, Value> {
    let body = app
        .get(
            &format!("/api/v1/accounts/{slug}/agents"),
            Some(&admin.token),
        )
        .await
        .expect(StatusCode::OK);
    body["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            let email = a["email"].as_str().expect("email").to_owned();
            let kept = json!({
                "id": a["id"], "name": a["name"], "role": a["role"],
                "status": a["status"], "groups": a["groups"],
            });
            (email, kept)
        })
        .collect()
}

fn version(snapshot: &Value) -> u64 {
    snapshot["version"].as_u64().expect("version")
}

#[tokio::test]
async fn chosen_statuses_survive_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let bob = app.add_agent("acme", &owner, "Bob", &[]).await;
    let carol = app.add_agent("acme", &owner, "Carol", &[]).await;
    app.set_status(&owner, "online").await;
    app.set_status(&bob, "busy").await;
    app.set_status(&carol, "online").await;
    // An admin forces Carol offline.
    app.patch(
        &format!("/api/v1/accounts/acme/agents/{}", carol.id),
        Some(&owner.token),
        json!({"status": "offline"}),
    )
    .await
    .expect(StatusCode::OK);
    let before = directory(&app, "acme", &owner).await;

    let app = app.restart(TestConfig::default()).await;

    let after = directory(&app, "acme", &owner).await;
    assert_eq!(after, before);
    assert_eq!(after[&owner.email]["status"], "online");
    assert_eq!(after[&bob.email]["status"], "busy");
    assert_eq!(after[&carol.email]["status"], "offline");
    let me = app.get("/api/v1/me", Some(&bob.token)).await;
    assert_eq!(me.expect(StatusCode::OK)["status"], "busy");
}

#[tokio::test]
async fn sessions_survive_a_restart_and_their_tokens_still_work() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let phone = app.login("acme", &owner.email, "owner phone").await;
    let bob = app.add_agent("acme", &owner, "Bob", &[]).await;
    let sessions_before = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK)["sessions"]
        .clone();

    let app = app.restart(TestConfig::default()).await;

    for agent in [&owner, &phone, &bob] {
        let me = app
            .get("/api/v1/me", Some(&agent.token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(me["id"], agent.id.as_str(), "{me}");
    }
    let me = app
        .get("/api/v1/me", Some(&phone.token))
        .await
        .expect(StatusCode::OK);
    let ids = |sessions: &Value| -> Vec<(String, String)> {
        sessions
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().expect("id").to_owned(),
                    s["device"].as_str().expect("device").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&me["sessions"]), ids(&sessions_before));
    assert!(
        ids(&me["sessions"]).contains(&(phone.session_id.clone(), "owner phone".to_owned())),
        "{me}"
    );
    // The token is as good as before: it can change things.
    assert_eq!(app.set_status(&bob, "online").await["status"], "online");
    assert_eq!(app.status("acme", None).await["status"], "online");
}

#[tokio::test]
async fn a_logged_out_session_stays_logged_out_after_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let phone = app.login("acme", &owner.email, "owner phone").await;
    app.set_status(&owner, "online").await;
    app.delete("/api/v1/sessions/current", Some(&phone.token))
        .await
        .expect(StatusCode::NO_CONTENT);

    let app = app.restart(TestConfig::default()).await;

    app.get("/api/v1/me", Some(&phone.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    let me = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let sessions = me["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{me}");
    assert_eq!(sessions[0]["id"], owner.session_id.as_str());

    // Logging out of the last device after a restart still takes the chat box
    // offline at once, and that too survives the next restart.
    app.delete("/api/v1/sessions/current", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(app.status("acme", None).await["status"], "offline");
    let app = app.restart(TestConfig::default()).await;
    app.get("/api/v1/me", Some(&owner.token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    let snapshot = app.status("acme", None).await;
    assert_eq!(snapshot["status"], "offline");
    assert_eq!(snapshot["reason"], "no_agent_available");
}

#[tokio::test]
async fn groups_and_memberships_survive_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    for key in ["sales", "support", "vip"] {
        app.add_group("acme", &owner, key).await;
    }
    app.patch(
        "/api/v1/accounts/acme/groups/support",
        Some(&owner.token),
        json!({"name": "Customer support"}),
    )
    .await
    .expect(StatusCode::OK);
    let bob = app.add_agent("acme", &owner, "Bob", &["sales"]).await;
    app.add_agent("acme", &owner, "Carol", &["sales", "support"])
        .await;
    let eve = app
        .add_agent("acme", &owner, "Eve", &["vip", "support"])
        .await;
    // A deleted group takes its memberships with it.
    app.delete("/api/v1/accounts/acme/groups/vip", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.set_status(&bob, "online").await;
    let groups_before = app
        .get("/api/v1/accounts/acme/groups", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let agents_before = directory(&app, "acme", &owner).await;

    let app = app.restart(TestConfig::default()).await;

    let groups_after = app
        .get("/api/v1/accounts/acme/groups", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(groups_after, groups_before);
    assert_eq!(
        groups_after,
        json!({"groups": [{"key": "sales", "name": "sales"},
                          {"key": "support", "name": "Customer support"}]})
    );
    let agents_after = directory(&app, "acme", &owner).await;
    assert_eq!(agents_after, agents_before);
    assert_eq!(agents_after["bob@acme.example"]["groups"], json!(["sales"]));
    assert_eq!(
        agents_after["carol@acme.example"]["groups"],
        json!(["sales", "support"])
    );
    assert_eq!(agents_after[&eve.email]["groups"], json!(["support"]));
    assert_eq!(agents_after[&owner.email]["groups"], json!([]));

    // Memberships still decide the chat boxes: Bob is in sales only.
    assert_eq!(app.status("acme", Some("sales")).await["status"], "online");
    assert_eq!(
        app.status("acme", Some("support")).await["status"],
        "offline"
    );
    app.get(&status_path("acme", Some("vip")), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_group");
}

#[tokio::test]
async fn account_and_group_office_hours_survive_a_restart() {
    let now = monday_morning();
    let app = spawn_app_with(manual_at(now)).await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    app.add_group("acme", &owner, "support").await;
    app.set_status(&owner, "online").await;
    let account_hours = json!({
        "enabled": true,
        "timezone": "Europe/Prague",
        "weekly": {
            "mon": [{"from": "09:00", "to": "12:00"}, {"from": "13:00", "to": "17:00"}],
            "fri": [{"from": "09:00", "to": "24:00"}],
            "sat": [{"from": "22:00", "to": "06:00"}]
        },
        "exceptions": [{"date": "2026-12-24", "hours": []},
                       {"date": "2026-03-07", "hours": [{"from": "10:00", "to": "11:00"}]}]
    });
    let sales_hours = json!({
        "enabled": true,
        "timezone": "America/New_York",
        "weekly": {"mon": [{"from": "08:00", "to": "20:00"}]},
        "exceptions": []
    });
    let put_account = app
        .put(
            "/api/v1/accounts/acme/office-hours",
            Some(&owner.token),
            account_hours,
        )
        .await
        .expect(StatusCode::OK);
    let put_sales = app
        .put(
            "/api/v1/accounts/acme/groups/sales/office-hours",
            Some(&owner.token),
            sales_hours,
        )
        .await
        .expect(StatusCode::OK);
    let snapshots_before = [
        app.status("acme", None).await,
        app.status("acme", Some("sales")).await,
        app.status("acme", Some("support")).await,
    ];
    // 10:00 in Prague is open; 04:00 in New York is not.
    assert_eq!(snapshots_before[0]["status"], "online");
    assert_eq!(snapshots_before[1]["reason"], "outside_office_hours");

    let app = app.restart(manual_at(now)).await;

    let token = Some(owner.token.as_str());
    let account_after = app
        .get("/api/v1/accounts/acme/office-hours", token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(account_after, put_account);
    let sales_after = app
        .get("/api/v1/accounts/acme/groups/sales/office-hours", token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(sales_after, put_sales);
    app.get("/api/v1/accounts/acme/groups/support/office-hours", token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "office_hours_not_set");

    // The hours still decide the chat boxes, with the same next change.
    let snapshots_after = [
        app.status("acme", None).await,
        app.status("acme", Some("sales")).await,
        app.status("acme", Some("support")).await,
    ];
    for (before, after) in snapshots_before.iter().zip(&snapshots_after) {
        for field in ["status", "reason", "message", "next_change", "group"] {
            assert_eq!(after[field], before[field], "{field}: {before} → {after}");
        }
    }
}

#[tokio::test]
async fn account_settings_survive_a_restart() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let patched = app
        .patch_account(
            "acme",
            &owner,
            json!({
                "name": "Acme Tea",
                "timezone": "America/New_York",
                "grace_seconds": 300,
                "busy_message": "Hang on, we are all on calls.",
                "offline_message": "Gone fishing. Leave us a note.",
                "hide_when_offline": true,
                "busy_after_seconds": 90,
                "allowed_origins": ["https://www.acme.example", "http://localhost:3000"]
            }),
        )
        .await;

    let app = app.restart(TestConfig::default()).await;

    let account = app
        .get("/api/v1/accounts/acme", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(account, patched);
    assert_eq!(account["grace_seconds"], 300);
    assert_eq!(account["busy_message"], "Hang on, we are all on calls.");
    assert_eq!(account["offline_message"], "Gone fishing. Leave us a note.");
    assert_eq!(account["hide_when_offline"], true);
    assert_eq!(account["busy_after_seconds"], 90);
    assert_eq!(
        account["allowed_origins"],
        json!(["https://www.acme.example", "http://localhost:3000"])
    );

    // And they still take effect: the messages, and the allowed origins.
    assert_eq!(
        app.status("acme", None).await["message"],
        "Gone fishing. Leave us a note."
    );
    app.set_status(&owner, "busy").await;
    assert_eq!(
        app.status("acme", None).await["message"],
        "Hang on, we are all on calls."
    );
    let from = |origin: &'static str| {
        app.client
            .get(app.url(&status_path("acme", None)))
            .header("Origin", origin)
            .send()
    };
    let allowed = from("https://www.acme.example").await.expect("request");
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://www.acme.example"
    );
    let refused = from("https://evil.example").await.expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_streaming_before_a_restart_keeps_the_chat_box_online_right_after_it() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    let bob = app.add_agent("acme", &owner, "Bob", &["sales"]).await;
    app.set_status(&bob, "online").await;
    let mut stream = app.agent_events(&bob).await;
    assert_eq!(stream.next().await.event, "agent");
    assert_eq!(app.status("acme", Some("sales")).await["status"], "online");

    let app = app.restart(TestConfig::default()).await;
    // The old stream ended with the old server.
    assert!(stream.ends_within(SOON).await);

    // No stream is open yet, and still nothing flaps.
    for group in [None, Some("sales")] {
        let snapshot = app.status("acme", group).await;
        assert_eq!(snapshot["status"], "online", "{snapshot}");
        assert_eq!(snapshot["reason"], "agents_online", "{snapshot}");
    }
    let mut status = app.status_events("acme", None).await;
    assert_eq!(status.next().await.data["status"], "online");
    assert_eq!(status.next_within(QUIET).await, None);
}

/// Bob online with an open stream when the server stops; the restart comes an
/// hour later, longer than the grace period.
async fn restart_with_bob_streaming() -> (TestApp, Agent, Timestamp) {
    let start = monday_morning();
    let app = spawn_app_with(manual_at(start)).await;
    let owner = app.create_account("acme").await;
    app.patch_account("acme", &owner, json!({"grace_seconds": 60}))
        .await;
    let bob = app.add_agent("acme", &owner, "Bob", &[]).await;
    app.set_status(&bob, "online").await;
    let mut stream = app.agent_events(&bob).await;
    stream.next().await;
    // The open stream alone keeps Bob present, long past the grace period.
    app.advance(SignedDuration::from_mins(30));
    assert_eq!(app.status("acme", None).await["status"], "online");

    let restarted_at = after(start, 30 * 60 + 60 * 60);
    let app = app.restart(manual_at(restarted_at)).await;
    assert!(stream.ends_within(SOON).await);
    (app, bob, restarted_at)
}

#[tokio::test]
async fn after_a_restart_the_chat_box_goes_offline_once_grace_passes_without_reconnecting() {
    let (app, _bob, restarted_at) = restart_with_bob_streaming().await;
    let snapshot = app.status("acme", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let mut status = app.status_events("acme", None).await;
    let first = status.next().await;
    assert_eq!(first.data["status"], "online");

    app.set_time(after(restarted_at, 59));
    assert_eq!(status.next_within(QUIET).await, None);
    assert_eq!(app.status("acme", None).await["status"], "online");

    app.set_time(after(restarted_at, 60));
    let pushed = status.next().await;
    assert_eq!(pushed.data["status"], "offline");
    assert_eq!(pushed.data["reason"], "no_agent_available");
    assert!(version(&pushed.data) > version(&first.data));
    assert_eq!(app.status("acme", None).await["status"], "offline");
}

#[tokio::test]
async fn reconnecting_within_grace_after_a_restart_keeps_the_chat_box_online() {
    let (app, bob, restarted_at) = restart_with_bob_streaming().await;
    let mut status = app.status_events("acme", None).await;
    assert_eq!(status.next().await.data["status"], "online");

    app.set_time(after(restarted_at, 50));
    let mut stream = app.agent_events(&bob).await;
    let agent = stream.next().await;
    assert_eq!(agent.event, "agent");
    assert_eq!(agent.data["available"], true);

    // Long past the grace period: the reconnected stream keeps Bob present.
    app.set_time(after(restarted_at, 60 * 60));
    assert_eq!(status.next_within(QUIET).await, None);
    let snapshot = app.status("acme", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
}

#[tokio::test]
async fn a_session_kept_present_by_requests_alone_survives_a_restart() {
    let start = monday_morning();
    let app = spawn_app_with(manual_at(start)).await;
    let owner = app.create_account("acme").await;
    app.patch_account("acme", &owner, json!({"grace_seconds": 60}))
        .await;
    let bob = app.add_agent("acme", &owner, "Bob", &[]).await;
    app.set_status(&bob, "online").await;
    // No stream, no heartbeat: an ordinary request 50 s later is Bob's last
    // sign of life, so he is present until 110 s.
    app.advance(SignedDuration::from_secs(50));
    app.get("/api/v1/me", Some(&bob.token))
        .await
        .expect(StatusCode::OK);
    app.advance(SignedDuration::from_secs(20));
    assert_eq!(app.status("acme", None).await["status"], "online");

    let restarted_at = after(start, 75);
    let app = app.restart(manual_at(restarted_at)).await;

    let snapshot = app.status("acme", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let mut status = app.status_events("acme", None).await;
    assert_eq!(status.next().await.data["status"], "online");
    app.set_time(after(restarted_at, 60));
    assert_eq!(status.next().await.data["status"], "offline");
}

#[tokio::test]
async fn a_session_that_expired_before_a_restart_stays_absent_after_it() {
    let start = monday_morning();
    let app = spawn_app_with(manual_at(start)).await;
    let owner = app.create_account("acme").await;
    app.patch_account("acme", &owner, json!({"grace_seconds": 60}))
        .await;
    let bob = app.add_agent("acme", &owner, "Bob", &[]).await;
    app.set_status(&bob, "online").await;
    // Bob walks away: he stays present for the grace period, then not.
    let mut status = app.status_events("acme", None).await;
    assert_eq!(status.next().await.data["status"], "online");
    app.advance(SignedDuration::from_secs(5 * 60));
    assert_eq!(status.next().await.data["status"], "offline");
    drop(status);

    let restarted_at = after(start, 6 * 60);
    let app = app.restart(manual_at(restarted_at)).await;

    let snapshot = app.status("acme", None).await;
    assert_eq!(snapshot["status"], "offline", "{snapshot}");
    assert_eq!(snapshot["reason"], "no_agent_available");
    // The owner asks (which touches only the owner's own session).
    let agents = directory(&app, "acme", &owner).await;
    assert_eq!(agents[&bob.email]["status"], "online");
    let listed = app
        .get(
            &format!("/api/v1/accounts/acme/agents/{}", bob.id),
            Some(&owner.token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["available"], false, "{listed}");
}

#[tokio::test]
async fn the_version_never_goes_backwards_across_restarts() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    // Another account that never changes at all.
    app.create_account("quiet").await;

    let mut app = app;
    let mut highest = 0;
    let mut quiet_highest = 0;
    for round in 0..5 {
        let mut status = app.status_events("acme", None).await;
        let mut seen = vec![version(&status.next().await.data)];
        // Every other round changes things before the restart; the rest restart idle.
        if round % 2 == 0 {
            app.set_status(&owner, "online").await;
            seen.push(version(&status.next().await.data));
            app.set_status(&owner, "busy").await;
            seen.push(version(&status.next().await.data));
            app.set_status(&owner, "offline").await;
            seen.push(version(&status.next().await.data));
            let group = format!("round-{round}");
            app.add_group("acme", &owner, &group).await;
            seen.push(version(&app.status("acme", Some(&group)).await));
        }
        seen.push(version(&app.status("acme", None).await));
        seen.push(version(&app.status("acme", Some("sales")).await));
        let quiet = version(&app.status("quiet", None).await);
        assert!(
            seen.iter().all(|&v| v > highest),
            "round {round}: versions {seen:?} after a restart are not above {highest}"
        );
        assert!(
            quiet > quiet_highest,
            "round {round}: quiet account at {quiet}"
        );
        highest = seen.into_iter().max().unwrap_or(highest);
        quiet_highest = quiet;
        app = app.restart(TestConfig::default()).await;
    }
    let after = version(&app.status("acme", None).await);
    assert!(
        after > highest,
        "{after} after the last restart, {highest} before"
    );
}
