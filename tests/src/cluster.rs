//! Cluster mode: several `onair serve` nodes sharing one PostgreSQL database
//! and one Redis, and an nginx load balancer in front of them.
//!
//! - [`PgDatabase`]: a fresh database on the PostgreSQL at
//!   `ONAIR_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]), dropped
//!   with the value. An unreachable PostgreSQL fails the test; it never skips.
//! - [`RedisServer`]: a `redis-server` of the test's own on a free port, never
//!   the machine's; it can be stopped and restarted on the same port.
//! - [`Cluster`]: `n` nodes on one database (and one Redis), started one after
//!   another or all at once.
//! - [`LoadBalancer`]: Debian's nginx as a round-robin reverse proxy that
//!   passes event streams through unbuffered.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::{OPERATOR_TOKEN, Options, PATIENCE, SOON, Server, Sse, Store, open_events, send};

/// The PostgreSQL the cluster tests create their databases on, unless
/// `ONAIR_TEST_POSTGRES_URL` names another.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Debian's nginx, from the `nginx-light` package.
pub const NGINX: &str = "/usr/sbin/nginx";

/// The `redis-server` the tests start, found on `PATH`.
pub const REDIS_SERVER: &str = "redis-server";

/// How often a child that lost its free port to someone else is started
/// again on another.
const PORT_ATTEMPTS: usize = 3;

/// A port nobody listens on right now (the OS picks it; it is free again
/// the moment this returns, for the caller's child process to take).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// True when something accepts connections on `127.0.0.1:port`.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The PostgreSQL server URL of the tests: `ONAIR_TEST_POSTGRES_URL`, or
/// [`DEFAULT_POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var("ONAIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// `url` with any password replaced, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Runs `work` with a connection to `url`, on a thread and runtime of its
/// own, so that it can be called from synchronous code, from async tests, and
/// from `Drop` alike.
fn on_postgres<T, F, Fut>(url: &str, work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let url = url.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a runtime for PostgreSQL: {e}"))?;
        runtime.block_on(async move {
            let connect = tokio_postgres::connect(&url, tokio_postgres::NoTls);
            let (client, connection) = match tokio::time::timeout(SOON, connect).await {
                Ok(Ok(connected)) => connected,
                Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
                Err(_) => return Err(format!("no connection within {SOON:?}")),
            };
            let connection = tokio::spawn(connection);
            let result = work(client).await.map_err(|e| e.to_string());
            // The client is gone with `work`, so the connection ends.
            let _ = connection.await;
            result
        })
    });
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A fresh PostgreSQL database, `onair_test_<uuid>`, dropped (with any
/// connections still open to it) when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    /// The server's URL, for creating and dropping.
    admin_url: String,
    url: String,
}

impl PgDatabase {
    /// Creates a database on [`postgres_url`]; panics, saying how to fix it,
    /// if PostgreSQL is unreachable.
    pub fn fresh() -> PgDatabase {
        let admin_url = postgres_url();
        let name = format!("onair_test_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(&admin_url).unwrap_or_else(|e| {
            panic!(
                "ONAIR_TEST_POSTGRES_URL {} is not a URL: {e}",
                redacted(&admin_url)
            )
        });
        url.set_path(&format!("/{name}"));
        let create = format!("CREATE DATABASE \"{name}\"");
        on_postgres(&admin_url, move |client| async move {
            client.batch_execute(&create).await
        })
        .unwrap_or_else(|problem| {
            panic!(
                "the cluster tests need PostgreSQL, at {} (set ONAIR_TEST_POSTGRES_URL for another): {problem}",
                redacted(&admin_url)
            )
        });
        PgDatabase {
            name,
            admin_url,
            url: url.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL for `onair serve --database`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Whether a database called `name` exists, asked over a connection of
    /// its own to the server.
    pub fn exists(name: &str) -> bool {
        let name = name.to_owned();
        let admin_url = postgres_url();
        on_postgres(&admin_url, move |client| async move {
            let row = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await?;
            Ok(row.is_some())
        })
        .unwrap_or_else(|problem| panic!("PostgreSQL at {}: {problem}", redacted(&admin_url)))
    }

    /// Makes the database refuse (or take again) new connections, as a
    /// database server that is down would (`ALLOW_CONNECTIONS`).
    pub fn refuse_connections(&self, refuse: bool) {
        let statement = format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {}",
            self.name,
            if refuse { "false" } else { "true" }
        );
        on_postgres(&self.admin_url, move |client| async move {
            client.batch_execute(&statement).await
        })
        .unwrap_or_else(|e| panic!("changing connections to {}: {e}", self.name));
    }

    /// Ends every connection to this database (`pg_terminate_backend`), as
    /// a restarted database server or a network cut would; returns how many.
    pub fn terminate_connections(&self) -> u64 {
        let name = self.name.clone();
        on_postgres(&self.admin_url, move |client| async move {
            let rows = client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .await?;
            Ok(rows.len() as u64)
        })
        .unwrap_or_else(|e| panic!("terminating connections to {}: {e}", self.name))
    }
}

impl Store for PgDatabase {
    fn database_url(&self) -> String {
        self.url()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let result = on_postgres(&self.admin_url, move |client| async move {
            client.batch_execute(&drop).await
        });
        if let Err(problem) = result {
            // Panicking in a drop during a panic would abort and hide the
            // first failure.
            eprintln!("could not drop database {}: {problem}", self.name);
        }
    }
}

/// A `redis-server` of the test's own on a free port, with no persistence,
/// in a temporary directory. Killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts it and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let mut redis = RedisServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        // The free port may be taken by someone else before redis binds it.
        for _ in 1..PORT_ATTEMPTS {
            match redis.spawn() {
                Ok(()) => return redis,
                Err(_) if redis.log().contains("Address already in use") => {
                    redis.port = free_port();
                }
                Err(problem) => panic!("{problem}"),
            }
        }
        redis.spawn().unwrap_or_else(|problem| panic!("{problem}"));
        redis
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Starts the process and waits for `PONG`; why not, if it exits first.
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "redis-server is already running");
        // A log per start, so a restart's problem is not hidden by the last.
        let _ = std::fs::remove_file(self.log_path());
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {REDIS_SERVER} (`cargo xtask test` installs it): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while !self.ping() {
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited with {status}; it logged:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if Instant::now() >= deadline {
                self.kill_9();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {PATIENCE:?}; it logged:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis://127.0.0.1:PORT`, for `onair serve --redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// True when it answers `PING` with `PONG`.
    pub fn ping(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut answer = [0; 7];
        stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGTERM, and waits until it has exited and no longer answers.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server did not exit within {PATIENCE:?} of SIGTERM; it logged:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: it dies at once.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it if it runs, then starts it again on the same port (empty:
    /// nothing is persisted).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn()
            .unwrap_or_else(|problem| panic!("restart: {problem}"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// How to start the nodes of a cluster.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeOptions<'a> {
    /// The Redis every node passes as `--redis`; None starts PostgreSQL
    /// single nodes that share only the database.
    pub redis: Option<&'a RedisServer>,
    /// `ONAIR_OPERATOR_TOKEN` for every node.
    pub operator_token: Option<&'a str>,
    /// Start all nodes at once (each process is spawned at the same moment)
    /// rather than one after another.
    pub together: bool,
    /// The binary to run; [`crate::onair_bin`] when None.
    pub binary: Option<&'a Path>,
    pub log: Option<&'a str>,
    /// More arguments for every node's `onair serve`.
    pub args: &'a [&'a str],
}

/// Starting `n` nodes on one PostgreSQL database. The nodes are ordinary
/// [`Server`]s, so `pid()`, `signal()`, `kill_9()` and `stop()` inject faults
/// into one node.
#[derive(Debug)]
pub struct Cluster;

impl Cluster {
    /// `n` nodes sharing `database` and `redis`, started one after another,
    /// each with `--database`, `--redis`, [`OPERATOR_TOKEN`] and `args`.
    pub fn start(
        n: usize,
        database: &PgDatabase,
        redis: &RedisServer,
        args: &[&str],
    ) -> Vec<Server> {
        Cluster::start_with(
            n,
            database,
            NodeOptions {
                redis: Some(redis),
                operator_token: Some(OPERATOR_TOKEN),
                args,
                ..NodeOptions::default()
            },
        )
    }

    /// As [`Cluster::start`], but all `n` nodes start at the same moment.
    pub fn start_together(
        n: usize,
        database: &PgDatabase,
        redis: &RedisServer,
        args: &[&str],
    ) -> Vec<Server> {
        Cluster::start_with(
            n,
            database,
            NodeOptions {
                redis: Some(redis),
                operator_token: Some(OPERATOR_TOKEN),
                together: true,
                args,
                ..NodeOptions::default()
            },
        )
    }

    /// `n` nodes on `database` as `options` says. Panics (after killing the
    /// nodes that did start) unless every node logs `listening on`.
    pub fn start_with(n: usize, database: &PgDatabase, options: NodeOptions<'_>) -> Vec<Server> {
        let redis_url = options.redis.map(RedisServer::url);
        let mut args: Vec<&str> = Vec::new();
        if let Some(url) = &redis_url {
            args.extend(["--redis", url.as_str()]);
        }
        args.extend(options.args);
        let start = || {
            Server::start_with(
                database,
                Options {
                    binary: options.binary,
                    operator_token: options.operator_token,
                    log: options.log,
                    args: &args,
                    ..Options::default()
                },
            )
        };
        if !options.together {
            return (0..n).map(|_| start()).collect();
        }
        let barrier = Barrier::new(n);
        let started: Vec<std::thread::Result<Server>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..n)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        start()
                    })
                })
                .collect();
            threads.into_iter().map(|thread| thread.join()).collect()
        });
        let mut nodes = Vec::with_capacity(n);
        for node in started {
            match node {
                Ok(server) => nodes.push(server),
                // The nodes collected so far are killed as `nodes` drops.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        nodes
    }
}

/// Debian's nginx as a round-robin reverse proxy in front of some nodes, in
/// a temporary directory of its own (config, pid, logs, temp files). Event
/// streams pass through unbuffered. Stopped when dropped.
#[derive(Debug)]
pub struct LoadBalancer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl LoadBalancer {
    /// Starts nginx in front of `nodes` and waits until its port answers.
    pub fn start(nodes: &[&Server]) -> LoadBalancer {
        assert!(!nodes.is_empty(), "a load balancer needs a node");
        let upstreams: Vec<String> = nodes.iter().map(|node| node.addr().to_owned()).collect();
        // The free port may be taken by someone else before nginx binds it.
        for _ in 1..PORT_ATTEMPTS {
            match LoadBalancer::try_start(&upstreams) {
                Ok(balancer) => return balancer,
                Err(problem) if problem.contains("Address already in use") => continue,
                Err(problem) => panic!("{problem}"),
            }
        }
        LoadBalancer::try_start(&upstreams).unwrap_or_else(|problem| panic!("{problem}"))
    }

    fn try_start(upstreams: &[String]) -> Result<LoadBalancer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        // nginx started as root runs its worker as `nobody`, which must reach
        // the temp paths inside.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod the nginx dir");
        }
        let port = free_port();
        let config = nginx_config(dir.path(), port, upstreams);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new(NGINX)
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path())
            // Errors before the config is read go here too, not to /var/log.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {NGINX} (`cargo xtask test` installs it): {e}"));
        let mut balancer = LoadBalancer {
            child,
            port,
            dir,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        while !answers(port) {
            if let Some(status) = balancer.child.try_wait().ok().flatten() {
                return Err(format!(
                    "nginx exited with {status}; it logged:\n{}",
                    balancer.error_log()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "nginx did not listen on port {port} within {PATIENCE:?}; it logged:\n{}",
                    balancer.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(balancer)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// A request through the balancer, as [`Server::request`].
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

    /// An event stream through the balancer, asserting a 200 `text/event-stream`.
    pub async fn events(&self, path: &str) -> Sse {
        self.try_events(path)
            .await
            .unwrap_or_else(|problem| panic!("stream {path} through nginx: {problem}"))
    }

    /// An event stream through the balancer; what it answered instead unless
    /// that is a 200 `text/event-stream`.
    pub async fn try_events(&self, path: &str) -> Result<Sse, String> {
        open_events(&self.client, self.url(path)).await
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SIGTERM lets the master stop its worker; SIGKILL would orphan it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + SOON;
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// nginx.conf for a balancer on `127.0.0.1:port` in front of `upstreams`
/// (`HOST:PORT` each), keeping every file it writes under `dir`.
pub fn nginx_config(dir: &Path, port: u16, upstreams: &[String]) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|addr| format!("        server {addr};\n"))
        .collect();
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream onair {{
{servers}    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://onair;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # With the port, as the client sent it: $host would drop it.
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"#
    )
}
