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
//! [`bus`] is the Redis side; [`Broadcast`] is what the hub needs of it.
//! [`limits`] holds the rate limits in Redis, so that they hold across the
//! cluster rather than per node.

pub mod bus;
pub mod limits;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::hub::Hub;
use crate::store::ClusterStore;

/// A node whose heartbeat is older than this is gone.
pub const NODE_TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);
/// How often a node heartbeats and looks for silent nodes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// The bus channel every node listens on.
pub const CHANNEL: &str = "onair:changes";
/// The longest grace period: a dead node's rows matter no longer after it.
const FORGET_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600 + 120);

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

/// Hands what the bus delivers to the hub, one event at a time (so an
/// account's announcements are applied in order), until the hub is gone.
pub fn spawn_receiver(hub: &Arc<Hub>, mut events: tokio::sync::mpsc::Receiver<bus::BusEvent>) {
    let weak = Arc::downgrade(hub);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Some(hub) = weak.upgrade() else { return };
            match event {
                bus::BusEvent::Message { payload, .. } => on_message(&hub, &payload).await,
                bus::BusEvent::Resync => resync(&hub).await,
            }
        }
    });
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
}

/// Acts on what the bus delivered.
pub async fn on_message(hub: &Hub, payload: &[u8]) {
    let Ok(note) = serde_json::from_slice::<Announcement>(payload) else {
        tracing::warn!("ignored an unreadable announcement");
        return;
    };
    let Some(cluster) = &hub.cluster else { return };
    match note {
        Announcement::Account { node, account } => {
            if node == cluster.node_id {
                return;
            }
            if let Some(live) = hub.account_by_id(&account) {
                if let Err(e) = hub.cluster_reload(&live).await {
                    tracing::warn!(error = %e, "could not refresh an account");
                }
            }
        }
        Announcement::Conversation {
            node,
            account,
            conversation,
            after,
            state_changed,
        } => {
            if node == cluster.node_id {
                return;
            }
            if let Some(live) = hub.account_by_id(&account) {
                crate::conversations::refresh_from_store(
                    hub,
                    &live,
                    &conversation,
                    after,
                    state_changed,
                )
                .await;
            }
        }
    }
}

/// After the bus may have lost announcements: refresh everything.
pub async fn resync(hub: &Hub) {
    tracing::info!("refreshing every account from the store");
    for live in hub.accounts() {
        if let Err(e) = hub.cluster_reload(&live).await {
            tracing::warn!(error = %e, "could not refresh an account");
        }
        crate::conversations::refresh_all_from_store(hub, &live).await;
    }
}

/// Heartbeats, and re-derives the accounts of nodes that fell silent.
pub fn spawn_membership(hub: &Arc<Hub>) {
    let weak = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut handled: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut last_beat = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let Some(hub) = weak.upgrade() else { return };
            let Some(cluster) = hub.cluster.clone() else {
                return;
            };
            if *hub.shutdown_signal().borrow() {
                return;
            }
            let now = hub.clock.now();
            // Paused past the timeout (SIGSTOP, a long GC-like stall): the
            // others may have given this node's streams up; derive again.
            let paused = last_beat.elapsed() > Duration::try_from(NODE_TIMEOUT).unwrap_or_default();
            last_beat = tokio::time::Instant::now();
            match cluster.store.heartbeat(&cluster.node_id, now).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("this node was recorded as stopped"),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
            if paused {
                for live in hub.accounts() {
                    let _ = hub.cluster_derive(&live, false).await;
                }
            }
            let silent = match cluster.store.silent_nodes(now - NODE_TIMEOUT).await {
                Ok(silent) => silent,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the cluster's nodes");
                    continue;
                }
            };
            for (node, heartbeat) in silent {
                if node == cluster.node_id {
                    continue;
                }
                if now.duration_since(heartbeat) > FORGET_AFTER {
                    if let Err(e) = cluster.store.forget_node(&node).await {
                        tracing::warn!(error = %e, "could not forget a gone node");
                    }
                    handled.remove(&node);
                    continue;
                }
                if !handled.insert(node.clone()) {
                    continue;
                }
                tracing::info!(%node, "a node fell silent; its sessions keep their grace");
                let accounts = cluster.store.accounts_streaming_on(&node).await;
                for account in accounts.unwrap_or_default() {
                    if let Some(live) = hub.account_by_id(&account) {
                        if let Err(e) = hub.cluster_derive(&live, false).await {
                            tracing::warn!(error = %e, "could not derive an account");
                        }
                    }
                }
            }
        }
    });
}
