//! Counters for `GET /metrics` (Prometheus text format).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

#[derive(Debug, Default)]
pub struct Metrics {
    /// Event streams of every kind open now, and how many may be
    /// (`connections::ConnectionLimits::max_streams`; 0 = no limit).
    streams: AtomicU64,
    pub max_streams: AtomicU64,
    pub status_streams: AtomicU64,
    pub agent_streams: AtomicU64,
    pub conversation_streams: AtomicU64,
    pub events_sent: AtomicU64,
    pub messages: AtomicU64,
    /// Notifications waiting in the outbox (as its worker last counted them,
    /// over every node of a cluster).
    pub outbox_queued: AtomicU64,
    pub outbox_sent: AtomicU64,
    pub outbox_retried: AtomicU64,
    pub outbox_failed: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum StreamKind {
    Status,
    Agent,
    Conversation,
}

/// Counts one open stream of a kind for as long as it lives. Opening one
/// beyond `max_streams` is refused (`503 server_busy`), so that streams leave
/// connections free for `/healthz` and API requests (docs/hardening.md).
#[derive(Debug)]
pub struct StreamGauge {
    metrics: Arc<Metrics>,
    kind: StreamKind,
}

impl StreamGauge {
    pub fn status(metrics: &Arc<Metrics>) -> Result<StreamGauge, Error> {
        StreamGauge::open(metrics, StreamKind::Status)
    }

    pub fn agent(metrics: &Arc<Metrics>) -> Result<StreamGauge, Error> {
        StreamGauge::open(metrics, StreamKind::Agent)
    }

    /// A visitor's conversation stream.
    pub fn conversation(metrics: &Arc<Metrics>) -> Result<StreamGauge, Error> {
        StreamGauge::open(metrics, StreamKind::Conversation)
    }

    fn open(metrics: &Arc<Metrics>, kind: StreamKind) -> Result<StreamGauge, Error> {
        let open = metrics.streams.fetch_add(1, Ordering::AcqRel);
        let max = metrics.max_streams.load(Ordering::Relaxed);
        if max > 0 && open >= max {
            metrics.streams.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Busy { retry_after: 2 });
        }
        let gauge = StreamGauge {
            metrics: Arc::clone(metrics),
            kind,
        };
        gauge.counter().fetch_add(1, Ordering::Relaxed);
        Ok(gauge)
    }

    fn counter(&self) -> &AtomicU64 {
        match self.kind {
            StreamKind::Status => &self.metrics.status_streams,
            StreamKind::Agent => &self.metrics.agent_streams,
            StreamKind::Conversation => &self.metrics.conversation_streams,
        }
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.counter().fetch_sub(1, Ordering::Relaxed);
        self.metrics.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Session counts, gathered from the live state when `/metrics` is read.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionCounts {
    pub accounts: u64,
    pub sessions: u64,
    pub present: u64,
}

impl Metrics {
    pub fn render(&self, sessions: SessionCounts) -> String {
        let status_streams = self.status_streams.load(Ordering::Relaxed);
        let agent_streams = self.agent_streams.load(Ordering::Relaxed);
        let conversation_streams = self.conversation_streams.load(Ordering::Relaxed);
        let events_sent = self.events_sent.load(Ordering::Relaxed);
        let messages = self.messages.load(Ordering::Relaxed);
        let outbox_queued = self.outbox_queued.load(Ordering::Relaxed);
        let outbox_sent = self.outbox_sent.load(Ordering::Relaxed);
        let outbox_retried = self.outbox_retried.load(Ordering::Relaxed);
        let outbox_failed = self.outbox_failed.load(Ordering::Relaxed);
        // (name, type, help, [(labels, value)])
        type Family<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, u64)]);
        let metrics: [Family<'_>; 10] = [
            (
                "onair_open_streams",
                "gauge",
                "Open event streams: chat boxes (status), dashboards (agent) and visitors' conversations (conversation).",
                &[
                    ("{kind=\"status\"}", status_streams),
                    ("{kind=\"agent\"}", agent_streams),
                    ("{kind=\"conversation\"}", conversation_streams),
                ],
            ),
            (
                "onair_events_sent_total",
                "counter",
                "Server-sent event frames written, keep-alives included.",
                &[("", events_sent)],
            ),
            (
                "onair_messages_total",
                "counter",
                "Conversation messages stored (visitors', agents' and automatic).",
                &[("", messages)],
            ),
            (
                "onair_outbox_queued",
                "gauge",
                "Notifications (emails) waiting to be sent or retried.",
                &[("", outbox_queued)],
            ),
            (
                "onair_outbox_sent_total",
                "counter",
                "Notifications (emails) this process sent.",
                &[("", outbox_sent)],
            ),
            (
                "onair_outbox_retried_total",
                "counter",
                "Failed notification attempts this process scheduled again.",
                &[("", outbox_retried)],
            ),
            (
                "onair_outbox_failed_total",
                "counter",
                "Notifications this process gave up on after retrying for a day.",
                &[("", outbox_failed)],
            ),
            (
                "onair_accounts",
                "gauge",
                "Accounts loaded.",
                &[("", sessions.accounts)],
            ),
            (
                "onair_sessions",
                "gauge",
                "Agent sessions (logged-in devices).",
                &[("", sessions.sessions)],
            ),
            (
                "onair_sessions_present",
                "gauge",
                "Agent sessions present now.",
                &[("", sessions.present)],
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, samples) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}
