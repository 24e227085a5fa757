//! Ending access (docs/hardening.md): a new password ends the
//! agent's other sessions; an agent ends one of its devices; an admin ends
//! all of an agent's sessions. Ended sessions' tokens stop working and their
//! streams end at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const SLUG: &str = "acme";

async fn still_works(app: &TestApp, agent: &Agent) -> bool {
    app.get("/api/v1/me", Some(&agent.token)).await.status == StatusCode::OK
}

#[tokio::test]
async fn changing_my_password_ends_my_other_sessions_at_once() {
    let app = spawn_app().await;
    let laptop = app.create_account(SLUG).await;
    let phone = app.login(SLUG, &laptop.email, "phone").await;
    let mut phone_stream = app.agent_events(&phone).await;
    assert_eq!(phone_stream.next().await.event, "agent");

    app.put(
        "/api/v1/me/password",
        Some(&laptop.token),
        json!({"current_password": "not it at all", "new_password": "a new long secret"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "wrong_password");
    assert!(
        still_works(&app, &phone).await,
        "a wrong current password changes nothing"
    );
    app.put(
        "/api/v1/me/password",
        Some(&laptop.token),
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_password");

    app.put(
        "/api/v1/me/password",
        Some(&laptop.token),
        json!({"current_password": PASSWORD, "new_password": "a new long secret"}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert!(
        phone_stream.ends_within(Duration::from_secs(1)).await,
        "the phone's stream goes on"
    );
    assert!(
        !still_works(&app, &phone).await,
        "the phone's token still works"
    );
    assert!(
        still_works(&app, &laptop).await,
        "the device that changed it stays"
    );
    app.post(
        &format!("/api/v1/accounts/{SLUG}/sessions"),
        None,
        json!({"email": laptop.email, "password": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.post(
        &format!("/api/v1/accounts/{SLUG}/sessions"),
        None,
        json!({"email": laptop.email, "password": "a new long secret"}),
    )
    .await
    .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn an_admin_setting_a_password_ends_every_session_of_that_agent() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let bob = app.add_agent(SLUG, &owner, "Bob", &[]).await;
    let bob_phone = app.login(SLUG, &bob.email, "phone").await;
    app.patch(
        &format!("/api/v1/accounts/{SLUG}/agents/{}", bob.id),
        Some(&owner.token),
        json!({"password": "a new long secret"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(!still_works(&app, &bob).await);
    assert!(!still_works(&app, &bob_phone).await);
    assert!(still_works(&app, &owner).await);
    // A patch without a password ends nothing.
    let bob = app
        .post(
            &format!("/api/v1/accounts/{SLUG}/sessions"),
            None,
            json!({"email": bob.email, "password": "a new long secret"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let token = bob["token"].as_str().expect("token").to_owned();
    let id = bob["agent"]["id"].as_str().expect("id").to_owned();
    app.patch(
        &format!("/api/v1/accounts/{SLUG}/agents/{id}"),
        Some(&owner.token),
        json!({"name": "Robert"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_agent_ends_one_of_its_own_devices_and_no_one_elses() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let bob = app.add_agent(SLUG, &owner, "Bob", &[]).await;
    let phone = app.login(SLUG, &owner.email, "phone").await;
    let mut phone_stream = app.agent_events(&phone).await;
    assert_eq!(phone_stream.next().await.event, "agent");
    // Someone else's session is not mine to end.
    app.delete(
        &format!("/api/v1/me/sessions/{}", bob.session_id),
        Some(&owner.token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_session");
    assert!(still_works(&app, &bob).await);
    app.delete(
        &format!("/api/v1/me/sessions/{}", phone.session_id),
        Some(&owner.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert!(phone_stream.ends_within(Duration::from_secs(1)).await);
    assert!(!still_works(&app, &phone).await);
    assert!(still_works(&app, &owner).await);
    let me = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["sessions"].as_array().map(Vec::len), Some(1), "{me}");
}

#[tokio::test]
async fn an_admin_ends_all_of_an_agents_sessions() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let bob = app.add_agent(SLUG, &owner, "Bob", &[]).await;
    let bob_phone = app.login(SLUG, &bob.email, "phone").await;
    let path = format!("/api/v1/accounts/{SLUG}/agents/{}/sessions", bob.id);
    app.delete(&path, Some(&bob.token))
        .await
        .expect_error(StatusCode::FORBIDDEN, "admin_required");
    app.delete(
        &format!("/api/v1/accounts/{SLUG}/agents/nobody/sessions"),
        Some(&owner.token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "unknown_agent");
    app.delete(&path, Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!still_works(&app, &bob).await);
    assert!(!still_works(&app, &bob_phone).await);
    assert!(still_works(&app, &owner).await);
    // Bob can log in again: ending sessions is not disabling.
    app.login(SLUG, &bob.email, "laptop").await;
}

#[tokio::test]
async fn a_disabled_agent_loses_its_sessions_cannot_log_in_and_counts_for_no_chat_box() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let bob = app.add_agent(SLUG, &owner, "Bob", &[]).await;
    app.set_status(&bob, "online").await;
    // The owner's own session must not keep the chat box online: offline.
    app.set_status(&owner, "offline").await;
    assert_eq!(app.status(SLUG, None).await["status"], "online");
    let mut chat_box = app.status_events(SLUG, None).await;
    assert_eq!(chat_box.next().await.data["status"], "online");

    let disabled = app
        .patch(
            &format!("/api/v1/accounts/{SLUG}/agents/{}", bob.id),
            Some(&owner.token),
            json!({"disabled": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(disabled["disabled"], true);
    assert_eq!(disabled["available"], false);
    assert_eq!(chat_box.next().await.data["status"], "offline");
    assert!(
        !still_works(&app, &bob).await,
        "a disabled agent's session goes on"
    );
    // Refused like a wrong password: the answer reveals nothing.
    app.post(
        &format!("/api/v1/accounts/{SLUG}/sessions"),
        None,
        json!({"email": bob.email, "password": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Still listed, still there: not deleted.
    let listed = app
        .get(
            &format!("/api/v1/accounts/{SLUG}/agents/{}", bob.id),
            Some(&owner.token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["disabled"], true);
    assert_eq!(listed["status"], "online", "its chosen status is kept");

    // The last enabled admin cannot disable itself.
    app.patch(
        &format!("/api/v1/accounts/{SLUG}/agents/{}", owner.id),
        Some(&owner.token),
        json!({"disabled": true}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "last_admin");

    // Enabled again: it logs in and its status counts again.
    app.patch(
        &format!("/api/v1/accounts/{SLUG}/agents/{}", bob.id),
        Some(&owner.token),
        json!({"disabled": false}),
    )
    .await
    .expect(StatusCode::OK);
    let bob = app.login(SLUG, &bob.email, "laptop").await;
    assert_eq!(chat_box.next().await.data["status"], "online");
    assert!(still_works(&app, &bob).await);
}

/// `event: agent` carries the agent's sessions, so a dashboard lists a
/// device the moment it logs in or out, without asking.
#[tokio::test]
async fn the_agent_stream_tells_of_devices_that_log_in_and_out() {
    let app = spawn_app().await;
    let laptop = app.create_account(SLUG).await;
    let mut stream = app.agent_events(&laptop).await;
    let first = stream.next().await;
    assert_eq!(first.event, "agent");
    let devices = |event: &Event| -> Vec<(String, bool)> {
        event.data["sessions"]
            .as_array()
            .expect("sessions in the agent event")
            .iter()
            .map(|s| {
                (
                    s["device"].as_str().expect("device").to_owned(),
                    s["present"].as_bool().expect("present"),
                )
            })
            .collect()
    };
    assert_eq!(first.data["id"], laptop.id.as_str(), "{}", first.data);
    assert_eq!(devices(&first).len(), 1, "{}", first.data);

    let phone = app.login(SLUG, &laptop.email, "phone").await;
    let event = loop {
        let event = stream.next().await;
        if event.event == "agent" && devices(&event).len() == 2 {
            break event;
        }
    };
    assert!(
        devices(&event).iter().any(|(name, _)| name == "phone"),
        "{}",
        event.data
    );

    app.delete("/api/v1/sessions/current", Some(&phone.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let event = loop {
        let event = stream.next().await;
        if event.event == "agent" && devices(&event).len() == 1 {
            break event;
        }
    };
    assert!(
        !devices(&event).iter().any(|(name, _)| name == "phone"),
        "{}",
        event.data
    );
}
