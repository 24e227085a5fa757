//! `spawn_app()` and typed helpers for the API tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use onair_server::clock::{Clock, ManualClock};
use onair_server::hub::HubOptions;
use onair_server::store::Store;
use onair_server::{AppState, Hub, ServerConfig, store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub(crate) const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// How long a test waits for something that should arrive at once.
pub(crate) const SOON: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub(crate) struct TestConfig {
    /// Start a hand-driven clock at this instant instead of the system clock.
    pub(crate) manual_clock: Option<Timestamp>,
    /// Keep-alive interval of streams (default 20 s).
    pub(crate) keep_alive: Option<Duration>,
    /// Leave `ONAIR_OPERATOR_TOKEN` unset.
    pub(crate) no_operator: bool,
    /// `--trusted-proxies`.
    pub(crate) trusted_proxies: Option<&'static str>,
    /// Wraps the store the server uses (to observe or delay it).
    pub(crate) store_wrapper: Option<StoreWrapper>,
    /// Send email notifications through this outbox (`--smtp-url`).
    pub(crate) outbox: Option<Arc<onair_server::notify::Outbox>>,
    /// Web Push settings (default: loopback endpoints refused).
    pub(crate) push: Option<onair_server::push::PushConfig>,
    /// Leave `--allow-private-webhooks` off (tests' receivers are on
    /// loopback, so it is on by default here).
    pub(crate) refuse_private_webhooks: bool,
    /// Webhook retries and leases (default: the outbox's defaults).
    pub(crate) outbox_timing: Option<onair_server::notify::OutboxTiming>,
}

/// A function from the real store to the one the server gets.
pub(crate) type WrapStore = dyn Fn(Arc<dyn Store>) -> Arc<dyn Store> + Send + Sync;

#[derive(Clone)]
pub(crate) struct StoreWrapper(pub(crate) Arc<WrapStore>);

impl std::fmt::Debug for StoreWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreWrapper")
    }
}

/// A running server and a client for it.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) hub: Arc<Hub>,
    pub(crate) clock: Option<ManualClock>,
    pub(crate) db_path: std::path::PathBuf,
    /// Keeps the database directory alive as long as the app.
    pub(crate) dir: Arc<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

pub(crate) async fn spawn_app_with(config: TestConfig) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db_path = dir.path().join("onair.db");
    start(config, dir, db_path).await
}

async fn start(
    config: TestConfig,
    dir: Arc<tempfile::TempDir>,
    db_path: std::path::PathBuf,
) -> TestApp {
    let store = store::open(&format!("sqlite://{}", db_path.display()))
        .await
        .expect("open store");
    let store = match &config.store_wrapper {
        Some(wrap) => (wrap.0)(store),
        None => store,
    };
    let manual = config.manual_clock.map(ManualClock::new);
    let clock = manual.clone().map_or(Clock::System, Clock::Manual);
    let keep_alive = config.keep_alive.unwrap_or(Duration::from_secs(20));
    let hub = onair_server::node::start(
        store,
        HubOptions {
            clock,
            keep_alive,
            cluster: None,
            outbox: config.outbox.clone(),
            push: config.push.clone().unwrap_or_default(),
            webhooks: onair_server::webhooks::WebhookConfig {
                allow_private: !config.refuse_private_webhooks,
                timing: config.outbox_timing.unwrap_or_default(),
                ..onair_server::webhooks::WebhookConfig::default()
            },
        },
        None,
    )
    .await
    .expect("load hub");
    let operator_token = (!config.no_operator).then(|| OPERATOR_TOKEN.to_owned());
    let state = AppState {
        hub: Arc::clone(&hub),
        config: Arc::new(ServerConfig {
            operator_token,
            trusted_proxies: config
                .trusted_proxies
                .map(|list| onair_server::proxies::TrustedProxies::parse(list).expect("a list"))
                .unwrap_or_default(),
            ..ServerConfig::default()
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(onair_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().build().expect("client"),
        hub,
        clock: manual,
        db_path,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// An answer: status and JSON body (Null when empty).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// The error code of a contract error body.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    #[track_caller]
    pub(crate) fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        self.body
    }

    /// Asserts a contract error with this status and code.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        assert_eq!(self.code(), code, "unexpected error: {}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "an error needs a message: {}",
            self.body
        );
    }
}

/// An agent's login.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) token: String,
    pub(crate) session_id: String,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request; `body` is sent as JSON unless Null.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        answer(response).await
    }

    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request")).await
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(Method::GET, path, token, Value::Null).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(Method::POST, path, token, body).await
    }

    pub(crate) async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(Method::PUT, path, token, body).await
    }

    pub(crate) async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.request(Method::PATCH, path, token, body).await
    }

    pub(crate) async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(Method::DELETE, path, token, Value::Null).await
    }

    /// Creates an account through the operator route; returns its owner logged in.
    pub(crate) async fn create_account(&self, slug: &str) -> Agent {
        let email = format!("owner@{slug}.example");
        self.post(
            "/api/v1/accounts",
            Some(OPERATOR_TOKEN),
            json!({"slug": slug, "name": format!("{slug} Inc"), "timezone": "Europe/Prague",
                   "owner": {"name": "Owner", "email": email, "password": PASSWORD}}),
        )
        .await
        .expect(StatusCode::CREATED);
        self.login(slug, &email, "owner device").await
    }

    pub(crate) async fn login(&self, slug: &str, email: &str, device: &str) -> Agent {
        let body = self
            .post(
                &format!("/api/v1/accounts/{slug}/sessions"),
                None,
                json!({"email": email, "password": PASSWORD, "device": device}),
            )
            .await
            .expect(StatusCode::CREATED);
        Agent {
            id: body["agent"]["id"].as_str().expect("agent id").to_owned(),
            email: email.to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
            session_id: body["session"]["id"]
                .as_str()
                .expect("session id")
                .to_owned(),
        }
    }

    /// Adds an agent (as `admin`) and logs it in.
    pub(crate) async fn add_agent(
        &self,
        slug: &str,
        admin: &Agent,
        name: &str,
        groups: &[&str],
    ) -> Agent {
        let email = format!("{}@{slug}.example", name.to_lowercase());
        self.post(
            &format!("/api/v1/accounts/{slug}/agents"),
            Some(&admin.token),
            json!({"name": name, "email": email, "password": PASSWORD, "groups": groups}),
        )
        .await
        .expect(StatusCode::CREATED);
        self.login(slug, &email, &format!("{name}'s laptop")).await
    }

    pub(crate) async fn add_group(&self, slug: &str, admin: &Agent, key: &str) {
        self.post(
            &format!("/api/v1/accounts/{slug}/groups"),
            Some(&admin.token),
            json!({"key": key, "name": key}),
        )
        .await
        .expect(StatusCode::CREATED);
    }

    pub(crate) async fn set_status(&self, agent: &Agent, status: &str) -> Value {
        self.put(
            "/api/v1/me/status",
            Some(&agent.token),
            json!({"status": status}),
        )
        .await
        .expect(StatusCode::OK)
    }

    pub(crate) async fn patch_account(&self, slug: &str, admin: &Agent, body: Value) -> Value {
        self.patch(
            &format!("/api/v1/accounts/{slug}"),
            Some(&admin.token),
            body,
        )
        .await
        .expect(StatusCode::OK)
    }

    /// The status snapshot of a scope (`group` None = site).
    pub(crate) async fn status(&self, slug: &str, group: Option<&str>) -> Value {
        self.get(&status_path(slug, group), None)
            .await
            .expect(StatusCode::OK)
    }

    /// Opens a status stream; panics unless it is a 200 event stream.
    pub(crate) async fn status_events(&self, slug: &str, group: Option<&str>) -> Sse {
        let path = status_path(slug, group).replace("/status", "/status/events");
        self.sse(&path, None).await
    }

    /// Opens the agent stream with `?access_token=`.
    pub(crate) async fn agent_events(&self, agent: &Agent) -> Sse {
        self.sse(
            &format!("/api/v1/me/events?access_token={}", agent.token),
            None,
        )
        .await
    }

    pub(crate) async fn sse(&self, path: &str, last_event_id: Option<&str>) -> Sse {
        let mut request = self.client.get(self.url(path));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("sse request");
        assert_eq!(response.status(), StatusCode::OK, "stream refused");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type}"
        );
        Sse::new(response)
    }

    /// Moves the manual clock forward (panics without one).
    pub(crate) fn advance(&self, by: jiff::SignedDuration) {
        self.clock
            .as_ref()
            .expect("this app has no manual clock")
            .advance(by);
    }

    pub(crate) fn set_time(&self, to: Timestamp) {
        self.clock
            .as_ref()
            .expect("this app has no manual clock")
            .set(to);
    }

    /// Stops the server (as SIGTERM would) and waits until it has.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops within 10 s")
                .expect("server task")
                .expect("server result");
        }
    }

    /// Stops this server and starts a new one on the same database file.
    pub(crate) async fn restart(mut self, config: TestConfig) -> TestApp {
        self.stop().await;
        let dir = Arc::clone(&self.dir);
        let db_path = self.db_path.clone();
        drop(self);
        start(config, dir, db_path).await
    }
}

/// A sample's value from `GET /metrics`.
pub(crate) async fn metric(app: &TestApp, sample: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

pub(crate) fn status_path(slug: &str, group: Option<&str>) -> String {
    match group {
        Some(group) => format!("/api/v1/accounts/{slug}/status?group={group}"),
        None => format!("/api/v1/accounts/{slug}/status"),
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) event: String,
    pub(crate) id: Option<String>,
    pub(crate) data: Value,
}

/// An event stream's reader over a real HTTP response (the shared parser
/// of `onair_shared::sse`).
pub(crate) struct Sse {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: onair_shared::sse::SseParser,
    /// Comments seen (keep-alives), for tests that count them.
    pub(crate) comments: usize,
}

impl Sse {
    fn new(response: reqwest::Response) -> Sse {
        Sse {
            stream: response.bytes_stream().boxed(),
            parser: onair_shared::sse::SseParser::new(),
            comments: 0,
        }
    }

    /// The next event within `within`, or None when none came (or the stream ended).
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<Event> {
        tokio::time::timeout(within, self.next_event())
            .await
            .ok()
            .flatten()
    }

    /// The next event, waiting up to [`SOON`]; panics when none comes.
    #[track_caller]
    pub(crate) fn next(&mut self) -> impl Future<Output = Event> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next_within(SOON).await {
                Some(event) => event,
                None => panic!("no event within {SOON:?} (called at {caller})"),
            }
        }
    }

    /// None when the stream has ended.
    pub(crate) async fn next_event(&mut self) -> Option<Event> {
        use onair_shared::sse::SseFrame;
        loop {
            while let Some(frame) = self.parser.next() {
                match frame {
                    SseFrame::Comment(_) => self.comments += 1,
                    SseFrame::Event(event) => {
                        return Some(Event {
                            event: event.event,
                            id: event.id,
                            data: serde_json::from_str(&event.data).unwrap_or(Value::Null),
                        });
                    }
                }
            }
            match self.stream.next().await {
                Some(Ok(bytes)) => self.parser.feed(&bytes),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// True when the server ends the stream within `within`.
    pub(crate) async fn ends_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.next_event().await.is_some() {} })
            .await
            .is_ok()
    }
}
