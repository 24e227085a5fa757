//! Health, metrics, and the files the server serves: the demo page, the
//! dashboard, the widget loader and the widget's wasm, all embedded in the
//! binary and compressed on the way out.

use std::io::Write;
use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::Error;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/widget_assets.rs"));
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    let files = OpenApiRouter::new()
        .routes(routes!(demo_page))
        .routes(routes!(dashboard_page))
        .layer(CompressionLayer::new().gzip(true).br(true));
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        // Compressed once, ahead of time, not per request.
        .routes(routes!(loader))
        .routes(routes!(widget_file))
        .merge(files)
}

#[utoipa::path(
    get,
    path = "/",
    tag = "service",
    operation_id = "demo_page",
    summary = "The demo page, with the chat box",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)),
)]
async fn demo_page() -> Response {
    page(DEMO_PAGE)
}

#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "service",
    operation_id = "dashboard_page",
    summary = "The agents' dashboard",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)),
)]
async fn dashboard_page() -> Response {
    page(DASHBOARD_PAGE)
}

/// 200 while this node can serve: its database answers and, on a node of a
/// cluster, announcements reach it; otherwise 503 naming what is down, so a
/// load balancer stops sending it traffic.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    operation_id = "healthz",
    summary = "200 while this node can serve; 503 naming what is down",
    responses(
        (status = 200, description = "`ok`", content_type = "text/plain", body = String),
        (status = 503, description = "`database_unavailable`, `storage_full` or `redis_unavailable`", body = onair_shared::wire::ErrorBody),
    ),
)]
async fn healthz(State(state): State<AppState>) -> Result<&'static str, Error> {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.hub.store.ping());
    if !matches!(ping.await, Ok(Ok(()))) {
        return Err(Error::ServiceUnavailable {
            code: "database_unavailable",
            message: "the database does not answer",
        });
    }
    // A full disk: reads are served, writes fail. Probe with one small write
    // until it works again.
    if crate::store::disk_full() {
        let now = jiff::Timestamp::now().to_string();
        let probe = state.hub.store.set_meta("healthz_write_probe", &now);
        match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
            Ok(Ok(())) => crate::store::disk_writable(),
            _ => {
                return Err(Error::ServiceUnavailable {
                    code: "storage_full",
                    message: "the disk is full: reads are served, nothing can be stored",
                });
            }
        }
    }
    if let Some(cluster) = &state.hub.cluster {
        if !cluster.bus.healthy() {
            return Err(Error::ServiceUnavailable {
                code: "redis_unavailable",
                message: "announcements from the other nodes do not reach this node (Redis)",
            });
        }
    }
    Ok("ok\n")
}

/// Whether this binary carries the widget's wasm build.
pub(crate) fn widget_built() -> bool {
    assets::BUILT
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The text exposition format", content_type = "text/plain", body = String),
    ),
)]
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

/// An embedded file with its compressed forms, made once (brotli at its
/// best quality: these bytes go to every visitor of every customer site).
struct Asset {
    identity: Bytes,
    br: Bytes,
    gzip: Bytes,
    content_type: &'static str,
    cache_control: &'static str,
    /// `W/"…"`: the first 16 bytes of the content's SHA-256, hex. Weak, since
    /// the three encodings share it.
    etag: HeaderValue,
}

impl Asset {
    fn new(body: Bytes, content_type: &'static str, cache_control: &'static str) -> Asset {
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 22,
            ..Default::default()
        };
        // Writing into a Vec cannot fail.
        let _ = brotli::BrotliCompress(&mut &body[..], &mut br, &params);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = gzip.write_all(&body);
        let gzip = gzip.finish().unwrap_or_default();
        let digest = Sha256::digest(&body);
        let mut etag = String::from("W/\"");
        for byte in &digest[..16] {
            etag.push_str(&format!("{byte:02x}"));
        }
        etag.push('"');
        Asset {
            identity: body,
            br: br.into(),
            gzip: gzip.into(),
            content_type,
            cache_control,
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("W/\"\"")),
        }
    }

    /// Whether `If-None-Match` names this content (or is `*`): the client's
    /// copy is current, and `304 Not Modified` without a body tells it so.
    fn is_current(&self, request: &HeaderMap) -> bool {
        let ours = self.etag.as_bytes();
        let ours = ours.strip_prefix(b"W/").unwrap_or(ours);
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
    }

    /// The best encoding the client accepts; `Vary` tells caches it depends on that.
    /// A copy the client shows as current (`If-None-Match`) gets `304` and the same
    /// headers, without a body: a page that loads the loader again after its five
    /// minutes pays a few hundred bytes, not the loader.
    fn respond(&self, request: &HeaderMap) -> Response {
        let accepts = |coding: &str| accepts_encoding(request, coding);
        let current = self.is_current(request);
        let (encoding, body) = if current {
            (None, Bytes::new())
        } else if accepts("br") && !self.br.is_empty() {
            (Some("br"), self.br.clone())
        } else if accepts("gzip") && !self.gzip.is_empty() {
            (Some("gzip"), self.gzip.clone())
        } else {
            (None, self.identity.clone())
        };
        let mut response = (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(self.cache_control),
                ),
                (header::VARY, HeaderValue::from_static("Accept-Encoding")),
                // Customer pages load these cross-origin and may measure them.
                (
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
                (
                    HeaderName::from_static("timing-allow-origin"),
                    HeaderValue::from_static("*"),
                ),
            ],
            body,
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::ETAG, self.etag.clone());
        if current {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
        }
        if let Some(encoding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    }
}

/// Whether `Accept-Encoding` lists `coding` without `q=0`.
fn accepts_encoding(request: &HeaderMap, coding: &str) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| {
            value.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let name = parts.next().unwrap_or_default();
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0))
                });
                name.eq_ignore_ascii_case(coding) && !refused
            })
        })
}

/// The loader, with the content-hashed names of this build's wasm and words. `cargo xtask widget`
/// put wasm-bindgen's glue into it and minified it; without a widget build it is `www/widget.js`
/// as written, whose missing glue is `null`.
/// Short-lived: a new release's loader must reach pages within minutes.
static LOADER: LazyLock<Asset> = LazyLock::new(|| {
    let text = assets::LOADER
        .replace("__ONAIR_GLUE__", "null")
        .replace("__ONAIR_WASM__", assets::WASM_NAME)
        .replace("__ONAIR_STRINGS__", assets::STRINGS_STEM);
    Asset::new(
        Bytes::from(text),
        "text/javascript; charset=utf-8",
        "public, max-age=300",
    )
});

/// The wasm and the words: names carry a content hash, so they never change
/// and may be cached for a year.
pub(super) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
static WASM: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        Bytes::from_static(assets::WASM),
        "application/wasm",
        IMMUTABLE,
    )
});

/// The words of each language but English (`strings-{hash}.{lang}.json`, JSON arrays), which
/// the loader fetches beside the wasm for a visitor of that language; English is in the wasm.
static STRINGS: LazyLock<Vec<(&str, Asset)>> = LazyLock::new(|| {
    assets::STRINGS
        .iter()
        .map(|(lang, json)| {
            let asset = Asset::new(
                Bytes::from_static(json),
                "application/json; charset=utf-8",
                IMMUTABLE,
            );
            (*lang, asset)
        })
        .collect()
});

/// Compresses the widget files ahead of the first visitor (about a second of
/// one core for brotli's best quality).
pub(crate) fn prepare_assets() {
    LazyLock::force(&LOADER);
    if assets::BUILT {
        LazyLock::force(&WASM);
        LazyLock::force(&STRINGS);
    }
}

#[utoipa::path(
    get,
    path = "/widget.js",
    tag = "service",
    operation_id = "widget_loader",
    summary = "The script tag's loader of the chat box",
    responses(
        (status = 200, description = "JavaScript, with an `ETag`", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified: `If-None-Match` named this content's `ETag`"),
    ),
)]
async fn loader(headers: HeaderMap) -> Response {
    LOADER.respond(&headers)
}

#[utoipa::path(
    get,
    path = "/widget/{file}",
    tag = "service",
    operation_id = "widget_file",
    summary = "The chat box's wasm and words of each language but English, under content-hashed names (cached for a year)",
    params(("file" = String, Path, description = "A name the loader gives")),
    responses(
        (status = 200, description = "WebAssembly, or a language's words (a JSON array of strings), with an `ETag`", content_type = "application/wasm", body = Vec<u8>),
        (status = 304, description = "Not modified: `If-None-Match` named this content's `ETag`"),
        (status = 404, description = "`not_found`", body = onair_shared::wire::ErrorBody),
        (status = 503, description = "`widget_not_built`: this server was built without the widget", body = onair_shared::wire::ErrorBody),
    ),
)]
async fn widget_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if !assets::BUILT {
        return Error::ServiceUnavailable {
            code: "widget_not_built",
            message: "this server was built without the widget; run `cargo xtask widget` and rebuild",
        }
        .into_response();
    }
    match file.as_str() {
        name if name == assets::WASM_NAME => WASM.respond(&headers),
        name => {
            let lang = name
                .strip_prefix(assets::STRINGS_STEM)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_suffix(".json"));
            match STRINGS.iter().find(|(known, _)| Some(*known) == lang) {
                Some((_, asset)) => asset.respond(&headers),
                None => {
                    Error::not_found("not_found", "there is no such widget file").into_response()
                }
            }
        }
    }
}

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
