//! Office hours of the account and of each group.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use onair_shared::office_hours::{OfficeHours, OfficeHoursSpec};
use onair_shared::wire::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use super::groups::group;
use crate::AppState;
use crate::error::{ApiJson, Error, Result};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_account, put_account))
        .routes(routes!(show_group, put_group, delete_group))
}

/// Checks a spec the way the model will read it; the error code says what is wrong.
fn validated(spec: OfficeHoursSpec) -> Result<OfficeHoursSpec> {
    OfficeHours::parse(&spec).map_err(|e| Error::bad_request(e.code(), e.to_string()))?;
    Ok(spec)
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/office-hours",
    tag = "groups",
    operation_id = "show_office_hours",
    summary = "The account's office hours (disabled when none are set)",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    responses(
        (status = 200, body = onair_shared::office_hours::OfficeHoursSpec),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn show_account(Admin(live): Admin) -> Result<axum::Json<OfficeHoursSpec>> {
    let inner = live.lock();
    // None set yet reads as disabled hours in the account's timezone.
    let spec = inner
        .account()
        .office_hours
        .clone()
        .unwrap_or_else(|| OfficeHoursSpec {
            enabled: false,
            timezone: inner.account().timezone.clone(),
            weekly: Default::default(),
            exceptions: Vec::new(),
        });
    Ok(axum::Json(spec))
}

#[utoipa::path(
    put,
    path = "/accounts/{account}/office-hours",
    tag = "groups",
    operation_id = "set_office_hours",
    summary = "Set the account's office hours; an error names the weekday and interval",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    request_body = onair_shared::office_hours::OfficeHoursSpec,
    responses(
        (status = 200, body = onair_shared::office_hours::OfficeHoursSpec),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn put_account(
    State(state): State<AppState>,
    Admin(live): Admin,
    ApiJson(spec): ApiJson<OfficeHoursSpec>,
) -> Result<axum::Json<OfficeHoursSpec>> {
    let spec = validated(spec)?;
    let writer = state.hub.writer(&live).await;
    let mut record = writer.read(|inner| inner.account().clone());
    record.office_hours = Some(spec.clone());
    writer.update_account(record).await?;
    Ok(axum::Json(spec))
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/groups/{key}/office-hours",
    tag = "groups",
    operation_id = "show_group_office_hours",
    summary = "A group's own office hours",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = onair_shared::office_hours::OfficeHoursSpec),
        (status = 404, description = "`unknown_group`, or `no_office_hours`: the group follows the account's", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn show_group(
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<axum::Json<OfficeHoursSpec>> {
    let inner = live.lock();
    let spec = group(&inner, &key)?.office_hours.clone().ok_or_else(|| {
        Error::not_found(
            "office_hours_not_set",
            format!("group {key:?} has no office hours of its own; it follows the account's"),
        )
    })?;
    Ok(axum::Json(spec))
}

#[utoipa::path(
    put,
    path = "/accounts/{account}/groups/{key}/office-hours",
    tag = "groups",
    operation_id = "set_group_office_hours",
    summary = "Give a group office hours of its own",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    request_body = onair_shared::office_hours::OfficeHoursSpec,
    responses(
        (status = 200, body = onair_shared::office_hours::OfficeHoursSpec),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn put_group(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
    ApiJson(spec): ApiJson<OfficeHoursSpec>,
) -> Result<axum::Json<OfficeHoursSpec>> {
    let spec = validated(spec)?;
    set_group_hours(&state, &live, &key, Some(spec.clone())).await?;
    Ok(axum::Json(spec))
}

#[utoipa::path(
    delete,
    path = "/accounts/{account}/groups/{key}/office-hours",
    tag = "groups",
    operation_id = "remove_group_office_hours",
    summary = "The group follows the account's office hours again",
    params(super::openapi::GroupPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn delete_group(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    set_group_hours(&state, &live, &key, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_group_hours(
    state: &AppState,
    live: &crate::hub::AccountLive,
    key: &str,
    spec: Option<OfficeHoursSpec>,
) -> Result<()> {
    state
        .hub
        .writer(live)
        .await
        .set_group_office_hours(key, spec)
        .await
}
