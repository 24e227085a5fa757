//! Health, metrics and the pages the server serves.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/", get(|| async { Html(DEMO_PAGE) }))
        .route("/dashboard", get(|| async { Html(DASHBOARD_PAGE) }))
        .route("/widget.js", get(widget_js))
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
const WIDGET_JS: &str = include_str!("../../../www/widget.js");

async fn widget_js() -> Response {
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
        WIDGET_JS,
    )
        .into_response()
}
