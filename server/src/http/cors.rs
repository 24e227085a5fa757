//! CORS for the public, per-account routes (status and visitor
//! conversations): open to any origin, or limited to the account's
//! `allowed_origins`. Errors carry the headers too, so a widget on another
//! origin can read why a request failed.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{Error, Result};
use crate::hub::AccountLive;

/// Response headers a widget may read besides the simple ones: a rate-limited
/// visitor's wait.
const EXPOSED: HeaderValue = HeaderValue::from_static("Retry-After");

/// The CORS answer for a request from `Origin`; an origin the account does
/// not allow is refused outright, before any stream is opened.
fn cors(live: Option<&AccountLive>, headers: &HeaderMap) -> Result<HeaderMap> {
    let mut out = HeaderMap::new();
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let allowed = live
        .map(|l| l.lock().account().allowed_origins.clone())
        .unwrap_or_default();
    match origin {
        _ if allowed.is_empty() => {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
        }
        Some(origin) if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) => {
            if let Ok(value) = HeaderValue::from_str(origin) {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            }
            out.insert(header::VARY, HeaderValue::from_static("Origin"));
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
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
pub(crate) async fn with_cors<F, Fut>(
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

/// The answer to a preflight `OPTIONS` for routes taking `methods`.
pub(crate) async fn preflight(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    methods: &'static str,
) -> Response {
    with_cors(state, slug, headers, |_| async move {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, Last-Event-ID, Cache-Control"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        Ok(response)
    })
    .await
}

/// A CORS preflight handler for one path, with its entry in the API
/// reference (one function per path: an entry names one path).
macro_rules! preflight_route {
    ($name:ident, $tag:literal, $path:literal, $params:ty, $methods:literal) => {
        #[utoipa::path(
            options,
            path = $path,
            tag = $tag,
            summary = "CORS preflight",
            params($params),
            responses(
                (status = 204, description = "Allowed, with the methods and headers a page may use"),
                (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = onair_shared::wire::ErrorBody),
            ),
        )]
        async fn $name(
            axum::extract::State(state): axum::extract::State<crate::AppState>,
            axum::extract::Path(params): axum::extract::Path<
                std::collections::HashMap<String, String>,
            >,
            headers: axum::http::HeaderMap,
        ) -> axum::response::Response {
            let slug = params.get("account").map(String::as_str).unwrap_or_default();
            super::cors::preflight(&state, slug, &headers, $methods).await
        }
    };
}
pub(crate) use preflight_route;
