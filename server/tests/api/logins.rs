//! Login throttling (docs/hardening.md): 5 failed logins for one
//! account and email within 15 minutes lock that email, whether or not it
//! exists; an address gets 30 login attempts a minute.

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const START: &str = "2026-11-23T10:00:00Z";

async fn manual_app() -> TestApp {
    spawn_app_with(TestConfig {
        manual_clock: Some(START.parse::<Timestamp>().expect("instant")),
        ..TestConfig::default()
    })
    .await
}

async fn try_login(app: &TestApp, slug: &str, email: &str, password: &str) -> Answer {
    app.post(
        &format!("/api/v1/accounts/{slug}/sessions"),
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

#[track_caller]
fn expect_throttled(answer: &Answer) -> u64 {
    answer.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

#[tokio::test]
async fn five_failed_logins_lock_the_email_even_for_the_right_password_until_the_window_passes() {
    let app = manual_app().await;
    let owner = app.create_account("acme").await;
    for _ in 0..5 {
        try_login(&app, "acme", &owner.email, "wrong password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        app.advance(SignedDuration::from_secs(10));
    }
    // The first failure was 50 s ago: the lock lasts until it is 15 min old.
    let answer = try_login(&app, "acme", &owner.email, PASSWORD).await;
    assert_eq!(expect_throttled(&answer), 15 * 60 - 50);
    // The email is matched as the login matches it: case and spaces do not help.
    let shouted = format!("  {}  ", owner.email.to_uppercase());
    expect_throttled(&try_login(&app, "acme", &shouted, PASSWORD).await);
    // The existing session still works; other agents can still log in.
    app.get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    app.add_agent("acme", &owner, "Bob", &[]).await;

    app.advance(SignedDuration::from_secs(15 * 60 - 50));
    try_login(&app, "acme", &owner.email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_emails_are_locked_the_same_way_so_the_answer_reveals_nothing() {
    let app = manual_app().await;
    let owner = app.create_account("acme").await;
    for email in ["nobody@acme.example", &owner.email] {
        for _ in 0..5 {
            try_login(&app, "acme", email, "wrong password")
                .await
                .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        }
        let answer = try_login(&app, "acme", email, "wrong password").await;
        assert_eq!(expect_throttled(&answer), 15 * 60, "{email}");
    }
}

#[tokio::test]
async fn a_successful_login_clears_earlier_failures() {
    let app = manual_app().await;
    let owner = app.create_account("acme").await;
    for _ in 0..4 {
        try_login(&app, "acme", &owner.email, "wrong password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    try_login(&app, "acme", &owner.email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    for _ in 0..4 {
        try_login(&app, "acme", &owner.email, "wrong password")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    try_login(&app, "acme", &owner.email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn an_address_gets_thirty_login_attempts_a_minute_across_emails_and_accounts() {
    let app = manual_app().await;
    let owner = app.create_account("acme").await;
    app.create_account("globex").await;
    // create_account logged in twice already.
    for n in 0..28 {
        let slug = if n % 2 == 0 { "acme" } else { "globex" };
        try_login(
            &app,
            slug,
            &format!("guess{n}@{slug}.example"),
            "wrong password",
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let answer = try_login(&app, "acme", &owner.email, PASSWORD).await;
    let wait = expect_throttled(&answer);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    app.advance(SignedDuration::from_secs(60));
    try_login(&app, "acme", &owner.email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
}

async fn login_from(app: &TestApp, forwarded_for: &str, n: usize) -> StatusCode {
    app.client
        .post(app.url("/api/v1/accounts/acme/sessions"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": format!("guess{n}@acme.example"), "password": "wrong password"}))
        .send()
        .await
        .expect("login request")
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited() {
    let app = spawn_app_with(TestConfig {
        manual_clock: Some(START.parse::<Timestamp>().expect("instant")),
        trusted_proxies: Some("127.0.0.1/32"),
        ..TestConfig::default()
    })
    .await;
    app.create_account("acme").await;
    for n in 0..30 {
        assert_eq!(
            login_from(&app, "203.0.113.5", n).await,
            StatusCode::UNAUTHORIZED,
            "{n}"
        );
    }
    assert_eq!(
        login_from(&app, "203.0.113.5", 30).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client cannot escape by writing its own entry left of the proxy's.
    assert_eq!(
        login_from(&app, "198.51.100.1, 203.0.113.5", 31).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another visitor behind the same proxy is not affected.
    assert_eq!(
        login_from(&app, "203.0.113.6", 32).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = manual_app().await;
    app.create_account("acme").await;
    // create_account logged in once from 127.0.0.1.
    for n in 0..29 {
        let forged = format!("203.0.113.{n}");
        assert_eq!(
            login_from(&app, &forged, n).await,
            StatusCode::UNAUTHORIZED,
            "{n}"
        );
    }
    assert_eq!(
        login_from(&app, "192.0.2.200", 99).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
