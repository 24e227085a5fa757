//! The files the server serves: pages, the widget loader, the wasm build.

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
    ETAG, IF_NONE_MATCH,
};

use crate::helpers::*;

const VARY: reqwest::header::HeaderName = reqwest::header::VARY;
const TIMING_ALLOW_ORIGIN: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("timing-allow-origin");

async fn fetch(app: &TestApp, path: &str, encoding: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT_ENCODING, encoding)
        .send()
        .await
        .expect("request")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_demo_page_and_the_dashboard_are_html_that_is_not_cached() {
    let app = spawn_app().await;
    for path in ["/", "/dashboard"] {
        let response = fetch(&app, path, "identity").await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header(&response, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
    }
    let demo = fetch(&app, "/", "identity")
        .await
        .text()
        .await
        .expect("text");
    assert!(demo.contains("/widget.js") && demo.contains("data-account=\"demo\""));
}

#[tokio::test]
async fn the_loader_is_short_lived_open_to_every_origin_and_compressed() {
    let app = spawn_app().await;
    let response = fetch(&app, "/widget.js", "gzip").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=300");
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert_eq!(header(&response, CONTENT_ENCODING), "gzip");

    assert_eq!(header(&response, VARY), "Accept-Encoding");
    assert_eq!(header(&response, TIMING_ALLOW_ORIGIN), "*");

    let response = fetch(&app, "/widget.js", "gzip, deflate, br, zstd").await;
    assert_eq!(header(&response, CONTENT_ENCODING), "br");
    let response = fetch(&app, "/widget.js", "br;q=0, gzip").await;
    assert_eq!(header(&response, CONTENT_ENCODING), "gzip");
    let plain = fetch(&app, "/widget.js", "identity").await;
    assert_eq!(header(&plain, CONTENT_ENCODING), "");
    assert!(plain.text().await.expect("text").contains("data-account"));
}

/// A page loading the loader again after its five minutes sends the `ETag` it has; the
/// same content is answered `304` without a body, other content in full.
#[tokio::test]
async fn a_loader_the_client_has_already_is_answered_not_modified() {
    let app = spawn_app().await;
    let first = fetch(&app, "/widget.js", "br").await;
    let etag = header(&first, ETAG).to_owned();
    assert!(
        etag.starts_with("W/\"") && etag.len() == 2 + 2 + 32,
        "{etag:?}"
    );
    let again = |if_none_match: &str| {
        app.client
            .get(app.url("/widget.js"))
            .header(ACCEPT_ENCODING, "br")
            .header(IF_NONE_MATCH, if_none_match.to_owned())
            .send()
    };
    let response = again(&etag).await.expect("request");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&response, ETAG), etag);
    assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=300");
    assert_eq!(header(&response, CONTENT_ENCODING), "");
    assert!(response.bytes().await.expect("body").is_empty());
    // The strong form of the same tag, and a list holding it, match too.
    let strong = etag.trim_start_matches("W/").to_owned();
    for tag in [strong.as_str(), &format!("\"other\", {etag}"), "*"] {
        let response = again(tag).await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
    }
    let response = again("W/\"0000\"").await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_ENCODING), "br");
    assert!(!response.bytes().await.expect("body").is_empty());
}

/// The loader (with the glue in it) names this build's wasm, which is immutable,
/// cross-origin readable, and served as `application/wasm`.
#[tokio::test]
async fn the_widget_build_is_served_under_content_hashed_names() {
    let app = spawn_app().await;
    let loader = fetch(&app, "/widget.js", "identity")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        !loader.contains("__ONAIR_"),
        "placeholders left in the loader"
    );
    if !onair_server::widget_built() {
        let answer = app.get("/widget/onair_widget_bg.wasm", None).await;
        answer.expect_error(StatusCode::SERVICE_UNAVAILABLE, "widget_not_built");
        // `cargo xtask test` builds the widget first; a plain `cargo test` may not have it.
        assert!(
            std::env::var_os("ONAIR_TEST_ALL").is_none_or(|v| v != "1"),
            "this test binary was built without the widget: run `cargo xtask widget` first"
        );
        eprintln!("skipped the rest: this test binary was built without the widget");
        return;
    }
    let name = |prefix: &str, suffix: &str| -> String {
        let start = loader.find(prefix).expect("a hashed name in the loader");
        let end = start + loader[start..].find(suffix).expect("its extension") + suffix.len();
        loader[start..end].to_owned()
    };
    let wasm = name("onair_widget_bg-", ".wasm");

    let response = fetch(&app, &format!("/widget/{wasm}"), "identity").await;
    assert_eq!(response.status(), StatusCode::OK, "{wasm}");
    assert!(header(&response, CONTENT_TYPE).starts_with("application/wasm"));
    assert_eq!(
        header(&response, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let bytes = fetch(&app, &format!("/widget/{wasm}"), "identity")
        .await
        .bytes()
        .await
        .expect("wasm");
    assert_eq!(&bytes[..4], b"\0asm");
    let compressed = fetch(&app, &format!("/widget/{wasm}"), "br").await;
    assert_eq!(header(&compressed, CONTENT_ENCODING), "br");

    let answer = app.get("/widget/onair_widget-000000000000.js", None).await;
    answer.expect_error(StatusCode::NOT_FOUND, "not_found");
}
