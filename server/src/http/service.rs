//! Health, metrics, and the files the server serves: the demo page, the
//! dashboard, the widget loader and the widget's wasm, all embedded in the
//! binary and compressed on the way out.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::AppState;
use crate::error::Error;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/widget_assets.rs"));
}

pub(crate) fn router() -> Router<AppState> {
    let files = Router::new()
        .route("/", get(|| async { page(DEMO_PAGE) }))
        .route("/dashboard", get(|| async { page(DASHBOARD_PAGE) }))
        .route("/widget.js", get(loader))
        .route("/widget/{file}", get(widget_file))
        .layer(CompressionLayer::new().gzip(true).br(true));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(files)
}

/// Whether this binary carries the widget's wasm build.
pub(crate) fn widget_built() -> bool {
    assets::BUILT
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.hub.metrics.render(state.hub.session_counts());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

const DEMO_PAGE: &str = include_str!("../../../www/index.html");
const DASHBOARD_PAGE: &str = include_str!("../../../www/dashboard.html");
const LOADER_TEMPLATE: &str = include_str!("../../../www/widget.js");

/// The loader with the content-hashed names of this build's glue and wasm.
static LOADER: LazyLock<String> = LazyLock::new(|| {
    LOADER_TEMPLATE
        .replace("__ONAIR_GLUE__", assets::GLUE_NAME)
        .replace("__ONAIR_WASM__", assets::WASM_NAME)
});

fn page(html: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        html,
    )
        .into_response()
}

/// Short-lived: a new release's loader must reach pages within minutes.
async fn loader() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        LOADER.as_str(),
    )
        .into_response()
}

/// The glue and wasm: names carry a content hash, so they never change and
/// may be cached for a year. Fetched cross-origin by customer pages.
async fn widget_file(Path(file): Path<String>) -> Response {
    if !assets::BUILT {
        return Error::ServiceUnavailable {
            code: "widget_not_built",
            message: "this server was built without the widget; run `cargo xtask widget` and rebuild",
        }
        .into_response();
    }
    let (body, content_type): (&'static [u8], &'static str) = match file.as_str() {
        name if name == assets::GLUE_NAME => (assets::GLUE, "text/javascript; charset=utf-8"),
        name if name == assets::WASM_NAME => (assets::WASM, "application/wasm"),
        _ => return Error::not_found("not_found", "there is no such widget file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body,
    )
        .into_response()
}
