//! Login-flood benchmark: what a flood of failed logins costs everyone else.
//!
//! ```sh
//! cargo bench -p onair-tests --bench login_flood -- --rate 200 --seconds 10
//! ```
//!
//! Starts a release server (behind a pretend proxy: `--trusted-proxies
//! 127.0.0.1`, each flood request naming another client address in
//! `X-Forwarded-For`, so the per-address limit does not stop the flood and
//! every attempt reaches password hashing), measures the latency of status
//! snapshots and of an agent's `PUT /me/status` while quiet, then again
//! while `--rate` failed logins a second arrive for unknown emails. Reports
//! p50/p99 of both, how the flood was answered (401, 429, 503), and the
//! server's RSS before and after.

use std::time::{Duration, Instant};

use onair_tests::{Database, OPERATOR_TOKEN, Options, Server, onair_release_bin, proc_status_kib};
use serde_json::json;

#[derive(Debug)]
struct Args {
    rate: u64,
    seconds: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        rate: 200,
        seconds: 10,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| -> u64 {
            iter.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--rate" => args.rate = value("--rate"),
            "--seconds" => args.seconds = value("--seconds"),
            _ => {}
        }
    }
    args
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

/// Status snapshots (GET) and status changes (PUT) for `for_how_long`,
/// one after another, each timed.
async fn probe(
    server: &Server,
    token: &str,
    for_how_long: Duration,
) -> (Vec<Duration>, Vec<Duration>) {
    let client = reqwest::Client::new();
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    let end = Instant::now() + for_how_long;
    let mut online = true;
    while Instant::now() < end {
        let started = Instant::now();
        let status = client
            .get(server.url("/api/v1/accounts/bench/status"))
            .send()
            .await
            .expect("status")
            .status();
        assert!(status.is_success(), "status answered {status}");
        reads.push(started.elapsed());
        let started = Instant::now();
        let status = client
            .put(server.url("/api/v1/me/status"))
            .bearer_auth(token)
            .json(&json!({"status": if online { "busy" } else { "online" }}))
            .send()
            .await
            .expect("put status")
            .status();
        assert!(status.is_success(), "PUT /me/status answered {status}");
        writes.push(started.elapsed());
        online = !online;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reads.sort();
    writes.sort();
    (reads, writes)
}

fn report(what: &str, reads: &[Duration], writes: &[Duration]) {
    println!(
        "  {what:<14} GET status p50 {} p99 {} ({} requests)   PUT /me/status p50 {} p99 {} ({} requests)",
        ms(percentile(reads, 0.5)),
        ms(percentile(reads, 0.99)),
        reads.len(),
        ms(percentile(writes, 0.5)),
        ms(percentile(writes, 0.99)),
        writes.len()
    );
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    eprintln!("==> building and starting the release server");
    let database = Database::new();
    let server = Server::start_with(
        &database,
        Options {
            binary: Some(onair_release_bin()),
            operator_token: Some(OPERATOR_TOKEN),
            args: &["--trusted-proxies", "127.0.0.1"],
            ..Options::default()
        },
    );
    let token = server.create_account("bench").await;
    server.set_status(&token, "online").await;
    let pid = server.pid();
    let rss_before = proc_status_kib(&pid, "VmRSS:");

    eprintln!("==> {} s quiet", args.seconds);
    let (quiet_reads, quiet_writes) =
        probe(&server, &token, Duration::from_secs(args.seconds)).await;

    eprintln!(
        "==> {} s with {} failed logins a second",
        args.seconds, args.rate
    );
    let flood = {
        let url = server.url("/api/v1/accounts/bench/sessions");
        let rate = args.rate;
        let seconds = args.seconds;
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("client");
            let mut interval =
                tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut answers = Vec::new();
            for n in 0..rate * seconds {
                interval.tick().await;
                let client = client.clone();
                let url = url.clone();
                answers.push(tokio::spawn(async move {
                    let address = format!("198.18.{}.{}", (n / 250) % 250, n % 250 + 1);
                    client
                        .post(url)
                        .header("x-forwarded-for", address)
                        .json(&json!({"email": format!("guess{n}@bench.example"), "password": "wrong password"}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                }));
            }
            let mut codes = std::collections::BTreeMap::<u16, u64>::new();
            for answer in answers {
                *codes.entry(answer.await.unwrap_or(0)).or_default() += 1;
            }
            codes
        })
    };
    let (flood_reads, flood_writes) =
        probe(&server, &token, Duration::from_secs(args.seconds)).await;
    let codes = flood.await.expect("flood");
    let rss_after = proc_status_kib(&pid, "VmRSS:");

    println!(
        "\nonair login-flood benchmark ({} failed logins a second for {} s, release server, loopback)",
        args.rate, args.seconds
    );
    report("quiet", &quiet_reads, &quiet_writes);
    report("during flood", &flood_reads, &flood_writes);
    println!("  flood answered: {codes:?} (0 = no answer)");
    println!(
        "  server RSS {} MiB before, {} MiB after",
        rss_before / 1024,
        rss_after / 1024
    );
}
