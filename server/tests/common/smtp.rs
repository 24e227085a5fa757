//! A tiny SMTP server for tests: it speaks enough SMTP (EHLO/HELO, MAIL
//! FROM, RCPT TO, DATA, RSET, NOOP, QUIT) to record each message's envelope
//! and raw data, and can play a relay that is down (421 on connect) or that
//! refuses for now (451 to MAIL FROM).
//!
//! Shared by several test binaries; each uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One message the sink accepted.
#[derive(Clone, Debug)]
pub(crate) struct Mail {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, CRLF line ends.
    pub(crate) data: String,
}

impl Mail {
    /// The header section (before the first empty line).
    pub(crate) fn headers(&self) -> &str {
        self.data.split("\r\n\r\n").next().unwrap_or_default()
    }

    /// Everything after the header section, quoted-printable decoded (the
    /// encoding lettre picks for text parts).
    pub(crate) fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let bytes = body.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' {
                if bytes[i + 1..].starts_with(b"\r\n") {
                    i += 3;
                    continue;
                }
                let hex = |b: u8| (b as char).to_digit(16);
                if let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A header's value (unfolded), by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for line in self.headers().split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push_str(line);
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    found = Some(value.trim().to_owned());
                }
            }
        }
        found
    }
}

#[derive(Debug, Default)]
struct State {
    mails: Vec<Mail>,
    /// Answer 421 to every connection.
    down: bool,
    /// Answer 451 to this many more MAIL FROM.
    refuse: u32,
    /// MAIL FROM commands seen (accepted or refused).
    attempts: u32,
}

/// A running sink on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub(crate) struct SmtpSink {
    pub(crate) addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub(crate) async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(Notify::new());
        let task = tokio::spawn(accept(listener, Arc::clone(&state), Arc::clone(&changed)));
        SmtpSink {
            addr,
            state,
            changed,
            task,
        }
    }

    /// `smtp://127.0.0.1:PORT`, for `--smtp-url`.
    pub(crate) fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Down: every connection gets `421` and is closed.
    pub(crate) fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// The next `n` transactions get `451` at MAIL FROM.
    pub(crate) fn refuse_next(&self, n: u32) {
        self.state().refuse = n;
    }

    /// MAIL FROM commands seen so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.state().attempts
    }

    pub(crate) fn mails(&self) -> Vec<Mail> {
        self.state().mails.clone()
    }

    /// Waits until at least `n` messages arrived; returns all of them.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                panic!(
                    "expected {n} emails within {within:?}, got {}: {mails:#?}",
                    mails.len()
                );
            }
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>, changed: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (state, changed) = (Arc::clone(&state), Arc::clone(&changed));
        tokio::spawn(async move {
            let _ = session(stream, state, changed).await;
        });
    }
}

async fn session(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
) -> std::io::Result<()> {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if lock().down {
        write
            .write_all(b"421 4.3.2 sink down, try again later\r\n")
            .await?;
        return Ok(());
    }
    write.write_all(b"220 sink ESMTP test sink\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 ok\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            let mut s = lock();
            s.attempts += 1;
            if s.refuse > 0 {
                s.refuse -= 1;
                drop(s);
                changed.notify_waiters();
                b"451 4.3.0 try again later\r\n"
            } else {
                drop(s);
                from = address(&command["MAIL FROM:".len()..]);
                to.clear();
                b"250 ok\r\n"
            }
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command["RCPT TO:".len()..]));
            b"250 ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let text = line.trim_end_matches(['\r', '\n']);
                if text == "." {
                    break;
                }
                data.push_str(text.strip_prefix('.').unwrap_or(text));
                data.push_str("\r\n");
            }
            lock().mails.push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            changed.notify_waiters();
            b"250 ok: queued\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"500 unknown command\r\n"
        };
        write.write_all(answer).await?;
    }
}

/// `<a@b> SIZE=…` → `a@b`.
fn address(rest: &str) -> String {
    let rest = rest.trim();
    match (rest.find('<'), rest.find('>')) {
        (Some(open), Some(close)) if open < close => rest[open + 1..close].to_owned(),
        _ => rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}
