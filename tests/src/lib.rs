//! The harness for onair's end-to-end tests and benchmarks: the real `onair`
//! binary started as a child process on port 0 with its own SQLite file (or a
//! fresh PostgreSQL database), driven over real HTTP and SSE, stopped with real
//! signals; real browsers (headless Chromium through chromedriver) in
//! [`browser`]; and clusters of nodes sharing PostgreSQL and Redis behind an
//! nginx load balancer in [`cluster`].
//!
//! The binary comes from `ONAIR_BIN` (set by `cargo xtask test`), or is built
//! once with `cargo build -p onair-server --bin onair`.

pub mod browser;
pub mod cluster;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

pub const OPERATOR_TOKEN: &str = "operator-secret-5f0c9d1e7a3b4c2d8e6f";
pub const PASSWORD: &str = "correct horse battery";
/// A 1×1 PNG, for an agent's picture.
pub const ONE_PIXEL_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\xdac\xe0\x0e\xbf\xf0\x1f\0\x03\xd5\x022\xd8\xa3?\xef\0\0\0\0IEND\xaeB`\x82";
/// How long the server may take to start or to stop.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long something that should happen at once may take.
pub const SOON: Duration = Duration::from_secs(5);

/// The `onair` binary the tests run: `ONAIR_BIN`, or a debug build.
pub fn onair_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("ONAIR_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_onair(false),
    })
}

/// A release build of `onair`, for benchmarks: `ONAIR_RELEASE_BIN`, or built.
pub fn onair_release_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("ONAIR_RELEASE_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_onair(true),
    })
}

fn build_onair(release: bool) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "onair-server", "--bin", "onair"]);
    if release {
        build.arg("--release");
    }
    let status = build
        .current_dir(workspace)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of onair failed: {status}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join(format!("onair{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "no binary at {}", bin.display());
    bin
}

/// Something a test needs that `cargo xtask test` installs or builds, and a
/// plain `cargo test` on a fresh clone may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Debian's Chromium and chromedriver.
    Chromium,
    /// The widget's wasm build (`www/pkg/`), embedded by the server's build.
    WidgetBuild,
    /// Debian's nginx, the load balancer of the cluster tests.
    Nginx,
    /// axe-core from npm, for the accessibility checks.
    AxeCore,
    /// schemathesis from PyPI, for the API fuzzing.
    Schemathesis,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Chromium => "Chromium and chromedriver",
            Tool::WidgetBuild => "the widget build (`cargo xtask widget`)",
            Tool::Nginx => "nginx",
            Tool::AxeCore => "axe-core",
            Tool::Schemathesis => "schemathesis",
        }
    }

    fn present(self) -> bool {
        // The directory of this run (cargo and nextest set it), not the compiled-in one: two
        // checkouts sharing a target directory may run each other's test binaries.
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let workspace = manifest.join("..");
        match self {
            Tool::Chromium => {
                Path::new("/usr/bin/chromium").is_file()
                    && Path::new(browser::CHROMEDRIVER).is_file()
            }
            Tool::WidgetBuild => workspace.join("www/pkg/onair_widget_bg.wasm").is_file(),
            Tool::Nginx => Path::new(cluster::NGINX).is_file(),
            Tool::AxeCore => axe_core().is_some(),
            Tool::Schemathesis => schemathesis().is_some(),
        }
    }
}

/// Whether a test that needs `tools` runs here. `cargo xtask test` sets
/// `ONAIR_TEST_ALL=1`, and there every test runs: a missing tool fails the
/// test where it is used. A plain `cargo test` runs every test whose tools
/// are here and passes over the others, saying on stderr which and why.
pub fn runs_with(test: &str, tools: &[Tool]) -> bool {
    if std::env::var_os("ONAIR_TEST_ALL").is_some_and(|v| v == "1") {
        return true;
    }
    let missing: Vec<&str> = tools
        .iter()
        .filter(|tool| !tool.present())
        .map(|tool| tool.name())
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!(
        "skipped {test}: it needs {}, which `cargo xtask test` installs",
        missing.join(", ")
    );
    false
}

/// A tool `cargo xtask` installed into the target directory this test was
/// built in: `<target>/<prefix><version>/<relative>`, found from the test
/// binary (`<target>/debug/deps/…`).
fn installed(prefix: &str, relative: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().find_map(|dir| {
        std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
            let name = entry.file_name();
            let path = entry.path().join(relative);
            (name.to_string_lossy().starts_with(prefix) && path.is_file()).then_some(path)
        })
    })
}

/// axe-core's `axe.min.js`: `ONAIR_AXE`, or the one `cargo xtask` installed.
pub fn axe_core() -> Option<PathBuf> {
    std::env::var_os("ONAIR_AXE")
        .map(PathBuf::from)
        .or_else(|| installed("axe-core-", "node_modules/axe-core/axe.min.js"))
}

/// schemathesis's program: `ONAIR_SCHEMATHESIS`, or the one `cargo xtask` installed.
pub fn schemathesis() -> Option<PathBuf> {
    std::env::var_os("ONAIR_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| installed("schemathesis-", "bin/schemathesis"))
}

/// Every `ONAIR_*` variable the binary reads, so the caller's environment
/// cannot leak into a test.
pub const ONAIR_VARS: [&str; 8] = [
    "ONAIR_LISTEN",
    "ONAIR_REDIS_URL",
    "ONAIR_MAX_CONNECTIONS",
    "ONAIR_DATABASE_URL",
    "ONAIR_OPERATOR_TOKEN",
    "ONAIR_DEMO",
    "ONAIR_LOG",
    "ONAIR_OWNER_PASSWORD",
];

pub fn onair() -> Command {
    onair_at(onair_bin())
}

/// A command for a given `onair` binary with a clean `ONAIR_*` environment.
pub fn onair_at(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    for var in ONAIR_VARS {
        command.env_remove(var);
    }
    command
}

/// Where a server keeps its data: anything that names a `--database` URL, such
/// as a [`Database`] (SQLite) or a [`cluster::PgDatabase`] (PostgreSQL).
pub trait Store {
    /// The URL passed as `onair serve --database`.
    fn database_url(&self) -> String;
}

impl<T: Store + ?Sized> Store for &T {
    fn database_url(&self) -> String {
        (**self).database_url()
    }
}

impl Store for Database {
    fn database_url(&self) -> String {
        self.url()
    }
}

/// A temporary directory holding one SQLite database.
#[derive(Debug)]
pub struct Database {
    pub dir: tempfile::TempDir,
}

impl Default for Database {
    fn default() -> Self {
        Database::new()
    }
}

impl Database {
    pub fn new() -> Database {
        Database {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("onair.db").display())
    }

    /// `onair account create` against this database.
    pub fn create_account(&self, slug: &str, timezone: &str) -> Output {
        onair()
            .args(["account", "create", "--slug", slug, "--name"])
            .arg(format!("{slug} Ltd"))
            .args(["--timezone", timezone, "--owner-name", "Olga Owner"])
            .args([
                "--owner-email",
                &owner_email(slug),
                "--database",
                &self.url(),
            ])
            .env("ONAIR_OWNER_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .expect("run onair account create")
    }
}

pub fn owner_email(slug: &str) -> String {
    format!("owner@{slug}.example")
}

/// Office hours (the body of `PUT …/office-hours`) closed all of today, UTC, and open all day
/// every other day: outside office hours now, opening at the next midnight UTC.
pub fn closed_until_tomorrow() -> serde_json::Value {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let day = json!([{"from": "00:00", "to": "24:00"}]);
    json!({"enabled": true, "timezone": "UTC",
           "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day,
                      "sat": day, "sun": day},
           "exceptions": [{"date": today, "hours": []}]})
}

/// How to start the server.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// Address to listen on; port 0 (any free port) when None.
    pub listen: Option<&'a str>,
    /// The binary to run; [`onair_bin`] when None.
    pub binary: Option<&'a Path>,
    pub demo: bool,
    pub operator_token: Option<&'a str>,
    pub log: Option<&'a str>,
    /// More arguments for `onair serve`.
    pub args: &'a [&'a str],
    /// More environment variables for `onair serve`.
    pub env: &'a [(&'a str, &'a str)],
}

/// A running `onair serve`. Dropping it kills the process, so a failing test
/// never leaves one behind.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<String>>,
    pub reader: Option<JoinHandle<()>>,
    pub client: reqwest::Client,
}

impl Server {
    pub fn start(database: &impl Store) -> Server {
        Server::start_with(database, Options::default())
    }

    /// A server that takes the operator token ([`OPERATOR_TOKEN`]), so a test
    /// can create accounts over HTTP.
    pub fn start_operated(database: &impl Store) -> Server {
        Server::start_with(
            database,
            Options {
                operator_token: Some(OPERATOR_TOKEN),
                ..Options::default()
            },
        )
    }

    pub fn start_with(database: &impl Store, options: Options<'_>) -> Server {
        let mut command = onair_at(options.binary.unwrap_or_else(|| onair_bin()));
        command
            .args([
                "serve",
                "--listen",
                options.listen.unwrap_or("127.0.0.1:0"),
                "--database",
                &database.database_url(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if options.demo {
            command.arg("--demo");
        }
        command.args(options.args);
        command.envs(options.env.iter().copied());
        if let Some(token) = options.operator_token {
            command.env("ONAIR_OPERATOR_TOKEN", token);
        }
        if let Some(filter) = options.log {
            command.env("ONAIR_LOG", filter);
        }
        let mut child = command.spawn().expect("start onair serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                    drop(log);
                    // Nobody listens once the server has started.
                    let _ = lines_tx.send(line);
                }
            })
        };
        let mut server = Server {
            child,
            base: String::new(),
            log,
            reader: Some(reader),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening_address(&line) {
                        break addr;
                    }
                }
                Err(_) => panic!(
                    "onair did not log `listening on http://` within {PATIENCE:?}; it logged:\n{}",
                    server.finish_log()
                ),
            }
        };
        server.base = format!("http://{addr}");
        server
    }

    /// The server's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(&self.pid(), "VmRSS:")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The address it listens on, such as `127.0.0.1:4321`.
    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end by itself.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status (panics unless it exits within `within`).
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal("TERM");
        match self.wait_exit(within) {
            Some(status) => status,
            None => panic!(
                "onair did not exit within {within:?} of SIGTERM; it logged:\n{}",
                self.finish_log()
            ),
        }
    }

    /// SIGTERM, and asserts a clean exit.
    pub fn stop(&mut self) {
        let status = self.terminate(PATIENCE);
        assert!(
            status.success(),
            "onair exited with {status} after SIGTERM; it logged:\n{}",
            self.finish_log()
        );
    }

    /// SIGKILL: the process dies at once, with no chance to clean up.
    pub fn kill_9(&mut self) {
        self.signal("KILL");
        self.wait_exit(PATIENCE).expect("a killed process ends");
    }

    /// Everything the process wrote to stderr. Kills the process if it still
    /// runs, then reads its stderr to the end.
    pub fn finish_log(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        send(&self.client, method, self.url(path), token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, token, Value::Null)
            .await
    }

    /// GET, asserting 200.
    pub async fn get_ok(&self, path: &str, token: Option<&str>) -> Value {
        let (status, body) = self.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn login(&self, slug: &str, email: &str, password: &str) -> (StatusCode, Value) {
        self.request(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/{slug}/sessions"),
            None,
            json!({"email": email, "password": password, "device": "e2e"}),
        )
        .await
    }

    /// Logs in, asserting 201; returns the token.
    pub async fn login_ok(&self, slug: &str, email: &str, password: &str) -> String {
        let (status, body) = self.login(slug, email, password).await;
        assert_eq!(status, StatusCode::CREATED, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates an account through the operator route; returns the owner's token.
    pub async fn create_account(&self, slug: &str) -> String {
        let (status, body) = self
            .request(
                reqwest::Method::POST,
                "/api/v1/accounts",
                Some(OPERATOR_TOKEN),
                json!({"slug": slug, "name": slug, "timezone": "Europe/Prague",
                       "owner": {"name": "Olga Owner", "email": owner_email(slug),
                                 "password": PASSWORD}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login_ok(slug, &owner_email(slug), PASSWORD).await
    }

    pub async fn set_status(&self, token: &str, status: &str) {
        let (code, body) = self
            .request(
                reqwest::Method::PUT,
                "/api/v1/me/status",
                Some(token),
                json!({"status": status}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["status"], status);
    }

    /// The agent of `token` answers in its newest conversation (asserting the 201); returns
    /// that conversation's id.
    pub async fn answer_newest(&self, token: &str, text: &str) -> String {
        let inbox = self.get_ok("/api/v1/conversations", Some(token)).await;
        let id = inbox["conversations"][0]["id"]
            .as_str()
            .expect("a conversation in the inbox")
            .to_owned();
        let (status, body) = self
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{id}/messages"),
                Some(token),
                json!({"text": text}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id
    }

    /// The agent of `token` is typing in conversation `id` (asserting the 204).
    pub async fn agent_types(&self, token: &str, id: &str) {
        let (status, body) = self
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{id}/typing"),
                Some(token),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// Opens an event stream, asserting a 200 `text/event-stream`.
    pub async fn events(&self, path: &str) -> Sse {
        self.try_events(path)
            .await
            .unwrap_or_else(|problem| panic!("stream {path}: {problem}"))
    }

    /// Opens an event stream; what it answered instead unless that is a 200
    /// `text/event-stream`.
    pub async fn try_events(&self, path: &str) -> Result<Sse, String> {
        open_events(&self.client, self.url(path)).await
    }
}

/// One request to `url`: the status and the body as JSON (a JSON string when
/// the body is not JSON). `Server` and the cluster's load balancer share it.
pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

/// Opens an event stream at `url`; what it answered instead unless that is a
/// 200 `text/event-stream`.
pub async fn open_events(client: &reqwest::Client, url: String) -> Result<Sse, String> {
    let response = client.get(url).send().await.expect("stream request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status != StatusCode::OK || !content_type.starts_with("text/event-stream") {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("{status} {content_type:?}: {body}"));
    }
    Ok(Sse {
        response,
        parser: onair_shared::sse::SseParser::new(),
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/PID/status`.
pub fn proc_status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The address in a line such as `… INFO onair: listening on http://127.0.0.1:4321 …`.
pub fn listening_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on http://")?;
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// One server-sent event: its name and JSON data.
#[derive(Debug)]
pub struct Event {
    pub event: String,
    pub data: Value,
}

/// An event stream's reader (the shared parser of `onair_shared::sse`).
#[derive(Debug)]
pub struct Sse {
    pub response: reqwest::Response,
    pub parser: onair_shared::sse::SseParser,
}

impl Sse {
    /// The next event, or None when the stream ended.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            while let Some(frame) = self.parser.next() {
                if let onair_shared::sse::SseFrame::Event(event) = frame {
                    let data = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                    return Some(Event {
                        event: event.event,
                        data,
                    });
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.parser.feed(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event named `name`, within [`SOON`].
    pub async fn expect(&mut self, name: &str) -> Event {
        let found = tokio::time::timeout(SOON, async {
            while let Some(event) = self.next_event().await {
                if event.event == name {
                    return Some(event);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the stream ended before an `{name}` event"),
            Err(_) => panic!("no `{name}` event within {SOON:?}"),
        }
    }

    /// True when the stream ends within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.next_event().await.is_some() {} })
            .await
            .is_ok()
    }
}
