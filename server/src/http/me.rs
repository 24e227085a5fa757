//! The agent's own view: `/me`, its status, heartbeat and event stream.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use onair_shared::wire::{self, ErrorBody, Status};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{AgentAuth, AgentStreamAuth};
use crate::conversations;
use crate::error::{ApiJson, Error, Result};
use crate::hub::{AccountLive, Hub};
use crate::metrics::StreamGauge;
use crate::sse;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, update))
        .routes(routes!(set_status))
        .routes(routes!(heartbeat))
        .routes(routes!(events))
        .routes(routes!(change_password))
        .routes(routes!(end_session))
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "me",
    operation_id = "show_me",
    summary = "The agent with its sessions (devices)",
    security(("bearer" = [])),
    responses((status = 200, body = wire::Me)),
)]
async fn show(State(state): State<AppState>, auth: AgentAuth) -> Result<axum::Json<wire::Me>> {
    let now = state.hub.clock.now();
    let inner = auth.live.lock();
    let agent = inner
        .agent_view(&auth.agent_id, now)
        .ok_or_else(agent_gone)?;
    let sessions = inner.sessions_of(&auth.agent_id, now);
    Ok(axum::Json(wire::Me { agent, sessions }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MePatch {
    /// The name visitors and colleagues see (on replies, typing, the dashboard).
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    email_notifications: Option<bool>,
}

/// The agent's own settings: the name it goes by, whether it gets notification emails.
#[utoipa::path(
    patch,
    path = "/me",
    tag = "me",
    operation_id = "update_me",
    summary = "The agent's own name and email notifications; absent fields stay as they are",
    security(("bearer" = [])),
    request_body = MePatch,
    responses((status = 200, body = wire::Agent)),
)]
async fn update(
    State(state): State<AppState>,
    auth: AgentAuth,
    ApiJson(patch): ApiJson<MePatch>,
) -> Result<axum::Json<wire::Agent>> {
    let name = patch
        .name
        .as_deref()
        .map(|name| super::validate::name("name", name))
        .transpose()?;
    let change = crate::account::AgentChange {
        name,
        email_notifications: patch.email_notifications,
        ..Default::default()
    };
    let writer = state.hub.writer(&auth.live).await;
    let agent = writer
        .change_agent(&auth.agent_id, change)
        .await
        .map_err(|e| match e {
            // Deleted meanwhile: its token no longer counts.
            Error::NotFound { .. } => agent_gone(),
            other => other,
        })?;
    Ok(axum::Json(agent))
}

fn agent_gone() -> Error {
    Error::Unauthorized {
        code: "invalid_token",
        message: "the token is unknown or has ended",
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: Status,
}

#[utoipa::path(
    put,
    path = "/me/status",
    tag = "me",
    operation_id = "set_my_status",
    summary = "Choose a status: every device of the agent and every chat box follow at once",
    security(("bearer" = [])),
    request_body = StatusChange,
    responses((status = 200, body = wire::Agent)),
)]
async fn set_status(
    State(state): State<AppState>,
    auth: AgentAuth,
    ApiJson(change): ApiJson<StatusChange>,
) -> Result<axum::Json<wire::Agent>> {
    let agent =
        super::agents::set_status(&state.hub, &auth.live, &auth.agent_id, change.status).await?;
    Ok(axum::Json(agent))
}

#[utoipa::path(
    post,
    path = "/me/heartbeat",
    tag = "me",
    operation_id = "heartbeat",
    summary = "A sign of life from a device that holds no event stream",
    security(("bearer" = [])),
    responses((status = 204, description = "Counted")),
)]
async fn heartbeat(State(state): State<AppState>, auth: AgentAuth) -> Result<StatusCode> {
    // The extractor already counted the sign of life; store it too, so the
    // restart rule knows about devices that only send heartbeats.
    let now = state.hub.clock.now();
    let streaming = {
        let inner = auth.live.lock();
        inner
            .model()
            .agents
            .get(&auth.agent_id)
            .and_then(|a| a.sessions.get(&auth.session_id))
            .is_some_and(|p| p.open_streams > 0)
    };
    state
        .hub
        .store
        .touch_session(&auth.session_id, now, streaming)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 256)]
    new_password: String,
}

/// The agent's own password: the current one must be right; every other
/// session of the agent ends at once (docs/hardening.md).
#[utoipa::path(
    put,
    path = "/me/password",
    tag = "me",
    operation_id = "change_password",
    summary = "A new password; every other session of the agent ends",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; this session stays"),
        (status = 403, description = "`wrong_password`: the current password is wrong", body = ErrorBody),
        (status = 503, description = "`server_busy`: too many passwords are being hashed; try again after `Retry-After`", body = ErrorBody),
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    auth: AgentAuth,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode> {
    crate::auth::check_password_shape(&change.new_password)?;
    let stored = auth
        .live
        .lock()
        .agents()
        .get(&auth.agent_id)
        .map(|a| a.password_hash.clone());
    if !crate::auth::verify_password(change.current_password, stored).await? {
        return Err(Error::Forbidden {
            code: "wrong_password",
            message: "the current password is wrong",
        });
    }
    let password_hash = crate::auth::hash_password(change.new_password).await?;
    let writer = state.hub.writer(&auth.live).await;
    let change = crate::account::AgentChange {
        password_hash: Some(password_hash),
        ..crate::account::AgentChange::default()
    };
    writer.change_agent(&auth.agent_id, change).await?;
    writer
        .end_sessions_of(&auth.agent_id, Some(&auth.session_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one of my devices' sessions.
#[utoipa::path(
    delete,
    path = "/me/sessions/{id}",
    tag = "me",
    operation_id = "end_my_session",
    summary = "End one of the agent's own sessions (a device)",
    params(("id" = String, Path, description = "The session's id, from GET /me")),
    security(("bearer" = [])),
    responses((status = 204, description = "The session ended")),
)]
async fn end_session(
    State(state): State<AppState>,
    auth: AgentAuth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode> {
    state
        .hub
        .writer(&auth.live)
        .await
        .end_own_session(&auth.agent_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent stream: `agent` and `site` events, and the `conversation` and
/// `message` events of the conversations this agent is eligible for (its
/// groups', every site-wide one; all of them for an agent in no group). While
/// open, the session is present.
///
/// Conversation events are not replayed: a dashboard fetches
/// `GET /conversations` each time the stream opens, which covers a drop and a
/// stream ended because it fell behind alike.
#[utoipa::path(
    get,
    path = "/me/events",
    tag = "me",
    operation_id = "my_events",
    summary = "The agent's event stream (`agent`, `site`, `conversation`, `message`, `typing`); the session is present while it is open",
    params(("access_token" = Option<String>, Query, description = "The session token, for EventSource, which cannot send headers")),
    security(("bearer" = []), ("access_token" = [])),
    responses((status = 200, description = "Server-sent events (each one as the schema says), kept alive with comments", content_type = "text/event-stream", body = super::openapi::AgentStreamEvent)),
)]
async fn events(
    State(state): State<AppState>,
    AgentStreamAuth(auth): AgentStreamAuth,
) -> Result<Response> {
    let hub = &state.hub;
    let AgentAuth {
        live,
        session_id,
        agent_id,
        ..
    } = auth;
    let gauge = StreamGauge::agent(&hub.metrics)?;
    if hub
        .stream_changed(&live, &agent_id, &session_id, true)
        .await
        .is_none()
    {
        // The session ended meanwhile: take the count back.
        hub.stream_changed(&live, &agent_id, &session_id, false)
            .await;
        return Err(agent_gone());
    }
    let writer = hub.writer(&live).await;
    let subscribed = writer.read(|inner| {
        Some((
            inner.subscribe_agent(&agent_id)?,
            inner.subscribe_site(),
            inner.session_end(&session_id)?,
        ))
    });
    // Under the write lock, like every publication: nothing published after
    // the snapshot above is missed.
    let conversations_rx = live.conversations.subscribe_agents();
    drop(writer);
    let Some((mut agent_rx, mut site_rx, end_rx)) = subscribed else {
        return Err(agent_gone());
    };
    let eligible = {
        let live = Arc::clone(&live);
        let agent_id = agent_id.clone();
        // The agent's groups now, not at connect: an admin may move it.
        move |group: &str| {
            let scope = onair_shared::model::Scope::Group(group.to_owned());
            live.lock()
                .model()
                .agents
                .get(&agent_id)
                .is_some_and(|a| a.is_eligible(&scope))
        }
    };
    let guard = PresenceGuard {
        hub: Arc::clone(hub),
        live: Arc::clone(&live),
        agent_id,
        session_id: session_id.clone(),
        _gauge: gauge,
    };
    if let Err(e) = hub
        .store
        .touch_session(&session_id, hub.clock.now(), true)
        .await
    {
        tracing::warn!(error = %e, "could not store that a session is streaming");
    }
    let initial = vec![
        sse::RETRY,
        agent_rx.borrow_and_update().clone(),
        site_rx.borrow_and_update().clone(),
    ];
    let feeds = sse::Feeds {
        first: Some(agent_rx),
        second: Some(site_rx),
        events: Some(conversations::agent_events(conversations_rx, eligible)),
    };
    let stream = sse::stream(
        initial,
        feeds,
        Some(end_rx),
        hub.signals(),
        Arc::clone(&hub.metrics),
        guard,
    );
    Ok(sse::response(stream))
}

/// Keeps a session's stream counted while the stream lives; when it ends the
/// session's grace period starts.
#[derive(Debug)]
struct PresenceGuard {
    hub: Arc<Hub>,
    live: Arc<AccountLive>,
    agent_id: String,
    session_id: String,
    _gauge: StreamGauge,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub = Arc::clone(&self.hub);
        let live = Arc::clone(&self.live);
        let agent_id = std::mem::take(&mut self.agent_id);
        let session_id = std::mem::take(&mut self.session_id);
        runtime.spawn(async move {
            let still_streaming = hub
                .stream_changed(&live, &agent_id, &session_id, false)
                .await;
            // None: the session ended (logout) and is gone from the store too.
            if let Some(still_streaming) = still_streaming {
                if let Err(e) = hub
                    .store
                    .touch_session(&session_id, hub.clock.now(), still_streaming)
                    .await
                {
                    tracing::warn!(error = %e, "could not store a session's last sign of life");
                }
            }
        });
    }
}
