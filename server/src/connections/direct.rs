//! Event streams written straight to their socket (docs/streams.md).
//!
//! hyper keeps a read buffer and a write buffer (8 to 16 KiB each) for the
//! life of a connection. For an idle event stream those buffers are most of
//! what it costs, and it never needs them: it reads nothing after its head and
//! writes frames that exist already as shared [`Bytes`]. So a connection whose
//! first request is a `GET` of `/api/v1/…/events` is served here instead:
//!
//! 1. the request head is *peeked* (left in the socket) and parsed; anything
//!    else — another method or path, a body, a head that does not parse or
//!    does not fit [`MAX_HEAD`] — leaves the connection untouched for hyper;
//! 2. the head is consumed and the router answers the request like any other
//!    (authentication, CORS, limits and errors are the handlers' own);
//! 3. an event-stream answer gets its head written and then each frame of its
//!    body as it comes, with no buffer here: a frame is written from the
//!    shared bytes, and while a slow reader's socket is full nothing more is
//!    taken from the body, whose `watch` feeds then keep only their newest
//!    frame. The answer is delimited by closing the connection
//!    (`connection: close`), which is how an event stream ends anyway;
//! 4. any other answer (an error, say) is written whole and the connection
//!    closed.
//!
//! While a stream is open its socket is watched for reading, so a client
//! that closes is noticed at once, not at the next keep-alive.
//!
//! A first head that is not HTTP at all, or larger than [`MAX_HEAD`] or
//! [`MAX_HEADERS`] allow, is answered here too, in the API's error shape
//! (`400 malformed_request`, `431 request_head_too_large`): hyper's own
//! answers to those have no body.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::ConnectInfo;
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, Version, header,
};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::sse;

/// The largest first request head of a connection; a larger one is
/// answered `431 request_head_too_large` (docs/hardening.md).
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// The bytes first looked at; grown up to [`MAX_HEAD`] when the head is longer.
const FIRST_PEEK: usize = 1024;
/// Header lines a first request head may have (hyper's own limit).
const MAX_HEADERS: usize = 100;
/// The largest non-stream answer written here (error bodies are tiny).
const MAX_ANSWER: usize = 64 * 1024;

/// A request head read from a connection, to be served here.
#[derive(Debug)]
pub(super) struct Head {
    request: Request<Body>,
    /// Bytes of the head in the socket, to consume before answering.
    len: usize,
}

/// What the first bytes of a connection say.
#[derive(Debug)]
pub(super) enum Peeked {
    /// A stream route's `GET`: served here.
    Stream(Box<Head>),
    /// Anything else: hyper's.
    Other,
    /// A head that is not HTTP, or too large: answered with this and closed.
    Refused(&'static Refusal),
    /// The client closed or the socket failed before sending a head.
    Gone,
}

/// Waits for the first request head of `stream` without consuming it and
/// says who serves the connection. Callers bound the wait (the header
/// timeout); a head arriving in pieces is looked at again after a pause
/// that grows from 1 ms to 50 ms.
pub(super) async fn peek(stream: &TcpStream, peer: SocketAddr) -> Peeked {
    // Small first: a chat box's request head is a few hundred bytes, and a
    // storm of thousands of connections should not each hold 8 KiB while
    // they are answered.
    let mut buffer = vec![0u8; FIRST_PEEK];
    let mut pause = Duration::from_millis(1);
    let mut seen = 0;
    loop {
        let n = match stream.peek(&mut buffer).await {
            Ok(0) | Err(_) => return Peeked::Gone,
            Ok(n) => n,
        };
        if n > seen {
            seen = n;
            match parse(&buffer[..n], peer) {
                Parsed::Complete(head) => return Peeked::Stream(head),
                Parsed::Other => return Peeked::Other,
                Parsed::Refused(refusal) => return Peeked::Refused(refusal),
                Parsed::Partial if n == MAX_HEAD => return Peeked::Refused(&TOO_LARGE),
                Parsed::Partial if n == buffer.len() => {
                    buffer.resize((buffer.len() * 4).min(MAX_HEAD), 0);
                    continue;
                }
                Parsed::Partial => {}
            }
        }
        // Peeking again at once would see the same bytes: wait for more.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

enum Parsed {
    Complete(Box<Head>),
    Partial,
    Other,
    Refused(&'static Refusal),
}

/// An answer to a head that cannot be served, in the API's error shape.
#[derive(Debug)]
pub(super) struct Refusal {
    status: &'static str,
    code: &'static str,
    message: &'static str,
}

const MALFORMED: Refusal = Refusal {
    status: "400 Bad Request",
    code: "malformed_request",
    message: "the request is not HTTP/1.1",
};

const TOO_LARGE: Refusal = Refusal {
    status: "431 Request Header Fields Too Large",
    code: "request_head_too_large",
    message: "the request head is over 16 KiB or 100 header lines",
};

impl Refusal {
    /// The whole answer: readable from any page, and the connection closes.
    pub(super) fn response(&self) -> String {
        let body = format!(
            r#"{{"error":{{"code":"{}","message":"{}"}}}}"#,
            self.code, self.message
        );
        format!(
            "HTTP/1.1 {}\r\ncontent-type: application/json\r\n\
             access-control-allow-origin: *\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{body}",
            self.status,
            body.len()
        )
    }
}

/// Reads what the client sent (so that closing sends a FIN after the
/// answer, not a reset that could discard it), writes `refusal` and closes.
pub(super) async fn refuse(mut stream: TcpStream, refusal: &Refusal) {
    // In a block of its own: a buffer alive across the `await`s below would
    // be part of every connection task's future (see `Connection::run`).
    {
        let mut sink = [0u8; 4096];
        while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
    }
    let _ = stream.write_all(refusal.response().as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The request line that may start a stream request.
const PREFIX: &[u8] = b"GET /api/v1/";

fn parse(bytes: &[u8], peer: SocketAddr) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(&TOO_LARGE),
        Err(_) => return Parsed::Refused(&MALFORMED),
    };
    if !bytes.starts_with(PREFIX) {
        return Parsed::Other;
    }
    let (Some(path), Some(version)) = (parsed.path, parsed.version) else {
        return Parsed::Other;
    };
    let route = path.split_once('?').map_or(path, |(route, _)| route);
    if !route.ends_with("/events") {
        return Parsed::Other;
    }
    let Ok(uri) = path.parse::<Uri>() else {
        return Parsed::Other;
    };
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::Other;
        };
        // A body, or a protocol switch, is more than this path serves.
        if name == header::CONTENT_LENGTH && value.as_bytes() != b"0"
            || name == header::TRANSFER_ENCODING
            || name == header::UPGRADE
        {
            return Parsed::Other;
        }
        map.append(name, value);
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = if version == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *request.headers_mut() = map;
    request.extensions_mut().insert(ConnectInfo(peer));
    Parsed::Complete(Box::new(Head { request, len }))
}

/// Serves the request of `head` on `stream`. An event stream goes on in a
/// task of its own, holding only the socket, the stream's body and `guard`
/// (the connection's place in the registry): the state that answering took
/// is gone by then. Any other answer is written here and the connection
/// closed.
pub(super) async fn serve<G: Send + 'static>(
    mut stream: TcpStream,
    head: Box<Head>,
    router: Router,
    guard: G,
) {
    match answer(&mut stream, head, router).await {
        Ok(Some(frames)) => match stream.into_std() {
            Ok(socket) => {
                streams_runtime().spawn(async move {
                    match TcpStream::from_std(socket) {
                        Ok(stream) => forward(stream, frames, guard).await,
                        Err(e) => tracing::warn!(error = %e, "could not move an event stream"),
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "could not move an event stream"),
        },
        Ok(None) => {
            let _ = stream.shutdown().await;
        }
        Err(e) => tracing::debug!(error = %e, "an event stream connection ended with an error"),
    }
}

/// The runtime answered event streams run on: threads of their own, so
/// that waking thousands of streams for one change queues them there and
/// not in front of the request that made the change or any other request
/// (the operating system shares the cores between the two runtimes).
fn streams_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("onair-streams")
            .enable_all()
            .build()
            .expect("the event streams' runtime starts")
    })
}

/// The send buffer of an event stream's socket (`SO_SNDBUF`; Linux doubles
/// it for its own bookkeeping): room for a large first snapshot and a burst
/// of changes, while a reader that does not read holds at most this much.
const STREAM_SEND_BUFFER: usize = 32 * 1024;

/// Answers the request; the body to forward when the answer is an event
/// stream (its head is written), else `None` (the answer is written whole).
async fn answer(
    stream: &mut TcpStream,
    head: Box<Head>,
    router: Router,
) -> io::Result<Option<Frames>> {
    let Head { request, len } = *head;
    consume(stream, len).await?;
    let response = router
        .oneshot(request)
        .await
        .unwrap_or_else(|never: Infallible| match never {});
    let (parts, body) = response.into_parts();
    let streaming = parts.status.is_success()
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        let bytes = match http_body_util::Limited::new(body, MAX_ANSWER)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let mut out = response_head(&Response::from_parts(parts, ()), Some(bytes.len()));
        out.extend_from_slice(&bytes);
        stream.write_all(&out).await?;
        return Ok(None);
    }
    // A fixed send buffer: the kernel's autotuning would let a reader that
    // stopped reading queue up to `tcp_wmem`'s maximum (4 MiB by default) of
    // frames it will never need, since only the newest snapshot matters.
    if let Err(e) = socket2::SockRef::from(&*stream).set_send_buffer_size(STREAM_SEND_BUFFER) {
        tracing::debug!(error = %e, "could not set an event stream's send buffer");
    }
    // The handlers' event streams are written as they are, not through the
    // layers of the response's body.
    let frames = match parts
        .extensions
        .get::<sse::Detachable>()
        .and_then(|d| d.take())
    {
        Some(events) => Frames::Events(events),
        None => Frames::Body(body.into_data_stream()),
    };
    let head = response_head(&Response::from_parts(parts, ()), None);
    stream.write_all(&head).await?;
    Ok(Some(frames))
}

/// What an event stream's answer sends after its head.
enum Frames {
    /// A handler's [`sse::EventStream`], taken from the response.
    Events(sse::EventStream),
    /// Any other event-stream body.
    Body(BodyDataStream),
}

impl Frames {
    /// The next frame; `None` once the stream ended (or its body failed).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self {
            Frames::Events(events) => events.poll_next_unpin(cx),
            Frames::Body(body) => body
                .poll_next_unpin(cx)
                .map(|frame| frame.and_then(Result::ok)),
        }
    }
}

/// What an open stream waits for.
enum Woken {
    Frame(Option<Bytes>),
    Readable(io::Result<()>),
}

/// Writes each frame of `frames` to `stream` until the stream ends or the
/// client goes away, then closes the connection. One wait covers both: the
/// socket's read readiness (a client that closes) and the frames' feeds, each
/// registered once and kept until it fires.
async fn forward<G>(mut stream: TcpStream, mut frames: Frames, guard: G) {
    let ended = loop {
        let woken = std::future::poll_fn(|cx| {
            if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
                return Poll::Ready(Woken::Readable(ready));
            }
            frames.poll_next(cx).map(Woken::Frame)
        })
        .await;
        match woken {
            Woken::Frame(Some(data)) => {
                if let Err(e) = stream.write_all(&data).await {
                    break Err(e);
                }
            }
            // The stream ended (shutdown, the session or scope went).
            Woken::Frame(None) => break Ok(()),
            Woken::Readable(ready) => match ready.and_then(|()| client_closed(&stream)) {
                Ok(false) => {}
                Ok(true) => break Ok(()),
                Err(e) => break Err(e),
            },
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "an event stream ended with an error");
    }
    drop(frames);
    let _ = stream.shutdown().await;
    drop(guard);
}

/// Reads and drops the `len` bytes of the request head (peeked already).
async fn consume(stream: &mut TcpStream, mut len: usize) -> io::Result<()> {
    let mut sink = [0u8; 512];
    while len > 0 {
        let n = stream.read(&mut sink[..len.min(512)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len -= n;
    }
    Ok(())
}

/// After a readable wake-up: true when the client closed (or the socket
/// failed); whatever else it sent after its head is dropped.
fn client_closed(stream: &TcpStream) -> io::Result<bool> {
    let mut sink = [0u8; 256];
    loop {
        match stream.try_read(&mut sink) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// The status line and headers of `response`, closing the connection after
/// it; with `content-length` when the body's length is known.
fn response_head(response: &Response<()>, length: Option<usize>) -> Vec<u8> {
    let status = response.status();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(length) = length {
        out.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().expect("address")
    }

    fn parsed(bytes: &[u8]) -> &'static str {
        match parse(bytes, peer()) {
            Parsed::Complete(_) => "complete",
            Parsed::Partial => "partial",
            Parsed::Other => "other",
            Parsed::Refused(refusal) => refusal.code,
        }
    }

    #[test]
    fn stream_requests_are_taken_and_everything_else_left_to_hyper() {
        let status = b"GET /api/v1/accounts/acme/status/events?group=sales HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
        assert_eq!(parsed(status), "complete");
        assert_eq!(parsed(&status[..40]), "partial");
        assert_eq!(parsed(b"GE"), "partial");
        assert_eq!(
            parsed(b"GET /api/v1/me/events HTTP/1.0\r\n\r\n"),
            "complete"
        );
        assert_eq!(parsed(b"POST /api/v1/me/events HTTP/1.1\r\n\r\n"), "other");
        assert_eq!(
            parsed(b"GET /api/v1/accounts/acme/status HTTP/1.1\r\n\r\n"),
            "other"
        );
        assert_eq!(parsed(b"GET /healthz HTTP/1.1\r\n\r\n"), "other");
        assert_eq!(
            parsed(b"GET /api/v1/me/events HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            "other"
        );
        assert_eq!(
            parsed(b"GET /api/v1/me/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "other"
        );
        assert_eq!(
            parsed(b"GET /api/v1/me/events HTTP/1.1\r\nBad Header\r\n\r\n"),
            "malformed_request"
        );
    }

    #[test]
    fn heads_that_are_not_http_or_too_large_are_refused_in_the_error_shape() {
        assert_eq!(parsed(b"\x16\x03\x01\x02\x00\x01\x00"), "malformed_request");
        assert_eq!(
            parsed(b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"),
            "malformed_request"
        );
        assert_eq!(parsed(b"GET / HTTP/9.9\r\n\r\n"), "malformed_request");
        let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
        let head = format!("GET /healthz HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parsed(head.as_bytes()), "request_head_too_large");
        let hundred: String = (0..99).map(|i| format!("x-h{i}: v\r\n")).collect();
        let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{hundred}\r\n");
        assert_eq!(
            parsed(head.as_bytes()),
            "other",
            "100 header lines are fine"
        );

        let answer = MALFORMED.response();
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(body["error"]["code"], "malformed_request");
    }

    #[test]
    fn a_parsed_head_carries_the_request_and_its_length() {
        let bytes = b"GET /api/v1/me/events?access_token=t HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 7\r\n\r\nleftover";
        let Parsed::Complete(head) = parse(bytes, peer()) else {
            panic!("a complete head");
        };
        assert_eq!(head.len, bytes.len() - "leftover".len());
        assert_eq!(head.request.uri().query(), Some("access_token=t"));
        assert_eq!(head.request.headers()["last-event-id"], "7");
        assert!(
            head.request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some()
        );
    }

    #[test]
    fn an_answer_head_closes_the_connection_and_keeps_the_handlers_headers() {
        let response = Response::builder()
            .status(401)
            .header("content-type", "application/json")
            .header("access-control-allow-origin", "*")
            .header("content-length", "99")
            .body(())
            .expect("response");
        let head = String::from_utf8(response_head(&response, Some(12))).expect("utf-8");
        assert_eq!(
            head,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
             access-control-allow-origin: *\r\ncontent-length: 12\r\nconnection: close\r\n\r\n"
        );
    }
}
