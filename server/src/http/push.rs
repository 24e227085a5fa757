//! `/me/push`: the server's VAPID key and this device's Web Push
//! subscription (docs/notifications.md, "Web Push").

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::AgentAuth;
use crate::error::{ApiJson, Error, Result};
use crate::push::{DeviceKeyError, DeviceKeys};
use crate::store::PushSubscriptionRecord;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, subscribe, unsubscribe))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PushInfo {
    /// For `pushManager.subscribe({applicationServerKey})`.
    public_key: String,
    /// Whether this session (device) has a subscription.
    subscribed: bool,
}

#[utoipa::path(
    get,
    path = "/me/push",
    tag = "me",
    operation_id = "show_push",
    summary = "The server's VAPID public key, and whether this device is subscribed",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PushInfo),
    ),
)]
async fn show(State(state): State<AppState>, auth: AgentAuth) -> Result<axum::Json<PushInfo>> {
    let subscribed = state
        .hub
        .store
        .push_subscription(&auth.session_id)
        .await?
        .is_some();
    Ok(axum::Json(PushInfo {
        public_key: state.hub.push.public_key(),
        subscribed,
    }))
}

/// A `PushSubscription` as `toJSON()` gives it (`expirationTime` is
/// accepted and not used: push services that expire a subscription answer
/// 404 or 410, which removes it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Subscription {
    endpoint: String,
    keys: Keys,
    #[serde(rename = "expirationTime")]
    #[allow(dead_code)]
    expiration_time: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Keys {
    p256dh: String,
    auth: String,
}

/// Stores this device's subscription, replacing the one it had.
#[utoipa::path(
    put,
    path = "/me/push",
    tag = "me",
    operation_id = "subscribe_push",
    summary = "This device's Web Push subscription, replacing the one it had",
    security(("bearer" = [])),
    request_body = Subscription,
    responses(
        (status = 204, description = "Stored"),
    ),
)]
async fn subscribe(
    State(state): State<AppState>,
    auth: AgentAuth,
    ApiJson(subscription): ApiJson<Subscription>,
) -> Result<StatusCode> {
    let endpoint = state
        .hub
        .push
        .check_endpoint(&subscription.endpoint)
        .map_err(|message| Error::bad_request("invalid_endpoint", message))?;
    DeviceKeys::parse(&subscription.keys.p256dh, &subscription.keys.auth).map_err(|e| {
        let code = match e {
            DeviceKeyError::P256dh => "invalid_p256dh",
            DeviceKeyError::Auth => "invalid_auth",
        };
        Error::bad_request(code, e.to_string())
    })?;
    let record = PushSubscriptionRecord {
        session_id: auth.session_id.clone(),
        account_id: auth.live.id.clone(),
        agent_id: auth.agent_id.clone(),
        endpoint: endpoint.into(),
        p256dh: trimmed(&subscription.keys.p256dh),
        auth: trimmed(&subscription.keys.auth),
        created_at: state.hub.clock.now(),
    };
    if !state.hub.store.put_push_subscription(&record).await? {
        // The session ended between the token check and the write.
        return Err(Error::Unauthorized {
            code: "invalid_token",
            message: "the token is unknown or has ended",
        });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Keys as stored: base64url without padding or spaces.
fn trimmed(key: &str) -> String {
    key.trim().trim_end_matches('=').to_owned()
}

/// Removes this device's subscription (204 also when it had none).
#[utoipa::path(
    delete,
    path = "/me/push",
    tag = "me",
    operation_id = "unsubscribe_push",
    summary = "This device gets no more pushes",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed, or there was none"),
    ),
)]
async fn unsubscribe(State(state): State<AppState>, auth: AgentAuth) -> Result<StatusCode> {
    state
        .hub
        .store
        .delete_push_subscription(&auth.session_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
