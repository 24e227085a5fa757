//! `/accounts/{account}/groups`: departments with their own chat boxes.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use onair_shared::wire;
use serde::{Deserialize, Serialize};

use super::Admin;
use super::validate;
use crate::AppState;
use crate::error::{ApiJson, Error, Result};
use crate::hub::Inner;
use crate::store::GroupRecord;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/groups", get(list).post(create))
        .route(
            "/accounts/{account}/groups/{key}",
            get(show).patch(update).delete(remove),
        )
}

#[derive(Debug, Serialize)]
struct Groups {
    groups: Vec<wire::Group>,
}

fn view(record: &GroupRecord) -> wire::Group {
    wire::Group {
        key: record.key.clone(),
        name: record.name.clone(),
    }
}

pub(crate) fn unknown_group(key: &str) -> Error {
    Error::not_found(
        "unknown_group",
        format!("there is no group {key:?} in this account"),
    )
}

pub(crate) fn group<'a>(inner: &'a Inner, key: &str) -> Result<&'a GroupRecord> {
    inner.groups.get(key).ok_or_else(|| unknown_group(key))
}

async fn list(Admin(live): Admin) -> Result<axum::Json<Groups>> {
    let groups = live.lock().groups.values().map(view).collect();
    Ok(axum::Json(Groups { groups }))
}

async fn show(
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<axum::Json<wire::Group>> {
    let inner = live.lock();
    Ok(axum::Json(view(group(&inner, &key)?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    key: String,
    name: String,
}

async fn create(
    State(state): State<AppState>,
    Admin(live): Admin,
    ApiJson(new): ApiJson<NewGroup>,
) -> Result<(StatusCode, axum::Json<wire::Group>)> {
    let key = validate::key("key", &new.key)?;
    let name = validate::name("name", &new.name)?;
    let writer = state.hub.writer(&live).await;
    if writer.read(|inner| inner.groups.contains_key(&key)) {
        return Err(Error::conflict(
            "key_taken",
            format!("a group with the key {key:?} already exists"),
        ));
    }
    let record = GroupRecord {
        account_id: live.id.clone(),
        key,
        name,
        office_hours: None,
        created_at: writer.now(),
    };
    state.hub.store.put_group(&record).await?;
    let response = view(&record);
    writer
        .apply(|inner, _| {
            inner.groups.insert(record.key.clone(), record);
            inner.sync_model();
        })
        .await;
    Ok((StatusCode::CREATED, axum::Json(response)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    name: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
    ApiJson(patch): ApiJson<GroupPatch>,
) -> Result<axum::Json<wire::Group>> {
    let writer = state.hub.writer(&live).await;
    let mut record = writer.read(|inner| group(inner, &key).cloned())?;
    if let Some(name) = &patch.name {
        record.name = validate::name("name", name)?;
    }
    state.hub.store.put_group(&record).await?;
    let response = view(&record);
    writer
        .apply(|inner, _| inner.groups.insert(key, record))
        .await;
    Ok(axum::Json(response))
}

async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    let writer = state.hub.writer(&live).await;
    writer.read(|inner| group(inner, &key).map(drop))?;
    state.hub.store.delete_group(&live.id, &key).await?;
    writer
        .apply(|inner, _| {
            inner.groups.remove(&key);
            // Its members leave it; one left in no group now counts for every group.
            for agent in inner.agents.values_mut() {
                agent.groups.retain(|k| k != &key);
            }
            inner.sync_model();
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
