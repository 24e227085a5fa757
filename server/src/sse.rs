//! Server-sent event frames and the streams that carry them.
//!
//! Every frame is serialised once per change into shared [`Bytes`]; a
//! connection holds only `watch` or `broadcast` receivers and yields clones of
//! those bytes.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

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

/// What every stream listens to besides its feeds: one channel for the
/// keep-alive tick (a send that changes nothing) and for the shutdown, so an
/// idle stream waits on one signal, not two.
#[derive(Debug)]
pub struct Signals(pub watch::Receiver<Signal>);

/// The value of [`Signals`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Signal {
    /// The server is shutting down; streams end then.
    pub shutdown: bool,
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
) -> EventStream {
    let Signals(signals) = signals;
    let ended = signals.borrow().shutdown;
    EventStream {
        pending: initial.into_iter(),
        first: feeds.first.map(WatchStream::from_changes),
        second: feeds.second.map(WatchStream::from_changes),
        events: feeds.events,
        end: end.map(WatchStream::from_changes),
        signals: WatchStream::from_changes(signals),
        ended,
        metrics,
        _guard: Box::new(guard),
    }
}

/// The frames of one event stream ([`stream`]).
///
/// Every wait it has stays registered from one frame to the next: a change
/// wakes the stream, which takes the new frame and re-registers with that
/// feed alone. With ten thousand idle streams on one scope, a change costs
/// one wake-up and one write per stream and nothing else (docs/streams.md).
/// Feeds are looked at in a fixed order: shutdown and the stream's end first,
/// then the `watch` feeds, the events, the keep-alive.
pub struct EventStream {
    pending: std::vec::IntoIter<Bytes>,
    first: Option<WatchStream<Bytes>>,
    second: Option<WatchStream<Bytes>>,
    events: Option<FrameStream>,
    end: Option<WatchStream<()>>,
    signals: WatchStream<Signal>,
    /// Shut down, or a feed ended: nothing more comes.
    ended: bool,
    metrics: Arc<Metrics>,
    _guard: Box<dyn Send>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("pending", &self.pending.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    fn next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(bytes) = self.pending.next() {
            return Poll::Ready(Some(bytes));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        // The signal comes first, but its keep-alive only after the frames
        // that are there.
        let keep_alive = match self.signals.poll_next_unpin(cx) {
            Poll::Ready(Some(Signal { shutdown: false })) => true,
            // Shutting down, or the hub is gone (and so is the server).
            Poll::Ready(Some(Signal { shutdown: true }) | None) => return Poll::Ready(None),
            Poll::Pending => false,
        };
        if let Some(end) = &mut self.end {
            // `end` only ends once its sender is gone (the session ended);
            // a value sent meanwhile means nothing.
            while let Poll::Ready(value) = end.poll_next_unpin(cx) {
                if value.is_none() {
                    return Poll::Ready(None);
                }
            }
        }
        for feed in [&mut self.first, &mut self.second].into_iter().flatten() {
            // `None`: the feed's sender is gone (its scope was deleted).
            if let Poll::Ready(frame) = feed.poll_next_unpin(cx) {
                return Poll::Ready(frame);
            }
        }
        if let Some(events) = &mut self.events {
            if let Poll::Ready(frame) = events.poll_next_unpin(cx) {
                return Poll::Ready(frame);
            }
        }
        if keep_alive {
            Poll::Ready(Some(KEEP_ALIVE))
        } else {
            Poll::Pending
        }
    }
}

impl Stream for EventStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let next = self.next_frame(cx);
        match &next {
            Poll::Ready(Some(_)) => {
                self.metrics.events_sent.fetch_add(1, Ordering::Relaxed);
            }
            Poll::Ready(None) => self.ended = true,
            Poll::Pending => {}
        }
        next
    }
}

/// The [`EventStream`] of an event-stream response, for a connection that
/// writes it to its socket itself instead of polling the response's body
/// (`connections::direct`). Whichever takes it first has it: the body, when
/// polled, takes it from here too.
#[derive(Clone, Debug)]
pub struct Detachable(Arc<Mutex<Option<EventStream>>>);

impl Detachable {
    /// The stream, unless the body or an earlier call has it.
    pub fn take(&self) -> Option<EventStream> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The body of an event-stream response: the [`EventStream`] taken from its
/// [`Detachable`] when first polled.
struct Attached {
    slot: Option<Detachable>,
    events: Option<EventStream>,
}

impl Stream for Attached {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(slot) = self.slot.take() {
            self.events = slot.take();
        }
        match &mut self.events {
            Some(events) => events.poll_next_unpin(cx).map(|frame| frame.map(Ok)),
            None => Poll::Ready(None),
        }
    }
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

/// Wraps an event stream in an HTTP response with SSE headers; the stream is
/// the body, and also in the response's extensions as a [`Detachable`].
pub fn response(events: EventStream) -> Response {
    let slot = Detachable(Arc::new(Mutex::new(Some(events))));
    let body = Attached {
        slot: Some(slot.clone()),
        events: None,
    };
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
        Extension(slot),
        Body::from_stream(body),
    )
        .into_response()
}
