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
