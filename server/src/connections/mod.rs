//! Accepting connections and serving HTTP/1.1 on them, within the resource
//! limits of `docs/hardening.md`:
//!
//! - a connection must send a complete request head within
//!   [`ConnectionLimits::header_timeout`] (10 s) of opening, and again within
//!   that time of its last response, or it is closed: this is also the idle
//!   timeout of keep-alive connections that are not streaming;
//! - a request body must have arrived [`BODY_TIMEOUT`] (10 s) after its
//!   head, or the request fails (`400 unreadable_body`): bodies are at most
//!   16 KiB, and a client trickling one cannot hold a connection busy;
//! - at most [`ConnectionLimits::max_connections`] are open, below the
//!   process's descriptor limit. When the cap is reached, a new connection
//!   closes the connection that has been idle longest (no request in flight),
//!   so a client holding idle connections cannot lock others out; when none
//!   is idle, the new one is answered `503 too_many_connections` at once and
//!   closed;
//! - event streams may take all but [`ConnectionLimits::reserved`] of the
//!   connections, so `/healthz` and API requests are answered even when every
//!   stream slot is taken (see `metrics::StreamGauge`).
//!
//! A connection whose first request is an event stream is served by
//! [`direct`], which writes the stream's frames straight to the socket;
//! everything else about a connection is hyper's HTTP/1 server. The router
//! is the one `crate::router` builds, either way.

mod direct;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// How long a client has to send a request head (docs/hardening.md).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may take to arrive after its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors kept free of connections when the cap is derived from the
/// process's limit: the database, logs, blocking threads, outgoing sockets.
const DESCRIPTOR_HEADROOM: usize = 128;
/// Connections beyond the cap that may be open while the idle ones they
/// displaced are closing.
const EVICTION_SLACK: usize = 64;

/// The connection limits of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// The cap derived from the process's descriptor limit.
    fn default() -> Self {
        ConnectionLimits::with_max(default_max_connections(descriptor_limit()))
    }
}

impl ConnectionLimits {
    pub fn with_max(max_connections: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max_connections.max(2),
            header_timeout: HEADER_TIMEOUT,
        }
    }

    /// Connections that event streams may not take: a tenth, 8 to 1024.
    pub fn reserved(&self) -> usize {
        (self.max_connections / 10)
            .clamp(8, 1024)
            .min(self.max_connections / 2)
    }

    /// How many event streams may be open at once.
    pub fn max_streams(&self) -> usize {
        self.max_connections - self.reserved()
    }
}

/// The cap for a process allowed `descriptors` open files: a tenth and a
/// fixed headroom below it.
pub fn default_max_connections(descriptors: usize) -> usize {
    descriptors
        .saturating_sub(descriptors / 10 + DESCRIPTOR_HEADROOM + EVICTION_SLACK)
        .max(16)
}

/// The soft limit on open files of this process (`/proc/self/limits`), or
/// 1024 where it cannot be read.
pub fn descriptor_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(1024)
}

/// Connections the kernel may hold completed but not yet accepted. A
/// thousand chat boxes reconnecting at once (after a restart) would overflow
/// the 1024 most listeners get, and each connection whose handshake was
/// dropped waits a second or more to retry. The kernel caps it at
/// `net.core.somaxconn` (4096 on current kernels).
pub const LISTEN_BACKLOG: u32 = 8192;

/// A listener on `addr` with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, runs `before_close` (which ends the event streams), lets
/// in-flight requests finish and returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    before_close: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::new(limits));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of descriptors despite the cap (the headroom
                        // is used elsewhere): wait instead of spinning.
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        configure_connection(&stream);
        match registry.admit() {
            Some(slot) => {
                let connection = Connection {
                    registry: Arc::clone(&registry),
                    slot,
                    router: router.clone(),
                    peer,
                };
                tokio::spawn(connection.run(stream, limits, closing_rx.clone()));
            }
            None => refuse(stream),
        }
    }
    drop(listener);
    before_close.await;
    let _ = closing_tx.send(true);
    drop(closing_rx);
    // Every connection task holds a receiver; all are gone once all closed.
    closing_tx.closed().await;
    Ok(())
}

/// Errors of one connection that say nothing about the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Answers a connection over the cap with a 503 and closes it.
fn refuse(stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the server has too many open connections; try again in a moment"}}"#;
    static RESPONSE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let response = RESPONSE.get_or_init(|| {
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
    });
    // Whatever the client sent already is read, so that closing sends a FIN
    // after the answer rather than a reset that could discard it.
    let mut sink = [0u8; 4096];
    while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
    let _ = stream.try_write(response.as_bytes());
    tracing::warn!("refused a connection: at the connection cap with none idle");
}

/// Per-connection socket options. Keep-alive probes and a user timeout make
/// the kernel drop a connection whose peer vanished (power loss, network cut)
/// within about a minute, which ends an agent's stream and starts its grace
/// period (docs/status.md: at most grace + 60 s after the last sign of life).
fn configure_connection(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(20))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    if let Err(e) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not enable TCP keep-alive");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket.set_tcp_user_timeout(Some(Duration::from_secs(30))) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
}

/// The open connections: how many, and which are idle, oldest first.
#[derive(Debug)]
struct Registry {
    limits: ConnectionLimits,
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    next_id: u64,
    next_idle: u64,
    /// Open connections, including those told to close.
    open: usize,
    slots: HashMap<u64, SlotState>,
    /// Idle connections by the order they became idle → their id.
    idle: BTreeMap<u64, u64>,
}

#[derive(Debug)]
struct SlotState {
    /// Requests in flight, counting a response until its body is done.
    busy: usize,
    /// The connection's key in `idle` while it is idle.
    idle_since: Option<u64>,
    evict: Arc<Notify>,
}

/// A connection's place in the registry.
#[derive(Debug)]
struct Slot {
    id: u64,
    evict: Arc<Notify>,
}

impl Registry {
    fn new(limits: ConnectionLimits) -> Registry {
        Registry {
            limits,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RegistryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, closing the longest-idle one at the
    /// cap; `None` when the cap is reached and none is idle.
    fn admit(&self) -> Option<Slot> {
        let mut inner = self.lock();
        if inner.open >= self.limits.max_connections {
            if inner.open >= self.limits.max_connections + EVICTION_SLACK {
                return None;
            }
            let (_, oldest) = inner.idle.pop_first()?;
            if let Some(state) = inner.slots.get_mut(&oldest) {
                state.idle_since = None;
                state.evict.notify_one();
            }
        }
        inner.open += 1;
        let id = inner.next_id;
        inner.next_id += 1;
        let evict = Arc::new(Notify::new());
        let idle_key = inner.next_idle;
        inner.next_idle += 1;
        inner.idle.insert(idle_key, id);
        inner.slots.insert(
            id,
            SlotState {
                busy: 0,
                idle_since: Some(idle_key),
                evict: Arc::clone(&evict),
            },
        );
        Some(Slot { id, evict })
    }

    fn begin(&self, id: u64) {
        let mut inner = self.lock();
        let Some(state) = inner.slots.get_mut(&id) else {
            return;
        };
        state.busy += 1;
        if let Some(key) = state.idle_since.take() {
            inner.idle.remove(&key);
        }
    }

    fn end(&self, id: u64) {
        let mut inner = self.lock();
        let key = inner.next_idle;
        let Some(state) = inner.slots.get_mut(&id) else {
            return;
        };
        state.busy = state.busy.saturating_sub(1);
        if state.busy == 0 && state.idle_since.is_none() {
            state.idle_since = Some(key);
            inner.next_idle += 1;
            inner.idle.insert(key, id);
        }
    }

    fn close(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(state) = inner.slots.remove(&id) {
            if let Some(key) = state.idle_since {
                inner.idle.remove(&key);
            }
            inner.open -= 1;
        }
    }
}

/// One accepted connection.
struct Connection {
    registry: Arc<Registry>,
    slot: Slot,
    router: Router,
    peer: SocketAddr,
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        limits: ConnectionLimits,
        mut closing: watch::Receiver<bool>,
    ) {
        let registry = Arc::clone(&self.registry);
        let id = self.slot.id;
        let evict = Arc::clone(&self.slot.evict);
        let peeked = tokio::select! {
            peeked = tokio::time::timeout(limits.header_timeout, direct::peek(&stream, self.peer)) => {
                peeked.unwrap_or(direct::Peeked::Gone)
            }
            () = evict.notified() => direct::Peeked::Gone,
            Ok(()) = closing.changed() => direct::Peeked::Gone,
        };
        match peeked {
            direct::Peeked::Other => {
                // Boxed: hyper's connection state is large, and a stream
                // served directly should not reserve room for it.
                Box::pin(self.serve_hyper(stream, limits, evict, closing)).await;
                registry.close(id);
            }
            direct::Peeked::Gone => {
                registry.close(id);
                drop(closing);
            }
            direct::Peeked::Refused(refusal) => {
                direct::refuse(stream, refusal).await;
                registry.close(id);
            }
            direct::Peeked::Stream(head) => {
                registry.begin(id);
                // The stream's task holds the connection's place (and a
                // `closing` receiver, so that shutdown waits for it) and
                // gives it back when it ends. Streams are never idle, so
                // neither eviction nor `closing` ends them: their own end
                // (shutdown included) does.
                let open = OpenStream {
                    registry,
                    id,
                    _closing: closing,
                };
                // Boxed too: answering holds the router's future (hundreds
                // of bytes), which a connection waiting for its head
                // (thousands, when every chat box reconnects at once) need
                // not reserve.
                Box::pin(direct::serve(stream, head, self.router, open)).await;
            }
        }
    }

    /// Serves the connection with hyper until it closes.
    async fn serve_hyper(
        self,
        stream: TcpStream,
        limits: ConnectionLimits,
        evict: Arc<Notify>,
        mut closing: watch::Receiver<bool>,
    ) {
        let service = ConnectionService {
            registry: Arc::clone(&self.registry),
            id: self.slot.id,
            router: self.router,
            peer: self.peer,
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = pin!(connection);
        let mut ending = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = evict.notified(), if !ending => {
                    ending = true;
                    connection.as_mut().graceful_shutdown();
                }
                Ok(()) = closing.changed(), if !ending => {
                    ending = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        drop(closing);
    }
}

/// The router, seen by hyper, marking the connection busy while a request
/// is in flight and giving handlers the peer's address.
#[derive(Clone)]
struct ConnectionService {
    registry: Arc<Registry>,
    id: u64,
    router: Router,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = hyper::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        self.registry.begin(self.id);
        let busy = BusyGuard {
            registry: Arc::clone(&self.registry),
            id: self.id,
        };
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let request = request.map(|body| {
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(DeadlineBody {
                    body,
                    deadline: Box::pin(tokio::time::sleep(BODY_TIMEOUT)),
                })
            }
        });
        let router = self.router.clone();
        Box::pin(async move {
            let response = router
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            Ok(response.map(|body| Body::new(GuardedBody { body, _busy: busy })))
        })
    }
}

/// A connection serving an event stream directly: when dropped (the stream
/// ended), its request is done and it is closed.
struct OpenStream {
    registry: Arc<Registry>,
    id: u64,
    _closing: watch::Receiver<bool>,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.registry.end(self.id);
        self.registry.close(self.id);
    }
}

/// Marks the end of a request when dropped: after its response body is done
/// (for an event stream, when the stream ends).
struct BusyGuard {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.registry.end(self.id);
    }
}

struct GuardedBody {
    body: Body,
    _busy: BusyGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails once [`BODY_TIMEOUT`] has passed since its head.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            )
            .into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max: usize) -> Registry {
        Registry::new(ConnectionLimits::with_max(max))
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let registry = registry(3);
        let a = registry.admit().expect("a");
        let b = registry.admit().expect("b");
        let c = registry.admit().expect("c");
        // a is busy (a request or a stream), b became idle before c.
        registry.begin(a.id);
        registry.begin(b.id);
        registry.end(b.id);
        let d = registry.admit().expect("c, idle longest, makes room");
        assert!(futures_util::FutureExt::now_or_never(c.evict.notified()).is_some());
        assert!(futures_util::FutureExt::now_or_never(b.evict.notified()).is_none());
        assert!(futures_util::FutureExt::now_or_never(a.evict.notified()).is_none());
        registry.close(c.id);
        assert_eq!(registry.lock().open, 3);
        let _ = d;
    }

    #[test]
    fn at_the_cap_with_every_connection_busy_a_new_one_is_refused() {
        let registry = registry(2);
        let a = registry.admit().expect("a");
        let b = registry.admit().expect("b");
        registry.begin(a.id);
        registry.begin(b.id);
        assert!(registry.admit().is_none());
        registry.end(b.id);
        assert!(registry.admit().is_some(), "b went idle and makes room");
    }

    #[test]
    fn the_cap_leaves_room_below_the_descriptor_limit() {
        assert_eq!(default_max_connections(20_000), 20_000 - 2_000 - 192);
        assert_eq!(default_max_connections(1024), 1024 - 102 - 192);
        assert_eq!(default_max_connections(100), 16);
        let limits = ConnectionLimits::with_max(17_808);
        assert_eq!(limits.reserved(), 1024);
        assert_eq!(ConnectionLimits::with_max(100).reserved(), 10);
        assert_eq!(ConnectionLimits::with_max(20).reserved(), 8);
        assert_eq!(ConnectionLimits::with_max(20).max_streams(), 12);
    }

    /// A connection waiting for its first request head is a task of about a
    /// kilobyte: what hyper or answering a stream request take is boxed, and
    /// no buffer lives across a wait. Every chat box reconnecting at once
    /// means thousands of such tasks; at 4.5 KiB each (a 4 KiB buffer of
    /// `direct::refuse` was part of every one) they were most of the memory
    /// an idle stream seemed to cost once the storm had passed.
    #[tokio::test]
    async fn a_connection_waiting_for_its_head_is_a_small_task() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (stream, peer) = listener.accept().await.expect("accept");
        let limits = ConnectionLimits::with_max(4);
        let registry = Arc::new(Registry::new(limits));
        let slot = registry.admit().expect("a slot");
        let connection = Connection {
            registry,
            slot,
            router: Router::new(),
            peer,
        };
        let (_closing_tx, closing) = watch::channel(false);
        let task = connection.run(stream, limits, closing);
        let size = std::mem::size_of_val(&task);
        eprintln!("a connection's task holds a future of {size} bytes");
        assert!(size <= 2048, "a connection's future is {size} bytes");
    }
}
