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
use crate::account::group_view;
use crate::error::{ApiJson, Result};
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

pub(crate) use crate::account::group;

async fn list(Admin(live): Admin) -> Result<axum::Json<Groups>> {
    let groups = live.lock().groups().values().map(group_view).collect();
    Ok(axum::Json(Groups { groups }))
}

async fn show(
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<axum::Json<wire::Group>> {
    let inner = live.lock();
    Ok(axum::Json(group_view(group(&inner, &key)?)))
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
    let record = GroupRecord {
        account_id: live.id.clone(),
        key,
        name,
        office_hours: None,
        created_at: writer.now(),
    };
    let view = writer.add_group(record).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
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
    let name = patch
        .name
        .as_deref()
        .map(|name| validate::name("name", name))
        .transpose()?;
    let writer = state.hub.writer(&live).await;
    let view = match name {
        Some(name) => writer.rename_group(&key, name).await?,
        None => writer.read(|inner| group(inner, &key).map(group_view))?,
    };
    Ok(axum::Json(view))
}

async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.hub.writer(&live).await.remove_group(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}
