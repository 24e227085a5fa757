//! `/accounts/{account}/agents`: an admin manages the account's agents.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use onair_shared::wire::{self, Role, Status};
use serde::{Deserialize, Serialize};

use super::Admin;
use super::validate;
use crate::AppState;
use crate::auth;
use crate::error::{ApiJson, Error, Result};
use crate::hub::{AccountLive, Hub, Inner, Writer};
use crate::store::AgentRecord;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/agents", get(list).post(create))
        .route(
            "/accounts/{account}/agents/{id}",
            get(show).patch(update).delete(remove),
        )
}

#[derive(Debug, Serialize)]
struct Agents {
    agents: Vec<wire::Agent>,
}

async fn list(State(state): State<AppState>, Admin(live): Admin) -> Result<axum::Json<Agents>> {
    let now = state.hub.clock.now();
    let inner = live.lock();
    let mut agents: Vec<_> = inner
        .agents
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

fn unknown_agent(id: &str) -> Error {
    Error::not_found(
        "unknown_agent",
        format!("there is no agent {id:?} in this account"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    status: Option<Status>,
}

/// Every key must name a group of the account; duplicates collapse.
fn check_groups(inner: &Inner, keys: &[String]) -> Result<Vec<String>> {
    let mut set = BTreeSet::new();
    for key in keys {
        if !inner.groups.contains_key(key) {
            return Err(Error::bad_request(
                "unknown_group",
                format!("there is no group {key:?} in this account"),
            ));
        }
        set.insert(key.clone());
    }
    Ok(set.into_iter().collect())
}

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
    let groups = writer.read(|inner| {
        if inner.agents.values().any(|a| a.email == email) {
            return Err(email_taken(&email));
        }
        check_groups(inner, &new.groups)
    })?;
    let record = AgentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: live.id.clone(),
        name,
        email,
        role: new.role.unwrap_or(Role::Agent),
        status: new.status.unwrap_or(Status::Offline),
        groups,
        password_hash,
        created_at: writer.now(),
    };
    let view = put_agent(&state.hub, &writer, record).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

fn email_taken(email: &str) -> Error {
    Error::conflict(
        "email_taken",
        format!("an agent with the email {email:?} already exists in this account"),
    )
}

/// Stores an agent, then makes it live; answers its view.
async fn put_agent(hub: &Hub, writer: &Writer<'_>, record: AgentRecord) -> Result<wire::Agent> {
    hub.store.put_agent(&record).await?;
    let id = record.id.clone();
    writer
        .apply(|inner, now| {
            inner.agents.insert(id.clone(), record);
            inner.sync_model();
            inner.agent_view(&id, now)
        })
        .await
        .ok_or_else(|| Error::Internal("agent vanished while being stored".into()))
}

/// Sets an agent's chosen status: every device of the agent and every chat
/// box follow at once.
pub(crate) async fn set_status(
    hub: &Hub,
    live: &AccountLive,
    agent_id: &str,
    status: Status,
) -> Result<wire::Agent> {
    let writer = hub.writer(live).await;
    let mut record = writer
        .read(|inner| inner.agents.get(agent_id).cloned())
        .ok_or_else(|| unknown_agent(agent_id))?;
    record.status = status;
    put_agent(hub, &writer, record).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentPatch {
    name: Option<String>,
    role: Option<Role>,
    groups: Option<Vec<String>>,
    status: Option<Status>,
    password: Option<String>,
}

async fn update(
    State(state): State<AppState>,
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
    let writer = state.hub.writer(&live).await;
    let record = writer.read(|inner| {
        let mut record = inner
            .agents
            .get(&id)
            .cloned()
            .ok_or_else(|| unknown_agent(&id))?;
        if let Some(groups) = &patch.groups {
            record.groups = check_groups(inner, groups)?;
        }
        if let Some(role) = patch.role {
            if role != Role::Admin && record.role == Role::Admin && admins(inner) == 1 {
                return Err(last_admin());
            }
            record.role = role;
        }
        if let Some(name) = name {
            record.name = name;
        }
        if let Some(status) = patch.status {
            record.status = status;
        }
        if let Some(hash) = password_hash {
            record.password_hash = hash;
        }
        Ok(record)
    })?;
    Ok(axum::Json(put_agent(&state.hub, &writer, record).await?))
}

fn admins(inner: &Inner) -> usize {
    inner
        .agents
        .values()
        .filter(|a| a.role == Role::Admin)
        .count()
}

fn last_admin() -> Error {
    Error::conflict(
        "last_admin",
        "an account needs at least one admin; make another agent admin first",
    )
}

async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let writer = state.hub.writer(&live).await;
    writer.read(|inner| {
        let record = inner.agents.get(&id).ok_or_else(|| unknown_agent(&id))?;
        if record.role == Role::Admin && admins(inner) == 1 {
            return Err(last_admin());
        }
        Ok(())
    })?;
    state.hub.store.delete_agent(&id).await?;
    // Its sessions end with it, and so do their streams.
    writer.apply(|inner, _| inner.remove_agent(&id)).await;
    Ok(StatusCode::NO_CONTENT)
}
