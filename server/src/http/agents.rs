//! `/accounts/{account}/agents`: an admin manages the account's agents.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use onair_shared::wire::ErrorBody;
use onair_shared::wire::{self, Role, Status};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use super::validate;
use crate::AppState;
use crate::account::{AgentChange, unknown_agent};
use crate::auth;
use crate::error::{ApiJson, Result};
use crate::hub::{AccountLive, Hub};
use crate::store::AgentRecord;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(end_sessions))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Agents {
    agents: Vec<wire::Agent>,
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/agents",
    tag = "agents",
    operation_id = "list_agents",
    summary = "The account's agents, by name",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Agents),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn list(State(state): State<AppState>, Admin(live): Admin) -> Result<axum::Json<Agents>> {
    let now = state.hub.clock.now();
    let inner = live.lock();
    let mut agents: Vec<_> = inner
        .agents()
        .keys()
        .filter_map(|id| inner.agent_view(id, now))
        .collect();
    agents.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    Ok(axum::Json(Agents { agents }))
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/agents/{id}",
    tag = "agents",
    operation_id = "show_agent",
    summary = "One agent",
    params(super::openapi::AgentPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::Agent),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<wire::Agent>> {
    let now = state.hub.clock.now();
    let view = live
        .lock()
        .agent_view(&id, now)
        .ok_or_else(|| unknown_agent(&id))?;
    Ok(axum::Json(view))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    email: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 256)]
    password: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    email_notifications: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/agents",
    tag = "agents",
    operation_id = "create_agent",
    summary = "Add an agent (offline unless a status is given)",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    request_body = NewAgent,
    responses(
        (status = 201, body = wire::Agent),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Admin(live): Admin,
    ApiJson(new): ApiJson<NewAgent>,
) -> Result<(StatusCode, axum::Json<wire::Agent>)> {
    let name = validate::name("name", &new.name)?;
    let email = validate::email(&new.email)?;
    auth::check_password_shape(&new.password)?;
    let password_hash = auth::hash_password(new.password).await?;
    let writer = state.hub.writer(&live).await;
    let record = AgentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: live.id.clone(),
        name,
        email,
        role: new.role.unwrap_or(Role::Agent),
        status: new.status.unwrap_or(Status::Offline),
        groups: new.groups,
        password_hash,
        email_notifications: new.email_notifications.unwrap_or(true),
        disabled: false,
        avatar: None,
        created_at: writer.now(),
    };
    let view = writer.add_agent(record).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Sets an agent's chosen status: every device of the agent and every chat
/// box follow at once.
pub(crate) async fn set_status(
    hub: &Hub,
    live: &AccountLive,
    agent_id: &str,
    status: Status,
) -> Result<wire::Agent> {
    let change = AgentChange {
        status: Some(status),
        ..AgentChange::default()
    };
    hub.writer(live).await.change_agent(agent_id, change).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AgentPatch {
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    role: Option<Role>,
    groups: Option<Vec<String>>,
    status: Option<Status>,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 256)]
    password: Option<String>,
    email_notifications: Option<bool>,
    disabled: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/accounts/{account}/agents/{id}",
    tag = "agents",
    operation_id = "update_agent",
    summary = "Change an agent; a new password ends its other sessions, disabling ends them all",
    params(super::openapi::AgentPath),
    security(("bearer" = [])),
    request_body = AgentPatch,
    responses(
        (status = 200, body = wire::Agent),
        (status = 409, description = "`last_admin`: the account would have no admin left", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: crate::auth::AgentAuth,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<axum::Json<wire::Agent>> {
    let name = patch
        .name
        .as_deref()
        .map(|n| validate::name("name", n))
        .transpose()?;
    let password_hash = match patch.password {
        Some(password) => {
            auth::check_password_shape(&password)?;
            Some(auth::hash_password(password).await?)
        }
        None => None,
    };
    let new_password = password_hash.is_some();
    let disabling = patch.disabled == Some(true);
    let change = AgentChange {
        name,
        role: patch.role,
        groups: patch.groups,
        status: patch.status,
        password_hash,
        email_notifications: patch.email_notifications,
        disabled: patch.disabled,
    };
    let writer = state.hub.writer(&live).await;
    let mut view = writer.change_agent(&id, change).await?;
    if disabling {
        // Every session, the asking admin's own too if it disabled itself.
        writer.end_sessions_of(&id, None).await?;
        view.available = false;
    } else if new_password {
        // A new password ends the agent's other sessions (all of them, when
        // an admin changes someone else's).
        writer
            .end_sessions_of(&id, Some(&caller.session_id))
            .await?;
    }
    Ok(axum::Json(view))
}

/// Ends every session of an agent (a lost phone, someone who left).
#[utoipa::path(
    delete,
    path = "/accounts/{account}/agents/{id}/sessions",
    tag = "agents",
    operation_id = "end_agent_sessions",
    summary = "End every session of an agent",
    params(super::openapi::AgentPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session of the agent ended"),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn end_sessions(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let writer = state.hub.writer(&live).await;
    if !writer.read(|inner| inner.agents().contains_key(&id)) {
        return Err(unknown_agent(&id));
    }
    writer.end_sessions_of(&id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/accounts/{account}/agents/{id}",
    tag = "agents",
    operation_id = "remove_agent",
    summary = "Remove an agent and its sessions",
    params(super::openapi::AgentPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "`last_admin`: the account would have no admin left", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    // Its sessions end with it, and so do their streams.
    state.hub.writer(&live).await.remove_agent(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
