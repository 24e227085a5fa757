//! The public status of a chat box: a snapshot and a live stream (docs/status.md).
//! No auth; CORS open, or limited to the account's `allowed_origins`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onair_shared::model::Scope;

use super::cors::{self, with_cors};
use crate::AppState;
use crate::metrics::StreamGauge;
use crate::sse;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/accounts/{account}/status",
            get(snapshot).options(preflight),
        )
        .route(
            "/accounts/{account}/status/events",
            get(events).options(preflight),
        )
}

/// `?group=<key>`; absent or empty means the whole site.
fn scope(uri: &Uri) -> Scope {
    let group = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("group="))
        .filter(|key| !key.is_empty());
    match group {
        Some(key) => Scope::Group(key.to_owned()),
        None => Scope::Site,
    }
}

async fn snapshot(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    with_cors(&state, &slug, &headers, |live| async move {
        let snapshot = live.snapshot(&scope(&uri))?;
        Ok(([(header::CACHE_CONTROL, "no-cache")], axum::Json(snapshot)).into_response())
    })
    .await
}

async fn events(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let hub = Arc::clone(&state.hub);
    with_cors(&state, &slug, &headers, |live| async move {
        let gauge = StreamGauge::status(&hub.metrics)?;
        let mut rx = live.subscribe_scope(&scope(&uri))?;
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

async fn preflight(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    cors::preflight(&state, &slug, &headers, "GET, OPTIONS").await
}
