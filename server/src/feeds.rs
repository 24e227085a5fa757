//! An account's live conversation feeds: the channels that carry
//! conversation frames to agent and visitor streams (the `conversations`
//! module describes them). A leaf: the account unit holds one per account and
//! `conversations` publishes into it, so neither imports the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use onair_shared::wire::Author;
use tokio::sync::broadcast;
use tokio::time::Instant;

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
    /// When each conversation's visitor and agents last had a typing signal
    /// passed on by this node.
    typing: Mutex<HashMap<(String, Author), Instant>>,
}

/// Conversations whose last published `seq` a node remembers at most.
const REMEMBERED_CONVERSATIONS: usize = 10_000;

/// An author of a conversation sends at most one typing signal per this long
/// (docs/conversations.md); more are answered but not passed on.
pub const TYPING_EVERY: Duration = Duration::from_secs(1);

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
            typing: Mutex::default(),
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

    /// Whether a typing signal of `author` in `conversation_id` is passed on at
    /// `now`: not when the last one was less than [`TYPING_EVERY`] ago.
    pub(crate) fn admit_typing(&self, conversation_id: &str, author: Author, now: Instant) -> bool {
        let mut last = self
            .typing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (conversation_id.to_owned(), author);
        if last
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
        {
            return false;
        }
        if last.len() >= REMEMBERED_CONVERSATIONS {
            last.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
            if last.len() >= REMEMBERED_CONVERSATIONS {
                // A flood within one second: forgetting lets a few more through.
                last.clear();
            }
        }
        last.insert(key, now);
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_typing_signal_per_author_and_second() {
        let feeds = Feeds::default();
        let start = Instant::now();
        let later = |ms| start + Duration::from_millis(ms);
        assert!(feeds.admit_typing("c1", Author::Visitor, start));
        assert!(!feeds.admit_typing("c1", Author::Visitor, later(999)));
        // Each author and each conversation on its own.
        assert!(feeds.admit_typing("c1", Author::Agent, later(10)));
        assert!(feeds.admit_typing("c2", Author::Visitor, later(10)));
        // Counted from the last one passed on, not from the last one refused.
        assert!(feeds.admit_typing("c1", Author::Visitor, later(1000)));
        assert!(!feeds.admit_typing("c1", Author::Visitor, later(1999)));
    }

    #[test]
    fn the_typing_memory_stays_bounded() {
        let feeds = Feeds::default();
        let start = Instant::now();
        let remembered = || feeds.typing.lock().expect("lock").len();
        for i in 0..REMEMBERED_CONVERSATIONS {
            assert!(feeds.admit_typing(&format!("c{i}"), Author::Visitor, start));
        }
        assert_eq!(remembered(), REMEMBERED_CONVERSATIONS);
        // A second later every entry has expired: the next one forgets them.
        let later = start + TYPING_EVERY;
        assert!(feeds.admit_typing("new", Author::Visitor, later));
        assert_eq!(remembered(), 1);
        // A flood within one second: never more than the limit.
        for i in 0..2 * REMEMBERED_CONVERSATIONS {
            feeds.admit_typing(&format!("d{i}"), Author::Visitor, later);
            assert!(remembered() <= REMEMBERED_CONVERSATIONS);
        }
    }
}
