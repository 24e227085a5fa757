//! Ending access (CONTRACT §8, docs/hardening.md): a new password ends the
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
