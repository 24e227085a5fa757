//! `/accounts/{account}/groups`: departments with their own chat boxes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use onair_shared::wire;
use onair_shared::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate;
use super::{Admin, Member};
use crate::AppState;
use crate::account::group_view;
use crate::error::{ApiJson, Result};
use crate::store::GroupRecord;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Groups {
    groups: Vec<wire::Group>,
}

pub(crate) use crate::account::group;

#[utoipa::path(
    get,
    path = "/accounts/{account}/groups",
    tag = "groups",
    operation_id = "list_groups",
    summary = "The account's groups (any agent of the account may read them)",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Groups),
        (status = 403, description = "`wrong_account`: a token of another account", body = ErrorBody),
    ),
)]
async fn list(Member(live): Member) -> Result<axum::Json<Groups>> {
    let groups = live.lock().groups().values().map(group_view).collect();
    Ok(axum::Json(Groups { groups }))
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/groups/{key}",
    tag = "groups",
    operation_id = "show_group",
    summary = "One group (any agent of the account may read it)",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::Group),
        (status = 403, description = "`wrong_account`: a token of another account", body = ErrorBody),
    ),
)]
async fn show(
    Member(live): Member,
    Path((_, key)): Path<(String, String)>,
) -> Result<axum::Json<wire::Group>> {
    let inner = live.lock();
    Ok(axum::Json(group_view(group(&inner, &key)?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    /// 1 to 64 of `a-z`, `0-9` and `-`; what `data-group` names.
    #[schema(pattern = "^[a-z0-9-]{1,64}$")]
    key: String,
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/groups",
    tag = "groups",
    operation_id = "create_group",
    summary = "Add a group",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    request_body = NewGroup,
    responses(
        (status = 201, body = wire::Group),
        (status = 409, description = "`key_taken`", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/accounts/{account}/groups/{key}",
    tag = "groups",
    operation_id = "update_group",
    summary = "Rename a group",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    request_body = GroupPatch,
    responses(
        (status = 200, body = wire::Group),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    delete,
    path = "/accounts/{account}/groups/{key}",
    tag = "groups",
    operation_id = "remove_group",
    summary = "Remove a group; its agents stay",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.hub.writer(&live).await.remove_group(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}
