//! Office hours of the account and of each group.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use onair_shared::office_hours::{OfficeHours, OfficeHoursSpec};

use super::Admin;
use super::groups::group;
use crate::AppState;
use crate::error::{ApiJson, Error, Result};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/accounts/{account}/office-hours",
            get(show_account).put(put_account),
        )
        .route(
            "/accounts/{account}/groups/{key}/office-hours",
            get(show_group).put(put_group).delete(delete_group),
        )
}

/// Checks a spec the way the model will read it; the error code says what is wrong.
fn validated(spec: OfficeHoursSpec) -> Result<OfficeHoursSpec> {
    OfficeHours::parse(&spec).map_err(|e| Error::bad_request(e.code(), e.to_string()))?;
    Ok(spec)
}

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
