//! Conversations (docs/conversations.md): the write paths for visitor messages, agent
//! replies, closing and automatic replies, and the live feeds that carry them.
//!
//! Every write takes the account's write lock ([`Writer`]), stores the change
//! in one transaction (durable when it returns), and only then publishes it:
//! so what any client saw is on disk, and an account's messages are published
//! in the order of their `seq`.
//!
//! Two kinds of feed, each frame serialised once:
//!
//! - one `broadcast` per account for agent streams (`/me/events`). A frame
//!   carries the scope's group; each agent stream keeps the frames its agent
//!   is eligible for (docs/status.md). An agent stream that falls more than
//!   [`AGENT_FEED_CAPACITY`] frames behind **ends**: the dashboard's
//!   `EventSource` reconnects and refetches the inbox, as after any drop.
//! - one `broadcast` per conversation with an open visitor stream, created on
//!   the first subscription and dropped with the last. Message frames carry
//!   their `seq` as the SSE id; a visitor stream that falls behind ends too,
//!   and the reconnect resumes from `Last-Event-ID` with nothing lost.
//!
//! Busy-reply deadlines live in the account model (`AccountState::waiting`),
//! so the account's timer wakes for them like for any other deadline and runs
//! [`BusyReplies`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;
use onair_shared::conversation::{AutoReply, Waiting};
use onair_shared::model::derive;
use onair_shared::wire::{self, Author, ConversationState, Delivery, Lang, Status};
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use crate::error::{Error, Result};
pub use crate::feeds::{
    AGENT_FEED_CAPACITY, AgentFrame, Feeds, VISITOR_FEED_CAPACITY, VisitorFrame,
};
use crate::hub::{AccountLive, DueWork, Hub, Inner, TokenHash, Writer};
use crate::notify;
use crate::push;
use crate::sse;
use crate::store::{AgentRecord, ConversationRecord, MessageRecord, OutboxItem};
use crate::webhooks::{self, Event};

/// A visitor stream's subscription to one conversation's feed. Dropping it
/// drops the receiver first, then removes the feed if nobody else listens.
#[derive(Debug)]
pub struct VisitorSubscription {
    rx: broadcast::Receiver<VisitorFrame>,
    _registration: Registration,
}

#[derive(Debug)]
struct Registration {
    live: Arc<AccountLive>,
    conversation_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut visitors = self.live.conversations.visitors();
        if visitors
            .get(&self.conversation_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            visitors.remove(&self.conversation_id);
        }
    }
}

/// Subscribes to a conversation's live frames. Subscribe before reading its
/// history: whatever is published afterwards arrives here, whatever was
/// stored before is in the history, and `seq` tells the overlap apart.
pub fn subscribe_visitor(live: &Arc<AccountLive>, conversation_id: &str) -> VisitorSubscription {
    let rx = live
        .conversations
        .visitors()
        .entry(conversation_id.to_owned())
        .or_insert_with(|| broadcast::Sender::new(VISITOR_FEED_CAPACITY))
        .subscribe();
    VisitorSubscription {
        rx,
        _registration: Registration {
            live: Arc::clone(live),
            conversation_id: conversation_id.to_owned(),
        },
    }
}

/// An agent stream's conversation frames: those `eligible` accepts (given
/// the frame's group). Ends when the agent stream lagged (frames were lost:
/// the client must refetch) or the feed closed.
pub fn agent_events(
    rx: broadcast::Receiver<AgentFrame>,
    eligible: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> sse::FrameStream {
    Box::pin(futures_util::stream::unfold(
        (rx, eligible),
        |(mut rx, eligible)| async move {
            loop {
                match rx.recv().await {
                    Ok(frame) => {
                        if frame.group.as_deref().is_none_or(&eligible) {
                            return Some((frame.bytes, (rx, eligible)));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "an agent stream fell behind; ending it");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    ))
}

/// A visitor stream's live frames after the history it replayed (up to
/// `seq = after`): messages it already sent are skipped. Ends when the stream
/// lagged; the client resumes from its `Last-Event-ID`.
pub fn visitor_events(subscription: VisitorSubscription, after: u64) -> sse::FrameStream {
    Box::pin(futures_util::stream::unfold(
        subscription,
        move |mut subscription| async move {
            loop {
                match subscription.rx.recv().await {
                    Ok(VisitorFrame { seq: Some(seq), .. }) if seq <= after => {}
                    Ok(frame) => return Some((frame.bytes, subscription)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "a visitor stream fell behind; ending it");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    ))
}

/// A new conversation, validated.
#[derive(Clone)]
pub struct NewConversation {
    pub group: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub lang: Option<Lang>,
    pub page: Option<wire::Page>,
    pub token_hash: TokenHash,
    pub text: String,
}

impl std::fmt::Debug for NewConversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConversation")
            .field("group", &self.group)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// How a visitor message would be delivered now in `group`'s scope; 404 for
/// an unknown group. A cheap look before the rate limit and the write.
pub fn delivery_now(hub: &Hub, live: &AccountLive, group: Option<&str>) -> Result<Delivery> {
    let now = hub.clock.now();
    let inner = live.lock();
    check_group(&inner, group)?;
    Ok(delivery(scope_status(&inner, group, now)))
}

/// Starts a conversation with the visitor's first message.
pub async fn start(
    hub: &Hub,
    live: &AccountLive,
    new: NewConversation,
) -> Result<wire::ConversationStarted> {
    let writer = hub.writer(live).await;
    let now = writer.now();
    let status = writer.read(|inner| {
        check_group(inner, new.group.as_deref())?;
        Ok::<_, Error>(scope_status(inner, new.group.as_deref(), now))
    })?;
    let delivery = delivery(status);
    if delivery == Delivery::Offline && new.email.is_none() {
        return Err(missing_email());
    }
    let mut conversation = ConversationRecord {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: live.id.clone(),
        group: new.group,
        state: state_of(delivery),
        name: new.name,
        email: new.email,
        visitor_token_hash: new.token_hash,
        lang: new.lang,
        created_at: now,
        last_message_at: now,
        replies: Default::default(),
        page: new.page,
    };
    let mut messages = vec![message(&conversation, Author::Visitor, None, new.text, now)];
    let mut outbox = notifications(&writer, &conversation, &messages[0], delivery, true).await?;
    if let Some(kind) = conversation.replies.visitor_wrote(status, now) {
        messages.extend(automatic_message(&writer, &conversation, kind, now));
    }
    outbox.extend(webhook_deliveries(&writer, &conversation, true, &messages).await?);
    let stored = hub
        .store
        .create_conversation(&conversation, &messages, &outbox)
        .await?;
    wake_outbox(hub, &outbox);
    publish(&writer, &conversation, true, &stored);
    announce(&writer, &conversation, true, &stored).await;
    let first = stored
        .first()
        .ok_or_else(|| Error::Internal("a new conversation without its message".into()))?;
    Ok(wire::ConversationStarted {
        conversation: view(&conversation),
        message: message_view(first, live),
        delivery,
    })
}

/// A visitor's next message. A wrong token finds no conversation (404).
pub async fn visitor_message(
    hub: &Hub,
    live: &AccountLive,
    id: &str,
    token_hash: &TokenHash,
    text: String,
) -> Result<wire::VisitorMessagePosted> {
    let writer = hub.writer(live).await;
    let mut conversation = hub
        .store
        .conversation(&live.id, id)
        .await?
        .filter(|c| token_matches(&c.visitor_token_hash, token_hash))
        .ok_or_else(|| unknown_conversation(id))?;
    if conversation.state == ConversationState::Closed {
        return Err(closed(id));
    }
    let now = writer.now();
    let status = writer.read(|inner| scope_status(inner, conversation.group.as_deref(), now));
    let delivery = delivery(status);
    let state_changed = conversation.state != state_of(delivery);
    conversation.state = state_of(delivery);
    conversation.last_message_at = now;
    let mut messages = vec![message(&conversation, Author::Visitor, None, text, now)];
    let mut outbox = notifications(&writer, &conversation, &messages[0], delivery, false).await?;
    if let Some(kind) = conversation.replies.visitor_wrote(status, now) {
        messages.extend(automatic_message(&writer, &conversation, kind, now));
    }
    outbox.extend(webhook_deliveries(&writer, &conversation, false, &messages).await?);
    let stored = hub
        .store
        .append_messages(&conversation, &messages, &outbox)
        .await?;
    wake_outbox(hub, &outbox);
    publish(&writer, &conversation, state_changed, &stored);
    announce(&writer, &conversation, state_changed, &stored).await;
    let first = stored
        .first()
        .ok_or_else(|| Error::Internal("a stored message went missing".into()))?;
    Ok(wire::VisitorMessagePosted {
        message: message_view(first, live),
        delivery,
    })
}

/// An agent's reply. It ends the visitor's wait, and an offline message an
/// agent answers becomes an open conversation.
pub async fn agent_reply(
    hub: &Hub,
    live: &AccountLive,
    agent_id: &str,
    id: &str,
    text: String,
) -> Result<wire::MessagePosted> {
    let writer = hub.writer(live).await;
    let mut conversation = hub
        .store
        .conversation(&live.id, id)
        .await?
        .ok_or_else(|| unknown_conversation(id))?;
    if conversation.state == ConversationState::Closed {
        return Err(closed(id));
    }
    let now = writer.now();
    let state_changed = conversation.state != ConversationState::Open;
    conversation.state = ConversationState::Open;
    conversation.last_message_at = now;
    conversation.replies.agent_answered();
    let reply = message(
        &conversation,
        Author::Agent,
        Some(agent_id.to_owned()),
        text,
        now,
    );
    let reply = [reply];
    let mut outbox = webhook_deliveries(&writer, &conversation, false, &reply).await?;
    outbox.extend(reply_digest(&writer, &conversation, now).await);
    let stored = hub
        .store
        .append_messages(&conversation, &reply, &outbox)
        .await?;
    wake_outbox(hub, &outbox);
    publish(&writer, &conversation, state_changed, &stored);
    announce(&writer, &conversation, state_changed, &stored).await;
    let message = stored
        .first()
        .ok_or_else(|| Error::Internal("a stored message went missing".into()))?;
    Ok(wire::MessagePosted {
        message: message_view(message, live),
    })
}

/// Closes a conversation; closing a closed one changes nothing.
pub async fn close(hub: &Hub, live: &AccountLive, id: &str) -> Result<wire::Conversation> {
    let writer = hub.writer(live).await;
    let mut conversation = hub
        .store
        .conversation(&live.id, id)
        .await?
        .ok_or_else(|| unknown_conversation(id))?;
    if conversation.state != ConversationState::Closed {
        conversation.state = ConversationState::Closed;
        hub.store.update_conversation(&conversation).await?;
        publish(&writer, &conversation, true, &[]);
        announce(&writer, &conversation, true, &[]).await;
    }
    Ok(view(&conversation))
}

/// A visitor is typing (docs/conversations.md): checked against the
/// conversation's token, never stored, passed to agent streams at most once a
/// second.
pub async fn visitor_typing(
    hub: &Hub,
    live: &AccountLive,
    id: &str,
    token_hash: &TokenHash,
) -> Result<()> {
    let conversation = hub
        .store
        .conversation(&live.id, id)
        .await?
        .filter(|c| token_matches(&c.visitor_token_hash, token_hash))
        .ok_or_else(|| unknown_conversation(id))?;
    let typing = wire::Typing {
        conversation_id: conversation.id.clone(),
        author: Author::Visitor,
        name: conversation.name.clone(),
    };
    typing_in(hub, live, &conversation, typing).await
}

/// An agent is typing a reply: passed to the conversation's visitor streams,
/// with the agent's name, at most once a second.
pub async fn agent_typing(hub: &Hub, live: &AccountLive, agent_id: &str, id: &str) -> Result<()> {
    let conversation = hub
        .store
        .conversation(&live.id, id)
        .await?
        .ok_or_else(|| unknown_conversation(id))?;
    let name = live.lock().agents().get(agent_id).map(|a| a.name.clone());
    let typing = wire::Typing {
        conversation_id: conversation.id.clone(),
        author: Author::Agent,
        name,
    };
    typing_in(hub, live, &conversation, typing).await
}

async fn typing_in(
    hub: &Hub,
    live: &AccountLive,
    conversation: &ConversationRecord,
    typing: wire::Typing,
) -> Result<()> {
    if conversation.state == ConversationState::Closed {
        return Err(closed(&conversation.id));
    }
    let group = conversation.group.as_deref();
    if publish_typing(live, group, &typing) {
        if let Some(cluster) = &hub.cluster {
            cluster.announce_typing(&live.id, group, typing).await;
        }
    }
    Ok(())
}

/// Publishes a typing signal to the other side's streams on this node: a
/// visitor's to the agents eligible for the conversation's scope, an agent's
/// to the conversation's visitor streams. Not when one of the same author went
/// out here less than a second ago ([`crate::feeds::TYPING_EVERY`]); returns
/// whether it went out. Each node of a cluster applies that limit to what it
/// publishes, whichever node the signal came through.
pub fn publish_typing(live: &AccountLive, group: Option<&str>, typing: &wire::Typing) -> bool {
    let feeds = &live.conversations;
    let now = tokio::time::Instant::now();
    if !feeds.admit_typing(&typing.conversation_id, typing.author, now) {
        return false;
    }
    let bytes = sse::frame("typing", None, typing);
    if typing.author == Author::Visitor {
        let group = live
            .lock()
            .model()
            .conversation_scope(group)
            .group()
            .map(Arc::<str>::from);
        // No receiver (no agent stream open) is not an error.
        let _ = feeds.agents_sender().send(AgentFrame { group, bytes });
    } else {
        feeds.publish_to_visitors(
            &typing.conversation_id,
            vec![VisitorFrame { seq: None, bytes }],
        );
    }
    true
}

/// Erases a conversation and its messages for good: its visitor streams
/// end, dashboards are told to drop it, and no busy reply waits for it.
pub async fn erase(hub: &Hub, live: &AccountLive, id: &str) -> Result<()> {
    let writer = hub.writer(live).await;
    if !hub.store.delete_conversation(&live.id, id).await? {
        return Err(unknown_conversation(id));
    }
    forget(&writer, id);
    if let Some(cluster) = &hub.cluster {
        cluster.announce_conversation(&live.id, id, 0, true).await;
    }
    Ok(())
}

/// The live side of an erasure, on this node.
fn forget(writer: &Writer<'_>, id: &str) {
    let live = writer.live();
    writer.update(|inner| inner.set_waiting(id, None));
    // Dropping the feed's sender ends the conversation's visitor streams.
    live.conversations.visitors().remove(id);
    let frame = sse::frame(
        "conversation_erased",
        None,
        &serde_json::json!({ "id": id }),
    );
    let _ = live.conversations.agents_sender().send(AgentFrame {
        group: None,
        bytes: frame,
    });
}

/// The account timer's work for conversations: the busy replies that have
/// fallen due (their deadlines are in the model, so the timer wakes for them).
#[derive(Debug, Default)]
pub struct BusyReplies;

#[async_trait::async_trait]
impl DueWork for BusyReplies {
    async fn run(&self, writer: &Writer<'_>) {
        send_due_replies(writer).await;
    }
}

/// Sends the busy replies that have fallen due. A reply that cannot be stored
/// is logged and dropped rather than retried in a loop.
pub async fn send_due_replies(writer: &Writer<'_>) {
    let now = writer.now();
    let due = writer.read(|inner| inner.model().busy_replies_due(now));
    for (id, status) in due {
        if let Err(e) = send_due_reply(writer, &id, status, now).await {
            tracing::error!(error = %e, conversation = %id, "could not send an automatic reply");
            writer.update(|inner| inner.set_waiting(&id, None));
        }
    }
}

async fn send_due_reply(
    writer: &Writer<'_>,
    id: &str,
    status: Status,
    now: Timestamp,
) -> Result<()> {
    let store = &writer.hub().store;
    let Some(mut conversation) = store.conversation(&writer.live().id, id).await? else {
        writer.update(|inner| inner.set_waiting(id, None));
        return Ok(());
    };
    let before = conversation.replies;
    let kind = conversation.replies.deadline_reached(status);
    if conversation.replies == before {
        // Not waiting after all (memory was behind the store): forget it.
        writer.update(|inner| inner.set_waiting(id, None));
        return Ok(());
    }
    // Every node of a cluster has this deadline; one of them replies.
    if let (Some(cluster), Some(since)) = (&writer.hub().cluster, before.waiting_since) {
        if !cluster.store.claim_reply(id, since).await? {
            writer.update(|inner| inner.set_waiting(id, None));
            return Ok(());
        }
    }
    let messages: Vec<_> = kind
        .and_then(|kind| automatic_message(writer, &conversation, kind, now))
        .into_iter()
        .collect();
    if !messages.is_empty() {
        conversation.last_message_at = now;
    }
    let outbox = webhook_deliveries(writer, &conversation, false, &messages).await?;
    let stored = store
        .append_messages(&conversation, &messages, &outbox)
        .await?;
    wake_outbox(writer.hub(), &outbox);
    publish(writer, &conversation, false, &stored);
    announce(writer, &conversation, false, &stored).await;
    Ok(())
}

/// The notifications a visitor's message causes, stored with it: emails to
/// the scope's agents when it is an offline message and the server sends
/// email; a push to each subscribed device of the scope's agents that have
/// no dashboard open, whatever the delivery.
async fn notifications(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    message: &MessageRecord,
    delivery: Delivery,
    new_conversation: bool,
) -> Result<Vec<OutboxItem>> {
    let now = Timestamp::now();
    let sends_email = delivery == Delivery::Offline && writer.hub().outbox.is_some();
    let (mut items, to_push) = writer.read(|inner| {
        let model = inner.model();
        let scope = model.conversation_scope(conversation.group.as_deref());
        let eligible: Vec<&AgentRecord> = model
            .eligible_agent_ids(&scope)
            .filter_map(|(id, _)| inner.agents().get(id))
            .collect();
        let emails = if sends_email {
            notify::offline_message_emails(
                &inner.account().name,
                eligible.iter().copied(),
                conversation,
                message,
                now,
            )
        } else {
            Vec::new()
        };
        // Push: the eligible agents, not disabled, with no dashboard stream
        // open on any device (which would show the message anyway).
        let to_push: HashSet<String> = eligible
            .iter()
            .filter(|agent| !agent.disabled)
            .filter(|agent| {
                model
                    .agents
                    .get(&agent.id)
                    .is_none_or(|state| state.sessions.values().all(|p| p.open_streams == 0))
            })
            .map(|agent| agent.id.clone())
            .collect();
        (emails, to_push)
    });
    let to_push = without_dashboards_elsewhere(writer, to_push, &conversation.account_id).await;
    if !to_push.is_empty() {
        let subscriptions = writer
            .hub()
            .store
            .push_subscriptions(&conversation.account_id)
            .await?;
        items.extend(push::visitor_message_pushes(
            &to_push,
            &subscriptions,
            conversation,
            message,
            new_conversation,
            now,
        ));
    }
    Ok(items)
}

/// In a cluster, `agents` without those whose dashboard is open on another
/// node: the store knows at once, this node's model only once that node's
/// announcement arrived. (A store that cannot answer leaves them all: a push
/// too many, rather than a message nobody hears of.)
async fn without_dashboards_elsewhere(
    writer: &Writer<'_>,
    mut agents: HashSet<String>,
    account_id: &str,
) -> HashSet<String> {
    let hub = writer.hub();
    let Some(cluster) = &hub.cluster else {
        return agents;
    };
    if agents.is_empty() {
        return agents;
    }
    match cluster
        .store
        .agents_streaming(account_id, hub.alive_after())
        .await
    {
        Ok(streaming) => agents.retain(|id| !streaming.contains(id)),
        Err(e) => tracing::warn!(error = %e, "could not read the cluster's agent streams"),
    }
    agents
}

/// The digest an agent's reply joins or starts (docs/notifications.md): when
/// the server sends email, the visitor left an address and no visitor stream
/// of the conversation is open, on this node or (in a cluster) on any live
/// node. The store drops it when a digest already waits.
async fn reply_digest(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    now: Timestamp,
) -> Vec<OutboxItem> {
    let Some(outbox) = &writer.hub().outbox else {
        return Vec::new();
    };
    if conversation.email.is_none() || visitor_connected(writer, &conversation.id).await {
        return Vec::new();
    }
    let account_name = writer.read(|inner| inner.account().name.clone());
    notify::reply_digest(
        conversation,
        &account_name,
        now,
        outbox.reply_digest_window(),
    )
    .into_iter()
    .collect()
}

/// Whether a visitor stream of the conversation is open: on this node, or
/// on a live node of the cluster. When the cluster's count cannot be read,
/// the visitor counts as away (an email too many rather than a reply missed).
async fn visitor_connected(writer: &Writer<'_>, conversation_id: &str) -> bool {
    let here = writer
        .live()
        .conversations
        .visitors()
        .get(conversation_id)
        .is_some_and(|tx| tx.receiver_count() > 0);
    if here {
        return true;
    }
    let hub = writer.hub();
    let Some(cluster) = &hub.cluster else {
        return false;
    };
    match cluster
        .store
        .visitor_streaming(conversation_id, hub.alive_after())
        .await
    {
        Ok(streaming) => streaming,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the cluster's visitor streams");
            false
        }
    }
}

/// A visitor stream counted for the whole cluster while it is open, so
/// that a reply taken by another node sees the visitor as connected.
#[derive(Debug)]
pub struct ClusterVisitor {
    store: Arc<dyn crate::store::ClusterStore>,
    node_id: String,
    conversation_id: String,
}

/// Counts a visitor stream of `conversation_id` for the cluster (nothing on
/// a single node); the count goes down when the returned value is dropped.
pub async fn count_visitor_stream(hub: &Hub, conversation_id: &str) -> Option<ClusterVisitor> {
    let cluster = hub.cluster.as_ref()?;
    if let Err(e) = cluster
        .store
        .add_visitor_streams(conversation_id, &cluster.node_id, 1)
        .await
    {
        tracing::warn!(error = %e, "could not count a visitor stream for the cluster");
        return None;
    }
    Some(ClusterVisitor {
        store: Arc::clone(&cluster.store),
        node_id: cluster.node_id.clone(),
        conversation_id: conversation_id.to_owned(),
    })
}

impl Drop for ClusterVisitor {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let node_id = std::mem::take(&mut self.node_id);
        let conversation_id = std::mem::take(&mut self.conversation_id);
        runtime.spawn(async move {
            if let Err(e) = store
                .add_visitor_streams(&conversation_id, &node_id, -1)
                .await
            {
                tracing::warn!(error = %e, "could not uncount a visitor stream for the cluster");
            }
        });
    }
}

/// The webhook deliveries new messages cause (`message.created` for each,
/// and `conversation.created` for a new conversation), stored with them.
/// Read under the account's write lock, which webhook changes also take.
async fn webhook_deliveries(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    created: bool,
    messages: &[MessageRecord],
) -> Result<Vec<OutboxItem>> {
    let hub = writer.hub();
    let live = writer.live();
    let hooks = hub.store.webhooks(&live.id).await?;
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let now = writer.now();
    let about = Some(conversation.id.as_str());
    let opened = created.then(|| {
        let data = view(conversation);
        webhooks::deliveries(
            &hooks,
            Event::ConversationCreated,
            &live.slug,
            about,
            &data,
            now,
        )
    });
    let written = messages.iter().flat_map(|message| {
        let data = message_view(message, live);
        webhooks::deliveries(&hooks, Event::MessageCreated, &live.slug, about, &data, now)
    });
    Ok(opened.into_iter().flatten().chain(written).collect())
}

fn wake_outbox(hub: &Hub, items: &[OutboxItem]) {
    if items.is_empty() {
        return;
    }
    if let Some(outbox) = &hub.outbox {
        outbox.wake();
    }
    if items.iter().any(|item| item.kind == push::PUSH) {
        hub.push.wake();
    }
    if items.iter().any(|item| item.kind == webhooks::KIND) {
        hub.webhooks.wake();
    }
}

/// After a stored change: the busy-reply deadline in the model, then the
/// frames, serialised once, to agents and to the conversation's visitors.
fn publish(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    state_changed: bool,
    messages: &[MessageRecord],
) {
    let live = writer.live();
    let group = writer.update(|inner| {
        let pending = conversation
            .replies
            .waiting_since
            .filter(|_| !conversation.replies.replied_in_wait)
            .filter(|_| conversation.state != ConversationState::Closed);
        match pending {
            Some(since) => {
                let waiting = Waiting {
                    group: conversation.group.clone(),
                    since,
                };
                inner.set_waiting(&conversation.id, Some(waiting));
            }
            None => {
                inner.set_waiting(&conversation.id, None);
            }
        }
        inner
            .model()
            .conversation_scope(conversation.group.as_deref())
            .group()
            .map(Arc::<str>::from)
    });
    let metrics = &writer.hub().metrics;
    metrics
        .messages
        .fetch_add(messages.len() as u64, Ordering::Relaxed);
    if !state_changed && messages.is_empty() {
        return;
    }

    let conversation_frame = sse::frame("conversation", None, &view(conversation));
    let mut to_visitors = Vec::with_capacity(messages.len() + 1);
    if state_changed {
        to_visitors.push(VisitorFrame {
            seq: None,
            bytes: conversation_frame.clone(),
        });
    }
    let agents = live.conversations.agents_sender();
    // No receiver (no agent stream open) is not an error.
    let _ = agents.send(AgentFrame {
        group: group.clone(),
        bytes: conversation_frame,
    });
    for message in messages {
        let json = sse::json(&message_view(message, live));
        let _ = agents.send(AgentFrame {
            group: group.clone(),
            bytes: sse::frame_json("message", None, &json),
        });
        to_visitors.push(VisitorFrame {
            seq: Some(message.seq),
            bytes: sse::frame_json("message", Some(message.seq), &json),
        });
    }
    if let Some(last) = messages.last() {
        live.conversations
            .mark_published(&conversation.id, last.seq);
    }
    live.conversations
        .publish_to_visitors(&conversation.id, to_visitors);
}

/// Cluster mode: tells the other nodes of a stored conversation change.
async fn announce(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    state_changed: bool,
    messages: &[MessageRecord],
) {
    if let Some(cluster) = &writer.hub().cluster {
        // Messages after this seq are new (none: only the state changed).
        let after = messages
            .first()
            .map_or(u64::MAX, |m| m.seq.saturating_sub(1));
        cluster
            .announce_conversation(&writer.live().id, &conversation.id, after, state_changed)
            .await;
    }
}

/// Cluster mode: publishes here what another node stored for a
/// conversation: its state and its messages after what this node published
/// (or after `after`, the seq before the change, for a conversation this
/// node has not published), each once and in order. The store is the truth:
/// a missed announcement is repaired by the next one.
pub async fn refresh_from_store(
    hub: &Hub,
    live: &AccountLive,
    conversation_id: &str,
    after: u64,
    state_changed: bool,
) {
    let from = live
        .conversations
        .published_up_to(conversation_id)
        .unwrap_or(after);
    let read = hub
        .store
        .conversation_with_messages(&live.id, conversation_id, from)
        .await;
    let (conversation, messages) = match read {
        Ok(Some(found)) => found,
        // Erased through another node.
        Ok(None) => {
            let writer = hub.writer(live).await;
            forget(&writer, conversation_id);
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read a conversation another node changed");
            return;
        }
    };
    let writer = hub.writer(live).await;
    // Published meanwhile (by this node or an earlier announcement): skip.
    let known = live
        .conversations
        .published_up_to(conversation_id)
        .unwrap_or(from);
    let fresh: Vec<MessageRecord> = messages.into_iter().filter(|m| m.seq > known).collect();
    publish(&writer, &conversation, state_changed, &fresh);
}

/// Cluster mode, after the bus may have lost announcements: every
/// conversation with visitors here gets what it missed, and agent streams
/// end so that dashboards fetch their inbox again.
pub async fn refresh_all_from_store(hub: &Hub, live: &AccountLive) {
    let watched: Vec<(String, u64)> = {
        let visitors = live.conversations.visitors();
        visitors
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    live.conversations.published_up_to(id).unwrap_or(0),
                )
            })
            .collect()
    };
    for (id, after) in watched {
        refresh_from_store(hub, live, &id, after, true).await;
    }
    live.conversations.end_agent_streams();
}

/// The account's automatic reply of `kind` for this conversation, unless the
/// account turned it off.
fn automatic_message(
    writer: &Writer<'_>,
    conversation: &ConversationRecord,
    kind: AutoReply,
    now: Timestamp,
) -> Option<MessageRecord> {
    let text = writer.read(|inner| {
        let custom = match kind {
            AutoReply::Offline => inner.account().offline_reply.as_ref(),
            AutoReply::Busy => inner.account().busy_reply.as_ref(),
        };
        let lang = conversation.lang.unwrap_or(Lang::En);
        kind.text(custom.and_then(|text| text.get(lang)), lang)
            .map(str::to_owned)
    })?;
    Some(message(conversation, Author::Bot, None, text, now))
}

fn message(
    conversation: &ConversationRecord,
    author: Author,
    agent_id: Option<String>,
    text: String,
    now: Timestamp,
) -> MessageRecord {
    MessageRecord {
        seq: 0,
        id: uuid::Uuid::new_v4().to_string(),
        conversation_id: conversation.id.clone(),
        author,
        agent_id,
        text,
        created_at: now,
    }
}

/// The status a conversation's chat box shows at `now`.
fn scope_status(inner: &Inner, group: Option<&str>, now: Timestamp) -> Status {
    let scope = inner.model().conversation_scope(group);
    derive(inner.model(), &scope, now).status
}

fn check_group(inner: &Inner, group: Option<&str>) -> Result<()> {
    match group {
        Some(key) if !inner.groups().contains_key(key) => Err(Error::not_found(
            "unknown_group",
            format!("there is no group {key:?}"),
        )),
        _ => Ok(()),
    }
}

fn delivery(status: Status) -> Delivery {
    match status {
        Status::Offline => Delivery::Offline,
        Status::Online | Status::Busy => Delivery::Live,
    }
}

fn state_of(delivery: Delivery) -> ConversationState {
    match delivery {
        Delivery::Live => ConversationState::Open,
        Delivery::Offline => ConversationState::Offline,
    }
}

/// Compares token hashes in constant time.
pub fn token_matches(stored: &TokenHash, given: &TokenHash) -> bool {
    stored.ct_eq(given).into()
}

pub fn view(record: &ConversationRecord) -> wire::Conversation {
    wire::Conversation {
        id: record.id.clone(),
        state: record.state,
        group: record.group.clone(),
        name: record.name.clone(),
        email: record.email.clone(),
        created_at: record.created_at,
        last_message_at: record.last_message_at,
        page: record.page.clone(),
    }
}

/// A message as clients see it, with its agent's name as the account knows
/// it now (`live`'s directory; not while holding its lock).
pub fn message_view(record: &MessageRecord, live: &AccountLive) -> wire::Message {
    let agent = record.agent_id.as_ref().and_then(|id| {
        let inner = live.lock();
        inner.agents().get(id).map(|agent| wire::MessageAgent {
            id: agent.id.clone(),
            name: agent.name.clone(),
            avatar_url: agent.avatar.as_deref().map(crate::avatars::url),
        })
    });
    wire::Message {
        id: record.id.clone(),
        conversation_id: record.conversation_id.clone(),
        author: record.author,
        agent_id: record.agent_id.clone(),
        agent,
        text: record.text.clone(),
        created_at: record.created_at,
    }
}

pub fn unknown_conversation(id: &str) -> Error {
    Error::not_found(
        "unknown_conversation",
        format!("there is no conversation {id:?} here"),
    )
}

fn closed(id: &str) -> Error {
    Error::conflict(
        "conversation_closed",
        format!("the conversation {id:?} is closed; start a new one"),
    )
}

pub fn missing_email() -> Error {
    Error::bad_request(
        "missing_email",
        "nobody is available right now: leave an email address so we can answer",
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::StreamExt;

    use super::*;

    fn agent_frame(group: Option<&str>, text: &'static str) -> AgentFrame {
        AgentFrame {
            group: group.map(Arc::from),
            bytes: Bytes::from_static(text.as_bytes()),
        }
    }

    #[tokio::test]
    async fn an_agent_stream_keeps_the_frames_of_its_groups_and_the_sites() {
        let (tx, rx) = broadcast::channel(16);
        let mut events = agent_events(rx, |group| group == "sales");
        for frame in [
            agent_frame(Some("support"), "support"),
            agent_frame(Some("sales"), "sales"),
            agent_frame(None, "site"),
        ] {
            tx.send(frame).expect("a receiver");
        }
        drop(tx);
        let got: Vec<Bytes> = events.by_ref().collect().await;
        assert_eq!(got, [Bytes::from("sales"), Bytes::from("site")]);
    }

    #[tokio::test]
    async fn an_agent_stream_that_falls_behind_ends() {
        let (tx, rx) = broadcast::channel(2);
        let mut events = agent_events(rx, |_| true);
        for _ in 0..5 {
            tx.send(agent_frame(None, "x")).expect("a receiver");
        }
        assert_eq!(events.next().await, None, "frames were lost: end");
    }

    #[tokio::test]
    async fn a_visitor_stream_skips_what_it_replayed_and_ends_when_it_falls_behind() {
        let live = Arc::new(AccountLive::for_tests("acme"));
        let subscription = subscribe_visitor(&live, "c1");
        let frame = |seq: Option<u64>, text: &'static str| VisitorFrame {
            seq,
            bytes: Bytes::from_static(text.as_bytes()),
        };
        live.conversations.publish_to_visitors(
            "c1",
            vec![
                frame(Some(4), "replayed"),
                frame(None, "state"),
                frame(Some(5), "new"),
            ],
        );
        let mut events = visitor_events(subscription, 4);
        assert_eq!(events.next().await, Some(Bytes::from("state")));
        assert_eq!(events.next().await, Some(Bytes::from("new")));
        let many = (0..VISITOR_FEED_CAPACITY + 1)
            .map(|n| frame(Some(10 + n as u64), "x"))
            .collect();
        live.conversations.publish_to_visitors("c1", many);
        assert_eq!(events.next().await, None, "frames were lost: end");
    }

    #[tokio::test]
    async fn a_conversation_feed_lives_as_long_as_its_subscriptions() {
        let live = Arc::new(AccountLive::for_tests("acme"));
        let first = subscribe_visitor(&live, "c1");
        let second = subscribe_visitor(&live, "c1");
        assert_eq!(live.conversations.visitors().len(), 1);
        drop(first);
        assert_eq!(live.conversations.visitors().len(), 1);
        drop(second);
        assert!(live.conversations.visitors().is_empty());
    }
}
