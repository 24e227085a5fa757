//! The files the server serves: pages, the widget loader, the wasm build.

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
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
