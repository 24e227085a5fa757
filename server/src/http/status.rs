//! The public status of a chat box: a snapshot and a live stream (CONTRACT §2.4).
//! No auth; CORS open, or limited to the account's `allowed_origins`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onair_shared::model::Scope;

use crate::AppState;
use crate::error::{Error, Result};
use crate::hub::AccountLive;
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

/// The CORS answer for a request from `Origin`; an origin the account does
/// not allow is refused outright, before any stream is opened.
fn cors(live: Option<&AccountLive>, headers: &HeaderMap) -> Result<HeaderMap> {
    let mut out = HeaderMap::new();
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let allowed = live
        .map(|l| l.lock().account.allowed_origins.clone())
        .unwrap_or_default();
    match origin {
        _ if allowed.is_empty() => {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        Some(origin) if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) => {
            if let Ok(value) = HeaderValue::from_str(origin) {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            }
            out.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        // No Origin: not a browser's cross-origin request (curl, a server).
        None => {}
        Some(_) => {
            return Err(Error::Forbidden {
                code: "origin_not_allowed",
                message: "this account does not allow its chat box on this website",
            });
        }
    }
    Ok(out)
}

/// Runs `handler` for the account, attaching CORS headers to its answer,
/// errors included, so a widget on another origin can read why it failed.
async fn with_cors<F, Fut>(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    handler: F,
) -> Response
where
    F: FnOnce(Arc<AccountLive>) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let live = match state.hub.account(slug).await {
        Ok(live) => live,
        Err(e) => return attach(cors(None, headers).unwrap_or_default(), e.into_response()),
    };
    match cors(Some(&live), headers) {
        Ok(cors_headers) => {
            let response = handler(live)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            attach(cors_headers, response)
        }
        Err(e) => {
            let mut open = HeaderMap::new();
            open.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            attach(open, e.into_response())
        }
    }
}

fn attach(headers: HeaderMap, mut response: Response) -> Response {
    response.headers_mut().extend(headers);
    response
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
        let mut rx = live.subscribe_scope(&scope(&uri))?;
        let current = rx.borrow_and_update().clone();
        let feeds = sse::Feeds {
            first: rx,
            second: None,
        };
        let gauge = StreamGauge::status(&hub.metrics);
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
    with_cors(&state, &slug, &headers, |_| async {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Last-Event-ID, Cache-Control"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        Ok(response)
    })
    .await
}
