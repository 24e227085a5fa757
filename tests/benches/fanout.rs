//! Fan-out benchmark: many idle chat-box streams on one release server, then
//! status flips under them.
//!
//! ```sh
//! cargo bench -p onair-tests --bench fanout -- --streams 10000 --flips 20
//! ```
//!
//! Reports the server's resident memory per idle stream (RSS growth while the
//! streams open, divided by their number) and, per flip, the time from sending
//! `PUT /me/status` to the moment the last stream has received the new
//! snapshot, as seen by one client process on loopback. Both processes share
//! the machine, so the numbers include the client's own work.

use std::time::{Duration, Instant};

use onair_tests::{Database, OPERATOR_TOKEN, Options, Server, onair_release_bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[derive(Debug)]
struct Args {
    streams: usize,
    flips: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        streams: 10_000,
        flips: 20,
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
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    args
}

/// Resident memory of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// One stream: connects, then reports the version of every status event.
async fn stream(
    addr: String,
    path: String,
    events: mpsc::UnboundedSender<u64>,
    connected: mpsc::UnboundedSender<()>,
) {
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    socket
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut buffer = vec![0u8; 2048];
    let mut pending = String::new();
    let mut first = true;
    loop {
        let read = match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.push_str(&String::from_utf8_lossy(&buffer[..read]));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let Some(version) = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse().ok())
            else {
                continue;
            };
            if first {
                first = false;
                let _ = connected.send(());
            } else {
                let _ = events.send(version);
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    eprintln!("==> building and starting the release server");
    let database = Database::new();
    let binary = onair_release_bin();
    let mut server = Server::start_with(
        &database,
        Options {
            binary: Some(binary),
            operator_token: Some(OPERATOR_TOKEN),
            ..Options::default()
        },
    );
    let token = server.create_account("bench").await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let pid = server.child.id();
    let path = "/api/v1/accounts/bench/status/events".to_owned();

    let rss_before = rss_kib(pid);
    eprintln!(
        "==> opening {} streams (server RSS {rss_before} KiB)",
        args.streams
    );
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let (connected_tx, mut connected_rx) = mpsc::unbounded_channel();
    let opening = Instant::now();
    for index in 0..args.streams {
        tokio::spawn(stream(
            addr.clone(),
            path.clone(),
            events_tx.clone(),
            connected_tx.clone(),
        ));
        // Let the accept queue drain now and then instead of flooding it.
        if index % 200 == 199 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for count in 1..=args.streams {
        tokio::time::timeout(Duration::from_secs(60), connected_rx.recv())
            .await
            .expect("streams connect within a minute")
            .expect("a stream connected");
        if count % 2000 == 0 {
            eprintln!("    {count} streams open");
        }
    }
    eprintln!("    all open in {}", ms(opening.elapsed()));
    // Let allocations settle before reading memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(pid);
    let per_stream = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / args.streams as f64;

    eprintln!("==> {} flips", args.flips);
    let mut to_last = Vec::new();
    let mut deliveries = Vec::new();
    let mut last_version = 0;
    for flip in 0..args.flips {
        let status = if flip % 2 == 0 { "online" } else { "offline" };
        let sent = Instant::now();
        server.set_status(&token, status).await;
        let mut received = 0;
        while received < args.streams {
            let version = tokio::time::timeout(Duration::from_secs(30), events_rx.recv())
                .await
                .expect("every stream gets the flip within 30 s")
                .expect("an event");
            if version > last_version {
                received += 1;
                deliveries.push(sent.elapsed());
            }
        }
        let elapsed = sent.elapsed();
        to_last.push(elapsed);
        // Every stream has this version now; later events are newer.
        last_version = last_version.max(current_version(&server).await);
        eprintln!(
            "    flip {:>2} ({status:<7}): last of {} streams after {}",
            flip + 1,
            args.streams,
            ms(elapsed)
        );
    }
    to_last.sort();
    deliveries.sort();

    println!();
    println!(
        "onair fan-out benchmark ({} idle streams, {} flips, one client process, loopback)",
        args.streams, args.flips
    );
    println!("  server RSS before streams   {rss_before} KiB");
    println!("  server RSS with streams     {rss_after} KiB");
    println!("  memory per idle stream      {:.0} bytes", per_stream);
    println!(
        "  flip → last stream   p50 {}  p99 {}  max {}",
        ms(percentile(&to_last, 0.5)),
        ms(percentile(&to_last, 0.99)),
        ms(percentile(&to_last, 1.0))
    );
    println!(
        "  flip → each stream   p50 {}  p99 {}",
        ms(percentile(&deliveries, 0.5)),
        ms(percentile(&deliveries, 0.99))
    );
    // A clean stop, so tools wrapped around the server (profilers) can write
    // their reports.
    server.stop();
}

/// The version the last flip produced, from the public snapshot.
async fn current_version(server: &Server) -> u64 {
    let snapshot = server.get_ok("/api/v1/accounts/bench/status", None).await;
    snapshot["version"].as_u64().expect("version")
}
