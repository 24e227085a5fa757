//! End-to-end tests of the real `onair` binary: it is started as a child
//! process on port 0 with its own SQLite file, driven over real HTTP and SSE,
//! stopped with real signals (SIGTERM, SIGKILL) and started again.
//!
//! The binary comes from `ONAIR_BIN` (set by `cargo xtask test`), or is built
//! once with `cargo build -p onair-server --bin onair`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

const OPERATOR_TOKEN: &str = "operator-secret-5f0c9d1e7a3b4c2d8e6f";
const PASSWORD: &str = "correct horse battery";
/// How long the server may take to start or to stop.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long something that should happen at once may take.
const SOON: Duration = Duration::from_secs(5);

/// The `onair` binary to run.
fn onair_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ONAIR_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate sits in the workspace");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "onair-server", "--bin", "onair"])
            .current_dir(workspace)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of onair failed: {status}");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
        let bin = target
            .join("debug")
            .join(format!("onair{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
}

/// Every `ONAIR_*` variable the binary reads, so the caller's environment
/// cannot leak into a test.
const ONAIR_VARS: [&str; 6] = [
    "ONAIR_LISTEN",
    "ONAIR_DATABASE_URL",
    "ONAIR_OPERATOR_TOKEN",
    "ONAIR_DEMO",
    "ONAIR_LOG",
    "ONAIR_OWNER_PASSWORD",
];

fn onair() -> Command {
    let mut command = Command::new(onair_bin());
    for var in ONAIR_VARS {
        command.env_remove(var);
    }
    command
}

/// A temporary directory holding one SQLite database.
struct Database {
    dir: tempfile::TempDir,
}

impl Database {
    fn new() -> Database {
        Database {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("onair.db").display())
    }

    /// `onair account create` against this database.
    fn create_account(&self, slug: &str, timezone: &str) -> Output {
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

fn owner_email(slug: &str) -> String {
    format!("owner@{slug}.example")
}

/// How to start the server.
#[derive(Debug, Default)]
struct Options<'a> {
    demo: bool,
    operator_token: Option<&'a str>,
    log: Option<&'a str>,
}

/// A running `onair serve`. Dropping it kills the process, so a failing test
/// never leaves one behind.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    client: reqwest::Client,
}

impl Server {
    fn start(database: &Database) -> Server {
        Server::start_with(database, Options::default())
    }

    fn start_with(database: &Database, options: Options<'_>) -> Server {
        let mut command = onair();
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &database.url(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if options.demo {
            command.arg("--demo");
        }
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end by itself.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
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
    fn terminate(&mut self, within: Duration) -> ExitStatus {
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
    fn stop(&mut self) {
        let status = self.terminate(PATIENCE);
        assert!(
            status.success(),
            "onair exited with {status} after SIGTERM; it logged:\n{}",
            self.finish_log()
        );
    }

    /// SIGKILL: the process dies at once, with no chance to clean up.
    fn kill_9(&mut self) {
        self.signal("KILL");
        self.wait_exit(PATIENCE).expect("a killed process ends");
    }

    /// Everything the process wrote to stderr. Kills the process if it still
    /// runs, then reads its stderr to the end.
    fn finish_log(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
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

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, token, Value::Null)
            .await
    }

    /// GET, asserting 200.
    async fn get_ok(&self, path: &str, token: Option<&str>) -> Value {
        let (status, body) = self.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn login(&self, slug: &str, email: &str, password: &str) -> (StatusCode, Value) {
        self.request(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/{slug}/sessions"),
            None,
            json!({"email": email, "password": password, "device": "e2e"}),
        )
        .await
    }

    /// Logs in, asserting 201; returns the token.
    async fn login_ok(&self, slug: &str, email: &str, password: &str) -> String {
        let (status, body) = self.login(slug, email, password).await;
        assert_eq!(status, StatusCode::CREATED, "login {email}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates an account through the operator route; returns the owner's token.
    async fn create_account(&self, slug: &str) -> String {
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

    async fn set_status(&self, token: &str, status: &str) {
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

    /// Opens an event stream, asserting a 200 `text/event-stream`.
    async fn events(&self, path: &str) -> Sse {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("stream request");
        assert_eq!(response.status(), StatusCode::OK, "stream {path}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a line such as `… INFO onair: listening on http://127.0.0.1:4321 …`.
fn listening_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on http://")?;
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// One server-sent event: its name and JSON data.
#[derive(Debug)]
struct Event {
    event: String,
    data: Value,
}

/// A minimal SSE reader.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// The next event, or None when the stream ended.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(chunk) = line.strip_prefix("data: ") {
                        data.push_str(chunk);
                    }
                }
                if let Some(event) = event {
                    let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                    return Some(Event { event, data });
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event named `name`, within [`SOON`].
    async fn expect(&mut self, name: &str) -> Event {
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
    async fn ends_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.next_event().await.is_some() {} })
            .await
            .is_ok()
    }
}

#[tokio::test]
async fn the_server_logs_where_it_listens_and_answers_healthz() {
    let database = Database::new();
    let mut server = Server::start(&database);
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.get("/widget.js", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.get("/api/v1/accounts/nobody/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_account");
    server.stop();
    let log = server.finish_log();
    assert!(
        log.contains(&format!("listening on {}", server.base)),
        "{log}"
    );
}

#[tokio::test]
async fn an_account_created_by_the_cli_can_log_in_to_a_server_started_later() {
    let database = Database::new();
    let created = database.create_account("acme", "Europe/Prague");
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(
        created.status.success(),
        "account create failed: {}\n{stdout}",
        String::from_utf8_lossy(&created.stderr)
    );
    let printed: Value = serde_json::from_str(&stdout).expect("account create prints JSON");
    assert_eq!(printed["account"]["slug"], "acme");
    assert_eq!(printed["account"]["name"], "acme Ltd");
    assert_eq!(printed["account"]["timezone"], "Europe/Prague");
    assert_eq!(printed["owner"]["email"], owner_email("acme"));
    assert_eq!(printed["owner"]["role"], "admin");
    assert!(
        !stdout.contains(PASSWORD),
        "the password must not be printed"
    );

    let mut server = Server::start(&database);
    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["id"], printed["owner"]["id"]);
    let (status, body) = server
        .login("acme", &owner_email("acme"), "wrong password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    server.stop();
}

#[tokio::test]
async fn an_account_created_by_the_cli_while_the_server_runs_can_log_in_at_once() {
    let database = Database::new();
    let mut server = Server::start(&database);
    // The server has not heard of it yet.
    let (status, _) = server.get("/api/v1/accounts/acme/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let created = database.create_account("acme", "Europe/Prague");
    assert!(
        created.status.success(),
        "account create failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );

    let token = server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    server.set_status(&token, "online").await;
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online");
    // A second one, created next to a running server that already knows the first.
    let created = database.create_account("globex", "America/New_York");
    assert!(created.status.success());
    server
        .login_ok("globex", &owner_email("globex"), PASSWORD)
        .await;
    server.stop();
}

#[tokio::test]
async fn the_cli_refuses_invalid_input_with_a_clear_message() {
    let database = Database::new();
    let bad = database.create_account("acme", "Mars/Olympus_Mons");
    assert!(!bad.status.success(), "a bad timezone must fail");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("Mars/Olympus_Mons") && stderr.contains("timezone"),
        "the message should name the timezone: {stderr}"
    );
    assert!(bad.stdout.is_empty(), "nothing on stdout when it fails");

    // The slug is now free; taking it twice is refused.
    let first = database.create_account("acme", "Europe/Prague");
    assert!(first.status.success());
    let again = database.create_account("acme", "Europe/Prague");
    assert!(!again.status.success(), "a taken slug must fail");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("acme"), "{stderr}");

    let mut server = Server::start(&database);
    server
        .login_ok("acme", &owner_email("acme"), PASSWORD)
        .await;
    server.stop();
}

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_cleanly() {
    let database = Database::new();
    let mut server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            ..Options::default()
        },
    );
    let token = server.create_account("acme").await;
    server.set_status(&token, "online").await;
    let mut agent = server
        .events(&format!("/api/v1/me/events?access_token={token}"))
        .await;
    agent.expect("agent").await;
    let mut status = server.events("/api/v1/accounts/acme/status/events").await;
    assert_eq!(status.expect("status").await.data["status"], "online");

    let status_code = server.terminate(SOON);
    assert!(
        status_code.success(),
        "exit status {status_code}; log:\n{}",
        server.finish_log()
    );
    assert!(agent.ends_within(SOON).await, "the agent stream must end");
    assert!(status.ends_within(SOON).await, "the status stream must end");
    let log = server.finish_log();
    assert!(!log.contains("ERROR"), "{log}");

    // Nothing was lost, and the restart does not flap the chat box.
    let mut server = Server::start(&database);
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["status"], "online");
    server.stop();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let database = Database::new();
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    };
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/groups",
            Some(&token),
            json!({"key": "vip", "name": "Very important"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.set_status(&token, "online").await;
    let version_before = server.get_ok("/api/v1/accounts/acme/status", None).await["version"]
        .as_u64()
        .expect("version");
    server.kill_9();

    let mut server = Server::start_with(&database, options());
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "online", "{snapshot}");
    let version_after = snapshot["version"].as_u64().expect("version");
    assert!(
        version_after > version_before,
        "version {version_after} after kill -9, {version_before} before"
    );
    let me = server.get_ok("/api/v1/me", Some(&token)).await;
    assert_eq!(me["status"], "online");
    let groups = server
        .get_ok("/api/v1/accounts/acme/groups", Some(&token))
        .await;
    assert_eq!(
        groups,
        json!({"groups": [{"key": "vip", "name": "Very important"}]})
    );
    let (status, _) = server
        .get("/api/v1/accounts/acme/status?group=vip", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}

#[tokio::test]
async fn demo_creates_the_demo_account_once() {
    let database = Database::new();
    let demo = || Options {
        demo: true,
        ..Options::default()
    };
    let mut server = Server::start_with(&database, demo());
    let site = server.get_ok("/api/v1/accounts/demo/status", None).await;
    assert_eq!(site["account"], "demo");
    for group in ["sales", "support"] {
        let snapshot = server
            .get_ok(&format!("/api/v1/accounts/demo/status?group={group}"), None)
            .await;
        assert_eq!(snapshot["group"], group);
    }
    for email in ["alice@demo.onair", "bob@demo.onair", "carol@demo.onair"] {
        server.login_ok("demo", email, "onair-demo").await;
    }
    server.stop();
    let log = server.finish_log();
    assert!(
        log.contains("alice@demo.onair") && log.contains("onair-demo"),
        "--demo prints the logins: {log}"
    );

    // Again on the same database: it starts, and nothing is created twice.
    let mut server = Server::start_with(&database, demo());
    let alice = server
        .login_ok("demo", "alice@demo.onair", "onair-demo")
        .await;
    let agents = server
        .get_ok("/api/v1/accounts/demo/agents", Some(&alice))
        .await;
    let mut emails: Vec<&str> = agents["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["email"].as_str().expect("email"))
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        ["alice@demo.onair", "bob@demo.onair", "carol@demo.onair"]
    );
    let groups = server
        .get_ok("/api/v1/accounts/demo/groups", Some(&alice))
        .await;
    let keys: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["sales", "support"]);
    let me = server.get_ok("/api/v1/me", Some(&alice)).await;
    // Alice's logins from both runs; the seeding's own login was ended.
    let devices: Vec<&str> = me["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["device"].as_str().expect("device"))
        .collect();
    assert_eq!(devices, ["e2e", "e2e"], "{me}");
    server.stop();
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let database = Database::new();
    let mut server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            log: Some("debug"),
            ..Options::default()
        },
    );
    let token = server.create_account("acme").await;
    // A wrong operator token is refused, and does not show up either.
    let (status, _) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/accounts",
            Some("wrong-operator-token-b7d1"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut stream = server
        .events(&format!("/api/v1/me/events?access_token={token}"))
        .await;
    stream.expect("agent").await;
    server.get_ok("/api/v1/me", Some(&token)).await;
    server.set_status(&token, "online").await;
    server.get_ok("/api/v1/accounts/acme", Some(&token)).await;
    // Refused requests carry tokens too.
    let (status, _) = server
        .get(&format!("/api/v1/me/events?access_token={token}x"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .get(&format!("/api/v1/nothing-here?access_token={token}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get("/api/v1/me", Some(&format!("{token}-ended")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    drop(stream);
    server.stop();

    let log = server.finish_log();
    assert!(
        log.contains("DEBUG") && log.contains("/api/v1/me/events"),
        "the log should show debug output about the requests:\n{log}"
    );
    for (what, secret) in [
        ("agent token", token.as_str()),
        ("operator token", OPERATOR_TOKEN),
        ("wrong operator token", "wrong-operator-token-b7d1"),
        ("password", PASSWORD),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn after_a_crash_a_session_that_had_expired_does_not_come_back() {
    let database = Database::new();
    let options = || Options {
        operator_token: Some(OPERATOR_TOKEN),
        ..Options::default()
    };
    // A first run that ends cleanly records when it stopped.
    let mut server = Server::start_with(&database, options());
    let token = server.create_account("acme").await;
    let (status, body) = server
        .request(
            reqwest::Method::PATCH,
            "/api/v1/accounts/acme",
            Some(&token),
            json!({"grace_seconds": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop();

    // A second run: the owner goes online without a stream and walks away;
    // once the grace period has passed the chat box is offline. Then it crashes.
    let mut server = Server::start_with(&database, options());
    let mut events = server.events("/api/v1/accounts/acme/status/events").await;
    events.expect("status").await;
    server.set_status(&token, "online").await;
    assert_eq!(events.expect("status").await.data["status"], "online");
    // Within SOON (5 s): the grace period is 3 s.
    assert_eq!(events.expect("status").await.data["status"], "offline");
    server.kill_9();

    // Nobody was there when it crashed, so nobody is there after it.
    let mut server = Server::start_with(&database, options());
    let snapshot = server.get_ok("/api/v1/accounts/acme/status", None).await;
    assert_eq!(snapshot["status"], "offline", "{snapshot}");
    server.stop();
}
