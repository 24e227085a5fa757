//! An account's live conversation feeds: the channels that carry
//! conversation frames to agent and visitor streams (the `conversations`
//! module describes them). A leaf: the account unit holds one per account and
//! `conversations` publishes into it, so neither imports the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast;

/// Frames an agent stream may fall behind before it is ended.
pub const AGENT_FEED_CAPACITY: usize = 1024;
/// Frames a visitor stream may fall behind before it is ended.
pub const VISITOR_FEED_CAPACITY: usize = 64;

/// An account's live conversation feeds.
#[derive(Debug)]
pub struct Feeds {
    /// Replaced (which ends every agent stream) when frames may have been lost.
    agents: Mutex<broadcast::Sender<AgentFrame>>,
    visitors: Mutex<HashMap<String, broadcast::Sender<VisitorFrame>>>,
    /// Cluster mode: the last `seq` this node published per conversation, so
    /// that what another node announces is published here once, in order
    /// and without gaps (bounded; see `refresh_from_store`).
    published_up_to: Mutex<HashMap<String, u64>>,
}

/// Conversations whose last published `seq` a node remembers at most.
const REMEMBERED_CONVERSATIONS: usize = 10_000;

/// A frame for agent streams, with the group whose eligible agents get it
/// (`None`: every agent).
#[derive(Clone, Debug)]
pub struct AgentFrame {
    pub group: Option<Arc<str>>,
    pub bytes: Bytes,
}

/// A frame for a conversation's visitor streams; `seq` for messages.
#[derive(Clone, Debug)]
pub struct VisitorFrame {
    pub seq: Option<u64>,
    pub bytes: Bytes,
}

impl Default for Feeds {
    fn default() -> Self {
        Feeds {
            agents: Mutex::new(broadcast::Sender::new(AGENT_FEED_CAPACITY)),
            visitors: Mutex::default(),
            published_up_to: Mutex::default(),
        }
    }
}

impl Feeds {
    /// Every conversation frame of the account, for one agent stream.
    pub fn subscribe_agents(&self) -> broadcast::Receiver<AgentFrame> {
        self.agents_sender().subscribe()
    }

    pub(crate) fn agents_sender(&self) -> broadcast::Sender<AgentFrame> {
        self.agents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn visitors(
        &self,
    ) -> MutexGuard<'_, HashMap<String, broadcast::Sender<VisitorFrame>>> {
        self.visitors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that messages up to `seq` of a conversation were published;
    /// returns the seq published before.
    pub(crate) fn mark_published(&self, conversation_id: &str, seq: u64) -> Option<u64> {
        let mut map = self
            .published_up_to
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= REMEMBERED_CONVERSATIONS && !map.contains_key(conversation_id) {
            map.clear();
        }
        let before = map.get(conversation_id).copied();
        if before.is_none_or(|b| seq > b) {
            map.insert(conversation_id.to_owned(), seq);
        }
        before
    }

    pub(crate) fn published_up_to(&self, conversation_id: &str) -> Option<u64> {
        self.published_up_to
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(conversation_id)
            .copied()
    }

    /// Ends every agent stream: after the bus may have lost announcements,
    /// dashboards reconnect and fetch the inbox again.
    pub fn end_agent_streams(&self) {
        let mut agents = self
            .agents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *agents = broadcast::Sender::new(AGENT_FEED_CAPACITY);
    }

    pub(crate) fn publish_to_visitors(&self, conversation_id: &str, frames: Vec<VisitorFrame>) {
        let mut visitors = self.visitors();
        let Some(tx) = visitors.get(conversation_id) else {
            return;
        };
        for frame in frames {
            if tx.send(frame).is_err() {
                // Nobody listens any more; the last subscription's release
                // normally removes the feed first.
                visitors.remove(conversation_id);
                return;
            }
        }
    }
}
