//! Accounts, sessions and the agent's own status (the event stream aside) and
//! administration, with the error and auth rules of docs/api.md: every
//! route, every error code, tenant isolation.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// `/api/v1/accounts/{slug}{rest}`.
fn acct(slug: &str, rest: &str) -> String {
    format!("/api/v1/accounts/{slug}{rest}")
}

/// A valid `POST /accounts` body.
fn new_account(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": format!("{slug} Inc"),
        "timezone": "Europe/Prague",
        "owner": {"name": "Owner", "email": format!("owner@{slug}.example"), "password": PASSWORD},
    })
}

/// The office hours example of docs/api.md
fn contract_hours() -> Value {
    json!({
        "enabled": true,
        "timezone": "Europe/Prague",
        "weekly": {
            "mon": [{"from": "09:00", "to": "12:00"}, {"from": "13:00", "to": "17:00"}],
            "sat": [{"from": "22:00", "to": "06:00"}]
        },
        "exceptions": [{"date": "2026-12-24", "hours": []}]
    })
}

/// Asserts a contract error (status, code) and its shape: exactly
/// `{"error": {"code", "message"}}`, sent as `application/json`.
#[track_caller]
fn check_error(answer: &Answer, status: StatusCode, code: &str) {
    answer.expect_error(status, code);
    check_error_shape(answer);
}

#[track_caller]
fn check_error_shape(answer: &Answer) {
    let content_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "an error is JSON, got content type {content_type:?}: {}",
        answer.body
    );
    let outer = answer.body.as_object().expect("an error body is an object");
    assert_eq!(
        outer.keys().collect::<Vec<_>>(),
        ["error"],
        "only `error` at the top: {}",
        answer.body
    );
    let inner = answer.body["error"]
        .as_object()
        .expect("`error` is an object");
    let mut keys: Vec<_> = inner.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message"], "error fields: {}", answer.body);
    let code = answer.code();
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "the code is snake_case: {code:?}"
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "the message is a sentence: {}",
        answer.body
    );
}

/// Creates an agent through the admin API and answers its view (not logged in).
async fn create_agent(app: &TestApp, slug: &str, admin: &Agent, body: Value) -> Value {
    app.post(&acct(slug, "/agents"), Some(&admin.token), body)
        .await
        .expect(StatusCode::CREATED)
}

/// Logs in with an explicit password; the raw answer.
async fn login_with(app: &TestApp, slug: &str, email: &str, password: &str) -> Answer {
    app.post(
        &acct(slug, "/sessions"),
        None,
        json!({"email": email, "password": password, "device": "test"}),
    )
    .await
}

/// Everything an admin can read of an account, to compare before and after.
async fn everything(app: &TestApp, slug: &str, admin: &Agent) -> Value {
    let token = Some(admin.token.as_str());
    let account = app.get(&acct(slug, ""), token).await.expect(StatusCode::OK);
    let agents = app
        .get(&acct(slug, "/agents"), token)
        .await
        .expect(StatusCode::OK);
    let groups = app
        .get(&acct(slug, "/groups"), token)
        .await
        .expect(StatusCode::OK);
    let hours = app
        .get(&acct(slug, "/office-hours"), token)
        .await
        .expect(StatusCode::OK);
    let mut group_hours = serde_json::Map::new();
    for group in groups["groups"].as_array().expect("groups") {
        let key = group["key"].as_str().expect("key");
        let answer = app
            .get(&acct(slug, &format!("/groups/{key}/office-hours")), token)
            .await;
        group_hours.insert(key.to_owned(), json!([answer.status.as_u16(), answer.body]));
    }
    json!({
        "account": account,
        "agents": agents,
        "groups": groups,
        "office_hours": hours,
        "group_office_hours": group_hours,
    })
}

/// Every admin route with a valid body: what a caller without the
/// right to would try. `agent_id` and `group` name existing things.
fn admin_requests(slug: &str, agent_id: &str, group: &str) -> Vec<(Method, String, Value)> {
    let agent = format!("/agents/{agent_id}");
    let group_path = format!("/groups/{group}");
    let group_hours = format!("/groups/{group}/office-hours");
    vec![
        (Method::GET, acct(slug, ""), Value::Null),
        (Method::PATCH, acct(slug, ""), json!({"name": "Taken over"})),
        (Method::GET, acct(slug, "/agents"), Value::Null),
        (
            Method::POST,
            acct(slug, "/agents"),
            json!({"name": "Intruder", "email": "intruder@evil.example", "password": PASSWORD,
                   "role": "admin"}),
        ),
        (Method::GET, acct(slug, &agent), Value::Null),
        (
            Method::PATCH,
            acct(slug, &agent),
            json!({"name": "Renamed", "status": "offline", "password": "hijacked password"}),
        ),
        (Method::DELETE, acct(slug, &agent), Value::Null),
        (
            Method::POST,
            acct(slug, "/groups"),
            json!({"key": "intruders", "name": "Intruders"}),
        ),
        (
            Method::PATCH,
            acct(slug, &group_path),
            json!({"name": "Renamed"}),
        ),
        (Method::DELETE, acct(slug, &group_path), Value::Null),
        (Method::GET, acct(slug, "/office-hours"), Value::Null),
        (Method::PUT, acct(slug, "/office-hours"), contract_hours()),
        (Method::GET, acct(slug, &group_hours), Value::Null),
        (Method::PUT, acct(slug, &group_hours), contract_hours()),
        (Method::DELETE, acct(slug, &group_hours), Value::Null),
    ]
}

/// What every agent of an account may read, admin or not: its groups' names.
fn member_reads(slug: &str, group: &str) -> Vec<(Method, String, Value)> {
    vec![
        (Method::GET, acct(slug, "/groups"), Value::Null),
        (
            Method::GET,
            acct(slug, &format!("/groups/{group}")),
            Value::Null,
        ),
    ]
}

/// An account `slug` with a group `sales` that has its own office hours and an
/// agent (role `agent`) in it; answers (owner, agent).
async fn furnished_account(app: &TestApp, slug: &str) -> (Agent, Agent) {
    let owner = app.create_account(slug).await;
    app.add_group(slug, &owner, "sales").await;
    app.put(
        &acct(slug, "/groups/sales/office-hours"),
        Some(&owner.token),
        contract_hours(),
    )
    .await
    .expect(StatusCode::OK);
    let agent = app.add_agent(slug, &owner, "Ann", &["sales"]).await;
    (owner, agent)
}

// ---------------------------------------------------------------------------
// Accounts (operator)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn creating_an_account_answers_201_with_the_account_and_an_admin_owner() {
    let app = spawn_app().await;
    let body = app
        .post(
            "/api/v1/accounts",
            Some(OPERATOR_TOKEN),
            new_account("acme"),
        )
        .await
        .expect(StatusCode::CREATED);

    let account = &body["account"];
    assert!(account["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(account["slug"], "acme");
    assert_eq!(account["name"], "acme Inc");
    assert_eq!(account["timezone"], "Europe/Prague");
    assert_eq!(account["grace_seconds"], 120, "the default grace is 120 s");
    assert_eq!(account["busy_after_seconds"], 45, "the default is 45 s");
    assert_eq!(account["allowed_origins"], json!([]));
    assert_eq!(account["hide_when_offline"], false);

    let owner = &body["owner"];
    assert!(owner["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(owner["name"], "Owner");
    assert_eq!(owner["email"], "owner@acme.example");
    assert_eq!(owner["role"], "admin");
    assert_eq!(owner["status"], "offline");
    assert_eq!(owner["available"], false);
    assert_eq!(owner["groups"], json!([]));
    assert!(
        owner.get("password").is_none() && owner.get("password_hash").is_none(),
        "no password in the agent view: {owner}"
    );

    // The owner can log in and administer the account.
    let logged_in = app.login("acme", "owner@acme.example", "laptop").await;
    assert_eq!(logged_in.id, owner["id"].as_str().unwrap());
    let shown = app
        .get(&acct("acme", ""), Some(&logged_in.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(&shown, account);
}

#[tokio::test]
async fn account_creation_answers_404_when_the_server_has_no_operator_token() {
    let app = spawn_app_with(TestConfig {
        no_operator: true,
        ..Default::default()
    })
    .await;
    for token in [Some(OPERATOR_TOKEN), Some("anything"), None] {
        let answer = app
            .post("/api/v1/accounts", token, new_account("acme"))
            .await;
        check_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    // However the body looks: the route does not exist.
    let answer = app
        .raw(Method::POST, "/api/v1/accounts", None, "not json")
        .await;
    check_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = app.post("/api/v1/accounts", None, json!({})).await;
    check_error(&answer, StatusCode::NOT_FOUND, "not_found");

    let answer = app.get(&status_path("acme", None), None).await;
    check_error(&answer, StatusCode::NOT_FOUND, "unknown_account");
}

#[tokio::test]
async fn account_creation_needs_the_operator_token() {
    let app = spawn_app().await;
    let wrong = format!("{OPERATOR_TOKEN}x");
    for token in [None, Some("wrong"), Some(wrong.as_str()), Some("")] {
        let answer = app
            .post("/api/v1/accounts", token, new_account("acme"))
            .await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_operator_token");
    }
    // The token in another scheme is not a bearer token.
    let answer = app
        .client
        .post(app.url("/api/v1/accounts"))
        .basic_auth("operator", Some(OPERATOR_TOKEN))
        .json(&new_account("acme"))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    // Credentials come before the body: a stranger learns nothing from validation.
    let answer = app
        .raw(Method::POST, "/api/v1/accounts", Some("wrong"), "{")
        .await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_operator_token");

    let answer = app.get(&status_path("acme", None), None).await;
    check_error(&answer, StatusCode::NOT_FOUND, "unknown_account");
    // And an agent token is no operator token.
    let owner = app.create_account("first").await;
    let answer = app
        .post(
            "/api/v1/accounts",
            Some(&owner.token),
            new_account("second"),
        )
        .await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_operator_token");
}

#[tokio::test]
async fn a_taken_slug_answers_409_slug_taken_and_leaves_the_account_alone() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let before = everything(&app, "acme", &owner).await;

    let mut again = new_account("acme");
    again["name"] = json!("Impostor");
    again["owner"]["email"] = json!("impostor@evil.example");
    let answer = app
        .post("/api/v1/accounts", Some(OPERATOR_TOKEN), again)
        .await;
    check_error(&answer, StatusCode::CONFLICT, "slug_taken");

    assert_eq!(everything(&app, "acme", &owner).await, before);
    let answer = login_with(&app, "acme", "impostor@evil.example", PASSWORD).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn account_creation_rejects_each_invalid_field_with_its_code() {
    let app = spawn_app().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = new_account("acme");
        edit(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["slug"] = json!("Acme")), "invalid_slug"),
        (with(&|b| b["slug"] = json!("")), "invalid_slug"),
        (with(&|b| b["slug"] = json!("a b")), "invalid_slug"),
        (with(&|b| b["slug"] = json!("a".repeat(65))), "invalid_slug"),
        (with(&|b| b["slug"] = json!(42)), "invalid_slug"),
        (
            with(&|b| b["timezone"] = json!("Mars/Olympus")),
            "invalid_timezone",
        ),
        (with(&|b| b["timezone"] = json!("")), "invalid_timezone"),
        (
            with(&|b| b["owner"]["email"] = json!("nobody")),
            "invalid_email",
        ),
        (
            with(&|b| b["owner"]["email"] = json!("a@localhost")),
            "invalid_email",
        ),
        (
            with(&|b| b["owner"]["password"] = json!("short")),
            "invalid_password",
        ),
        (
            with(&|b| b["owner"]["password"] = json!("")),
            "invalid_password",
        ),
        (with(&|b| b["name"] = json!("")), "invalid_name"),
        (with(&|b| b["name"] = json!("   ")), "invalid_name"),
        (
            with(&|b| b["name"] = json!("x".repeat(201))),
            "invalid_name",
        ),
        (
            with(&|b| b["owner"]["name"] = json!("")),
            "invalid_owner_name",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("timezone"))),
            "missing_field",
        ),
        (
            with(&|b| drop(b["owner"].as_object_mut().unwrap().remove("password"))),
            "missing_field",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("owner"))),
            "missing_field",
        ),
        (with(&|b| b["plan"] = json!("gold")), "unknown_field"),
        (
            with(&|b| b["owner"]["role"] = json!("agent")),
            "unknown_field",
        ),
    ];
    for (body, code) in cases {
        let answer = app
            .post("/api/v1/accounts", Some(OPERATOR_TOKEN), body.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        check_error_shape(&answer);
    }
    for raw in ["", "{", "not json", r#"{"slug": "acme"} trailing"#] {
        let answer = app
            .raw(Method::POST, "/api/v1/accounts", Some(OPERATOR_TOKEN), raw)
            .await;
        check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    }
    // Nothing of it was created.
    let answer = app.get(&status_path("acme", None), None).await;
    check_error(&answer, StatusCode::NOT_FOUND, "unknown_account");
    // The valid body still works afterwards.
    app.post(
        "/api/v1/accounts",
        Some(OPERATOR_TOKEN),
        new_account("acme"),
    )
    .await
    .expect(StatusCode::CREATED);
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn logging_in_answers_201_with_a_256_bit_token_the_session_and_the_agent() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let body = app
        .post(
            &acct("acme", "/sessions"),
            None,
            json!({"email": "owner@acme.example", "password": PASSWORD, "device": "Ann's phone"}),
        )
        .await
        .expect(StatusCode::CREATED);

    let token = body["token"].as_str().expect("token");
    assert!(
        token.len() >= 43,
        "43 base64url characters carry 256 bits: {token:?}"
    );
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "the token is base64url: {token:?}"
    );
    assert!(
        body["session"]["id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(body["session"]["device"], "Ann's phone");
    let agent = &body["agent"];
    assert_eq!(agent["email"], "owner@acme.example");
    assert_eq!(agent["role"], "admin");
    for field in [
        "id",
        "name",
        "email",
        "role",
        "groups",
        "status",
        "available",
    ] {
        assert!(agent.get(field).is_some(), "agent lacks {field}: {agent}");
    }

    // Each login is its own session with its own token.
    let second = app.login("acme", "owner@acme.example", "desk").await;
    assert_ne!(second.token, token);
    assert_ne!(second.session_id, body["session"]["id"].as_str().unwrap());
    app.get("/api/v1/me", Some(token))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let wrong_password = login_with(&app, "acme", "owner@acme.example", "not the password").await;
    let unknown_email = login_with(&app, "acme", "nobody@acme.example", PASSWORD).await;
    check_error(
        &wrong_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    check_error(
        &unknown_email,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(
        wrong_password.body, unknown_email.body,
        "the answers must not tell which was wrong"
    );
    assert!(wrong_password.body.get("token").is_none());
}

#[tokio::test]
async fn logging_in_to_an_unknown_account_answers_404_unknown_account() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    for slug in ["nosuch", "ACME", "a_b"] {
        let answer = login_with(&app, slug, "owner@acme.example", PASSWORD).await;
        check_error(&answer, StatusCode::NOT_FOUND, "unknown_account");
    }
}

#[tokio::test]
async fn one_account_s_credentials_do_not_open_another_account() {
    let app = spawn_app().await;
    app.create_account("alpha").await;
    app.create_account("beta").await;
    let answer = login_with(&app, "beta", "owner@alpha.example", PASSWORD).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Each owner still logs in to its own.
    let alpha = app.login("alpha", "owner@alpha.example", "x").await;
    let me = app
        .get("/api/v1/me", Some(&alpha.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["email"], "owner@alpha.example");
}

#[tokio::test]
async fn emails_are_case_insensitive() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let upper = login_with(&app, "acme", "  OWNER@Acme.EXAMPLE ", PASSWORD).await;
    let body = upper.expect(StatusCode::CREATED);
    assert_eq!(body["agent"]["id"], owner.id.as_str());

    // Stored lower-cased, and unique whatever the case.
    let ann = create_agent(
        &app,
        "acme",
        &owner,
        json!({"name": "Ann", "email": "Ann@Acme.Example", "password": PASSWORD}),
    )
    .await;
    assert_eq!(ann["email"], "ann@acme.example");
    let answer = app
        .post(
            &acct("acme", "/agents"),
            Some(&owner.token),
            json!({"name": "Ann 2", "email": "ANN@acme.example", "password": PASSWORD}),
        )
        .await;
    check_error(&answer, StatusCode::CONFLICT, "email_taken");
    app.login("acme", "ann@ACME.example", "phone").await;
}

#[tokio::test]
async fn logging_out_ends_that_device_only() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let laptop = app.login("acme", "owner@acme.example", "laptop").await;
    let phone = app.login("acme", "owner@acme.example", "phone").await;

    let answer = app
        .delete("/api/v1/sessions/current", Some(&laptop.token))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_null(), "204 has no body: {}", answer.body);

    let answer = app.get("/api/v1/me", Some(&laptop.token)).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
    let answer = app
        .delete("/api/v1/sessions/current", Some(&laptop.token))
        .await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");

    let me = app
        .get("/api/v1/me", Some(&phone.token))
        .await
        .expect(StatusCode::OK);
    let sessions: Vec<&str> = me["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(sessions.contains(&phone.session_id.as_str()), "{me}");
    assert!(
        !sessions.contains(&laptop.session_id.as_str()),
        "the ended session is gone: {me}"
    );
}

#[tokio::test]
async fn requests_without_a_token_answer_401_missing_credentials() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let routes = [
        (Method::GET, "/api/v1/me".to_owned(), Value::Null),
        (
            Method::PUT,
            "/api/v1/me/status".to_owned(),
            json!({"status": "online"}),
        ),
        (Method::POST, "/api/v1/me/heartbeat".to_owned(), Value::Null),
        (
            Method::DELETE,
            "/api/v1/sessions/current".to_owned(),
            Value::Null,
        ),
        (Method::GET, acct("acme", ""), Value::Null),
        (Method::GET, acct("acme", "/agents"), Value::Null),
        (Method::GET, acct("acme", "/groups"), Value::Null),
        (Method::GET, acct("acme", "/office-hours"), Value::Null),
    ];
    for (method, path, body) in routes {
        let answer = app.request(method.clone(), &path, None, body.clone()).await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "missing_credentials");
        let answer = app
            .request(method.clone(), &path, Some(""), body.clone())
            .await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "missing_credentials");
        let answer = app
            .request(method, &path, Some("garbage-token"), body)
            .await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
    }
    // Another scheme is not a bearer token.
    let answer = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth("owner@acme.example", Some(PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_operator_token_is_not_an_agent_token() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let answer = app.get("/api/v1/me", Some(OPERATOR_TOKEN)).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
    let answer = app.get(&acct("acme", ""), Some(OPERATOR_TOKEN)).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn login_bodies_are_validated() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let path = acct("acme", "/sessions");
    let cases = [
        (json!({"email": "owner@acme.example"}), "missing_field"),
        (json!({"password": PASSWORD}), "missing_field"),
        (
            json!({"email": "owner@acme.example", "password": PASSWORD, "remember": true}),
            "unknown_field",
        ),
        (
            json!({"email": "owner@acme.example", "password": PASSWORD, "device": ""}),
            "invalid_device",
        ),
        (json!({"email": 7, "password": PASSWORD}), "invalid_email"),
    ];
    for (body, code) in cases {
        let answer = app.post(&path, None, body).await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let answer = app
        .raw(Method::POST, &path, None, "email=a&password=b")
        .await;
    check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    // The device is optional.
    let body = app
        .post(
            &path,
            None,
            json!({"email": "owner@acme.example", "password": PASSWORD}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(
        body["session"]["device"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

// ---------------------------------------------------------------------------
// The agent's own view and status
// ---------------------------------------------------------------------------

#[tokio::test]
async fn me_shows_the_agent_with_each_session_s_device_and_presence() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let phone = app
        .login("acme", "owner@acme.example", "Owner's phone")
        .await;
    let me = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["id"], owner.id.as_str());
    assert_eq!(me["email"], "owner@acme.example");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["status"], "offline");
    assert_eq!(me["groups"], json!([]));
    assert_eq!(me["available"], false);
    let mut sessions: Vec<(String, String, bool)> = me["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                s["device"].as_str().expect("device").to_owned(),
                s["present"].as_bool().expect("present"),
            )
        })
        .collect();
    sessions.sort();
    let mut expected = vec![
        (owner.session_id.clone(), "owner device".to_owned(), true),
        (phone.session_id.clone(), "Owner's phone".to_owned(), true),
    ];
    expected.sort();
    assert_eq!(sessions, expected);
}

#[tokio::test]
async fn putting_my_status_answers_the_agent_and_every_device_sees_it() {
    let app = spawn_app().await;
    let laptop = app.create_account("acme").await;
    let phone = app.login("acme", "owner@acme.example", "phone").await;

    let agent = app.set_status(&laptop, "online").await;
    assert_eq!(agent["id"], laptop.id.as_str());
    assert_eq!(agent["status"], "online");
    assert_eq!(agent["available"], true, "online with a present session");
    let me = app
        .get("/api/v1/me", Some(&phone.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["status"], "online");

    let agent = app.set_status(&phone, "busy").await;
    assert_eq!(agent["status"], "busy");
    assert_eq!(agent["available"], true);
    let agent = app.set_status(&phone, "offline").await;
    assert_eq!(agent["status"], "offline");
    assert_eq!(agent["available"], false);
    let me = app
        .get("/api/v1/me", Some(&laptop.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["status"], "offline");
}

#[tokio::test]
async fn an_invalid_status_answers_400_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.set_status(&owner, "busy").await;
    let cases = [
        (json!({"status": "away"}), "invalid_status"),
        (json!({"status": "Online"}), "invalid_status"),
        (json!({"status": 1}), "invalid_status"),
        (json!({"status": null}), "invalid_status"),
        (json!({}), "missing_field"),
        (
            json!({"status": "online", "until": "never"}),
            "unknown_field",
        ),
    ];
    for (body, code) in cases {
        let answer = app.put("/api/v1/me/status", Some(&owner.token), body).await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let answer = app
        .raw(
            Method::PUT,
            "/api/v1/me/status",
            Some(&owner.token),
            "online",
        )
        .await;
    check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    let me = app
        .get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["status"], "busy");
}

#[tokio::test]
async fn a_heartbeat_answers_204_and_keeps_its_session_present() {
    let start: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    let app = spawn_app_with(TestConfig {
        manual_clock: Some(start),
        ..Default::default()
    })
    .await;
    let phone = app.create_account("acme").await;
    let desk = app.login("acme", "owner@acme.example", "desk").await;
    let phone_present = |me: &Value| {
        me["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|s| s["id"] == phone.session_id.as_str())
            .map(|s| s["present"].as_bool().expect("present"))
            .expect("the phone's session is listed")
    };

    app.advance(jiff::SignedDuration::from_secs(100));
    let answer = app
        .post("/api/v1/me/heartbeat", Some(&phone.token), Value::Null)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert!(answer.body.is_null(), "204 has no body: {}", answer.body);

    // 200 s after login but 100 s after the heartbeat: within the 120 s grace.
    app.advance(jiff::SignedDuration::from_secs(100));
    let me = app
        .get("/api/v1/me", Some(&desk.token))
        .await
        .expect(StatusCode::OK);
    assert!(phone_present(&me), "the heartbeat counts: {me}");

    // Silent for longer than the grace: no longer present.
    app.advance(jiff::SignedDuration::from_secs(30));
    let me = app
        .get("/api/v1/me", Some(&desk.token))
        .await
        .expect(StatusCode::OK);
    assert!(!phone_present(&me), "grace is over: {me}");
}

// ---------------------------------------------------------------------------
// The account's settings
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_reads_and_patches_each_account_setting() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let mut expected = app
        .get(&acct("acme", ""), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(expected["slug"], "acme");

    let changes = [
        ("name", json!("Acme Corporation")),
        ("timezone", json!("America/New_York")),
        ("grace_seconds", json!(0)),
        ("grace_seconds", json!(3600)),
        ("busy_message", json!("All hands busy")),
        ("offline_message", json!("Back Monday")),
        ("busy_message", json!("")),
        ("hide_when_offline", json!(true)),
        ("busy_after_seconds", json!(90)),
        ("busy_after_seconds", json!(0)),
        (
            "allowed_origins",
            json!(["https://www.acme.example", "http://localhost:3000"]),
        ),
        ("allowed_origins", json!([])),
        ("allowed_origins", json!(["https://acme.example"])),
    ];
    for (field, value) in changes {
        let patched = app
            .patch_account("acme", &owner, json!({ field: value.clone() }))
            .await;
        expected[field] = value;
        assert_eq!(patched, expected, "after patching {field}");
        let shown = app
            .get(&acct("acme", ""), Some(&owner.token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(shown, expected, "GET after patching {field}");
    }
    // An empty patch changes nothing.
    assert_eq!(app.patch_account("acme", &owner, json!({})).await, expected);

    // Stored, not only held in memory.
    let app = app.restart(TestConfig::default()).await;
    let owner = app
        .login("acme", "owner@acme.example", "after restart")
        .await;
    let shown = app
        .get(&acct("acme", ""), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, expected);
}

#[tokio::test]
async fn invalid_account_settings_answer_400_and_change_nothing() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let before = app
        .get(&acct("acme", ""), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let cases = [
        (json!({"grace_seconds": 3601}), "invalid_grace_seconds"),
        (json!({"grace_seconds": -1}), "invalid_grace_seconds"),
        (json!({"grace_seconds": "120"}), "invalid_grace_seconds"),
        (json!({"timezone": "Europe/Atlantis"}), "invalid_timezone"),
        (json!({"name": ""}), "invalid_name"),
        (
            json!({"busy_message": "x".repeat(1001)}),
            "invalid_busy_message",
        ),
        (
            json!({"offline_message": "x".repeat(1001)}),
            "invalid_offline_message",
        ),
        (
            json!({"hide_when_offline": "yes"}),
            "invalid_hide_when_offline",
        ),
        (
            json!({"busy_after_seconds": 86_401}),
            "invalid_busy_after_seconds",
        ),
        (
            json!({"allowed_origins": ["acme.example"]}),
            "invalid_allowed_origins",
        ),
        (
            json!({"allowed_origins": ["https://acme.example/path"]}),
            "invalid_allowed_origins",
        ),
        (
            json!({"allowed_origins": ["ftp://acme.example"]}),
            "invalid_allowed_origins",
        ),
        (json!({"allowed_origins": [""]}), "invalid_allowed_origins"),
        (
            json!({"allowed_origins": ["https://"]}),
            "invalid_allowed_origins",
        ),
        (
            json!({"allowed_origins": "https://acme.example"}),
            "invalid_allowed_origins",
        ),
        (json!({"allowed_origins": [1]}), "invalid_allowed_origins"),
        (json!({"slug": "renamed"}), "unknown_field"),
        (json!({"id": "x"}), "unknown_field"),
        // One bad field spoils the whole patch.
        (
            json!({"name": "Half applied", "grace_seconds": 5000}),
            "invalid_grace_seconds",
        ),
    ];
    for (body, code) in cases {
        let answer = app.patch(&acct("acme", ""), Some(&owner.token), body).await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let answer = app
        .raw(
            Method::PATCH,
            &acct("acme", ""),
            Some(&owner.token),
            "{name: 1}",
        )
        .await;
    check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    let after = app
        .get(&acct("acme", ""), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_non_admin_agent_gets_403_admin_required_on_every_admin_route() {
    let app = spawn_app().await;
    let (owner, agent) = furnished_account(&app, "acme").await;
    let before = everything(&app, "acme", &owner).await;
    for (method, path, body) in admin_requests("acme", &owner.id, "sales") {
        let answer = app
            .request(method.clone(), &path, Some(&agent.token), body)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            answer.body
        );
        check_error(&answer, StatusCode::FORBIDDEN, "admin_required");
        // Permission is decided before the body is read: an invalid body
        // from a non-admin learns nothing about validation.
        if method != Method::GET && method != Method::DELETE {
            let answer = app
                .request(
                    method.clone(),
                    &path,
                    Some(&agent.token),
                    json!({"bogus": 1}),
                )
                .await;
            check_error(&answer, StatusCode::FORBIDDEN, "admin_required");
        }
    }
    assert_eq!(everything(&app, "acme", &owner).await, before);
    // The agent's own routes still work for it.
    app.get("/api/v1/me", Some(&agent.token))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn every_agent_reads_its_accounts_group_names_but_only_admins_change_them() {
    let app = spawn_app().await;
    let (owner, agent) = furnished_account(&app, "acme").await;
    app.add_group("acme", &owner, "support").await;
    let listed = app
        .get(&acct("acme", "/groups"), Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    let keys: Vec<&str> = listed["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["sales", "support"], "{}", listed);
    assert!(listed["groups"][0]["name"].is_string());
    let one = app
        .get(&acct("acme", "/groups/support"), Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(one["key"], "support");
    app.get(&acct("acme", "/groups/nope"), Some(&agent.token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_group");
    app.get(&acct("acme", "/groups"), None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    for (method, path, body) in [
        (
            Method::POST,
            acct("acme", "/groups"),
            json!({"key": "x", "name": "X"}),
        ),
        (
            Method::PATCH,
            acct("acme", "/groups/sales"),
            json!({"name": "Mine"}),
        ),
        (Method::DELETE, acct("acme", "/groups/sales"), Value::Null),
    ] {
        let answer = app.request(method, &path, Some(&agent.token), body).await;
        check_error(&answer, StatusCode::FORBIDDEN, "admin_required");
    }
}

#[tokio::test]
async fn admin_routes_of_an_unknown_account_answer_404_unknown_account() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let requests = admin_requests("nosuch", &owner.id, "sales");
    for (method, path, body) in requests.into_iter().chain(member_reads("nosuch", "sales")) {
        let answer = app
            .request(method.clone(), &path, Some(&owner.token), body)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            answer.body
        );
        check_error(&answer, StatusCode::NOT_FOUND, "unknown_account");
    }
}

// ---------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_creates_lists_reads_updates_and_deletes_agents() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    app.add_group("acme", &owner, "support").await;

    let created = create_agent(
        &app,
        "acme",
        &owner,
        json!({"name": "Bob", "email": "bob@acme.example", "password": PASSWORD,
               "role": "agent", "groups": ["support", "sales"], "status": "busy"}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["name"], "Bob");
    assert_eq!(created["email"], "bob@acme.example");
    assert_eq!(created["role"], "agent");
    let mut groups: Vec<&str> = created["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["sales", "support"]);
    assert_eq!(created["status"], "busy");
    assert_eq!(created["available"], false, "no session yet");

    // Defaults: role agent, no groups, offline.
    let plain = create_agent(
        &app,
        "acme",
        &owner,
        json!({"name": "Cleo", "email": "cleo@acme.example", "password": PASSWORD}),
    )
    .await;
    assert_eq!(plain["role"], "agent");
    assert_eq!(plain["groups"], json!([]));
    assert_eq!(plain["status"], "offline");

    let list = app
        .get(&acct("acme", "/agents"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let ids: Vec<&str> = list["agents"]
        .as_array()
        .expect("wrapped in {\"agents\": […]}")
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    for expected in [
        owner.id.as_str(),
        id.as_str(),
        plain["id"].as_str().unwrap(),
    ] {
        assert!(ids.contains(&expected), "{list}");
    }
    let agent_path = acct("acme", &format!("/agents/{id}"));
    let shown = app
        .get(&agent_path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, created);

    let patched = app
        .patch(
            &agent_path,
            Some(&owner.token),
            json!({"name": "Robert", "groups": ["sales"], "role": "admin", "status": "online"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["name"], "Robert");
    assert_eq!(patched["groups"], json!(["sales"]));
    assert_eq!(patched["role"], "admin");
    assert_eq!(patched["status"], "online");
    assert_eq!(patched["email"], "bob@acme.example");
    let shown = app
        .get(&agent_path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, patched);
    // A partial patch leaves the rest.
    let patched = app
        .patch(&agent_path, Some(&owner.token), json!({"groups": []}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["groups"], json!([]));
    assert_eq!(patched["name"], "Robert");
    assert_eq!(patched["role"], "admin");

    let answer = app.delete(&agent_path, Some(&owner.token)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let answer = app.get(&agent_path, Some(&owner.token)).await;
    check_error(&answer, StatusCode::NOT_FOUND, "unknown_agent");
    let list = app
        .get(&acct("acme", "/agents"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["agents"].as_array().unwrap().len(), 2);

    // All of it was stored.
    let app = app.restart(TestConfig::default()).await;
    let owner = app
        .login("acme", "owner@acme.example", "after restart")
        .await;
    let list = app
        .get(&acct("acme", "/agents"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let ids: Vec<&str> = list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&id.as_str()));
}

#[tokio::test]
async fn a_taken_email_answers_409_email_taken() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    create_agent(
        &app,
        "acme",
        &owner,
        json!({"name": "Ann", "email": "ann@acme.example", "password": PASSWORD}),
    )
    .await;
    for email in ["ann@acme.example", "owner@acme.example"] {
        let answer = app
            .post(
                &acct("acme", "/agents"),
                Some(&owner.token),
                json!({"name": "Copy", "email": email, "password": PASSWORD}),
            )
            .await;
        check_error(&answer, StatusCode::CONFLICT, "email_taken");
    }
    let list = app
        .get(&acct("acme", "/agents"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["agents"].as_array().unwrap().len(), 2);
    // Another account may have an agent with the same email.
    let other = app.create_account("other").await;
    create_agent(
        &app,
        "other",
        &other,
        json!({"name": "Ann", "email": "ann@acme.example", "password": PASSWORD}),
    )
    .await;
}

#[tokio::test]
async fn agent_fields_are_validated_with_a_code_that_names_them() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    let valid = || json!({"name": "Dan", "email": "dan@acme.example", "password": PASSWORD});
    let with = |field: &str, value: Value| {
        let mut body = valid();
        body[field] = value;
        body
    };
    let cases = [
        (with("groups", json!(["sales", "nosuch"])), "unknown_group"),
        (with("groups", json!("sales")), "invalid_groups"),
        (with("email", json!("dan")), "invalid_email"),
        (with("password", json!("1234567")), "invalid_password"),
        (with("name", json!("")), "invalid_name"),
        (with("role", json!("owner")), "invalid_role"),
        (with("status", json!("away")), "invalid_status"),
        (with("id", json!("chosen")), "unknown_field"),
        (
            json!({"name": "Dan", "email": "dan@acme.example"}),
            "missing_field",
        ),
    ];
    for (body, code) in cases {
        let answer = app
            .post(&acct("acme", "/agents"), Some(&owner.token), body)
            .await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let list = app
        .get(&acct("acme", "/agents"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["agents"].as_array().unwrap().len(), 1, "none created");

    let dan = create_agent(&app, "acme", &owner, valid()).await;
    let path = acct("acme", &format!("/agents/{}", dan["id"].as_str().unwrap()));
    let cases = [
        (json!({"groups": ["nosuch"]}), "unknown_group"),
        (json!({"name": " "}), "invalid_name"),
        (json!({"role": "root"}), "invalid_role"),
        (json!({"status": "away"}), "invalid_status"),
        (json!({"password": "short"}), "invalid_password"),
        (json!({"email": "new@acme.example"}), "unknown_field"),
    ];
    for (body, code) in cases {
        let answer = app.patch(&path, Some(&owner.token), body).await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let shown = app
        .get(&path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, dan, "a rejected patch changes nothing");
}

#[tokio::test]
async fn unknown_agent_ids_answer_404_unknown_agent() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    for id in ["nosuch", "00000000-0000-0000-0000-000000000000"] {
        let path = acct("acme", &format!("/agents/{id}"));
        let answer = app.get(&path, Some(&owner.token)).await;
        check_error(&answer, StatusCode::NOT_FOUND, "unknown_agent");
        let answer = app
            .patch(&path, Some(&owner.token), json!({"name": "Ghost"}))
            .await;
        check_error(&answer, StatusCode::NOT_FOUND, "unknown_agent");
        let answer = app.delete(&path, Some(&owner.token)).await;
        check_error(&answer, StatusCode::NOT_FOUND, "unknown_agent");
    }
}

#[tokio::test]
async fn deleting_an_agent_ends_its_sessions() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let laptop = app.add_agent("acme", &owner, "Eve", &[]).await;
    let phone = app.login("acme", &laptop.email, "phone").await;
    app.set_status(&laptop, "online").await;

    let answer = app
        .delete(
            &acct("acme", &format!("/agents/{}", laptop.id)),
            Some(&owner.token),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    for token in [&laptop.token, &phone.token] {
        let answer = app.get("/api/v1/me", Some(token)).await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
        let answer = app
            .put(
                "/api/v1/me/status",
                Some(token),
                json!({"status": "online"}),
            )
            .await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let answer = login_with(&app, "acme", &laptop.email, PASSWORD).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Its "online" no longer holds the chat box online.
    assert_eq!(app.status("acme", None).await["status"], "offline");
    // The deleter's session is untouched.
    app.get("/api/v1/me", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_deleted() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let ann = app.add_agent("acme", &owner, "Ann", &[]).await;
    let owner_path = acct("acme", &format!("/agents/{}", owner.id));

    let answer = app
        .patch(&owner_path, Some(&owner.token), json!({"role": "agent"}))
        .await;
    check_error(&answer, StatusCode::CONFLICT, "last_admin");
    let answer = app.delete(&owner_path, Some(&owner.token)).await;
    check_error(&answer, StatusCode::CONFLICT, "last_admin");
    let shown = app
        .get(&owner_path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["role"], "admin");
    // Staying admin is no demotion.
    app.patch(&owner_path, Some(&owner.token), json!({"role": "admin"}))
        .await
        .expect(StatusCode::OK);

    // With a second admin, the first may step down.
    app.patch(
        &acct("acme", &format!("/agents/{}", ann.id)),
        Some(&owner.token),
        json!({"role": "admin"}),
    )
    .await
    .expect(StatusCode::OK);
    let demoted = app
        .patch(&owner_path, Some(&owner.token), json!({"role": "agent"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(demoted["role"], "agent");
    // The role change holds for the existing token at once.
    let answer = app.get(&acct("acme", ""), Some(&owner.token)).await;
    check_error(&answer, StatusCode::FORBIDDEN, "admin_required");
    // And now Ann is the last admin.
    let ann_path = acct("acme", &format!("/agents/{}", ann.id));
    let answer = app.delete(&ann_path, Some(&ann.token)).await;
    check_error(&answer, StatusCode::CONFLICT, "last_admin");
    let answer = app
        .patch(&ann_path, Some(&ann.token), json!({"role": "agent"}))
        .await;
    check_error(&answer, StatusCode::CONFLICT, "last_admin");
    // An admin who is not the last may delete itself.
    app.patch(&owner_path, Some(&ann.token), json!({"role": "admin"}))
        .await
        .expect(StatusCode::OK);
    let answer = app.delete(&ann_path, Some(&ann.token)).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let answer = app.get("/api/v1/me", Some(&ann.token)).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn an_admin_may_force_another_agent_s_status() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let ann = app.add_agent("acme", &owner, "Ann", &[]).await;
    app.set_status(&ann, "online").await;
    assert_eq!(app.status("acme", None).await["status"], "online");

    let forced = app
        .patch(
            &acct("acme", &format!("/agents/{}", ann.id)),
            Some(&owner.token),
            json!({"status": "offline"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(forced["status"], "offline");
    assert_eq!(forced["available"], false);
    let me = app
        .get("/api/v1/me", Some(&ann.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["status"], "offline");
    assert_eq!(app.status("acme", None).await["status"], "offline");

    // And back to busy.
    app.patch(
        &acct("acme", &format!("/agents/{}", ann.id)),
        Some(&owner.token),
        json!({"status": "busy"}),
    )
    .await
    .expect(StatusCode::OK);
    let me = app
        .get("/api/v1/me", Some(&ann.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["status"], "busy");
}

#[tokio::test]
async fn a_new_password_replaces_the_old_one_at_login() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let ann = app.add_agent("acme", &owner, "Ann", &[]).await;
    let new_password = "a brand new passphrase";
    app.patch(
        &acct("acme", &format!("/agents/{}", ann.id)),
        Some(&owner.token),
        json!({"password": new_password}),
    )
    .await
    .expect(StatusCode::OK);

    let answer = login_with(&app, "acme", &ann.email, PASSWORD).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let body = login_with(&app, "acme", &ann.email, new_password)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(body["agent"]["id"], ann.id.as_str());

    // Also after a restart: the new hash was stored.
    let app = app.restart(TestConfig::default()).await;
    let answer = login_with(&app, "acme", &ann.email, PASSWORD).await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
    login_with(&app, "acme", &ann.email, new_password)
        .await
        .expect(StatusCode::CREATED);
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_creates_lists_reads_renames_and_deletes_groups() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let token = Some(owner.token.as_str());
    let list = app
        .get(&acct("acme", "/groups"), token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list, json!({"groups": []}));

    let created = app
        .post(
            &acct("acme", "/groups"),
            token,
            json!({"key": "sales", "name": "Sales"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created, json!({"key": "sales", "name": "Sales"}));
    app.post(
        &acct("acme", "/groups"),
        token,
        json!({"key": "eu-2", "name": "Support EU"}),
    )
    .await
    .expect(StatusCode::CREATED);

    let list = app
        .get(&acct("acme", "/groups"), token)
        .await
        .expect(StatusCode::OK);
    let mut keys: Vec<&str> = list["groups"]
        .as_array()
        .expect("wrapped in {\"groups\": […]}")
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["eu-2", "sales"]);
    let shown = app
        .get(&acct("acme", "/groups/sales"), token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, created);

    let renamed = app
        .patch(
            &acct("acme", "/groups/sales"),
            token,
            json!({"name": "Sales & Billing"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed, json!({"key": "sales", "name": "Sales & Billing"}));
    let shown = app
        .get(&acct("acme", "/groups/sales"), token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, renamed);

    let answer = app.delete(&acct("acme", "/groups/eu-2"), token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let answer = app.get(&acct("acme", "/groups/eu-2"), token).await;
    check_error(&answer, StatusCode::NOT_FOUND, "unknown_group");

    // Stored.
    let app = app.restart(TestConfig::default()).await;
    let owner = app
        .login("acme", "owner@acme.example", "after restart")
        .await;
    let list = app
        .get(&acct("acme", "/groups"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list,
        json!({"groups": [{"key": "sales", "name": "Sales & Billing"}]})
    );
}

#[tokio::test]
async fn a_taken_group_key_answers_409_key_taken() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    let answer = app
        .post(
            &acct("acme", "/groups"),
            Some(&owner.token),
            json!({"key": "sales", "name": "Other sales"}),
        )
        .await;
    check_error(&answer, StatusCode::CONFLICT, "key_taken");
    let shown = app
        .get(&acct("acme", "/groups/sales"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["name"], "sales", "the first group is untouched");
    // Keys are per account.
    let other = app.create_account("other").await;
    app.add_group("other", &other, "sales").await;
}

#[tokio::test]
async fn group_fields_are_validated_with_a_code_that_names_them() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let cases = [
        (json!({"key": "Sales", "name": "Sales"}), "invalid_key"),
        (json!({"key": "", "name": "Sales"}), "invalid_key"),
        (json!({"key": "a_b", "name": "Sales"}), "invalid_key"),
        (json!({"key": "sales team", "name": "Sales"}), "invalid_key"),
        (
            json!({"key": "a".repeat(65), "name": "Sales"}),
            "invalid_key",
        ),
        (json!({"key": 5, "name": "Sales"}), "invalid_key"),
        (json!({"key": "sales", "name": ""}), "invalid_name"),
        (json!({"key": "sales"}), "missing_field"),
        (
            json!({"key": "sales", "name": "Sales", "color": "red"}),
            "unknown_field",
        ),
    ];
    for (body, code) in cases {
        let answer = app
            .post(&acct("acme", "/groups"), Some(&owner.token), body)
            .await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let list = app
        .get(&acct("acme", "/groups"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list, json!({"groups": []}));

    // The longest key is fine.
    let longest = "a".repeat(64);
    app.add_group("acme", &owner, &longest).await;
    let path = acct("acme", &format!("/groups/{longest}"));
    for (body, code) in [
        (json!({"name": ""}), "invalid_name"),
        (json!({"key": "renamed"}), "unknown_field"),
    ] {
        let answer = app.patch(&path, Some(&owner.token), body).await;
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn unknown_group_keys_answer_404_unknown_group() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let token = Some(owner.token.as_str());
    for key in ["nosuch", "NoSuch"] {
        let group = acct("acme", &format!("/groups/{key}"));
        let hours = format!("{group}/office-hours");
        let answers = [
            app.get(&group, token).await,
            app.patch(&group, token, json!({"name": "Ghost"})).await,
            app.delete(&group, token).await,
            app.get(&hours, token).await,
            app.put(&hours, token, contract_hours()).await,
            app.delete(&hours, token).await,
        ];
        for answer in answers {
            check_error(&answer, StatusCode::NOT_FOUND, "unknown_group");
        }
    }
    let list = app
        .get(&acct("acme", "/groups"), token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list,
        json!({"groups": []}),
        "nothing was created by the attempts"
    );
}

#[tokio::test]
async fn deleting_a_group_removes_it_from_its_agents() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "sales").await;
    app.add_group("acme", &owner, "support").await;
    let ann = app
        .add_agent("acme", &owner, "Ann", &["sales", "support"])
        .await;
    let bob = app.add_agent("acme", &owner, "Bob", &["sales"]).await;

    let answer = app
        .delete(&acct("acme", "/groups/sales"), Some(&owner.token))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    assert_eq!(groups_of(&app, &owner, &ann).await, json!(["support"]));
    assert_eq!(groups_of(&app, &owner, &bob).await, json!([]));
    let me = app
        .get("/api/v1/me", Some(&ann.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["groups"], json!(["support"]));

    // A new group with the old key starts empty; and the store agrees after a restart.
    app.add_group("acme", &owner, "sales").await;
    let app = app.restart(TestConfig::default()).await;
    let owner = app
        .login("acme", "owner@acme.example", "after restart")
        .await;
    assert_eq!(groups_of(&app, &owner, &ann).await, json!(["support"]));
    assert_eq!(groups_of(&app, &owner, &bob).await, json!([]));
}

/// An agent's groups as its admin sees them.
async fn groups_of(app: &TestApp, admin: &Agent, agent: &Agent) -> Value {
    let path = acct("acme", &format!("/agents/{}", agent.id));
    app.get(&path, Some(&admin.token))
        .await
        .expect(StatusCode::OK)["groups"]
        .clone()
}

// ---------------------------------------------------------------------------
// Office hours
// ---------------------------------------------------------------------------

#[tokio::test]
async fn account_office_hours_default_to_disabled_in_the_account_timezone() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let hours = app
        .get(&acct("acme", "/office-hours"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(hours["enabled"], false);
    assert_eq!(hours["timezone"], "Europe/Prague");
    assert!(
        hours["weekly"]
            .as_object()
            .is_some_and(|w| w.values().all(|d| d == &json!([]))),
        "no intervals: {hours}"
    );
    assert!(
        hours["exceptions"].as_array().is_none_or(Vec::is_empty),
        "no exceptions: {hours}"
    );
    // Until set, the default follows the account's timezone.
    app.patch_account("acme", &owner, json!({"timezone": "Asia/Tokyo"}))
        .await;
    let hours = app
        .get(&acct("acme", "/office-hours"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(hours["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn account_office_hours_round_trip_the_contract_example() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let path = acct("acme", "/office-hours");
    let put = app
        .put(&path, Some(&owner.token), contract_hours())
        .await
        .expect(StatusCode::OK);
    assert_eq!(put, contract_hours());
    let shown = app
        .get(&path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, contract_hours());

    // A second PUT replaces the first entirely.
    let replacement = json!({"enabled": false, "timezone": "UTC",
                             "weekly": {"fri": [{"from": "00:00", "to": "24:00"}]},
                             "exceptions": []});
    app.put(&path, Some(&owner.token), replacement.clone())
        .await
        .expect(StatusCode::OK);
    app.put(&path, Some(&owner.token), contract_hours())
        .await
        .expect(StatusCode::OK);

    let app = app.restart(TestConfig::default()).await;
    let owner = app
        .login("acme", "owner@acme.example", "after restart")
        .await;
    let shown = app
        .get(&path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, contract_hours(), "stored across a restart");
}

/// Invalid office hours, each with the code that says what is wrong.
fn invalid_office_hours() -> Vec<(Value, &'static str)> {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = contract_hours();
        edit(&mut body);
        body
    };
    let day = |intervals: Value| with(&|b| b["weekly"] = json!({ "tue": intervals.clone() }));
    vec![
        (
            with(&|b| b["timezone"] = json!("Mars/Olympus")),
            "invalid_timezone",
        ),
        (with(&|b| b["timezone"] = json!("")), "invalid_timezone"),
        (
            day(json!([{"from": "25:00", "to": "26:00"}])),
            "invalid_time",
        ),
        (
            day(json!([{"from": "09:60", "to": "10:00"}])),
            "invalid_time",
        ),
        (day(json!([{"from": "9am", "to": "10:00"}])), "invalid_time"),
        (
            day(json!([{"from": "24:00", "to": "10:00"}])),
            "invalid_time",
        ),
        (
            day(json!([{"from": "09:00", "to": "09:00"}])),
            "invalid_interval",
        ),
        (
            day(json!([{"from": "09:00", "to": "12:00"}, {"from": "11:00", "to": "13:00"}])),
            "overlapping_intervals",
        ),
        (
            day(json!([{"from": "09:00", "to": "17:00"}, {"from": "10:00", "to": "11:00"}])),
            "overlapping_intervals",
        ),
        (
            with(&|b| b["exceptions"] = json!([{"date": "2026-02-30", "hours": []}])),
            "invalid_date",
        ),
        (
            with(&|b| b["exceptions"] = json!([{"date": "24.12.2026", "hours": []}])),
            "invalid_date",
        ),
        (
            with(&|b| {
                b["exceptions"] =
                    json!([{"date": "2026-12-24", "hours": [{"from": "10:00", "to": "x"}]}])
            }),
            "invalid_time",
        ),
        (
            with(&|b| {
                b["exceptions"] = json!([{"date": "2026-12-24", "hours": []}, {"date": "2026-12-24", "hours": []}])
            }),
            "duplicate_exception",
        ),
        (
            with(&|b| b["weekly"] = json!({"monday": [{"from": "09:00", "to": "17:00"}]})),
            "unknown_field",
        ),
        (with(&|b| b["holidays"] = json!([])), "unknown_field"),
        (
            day(json!([{"from": "09:00", "to": "10:00", "note": "x"}])),
            "unknown_field",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("timezone"))),
            "missing_field",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("enabled"))),
            "missing_field",
        ),
        (with(&|b| b["enabled"] = json!("yes")), "invalid_enabled"),
    ]
}

#[tokio::test]
async fn invalid_account_office_hours_answer_400_with_a_code_that_says_which() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let path = acct("acme", "/office-hours");
    app.put(&path, Some(&owner.token), contract_hours())
        .await
        .expect(StatusCode::OK);
    for (body, code) in invalid_office_hours() {
        let answer = app.put(&path, Some(&owner.token), body.clone()).await;
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let answer = app
        .raw(Method::PUT, &path, Some(&owner.token), "enabled=true")
        .await;
    check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    let shown = app
        .get(&path, Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown, contract_hours(), "rejected specs change nothing");
}

#[tokio::test]
async fn group_office_hours_can_be_set_read_and_deleted() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let token = Some(owner.token.as_str());
    app.add_group("acme", &owner, "sales").await;
    let path = acct("acme", "/groups/sales/office-hours");

    let answer = app.get(&path, token).await;
    check_error(&answer, StatusCode::NOT_FOUND, "office_hours_not_set");

    let put = app
        .put(&path, token, contract_hours())
        .await
        .expect(StatusCode::OK);
    assert_eq!(put, contract_hours());
    let shown = app.get(&path, token).await.expect(StatusCode::OK);
    assert_eq!(shown, contract_hours());
    // The group's hours are its own: the account's are untouched.
    let account_hours = app
        .get(&acct("acme", "/office-hours"), token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(account_hours["enabled"], false);

    for (body, code) in invalid_office_hours() {
        let answer = app.put(&path, token, body.clone()).await;
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        check_error(&answer, StatusCode::BAD_REQUEST, code);
    }
    let shown = app.get(&path, token).await.expect(StatusCode::OK);
    assert_eq!(shown, contract_hours(), "rejected specs change nothing");

    let answer = app.delete(&path, token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let answer = app.get(&path, token).await;
    check_error(&answer, StatusCode::NOT_FOUND, "office_hours_not_set");
    // The group itself remains.
    app.get(&acct("acme", "/groups/sales"), token)
        .await
        .expect(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_error_is_a_json_body_with_a_code_and_a_message() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let ann = app.add_agent("acme", &owner, "Ann", &[]).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(20 * 1024));
    let answers = [
        app.raw(Method::POST, &acct("acme", "/sessions"), None, "{")
            .await,
        app.put(
            "/api/v1/me/status",
            Some(&owner.token),
            json!({"status": "away"}),
        )
        .await,
        app.get("/api/v1/me", None).await,
        app.get("/api/v1/me", Some("nope")).await,
        app.get(&acct("acme", ""), Some(&ann.token)).await,
        app.get(&acct("nosuch", ""), Some(&owner.token)).await,
        app.get("/api/v1/nothing-here", None).await,
        app.request(
            Method::DELETE,
            "/api/v1/me",
            Some(&owner.token),
            Value::Null,
        )
        .await,
        app.post(
            &acct("acme", "/groups"),
            Some(&owner.token),
            json!({"key": "x", "name": "x"}),
        )
        .await,
        app.post(
            &acct("acme", "/groups"),
            Some(&owner.token),
            json!({"key": "x", "name": "x"}),
        )
        .await,
        app.raw(Method::PATCH, &acct("acme", ""), Some(&owner.token), big)
            .await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(
        statuses,
        [400, 400, 401, 401, 403, 404, 404, 405, 201, 409, 413],
        "{answers:#?}"
    );
    for answer in answers.iter().filter(|a| a.status.as_u16() >= 400) {
        check_error_shape(answer);
    }
}

#[tokio::test]
async fn a_body_over_16_kib_answers_413_payload_too_large() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    const LIMIT: usize = 16 * 1024;
    // A valid login padded with spaces to exactly the limit is accepted…
    let login = json!({"email": "owner@acme.example", "password": PASSWORD}).to_string();
    let at_limit = format!("{login}{}", " ".repeat(LIMIT - login.len()));
    assert_eq!(at_limit.len(), LIMIT);
    app.raw(
        Method::POST,
        &acct("acme", "/sessions"),
        None,
        at_limit.clone(),
    )
    .await
    .expect(StatusCode::CREATED);
    // …one byte more is not.
    let answer = app
        .raw(
            Method::POST,
            &acct("acme", "/sessions"),
            None,
            format!("{at_limit} "),
        )
        .await;
    check_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // On authenticated routes too, and without a Content-Length (chunked).
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(LIMIT));
    let answer = app
        .raw(
            Method::POST,
            &acct("acme", "/agents"),
            Some(&owner.token),
            big.clone(),
        )
        .await;
    check_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = big
        .into_bytes()
        .chunks(1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let answer = app
        .raw(Method::PATCH, &acct("acme", ""), Some(&owner.token), body)
        .await;
    check_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let answer = app
        .raw(
            Method::POST,
            "/api/v1/accounts",
            Some(OPERATOR_TOKEN),
            "x".repeat(LIMIT * 4),
        )
        .await;
    check_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Nothing changed, and the server still answers.
    let account = app
        .get(&acct("acme", ""), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(account["name"], "acme Inc");
}

#[tokio::test]
async fn an_unknown_path_answers_404_not_found() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    for path in [
        "/api/v1/nothing",
        "/nothing",
        "/api/v2/accounts",
        "/api/v1/accounts/acme/unknown",
        "/api/v1/me/nothing",
    ] {
        let answer = app.get(path, Some(&owner.token)).await;
        check_error(&answer, StatusCode::NOT_FOUND, "not_found");
        let answer = app.post(path, None, json!({})).await;
        check_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_answers_405_method_not_allowed() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let cases = [
        (Method::DELETE, "/api/v1/me".to_owned()),
        (Method::GET, "/api/v1/me/status".to_owned()),
        (Method::GET, "/api/v1/me/heartbeat".to_owned()),
        (Method::GET, "/api/v1/sessions/current".to_owned()),
        (Method::GET, "/api/v1/accounts".to_owned()),
        (Method::PUT, acct("acme", "")),
        (Method::DELETE, acct("acme", "")),
        (Method::GET, acct("acme", "/sessions")),
        (Method::PUT, acct("acme", "/agents")),
        (Method::POST, acct("acme", "/agents/x")),
        (Method::DELETE, acct("acme", "/groups")),
        (Method::POST, acct("acme", "/office-hours")),
        (Method::DELETE, acct("acme", "/office-hours")),
        (Method::PATCH, acct("acme", "/groups/x/office-hours")),
    ];
    for (method, path) in cases {
        let answer = app
            .request(method.clone(), &path, Some(&owner.token), Value::Null)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            answer.body
        );
        check_error(
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_answers_400_malformed_json() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let token = Some(owner.token.as_str());
    let bodies: [&[u8]; 6] = [
        b"",
        b"hello",
        b"{\"status\": \"online\"",
        b"{\"status\": \"online\"} {}",
        b"<status>online</status>",
        b"{\"status\": \"\xff\xfe\"}",
    ];
    for body in bodies {
        let answer = app
            .raw(Method::PUT, "/api/v1/me/status", token, body.to_vec())
            .await;
        assert_eq!(
            answer.code(),
            "malformed_json",
            "{:?}: {}",
            String::from_utf8_lossy(body),
            answer.body
        );
        check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
        let answer = app
            .raw(Method::POST, &acct("acme", "/groups"), token, body.to_vec())
            .await;
        check_error(&answer, StatusCode::BAD_REQUEST, "malformed_json");
    }
    // JSON, but not an object.
    for body in ["[]", "\"online\"", "null", "42"] {
        let answer = app.raw(Method::PUT, "/api/v1/me/status", token, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        check_error_shape(&answer);
    }
    let me = app.get("/api/v1/me", token).await.expect(StatusCode::OK);
    assert_eq!(me["status"], "offline");
}

// ---------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_of_another_account_gets_403_wrong_account_and_changes_nothing() {
    let app = spawn_app().await;
    let (alpha_owner, alpha_agent) = furnished_account(&app, "alpha").await;
    let (beta_owner, beta_agent) = furnished_account(&app, "beta").await;
    let before = everything(&app, "alpha", &alpha_owner).await;

    for intruder in [&beta_owner, &beta_agent] {
        let requests = admin_requests("alpha", &alpha_agent.id, "sales");
        for (method, path, body) in requests.into_iter().chain(member_reads("alpha", "sales")) {
            let answer = app
                .request(method.clone(), &path, Some(&intruder.token), body)
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                answer.body
            );
            check_error(&answer, StatusCode::FORBIDDEN, "wrong_account");
        }
    }
    assert_eq!(everything(&app, "alpha", &alpha_owner).await, before);
    // Alpha's agent still logs in with its own password.
    login_with(&app, "alpha", &alpha_agent.email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn another_account_s_agent_ids_are_unknown_in_one_s_own_account() {
    let app = spawn_app().await;
    let (alpha_owner, alpha_agent) = furnished_account(&app, "alpha").await;
    let (beta_owner, _) = furnished_account(&app, "beta").await;
    let before = everything(&app, "alpha", &alpha_owner).await;

    // Beta's admin names Alpha's agent under Beta's own path.
    for id in [&alpha_agent.id, &alpha_owner.id] {
        let path = acct("beta", &format!("/agents/{id}"));
        let token = Some(beta_owner.token.as_str());
        let answers = [
            app.get(&path, token).await,
            app.patch(
                &path,
                token,
                json!({"status": "offline", "password": "taken over!"}),
            )
            .await,
            app.delete(&path, token).await,
        ];
        for answer in answers {
            check_error(&answer, StatusCode::NOT_FOUND, "unknown_agent");
        }
    }
    // Beta's group of the same key is Beta's own; changing it leaves Alpha's.
    app.patch(
        &acct("beta", "/groups/sales"),
        Some(&beta_owner.token),
        json!({"name": "Beta sales"}),
    )
    .await
    .expect(StatusCode::OK);
    app.delete(
        &acct("beta", "/groups/sales/office-hours"),
        Some(&beta_owner.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.patch_account("beta", &beta_owner, json!({"grace_seconds": 5}))
        .await;
    assert_eq!(everything(&app, "alpha", &alpha_owner).await, before);
}

#[tokio::test]
async fn access_token_in_the_query_is_taken_by_event_streams_only() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let answer = app
        .get(&format!("/api/v1/me?access_token={}", owner.token), None)
        .await;
    check_error(&answer, StatusCode::UNAUTHORIZED, "missing_credentials");
    let mut events = app.agent_events(&owner).await;
    assert_eq!(events.next().await.event, "agent");
}

#[tokio::test]
async fn a_path_ending_in_events_takes_no_query_token_unless_it_is_the_agent_stream() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    app.add_group("acme", &owner, "events").await;
    let token = &owner.token;
    for (method, path) in [
        (
            Method::PATCH,
            format!("/api/v1/accounts/acme/groups/events?access_token={token}"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/accounts/acme/groups/events?access_token={token}"),
        ),
        (
            Method::GET,
            format!("/api/v1/accounts/acme/groups/events?access_token={token}"),
        ),
        (
            Method::GET,
            format!("/api/v1/accounts/acme/groups/events/office-hours?access_token={token}"),
        ),
    ] {
        let body = if method == Method::PATCH {
            json!({"name": "Renamed"})
        } else {
            Value::Null
        };
        let answer = app.request(method.clone(), &path, None, body).await;
        check_error(&answer, StatusCode::UNAUTHORIZED, "missing_credentials");
    }
    // The group is untouched.
    let group = app
        .get("/api/v1/accounts/acme/groups/events", Some(token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(group["name"], "events");
}
