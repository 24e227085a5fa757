//! The public status of a chat box: a snapshot and a live stream (docs/status.md).
//! No auth; CORS open, or limited to the account's `allowed_origins`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use onair_shared::model::Scope;
use onair_shared::wire::{ErrorBody, Lang};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cors::with_cors;
use crate::AppState;
use crate::error::{Error, Result};
use crate::metrics::StreamGauge;
use crate::sse;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(snapshot, status_preflight))
        .routes(routes!(events, status_events_preflight))
}

/// The query of both status routes, for the API reference (the handlers read
/// it with [`scope`] and [`lang`]).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StatusQuery {
    /// A group's key: its chat box; absent or empty, the whole site's.
    group: Option<String>,
    /// The chat box's language, for `message`: `en`, `fr`, `de`, `it` or `es`
    /// (a tag such as `de-CH` by its language); absent, English.
    #[param(pattern = "^([Ee][Nn]|[Ff][Rr]|[Dd][Ee]|[Ii][Tt]|[Ee][Ss])([-_][A-Za-z0-9-]*)?$")]
    lang: Option<String>,
}

/// `?group=<key>`; absent or empty means the whole site.
fn scope(uri: &Uri) -> Scope {
    match query_param(uri, "group") {
        Some(key) => Scope::Group(key.to_owned()),
        None => Scope::Site,
    }
}

/// `?lang=en|fr|de|it|es` (a tag such as `de-CH` by its language); absent
/// or empty means English. Another language is refused, so that a mistake
/// shows rather than falling back unnoticed.
fn lang(uri: &Uri) -> Result<Lang> {
    let Some(tag) = query_param(uri, "lang") else {
        return Ok(Lang::En);
    };
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    Lang::parse(&primary.to_ascii_lowercase()).ok_or_else(|| {
        Error::bad_request(
            "invalid_lang",
            format!(
                "lang {tag:?} is not one of {}",
                Lang::ALL.map(Lang::as_str).join(", ")
            ),
        )
    })
}

/// The first non-empty value of `name` in the query (not percent-decoded:
/// group keys and languages need none).
fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/status",
    tag = "status",
    operation_id = "status",
    summary = "What a chat box shows now",
    params(
        super::openapi::AccountSlug,
        StatusQuery,
    ),
    responses(
        (status = 200, body = onair_shared::wire::StatusSnapshot),
        (status = 400, description = "`invalid_lang`: not one of the chat box languages", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
    ),
)]
async fn snapshot(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    with_cors(&state, &slug, &headers, |live| async move {
        let snapshot = live.snapshot(&scope(&uri), lang(&uri)?)?;
        Ok(([(header::CACHE_CONTROL, "no-cache")], axum::Json(snapshot)).into_response())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/status/events",
    tag = "status",
    operation_id = "status_events",
    summary = "`event: status` with the snapshot on connect and on every change that shows",
    params(
        super::openapi::AccountSlug,
        StatusQuery,
    ),
    responses(
        (status = 200, description = "Server-sent events (each one as the schema says), kept alive with comments", content_type = "text/event-stream", body = super::openapi::StatusStreamEvent),
        (status = 400, description = "`invalid_lang`: not one of the chat box languages", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
    ),
)]
async fn events(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let hub = Arc::clone(&state.hub);
    with_cors(&state, &slug, &headers, |live| async move {
        let gauge = StreamGauge::status(&hub.metrics)?;
        let mut rx = live.subscribe_scope(&scope(&uri), lang(&uri)?)?;
        let current = rx.borrow_and_update().clone();
        let feeds = sse::Feeds {
            first: Some(rx),
            ..sse::Feeds::default()
        };
        let stream = sse::stream(
            vec![sse::RETRY, current],
            feeds,
            None,
            hub.signals(),
            Arc::clone(&hub.metrics),
            gauge,
        );
        Ok(sse::response(stream))
    })
    .await
}

super::cors::preflight_route!(
    status_preflight,
    "status",
    "/accounts/{account}/status",
    super::openapi::AccountSlug,
    "GET, OPTIONS"
);
super::cors::preflight_route!(
    status_events_preflight,
    "status",
    "/accounts/{account}/status/events",
    super::openapi::AccountSlug,
    "GET, OPTIONS"
);
