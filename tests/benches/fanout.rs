//! Fan-out benchmark: many idle chat-box streams on release servers, then
//! status flips under them.
//!
//! ```sh
//! # one node on SQLite
//! cargo bench -p onair-tests --bench fanout -- --streams 10000 --flips 20
//! # three nodes on a fresh PostgreSQL database and a fresh Redis
//! cargo bench -p onair-tests --bench fanout -- --streams 10000 --flips 10 --cluster 3
//! # both in one invocation: the single node first, then the cluster
//! cargo bench -p onair-tests --bench fanout -- --streams 10000 --flips 10 --cluster 3 --compare
//! ```
//!
//! Single node: reports the server's resident memory per idle stream (RSS
//! growth while the streams open, divided by their number) and, per flip, the
//! time from sending `PUT /me/status` to the moment the last stream has
//! received the new snapshot.
//!
//! Cluster (`--cluster N`): N release nodes share a fresh PostgreSQL database
//! and a fresh `redis-server`. Stream `i` connects straight to node `i % N`;
//! every status change goes through node 0. Per flip it measures the time from
//! sending the `PUT` to the last stream on any node having the new snapshot
//! (p50/p99 over flips), and for each node the time to its own last stream
//! (p99 over flips) and its RSS per stream. `--compare` runs the single node
//! first in the same invocation and prints the ratio of the two.
//!
//! Every run checks that each stream sees each flip exactly once, with
//! versions rising and the same version on every stream and in every node's
//! `GET /status`; it counts what breaks that and exits non-zero unless the
//! count is 0. Flips are spaced: the next is sent only once every stream has
//! the last one.
//!
//! One client process holds all streams, on loopback, and shares the machine
//! with the servers (and PostgreSQL and Redis), so the times include the
//! client's own work and the servers competing for the same cores. With 10
//! flips, p99 is the slowest flip.

use std::time::{Duration, Instant};

use onair_tests::cluster::{Cluster, NodeOptions, PgDatabase, RedisServer};
use onair_tests::{Database, OPERATOR_TOKEN, Options, Server, onair_release_bin};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const STATUS_EVENTS: &str = "/api/v1/accounts/bench/status/events";
/// How long every stream may take to get one flip.
const FLIP_PATIENCE: Duration = Duration::from_secs(30);
/// How long after the last flip late or doubled events are still caught.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Args {
    streams: usize,
    flips: usize,
    /// Nodes of the cluster run; None runs the single node only.
    cluster: Option<usize>,
    /// Run the single node too, before the cluster.
    compare: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        streams: 10_000,
        flips: 20,
        cluster: None,
        compare: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| -> usize {
            iter.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--streams" => args.streams = value("--streams"),
            "--flips" => args.flips = value("--flips"),
            "--cluster" => args.cluster = Some(value("--cluster")),
            "--compare" => args.compare = true,
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    assert!(args.streams > 0, "--streams must be at least 1");
    assert!(
        args.cluster.is_none_or(|n| n > 0),
        "--cluster needs at least one node"
    );
    assert!(
        !args.compare || args.cluster.is_some(),
        "--compare compares with a cluster run: add --cluster N"
    );
    args
}

/// What a stream reports to the main task.
#[derive(Debug)]
enum Seen {
    /// A status event with this version (`id:`), read at `at`.
    Event {
        stream: usize,
        version: u64,
        at: Instant,
    },
    /// The stream ended or failed.
    Closed { stream: usize },
}

/// One stream: connects, then reports the version of every status event,
/// timestamped as it is read.
async fn stream(addr: String, index: usize, seen: mpsc::UnboundedSender<Seen>) {
    let run = async {
        let mut socket = TcpStream::connect(&addr).await.ok()?;
        let request = format!(
            "GET {STATUS_EVENTS} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).await.ok()?;
        let mut buffer = [0u8; 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let read = match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return Some(()),
                Ok(n) => n,
            };
            let at = Instant::now();
            pending.extend_from_slice(&buffer[..read]);
            // Frames end with a blank line; the chunked framing around them
            // (`\r\n`, sizes) sits on lines of its own and never matches `id: `.
            let mut start = 0;
            while let Some(end) = find_blank_line(&pending[start..]) {
                let block = &pending[start..start + end];
                start += end + 2;
                if let Some(version) = event_id(block) {
                    let _ = seen.send(Seen::Event {
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
    let _ = seen.send(Seen::Closed { stream: index });
}

fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == b"\n\n")
}

/// The `id: N` of one SSE block.
fn event_id(block: &[u8]) -> Option<u64> {
    block.split(|&b| b == b'\n').find_map(|line| {
        let digits = line.strip_prefix(b"id: ")?;
        std::str::from_utf8(digits).ok()?.trim().parse().ok()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// What went against "every stream sees every flip exactly once, versions
/// rising, the same version everywhere".
#[derive(Debug, Default, Clone, Copy)]
struct Violations {
    /// A stream had not got the flip within [`FLIP_PATIENCE`].
    missed: usize,
    /// A stream got a second event for one flip, or one between flips.
    extra: usize,
    /// A version not above the stream's previous one, or a flip that did
    /// not raise the snapshot's version.
    not_rising: usize,
    /// A stream's, or a node's `GET /status`, version differs from node 0's.
    mismatch: usize,
    /// A stream ended.
    closed: usize,
}

impl Violations {
    fn total(&self) -> usize {
        self.missed + self.extra + self.not_rising + self.mismatch + self.closed
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (missed {}, extra {}, not rising {}, version mismatch {}, closed {})",
            self.total(),
            self.missed,
            self.extra,
            self.not_rising,
            self.mismatch,
            self.closed
        )
    }
}

#[derive(Debug, Default)]
struct StreamState {
    node: usize,
    /// The newest version this stream has seen.
    last: Option<u64>,
    /// The first event of the current flip: version and when it was read.
    this_flip: Option<(u64, Instant)>,
}

#[derive(Debug)]
struct NodeReport {
    streams: usize,
    rss_before: u64,
    rss_after: u64,
    /// Per flip, the time to this node's last stream, sorted.
    to_last: Vec<Duration>,
}

impl NodeReport {
    fn per_stream(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 * 1024.0 / self.streams.max(1) as f64
    }
}

#[derive(Debug)]
struct Report {
    nodes: Vec<NodeReport>,
    /// Per flip, the time to the last stream on any node, sorted.
    to_last: Vec<Duration>,
    /// Every stream's delivery of every flip, sorted.
    deliveries: Vec<Duration>,
    violations: Violations,
}

/// Opens `streams` streams round-robin over `nodes`, flips the agent of
/// `token` through `nodes[0]` `flips` times, and measures.
async fn run(nodes: &[Server], token: &str, streams: usize, flips: usize) -> Report {
    let mut violations = Violations::default();
    let rss_before: Vec<u64> = nodes.iter().map(Server::rss_kib).collect();
    for (index, rss) in rss_before.iter().enumerate() {
        eprintln!("    node {index} RSS {rss} KiB before streams");
    }
    eprintln!("==> opening {streams} streams");
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let mut states: Vec<StreamState> = Vec::with_capacity(streams);
    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(streams);
    let opening = Instant::now();
    for index in 0..streams {
        let node = index % nodes.len();
        states.push(StreamState {
            node,
            ..StreamState::default()
        });
        tasks.push(tokio::spawn(stream(
            nodes[node].addr().to_owned(),
            index,
            seen_tx.clone(),
        )));
        // Let the accept queues drain now and then instead of flooding them.
        if index % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    drop(seen_tx);
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while open < streams {
        let seen = tokio::time::timeout_at(deadline, seen_rx.recv())
            .await
            .expect("streams connect within a minute")
            .expect("the streams run");
        match seen {
            Seen::Event {
                stream, version, ..
            } => {
                let state = &mut states[stream];
                if state.last.replace(version).is_none() {
                    open += 1;
                    if open % 2000 == 0 {
                        eprintln!("    {open} streams open");
                    }
                } else {
                    violations.extra += 1;
                }
            }
            Seen::Closed { stream } => panic!("stream {stream} ended while opening"),
        }
    }
    eprintln!("    all open in {}", ms(opening.elapsed()));
    // Let allocations settle before reading memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after: Vec<u64> = nodes.iter().map(Server::rss_kib).collect();
    // Every stream starts from the same snapshot.
    let mut last_version = current_version(&nodes[0]).await;
    for state in &states {
        if state.last != Some(last_version) {
            violations.mismatch += 1;
        }
    }

    eprintln!("==> {flips} flips through node 0");
    let mut to_last = Vec::with_capacity(flips);
    let mut node_to_last: Vec<Vec<Duration>> = vec![Vec::with_capacity(flips); nodes.len()];
    let mut deliveries = Vec::with_capacity(streams * flips);
    let mut closed = vec![false; streams];
    for flip in 0..flips {
        // Whatever arrived since the last flip was complete is unasked for.
        while let Ok(seen) = seen_rx.try_recv() {
            note_outside_flip(seen, &mut closed, &mut violations);
        }
        let status = if flip % 2 == 0 { "online" } else { "offline" };
        let sent = Instant::now();
        nodes[0].set_status(token, status).await;
        let deadline = tokio::time::Instant::now() + FLIP_PATIENCE;
        let mut received = 0;
        let mut waiting = streams - closed.iter().filter(|c| **c).count();
        while received < waiting {
            let Ok(Some(seen)) = tokio::time::timeout_at(deadline, seen_rx.recv()).await else {
                break;
            };
            match seen {
                Seen::Event {
                    stream,
                    version,
                    at,
                } => {
                    let state = &mut states[stream];
                    if state.last.is_some_and(|last| version <= last) {
                        violations.not_rising += 1;
                    }
                    state.last = Some(version);
                    if state.this_flip.is_some() {
                        violations.extra += 1;
                    } else {
                        state.this_flip = Some((version, at));
                        received += 1;
                    }
                }
                Seen::Closed { stream } => {
                    violations.closed += 1;
                    closed[stream] = true;
                    if states[stream].this_flip.is_none() {
                        waiting -= 1;
                    }
                }
            }
        }
        violations.missed += waiting - received;

        // The version of this flip is node 0's; every node must serve it.
        let version = current_version(&nodes[0]).await;
        if version <= last_version {
            violations.not_rising += 1;
        }
        last_version = version;
        for node in &nodes[1..] {
            if current_version(node).await != version {
                violations.mismatch += 1;
            }
        }
        let mut slowest = Duration::ZERO;
        let mut node_slowest = vec![Duration::ZERO; nodes.len()];
        for state in &mut states {
            let Some((seen_version, at)) = state.this_flip.take() else {
                continue;
            };
            if seen_version != version {
                violations.mismatch += 1;
            }
            let took = at.saturating_duration_since(sent);
            deliveries.push(took);
            slowest = slowest.max(took);
            node_slowest[state.node] = node_slowest[state.node].max(took);
        }
        to_last.push(slowest);
        for (node, took) in node_slowest.into_iter().enumerate() {
            node_to_last[node].push(took);
        }
        let per_node: Vec<String> = node_to_last
            .iter()
            .map(|times| ms(*times.last().expect("this flip")))
            .collect();
        eprintln!(
            "    flip {:>2} ({status:<7}): last of {streams} streams after {}{}",
            flip + 1,
            ms(slowest),
            if nodes.len() > 1 {
                format!("  (per node: {})", per_node.join(", "))
            } else {
                String::new()
            }
        );
    }
    // Late or doubled deliveries of the last flip.
    let settle = tokio::time::Instant::now() + SETTLE;
    while let Ok(Some(seen)) = tokio::time::timeout_at(settle, seen_rx.recv()).await {
        note_outside_flip(seen, &mut closed, &mut violations);
    }
    for task in &tasks {
        task.abort();
    }
    to_last.sort();
    deliveries.sort();
    let nodes = node_to_last
        .into_iter()
        .enumerate()
        .map(|(index, mut times)| {
            times.sort();
            NodeReport {
                streams: states.iter().filter(|s| s.node == index).count(),
                rss_before: rss_before[index],
                rss_after: rss_after[index],
                to_last: times,
            }
        })
        .collect();
    Report {
        nodes,
        to_last,
        deliveries,
        violations,
    }
}

fn note_outside_flip(seen: Seen, closed: &mut [bool], violations: &mut Violations) {
    match seen {
        Seen::Event { .. } => violations.extra += 1,
        Seen::Closed { stream } => {
            violations.closed += 1;
            closed[stream] = true;
        }
    }
}

/// The version the last flip produced, from a node's public snapshot.
async fn current_version(server: &Server) -> u64 {
    let snapshot = server.get_ok("/api/v1/accounts/bench/status", None).await;
    snapshot["version"].as_u64().expect("version")
}

/// One node on SQLite, as the printed report of the single-node run.
async fn single(args: &Args) -> Report {
    eprintln!("==> building and starting the release server (SQLite)");
    let database = Database::new();
    let server = Server::start_with(
        &database,
        Options {
            binary: Some(onair_release_bin()),
            operator_token: Some(OPERATOR_TOKEN),
            ..Options::default()
        },
    );
    let token = server.create_account("bench").await;
    let nodes = vec![server];
    let report = run(&nodes, &token, args.streams, args.flips).await;
    let [node] = &report.nodes[..] else {
        unreachable!("one node")
    };

    println!();
    println!(
        "onair fan-out benchmark ({} idle streams, {} flips, one client process, loopback)",
        args.streams, args.flips
    );
    println!("  server RSS before streams   {} KiB", node.rss_before);
    println!("  server RSS with streams     {} KiB", node.rss_after);
    println!(
        "  memory per idle stream      {:.0} bytes",
        node.per_stream()
    );
    println!(
        "  flip → last stream   p50 {}  p99 {}  max {}",
        ms(percentile(&report.to_last, 0.5)),
        ms(percentile(&report.to_last, 0.99)),
        ms(percentile(&report.to_last, 1.0))
    );
    println!(
        "  flip → each stream   p50 {}  p99 {}",
        ms(percentile(&report.deliveries, 0.5)),
        ms(percentile(&report.deliveries, 0.99))
    );
    println!("  violations           {}", report.violations);
    // A clean stop, so tools wrapped around the server (profilers) can write
    // their reports.
    for mut node in nodes {
        node.stop();
    }
    report
}

/// `n` nodes on a fresh PostgreSQL database and a fresh Redis.
async fn cluster(args: &Args, n: usize) -> Report {
    eprintln!("==> building and starting {n} release nodes (PostgreSQL, Redis)");
    let binary = onair_release_bin();
    let database = PgDatabase::fresh();
    let redis = RedisServer::start();
    let nodes = Cluster::start_with(
        n,
        &database,
        NodeOptions {
            binary: Some(binary),
            redis: Some(&redis),
            operator_token: Some(OPERATOR_TOKEN),
            ..NodeOptions::default()
        },
    );
    let token = nodes[0].create_account("bench").await;
    let report = run(&nodes, &token, args.streams, args.flips).await;

    println!();
    println!(
        "onair fan-out benchmark, cluster of {n} nodes on PostgreSQL and Redis ({} idle streams \
         round-robin over the nodes, {} flips through node 0, one client process, loopback)",
        args.streams, args.flips
    );
    for (index, node) in report.nodes.iter().enumerate() {
        println!(
            "  node {index}: {:>5} streams  RSS {} → {} KiB  {:.0} bytes per stream  \
             last stream p50 {}  p99 {}",
            node.streams,
            node.rss_before,
            node.rss_after,
            node.per_stream(),
            ms(percentile(&node.to_last, 0.5)),
            ms(percentile(&node.to_last, 0.99)),
        );
    }
    println!(
        "  flip → last stream on any node   p50 {}  p99 {}  max {}",
        ms(percentile(&report.to_last, 0.5)),
        ms(percentile(&report.to_last, 0.99)),
        ms(percentile(&report.to_last, 1.0))
    );
    println!(
        "  flip → each stream               p50 {}  p99 {}",
        ms(percentile(&report.deliveries, 0.5)),
        ms(percentile(&report.deliveries, 0.99))
    );
    println!("  violations                       {}", report.violations);
    for mut node in nodes {
        node.stop();
    }
    drop(redis);
    drop(database);
    report
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let mut violations = 0;
    let single_report = if args.cluster.is_none() || args.compare {
        let report = single(&args).await;
        violations += report.violations.total();
        Some(report)
    } else {
        None
    };
    if let Some(n) = args.cluster {
        let report = cluster(&args, n).await;
        violations += report.violations.total();
        if let Some(single) = &single_report {
            let ratio = |p: f64| {
                percentile(&report.to_last, p).as_secs_f64()
                    / percentile(&single.to_last, p).as_secs_f64()
            };
            println!();
            println!(
                "cluster of {n} vs single node, same run, flip → last stream: \
                 p50 {:.1}× ({} vs {}), p99 {:.1}× ({} vs {})",
                ratio(0.5),
                ms(percentile(&report.to_last, 0.5)),
                ms(percentile(&single.to_last, 0.5)),
                ratio(0.99),
                ms(percentile(&report.to_last, 0.99)),
                ms(percentile(&single.to_last, 0.99)),
            );
        }
    }
    if violations > 0 {
        eprintln!("{violations} violations of one event per flip per stream");
        std::process::exit(1);
    }
}
