//! Cluster mode (docs/cluster.md): nodes that share one PostgreSQL database,
//! which holds the truth, and one Redis, which carries announcements between
//! them and may lose some.
//!
//! - A node that changes an account stores the change, derives the account
//!   under its row lock ([`crate::store::ClusterStore::derive_locked`]) and
//!   announces it on the bus; every node that hears it refreshes the account
//!   from the store.
//! - Nodes heartbeat into the store; when one falls silent, the others
//!   re-derive the accounts whose sessions had streams on it, whose last sign
//!   of life becomes its last heartbeat.
//! - A node that may have missed announcements (its subscription came back)
//!   refreshes every account it has.
//!
//! [`bus`] is the Redis side; [`Broadcast`] is what the hub needs of it;
//! [`crate::node`] hands what the bus delivers to the hub and runs the
//! membership.
//! [`limits`] holds the rate limits in Redis, so that they hold across the
//! cluster rather than per node.

pub mod bus;
pub mod limits;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::ClusterStore;

/// A node whose heartbeat is older than this is gone.
pub const NODE_TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);
/// How often a node heartbeats and looks for silent nodes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// The bus channel every node listens on.
pub const CHANNEL: &str = "onair:changes";
/// The longest grace period: a dead node's rows matter no longer after it.
pub const FORGET_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600 + 120);

/// What carries announcements between nodes.
#[async_trait]
pub trait Broadcast: Send + Sync + fmt::Debug + 'static {
    /// Best effort: the store holds the truth, a lost announcement is
    /// repaired by the next refresh.
    async fn publish(&self, payload: Vec<u8>);
    /// Whether announcements currently reach this node.
    fn healthy(&self) -> bool;
}

#[async_trait]
impl Broadcast for bus::Bus {
    async fn publish(&self, payload: Vec<u8>) {
        if let Err(e) = bus::Bus::publish(self, CHANNEL, &payload).await {
            tracing::warn!(error = %e, "could not announce a change (the other nodes catch up when the bus is back)");
        }
    }

    fn healthy(&self) -> bool {
        self.health() == bus::BusHealth::Up
    }
}

/// Starts the bus for `node_id` on `redis_url`.
pub async fn start_bus(
    redis_url: &str,
    node_id: &str,
) -> Result<(Arc<bus::Bus>, tokio::sync::mpsc::Receiver<bus::BusEvent>), bus::BusError> {
    bus::Bus::start(redis_url, node_id, &[CHANNEL], bus::BusOptions::default()).await
}

/// A node's link to the cluster.
#[derive(Clone, Debug)]
pub struct ClusterLink {
    /// This process's incarnation: a new id on every start.
    pub node_id: String,
    pub store: Arc<dyn ClusterStore>,
    pub bus: Arc<dyn Broadcast>,
    /// Rate limits for the whole cluster (docs/hardening.md).
    pub limits: Option<limits::ClusterLimits>,
}

/// An announcement on [`CHANNEL`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Announcement {
    /// An account's records or status changed.
    Account { node: String, account: String },
    /// A conversation has new messages or a new state.
    Conversation {
        node: String,
        account: String,
        conversation: String,
        /// Messages with a greater seq are new.
        after: u64,
        state_changed: bool,
    },
    /// Someone is typing in a conversation (never stored).
    Typing {
        node: String,
        account: String,
        /// The conversation's group, for the agents eligible for it.
        group: Option<String>,
        typing: onair_shared::wire::Typing,
    },
}

impl ClusterLink {
    pub fn new(
        node_id: String,
        store: Arc<dyn ClusterStore>,
        bus: Arc<dyn Broadcast>,
        limits: Option<limits::ClusterLimits>,
    ) -> ClusterLink {
        ClusterLink {
            node_id,
            store,
            bus,
            limits,
        }
    }

    /// Tells the other nodes that an account changed.
    pub async fn announce(&self, account_id: &str) {
        let note = Announcement::Account {
            node: self.node_id.clone(),
            account: account_id.to_owned(),
        };
        self.bus.publish(crate::sse::json(&note).into_bytes()).await;
    }

    /// Tells the other nodes that a conversation changed.
    pub async fn announce_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        after: u64,
        state_changed: bool,
    ) {
        let note = Announcement::Conversation {
            node: self.node_id.clone(),
            account: account_id.to_owned(),
            conversation: conversation_id.to_owned(),
            after,
            state_changed,
        };
        self.bus.publish(crate::sse::json(&note).into_bytes()).await;
    }

    /// Tells the other nodes that someone is typing, for their streams.
    pub async fn announce_typing(
        &self,
        account_id: &str,
        group: Option<&str>,
        typing: onair_shared::wire::Typing,
    ) {
        let note = Announcement::Typing {
            node: self.node_id.clone(),
            account: account_id.to_owned(),
            group: group.map(str::to_owned),
            typing,
        };
        self.bus.publish(crate::sse::json(&note).into_bytes()).await;
    }
}
