//! The agent's app around the dashboard (docs/notifications.md, "The agent's
//! app"): its web app manifest, icons, service worker and the dashboard's
//! notifications module, embedded in the binary like the pages.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::AppState;
use crate::error::Error;

const MANIFEST: &str = include_str!("../../../www/manifest.webmanifest");
const SERVICE_WORKER: &str = include_str!("../../../www/sw.js");
const NOTIFICATIONS: &str = include_str!("../../../www/notifications.js");

/// The icons by file name, with their content types.
const ICONS: &[(&str, &str, &[u8])] = &[
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../../../www/icons/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../../../www/icons/icon-512.png"),
    ),
    (
        "maskable-192.png",
        "image/png",
        include_bytes!("../../../www/icons/maskable-192.png"),
    ),
    (
        "maskable-512.png",
        "image/png",
        include_bytes!("../../../www/icons/maskable-512.png"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../../www/icons/icon.svg"),
    ),
];

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// Revalidated on every use: a new release's files reach installed apps at
/// once (the browser also checks the service worker itself at least daily).
const NO_CACHE: &str = "no-cache";
/// Icons change only with a release; a day is short enough.
const ICON_CACHE: &str = "public, max-age=86400";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/manifest.webmanifest",
            get(|| async { file(MANIFEST, "application/manifest+json", NO_CACHE) }),
        )
        .route("/sw.js", get(service_worker))
        .route(
            "/dashboard/notifications.js",
            get(|| async { file(NOTIFICATIONS, JAVASCRIPT, NO_CACHE) }),
        )
        .route("/icons/{file}", get(icon))
        .layer(CompressionLayer::new().gzip(true).br(true))
}

fn file(body: &'static str, content_type: &'static str, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// At the root, so that its scope may be `/` (the dashboard and the links
/// in notifications); the header says so explicitly.
async fn service_worker() -> Response {
    let mut response = file(SERVICE_WORKER, JAVASCRIPT, NO_CACHE);
    response.headers_mut().insert(
        HeaderName::from_static("service-worker-allowed"),
        HeaderValue::from_static("/"),
    );
    response
}

async fn icon(Path(name): Path<String>) -> Response {
    match ICONS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static(ICON_CACHE)),
            ],
            *bytes,
        )
            .into_response(),
        None => Error::not_found("not_found", "there is no such icon").into_response(),
    }
}
