//! What the chat box costs a customer's page, measured in headless Chromium:
//!
//! - bytes transferred for the widget (loader `widget.js`, with wasm-bindgen's glue in it, + wasm, and the
//!   file of the chat box's words when its language is not English, which the wasm has), as the
//!   browser fetched them: compressed, with whatever `Accept-Encoding` Chromium sends;
//! - time from the script tag to the first status: the customer page records
//!   `performance.now()` just before its `<script … async>` tag and again when the chat box's
//!   `data-status` first leaves `connecting`.
//!
//! Each load is a fresh Chromium profile (cold HTTP and code caches) against a release build of
//! `onair` on this machine, with the page on another origin, as on a customer's website.
//!
//! ```sh
//! cargo xtask measure                                   # builds the widget and server first
//! cargo run -p onair-tests --example widget_metrics -- --loads 10
//! ```
//!
//! The release binary comes from `ONAIR_RELEASE_BIN`, or is built; it must embed the widget,
//! so build it after `cargo xtask widget`.

use std::collections::BTreeMap;
use std::time::Duration;

use onair_tests::browser::{Browser, BrowserOptions, Chromedriver, CustomerSite, Embed};
use onair_tests::{Database, Options, PATIENCE, Server, onair_release_bin};
use serde_json::Value;

/// The widget's parts: the loader (with the wasm-bindgen glue in it) and the wasm; and, in a
/// language but English (which the wasm has), [`WORDS`].
const PARTS: usize = 2;

/// The file of the chat box's words in a language but English, when the loader fetched one.
const WORDS: &str = "3. words (JSON)";

#[tokio::main]
async fn main() {
    let loads = loads_from_args();
    let database = Database::new();
    let binary = onair_release_bin();
    let mut server = Server::start_with(
        &database,
        Options {
            binary: Some(binary),
            demo: true,
            ..Options::default()
        },
    );
    onair_tests::browser::require_widget(&server).await;
    let site = CustomerSite::start(
        &server.base,
        Embed {
            account: "demo",
            ..Embed::default()
        },
    )
    .await;
    let driver = Chromedriver::start().await;

    let mut first_status_ms = Vec::new();
    let mut last_sizes = BTreeMap::new();
    let mut user_agent = String::new();
    let mut resource_timing_bytes = 0;
    for load in 1..=loads {
        let browser = Browser::with_options(
            &driver,
            BrowserOptions {
                network_log: true,
                ..BrowserOptions::default()
            },
        )
        .await;
        browser.goto(&site.url).await;
        browser
            .wait_until(
                "the first status",
                "window.onairLog.changes.some(function (c) { return c.status !== 'connecting'; })",
                PATIENCE,
            )
            .await;
        let log = browser.eval("return window.onairLog").await;
        let first = log["changes"]
            .as_array()
            .and_then(|changes| changes.iter().find(|c| c["status"] != "connecting"))
            .expect("a first status");
        let elapsed =
            first["t"].as_f64().unwrap_or(f64::NAN) - log["scriptAt"].as_f64().unwrap_or(f64::NAN);
        let sizes = widget_sizes(&browser, &server.base).await;
        resource_timing_bytes =
            resource_timing_bytes.max(resource_timing(&browser, &server.base).await);
        println!(
            "load {load:>2}: first status `{}` after {elapsed:>5.0} ms; {} bytes transferred",
            first["status"].as_str().unwrap_or("?"),
            sizes.values().map(|size| size.wire).sum::<u64>()
        );
        first_status_ms.push(elapsed);
        last_sizes = sizes;
        if user_agent.is_empty() {
            user_agent = browser
                .eval("return navigator.userAgent")
                .await
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        browser.close().await;
    }
    server.stop();

    println!();
    let chromium = user_agent
        .split_whitespace()
        .find_map(|token| {
            token
                .strip_prefix("HeadlessChrome/")
                .or(token.strip_prefix("Chrome/"))
        })
        .unwrap_or("?");
    println!(
        "Widget cost on a customer page: {loads} cold loads in headless Chromium {chromium}, \
         server {}:",
        binary.display()
    );
    println!();
    println!("| part | encoding | transferred (bytes) | body, compressed | body, decoded |");
    println!("| --- | --- | ---: | ---: | ---: |");
    let mut total = Size::default();
    for (name, size) in &last_sizes {
        println!(
            "| {name} | {} | {} | {} | {} |",
            size.encoding, size.wire, size.body, size.decoded
        );
        total.wire += size.wire;
        total.body += size.body;
        total.decoded += size.decoded;
    }
    println!(
        "| **total** | | **{}** | **{}** | {} |",
        total.wire, total.body, total.decoded
    );
    if resource_timing_bytes == 0 {
        println!(
            "(From DevTools network events. The page's own Resource Timing API reported 0 bytes: \
             check that the responses carry `Timing-Allow-Origin`.)"
        );
    } else {
        println!("(Resource Timing API, transferSize of them all: {resource_timing_bytes} bytes.)");
    }
    println!();
    first_status_ms.sort_by(f64::total_cmp);
    println!(
        "Script tag to first status: median {:.0} ms, max {:.0} ms (all: {})",
        median(&first_status_ms),
        first_status_ms.last().copied().unwrap_or(f64::NAN),
        first_status_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The bytes of one part of the widget.
#[derive(Debug, Default, Clone)]
struct Size {
    /// `Content-Encoding` of the response.
    encoding: String,
    /// On the wire: response headers and compressed body (DevTools' "transferred").
    wire: u64,
    /// The response headers, as Chromium counts them when the response starts.
    headers: u64,
    /// The compressed body (with HTTP/1.1 chunk framing): `wire - headers`.
    body: u64,
    /// The body after decompression.
    decoded: u64,
}

/// The widget's responses, from Chromium's DevTools network events (headers included,
/// which Resource Timing's `transferSize` also counts, but only for cross-origin responses
/// that carry `Timing-Allow-Origin`).
async fn widget_sizes(browser: &Browser, onair_origin: &str) -> BTreeMap<&'static str, Size> {
    let mut urls: BTreeMap<String, String> = BTreeMap::new();
    let mut sizes: BTreeMap<String, Size> = BTreeMap::new();
    let mut finished: BTreeMap<String, u64> = BTreeMap::new();
    // The log is read in pieces; the wasm may finish a moment after the first status.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        for event in browser.network_events().await {
            let params = &event["params"];
            let id = params["requestId"].as_str().unwrap_or_default().to_owned();
            match event["method"].as_str() {
                Some("Network.responseReceived") => {
                    let response = &params["response"];
                    let url = response["url"].as_str().unwrap_or_default();
                    if !url.starts_with(onair_origin) {
                        continue;
                    }
                    urls.insert(id.clone(), url.to_owned());
                    let headers = &response["headers"];
                    let encoding = header(headers, "content-encoding").unwrap_or("identity");
                    let entry = sizes.entry(id).or_default();
                    entry.encoding = encoding.to_owned();
                    entry.headers = response["encodedDataLength"].as_u64().unwrap_or(0);
                }
                Some("Network.dataReceived") => {
                    let entry = sizes.entry(id).or_default();
                    entry.decoded += params["dataLength"].as_u64().unwrap_or(0);
                }
                Some("Network.loadingFinished") => {
                    finished.insert(id, params["encodedDataLength"].as_u64().unwrap_or(0));
                }
                _ => {}
            }
        }
        let found = widget_parts(&urls);
        let parts = PARTS + usize::from(found.contains_key(WORDS));
        let done = found.len() == parts && found.values().all(|id| finished.contains_key(*id));
        if done {
            return found
                .into_iter()
                .map(|(name, id)| {
                    let mut size = sizes.get(id).cloned().unwrap_or_default();
                    size.wire = finished[id];
                    size.body = size.wire.saturating_sub(size.headers);
                    (name, size)
                })
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the network log lacks some of the widget's responses: {urls:?}, finished {finished:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The widget's bytes as the page itself can see them: the sum of `transferSize` of its
/// responses in `performance.getEntriesByType('resource')`.
async fn resource_timing(browser: &Browser, onair_origin: &str) -> u64 {
    let total = browser
        .eval_with(
            "var origin = arguments[0];\
             return performance.getEntriesByType('resource')\
               .filter(function (e) { return e.name.indexOf(origin) === 0 && /\\/widget(\\.js|\\/)/.test(e.name); })\
               .reduce(function (sum, e) { return sum + e.transferSize; }, 0);",
            vec![Value::String(onair_origin.to_owned())],
        )
        .await;
    total.as_u64().unwrap_or(0)
}

/// Which request is which part of the widget.
fn widget_parts(urls: &BTreeMap<String, String>) -> BTreeMap<&'static str, &String> {
    let mut parts = BTreeMap::new();
    for (id, url) in urls {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let name = if path.ends_with("/widget.js") {
            "1. loader and glue (widget.js)"
        } else if path.contains("/widget/") && path.ends_with(".wasm") {
            "2. wasm"
        } else if path.contains("/widget/") && path.ends_with(".json") {
            WORDS
        } else {
            continue;
        };
        parts.insert(name, id);
    }
    parts
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `--loads N` (default 10).
fn loads_from_args() -> usize {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 10,
        [flag, n] if flag == "--loads" => {
            n.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| usage())
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: cargo run -p onair-tests --example widget_metrics [-- --loads N]");
    std::process::exit(2)
}
