//! Resource limits of the real `onair` binary against anonymous clients
//! (CONTRACT §8, docs/hardening.md): what a flood of logins or of idle
//! connections costs the process, measured on the process itself.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use onair_tests::*;
use reqwest::StatusCode;
use serde_json::json;

fn start() -> (Database, Server) {
    let database = Database::new();
    let server = Server::start_with(
        &database,
        Options {
            operator_token: Some(OPERATOR_TOKEN),
            ..Options::default()
        },
    );
    (database, server)
}

/// A client whose connections come from `127.0.0.N`: the whole of
/// 127.0.0.0/8 is loopback, so each client is a different address to the
/// server (whose login limit is per address).
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_flood_of_failed_logins_keeps_the_servers_memory_bounded() {
    let (_database, mut server) = start();
    server.create_account("acme").await;
    let url = server.url("/api/v1/accounts/acme/sessions");
    // One failed login first, so one-time work (the dummy hash) is in the baseline.
    let (status, _) = server
        .login("acme", "warm@acme.example", "wrong-pass")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let baseline = server.rss_kib();

    // 384 failed logins, 64 at a time, for unknown emails, from 16 addresses
    // (24 each, within the 30 a minute an address may try).
    let clients: Vec<_> = (2..18).map(client_from).collect();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        let pid = server.pid();
        tokio::spawn(async move {
            loop {
                let rss = proc_status_kib(&pid, "VmRSS:");
                peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..384)
        .map(|n| {
            let client = clients[n % clients.len()].clone();
            let url = url.clone();
            async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("n{n}@acme.example"), "password": "wrong-pass"}))
                    .send()
                    .await
                    .expect("login request")
                    .status()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    sampler.abort();
    let took = started.elapsed();
    let peak = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(server.rss_kib());
    let after = server.rss_kib();

    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(unauthorized + busy, 384, "only 401s and 503s: {statuses:?}");
    assert!(
        unauthorized >= 128,
        "most of the logins were checked: {unauthorized} in {took:?}"
    );
    // Unbounded, 64 parallel argon2 runs of 19 MiB each took gigabytes that
    // were never returned; bounded, the process holds one working area per
    // CPU (a few dozen MiB) whatever arrives.
    let grown_mib = (peak.saturating_sub(baseline)) / 1024;
    eprintln!(
        "RSS {} MiB before, peak {} MiB, {} MiB after; {unauthorized}×401 {busy}×503 in {took:?}",
        baseline / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(
        grown_mib <= 200,
        "RSS grew by {grown_mib} MiB during the flood"
    );

    // The server still answers at once.
    let (status, _) = server.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}
