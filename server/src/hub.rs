//! The live state of every account and the fan-out of its changes.
//!
//! Each account's directory (settings, agents, groups, sessions) and presence
//! live in memory in an [`AccountLive`]; the [`Store`] is written through
//! before memory changes and read once at start-up. After every change the
//! account's scopes are re-derived and each scope whose snapshot really
//! changed gets one serialised frame, published on that scope's `watch`
//! channel, which every open stream of the scope shares.
//!
//! Writes to one account are serialised by its `write` lock (an async mutex
//! held across the store write); the state itself sits behind a std mutex held
//! only for short synchronous sections. A timer task per account sleeps until
//! the next deadline the model names (grace expiry, office-hours boundary).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use onair_shared::conversation::Waiting;
use onair_shared::model::{
    AccountState, AgentState, GroupState, Scope, ScopeSnapshot, SessionPresence, Settings,
};
use onair_shared::office_hours::{OfficeHours, OfficeHoursSpec};
use onair_shared::wire::{self, Lang, SiteEvent, Status, StatusSnapshot};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
#[path = "account.rs"]
pub mod account;

use crate::cluster::ClusterLink;
use crate::error::{Error, Result};
use crate::feeds::Feeds;
use crate::limits::{LoginLimiter, RateLimiter};
use crate::metrics::{Metrics, SessionCounts};
use crate::notify::Outbox;
use crate::sse;
use crate::store::{
    AccountData, AccountRecord, AgentRecord, ClusterAccount, Derived, GroupRecord, OutboxItem,
    SessionRecord, Store, StoreError, WebhookRecord,
};
use crate::webhooks::{self, Event, WebhookConfig, Webhooks};

/// How often open streams get a keep-alive comment (docs/api.md: at least every 30 s).
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(20);
const SHUTDOWN_AT: &str = "shutdown_at";
/// In a cluster, a sign of life is stored when the one stored may be older
/// than this.
const TOUCH_STORE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

pub use crate::store::TokenHash;

/// How a [`Hub`] keeps time, and whether it is a node of a cluster.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub clock: Clock,
    /// How often open streams get a keep-alive comment.
    pub keep_alive: Duration,
    /// Cluster mode (docs/cluster.md): the shared store and the bus.
    pub cluster: Option<ClusterLink>,
    /// Email notifications (docs/notifications.md); none without `--smtp-url`.
    pub outbox: Option<Arc<Outbox>>,
    /// Web Push to the agent's app (docs/notifications.md).
    pub push: crate::push::PushConfig,
    /// How webhooks are delivered (`--allow-private-webhooks`).
    pub webhooks: WebhookConfig,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            clock: Clock::System,
            keep_alive: KEEP_ALIVE_EVERY,
            cluster: None,
            outbox: None,
            push: crate::push::PushConfig::default(),
            webhooks: WebhookConfig::default(),
        }
    }
}

/// Time-driven work beyond the status derivation, which the account timer
/// runs each time it wakes (the timer is the one scheduler: it sleeps until
/// the model's next deadline, status or automatic reply). Given to the hub
/// from outside ([`crate::node`]), so the account unit does not import the
/// modules whose work it schedules.
#[async_trait::async_trait]
pub trait DueWork: Send + Sync + fmt::Debug + 'static {
    /// Does what has fallen due by `writer.now()`.
    async fn run(&self, writer: &Writer<'_>);
}

#[derive(Debug)]
pub struct Hub {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Visitor-message rate limits (docs/conversations.md).
    pub limits: RateLimiter,
    /// Login limits (docs/hardening.md).
    pub logins: LoginLimiter,
    accounts: Mutex<HashMap<String, Arc<AccountLive>>>,
    /// SHA-256 of a bearer token → the account holding that session.
    tokens: Mutex<HashMap<TokenHash, (Arc<AccountLive>, String)>>,
    /// Serialises account creation against the lazy loading of accounts.
    creating: tokio::sync::Mutex<()>,
    /// Every stream's keep-alive tick and the shutdown (`sse::Signals`).
    signals: watch::Sender<sse::Signal>,
    started_at: Timestamp,
    me: Weak<Hub>,
    /// Set on the nodes of a cluster.
    pub cluster: Option<ClusterLink>,
    /// Set when the server sends email notifications.
    pub outbox: Option<Arc<Outbox>>,
    /// Web Push: the server's key and the deliveries (always on).
    pub push: Arc<crate::push::Push>,
    /// What the account timers run besides the derivation.
    due: Arc<dyn DueWork>,
    /// Webhook deliveries (always: they need nothing configured).
    pub webhooks: Arc<Webhooks>,
}

/// One account's live state.
#[derive(Debug)]
pub struct AccountLive {
    pub id: String,
    pub slug: String,
    write: tokio::sync::Mutex<()>,
    inner: Mutex<Inner>,
    timer: Notify,
    /// Live feeds of conversation events (see `conversations`).
    pub conversations: Feeds,
    /// Cluster mode: this node's open agent streams per session (the other
    /// nodes' are in the store).
    local_streams: Mutex<HashMap<String, u32>>,
}

/// An account's directory, presence and what has been published.
#[derive(Debug)]
pub struct Inner {
    // Private: they change only through the account unit's commands
    // (`account.rs`, a child module) and `Writer::apply`; others read them
    // through the accessors below.
    account: AccountRecord,
    agents: BTreeMap<String, AgentRecord>,
    groups: BTreeMap<String, GroupRecord>,
    sessions: HashMap<String, SessionInfo>,
    /// The model the derivation reads; rebuilt from the records by `sync_model`.
    model: AccountState,
    /// The instant of the last derivation. The timer's next deadline is the
    /// first possible change after it, not after "now": a boundary passed
    /// between a derivation and the timer's next look must still be met.
    derived_at: Timestamp,
    version: u64,
    scopes: BTreeMap<Scope, ScopeFeed>,
    site: Published<SiteEvent>,
    /// Each agent's `event: agent`: the agent with its sessions, so that its
    /// dashboards follow its status and its devices coming and going.
    agent_feeds: HashMap<String, Published<wire::Me>>,
    /// Whether this server emails replies to visitors (has SMTP); goes into
    /// every snapshot (`email_replies`).
    email_replies: bool,
}

#[derive(Debug)]
pub struct SessionInfo {
    pub record: SessionRecord,
    /// Dropped when the session ends, which ends its open streams.
    closer: watch::Sender<()>,
}

/// The last value published on a feed and the feed itself.
#[derive(Debug)]
struct Published<T> {
    value: T,
    tx: watch::Sender<Bytes>,
}

/// A scope's last published snapshot and its feeds, one per chat box
/// language (`?lang=`; docs/status.md), each pushed only when what a chat box
/// in that language shows really changed.
#[derive(Debug)]
struct ScopeFeed {
    value: ScopeSnapshot,
    /// By [`Lang::index`].
    tx: [watch::Sender<Bytes>; Lang::ALL.len()],
}

impl ScopeFeed {
    fn new(value: ScopeSnapshot) -> ScopeFeed {
        let tx = Lang::ALL.map(|lang| watch::Sender::new(status_frame(&value.in_lang(lang))));
        ScopeFeed { value, tx }
    }

    /// Publishes `value` on the feeds of the languages whose snapshot
    /// differs in more than its version.
    fn replace(&mut self, value: ScopeSnapshot) {
        for lang in Lang::ALL {
            let before = self.value.in_lang(lang);
            let after = value.in_lang(lang);
            if !same_but_version(&before, &after) {
                self.tx[lang.index()].send_replace(status_frame(&after));
            }
        }
        self.value = value;
    }
}

fn status_frame(snapshot: &StatusSnapshot) -> Bytes {
    sse::frame("status", Some(snapshot.version), snapshot)
}

/// Whether two snapshots show the same, whatever their versions.
fn same_but_version(a: &StatusSnapshot, b: &StatusSnapshot) -> bool {
    StatusSnapshot {
        version: b.version,
        ..a.clone()
    } == *b
}

impl Hub {
    /// Loads every stored account and starts their timers, which run `due`
    /// when they wake. [`crate::node::start`] is how a server starts one.
    pub(crate) async fn load(
        store: Arc<dyn Store>,
        options: HubOptions,
        due: Arc<dyn DueWork>,
    ) -> anyhow::Result<Arc<Hub>> {
        let HubOptions {
            clock,
            keep_alive,
            cluster,
            outbox,
            push,
            webhooks,
        } = options;
        let webhooks = Arc::new(Webhooks::new(webhooks)?);
        let now = clock.now();
        let push = Arc::new(crate::push::Push::load(&*store, push).await?);
        let shutdown_at = store
            .meta(SHUTDOWN_AT)
            .await?
            .and_then(|text| text.parse::<Timestamp>().ok());
        let data = store.load_all().await?;
        let hub = Arc::new_cyclic(|me| Hub {
            store,
            clock,
            metrics: Arc::default(),
            limits: RateLimiter::default(),
            logins: LoginLimiter::default(),
            accounts: Mutex::default(),
            tokens: Mutex::default(),
            creating: tokio::sync::Mutex::default(),
            signals: watch::Sender::new(sse::Signal::default()),
            started_at: now,
            me: me.clone(),
            cluster,
            outbox,
            push,
            due,
            webhooks,
        });
        if let Some(cluster) = &hub.cluster {
            cluster.store.register_node(&cluster.node_id, now).await?;
        }
        for account in data {
            hub.install(account, shutdown_at).await?;
        }
        let ticker = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(keep_alive);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(hub) = ticker.upgrade() else { return };
                // A change that changes nothing: every stream wakes and
                // writes a keep-alive.
                hub.signals.send_modify(|_| {});
            }
        });
        Ok(hub)
    }

    /// Makes a loaded account live: presence per the restart rule, a fresh
    /// version, its timer.
    async fn install(
        &self,
        data: AccountData,
        shutdown_at: Option<Timestamp>,
    ) -> anyhow::Result<Arc<AccountLive>> {
        if self.cluster.is_some() {
            return self.install_cluster(&data.account.id).await;
        }
        let now = self.clock.now();
        // One change may have been published but not yet stored when the
        // process died; starting two past the stored counter stays ahead of it.
        let version = data.version + 2;
        match self.store.set_version(&data.account.id, version).await {
            Ok(()) => {}
            // A full disk: serve what is stored (docs/hardening.md). Changes
            // that need a write fail until there is room; the counter in
            // memory still starts two ahead.
            Err(StoreError::Full(_)) => {
                tracing::warn!(account = %data.account.slug, "starting on a full disk: the account is served read-only until there is room");
            }
            Err(e) => return Err(e.into()),
        }
        let grace = data.account.grace_seconds;
        let mut sessions = HashMap::new();
        for record in data.sessions {
            // docs/status.md: a session present when the server went away counts
            // as present for grace_seconds after it comes back.
            let reference = shutdown_at.unwrap_or(now).min(now);
            let was_present = record.streaming
                || SessionPresence::seen_at(record.last_seen).is_present(reference, grace);
            let last_seen = if was_present {
                now.max(record.last_seen)
            } else {
                record.last_seen
            };
            let record = SessionRecord {
                last_seen,
                streaming: false,
                ..record
            };
            sessions.insert(
                record.id.clone(),
                SessionInfo {
                    record,
                    closer: watch::Sender::new(()),
                },
            );
        }
        let mut inner = Inner {
            account: data.account,
            agents: data.agents.into_iter().map(|a| (a.id.clone(), a)).collect(),
            groups: data
                .groups
                .into_iter()
                .map(|g| (g.key.clone(), g))
                .collect(),
            sessions,
            model: AccountState::default(),
            derived_at: now,
            version,
            scopes: BTreeMap::new(),
            site: Published::new(
                SiteEvent {
                    site: Status::Offline,
                    groups: BTreeMap::new(),
                },
                Bytes::new(),
            ),
            agent_feeds: HashMap::new(),
            email_replies: self.outbox.is_some(),
        };
        inner.sync_model();
        inner.model.waiting = data
            .waiting
            .into_iter()
            .map(|w| {
                let waiting = Waiting {
                    group: w.group,
                    since: w.since,
                };
                (w.conversation_id, waiting)
            })
            .collect();
        inner.publish_all(now);
        Ok(self.make_live(inner))
    }

    /// Makes an account's state live: indexes its tokens, starts its timer.
    fn make_live(&self, inner: Inner) -> Arc<AccountLive> {
        let live = Arc::new(AccountLive {
            id: inner.account.id.clone(),
            slug: inner.account.slug.clone(),
            write: tokio::sync::Mutex::default(),
            timer: Notify::new(),
            inner: Mutex::new(inner),
            conversations: Feeds::default(),
            local_streams: Mutex::default(),
        });
        // Lock order is tokens before an account's state (see
        // `session_by_token`), so gather the hashes first.
        let hashes: Vec<_> = live
            .lock()
            .sessions
            .iter()
            .map(|(id, s)| (s.record.token_hash, id.clone()))
            .collect();
        let mut tokens = lock(&self.tokens);
        for (hash, id) in hashes {
            tokens.insert(hash, (Arc::clone(&live), id));
        }
        drop(tokens);
        lock(&self.accounts).insert(live.slug.clone(), Arc::clone(&live));
        self.spawn_timer(&live);
        live
    }

    fn spawn_timer(&self, live: &Arc<AccountLive>) {
        let weak_hub = self.me.clone();
        let weak_live = Arc::downgrade(live);
        tokio::spawn(async move {
            loop {
                // Hold no strong reference to the hub while asleep, so a
                // dropped hub (a test's server) ends this task.
                let Some((clock, deadline, notified)) = weak_hub
                    .upgrade()
                    .zip(weak_live.upgrade())
                    .map(|(hub, live)| {
                        let deadline = {
                            let inner = live.lock();
                            // A busy reply may already be due (the timer
                            // then wakes at once); status deadlines lie
                            // after the last derivation.
                            let status = inner.model.next_deadline(inner.derived_at);
                            let reply = inner.model.next_busy_reply();
                            status.into_iter().chain(reply).min()
                        };
                        (hub.clock.clone(), deadline, live)
                    })
                else {
                    return;
                };
                let woken = tokio::select! {
                    () = async {
                        match deadline {
                            Some(deadline) => clock.sleep_until(deadline).await,
                            None => std::future::pending().await,
                        }
                    } => true,
                    () = notified.timer.notified() => false,
                };
                if !woken {
                    continue;
                }
                let Some(hub) = weak_hub.upgrade() else {
                    return;
                };
                let writer = hub.writer(&notified).await;
                writer.rederive().await;
                let due = Arc::clone(&hub.due);
                due.run(&writer).await;
            }
        });
    }

    /// The live account with this slug, loading it if another process (the
    /// CLI) created it since start-up.
    pub async fn account(&self, slug: &str) -> Result<Arc<AccountLive>> {
        if let Some(live) = lock(&self.accounts).get(slug) {
            return Ok(Arc::clone(live));
        }
        let _creating = self.creating.lock().await;
        if let Some(live) = lock(&self.accounts).get(slug) {
            return Ok(Arc::clone(live));
        }
        let unknown =
            || Error::not_found("unknown_account", format!("there is no account {slug:?}"));
        if !onair_shared::validate::is_valid_key(slug) {
            return Err(unknown());
        }
        let Some(data) = self.store.load_account(slug).await? else {
            return Err(unknown());
        };
        self.install(data, None)
            .await
            .map_err(|e| Error::Internal(format!("{e:#}")))
    }

    /// Creates an account with its owner, stored first, then made live.
    pub async fn create_account(
        &self,
        account: AccountRecord,
        owner: AgentRecord,
    ) -> Result<Arc<AccountLive>> {
        let _creating = self.creating.lock().await;
        if lock(&self.accounts).contains_key(&account.slug) {
            return Err(Error::conflict(
                "slug_taken",
                format!("the slug {:?} is already taken", account.slug),
            ));
        }
        self.store.create_account(&account, &owner).await?;
        let data = AccountData {
            account,
            version: 0,
            groups: Vec::new(),
            agents: vec![owner],
            sessions: Vec::new(),
            waiting: Vec::new(),
        };
        self.install(data, None)
            .await
            .map_err(|e| Error::Internal(format!("{e:#}")))
    }

    /// The session a bearer token's hash names, if it is still live.
    pub fn session_by_token(&self, token_hash: &[u8; 32]) -> Option<(Arc<AccountLive>, String)> {
        let mut tokens = lock(&self.tokens);
        let (live, session_id) = tokens.get(token_hash)?;
        if live.lock().sessions.contains_key(session_id) {
            return Some((Arc::clone(live), session_id.clone()));
        }
        // Ended sessions are dropped from the index lazily, here.
        tokens.remove(token_hash);
        None
    }

    /// As [`Hub::session_by_token`]; on a node of a cluster, a token another
    /// node issued is looked up in the store and its account refreshed.
    pub async fn session_by_token_anywhere(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(Arc<AccountLive>, String)>> {
        if let Some(found) = self.session_by_token(token_hash) {
            return Ok(Some(found));
        }
        let Some(cluster) = &self.cluster else {
            return Ok(None);
        };
        let Some(slug) = cluster.store.account_of_token(token_hash).await? else {
            return Ok(None);
        };
        let live = self.account(&slug).await?;
        self.cluster_reload(&live).await?;
        Ok(self.session_by_token(token_hash))
    }

    pub fn index_token(&self, token_hash: [u8; 32], live: &Arc<AccountLive>, session_id: &str) {
        lock(&self.tokens).insert(token_hash, (Arc::clone(live), session_id.to_owned()));
    }

    /// The account's webhooks that subscribe to `status.changed`. A store
    /// that cannot say is logged: status changes go on without their
    /// deliveries rather than not at all.
    async fn status_webhooks(&self, account_id: &str) -> Vec<WebhookRecord> {
        match self.store.webhooks(account_id).await {
            Ok(mut hooks) => {
                hooks.retain(|h| h.events.iter().any(|e| e == Event::StatusChanged.as_str()));
                hooks
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the account's webhooks");
                Vec::new()
            }
        }
    }

    /// Takes the account's write lock.
    pub async fn writer<'a>(&'a self, live: &'a AccountLive) -> Writer<'a> {
        let guard = live.write.lock().await;
        Writer {
            hub: self,
            live,
            _guard: guard,
        }
    }

    /// A sign of life from a session: it stays (or becomes again) present.
    pub async fn touch(&self, live: &AccountLive, session_id: &str) {
        let now = self.clock.now();
        let was_present = {
            let mut inner = live.lock();
            let grace = inner.account.grace_seconds;
            let Some(agent_id) = inner
                .sessions
                .get(session_id)
                .map(|s| s.record.agent_id.clone())
            else {
                return;
            };
            let Some(presence) = inner.presence_mut(&agent_id, session_id) else {
                return;
            };
            let was_present = presence.is_present(now, grace);
            let stale = now.duration_since(presence.last_seen) >= TOUCH_STORE_AFTER;
            presence.last_seen = presence.last_seen.max(now);
            (was_present, stale)
        };
        let (was_present, stale) = was_present;
        // The other nodes of a cluster learn of this sign of life from the
        // store, when they derive (at most one write a second per session).
        if self.cluster.is_some() && stale {
            if let Err(e) = self.store.touch_session(session_id, now, false).await {
                tracing::warn!(error = %e, "could not store a session's last sign of life");
            }
        }
        // Present before and after: no derived status can change, and the
        // timer finds the later grace end when it next wakes.
        if !was_present {
            self.writer(live).await.rederive().await;
        }
    }

    /// An agent stream of `session_id` opened (`+1`) or closed (`-1`) on this
    /// node: counted in the model, and in a cluster also in the store, then
    /// derived. Returns whether the session still streams here, or `None`
    /// when the session is gone.
    pub async fn stream_changed(
        &self,
        live: &AccountLive,
        agent_id: &str,
        session_id: &str,
        opened: bool,
    ) -> Option<bool> {
        let local = if self.cluster.is_some() {
            let mut streams = lock(&live.local_streams);
            let count = streams.entry(session_id.to_owned()).or_insert(0);
            *count = if opened {
                *count + 1
            } else {
                count.saturating_sub(1)
            };
            let count = *count;
            if count == 0 {
                streams.remove(session_id);
            }
            Some(count)
        } else {
            None
        };
        let writer = self.writer(live).await;
        if let (Some(cluster), Some(count)) = (&self.cluster, local) {
            if let Err(e) = cluster
                .store
                .set_streams(session_id, &cluster.node_id, count)
                .await
            {
                tracing::warn!(error = %e, "could not store a session's open streams");
            }
            if !opened {
                if let Err(e) = self
                    .store
                    .touch_session(session_id, writer.now(), false)
                    .await
                {
                    tracing::warn!(error = %e, "could not store a session's last sign of life");
                }
            }
        }
        writer
            .apply(|inner, now| {
                let presence = inner.presence_mut(agent_id, session_id)?;
                presence.open_streams = if opened {
                    presence.open_streams + 1
                } else {
                    presence.open_streams.saturating_sub(1)
                };
                presence.last_seen = presence.last_seen.max(now);
                Some(local.map_or(presence.open_streams, |c| c) > 0)
            })
            .await
    }

    pub fn signals(&self) -> sse::Signals {
        sse::Signals(self.signals.subscribe())
    }

    /// Ends every stream and records when the server stopped (for the restart rule).
    pub async fn shut_down(&self) {
        self.signals.send_modify(|signal| signal.shutdown = true);
        let now = self.clock.now().max(self.started_at);
        if let Some(cluster) = &self.cluster {
            // The streams this node held count as signs of life until now.
            if let Err(e) = cluster.store.stop_node(&cluster.node_id, now).await {
                tracing::error!(error = %e, "could not record this node's stop");
            }
        }
        // Authenticated requests are signs of life that only memory knows of
        // (storing each would cost a write per request). Store them now, or a
        // session present only through them would not count as present after
        // the restart (docs/status.md).
        for (session_id, last_seen, streaming) in self.unstored_presence(now) {
            if let Err(e) = self
                .store
                .touch_session(&session_id, last_seen, streaming)
                .await
            {
                tracing::error!(error = %e, "could not store a session's last sign of life");
            }
        }
        if let Err(e) = self.store.set_meta(SHUTDOWN_AT, &now.to_string()).await {
            tracing::error!(error = %e, "could not record the shutdown time");
        }
    }

    /// Sessions present at `now` whose last sign of life is newer in memory
    /// than in the store: (session id, last seen, streaming).
    fn unstored_presence(&self, now: Timestamp) -> Vec<(String, Timestamp, bool)> {
        let accounts: Vec<_> = lock(&self.accounts).values().cloned().collect();
        let mut out = Vec::new();
        for live in accounts {
            let inner = live.lock();
            let grace = inner.account.grace_seconds;
            for agent in inner.model.agents.values() {
                for (id, presence) in &agent.sessions {
                    let stored = inner.sessions.get(id).map(|s| s.record.last_seen);
                    if presence.is_present(now, grace)
                        && stored.is_some_and(|stored| presence.last_seen > stored)
                    {
                        out.push((id.clone(), presence.last_seen, presence.open_streams > 0));
                    }
                }
            }
        }
        out
    }

    /// Forgets the recorded shutdown once a server runs on the store again
    /// (`load` has read it by then): if this one crashes, the next start must
    /// not take that old instant for the moment the server went away, which
    /// would bring back sessions that expired in between. An empty value reads
    /// as none.
    pub async fn mark_running(&self) {
        if let Err(e) = self.store.set_meta(SHUTDOWN_AT, "").await {
            tracing::error!(error = %e, "could not clear the recorded shutdown time");
        }
    }

    /// Whether [`Hub::shut_down`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.signals.borrow().shutdown
    }

    pub fn session_counts(&self) -> SessionCounts {
        let now = self.clock.now();
        let accounts: Vec<_> = lock(&self.accounts).values().cloned().collect();
        let mut counts = SessionCounts {
            accounts: accounts.len() as u64,
            ..SessionCounts::default()
        };
        for live in accounts {
            let inner = live.lock();
            let grace = inner.account.grace_seconds;
            for agent in inner.model.agents.values() {
                counts.sessions += agent.sessions.len() as u64;
                counts.present += agent
                    .sessions
                    .values()
                    .filter(|s| s.is_present(now, grace))
                    .count() as u64;
            }
        }
        counts
    }
}

impl AccountLive {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// A bare account, live but without a hub, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(slug: &str) -> AccountLive {
        let account = AccountRecord {
            id: format!("{slug}-id"),
            slug: slug.to_owned(),
            name: slug.to_owned(),
            timezone: "UTC".to_owned(),
            grace_seconds: 120,
            busy_message: None,
            offline_message: None,
            hide_when_offline: false,
            busy_after_seconds: 45,
            allowed_origins: Vec::new(),
            office_hours: None,
            offline_reply: None,
            busy_reply: None,
            created_at: Timestamp::UNIX_EPOCH,
        };
        let inner = Inner {
            account,
            agents: BTreeMap::new(),
            groups: BTreeMap::new(),
            sessions: HashMap::new(),
            model: AccountState::default(),
            derived_at: Timestamp::UNIX_EPOCH,
            version: 0,
            scopes: BTreeMap::new(),
            site: Published::new(
                SiteEvent {
                    site: Status::Offline,
                    groups: BTreeMap::new(),
                },
                Bytes::new(),
            ),
            agent_feeds: HashMap::new(),
            email_replies: false,
        };
        AccountLive {
            id: inner.account.id.clone(),
            slug: slug.to_owned(),
            write: tokio::sync::Mutex::default(),
            inner: Mutex::new(inner),
            timer: Notify::new(),
            conversations: Feeds::default(),
            local_streams: Mutex::default(),
        }
    }

    /// The current snapshot of a scope in `lang`; 404 for an unknown group.
    pub fn snapshot(&self, scope: &Scope, lang: Lang) -> Result<StatusSnapshot> {
        let inner = self.lock();
        inner
            .scopes
            .get(scope)
            .map(|feed| feed.value.in_lang(lang))
            .ok_or_else(|| unknown_group(scope))
    }

    /// A subscription to a scope's status frames in `lang`, with the current one.
    pub fn subscribe_scope(&self, scope: &Scope, lang: Lang) -> Result<watch::Receiver<Bytes>> {
        let inner = self.lock();
        let feed = inner
            .scopes
            .get(scope)
            .ok_or_else(|| unknown_group(scope))?;
        Ok(feed.tx[lang.index()].subscribe())
    }
}

fn unknown_group(scope: &Scope) -> Error {
    Error::not_found(
        "unknown_group",
        format!("there is no group {:?}", scope.group().unwrap_or_default()),
    )
}

/// Holds an account's write lock: read, write the store, then `apply`.
#[derive(Debug)]
pub struct Writer<'a> {
    hub: &'a Hub,
    live: &'a AccountLive,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

impl Writer<'_> {
    pub fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        f(&self.live.lock())
    }

    pub fn hub(&self) -> &Hub {
        self.hub
    }

    pub fn live(&self) -> &AccountLive {
        self.live
    }

    /// Changes live state that no derived status depends on (the waiting
    /// conversations) and lets the timer find its deadline again.
    pub fn update<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.live.lock());
        self.live.timer.notify_one();
        out
    }

    pub fn now(&self) -> Timestamp {
        self.hub.clock.now()
    }

    /// Re-derives after time passed or presence changed (nothing stored
    /// changed): in a cluster nothing is announced unless a status changed.
    pub async fn rederive(&self) {
        if self.hub.cluster.is_some() {
            if let Err(e) = self.hub.cluster_derive(self.live, false).await {
                tracing::error!(error = %e, account = %self.live.slug, "could not derive the account");
            }
            return;
        }
        self.apply(|_, _| ()).await;
    }

    /// Changes the live state, re-derives every scope, publishes what really
    /// changed and stores the new version. Call after the store write succeeded.
    pub async fn apply<T>(&self, f: impl FnOnce(&mut Inner, Timestamp) -> T) -> T {
        let now = self.hub.clock.now();
        if self.hub.cluster.is_some() {
            // The store holds what changed; derivation reads it back under
            // the account's lock (docs/cluster.md).
            let out = f(&mut self.live.lock(), now);
            if let Err(e) = self.hub.cluster_derive(self.live, true).await {
                tracing::error!(error = %e, account = %self.live.slug, "could not derive the account");
            }
            return out;
        }
        let (out, (version, changed)) = {
            let mut inner = self.live.lock();
            let out = f(&mut inner, now);
            (out, inner.publish_changes(now))
        };
        // The deadline may have moved.
        self.live.timer.notify_one();
        if let Some(version) = version {
            if let Err(e) = self.hub.store.set_version(&self.live.id, version).await {
                tracing::error!(error = %e, account = %self.live.slug, "could not store the version");
            }
            self.status_webhooks(&changed, now).await;
        }
        out
    }

    /// Enqueues the `status.changed` deliveries of scopes whose published
    /// snapshot changed (single-node: nothing else stores the change).
    async fn status_webhooks(&self, changed: &[StatusSnapshot], now: Timestamp) {
        let hooks = self.hub.status_webhooks(&self.live.id).await;
        let items = status_deliveries(&hooks, &self.live.slug, changed, now);
        if items.is_empty() {
            return;
        }
        match self.hub.store.enqueue_outbox(&items).await {
            Ok(()) => self.hub.webhooks.wake(),
            Err(e) => {
                tracing::error!(error = %e, account = %self.live.slug, "could not enqueue status webhooks")
            }
        }
    }
}

impl<T> Published<T> {
    fn new(value: T, frame: Bytes) -> Published<T> {
        Published {
            value,
            tx: watch::Sender::new(frame),
        }
    }
}

impl Inner {
    pub fn account(&self) -> &AccountRecord {
        &self.account
    }

    pub fn agents(&self) -> &BTreeMap<String, AgentRecord> {
        &self.agents
    }

    pub fn groups(&self) -> &BTreeMap<String, GroupRecord> {
        &self.groups
    }

    pub fn sessions(&self) -> &HashMap<String, SessionInfo> {
        &self.sessions
    }

    /// Whether this server emails replies to visitors.
    pub fn email_replies(&self) -> bool {
        self.email_replies
    }

    /// The derivation model (presence included).
    pub fn model(&self) -> &AccountState {
        &self.model
    }

    /// Sets (or, with `None`, clears) the busy-reply wait of a conversation.
    pub fn set_waiting(&mut self, conversation_id: &str, waiting: Option<Waiting>) {
        match waiting {
            Some(waiting) => {
                self.model
                    .waiting
                    .insert(conversation_id.to_owned(), waiting);
            }
            None => {
                self.model.waiting.remove(conversation_id);
            }
        }
    }

    /// Rebuilds the derivation model from the records, keeping presence.
    pub fn sync_model(&mut self) {
        let mut previous = std::mem::take(&mut self.model.agents);
        let compile =
            |spec: &Option<OfficeHoursSpec>| spec.as_ref().and_then(|s| OfficeHours::parse(s).ok());
        self.model.settings = Settings {
            grace_seconds: self.account.grace_seconds,
            busy_message: self.account.busy_message.clone(),
            offline_message: self.account.offline_message.clone(),
            hide_when_offline: self.account.hide_when_offline,
            busy_after_seconds: self.account.busy_after_seconds,
            email_replies: self.email_replies,
        };
        self.model.office_hours = compile(&self.account.office_hours);
        self.model.groups = self
            .groups
            .iter()
            .map(|(key, g)| {
                (
                    key.clone(),
                    GroupState {
                        office_hours: compile(&g.office_hours),
                    },
                )
            })
            .collect();
        for (id, record) in &self.agents {
            let mut agent = previous
                .remove(id)
                .unwrap_or_else(|| AgentState::new(record.status));
            // A disabled agent keeps its chosen status but counts for nothing.
            agent.chosen = if record.disabled {
                Status::Offline
            } else {
                record.status
            };
            agent.groups = record.groups.iter().cloned().collect::<BTreeSet<_>>();
            self.model.agents.insert(id.clone(), agent);
        }
        // Sessions of agents the model has not seen yet (just loaded or added).
        for session in self.sessions.values() {
            if let Some(agent) = self.model.agents.get_mut(&session.record.agent_id) {
                agent
                    .sessions
                    .entry(session.record.id.clone())
                    .or_insert_with(|| SessionPresence::seen_at(session.record.last_seen));
            }
        }
        for agent in self.model.agents.values_mut() {
            agent
                .sessions
                .retain(|id, _| self.sessions.contains_key(id));
        }
    }

    pub fn presence_mut(
        &mut self,
        agent_id: &str,
        session_id: &str,
    ) -> Option<&mut SessionPresence> {
        self.model
            .agents
            .get_mut(agent_id)?
            .sessions
            .get_mut(session_id)
    }

    /// Adds a new session to the live state.
    pub fn add_session(&mut self, record: SessionRecord) {
        let presence = SessionPresence::seen_at(record.last_seen);
        if let Some(agent) = self.model.agents.get_mut(&record.agent_id) {
            agent.sessions.insert(record.id.clone(), presence);
        }
        self.sessions.insert(
            record.id.clone(),
            SessionInfo {
                record,
                closer: watch::Sender::new(()),
            },
        );
    }

    /// Ends a session at once: no grace, and its open streams close.
    pub fn end_session(&mut self, session_id: &str) {
        if let Some(info) = self.sessions.remove(session_id) {
            if let Some(agent) = self.model.agents.get_mut(&info.record.agent_id) {
                agent.sessions.remove(session_id);
            }
        }
    }

    /// Removes an agent, its sessions and its feed (which ends its streams).
    pub fn remove_agent(&mut self, agent_id: &str) {
        self.agents.remove(agent_id);
        self.sessions.retain(|_, s| s.record.agent_id != agent_id);
        self.sync_model();
    }

    /// A receiver that errs when the session ends.
    pub fn session_end(&self, session_id: &str) -> Option<watch::Receiver<()>> {
        self.sessions.get(session_id).map(|s| s.closer.subscribe())
    }

    pub fn agent_view(&self, agent_id: &str, now: Timestamp) -> Option<wire::Agent> {
        let record = self.agents.get(agent_id)?;
        let available = self
            .model
            .agents
            .get(agent_id)
            .is_some_and(|a| self.model.is_available(a, now));
        Some(wire::Agent {
            id: record.id.clone(),
            name: record.name.clone(),
            email: record.email.clone(),
            role: record.role,
            groups: record.groups.clone(),
            status: record.status,
            available,
            email_notifications: record.email_notifications,
            disabled: record.disabled,
            avatar_url: record.avatar.as_deref().map(crate::avatars::url),
        })
    }

    pub fn sessions_of(&self, agent_id: &str, now: Timestamp) -> Vec<wire::Session> {
        let grace = self.account.grace_seconds;
        let mut sessions: Vec<_> = self
            .sessions
            .values()
            .filter(|s| s.record.agent_id == agent_id)
            .map(|s| wire::Session {
                id: s.record.id.clone(),
                device: s.record.device.clone(),
                present: self
                    .model
                    .agents
                    .get(agent_id)
                    .and_then(|a| a.sessions.get(&s.record.id))
                    .is_some_and(|p| p.is_present(now, grace)),
            })
            .collect();
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        sessions
    }

    /// A subscription to an agent's own frames, with the current one.
    pub fn subscribe_agent(&self, agent_id: &str) -> Option<watch::Receiver<Bytes>> {
        self.agent_feeds.get(agent_id).map(|p| p.tx.subscribe())
    }

    pub fn subscribe_site(&self) -> watch::Receiver<Bytes> {
        self.site.tx.subscribe()
    }

    /// At load: every feed gets its first value, all at the current version.
    fn publish_all(&mut self, now: Timestamp) {
        self.derived_at = now;
        let slug = self.account.slug.clone();
        let scopes: Vec<Scope> = self.model.scopes().collect();
        for scope in scopes {
            let snapshots = self.model.snapshots(&slug, &scope, now, self.version);
            self.scopes.insert(scope, ScopeFeed::new(snapshots));
        }
        let site = self.model.site_event(now);
        self.site = Published::new(site.clone(), sse::frame("site", None, &site));
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            if let Some(view) = self.agent_event(&id, now) {
                let frame = sse::frame("agent", None, &view);
                self.agent_feeds.insert(id, Published::new(view, frame));
            }
        }
    }

    /// What `event: agent` carries: the agent as `GET /me` shows it.
    fn agent_event(&self, agent_id: &str, now: Timestamp) -> Option<wire::Me> {
        Some(wire::Me {
            agent: self.agent_view(agent_id, now)?,
            sessions: self.sessions_of(agent_id, now),
        })
    }

    /// Re-derives every feed and publishes those that really changed. Returns
    /// the new version if any scope changed, and the changed scopes' new
    /// snapshots in English if that one changed (for `status.changed`).
    fn publish_changes(&mut self, now: Timestamp) -> (Option<u64>, Vec<StatusSnapshot>) {
        self.derived_at = now;
        let slug = self.account.slug.clone();
        let mut next_version = None;
        let mut changed = Vec::new();
        let live_scopes: BTreeSet<Scope> = self.model.scopes().collect();
        // A deleted group's feed is dropped, which ends its streams.
        self.scopes.retain(|scope, _| live_scopes.contains(scope));
        for scope in live_scopes {
            let mut snapshots = self.model.snapshots(&slug, &scope, now, 0);
            let before = self.scopes.get(&scope).map(|feed| &feed.value);
            if let Some(before) = before {
                snapshots.snapshot.version = before.snapshot.version;
                if *before == snapshots {
                    continue;
                }
            }
            let english_changed =
                before.is_none_or(|b| !same_but_version(&b.snapshot, &snapshots.snapshot));
            let version = *next_version.get_or_insert(self.version + 1);
            snapshots.snapshot.version = version;
            if english_changed {
                changed.push(snapshots.snapshot.clone());
            }
            match self.scopes.get_mut(&scope) {
                Some(feed) => feed.replace(snapshots),
                None => {
                    self.scopes.insert(scope, ScopeFeed::new(snapshots));
                }
            }
        }
        if let Some(version) = next_version {
            self.version = version;
        }
        self.publish_site_and_agents(now);
        (next_version, changed)
    }

    /// Re-derives the site event and the agent feeds and publishes those
    /// that changed (they carry no version).
    fn publish_site_and_agents(&mut self, now: Timestamp) {
        let site = self.model.site_event(now);
        if site != self.site.value {
            self.site.tx.send_replace(sse::frame("site", None, &site));
            self.site.value = site;
        }

        self.agent_feeds
            .retain(|id, _| self.agents.contains_key(id));
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            let Some(view) = self.agent_event(&id, now) else {
                continue;
            };
            match self.agent_feeds.get_mut(&id) {
                Some(published) if published.value == view => {}
                Some(published) => {
                    published.tx.send_replace(sse::frame("agent", None, &view));
                    published.value = view;
                }
                None => {
                    let frame = sse::frame("agent", None, &view);
                    self.agent_feeds.insert(id, Published::new(view, frame));
                }
            }
        }
    }
}

/// A visitor message counted against the limits, until it is accepted.
#[derive(Debug)]
pub struct MessageCount {
    token: TokenHash,
    address: std::net::IpAddr,
    at: Timestamp,
    /// Where the cluster's limits counted it.
    ticket: Option<String>,
}

// The limits of visitor messages and logins (docs/hardening.md): one
// interface for handlers; on a node of a cluster the windows live in Redis so
// they hold for the whole cluster, with this node's own windows as the
// fallback while Redis does not answer.
impl Hub {
    /// Counts a visitor message, or refuses it (counting nothing). A message
    /// that is then not accepted (its write failed) is released with
    /// [`Hub::release_message`]: only accepted messages count.
    pub async fn check_message_limit(
        &self,
        token: &TokenHash,
        address: std::net::IpAddr,
    ) -> std::result::Result<MessageCount, crate::limits::RetryAfter> {
        let mut counted = MessageCount {
            token: *token,
            address,
            at: self.clock.now(),
            ticket: None,
        };
        if let Some(limits) = self.cluster.as_ref().and_then(|c| c.limits.as_ref()) {
            let ticket = crate::cluster::limits::nonce();
            match limits.check_message_as(token, address, &ticket).await {
                Ok(verdict) => {
                    counted.ticket = Some(ticket);
                    return verdict.map(|()| counted);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster rate limits unavailable; limiting on this node")
                }
            }
        }
        self.limits
            .check(token, address, counted.at)
            .map(|()| counted)
    }

    /// Takes back a counted message that was not accepted.
    pub async fn release_message(&self, counted: MessageCount) {
        let cluster = self.cluster.as_ref().and_then(|c| c.limits.as_ref());
        match (&counted.ticket, cluster) {
            (Some(ticket), Some(limits)) => {
                if let Err(e) = limits
                    .release_message(&counted.token, counted.address, ticket)
                    .await
                {
                    tracing::warn!(error = %e, "could not take back a counted message");
                }
            }
            _ => self
                .limits
                .release(&counted.token, counted.address, counted.at),
        }
    }

    /// Counts a login attempt, or refuses it before any hashing.
    pub async fn login_attempt(
        &self,
        key: &crate::limits::LoginKey,
        address: std::net::IpAddr,
    ) -> std::result::Result<(), crate::limits::RetryAfter> {
        if let Some(limits) = self.cluster.as_ref().and_then(|c| c.limits.as_ref()) {
            match limits.login_attempt(key, address).await {
                Ok(verdict) => return verdict,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster login limits unavailable; limiting on this node")
                }
            }
        }
        self.logins.attempt(key, address, self.clock.now())
    }

    /// Records a failed login.
    pub async fn login_failed(&self, key: &crate::limits::LoginKey) {
        if let Some(limits) = self.cluster.as_ref().and_then(|c| c.limits.as_ref()) {
            if limits.login_failed(key).await.is_ok() {
                return;
            }
        }
        self.logins.failed(key, self.clock.now());
    }

    /// A successful login forgets the key's failures.
    pub async fn login_succeeded(&self, key: &crate::limits::LoginKey) {
        if let Some(limits) = self.cluster.as_ref().and_then(|c| c.limits.as_ref()) {
            let _ = limits.login_succeeded(key).await;
        }
        self.logins.succeeded(key);
    }
}

// Cluster mode (docs/cluster.md): every node keeps every account's state as
// here, refreshed from the store when another node says it changed; what a
// scope's chat boxes are told is derived under the account's row lock, so a
// change is published once, with one version, for the whole cluster.
impl Hub {
    fn cluster(&self) -> Result<&ClusterLink> {
        self.cluster
            .as_ref()
            .ok_or_else(|| Error::Internal("not a node of a cluster".into()))
    }

    /// The instant before which a node's heartbeat means it is gone.
    pub(crate) fn alive_after(&self) -> Timestamp {
        self.clock.now() - crate::cluster::NODE_TIMEOUT
    }

    /// Derives an account under its lock (publishing once for the cluster
    /// what changed), makes this node's state what was read, and tells the
    /// other nodes when anything may have changed.
    async fn install_cluster(&self, account_id: &str) -> anyhow::Result<Arc<AccountLive>> {
        let cluster = self.cluster()?;
        let now = self.clock.now();
        let email_replies = self.outbox.is_some();
        let hooks = self.status_webhooks(account_id).await;
        let derive = move |read: &ClusterAccount, next: u64| {
            derive_cluster(read, next, now, email_replies, &hooks)
        };
        let Some((read, derived)) = cluster
            .store
            .derive_locked(account_id, self.alive_after(), &derive)
            .await?
        else {
            anyhow::bail!("account {account_id} vanished while loading");
        };
        let mut inner = Inner::from_cluster(&read, now, self.outbox.is_some());
        inner.publish_all(now);
        inner.adopt_published(&read);
        let live = self.make_live(inner);
        if !derived.is_empty() {
            cluster.announce(&live.id).await;
        }
        Ok(live)
    }

    /// Derives `live` under its lock and refreshes this node from what was
    /// read. `changed`: this node changed the account (announce it even when
    /// no status changed, so other nodes refresh their records).
    pub async fn cluster_derive(&self, live: &AccountLive, changed: bool) -> Result<()> {
        let cluster = self.cluster()?;
        let now = self.clock.now();
        let email_replies = self.outbox.is_some();
        let hooks = self.status_webhooks(&live.id).await;
        let derive = move |read: &ClusterAccount, next: u64| {
            derive_cluster(read, next, now, email_replies, &hooks)
        };
        let result = cluster
            .store
            .derive_locked(&live.id, self.alive_after(), &derive)
            .await?;
        let Some((read, derived)) = result else {
            return Ok(());
        };
        self.refresh(live, &read, now);
        if !derived.outbox.is_empty() {
            self.webhooks.wake();
        }
        if changed || !derived.is_empty() {
            cluster.announce(&live.id).await;
        }
        Ok(())
    }

    /// Refreshes `live` from the store: after another node announced a
    /// change, or when this node may have missed announcements.
    pub async fn cluster_reload(&self, live: &AccountLive) -> Result<()> {
        let cluster = self.cluster()?;
        let read = cluster
            .store
            .load_cluster_account(&live.id, self.alive_after())
            .await?;
        match read {
            Some(read) => self.refresh(live, &read, self.clock.now()),
            None => self.forget_account(live),
        }
        Ok(())
    }

    /// The live account with this id, if this node has it.
    pub fn account_by_id(&self, id: &str) -> Option<Arc<AccountLive>> {
        lock(&self.accounts).values().find(|l| l.id == id).cloned()
    }

    /// Every account this node has.
    pub fn accounts(&self) -> Vec<Arc<AccountLive>> {
        lock(&self.accounts).values().cloned().collect()
    }

    fn refresh(&self, live: &AccountLive, read: &ClusterAccount, now: Timestamp) {
        let local = lock(&live.local_streams).clone();
        let new_sessions = {
            let mut inner = live.lock();
            let new_sessions = inner.refresh_from(read, &local, now);
            inner.adopt_published(read);
            inner.publish_site_and_agents(now);
            new_sessions
        };
        // (An account being installed has no entry yet; make_live indexes it.)
        if let Some(shared) = self.account_by_id(&live.id) {
            let mut tokens = lock(&self.tokens);
            for (hash, id) in new_sessions {
                tokens.insert(hash, (Arc::clone(&shared), id));
            }
        }
        live.timer.notify_one();
    }

    /// An account deleted elsewhere: its streams end.
    fn forget_account(&self, live: &AccountLive) {
        lock(&self.accounts).retain(|_, l| l.id != live.id);
        let mut inner = live.lock();
        inner.scopes.clear();
        inner.sessions.clear();
        inner.agent_feeds.clear();
    }
}

/// The scopes whose snapshot differs from what was last published, as JSON
/// with the version `next`, the scopes that are gone, and the
/// `status.changed` deliveries to `hooks` the changes cause.
fn derive_cluster(
    read: &ClusterAccount,
    next: u64,
    now: Timestamp,
    email_replies: bool,
    hooks: &[WebhookRecord],
) -> Derived {
    let inner = Inner::from_cluster(read, now, email_replies);
    let slug = &inner.account.slug;
    let mut published: HashMap<&str, ScopeSnapshot> = read
        .published
        .iter()
        .filter_map(|p| {
            serde_json::from_str::<ScopeSnapshot>(&p.snapshot)
                .ok()
                .map(|s| (p.scope.as_str(), s))
        })
        .collect();
    let mut derived = Derived::default();
    let mut changed = Vec::new();
    for scope in inner.model.scopes() {
        let key = scope_key(&scope);
        let mut snapshots = inner.model.snapshots(slug, &scope, now, 0);
        let before = published.remove(key.as_str());
        if let Some(before) = &before {
            snapshots.snapshot.version = before.snapshot.version;
            if *before == snapshots {
                continue;
            }
        }
        snapshots.snapshot.version = next;
        derived.changed.push((key, sse::json(&snapshots)));
        if before.is_none_or(|b| !same_but_version(&b.snapshot, &snapshots.snapshot)) {
            changed.push(snapshots.snapshot);
        }
    }
    derived.outbox = status_deliveries(hooks, slug, &changed, now);
    derived.removed = read
        .published
        .iter()
        .filter(|p| published.contains_key(p.scope.as_str()))
        .map(|p| p.scope.clone())
        .collect();
    derived
}

/// The `status.changed` deliveries of changed scopes: one per snapshot and
/// webhook that subscribes.
fn status_deliveries(
    hooks: &[WebhookRecord],
    slug: &str,
    changed: &[StatusSnapshot],
    now: Timestamp,
) -> Vec<OutboxItem> {
    changed
        .iter()
        .flat_map(|snapshot| {
            webhooks::deliveries(hooks, Event::StatusChanged, slug, None, snapshot, now)
        })
        .collect()
}

fn scope_key(scope: &Scope) -> String {
    scope.group().unwrap_or_default().to_owned()
}

fn scope_of_key(key: &str) -> Scope {
    if key.is_empty() {
        Scope::Site
    } else {
        Scope::Group(key.to_owned())
    }
}

impl Inner {
    /// The state of an account as read by a node of a cluster.
    fn from_cluster(read: &ClusterAccount, now: Timestamp, email_replies: bool) -> Inner {
        let data = &read.data;
        let sessions = data
            .sessions
            .iter()
            .map(|record| {
                (
                    record.id.clone(),
                    SessionInfo {
                        record: record.clone(),
                        closer: watch::Sender::new(()),
                    },
                )
            })
            .collect();
        let mut inner = Inner {
            account: data.account.clone(),
            agents: data
                .agents
                .iter()
                .map(|a| (a.id.clone(), a.clone()))
                .collect(),
            groups: data
                .groups
                .iter()
                .map(|g| (g.key.clone(), g.clone()))
                .collect(),
            sessions,
            model: AccountState::default(),
            derived_at: now,
            version: data.version,
            scopes: BTreeMap::new(),
            site: Published::new(
                SiteEvent {
                    site: Status::Offline,
                    groups: BTreeMap::new(),
                },
                Bytes::new(),
            ),
            agent_feeds: HashMap::new(),
            email_replies,
        };
        inner.sync_model();
        inner.set_cluster_presence(read, &HashMap::new());
        inner.model.waiting = waiting_of(data);
        inner
    }

    /// Presence as the cluster knows it: the stored last sign of life (this
    /// node's own may be newer), a stream on any live node.
    fn set_cluster_presence(&mut self, read: &ClusterAccount, local: &HashMap<String, u32>) {
        for record in &read.data.sessions {
            let streaming = read.streaming.contains(&record.id)
                || local.get(&record.id).is_some_and(|n| *n > 0);
            if let Some(presence) = self.presence_mut(&record.agent_id, &record.id) {
                presence.last_seen = presence.last_seen.max(record.last_seen);
                presence.open_streams = u32::from(streaming);
            }
        }
    }

    /// Makes the records what the store holds, keeping what this node knows
    /// better (its own streams, a newer sign of life). Ended sessions end
    /// their streams here. Returns the new sessions' token hashes.
    fn refresh_from(
        &mut self,
        read: &ClusterAccount,
        local: &HashMap<String, u32>,
        now: Timestamp,
    ) -> Vec<([u8; 32], String)> {
        let data = &read.data;
        self.account = data.account.clone();
        self.agents = data
            .agents
            .iter()
            .map(|a| (a.id.clone(), a.clone()))
            .collect();
        self.groups = data
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.clone()))
            .collect();
        let stored: HashMap<&str, &SessionRecord> =
            data.sessions.iter().map(|s| (s.id.as_str(), s)).collect();
        self.sessions
            .retain(|id, _| stored.contains_key(id.as_str()));
        let mut new_sessions = Vec::new();
        for record in &data.sessions {
            match self.sessions.get_mut(&record.id) {
                Some(info) => info.record = record.clone(),
                None => {
                    new_sessions.push((record.token_hash, record.id.clone()));
                    self.sessions.insert(
                        record.id.clone(),
                        SessionInfo {
                            record: record.clone(),
                            closer: watch::Sender::new(()),
                        },
                    );
                }
            }
        }
        self.sync_model();
        self.set_cluster_presence(read, local);
        self.model.waiting = waiting_of(data);
        self.version = self.version.max(data.version);
        self.derived_at = now;
        new_sessions
    }

    /// Publishes what the cluster last told each scope, where it is newer
    /// than what this node's streams have; drops the feeds of scopes gone.
    fn adopt_published(&mut self, read: &ClusterAccount) {
        let mut seen = BTreeSet::new();
        for published in &read.published {
            let Ok(snapshots) = serde_json::from_str::<ScopeSnapshot>(&published.snapshot) else {
                tracing::error!(scope = %published.scope, "unreadable stored snapshot");
                continue;
            };
            let scope = scope_of_key(&published.scope);
            seen.insert(scope.clone());
            match self.scopes.get_mut(&scope) {
                Some(current) if current.value.snapshot.version >= snapshots.snapshot.version => {}
                // The same snapshot under a newer version (another node
                // published it too) is not pushed: `replace` pushes only
                // what changed for a chat box.
                Some(current) => current.replace(snapshots),
                None => {
                    self.scopes.insert(scope, ScopeFeed::new(snapshots));
                }
            }
            self.version = self.version.max(published.version);
        }
        self.scopes.retain(|scope, _| seen.contains(scope));
    }
}

fn waiting_of(data: &AccountData) -> BTreeMap<String, Waiting> {
    data.waiting
        .iter()
        .map(|w| {
            let waiting = Waiting {
                group: w.group.clone(),
                since: w.since,
            };
            (w.conversation_id.clone(), waiting)
        })
        .collect()
}

/// Locks a std mutex. Critical sections here never panic half-way through a
/// change, so a poisoned lock still guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
