//! A small HTTP/1.1 webhook receiver for tests: it records each request
//! (path, `Onair-Signature`, body) and answers with the next queued status,
//! else the default one. Its signature check is its own HMAC-SHA256, as a
//! receiver's would be, not the server's code.
//!
//! Shared by several test binaries; each uses only part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How long a test waits for a delivery that should go at once.
pub(crate) const DELIVERY_SOON: Duration = Duration::from_secs(10);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) signature: String,
    pub(crate) raw: String,
    pub(crate) body: Value,
    /// The status it was answered with.
    pub(crate) answered: u16,
}

/// A small HTTP/1.1 server on loopback that records each POST and answers
/// with the next queued status (200 once the queue is empty).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) base: String,
    default_status: Arc<Mutex<u16>>,
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let receiver = Receiver {
            base: format!("http://127.0.0.1:{port}"),
            default_status: Arc::new(Mutex::new(200)),
            received: Arc::default(),
            answers: Arc::default(),
            arrived: Arc::new(Notify::new()),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(socket));
            }
        });
        receiver
    }

    async fn serve(self, mut socket: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head, body_start) = loop {
            let Ok(n) = socket.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break (
                    String::from_utf8_lossy(&buffer[..end]).into_owned(),
                    end + 4,
                );
            }
        };
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < body_start + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let raw = String::from_utf8_lossy(&buffer[body_start..body_start + length]).into_owned();
        let path = head
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or_default()
            .to_owned();
        let default = *self.default_status.lock().expect("lock");
        let status = self
            .answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(default);
        self.received.lock().expect("lock").push(Received {
            path,
            signature: header("onair-signature").unwrap_or_default(),
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
            answered: status,
        });
        self.arrived.notify_waiters();
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests with these statuses, in order.
    pub(crate) fn answer_next(&self, statuses: &[u16]) {
        self.answers.lock().expect("lock").extend(statuses);
    }

    /// Answers with this status once the queued ones are used (200 at first).
    pub(crate) fn answer_always(&self, status: u16) {
        *self.default_status.lock().expect("lock") = status;
    }

    pub(crate) fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    pub(crate) fn all(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until `wanted` holds of what arrived; fails after a while.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        wanted: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + DELIVERY_SOON;
        loop {
            let arrived = self.arrived.notified();
            let all = self.all();
            if wanted(&all) {
                return all;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("timed out waiting for {what}; got {all:#?}");
            }
        }
    }

    /// Waits for the first delivery of `event` to `path`.
    pub(crate) async fn delivery(&self, path: &str, event: &str) -> Received {
        let all = self
            .wait_until(&format!("{event} at {path}"), |all| {
                all.iter()
                    .any(|r| r.path == path && r.body["event"] == event)
            })
            .await;
        all.into_iter()
            .find(|r| r.path == path && r.body["event"] == event)
            .expect("found")
    }
}

/// Checks `Onair-Signature` the way a receiver would: the HMAC-SHA256 of
/// `"<t>.<body>"` with the secret, and a `t` near now.
#[track_caller]
pub(crate) fn assert_signed(received: &Received, secret: &str) {
    let (t, v1) = received
        .signature
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("a signature header: {:?}", received.signature));
    let t: i64 = t.parse().expect("seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    assert!((now - 60..=now + 1).contains(&t), "t={t}, now={now}");
    let mac = hmac_sha256(
        secret.as_bytes(),
        format!("{t}.{}", received.raw).as_bytes(),
    );
    let expected: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1, expected, "the signature verifies with the secret");
}

/// HMAC-SHA256 (RFC 2104), as a receiver would write it.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    block.resize(64, 0);
    let inner_key: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_key)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_key)
        .chain_update(inner)
        .finalize()
        .to_vec()
}
