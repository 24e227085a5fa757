use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn an_agent_going_online_is_pushed_to_an_open_status_stream() {
    let app = spawn_app().await;
    let owner = app.create_account("acme").await;
    let mut stream = app.status_events("acme", None).await;
    let first = stream.next().await;
    assert_eq!(first.event, "status");
    assert_eq!(first.data["status"], "offline");
    app.set_status(&owner, "online").await;
    let pushed = stream.next().await;
    assert_eq!(pushed.data["status"], "online");
    assert_eq!(pushed.data["reason"], "agents_online");
    assert!(pushed.data["version"].as_u64() > first.data["version"].as_u64());
    assert_eq!(
        pushed.id.as_deref(),
        Some(pushed.data["version"].to_string().as_str())
    );
    app.get("/healthz", None).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_the_json_error_shape_readable_cross_origin() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/accounts/%ff/status",
        "/api/v1/accounts/%ff/status/events",
        "/api/v1/accounts/%ff/sessions",
        "/api/v1/accounts/%ff/conversations",
        "/api/v1/accounts/acme/conversations/%ff/events",
    ] {
        let method = if path.ends_with("sessions") || path.ends_with("conversations") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let response = app
            .client
            .request(method, app.url(path))
            .header("origin", "https://shop.example")
            .header("authorization", "Bearer nope")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::BAD_REQUEST,
            "{path}"
        );
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or_default()),
            Some("*"),
            "{path}"
        );
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "invalid_path", "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}
