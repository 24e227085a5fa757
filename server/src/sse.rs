//! Server-sent event frames and the streams that carry them.
//!
//! Every frame is serialised once per change into shared [`Bytes`]; a
//! connection holds only `watch` or `broadcast` receivers and yields clones of
//! those bytes.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::watch;

use crate::metrics::Metrics;

pub const KEEP_ALIVE: Bytes = Bytes::from_static(b": keep-alive\n\n");
/// Asks `EventSource` to reconnect two seconds after a drop.
pub const RETRY: Bytes = Bytes::from_static(b"retry: 2000\n\n");

/// `event: NAME`, optional `id: ID`, `data: JSON`.
pub fn frame<T: Serialize>(event: &str, id: Option<u64>, data: &T) -> Bytes {
    frame_json(event, id, &json(data))
}

/// A value as JSON. Serialising our own wire types cannot fail: they are plain data.
pub fn json<T: Serialize>(data: &T) -> String {
    serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned())
}

/// A frame around JSON serialised already, so one serialisation can be
/// framed for several streams (with an id for visitors, without for agents).
pub fn frame_json(event: &str, id: Option<u64>, json: &str) -> Bytes {
    let mut out = String::with_capacity(json.len() + event.len() + 32);
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(json);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// What a stream listens to, besides the feeds it forwards.
#[derive(Debug)]
pub struct Signals {
    /// Ticks every keep-alive interval.
    pub keep_alive: watch::Receiver<()>,
    /// Becomes `true` when the server shuts down; streams end then.
    pub shutdown: watch::Receiver<bool>,
}

/// A stream of frames: first `initial`, then the newest value of any `watch`
/// feed whenever it changes, every frame of the `events` feed, a keep-alive on
/// every tick. It ends when a feed's sender is dropped (the scope or session
/// went away), when the `events` feed ends, when `end` fires, or at shutdown.
/// A slow reader never sees a backlog on a `watch` feed, which keeps only the
/// newest frame; the `events` feed ends when its reader falls too far behind
/// (see `conversations`), and the client reconnects.
pub fn stream<G: Send + 'static>(
    initial: Vec<Bytes>,
    feeds: Feeds,
    end: Option<watch::Receiver<()>>,
    signals: Signals,
    metrics: Arc<Metrics>,
    guard: G,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    struct State<G> {
        pending: std::vec::IntoIter<Bytes>,
        feeds: Feeds,
        end: Option<watch::Receiver<()>>,
        signals: Signals,
        metrics: Arc<Metrics>,
        _guard: G,
    }

    let state = State {
        pending: initial.into_iter(),
        feeds,
        end,
        signals,
        metrics,
        _guard: guard,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let next = match state.pending.next() {
            Some(bytes) => Some(bytes),
            None => next_frame(&mut state.feeds, state.end.as_mut(), &mut state.signals).await,
        };
        let bytes = next?;
        state.metrics.events_sent.fetch_add(1, Ordering::Relaxed);
        Some((Ok(bytes), state))
    })
}

/// Frames that must each be delivered (conversation events), already
/// filtered for one stream. Its end ends the stream.
pub type FrameStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// What a stream forwards: up to two `watch` feeds (a status stream has one;
/// an agent stream has its own agent feed and the account's site feed) and a
/// feed of events (an agent's or a visitor's conversation events).
#[derive(Default)]
pub struct Feeds {
    pub first: Option<watch::Receiver<Bytes>>,
    pub second: Option<watch::Receiver<Bytes>>,
    pub events: Option<FrameStream>,
}

impl fmt::Debug for Feeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feeds")
            .field("first", &self.first)
            .field("second", &self.second)
            .field("events", &self.events.as_ref().map(|_| "…"))
            .finish()
    }
}

async fn watched(rx: Option<&mut watch::Receiver<Bytes>>) -> Option<Bytes> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            // The feed's sender is gone (its scope was deleted).
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn next_frame(
    feeds: &mut Feeds,
    end: Option<&mut watch::Receiver<()>>,
    signals: &mut Signals,
) -> Option<Bytes> {
    if *signals.shutdown.borrow() {
        return None;
    }
    let Feeds {
        first,
        second,
        events,
    } = feeds;
    let events = async {
        match events.as_mut() {
            Some(events) => events.next().await,
            None => std::future::pending().await,
        }
    };
    let ended = async {
        match end {
            // `changed` only errs once the sender is gone: the session ended.
            Some(rx) => while rx.changed().await.is_ok() {},
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        frame = watched(first.as_mut()) => frame,
        frame = watched(second.as_mut()) => frame,
        frame = events => frame,
        Ok(()) = signals.keep_alive.changed() => Some(KEEP_ALIVE),
        _ = signals.shutdown.changed() => None,
        () = ended => None,
    }
}

/// Wraps a frame stream in an HTTP response with SSE headers.
pub fn response(
    stream: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Tell nginx-like proxies not to buffer the stream.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
