//! A running node: the account units ([`Hub`]) together with what acts on
//! them from outside — the account timers' due work (automatic replies), the
//! outbox worker (email, webhooks and Web Push), and in a cluster the bus
//! receiver and the membership heartbeat (docs/cluster.md).
//!
//! This is where the parts meet, so that they need not know each other: the
//! hub knows neither `conversations` nor what a cluster node does with the
//! bus, `conversations` knows the hub, `notify`, `webhooks`, `push` and
//! `outbox` do not, and `cluster` is the bus and the shared store. Nothing
//! here is domain logic.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cluster::bus::BusEvent;
use crate::cluster::{Announcement, FORGET_AFTER, HEARTBEAT_EVERY, NODE_TIMEOUT};
use crate::conversations;
use crate::hub::{Hub, HubOptions};
use crate::outbox;
use crate::store::Store;

/// Loads every account and starts the node's background work. `bus` is what
/// the cluster's bus delivers (`None` outside cluster mode, and then
/// `options.cluster` must be `None` too).
pub async fn start(
    store: Arc<dyn Store>,
    options: HubOptions,
    bus: Option<mpsc::Receiver<BusEvent>>,
) -> anyhow::Result<Arc<Hub>> {
    let hub = Hub::load(store, options, Arc::new(conversations::BusyReplies)).await?;
    // Always: webhook deliveries need no SMTP.
    let worker = outbox::Worker {
        store: Arc::clone(&hub.store),
        metrics: Arc::clone(&hub.metrics),
        outbox: hub.outbox.clone(),
        webhooks: Arc::clone(&hub.webhooks),
        push: Arc::clone(&hub.push),
    };
    outbox::spawn_worker(&hub, worker);
    if hub.cluster.is_some() {
        spawn_membership(&hub);
    }
    if let Some(events) = bus {
        spawn_receiver(&hub, events);
    }
    Ok(hub)
}

/// Hands what the bus delivers to the hub, one event at a time (so an
/// account's announcements are applied in order), until the hub is gone.
fn spawn_receiver(hub: &Arc<Hub>, mut events: mpsc::Receiver<BusEvent>) {
    let weak = Arc::downgrade(hub);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Some(hub) = weak.upgrade() else { return };
            match event {
                BusEvent::Message { payload, .. } => on_message(&hub, &payload).await,
                BusEvent::Resync => resync(&hub).await,
            }
        }
    });
}

/// Acts on what the bus delivered.
async fn on_message(hub: &Hub, payload: &[u8]) {
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
                conversations::refresh_from_store(hub, &live, &conversation, after, state_changed)
                    .await;
            }
        }
        Announcement::Typing {
            node,
            account,
            group,
            typing,
        } => {
            if node == cluster.node_id {
                return;
            }
            if let Some(live) = hub.account_by_id(&account) {
                conversations::publish_typing(&live, group.as_deref(), &typing);
            }
        }
    }
}

/// After the bus may have lost announcements: refresh everything.
async fn resync(hub: &Hub) {
    tracing::info!("refreshing every account from the store");
    for live in hub.accounts() {
        if let Err(e) = hub.cluster_reload(&live).await {
            tracing::warn!(error = %e, "could not refresh an account");
        }
        conversations::refresh_all_from_store(hub, &live).await;
    }
}

/// Heartbeats, and re-derives the accounts of nodes that fell silent.
fn spawn_membership(hub: &Arc<Hub>) {
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
            if hub.is_shutting_down() {
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
