//! `onair serve --demo`: the `demo` account, seeded through the public API
//! itself so it is exactly what a person could have created by hand.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::error::Error;
use crate::http::{NewAccount, NewOwner, create_account};
use crate::{AppState, router};

pub const ACCOUNT: &str = "demo";
pub const PASSWORD: &str = "onair-demo";

/// A demo login: (name, email, groups).
pub const AGENTS: [(&str, &str, &[&str]); 3] = [
    ("Alice Admin", "alice@demo.onair", &[]),
    ("Bob Sales", "bob@demo.onair", &["sales"]),
    ("Carol Support", "carol@demo.onair", &["support"]),
];

/// Creates the demo account unless it exists. Returns whether it was created.
pub async fn seed(state: &AppState) -> anyhow::Result<bool> {
    if state.hub.account(ACCOUNT).await.is_ok() {
        return Ok(false);
    }
    let (owner_name, owner_email, _) = AGENTS[0];
    let new = NewAccount {
        slug: ACCOUNT.to_owned(),
        name: "Acme Tea (demo)".to_owned(),
        timezone: "Europe/Prague".to_owned(),
        owner: NewOwner {
            name: owner_name.to_owned(),
            email: owner_email.to_owned(),
            password: PASSWORD.to_owned(),
        },
    };
    create_account(&state.hub, new).await.map_err(describe)?;

    let app = router(state.clone());
    let login = call(
        &app,
        Method::POST,
        "/api/v1/accounts/demo/sessions",
        None,
        json!({
            "email": owner_email, "password": PASSWORD, "device": "demo seeding"
        }),
    )
    .await?;
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    for (key, name) in [("sales", "Sales"), ("support", "Support")] {
        call(
            &app,
            Method::POST,
            "/api/v1/accounts/demo/groups",
            Some(&token),
            json!({"key": key, "name": name}),
        )
        .await?;
    }
    for (name, email, groups) in &AGENTS[1..] {
        call(
            &app,
            Method::POST,
            "/api/v1/accounts/demo/agents",
            Some(&token),
            json!({
                "name": name, "email": email, "password": PASSWORD, "groups": groups
            }),
        )
        .await?;
    }
    call(
        &app,
        Method::DELETE,
        "/api/v1/sessions/current",
        Some(&token),
        Value::Null,
    )
    .await?;
    Ok(true)
}

fn describe(e: Error) -> anyhow::Error {
    anyhow::anyhow!("seeding the demo account failed: {e}")
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let response = app.clone().oneshot(request.body(body)?).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        anyhow::bail!(
            "seeding the demo account: {uri} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    if status == StatusCode::NO_CONTENT || bytes.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&bytes)?)
}
