//! Real browsers for the end-to-end tests: Debian's Chromium, headless, driven through
//! chromedriver with fantoccini.
//!
//! - [`Chromedriver`] runs one `chromedriver` on a free port and kills it (and every browser it
//!   started) when dropped.
//! - [`Browser`] is one WebDriver session: a fresh Chromium with its own empty profile, so no
//!   cache, storage or cookie carries over from another session.
//! - [`CustomerSite`] is a tiny website on its own port that embeds the chat box the way a
//!   customer would, so the widget is always loaded cross-origin. Its page records every
//!   `data-status` the chat box takes, with the time, in `window.onairLog` ([`RECORDER`]).
//!
//! Waiting is polling the page every [`POLL`] until a JavaScript condition holds or a
//! deadline passes: a test never sleeps in place of waiting.

use std::net::TcpListener as StdTcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{PATIENCE, Server};

/// How often a wait asks the page again.
pub const POLL: Duration = Duration::from_millis(20);

/// Debian's chromium and its matching driver; `ONAIR_CHROMIUM` and `ONAIR_CHROMEDRIVER`
/// override them.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What Chromium needs to run headless as root in a container, and to stay quiet: no GPU, no
/// `/dev/shm` (often tiny in containers), no background traffic to Google (this machine has no
/// network beyond loopback, and a stray request only slows a test down), no QUIC.
pub const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    // The widget picks its language from `data-lang`, else the browser's: make the latter
    // English whatever the machine's locale, so tests and screenshots do not depend on it.
    "--lang=en-US",
];

fn chromium_path() -> PathBuf {
    std::env::var_os("ONAIR_CHROMIUM").map_or_else(|| CHROMIUM.into(), PathBuf::from)
}

fn chromedriver_path() -> PathBuf {
    std::env::var_os("ONAIR_CHROMEDRIVER").map_or_else(|| CHROMEDRIVER.into(), PathBuf::from)
}

/// A running `chromedriver`. Dropping it kills its whole process group, so a failing test
/// leaves no driver and no Chromium behind.
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    /// Where WebDriver sessions are created, e.g. `http://127.0.0.1:41234`.
    pub url: String,
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it says it is ready.
    pub async fn start() -> Chromedriver {
        // The port is free when we look, but another process could take it before chromedriver
        // binds it; chromedriver then exits at once, and we try another.
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Chromedriver::try_start().await {
                Ok(driver) => return driver,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("chromedriver did not start: {last_failure}");
    }

    async fn try_start() -> Result<Chromedriver, String> {
        let port = free_port();
        let binary = chromedriver_path();
        let mut command = Command::new(&binary);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: the browsers it starts join it, and Drop kills them all.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|error| {
            format!(
                "cannot run {}: {error} (install Debian's chromium-driver, or run `cargo xtask \
                 setup`)",
                binary.display()
            )
        })?;
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status_url = format!("{}/status", driver.url);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = match client.get(&status_url).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            // Checked after asking, so that a ready answer comes from a driver that is ours
            // and still running, not from one that took the port from under it.
            if let Some(status) = driver.child.try_wait().expect("try_wait") {
                return Err(format!("chromedriver exited with {status}"));
            }
            if ready {
                return Ok(driver);
            }
            if Instant::now() >= deadline {
                return Err(format!("{status_url} did not answer within {PATIENCE:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The negative pid names the process group: chromedriver and the Chromiums it started.
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// How to open a browser.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The size of the viewport in CSS pixels.
    pub width: u32,
    pub height: u32,
    /// Emulate a phone: touch and a mobile user agent.
    pub phone: bool,
    /// Device pixels per CSS pixel (screenshots are this much larger).
    pub device_scale: f64,
    /// Record Chromium's DevTools network events, for [`Browser::network_events`].
    pub network_log: bool,
}

impl Default for BrowserOptions {
    /// A desktop: 1280×800.
    fn default() -> Self {
        BrowserOptions {
            width: 1280,
            height: 800,
            phone: false,
            device_scale: 1.0,
            network_log: false,
        }
    }
}

impl BrowserOptions {
    /// A phone: 390×844 CSS pixels at two device pixels each, touch, a mobile user agent.
    pub fn phone() -> BrowserOptions {
        BrowserOptions {
            width: 390,
            height: 844,
            phone: true,
            device_scale: 2.0,
            network_log: false,
        }
    }
}

/// One WebDriver session: a headless Chromium with a fresh profile.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    /// The profile; removed when the browser is dropped.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A desktop-sized browser.
    pub async fn new(driver: &Chromedriver) -> Browser {
        Browser::with_options(driver, BrowserOptions::default()).await
    }

    pub async fn with_options(driver: &Chromedriver, options: BrowserOptions) -> Browser {
        let profile = tempfile::tempdir().expect("temp dir for the browser profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!(
            "--window-size={},{}",
            options.width, options.height
        ));
        if !options.phone && options.device_scale != 1.0 {
            args.push(format!(
                "--force-device-scale-factor={}",
                options.device_scale
            ));
        }
        let mut chrome_options = json!({
            "binary": chromium_path(),
            "args": args,
        });
        if options.phone {
            chrome_options["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": options.width,
                    "height": options.height,
                    "pixelRatio": options.device_scale,
                    "touch": true,
                    "mobile": true,
                },
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        if options.network_log {
            capabilities.insert("goog:loggingPrefs".into(), json!({"performance": "ALL"}));
        }
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {} through chromedriver: {error}",
                    chromium_path().display()
                )
            });
        let browser = Browser {
            client,
            _profile: profile,
        };
        if !options.phone {
            // `--window-size` sizes the window; make sure the viewport is what was asked for.
            browser.fit_viewport(options.width, options.height).await;
        }
        browser
    }

    /// Resizes the window so that the viewport is `width`×`height` CSS pixels.
    async fn fit_viewport(&self, width: u32, height: u32) {
        let inner = self.eval("return [innerWidth, innerHeight]").await;
        let (inner_width, inner_height) = (
            inner[0].as_u64().unwrap_or(0),
            inner[1].as_u64().unwrap_or(0),
        );
        if (inner_width, inner_height) == (u64::from(width), u64::from(height)) {
            return;
        }
        let (_, _, outer_width, outer_height) =
            expect_ok(self.client.get_window_rect().await, "get the window size");
        let grow = |outer: u64, inner: u64, wanted: u32| {
            u32::try_from(outer.saturating_sub(inner)).unwrap_or(0) + wanted
        };
        expect_ok(
            self.client
                .set_window_size(
                    grow(outer_width, inner_width, width),
                    grow(outer_height, inner_height, height),
                )
                .await,
            "set the window size",
        );
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        expect_ok(self.client.goto(url).await, &format!("open {url}"));
    }

    /// Runs `script` (a function body: `return …` gives a value) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.eval_with(script, Vec::new()).await
    }

    /// Runs `script` with `arguments`.
    pub async fn eval_with(&self, script: &str, arguments: Vec<Value>) -> Value {
        expect_ok(
            self.client.execute(script, arguments).await,
            &format!("run script `{script}`"),
        )
    }

    /// An attribute of the first element matching `selector`; None when there is no such
    /// element or it has no such attribute.
    pub async fn attribute(&self, selector: &str, name: &str) -> Option<String> {
        let value = self
            .eval_with(
                "const e = document.querySelector(arguments[0]); \
                 return e ? e.getAttribute(arguments[1]) : null;",
                vec![json!(selector), json!(name)],
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// The chat box's `data-status`: `connecting`, `online`, `busy` or `offline`; None before
    /// the widget has put its host element in the page.
    pub async fn chatbox_status(&self) -> Option<String> {
        self.attribute("#onair-chatbox", "data-status").await
    }

    /// Waits until the JavaScript `expression` is truthy in the page, asking every [`POLL`];
    /// returns its value. Panics after `within`, saying what was awaited and what the
    /// expression last was.
    pub async fn wait_until(&self, what: &str, expression: &str, within: Duration) -> Value {
        let script = format!("return ({expression});");
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(&script).await;
            if is_truthy(&value) {
                return value;
            }
            if Instant::now() >= deadline {
                panic!("{what}: not within {within:?}; `{expression}` is {value}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the element matching `selector` has attribute `name` = `value`.
    pub async fn wait_for_attribute(
        &self,
        selector: &str,
        name: &str,
        value: &str,
        within: Duration,
    ) {
        let expression = format!(
            "(document.querySelector({selector}) || {{ getAttribute() {{ return null; }} }})\
             .getAttribute({name}) === {value}",
            selector = json!(selector),
            name = json!(name),
            value = json!(value),
        );
        self.wait_until(
            &format!("{selector} [{name}={value:?}]"),
            &expression,
            within,
        )
        .await;
    }

    /// Waits until the chat box shows `status`.
    pub async fn wait_for_chatbox(&self, status: &str, within: Duration) {
        self.wait_for_attribute("#onair-chatbox", "data-status", status, within)
            .await;
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> Element {
        expect_ok(
            self.client.find(Locator::Css(selector)).await,
            &format!("find {selector}"),
        )
    }

    /// Clicks the element matching `selector`, as a person would (WebDriver's click: it must
    /// be visible and not covered).
    pub async fn click(&self, selector: &str) {
        let element = self.find(selector).await;
        expect_ok(element.click().await, &format!("click {selector}"));
    }

    /// Clears the input matching `selector` and types `text` into it.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector).await;
        expect_ok(element.clear().await, &format!("clear {selector}"));
        expect_ok(
            element.send_keys(text).await,
            &format!("type into {selector}"),
        );
    }

    /// The element matching `selector` inside the chat box's shadow root.
    pub async fn find_in_chatbox(&self, selector: &str) -> Element {
        let host = self.find("#onair-chatbox").await;
        let root = expect_ok(host.shadow_root().await, "open the chat box's shadow root");
        expect_ok(
            root.find(Locator::Css(selector)).await,
            &format!("find {selector} in the chat box"),
        )
    }

    /// Logs in on the agent dashboard at `server`'s `/dashboard` through its form, and waits
    /// until the dashboard shows with its live stream open. Panics with the form's error
    /// message if the login fails.
    pub async fn log_in_to_dashboard(&self, server: &Server, login: &Login<'_>) {
        self.goto(&server.url("/dashboard")).await;
        self.wait_until(
            "the login form",
            "!document.getElementById('login').hidden",
            PATIENCE,
        )
        .await;
        self.type_into("#login [name=account]", login.account).await;
        self.type_into("#login [name=email]", login.email).await;
        self.type_into("#login [name=password]", login.password)
            .await;
        self.type_into("#login [name=device]", login.device).await;
        self.click("#login button[type=submit]").await;
        let outcome = self
            .wait_until(
                &format!("the dashboard on {} after logging in", login.device),
                "document.getElementById('login-error').textContent || \
                 (!document.getElementById('app').hidden && \
                  document.getElementById('conn').dataset.state === 'live' && 'live')",
                PATIENCE,
            )
            .await;
        assert_eq!(
            outcome, "live",
            "logging in as {} on {} failed",
            login.email, login.device
        );
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        expect_ok(self.client.screenshot().await, "take a screenshot")
    }

    /// Chromium's DevTools events since the last call (with [`BrowserOptions::network_log`]):
    /// each is `{"method": "Network.…", "params": {…}}`.
    pub async fn network_events(&self) -> Vec<Value> {
        let entries = expect_ok(
            self.client
                .issue_cmd(ChromedriverCommand {
                    path: "se/log",
                    body: json!({"type": "performance"}),
                })
                .await,
            "read the performance log",
        );
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|message| serde_json::from_str::<Value>(message).ok())
            .map(|mut message| message["message"].take())
            .collect()
    }

    /// Allows `origin` (`http://host:port`) to show notifications, as if the person had said
    /// yes to the browser's prompt: Chromium's DevTools `Browser.grantPermissions`, through
    /// chromedriver.
    pub async fn grant_notifications(&self, origin: &str) {
        expect_ok(
            self.client
                .issue_cmd(ChromedriverCommand {
                    path: "goog/cdp/execute",
                    body: json!({"cmd": "Browser.grantPermissions",
                                 "params": {"origin": origin, "permissions": ["notifications"]}}),
                })
                .await,
            "grant the notification permission",
        );
    }

    /// Ends the session and its Chromium.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// What the dashboard's login form asks for.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub account: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The device name the session gets.
    pub device: &'a str,
}

fn expect_ok<T>(result: Result<T, CmdError>, what: &str) -> T {
    result.unwrap_or_else(|error| panic!("WebDriver: cannot {what}: {error}"))
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A POST to one of chromedriver's own endpoints of the session (not in the W3C protocol, so
/// not in fantoccini): `se/log` (the logs), `goog/cdp/execute` (a DevTools command).
#[derive(Debug)]
struct ChromedriverCommand {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromedriverCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Panics, saying what to do, unless `server` carries the widget's wasm build: a server built
/// before `cargo xtask widget` answers `/widget/*` with 503 `widget_not_built`.
pub async fn require_widget(server: &Server) {
    let (status, _) = server.get("/widget.js", None).await;
    assert_eq!(status, reqwest::StatusCode::OK, "GET /widget.js");
    // No such file: 404 from a server with the widget, 503 from one without.
    let (status, body) = server.get("/widget/onair-probe.js", None).await;
    assert!(
        !(status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            && body["error"]["code"] == "widget_not_built"),
        "the onair binary was built without the widget (GET /widget/… answers 503 \
         widget_not_built). Run `cargo xtask widget`, then build the server again (or run \
         everything with `cargo xtask test`)."
    );
}

/// Milliseconds since the Unix epoch on this machine's clock: the clock `Date.now()` reads in
/// the browser, so the two can be subtracted.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
        * 1000.0
}

/// What the customer's page embeds.
#[derive(Debug, Clone, Default)]
pub struct Embed<'a> {
    pub account: &'a str,
    pub group: Option<&'a str>,
    pub lang: Option<&'a str>,
}

/// Put in the customer's page before the embed tag. It records when the script tag is met
/// (`scriptAt`, `performance.now()`), and every `data-status` the chat box takes as
/// `{status, at: Date.now(), t: performance.now()}` in `changes`: a MutationObserver callback
/// runs right after the widget's `setAttribute`, so `at` is when the change became visible.
pub const RECORDER: &str = r#"<script>
window.onairLog = { scriptAt: performance.now(), changes: [] };
new MutationObserver(function (records) {
  records.forEach(function (record) {
    if (record.target.id !== 'onair-chatbox') return;
    var status = record.target.getAttribute('data-status');
    var changes = window.onairLog.changes;
    if (changes.length && changes[changes.length - 1].status === status) return;
    changes.push({ status: status, at: Date.now(), t: performance.now() });
  });
}).observe(document.documentElement, { subtree: true, attributes: true, attributeFilter: ['data-status'] });
</script>"#;

/// A stand-in for a customer's website: one HTML page, on its own port and so its own origin,
/// that embeds the chat box from `onair_origin` exactly as widget/README.md shows. Every GET answers
/// with that page. Stops when dropped.
#[derive(Debug)]
pub struct CustomerSite {
    /// The page's address, e.g. `http://127.0.0.1:41235/`.
    pub url: String,
    task: JoinHandle<()>,
}

impl CustomerSite {
    pub async fn start(onair_origin: &str, embed: Embed<'_>) -> CustomerSite {
        let page = customer_page(onair_origin, &embed);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the customer site");
        let url = format!("http://{}/", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let page = page.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, &page).await;
                });
            }
        });
        CustomerSite { url, task }
    }
}

impl Drop for CustomerSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The customer's page: a heading, some text, the recorder and the embed tag.
pub fn customer_page(onair_origin: &str, embed: &Embed<'_>) -> String {
    let mut tag = format!(
        r#"<script src="{}/widget.js" data-account="{}""#,
        escape(onair_origin.trim_end_matches('/')),
        escape(embed.account)
    );
    if let Some(group) = embed.group {
        tag.push_str(&format!(r#" data-group="{}""#, escape(group)));
    }
    if let Some(lang) = embed.lang {
        tag.push_str(&format!(r#" data-lang="{}""#, escape(lang)));
    }
    tag.push_str(" async></script>");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer shop</title>
<link rel="icon" href="data:,">
{RECORDER}
{tag}
</head>
<body>
<h1>Customer shop</h1>
<p>A page on another origin that embeds the onair chat box.</p>
</body>
</html>
"#
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// Reads one request's head and answers with `page`, closing the connection.
async fn answer(mut stream: TcpStream, page: &str) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
         cache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
