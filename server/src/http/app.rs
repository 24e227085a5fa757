//! The agent's app around the dashboard (docs/notifications.md, "The agent's
//! app"): its web app manifest, icons, service worker and the dashboard's
//! notifications module, embedded in the binary like the pages.

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower_http::compression::CompressionLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manifest))
        .routes(routes!(service_worker))
        .routes(routes!(notifications))
        .routes(routes!(icon))
        .layer(CompressionLayer::new().gzip(true).br(true))
}

#[utoipa::path(
    get,
    path = "/manifest.webmanifest",
    tag = "service",
    operation_id = "app_manifest",
    summary = "The agent's app: its web app manifest",
    responses((status = 200, description = "The manifest", content_type = "application/manifest+json", body = Object)),
)]
async fn manifest() -> Response {
    file(MANIFEST, "application/manifest+json", NO_CACHE)
}

#[utoipa::path(
    get,
    path = "/dashboard/notifications.js",
    tag = "service",
    operation_id = "dashboard_notifications",
    summary = "The dashboard's notifications module",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript", body = String)),
)]
async fn notifications() -> Response {
    file(NOTIFICATIONS, JAVASCRIPT, NO_CACHE)
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
#[utoipa::path(
    get,
    path = "/sw.js",
    tag = "service",
    operation_id = "service_worker",
    summary = "The agent's app: its service worker (scope `/`)",
    responses(
        (status = 200, description = "JavaScript", content_type = "text/javascript", body = String),
    ),
)]
async fn service_worker() -> Response {
    let mut response = file(SERVICE_WORKER, JAVASCRIPT, NO_CACHE);
    response.headers_mut().insert(
        HeaderName::from_static("service-worker-allowed"),
        HeaderValue::from_static("/"),
    );
    response
}

#[utoipa::path(
    get,
    path = "/icons/{file}",
    tag = "service",
    operation_id = "app_icon",
    summary = "An icon of the agent's app",
    params(("file" = String, Path, description = "icon-192.png, icon-512.png, maskable-192.png, maskable-512.png or icon.svg")),
    responses(
        (status = 200, description = "A PNG or SVG image", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "`not_found`", body = onair_shared::wire::ErrorBody),
    ),
)]
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
