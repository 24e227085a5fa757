//! The outbox worker (docs/notifications.md): one task per process that
//! claims due outbox items, hands each to what sends its kind — email
//! (`notify`: notifications and reply digests), a webhook delivery
//! (`webhooks`) or a Web Push (`push`) — and records the outcome with the shared retry rules.
//!
//! Claiming leases an item (moves its `next_attempt_at` forward by
//! [`OutboxTiming::lease`]): on PostgreSQL several nodes claim with
//! `FOR UPDATE SKIP LOCKED`, so each item goes to one of them, and an item
//! whose node died mid-send falls due again when the lease runs out.
//!
//! The worker sleeps until the earliest item is due, woken at once when this
//! process writes an item, with a coarse sweep for items other nodes wrote.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::metrics::Metrics;
use crate::notify::{self, Attempt, Outbox, OutboxTiming, Settled, Work, later};
use crate::push::{self, Push};
use crate::store::{OutboxItem, REPLY_DIGEST, Store};
use crate::webhooks::{self, Webhooks};

/// Items claimed at once.
const BATCH: u32 = 16;
/// How long sent and given-up items are kept (for an operator looking into
/// a delivery) before the worker deletes them.
pub const KEEP_FINISHED: SignedDuration = SignedDuration::from_hours(24 * 7);
/// How often the worker deletes finished items older than [`KEEP_FINISHED`].
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the outbox worker works with.
#[derive(Clone, Debug)]
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// Email, when the server sends it.
    pub outbox: Option<Arc<Outbox>>,
    pub webhooks: Arc<Webhooks>,
    pub push: Arc<Push>,
}

impl Worker {
    /// The outbox's timing: the email settings' when email is on (the same
    /// flags set both), else the webhooks'.
    fn timing(&self) -> OutboxTiming {
        self.outbox
            .as_deref()
            .map_or_else(|| self.webhooks.timing(), Outbox::timing)
    }

    /// The retry timing of an item of `kind`: its sender's (the same flags
    /// set them all; tests set them apart).
    fn timing_of(&self, kind: &str) -> OutboxTiming {
        match kind {
            push::PUSH => self.push.timing(),
            webhooks::KIND => self.webhooks.timing(),
            _ => self.timing(),
        }
    }
}

/// Starts the outbox worker. It runs whether or not the server sends email
/// (webhook deliveries need no SMTP), while `owner` (the hub it serves) lives.
pub fn spawn_worker<T: Send + Sync + 'static>(owner: &Arc<T>, worker: Worker) {
    tokio::spawn(run(Arc::downgrade(owner), worker));
}

async fn run<T>(owner: Weak<T>, worker: Worker) {
    let timing = worker.timing();
    let mut pruned_at: Option<tokio::time::Instant> = None;
    loop {
        if owner.strong_count() == 0 {
            return;
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(tokio::time::Instant::now());
            prune(&*worker.store, Timestamp::now()).await;
        }
        let next = drain(&worker).await;
        let wait = match next {
            Some(due) => {
                let until = due.duration_since(Timestamp::now());
                Duration::try_from(until).unwrap_or(Duration::ZERO)
            }
            None => timing.sweep,
        }
        .clamp(Duration::from_millis(20), timing.sweep);
        let email_written = async {
            match &worker.outbox {
                Some(outbox) => outbox.woken().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = email_written => {}
            () = worker.webhooks.woken() => {}
            () = worker.push.woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Deletes the items that finished more than [`KEEP_FINISHED`] before `now`.
pub async fn prune(store: &dyn Store, now: Timestamp) {
    let before = now.checked_sub(KEEP_FINISHED).unwrap_or(now);
    match store.prune_outbox(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deleted = n,
            "deleted finished notifications older than a week"
        ),
        Err(e) => tracing::warn!(error = %e, "could not delete finished notifications"),
    }
}

/// Sends every due item; returns when the next one is due.
async fn drain(worker: &Worker) -> Option<Timestamp> {
    let timing = worker.timing();
    loop {
        let now = Timestamp::now();
        let lease_until = later(now, timing.lease);
        let items = match worker.store.claim_outbox(now, lease_until, BATCH).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim notifications from the outbox");
                return None;
            }
        };
        if items.is_empty() {
            break;
        }
        futures_util::future::join_all(items.into_iter().map(|item| deliver(worker, item))).await;
    }
    match worker.store.outbox_pending().await {
        Ok((queued, next)) => {
            worker
                .metrics
                .outbox_queued
                .store(queued, Ordering::Relaxed);
            next
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the outbox");
            None
        }
    }
}

/// Sends one claimed item, by its kind, and records the outcome.
async fn deliver(worker: &Worker, item: OutboxItem) {
    let timing = worker.timing_of(&item.kind);
    let store = &*worker.store;
    match (item.kind.as_str(), worker.outbox.as_deref()) {
        (webhooks::KIND, _) => {
            let tried = worker.webhooks.send(store, &item).await;
            let settled = settle(worker, timing, &item, &tried.attempt).await;
            worker.webhooks.log(store, &item, &tried, settled).await;
        }
        (push::PUSH, _) => {
            let attempt = worker.push.deliver(store, &item).await;
            settle(worker, timing, &item, &attempt).await;
        }
        (notify::EMAIL | REPLY_DIGEST, Some(outbox)) => {
            let attempt = match notify::email_work(outbox, store, &item).await {
                Ok(Work::Send(message, digest)) => {
                    let attempt = notify::send(outbox, *message).await;
                    // Before the item is recorded sent: a digest that is
                    // recorded sent and not finished would wait forever.
                    if let (Attempt::Sent, Some(sent)) = (&attempt, digest) {
                        notify::finish_digest(outbox, store, &item, sent).await;
                    }
                    attempt
                }
                Ok(Work::Done) => {
                    if let Err(e) = store.outbox_sent(&item.id, Timestamp::now()).await {
                        tracing::warn!(error = %e, notification = %item.id, "could not record a finished notification");
                    }
                    return;
                }
                Err(attempt) => attempt,
            };
            settle(worker, timing, &item, &attempt).await;
        }
        // Written while email was on: it waits, leased, for a process that
        // sends email.
        (notify::EMAIL | REPLY_DIGEST, None) => {}
        _ => {
            let attempt = Attempt::Unsendable("the notification is of an unknown kind".into());
            settle(worker, timing, &item, &attempt).await;
        }
    }
}

/// Records an attempt: sent, retried after the backoff, or given up (at once
/// when unsendable, or a day after the item was written).
async fn settle(
    worker: &Worker,
    timing: OutboxTiming,
    item: &OutboxItem,
    attempt: &Attempt,
) -> Settled {
    let store = &worker.store;
    let metrics = &worker.metrics;
    let now = Timestamp::now();
    let (settled, recorded) = match attempt {
        Attempt::Sent => {
            metrics.outbox_sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(notification = %item.id, kind = %item.kind, "sent a notification");
            // Should this fail (or the process die first), the lease runs out
            // and the item goes again: at least once.
            (Settled::Sent, store.outbox_sent(&item.id, now).await)
        }
        Attempt::Dropped(reason) => {
            tracing::info!(notification = %item.id, kind = %item.kind, reason = %reason,
                "a notification has nobody to reach any more");
            (
                Settled::GaveUp,
                store.outbox_failed(&item.id, now, reason).await,
            )
        }
        Attempt::Unsendable(error) => {
            tracing::error!(notification = %item.id, kind = %item.kind, error = %error,
                "giving up a notification that cannot be sent");
            metrics.outbox_failed.fetch_add(1, Ordering::Relaxed);
            (
                Settled::GaveUp,
                store.outbox_failed(&item.id, now, error).await,
            )
        }
        Attempt::Failed(error) => {
            let failures = item.attempts.saturating_add(1);
            let age = now.duration_since(item.created_at);
            let give_up =
                SignedDuration::try_from(timing.give_up_after).is_ok_and(|limit| age >= limit);
            if give_up {
                metrics.outbox_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(notification = %item.id, kind = %item.kind, attempts = failures,
                    error = %error, "giving up a notification");
                (
                    Settled::GaveUp,
                    store.outbox_failed(&item.id, now, error).await,
                )
            } else {
                let wait = timing.backoff(failures);
                let at = later(now, wait);
                metrics.outbox_retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(notification = %item.id, kind = %item.kind, attempts = failures,
                    error = %error, retry_in_ms = wait.as_millis() as u64,
                    "a notification failed; will retry");
                (
                    Settled::Retry(at),
                    store.outbox_retry(&item.id, at, error).await,
                )
            }
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, notification = %item.id, "could not record a notification attempt");
    }
    settled
}
