//! Durable storage behind a trait, chosen by the database URL's scheme.
//!
//! The server keeps every account's live state in memory (see `hub`); the
//! store is the durable copy it writes through to and loads from at start-up.
//! Two implementations of [`Store`]: [`SqliteStore`], one embedded file
//! (`sqlite://PATH`, the default), and [`PostgresStore`], a PostgreSQL
//! database (`postgres://` or `postgresql://`). Both keep the same schema and
//! semantics, and one test suite (`server/tests/store.rs`) runs against each.
//! Further backends can be added without touching the rest of the server.

mod postgres;
mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use onair_shared::conversation::ReplyState;
use onair_shared::office_hours::OfficeHoursSpec;
use onair_shared::wire::{self, Author, ConversationState, Lang, LocalText, Role, Status};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint: which one, in words a client may see ("slug", "email", "key").
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
    )]
    UnsupportedUrl(String),
    #[error("storage failure: {0}")]
    Backend(String),
    /// The disk (or the database's space) is full: reads still work, writes
    /// fail until space is freed (docs/hardening.md).
    #[error("the disk is full: {0}")]
    Full(String),
}

/// Whether a write failed for a full disk since the last successful write
/// probe (`/healthz` probes while it is set). Process-wide: one process has
/// one database.
static FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A full disk's error, recorded for `/healthz`.
pub(crate) fn full(message: String) -> StoreError {
    if !FULL.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("the disk is full: writes fail, reads are served ({message})");
    }
    StoreError::Full(message)
}

/// Whether writes have been failing for a full disk (see [`StoreError::Full`]).
pub fn disk_full() -> bool {
    FULL.load(std::sync::atomic::Ordering::Relaxed)
}

/// Records that a write worked again.
pub fn disk_writable() {
    if FULL.swap(false, std::sync::atomic::Ordering::Relaxed) {
        tracing::info!("the disk has room again: writes work");
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SHA-256 of a bearer token (an agent's or a visitor's); the token itself is
/// never stored. Defined here, at the bottom of the module graph, so that the
/// limits and the hub both use it without depending on each other.
pub type TokenHash = [u8; 32];

/// An account's text as both backends store it: JSON, so that a plain text
/// (`"…"`), one per language (`{"de": "…"}`) and none (`null`, or SQL `NULL`)
/// cannot be mistaken for each other.
pub(crate) fn text_column(text: &Option<LocalText>) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "null".to_owned())
}

/// Reads what [`text_column`] wrote.
pub(crate) fn text_of_column(column: Option<&str>) -> serde_json::Result<Option<LocalText>> {
    column.map_or(Ok(None), serde_json::from_str)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub grace_seconds: u32,
    /// `None`: the built-in text in the chat box's language.
    pub busy_message: Option<LocalText>,
    /// `None`: the built-in text in the chat box's language.
    pub offline_message: Option<LocalText>,
    pub hide_when_offline: bool,
    pub busy_after_seconds: u32,
    pub allowed_origins: Vec<String>,
    pub office_hours: Option<OfficeHoursSpec>,
    /// The offline automatic reply; `None` for the default in the visitor's
    /// language, empty for none.
    pub offline_reply: Option<LocalText>,
    /// The busy automatic reply, as `offline_reply`.
    pub busy_reply: Option<LocalText>,
    pub created_at: Timestamp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub status: Status,
    pub groups: Vec<String>,
    pub password_hash: String,
    /// Whether the agent gets an email for each offline message of its scopes.
    pub email_notifications: bool,
    /// Disabled by an admin: no login, no part in any derivation.
    pub disabled: bool,
    /// The hash of the agent's picture ([`AvatarRecord::hash`]); `None`
    /// while it has none. Loaded with the agent, written apart from it
    /// ([`Store::put_avatar`]): [`Store::put_agent`] leaves it as it is.
    pub avatar: Option<String>,
    pub created_at: Timestamp,
}

impl fmt::Debug for AgentRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("status", &self.status)
            .field("groups", &self.groups)
            .field("email_notifications", &self.email_notifications)
            .field("disabled", &self.disabled)
            .field("avatar", &self.avatar)
            .finish_non_exhaustive()
    }
}

/// An agent's picture: at most one per agent, gone with it.
#[derive(Clone, PartialEq, Eq)]
pub struct AvatarRecord {
    pub agent_id: String,
    pub account_id: String,
    /// SHA-256 of `bytes`, lower-case hex: where the picture is served
    /// (`/api/v1/avatars/{hash}`).
    pub hash: String,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`, as the
    /// bytes were checked to be.
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub updated_at: Timestamp,
}

impl fmt::Debug for AvatarRecord {
    // Not the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvatarRecord")
            .field("agent_id", &self.agent_id)
            .field("hash", &self.hash)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    pub account_id: String,
    pub key: String,
    pub name: String,
    pub office_hours: Option<OfficeHoursSpec>,
    pub created_at: Timestamp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub agent_id: String,
    pub token_hash: [u8; 32],
    pub device: String,
    pub last_seen: Timestamp,
    pub streaming: bool,
    pub created_at: Timestamp,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("agent_id", &self.agent_id)
            .field("device", &self.device)
            .field("last_seen", &self.last_seen)
            .field("streaming", &self.streaming)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: String,
    pub account_id: String,
    pub group: Option<String>,
    pub state: ConversationState,
    pub name: Option<String>,
    pub email: Option<String>,
    /// SHA-256 of the visitor's token.
    pub visitor_token_hash: [u8; 32],
    pub lang: Option<Lang>,
    pub created_at: Timestamp,
    pub last_message_at: Timestamp,
    pub replies: ReplyState,
    /// The page the visitor wrote from, as the chat box said when it started.
    pub page: Option<wire::Page>,
}

/// A conversation's page from its two columns: none without a URL.
pub(crate) fn page(url: Option<String>, title: Option<String>) -> Option<wire::Page> {
    url.map(|url| wire::Page { url, title })
}

impl fmt::Debug for ConversationRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConversationRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("group", &self.group)
            .field("state", &self.state)
            .field("last_message_at", &self.last_message_at)
            .field("replies", &self.replies)
            .finish_non_exhaustive()
    }
}

/// A message; `seq` is 0 until the store has assigned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    pub seq: u64,
    pub id: String,
    pub conversation_id: String,
    pub author: Author,
    pub agent_id: Option<String>,
    pub text: String,
    pub created_at: Timestamp,
}

/// A notification to send, stored with the change that causes it (see
/// `notify`). `attempts` counts the failed tries so far.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: String,
    pub account_id: String,
    /// What the payload is: `email`, [`REPLY_DIGEST`] or `webhook`.
    pub kind: String,
    /// JSON, as `kind` defines it; a `conversation_id` field ties the item to
    /// a conversation (it is erased with it).
    pub payload: String,
    pub created_at: Timestamp,
    /// When the first attempt is due (`created_at` for at once).
    pub due_at: Timestamp,
    pub attempts: u32,
}

/// The outbox kind of a digest of agents' replies emailed to a visitor. The
/// store keeps at most one waiting per conversation: given to
/// [`Store::append_messages`] while one waits, the item is dropped and the
/// replies join the waiting digest; otherwise it is stored and the
/// conversation's digest starts at the first agent reply appended with it.
/// [`Store::finish_reply_digest`] ends it, or hands the replies that came
/// while it was being sent to a follow-up item.
pub const REPLY_DIGEST: &str = "reply_digest";

impl fmt::Debug for OutboxItem {
    // Not the payload: it holds addresses and a visitor's words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxItem")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A device's Web Push subscription (see `push`): one per session.
#[derive(Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    pub session_id: String,
    pub account_id: String,
    pub agent_id: String,
    /// The push service's URL for this device.
    pub endpoint: String,
    /// The device's P-256 public key, base64url (65 bytes).
    pub p256dh: String,
    /// Its authentication secret, base64url (16 bytes).
    pub auth: String,
    pub created_at: Timestamp,
}

impl fmt::Debug for PushSubscriptionRecord {
    // Not the endpoint nor the keys: the endpoint is a capability to reach
    // the device.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSubscriptionRecord")
            .field("session_id", &self.session_id)
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

/// An account's webhook (see `webhooks`): where events are posted, which
/// ones, and the secret that signs them.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    pub account_id: String,
    pub url: String,
    /// Event names, e.g. `message.created`.
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: Timestamp,
}

impl fmt::Debug for WebhookRecord {
    // Not the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// One attempt to deliver a webhook event, for the delivery log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The outbox item's id, which is the delivered body's `id`.
    pub delivery_id: String,
    pub event: String,
    pub attempted_at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong; `None` when delivered.
    pub error: Option<String>,
    /// When it is tried again; `None` when delivered or given up.
    pub next_attempt_at: Option<Timestamp>,
}

/// Which of an account's conversations to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub group: Option<String>,
    pub state: Option<ConversationState>,
    pub limit: u32,
}

/// A conversation whose busy reply is pending, as loaded at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingRecord {
    pub conversation_id: String,
    pub group: Option<String>,
    pub since: Timestamp,
}

/// Everything stored about one account, as loaded at start-up.
#[derive(Clone, Debug)]
pub struct AccountData {
    pub account: AccountRecord,
    /// The account's change counter as last stored.
    pub version: u64,
    pub groups: Vec<GroupRecord>,
    pub agents: Vec<AgentRecord>,
    pub sessions: Vec<SessionRecord>,
    /// Conversations whose busy reply is pending (not their messages: those
    /// stay in the store and are read on demand).
    pub waiting: Vec<WaitingRecord>,
}

#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Every account with its groups, agents and sessions.
    async fn load_all(&self) -> StoreResult<Vec<AccountData>>;
    /// One account by slug, for accounts created by another process (the CLI).
    async fn load_account(&self, slug: &str) -> StoreResult<Option<AccountData>>;

    /// Creates an account and its owner atomically. Conflict("slug") when taken.
    async fn create_account(&self, account: &AccountRecord, owner: &AgentRecord)
    -> StoreResult<()>;
    async fn update_account(&self, account: &AccountRecord) -> StoreResult<()>;
    async fn set_version(&self, account_id: &str, version: u64) -> StoreResult<()>;

    /// Inserts or replaces an agent with its group memberships. Conflict("email").
    async fn put_agent(&self, agent: &AgentRecord) -> StoreResult<()>;
    /// Deletes an agent and, with it, its sessions.
    async fn delete_agent(&self, agent_id: &str) -> StoreResult<()>;

    /// Stores an agent's picture, replacing the one it had. False, and
    /// nothing stored, when the agent no longer exists.
    async fn put_avatar(&self, avatar: &AvatarRecord) -> StoreResult<bool>;
    /// Removes an agent's picture, if it has one.
    async fn delete_avatar(&self, agent_id: &str) -> StoreResult<()>;
    /// A picture by its hash, whichever agent has it (agents with the same
    /// picture share its hash).
    async fn avatar(&self, hash: &str) -> StoreResult<Option<AvatarRecord>>;

    /// Inserts or replaces a group.
    async fn put_group(&self, group: &GroupRecord) -> StoreResult<()>;
    /// Deletes a group and every membership in it.
    async fn delete_group(&self, account_id: &str, key: &str) -> StoreResult<()>;

    async fn put_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn touch_session(
        &self,
        session_id: &str,
        last_seen: Timestamp,
        streaming: bool,
    ) -> StoreResult<()>;
    async fn delete_session(&self, session_id: &str) -> StoreResult<()>;

    /// Creates a conversation with its first messages (the visitor's, and an
    /// automatic reply if any) in one transaction. Returns the messages with
    /// their `seq`, in order. Durable when it returns.
    ///
    /// `outbox`: notifications the change causes, stored in the same
    /// transaction, due at once.
    async fn create_conversation(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>>;
    /// Stores a conversation's new state (`state`, `last_message_at`, reply
    /// bookkeeping) and appends messages to it, in one transaction. Returns
    /// the messages with their `seq`. Durable when it returns.
    /// `outbox` as for [`create_conversation`](Store::create_conversation).
    async fn append_messages(
        &self,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        outbox: &[OutboxItem],
    ) -> StoreResult<Vec<MessageRecord>>;
    /// Stores a conversation's new state without a message (closing it, an
    /// automatic reply the account turned off).
    async fn update_conversation(&self, conversation: &ConversationRecord) -> StoreResult<()> {
        self.append_messages(conversation, &[], &[]).await.map(drop)
    }
    /// Where the conversation's waiting digest of replies starts (the `seq`
    /// of its first agent reply); `None` when none waits.
    async fn reply_digest_start(&self, conversation_id: &str) -> StoreResult<Option<u64>>;
    /// After the digest of replies `from..=sent_up_to` went to the visitor:
    /// when agent replies after `sent_up_to` arrived meanwhile, the digest
    /// now starts at the first of them and `follow_up` (the outbox item that
    /// sends them) is stored, and the answer is true; otherwise no digest
    /// waits any more. A conversation whose digest no longer starts at
    /// `from` (erased, or finished by an earlier attempt) is left as it is.
    async fn finish_reply_digest(
        &self,
        conversation_id: &str,
        from: u64,
        sent_up_to: u64,
        follow_up: &OutboxItem,
    ) -> StoreResult<bool>;
    /// Removes one of the account's conversations and its messages for good.
    /// False when there was none.
    async fn delete_conversation(&self, account_id: &str, id: &str) -> StoreResult<bool>;

    /// Claims up to `limit` outbox items due at `now` (oldest due first) for
    /// this caller: each is leased to it until `lease_until` (when it falls
    /// due again, should the caller die). Each due item goes to one caller,
    /// however many claim at once.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>>;
    /// Records an item as sent.
    async fn outbox_sent(&self, id: &str, at: Timestamp) -> StoreResult<()>;
    /// Records a failed attempt; the next is due at `next_attempt_at`.
    async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()>;
    /// Records a last failed attempt: the item is given up.
    async fn outbox_failed(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<()>;
    /// How many items wait to be sent, and when the earliest is due.
    async fn outbox_pending(&self) -> StoreResult<(u64, Option<Timestamp>)>;
    /// Deletes the items sent or given up before `before`; returns how many.
    /// Items still to send are never touched.
    async fn prune_outbox(&self, before: Timestamp) -> StoreResult<u64>;
    /// One of the account's conversations.
    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// One of the account's conversations with its messages `seq > after`
    /// (`after = 0`: all), read together so they agree.
    async fn conversation_with_messages(
        &self,
        account_id: &str,
        id: &str,
        after: u64,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>>;
    /// The account's conversations, newest message first.
    async fn list_conversations(
        &self,
        account_id: &str,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<ConversationRecord>>;
    /// The newest message of each of `conversation_ids` that is not an
    /// automatic reply (for the inbox's previews: those say nothing of the
    /// conversation), by conversation id; none for a conversation without.
    async fn last_messages(
        &self,
        conversation_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, MessageRecord>>;
    /// A conversation's messages with `seq > after`, in order (`after = 0`: all).
    async fn messages_after(
        &self,
        conversation_id: &str,
        after: u64,
    ) -> StoreResult<Vec<MessageRecord>>;

    // Webhooks (docs/notifications.md, "Webhooks"); their deliveries are
    // outbox items of kind `webhook`.

    /// Stores a new webhook.
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    /// The account's webhooks, oldest first.
    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookRecord>>;
    /// A webhook by id, whatever its account (for delivery).
    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>>;
    /// Deletes one of the account's webhooks and its delivery log. False
    /// when there was none.
    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<bool>;
    /// Appends an attempt to a webhook's delivery log, keeping its newest
    /// `keep` attempts.
    async fn record_webhook_attempt(
        &self,
        webhook_id: &str,
        attempt: &WebhookAttempt,
        keep: u32,
    ) -> StoreResult<()>;
    /// A webhook's newest `limit` attempts, newest first.
    async fn webhook_attempts(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<WebhookAttempt>>;
    /// Stores outbox items caused by a change that has no transaction of its
    /// own (a status change of a single-node server), due at once.
    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> StoreResult<()>;

    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Whether the database answers (for `/healthz`): one small read.
    async fn ping(&self) -> StoreResult<()> {
        self.meta("ping").await.map(drop)
    }
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;

    // Web Push (see `push`): the devices' subscriptions, one per session,
    // and the server's key, which every node of a cluster must share.

    /// Stores `value` under `key` unless the key has a value already, in
    /// one statement (so concurrent callers agree); returns the value the
    /// key has now.
    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;
    /// Stores a session's subscription, replacing the one it had. False, and
    /// nothing stored, when the session no longer exists.
    async fn put_push_subscription(
        &self,
        subscription: &PushSubscriptionRecord,
    ) -> StoreResult<bool>;
    /// The session's subscription.
    async fn push_subscription(
        &self,
        session_id: &str,
    ) -> StoreResult<Option<PushSubscriptionRecord>>;
    /// Every subscription of the account's devices.
    async fn push_subscriptions(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<PushSubscriptionRecord>>;
    /// Removes the session's subscription; with `endpoint`, only while it
    /// is still that one (the device may have subscribed anew meanwhile).
    /// True when one was removed.
    async fn delete_push_subscription(
        &self,
        session_id: &str,
        endpoint: Option<&str>,
    ) -> StoreResult<bool>;
}

/// A database URL as it may be shown in logs and errors: a password in its
/// user info (`scheme://user:PASSWORD@host`) or in a `password=` parameter
/// becomes `***`.
/// Whether a database URL names a database server that several nodes can
/// share (PostgreSQL), as cluster mode needs.
pub fn is_shared_database(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub fn redacted_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => base.to_owned(),
                },
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// A scope as the cluster tables name it: `""` for the whole site, else the
/// group's key.
pub type ScopeKey = String;

/// What a scope's chat boxes were last told, as stored for the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedScope {
    pub scope: ScopeKey,
    pub version: u64,
    /// The status snapshot as JSON, `version` included.
    pub snapshot: String,
}

/// An account as cluster mode reads it: its records, each session's presence
/// over every node, and what every scope was last told.
#[derive(Clone, Debug)]
pub struct ClusterAccount {
    /// Sessions carry their last sign of life on any node: a stream held by a
    /// node that stopped or died counts as a sign of life at its last heartbeat.
    pub data: AccountData,
    /// Sessions with a stream open on a live node.
    pub streaming: std::collections::HashSet<String>,
    pub published: Vec<PublishedScope>,
}

/// A derivation's outcome: the scopes whose snapshot changed (as JSON, with
/// the version it was given) and the scopes that no longer exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derived {
    pub changed: Vec<(ScopeKey, String)>,
    pub removed: Vec<ScopeKey>,
    /// Notifications the changes cause (`status.changed` webhooks), stored
    /// in the same transaction as the changed scopes.
    pub outbox: Vec<OutboxItem>,
}

impl Derived {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Derives an account's scopes from what was read under its lock, given the
/// version a change would get.
pub type DeriveFn = dyn Fn(&ClusterAccount, u64) -> Derived + Send + Sync;

/// What cluster mode needs of the store beyond [`Store`]: node membership,
/// presence across nodes, and derivation under the account's row lock.
/// PostgreSQL only (see `docs/cluster.md`).
#[async_trait]
pub trait ClusterStore: Send + Sync + fmt::Debug + 'static {
    /// Records a node (a process start) as alive at `now`.
    async fn register_node(&self, node_id: &str, now: Timestamp) -> StoreResult<()>;
    /// A node's heartbeat. False when the node was declared dead meanwhile
    /// (its row is gone): it must not go on as if its streams still counted.
    async fn heartbeat(&self, node_id: &str, now: Timestamp) -> StoreResult<bool>;
    /// A clean stop: the node's streams count as signs of life at `now`.
    async fn stop_node(&self, node_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Nodes whose heartbeat is older than `before`, with that heartbeat.
    async fn silent_nodes(&self, before: Timestamp) -> StoreResult<Vec<(String, Timestamp)>>;
    /// The accounts with sessions that have streams on `node_id`.
    async fn accounts_streaming_on(&self, node_id: &str) -> StoreResult<Vec<String>>;
    /// Forgets a dead node and its streams once they no longer matter,
    /// folding its last heartbeat into the sessions' last sign of life.
    async fn forget_node(&self, node_id: &str) -> StoreResult<()>;
    /// How many agent streams `session_id` has open on `node_id` (0 deletes).
    async fn set_streams(&self, session_id: &str, node_id: &str, streams: u32) -> StoreResult<()>;
    /// Counts `delta` visitor streams of a conversation opened (or, below
    /// zero, closed) on `node_id`.
    async fn add_visitor_streams(
        &self,
        conversation_id: &str,
        node_id: &str,
        delta: i32,
    ) -> StoreResult<()>;
    /// Whether a node alive after `alive_after` has a visitor stream of the
    /// conversation open.
    async fn visitor_streaming(
        &self,
        conversation_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<bool>;
    /// The agents of an account with an agent stream (a dashboard) open on
    /// a node alive after `alive_after`.
    async fn agents_streaming(
        &self,
        account_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<std::collections::HashSet<String>>;
    /// Claims a conversation's due automatic reply for this node: true for
    /// exactly one caller while the conversation still waits since `since`
    /// without a reply in that wait.
    async fn claim_reply(&self, conversation_id: &str, since: Timestamp) -> StoreResult<bool>;
    /// The slug of the account holding a session with this token hash.
    async fn account_of_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<String>>;
    /// An account by id as the cluster sees it; nodes whose heartbeat is
    /// older than `alive_after` are dead.
    async fn load_cluster_account(
        &self,
        account_id: &str,
        alive_after: Timestamp,
    ) -> StoreResult<Option<ClusterAccount>>;
    /// Takes the account's row lock, reads it, derives with `derive` and
    /// stores what changed under the next version, in one transaction.
    /// Returns what was read (with the new version when something changed)
    /// and what was derived.
    async fn derive_locked(
        &self,
        account_id: &str,
        alive_after: Timestamp,
        derive: &DeriveFn,
    ) -> StoreResult<Option<(ClusterAccount, Derived)>>;
}

/// Opens a PostgreSQL store for cluster mode: the same store as [`open`]
/// gives, also as its [`ClusterStore`].
pub async fn open_cluster(url: &str) -> StoreResult<(Arc<dyn Store>, Arc<dyn ClusterStore>)> {
    if !is_shared_database(url) {
        return Err(StoreError::UnsupportedUrl(redacted_url(url)));
    }
    let store = Arc::new(PostgresStore::open(url).await?);
    Ok((
        Arc::clone(&store) as Arc<dyn Store>,
        store as Arc<dyn ClusterStore>,
    ))
}

/// Opens the store a database URL names: `sqlite://PATH` (a file, created if
/// missing), `sqlite::memory:`, or `postgres://USER@HOST:PORT/DATABASE`
/// (also `postgresql://`, with any of libpq's URL parameters; the database
/// must exist). Either way the schema is brought up to date.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let store = SqliteStore::open(path).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::open(url).await?;
        return Ok(Arc::new(store));
    }
    Err(StoreError::UnsupportedUrl(redacted_url(url)))
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn passwords_are_left_out_of_database_urls() {
        for (url, shown) in [
            ("sqlite://onair.db", "sqlite://onair.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            (
                "postgres://onair@db:5432/onair",
                "postgres://onair@db:5432/onair",
            ),
            (
                "postgres://onair:s3cr%40t@db:5432/onair",
                "postgres://onair:***@db:5432/onair",
            ),
            ("postgresql://u:p@db", "postgresql://u:***@db"),
            (
                "postgres://db/onair?user=u&password=s3cret&sslmode=disable",
                "postgres://db/onair?user=u&password=***&sslmode=disable",
            ),
            (
                "mysql://root:pw@localhost/x",
                "mysql://root:***@localhost/x",
            ),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }
}
