//! The cluster bus: Redis pub/sub carrying "something changed" notifications
//! between nodes.
//!
//! Redis is not the truth, PostgreSQL is: a notification only tells a node to
//! reload something, and Redis pub/sub may lose notifications (a restart, a
//! killed or silent connection, a network cut). So the bus does not try to
//! make delivery reliable; it makes *loss detectable*. Whenever the
//! subscription may have missed something, the receiver gets
//! [`BusEvent::Resync`] and reloads everything it caches from PostgreSQL.
//!
//! A subscription can fail without closing (a half-open TCP connection, a
//! Redis that stopped serving it), so the bus does not trust the connection
//! state alone: every node publishes a probe on its own channel
//! (`onair:probe:<node_id>`) and expects it back on its own subscription. No
//! probe within [`BusOptions::probe_timeout`] means the subscription is
//! treated as dead: it is dropped, made again, and followed by a `Resync`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::{MultiplexedConnection, PubSub};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep, timeout};

/// The prefix of every node's private probe channel; the node id follows.
pub const PROBE_CHANNEL_PREFIX: &str = "onair:probe:";

/// How many events wait for the receiver by default before the bus starts
/// dropping messages (and owes the receiver a [`BusEvent::Resync`]).
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// The first pause between two failed connection attempts; it doubles up to
/// [`BusOptions::reconnect_after`]. Short, so that a Redis restart costs
/// little more than the restart itself.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// What the bus hands to its receiver.
#[derive(Debug, Clone, PartialEq)]
pub enum BusEvent {
    /// A message another node (or this one) published.
    Message { channel: String, payload: Bytes },
    /// The subscription was (re)established after being down or silent:
    /// anything published meanwhile may be lost, so the receiver must resync
    /// from PostgreSQL. Also sent once right after the first subscription.
    Resync,
}

/// Whether the bus currently delivers notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusHealth {
    /// Subscribed, and this node's last probe came back in time.
    Up,
    /// Not subscribed, or the subscription went silent: notifications from
    /// other nodes may be missed until the next [`BusEvent::Resync`].
    Down,
}

/// Timings of the bus. The defaults suit production; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusOptions {
    /// How often this node publishes a probe on its own channel.
    pub probe_every: Duration,
    /// How long the subscription may stay without a probe coming back before
    /// it is taken for dead, dropped and made again. Also bounds how long
    /// connecting and publishing may take.
    pub probe_timeout: Duration,
    /// The longest pause between two connection attempts (the backoff starts
    /// at 50 ms and doubles up to this).
    pub reconnect_after: Duration,
    /// How many events may wait for the receiver. When it is full, messages
    /// are dropped and a [`BusEvent::Resync`] is sent once there is room, so
    /// a receiver that cannot keep up resyncs rather than silently missing
    /// notifications.
    pub event_capacity: usize,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            probe_every: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(6),
            reconnect_after: Duration::from_secs(1),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL given to [`Bus::start`] is not a usable `redis://` URL. The
    /// message never repeats the URL, which may hold a password.
    #[error("the bus URL must be a redis:// URL: {0}")]
    InvalidUrl(String),
    /// Redis did not answer in time (the bus treats it as unreachable).
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis refused the connection or the command, or the connection broke.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// [`Bus::close`] was called.
    #[error("the bus is closed")]
    Closed,
}

/// A node's connection to the cluster bus: publishes notifications and, in
/// background tasks, keeps a subscription alive and watched by probes.
///
/// Built by [`Bus::start`]; the tasks end on [`Bus::close`] or when the
/// `Bus` is dropped.
pub struct Bus {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// What the `Bus` handle and its background tasks share.
struct Shared {
    client: redis::Client,
    /// The URL with any password replaced, for `Debug` and logs.
    redacted_url: String,
    node_id: String,
    probe_channel: String,
    /// Tells this bus's probes apart from those of another process that was
    /// (mis)configured with the same node id: only our own prove that our
    /// subscription works.
    probe_token: String,
    options: BusOptions,
    link: Mutex<Link>,
    /// The publishing connection, made on first use and again after an
    /// error. Cloning a multiplexed connection is cheap, so the lock is only
    /// held to take a clone (or to connect).
    publisher: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Messages dropped because the receiver was full (each time followed
    /// by a Resync), for metrics.
    dropped: AtomicU64,
    /// Wakes the prober right after a (re)subscription, so that health
    /// comes back Up after one round-trip instead of up to `probe_every`.
    probe_now: Notify,
}

/// The subscription's state, as far as [`Bus::health`] is concerned.
#[derive(Debug, Default)]
struct Link {
    closed: bool,
    subscribed: bool,
    /// When one of our probes last came back on the current subscription.
    last_probe: Option<Instant>,
}

impl Bus {
    /// Connects, subscribes to `channels` plus this node's private probe
    /// channel, and starts the background tasks. Fails only if `url` is not a redis:// URL;
    /// an unreachable Redis is retried in the background (health Down meanwhile).
    ///
    /// The receiver gets a [`BusEvent::Resync`] first, once the subscription
    /// is made. Must be called inside a Tokio runtime.
    pub async fn start(
        url: &str,
        node_id: &str,
        channels: &[&str],
        options: BusOptions,
    ) -> Result<(Arc<Bus>, mpsc::Receiver<BusEvent>), BusError> {
        let redacted_url = check_url(url)?;
        let client = redis::Client::open(url).map_err(|e| BusError::InvalidUrl(e.to_string()))?;
        let probe_channel = format!("{PROBE_CHANNEL_PREFIX}{node_id}");
        let shared = Arc::new(Shared {
            client,
            redacted_url,
            node_id: node_id.to_owned(),
            probe_token: format!("{:016x}", rand::random::<u64>()),
            probe_channel,
            options,
            link: Mutex::new(Link::default()),
            publisher: tokio::sync::Mutex::new(None),
            dropped: AtomicU64::new(0),
            probe_now: Notify::new(),
        });
        let (tx, rx) = mpsc::channel(options.event_capacity.max(1));
        let mut subscribed: Vec<String> = channels.iter().map(|c| (*c).to_owned()).collect();
        subscribed.push(shared.probe_channel.clone());
        let subscriber = tokio::spawn(subscribe_loop(Arc::clone(&shared), subscribed, tx));
        let prober = tokio::spawn(probe_loop(Arc::clone(&shared)));
        let bus = Bus {
            shared,
            tasks: Mutex::new(vec![subscriber.abort_handle(), prober.abort_handle()]),
        };
        Ok((Arc::new(bus), rx))
    }

    /// Publishes best-effort: returns an error if Redis is unreachable (callers log it; PostgreSQL holds the truth).
    ///
    /// A notification that does not get through is not retried: the nodes
    /// that miss it resync when their own subscription recovers.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BusError> {
        if lock(&self.shared.link).closed {
            return Err(BusError::Closed);
        }
        self.shared.publish(channel, payload).await
    }

    /// Up while connected AND the last probe came back within `probe_timeout`.
    pub fn health(&self) -> BusHealth {
        let link = lock(&self.shared.link);
        let fresh = link
            .last_probe
            .is_some_and(|at| at.elapsed() <= self.shared.options.probe_timeout);
        if !link.closed && link.subscribed && fresh {
            BusHealth::Up
        } else {
            BusHealth::Down
        }
    }

    /// How many messages were dropped so far because the receiver was full
    /// (each gap was followed by a [`BusEvent::Resync`]). Worth exporting as
    /// a metric: a node that keeps resyncing for this reason is overloaded.
    pub fn dropped_messages(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// This node's private probe channel (never delivered as a message).
    pub fn probe_channel(&self) -> &str {
        &self.shared.probe_channel
    }

    /// Ends the background tasks.
    ///
    /// The receiver then sees the end of the channel; health stays Down and
    /// [`Bus::publish`] fails with [`BusError::Closed`]. Calling it again
    /// does nothing.
    pub fn close(&self) {
        {
            let mut link = lock(&self.shared.link);
            if !link.closed {
                tracing::info!(node = %self.shared.node_id, "cluster bus closed");
            }
            link.closed = true;
            link.subscribed = false;
        }
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl Drop for Bus {
    /// The tasks only hold the shared state, not the `Bus`, so without this
    /// they would outlive the last handle.
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("url", &self.shared.redacted_url)
            .field("node_id", &self.shared.node_id)
            .field("health", &self.health())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("url", &self.redacted_url)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Publishes on the cached connection, connecting first if there is
    /// none, and forgets the connection after any error so that the next
    /// call starts afresh (a multiplexed connection does not reconnect by
    /// itself).
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BusError> {
        let limit = self.options.probe_timeout;
        let result = timeout(limit, async {
            let mut conn = self.publisher_connection().await?;
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(&mut conn)
                .await?;
            Ok::<_, BusError>(())
        })
        .await
        .unwrap_or(Err(BusError::Timeout(limit)));
        if result.is_err() {
            *self.publisher.lock().await = None;
        }
        result
    }

    async fn publisher_connection(&self) -> Result<MultiplexedConnection, BusError> {
        let mut cached = self.publisher.lock().await;
        if let Some(conn) = cached.as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.probe_timeout))
            .set_response_timeout(Some(self.options.probe_timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *cached = Some(conn.clone());
        Ok(conn)
    }

    /// Opens a pub/sub connection and subscribes to `channels`, within
    /// `probe_timeout` (a Redis that accepts but never answers must not
    /// hold the subscriber forever).
    async fn subscribe(&self, channels: &[String]) -> Result<PubSub, BusError> {
        let limit = self.options.probe_timeout;
        timeout(limit, async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channels).await?;
            Ok::<_, BusError>(pubsub)
        })
        .await
        .unwrap_or(Err(BusError::Timeout(limit)))
    }

    fn set_subscribed(&self, subscribed: bool) {
        let mut link = lock(&self.link);
        link.subscribed = subscribed;
        link.last_probe = None;
    }

    fn probe_returned(&self) {
        lock(&self.link).last_probe = Some(Instant::now());
    }
}

/// Why one subscription ended.
#[derive(Debug)]
enum Ended {
    /// Redis closed the connection (killed, restarted, network error).
    Closed,
    /// No probe came back within `probe_timeout`.
    Silent,
    /// Nobody listens any more: the bus has nothing left to do.
    ReceiverGone,
}

/// The subscriber task: subscribes, pumps messages to the receiver until
/// the subscription dies, and starts over with backoff, forever.
async fn subscribe_loop(shared: Arc<Shared>, channels: Vec<String>, tx: mpsc::Sender<BusEvent>) {
    let max_backoff = shared.options.reconnect_after.max(Duration::from_millis(1));
    let first_backoff = FIRST_BACKOFF.min(max_backoff);
    let mut backoff = first_backoff;
    // Whether the last failure was already logged at warn level: an
    // unreachable Redis is reported once, not on every attempt.
    let mut failing = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let pubsub = match shared.subscribe(&channels).await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                if failing {
                    tracing::debug!(node = %shared.node_id, %error, "cluster bus still cannot subscribe");
                } else {
                    tracing::warn!(
                        node = %shared.node_id,
                        url = %shared.redacted_url,
                        %error,
                        "cluster bus cannot subscribe; retrying"
                    );
                    failing = true;
                }
                sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
                continue;
            }
        };
        tracing::info!(
            node = %shared.node_id,
            url = %shared.redacted_url,
            "cluster bus subscribed"
        );
        failing = false;
        shared.set_subscribed(true);
        shared.probe_now.notify_one();
        // Owed to the receiver after every (re)subscription (whatever was
        // owed from an earlier one is covered by this), and again whenever
        // the channel overflows.
        let mut resync_owed = true;
        let (ended, healthy) = pump(&shared, pubsub, &tx, &mut resync_owed).await;
        shared.set_subscribed(false);
        match ended {
            Ended::Closed => {
                tracing::warn!(node = %shared.node_id, "cluster bus subscription lost; resubscribing");
            }
            Ended::Silent => tracing::warn!(
                node = %shared.node_id,
                timeout = ?shared.options.probe_timeout,
                "cluster bus subscription went silent; resubscribing"
            ),
            Ended::ReceiverGone => {
                tracing::info!(node = %shared.node_id, "cluster bus receiver dropped; unsubscribing");
                return;
            }
        }
        // A subscription that worked earns a quick retry; one that died
        // before a single probe came back (say, killed over and over) backs
        // off like a failed connection.
        if healthy {
            backoff = first_backoff;
        } else {
            sleep(backoff).await;
            backoff = (backoff * 2).min(max_backoff);
        }
    }
}

/// Forwards one subscription's messages until it closes or goes silent.
/// Returns why it ended and whether any probe came back on it.
async fn pump(
    shared: &Shared,
    pubsub: PubSub,
    tx: &mpsc::Sender<BusEvent>,
    resync_owed: &mut bool,
) -> (Ended, bool) {
    let probe_timeout = shared.options.probe_timeout;
    let mut messages = pubsub.into_on_message();
    let silence = sleep(probe_timeout);
    tokio::pin!(silence);
    let mut healthy = false;
    loop {
        tokio::select! {
            biased;
            permit = tx.reserve(), if *resync_owed => match permit {
                Ok(permit) => {
                    permit.send(BusEvent::Resync);
                    *resync_owed = false;
                }
                Err(_) => return (Ended::ReceiverGone, healthy),
            },
            msg = messages.next() => {
                let Some(msg) = msg else {
                    return (Ended::Closed, healthy);
                };
                let channel = msg.get_channel_name();
                if channel == shared.probe_channel {
                    if msg.get_payload_bytes() == shared.probe_token.as_bytes() {
                        shared.probe_returned();
                        healthy = true;
                        silence.as_mut().reset(Instant::now() + probe_timeout);
                    }
                    continue;
                }
                let event = BusEvent::Message {
                    channel: channel.to_owned(),
                    payload: Bytes::copy_from_slice(msg.get_payload_bytes()),
                };
                match deliver(tx, event, resync_owed) {
                    Delivered::Yes => {}
                    Delivered::Dropped => {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Delivered::ReceiverGone => return (Ended::ReceiverGone, healthy),
                }
            }
            () = &mut silence => return (Ended::Silent, healthy),
        }
    }
}

/// What became of a message handed to the receiver.
#[derive(Debug)]
enum Delivered {
    Yes,
    Dropped,
    ReceiverGone,
}

/// Hands a message to the receiver without waiting: a full channel drops it
/// and marks a Resync as owed, and a Resync still owed goes first (so the
/// receiver never sees a message from after a gap before learning of it).
fn deliver(tx: &mpsc::Sender<BusEvent>, event: BusEvent, resync_owed: &mut bool) -> Delivered {
    use mpsc::error::TrySendError;
    if *resync_owed {
        match tx.try_send(BusEvent::Resync) {
            Ok(()) => *resync_owed = false,
            Err(TrySendError::Full(_)) => return Delivered::Dropped,
            Err(TrySendError::Closed(_)) => return Delivered::ReceiverGone,
        }
    }
    match tx.try_send(event) {
        Ok(()) => Delivered::Yes,
        Err(TrySendError::Full(_)) => {
            tracing::warn!(
                "cluster bus receiver is full; dropping messages until it catches up, then resync"
            );
            *resync_owed = true;
            Delivered::Dropped
        }
        Err(TrySendError::Closed(_)) => Delivered::ReceiverGone,
    }
}

/// The prober task: publishes this bus's token on its probe channel every
/// `probe_every`, and right after each (re)subscription. Failures are
/// expected while Redis is down; the subscriber's silence timer is what acts
/// on them.
async fn probe_loop(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(shared.options.probe_every.max(Duration::from_millis(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shared.probe_now.notified() => {}
        }
        if let Err(error) = shared
            .publish(&shared.probe_channel, shared.probe_token.as_bytes())
            .await
        {
            tracing::debug!(node = %shared.node_id, %error, "cluster bus probe not published");
        }
    }
}

/// Accepts only `redis://` URLs (no TLS, no unix sockets: the bus talks to
/// a Redis on a private network) and returns the URL with any password
/// replaced, fit for logs.
pub(crate) fn check_url(url: &str) -> Result<String, BusError> {
    let mut parsed = url::Url::parse(url).map_err(|e| BusError::InvalidUrl(e.to_string()))?;
    if parsed.scheme() != "redis" {
        return Err(BusError::InvalidUrl(format!(
            "the scheme is {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(BusError::InvalidUrl("it names no host".to_owned()));
    }
    if parsed.password().is_some() {
        // Cannot fail: a URL with a password has a host.
        let _ = parsed.set_password(Some("<redacted>"));
    }
    Ok(parsed.to_string())
}

/// Locks a mutex whose holders never panic while holding it; poisoning is
/// ignored rather than propagated as a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        assert!(matches!(
            check_url("http://localhost:6379"),
            Err(BusError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("not a url"),
            Err(BusError::InvalidUrl(_))
        ));
        assert_eq!(
            check_url("redis://127.0.0.1:6379/0").unwrap(),
            "redis://127.0.0.1:6379/0"
        );
        let redacted = check_url("redis://user:s3cret@127.0.0.1:6379").unwrap();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains("user"), "{redacted}");
    }
}
