//! The stream engine against nginx + nchan, side by side, with one load
//! generator: idle event streams, then status changes under them.
//!
//! ```sh
//! cargo xtask bench                      # installs nginx + nchan, 10 000 and 18 500 streams, 3 runs
//! cargo bench -p onair-tests --bench versus_nchan -- --streams 10000 --changes 10 --runs 3
//! ```
//!
//! Each run starts a fresh process: `onair serve` (release, SQLite) or
//! `nginx` with two workers, an EventSource subscriber location and a
//! publisher location (nchan). Runs alternate, onair first. In each run the
//! generator:
//!
//! 1. opens `--streams` streams at once, from source addresses spread over
//!    127.0.0.2–127.0.0.51, and times until every one has its answer head
//!    (the connect rate);
//! 2. after a settling second reads the server's memory — the sum of `Pss`
//!    (`/proc/PID/smaps_rollup`) over its processes — and the kernel's
//!    memory for sockets (slab caches and TCP buffer pages, machine-wide, so
//!    both ends of each loopback connection) and divides their growth by the
//!    streams;
//! 3. makes `--changes` changes, one at a time: for onair `PUT /me/status`
//!    (online ⇄ busy), for nchan a `POST` of a snapshot of the same size to
//!    the publisher. Every stream must get the new snapshot (its
//!    `"version":N`) once; a delivery's latency runs from sending the change
//!    to reading it. The next change waits until every stream has this one.
//!
//! `--hold S` keeps the streams idle for S seconds between 2 and 3; a stream
//! the server or the kernel drops meanwhile is a failure. `--after-healthz`
//! sends a `GET /healthz` before each stream's request on its connection,
//! so onair serves the streams with hyper instead of directly (a comparison
//! of the two paths). `--pin` puts the server (every thread of onair, nginx's
//! master and workers) on CPU 0 and the generator on the others, so that the
//! latencies measure each server's own cost per delivery on one core rather
//! than how it shares the cores with the generator.
//!
//! 4. closes every stream and, two seconds later, reads the server's memory
//!    again: what it kept, per stream that was open.
//!
//! The table gives the median over runs of each figure and the ratio onair
//! ÷ nchan. Any stream that fails, misses a change or gets one twice or out
//! of order counts as a failure; the exit status is non-zero if there is one.
//!
//! The generator holds every stream in one process on the same machine, so
//! the times include its own work and the server competing for the cores.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use onair_tests::{Database, OPERATOR_TOKEN, Options, Server, onair_release_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

/// Source addresses the streams connect from, so that no address runs out
/// of ports whatever the number of streams.
const SOURCES: u8 = 50;
/// How long every stream may take to get one change.
const PATIENCE: Duration = Duration::from_secs(30);
/// The nchan module of Debian's `libnginx-mod-nchan`.
const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
const NGINX: &str = "/usr/sbin/nginx";

#[derive(Debug)]
struct Args {
    streams: Vec<usize>,
    changes: usize,
    runs: usize,
    /// Seconds the streams stay idle before the changes (streams that fail
    /// meanwhile count as failures).
    hold: u64,
    /// Open each stream after a `GET /healthz` on its connection.
    after_healthz: bool,
    /// Only onair (no nchan installed): the smoke run of the test command.
    onair_only: bool,
    /// The server on the first CPU and the generator on the others.
    pin: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        streams: vec![10_000],
        changes: 10,
        runs: 3,
        hold: 0,
        after_healthz: false,
        onair_only: false,
        pin: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| -> String {
            iter.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        let number = |name: &str, v: &str| -> usize {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: {v:?} is not a number"))
        };
        match arg.as_str() {
            "--streams" => {
                let v = value("--streams");
                args.streams = v.split(',').map(|n| number("--streams", n)).collect();
            }
            "--changes" => args.changes = number("--changes", &value("--changes")),
            "--runs" => args.runs = number("--runs", &value("--runs")),
            "--hold" => args.hold = number("--hold", &value("--hold")) as u64,
            "--onair-only" => args.onair_only = true,
            "--after-healthz" => args.after_healthz = true,
            "--pin" => args.pin = true,
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    assert!(
        args.streams.iter().all(|n| *n > 0),
        "--streams must be at least 1"
    );
    assert!(
        args.changes > 0 && args.runs > 0,
        "--changes and --runs must be at least 1"
    );
    args
}

/// What a stream reports.
#[derive(Debug)]
enum Seen {
    /// The answer head arrived (status 200).
    Open { stream: usize },
    /// A frame with `"version":N`, read at `at`.
    Frame {
        stream: usize,
        version: u64,
        at: Instant,
    },
    /// The stream failed or ended.
    Failed { stream: usize },
}

/// One stream: connect from a spread source address, send the request, and
/// report the head and then every snapshot's version.
async fn stream(
    target: SocketAddr,
    path: String,
    index: usize,
    after_healthz: bool,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % SOURCES as usize) as u8);
    let run = async {
        let socket = TcpSocket::new_v4().ok()?;
        socket
            .bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
            .ok()?;
        // Closed with a reset, not a FIN: a run's streams then leave no
        // TIME_WAIT sockets behind (tens of thousands, for a minute) to
        // lengthen the kernel's socket lookups in the next run.
        socket.set_zero_linger().ok()?;
        let mut socket = socket.connect(target).await.ok()?;
        let mut request = String::new();
        if after_healthz {
            // A request before the stream on the same connection: onair
            // serves such a stream with hyper rather than directly.
            request.push_str(&format!("GET /healthz HTTP/1.1\r\nHost: {target}\r\n\r\n"));
        }
        request.push_str(&format!(
            "GET {path} HTTP/1.1\r\nHost: {target}\r\nAccept: text/event-stream\r\n\r\n"
        ));
        socket.write_all(request.as_bytes()).await.ok()?;
        let mut buffer = [0u8; 2048];
        let mut pending: Vec<u8> = Vec::new();
        let mut head_seen = false;
        loop {
            let read = match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return Some(()),
                Ok(n) => n,
            };
            let at = Instant::now();
            pending.extend_from_slice(&buffer[..read]);
            let mut start = 0;
            if !head_seen {
                let Some(end) = find(&pending, b"\r\n\r\n") else {
                    continue;
                };
                if !pending.starts_with(b"HTTP/1.1 200") {
                    return Some(());
                }
                head_seen = true;
                start = end + 4;
                let _ = seen.send(Seen::Open { stream: index });
            }
            // Frames end with a blank line; chunk sizes (nchan answers
            // chunked) sit on lines of their own and hold no version.
            while let Some(end) = find(&pending[start..], b"\n\n") {
                let block = &pending[start..start + end];
                start += end + 2;
                if let Some(version) = version_of(block) {
                    let _ = seen.send(Seen::Frame {
                        stream: index,
                        version,
                        at,
                    });
                }
            }
            pending.drain(..start);
        }
    };
    run.await;
    let _ = seen.send(Seen::Failed { stream: index });
}

fn find(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    bytes.windows(needle.len()).position(|w| w == needle)
}

/// The `"version":N` in the `data:` of one SSE block.
fn version_of(block: &[u8]) -> Option<u64> {
    let at = find(block, b"\"version\":")? + b"\"version\":".len();
    let digits: String = block[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse().ok()
}

/// The system under test.
trait Target {
    fn name(&self) -> &'static str;
    fn addr(&self) -> SocketAddr;
    fn stream_path(&self) -> &str;
    fn pids(&self) -> Vec<u32>;
    /// The request that makes change number `n`.
    fn change(&self, n: u64) -> Change;
}

/// One change: a request with a JSON body.
#[derive(Debug, Clone)]
struct Change {
    method: reqwest::Method,
    url: String,
    token: Option<String>,
    body: String,
}

/// Sends a change from a thread and runtime of its own, so that its answer
/// is not read late by the generator's busy runtime; returns when it was
/// sent and how long the answer took.
fn send_change(change: Change) -> (Instant, Duration) {
    tokio::task::block_in_place(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let mut request = client
                .request(change.method, &change.url)
                .header("content-type", "application/json")
                .body(change.body);
            if let Some(token) = &change.token {
                request = request.bearer_auth(token);
            }
            let sent = Instant::now();
            let response = request.send().await.expect("the change is answered");
            let status = response.status();
            let _ = response.bytes().await;
            let took = sent.elapsed();
            assert!(status.is_success(), "the change was answered {status}");
            (sent, took)
        })
    })
}

struct Onair {
    server: Server,
    token: String,
    _database: Database,
}

impl Onair {
    async fn start() -> Onair {
        let database = Database::new();
        // Nearly every descriptor for connections: the server's default cap
        // keeps a tenth free, and this bench wants as many streams as the
        // process limit allows.
        let max = (descriptor_limit().saturating_sub(200)).max(16).to_string();
        let server = Server::start_with(
            &database,
            Options {
                binary: Some(onair_release_bin()),
                operator_token: Some(OPERATOR_TOKEN),
                args: &["--max-connections", &max],
                ..Options::default()
            },
        );
        let token = server.create_account("bench").await;
        Onair {
            server,
            token,
            _database: database,
        }
    }
}

impl Target for Onair {
    fn name(&self) -> &'static str {
        "onair"
    }
    fn addr(&self) -> SocketAddr {
        self.server.addr().parse().expect("address")
    }
    fn stream_path(&self) -> &str {
        "/api/v1/accounts/bench/status/events"
    }
    fn pids(&self) -> Vec<u32> {
        vec![self.server.child.id()]
    }
    fn change(&self, n: u64) -> Change {
        let status = if n % 2 == 1 { "online" } else { "busy" };
        Change {
            method: reqwest::Method::PUT,
            url: self.server.url("/api/v1/me/status"),
            token: Some(self.token.clone()),
            body: format!(r#"{{"status":"{status}"}}"#),
        }
    }
}

struct Nchan {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    /// A snapshot as onair sends it, to publish with each version.
    snapshot: String,
}

impl Nchan {
    async fn start(snapshot: String) -> Nchan {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), port)).expect("write nginx.conf");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let nchan = Nchan {
            child,
            addr,
            _dir: dir,
            snapshot,
        };
        // A first message, as onair's streams start with a snapshot.
        send_change(nchan.change(0));
        nchan
    }
}

fn nginx_conf(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        "load_module {NCHAN_MODULE};
worker_processes 2;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 30000; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /sub {{
            nchan_subscriber eventsource;
            nchan_channel_id status;
            nchan_subscriber_first_message newest;
        }}
        location = /pub {{
            nchan_publisher;
            nchan_channel_id status;
            nchan_message_buffer_length 1;
        }}
    }}
}}
"
    )
}

impl Target for Nchan {
    fn name(&self) -> &'static str {
        "nchan"
    }
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn stream_path(&self) -> &str {
        "/sub"
    }
    fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        pids.extend(children_of(master));
        pids
    }
    fn change(&self, n: u64) -> Change {
        Change {
            method: reqwest::Method::POST,
            url: format!("http://{}/pub", self.addr),
            token: None,
            body: self
                .snapshot
                .replacen("\"version\":0", &format!("\"version\":{n}"), 1),
        }
    }
}

impl Drop for Nchan {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The soft limit on open files, which the servers started here inherit.
fn descriptor_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

/// Moves every thread of `pid` onto `cpus` (a `taskset` list, e.g. `0` or `1-3`).
fn pin(pid: u32, cpus: &str) {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run taskset");
    assert!(status.success(), "taskset -a -p -c {cpus} {pid}: {status}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn children_of(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Proportional set size of a process, in bytes.
fn pss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The kernel's memory that sockets take: its slab caches (socket, inode,
/// epoll and file objects live there) and the pages of TCP buffers
/// (`/proc/net/sockstat`), machine-wide.
fn kernel_bytes() -> u64 {
    let slab = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("Slab:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024);
    let tcp_pages = std::fs::read_to_string("/proc/net/sockstat")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .and_then(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|f| *f == "mem")?;
            fields.get(at + 1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    slab + tcp_pages * 4096
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct Run {
    memory_per_stream: f64,
    /// Memory still taken two seconds after the streams closed, per stream.
    kept_per_stream: f64,
    kernel_per_stream: f64,
    /// Every delivery of every change.
    deliveries: Vec<Duration>,
    /// Per change, the time to the last stream.
    to_last: Vec<Duration>,
    /// Per change, the time until the change was answered.
    answered: Vec<Duration>,
    connect_rate: f64,
    failures: usize,
}

/// What one run does.
#[derive(Debug, Clone, Copy)]
struct Load {
    streams: usize,
    changes: usize,
    /// Seconds idle before the changes.
    hold: u64,
    /// Each stream is the second request on its connection.
    after_healthz: bool,
    /// The server on CPU 0 (the generator is on the others).
    pin: bool,
}

async fn measure(target: &impl Target, load: Load) -> Run {
    let Load {
        streams,
        changes,
        hold,
        ..
    } = load;
    let pids = target.pids();
    if load.pin {
        for pid in &pids {
            pin(*pid, "0");
        }
    }
    let memory = |pids: &[u32]| pids.iter().map(|p| pss(*p)).sum::<u64>();
    let before = memory(&pids);
    let kernel_before = kernel_bytes();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(streams);
    for index in 0..streams {
        tasks.push(tokio::spawn(stream(
            target.addr(),
            target.stream_path().to_owned(),
            index,
            load.after_healthz,
            tx.clone(),
        )));
    }
    drop(tx);
    let mut run = Run::default();
    let mut open = 0;
    let mut last: Vec<Option<u64>> = vec![None; streams];
    let mut failed = vec![false; streams];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while open + run.failures < streams {
        let Ok(Some(seen)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        match seen {
            Seen::Open { stream } => {
                debug_assert!(stream < streams);
                open += 1;
            }
            Seen::Frame {
                stream, version, ..
            } => last[stream] = Some(version),
            Seen::Failed { stream } => {
                failed[stream] = true;
                run.failures += 1;
            }
        }
    }
    let opening = started.elapsed();
    // Every stream that did not open failed, whether it said so or not.
    run.failures = streams - open;
    run.connect_rate = open as f64 / opening.as_secs_f64();
    eprintln!(
        "    {}: {open} of {streams} streams open in {:.2} s",
        target.name(),
        opening.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = memory(&pids);
    let kernel_after = kernel_bytes();
    run.memory_per_stream = after.saturating_sub(before) as f64 / open.max(1) as f64;
    run.kernel_per_stream = kernel_after.saturating_sub(kernel_before) as f64 / open.max(1) as f64;
    eprintln!(
        "    {}: {:.0} B per idle stream, {:.0} B of kernel memory",
        target.name(),
        run.memory_per_stream,
        run.kernel_per_stream
    );

    if hold > 0 {
        eprintln!("    holding the streams idle for {hold} s");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    let mut newest = last.iter().flatten().copied().max().unwrap_or(0);
    for _ in 0..changes {
        // Drain what came meanwhile (initial snapshots arriving late).
        while let Ok(seen) = rx.try_recv() {
            note(seen, &mut last, &mut failed, &mut run);
        }
        let (sent, answered) = send_change(target.change(newest + 1));
        run.answered.push(answered);
        // onair gives the change the account's next version; nchan the one sent.
        let mut got = 0;
        let waiting = failed.iter().filter(|f| !**f).count();
        let mut slowest = Duration::ZERO;
        let mut version = None;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while got < waiting {
            let Ok(Some(seen)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                break;
            };
            match seen {
                Seen::Frame {
                    stream,
                    version: v,
                    at,
                } => {
                    if last[stream].is_some_and(|l| v <= l) || version.is_some_and(|n| n != v) {
                        run.failures += 1;
                        continue;
                    }
                    version = Some(v);
                    last[stream] = Some(v);
                    let took = at.saturating_duration_since(sent);
                    run.deliveries.push(took);
                    slowest = slowest.max(took);
                    got += 1;
                }
                other => note(other, &mut last, &mut failed, &mut run),
            }
        }
        run.failures += waiting.saturating_sub(got);
        run.to_last.push(slowest);
        newest = version.unwrap_or(newest + 1);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(seen) = rx.try_recv() {
        note(seen, &mut last, &mut failed, &mut run);
    }
    for task in &tasks {
        task.abort();
    }
    // What the server keeps once every stream has closed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.kept_per_stream = memory(&pids).saturating_sub(before) as f64 / open.max(1) as f64;
    run.deliveries.sort();
    run.to_last.sort();
    run.answered.sort();
    if !run.deliveries.is_empty() {
        eprintln!(
            "    {}: change → stream p99 {:.1} ms, {:.0} B per stream kept after closing",
            target.name(),
            ms(percentile(&run.deliveries, 0.99)),
            run.kept_per_stream
        );
    }
    run
}

/// Anything arriving outside a change's wait: a stream failing, or a frame
/// nobody asked for (a duplicate).
fn note(seen: Seen, last: &mut [Option<u64>], failed: &mut [bool], run: &mut Run) {
    match seen {
        Seen::Open { .. } => {}
        Seen::Frame {
            stream, version, ..
        } => {
            if last[stream].is_some() {
                run.failures += 1;
            }
            last[stream] = Some(version);
        }
        Seen::Failed { stream } => {
            if !failed[stream] {
                failed[stream] = true;
                run.failures += 1;
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The rows of the table: a name, a unit, and the figure of one run.
type Row = (&'static str, &'static str, fn(&Run) -> f64);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const ROWS: &[Row] = &[
    ("memory per idle stream", "B", |r| r.memory_per_stream),
    (
        "memory kept once the streams closed, per stream",
        "B",
        |r| r.kept_per_stream,
    ),
    ("kernel memory per stream, both ends", "B", |r| {
        r.kernel_per_stream
    }),
    ("change → stream p50", "ms", |r| {
        ms(percentile(&r.deliveries, 0.5))
    }),
    ("change → stream p99", "ms", |r| {
        ms(percentile(&r.deliveries, 0.99))
    }),
    ("change → stream max", "ms", |r| {
        ms(percentile(&r.deliveries, 1.0))
    }),
    ("change → last stream, median", "ms", |r| {
        ms(percentile(&r.to_last, 0.5))
    }),
    ("change answered, median", "ms", |r| {
        ms(percentile(&r.answered, 0.5))
    }),
    ("connect rate", "streams/s", |r| r.connect_rate),
    ("failures", "", |r| r.failures as f64),
];

fn table(streams: usize, changes: usize, onair: &[Run], nchan: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{streams} idle streams, {changes} changes, {} run(s) each (median of runs)",
        onair.len()
    );
    let _ = writeln!(
        out,
        "| {:<52} | {:>12} | {:>12} | {:>13} |",
        "", "onair", "nchan", "onair ÷ nchan"
    );
    let _ = writeln!(out, "|{:-<54}|{:->14}|{:->14}|{:->15}|", "", "", "", "");
    for (name, unit, figure) in ROWS {
        let a = median(onair.iter().map(figure).collect());
        let label = if unit.is_empty() {
            (*name).to_owned()
        } else {
            format!("{name} ({unit})")
        };
        if nchan.is_empty() {
            let _ = writeln!(
                out,
                "| {label:<52} | {a:>12.1} | {:>12} | {:>13} |",
                "–", "–"
            );
            continue;
        }
        let b = median(nchan.iter().map(figure).collect());
        let ratio = if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "–".to_owned()
        };
        let _ = writeln!(out, "| {label:<52} | {a:>12.1} | {b:>12.1} | {ratio:>13} |");
    }
    out
}

/// One snapshot as onair sends it, with `"version":0`, for nchan to carry.
async fn onair_snapshot() -> String {
    let onair = Onair::start().await;
    let mut snapshot = onair
        .server
        .get_ok("/api/v1/accounts/bench/status", None)
        .await;
    snapshot["version"] = serde_json::json!(0);
    serde_json::to_string(&snapshot).expect("json")
}

fn nchan_installed() -> bool {
    PathBuf::from(NCHAN_MODULE).exists() && PathBuf::from(NGINX).exists()
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let with_nchan = !args.onair_only;
    assert!(
        !with_nchan || nchan_installed(),
        "nchan is not installed ({NCHAN_MODULE}); `cargo xtask bench` installs it, \
         or pass --onair-only"
    );
    if args.pin {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        assert!(cpus >= 2, "--pin needs at least two CPUs");
        pin(std::process::id(), &format!("1-{}", cpus - 1));
    }
    let snapshot = onair_snapshot().await;
    let mut failures = 0;
    for &streams in &args.streams {
        let load = Load {
            streams,
            changes: args.changes,
            hold: args.hold,
            after_healthz: args.after_healthz,
            pin: args.pin,
        };
        let mut onair_runs = Vec::new();
        let mut nchan_runs = Vec::new();
        for run in 1..=args.runs {
            eprintln!("==> {streams} streams, run {run} of {}", args.runs);
            let mut onair = Onair::start().await;
            let measured = measure(&onair, load).await;
            failures += measured.failures;
            onair_runs.push(measured);
            // A clean stop, so that a profiler wrapped around the server
            // (ONAIR_RELEASE_BIN naming a script) writes its report.
            onair.server.stop();
            if with_nchan {
                let nchan = Nchan::start(snapshot.clone()).await;
                let measured = measure(&nchan, load).await;
                failures += measured.failures;
                nchan_runs.push(measured);
            }
        }
        print!("{}", table(streams, args.changes, &onair_runs, &nchan_runs));
    }
    if failures > 0 {
        eprintln!("{failures} failures (streams that failed, missed or repeated a change)");
        std::process::exit(1);
    }
}
