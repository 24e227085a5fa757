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
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use onair_shared::conversation::Waiting;
use onair_shared::model::{AccountState, AgentState, GroupState, Scope, SessionPresence, Settings};
use onair_shared::office_hours::{OfficeHours, OfficeHoursSpec};
use onair_shared::wire::{self, SiteEvent, Status, StatusSnapshot};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::conversations;
use crate::error::{Error, Result};
use crate::limits::{LoginLimiter, RateLimiter};
use crate::metrics::{Metrics, SessionCounts};
use crate::sse;
use crate::store::{AccountData, AccountRecord, AgentRecord, GroupRecord, SessionRecord, Store};

/// How often open streams get a keep-alive comment (CONTRACT: at least every 30 s).
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(20);
const SHUTDOWN_AT: &str = "shutdown_at";

/// SHA-256 of a bearer token.
pub type TokenHash = [u8; 32];

/// How a [`Hub`] keeps time.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub clock: Clock,
    /// How often open streams get a keep-alive comment.
    pub keep_alive: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            clock: Clock::System,
            keep_alive: KEEP_ALIVE_EVERY,
        }
    }
}

#[derive(Debug)]
pub struct Hub {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Visitor-message rate limits (CONTRACT §3).
    pub limits: RateLimiter,
    /// Login limits (CONTRACT §8).
    pub logins: LoginLimiter,
    accounts: Mutex<HashMap<String, Arc<AccountLive>>>,
    /// SHA-256 of a bearer token → the account holding that session.
    tokens: Mutex<HashMap<TokenHash, (Arc<AccountLive>, String)>>,
    /// Serialises account creation against the lazy loading of accounts.
    creating: tokio::sync::Mutex<()>,
    keep_alive: watch::Sender<()>,
    shutdown: watch::Sender<bool>,
    started_at: Timestamp,
    me: Weak<Hub>,
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
    pub conversations: conversations::Feeds,
}

/// An account's directory, presence and what has been published.
#[derive(Debug)]
pub struct Inner {
    pub account: AccountRecord,
    pub agents: BTreeMap<String, AgentRecord>,
    pub groups: BTreeMap<String, GroupRecord>,
    pub sessions: HashMap<String, SessionInfo>,
    /// The model the derivation reads; rebuilt from the records by `sync_model`.
    pub model: AccountState,
    /// The instant of the last derivation. The timer's next deadline is the
    /// first possible change after it, not after "now": a boundary passed
    /// between a derivation and the timer's next look must still be met.
    derived_at: Timestamp,
    version: u64,
    scopes: BTreeMap<Scope, Published<StatusSnapshot>>,
    site: Published<SiteEvent>,
    agent_feeds: HashMap<String, Published<wire::Agent>>,
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

impl Hub {
    /// Loads every stored account and starts their timers.
    pub async fn load(store: Arc<dyn Store>, options: HubOptions) -> anyhow::Result<Arc<Hub>> {
        let HubOptions { clock, keep_alive } = options;
        let now = clock.now();
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
            keep_alive: watch::Sender::new(()),
            shutdown: watch::Sender::new(false),
            started_at: now,
            me: me.clone(),
        });
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
                hub.keep_alive.send_replace(());
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
        let now = self.clock.now();
        // One change may have been published but not yet stored when the
        // process died; starting two past the stored counter stays ahead of it.
        let version = data.version + 2;
        self.store.set_version(&data.account.id, version).await?;
        let grace = data.account.grace_seconds;
        let mut sessions = HashMap::new();
        for record in data.sessions {
            // CONTRACT §1.1: a session present when the server went away counts
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
        let live = Arc::new(AccountLive {
            id: inner.account.id.clone(),
            slug: inner.account.slug.clone(),
            write: tokio::sync::Mutex::default(),
            timer: Notify::new(),
            inner: Mutex::new(inner),
            conversations: conversations::Feeds::default(),
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
        Ok(live)
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
                writer.apply(|_, _| ()).await;
                conversations::send_due_replies(&writer).await;
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

    pub fn index_token(&self, token_hash: [u8; 32], live: &Arc<AccountLive>, session_id: &str) {
        lock(&self.tokens).insert(token_hash, (Arc::clone(live), session_id.to_owned()));
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
            presence.last_seen = presence.last_seen.max(now);
            was_present
        };
        // Present before and after: no derived status can change, and the
        // timer finds the later grace end when it next wakes.
        if !was_present {
            self.writer(live).await.apply(|_, _| ()).await;
        }
    }

    pub fn signals(&self) -> sse::Signals {
        sse::Signals {
            keep_alive: self.keep_alive.subscribe(),
            shutdown: self.shutdown.subscribe(),
        }
    }

    /// Ends every stream and records when the server stopped (for the restart rule).
    pub async fn shut_down(&self) {
        self.shutdown.send_replace(true);
        let now = self.clock.now().max(self.started_at);
        // Authenticated requests are signs of life that only memory knows of
        // (storing each would cost a write per request). Store them now, or a
        // session present only through them would not count as present after
        // the restart (CONTRACT §1.1).
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

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
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
            busy_message: String::new(),
            offline_message: String::new(),
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
        };
        AccountLive {
            id: inner.account.id.clone(),
            slug: slug.to_owned(),
            write: tokio::sync::Mutex::default(),
            inner: Mutex::new(inner),
            timer: Notify::new(),
            conversations: conversations::Feeds::default(),
        }
    }

    /// The current snapshot of a scope; 404 for an unknown group.
    pub fn snapshot(&self, scope: &Scope) -> Result<StatusSnapshot> {
        let inner = self.lock();
        inner
            .scopes
            .get(scope)
            .map(|p| p.value.clone())
            .ok_or_else(|| unknown_group(scope))
    }

    /// A subscription to a scope's status frames, with the current one.
    pub fn subscribe_scope(&self, scope: &Scope) -> Result<watch::Receiver<Bytes>> {
        let inner = self.lock();
        let published = inner
            .scopes
            .get(scope)
            .ok_or_else(|| unknown_group(scope))?;
        Ok(published.tx.subscribe())
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

    /// Changes the live state, re-derives every scope, publishes what really
    /// changed and stores the new version. Call after the store write succeeded.
    pub async fn apply<T>(&self, f: impl FnOnce(&mut Inner, Timestamp) -> T) -> T {
        let now = self.hub.clock.now();
        let (out, bumped) = {
            let mut inner = self.live.lock();
            let out = f(&mut inner, now);
            (out, inner.publish_changes(now))
        };
        // The deadline may have moved.
        self.live.timer.notify_one();
        if let Some(version) = bumped {
            if let Err(e) = self.hub.store.set_version(&self.live.id, version).await {
                tracing::error!(error = %e, account = %self.live.slug, "could not store the version");
            }
        }
        out
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
            agent.chosen = record.status;
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
            let snapshot = self.model.snapshot(&slug, &scope, now, self.version);
            let frame = sse::frame("status", Some(snapshot.version), &snapshot);
            self.scopes.insert(scope, Published::new(snapshot, frame));
        }
        let site = self.model.site_event(now);
        self.site = Published::new(site.clone(), sse::frame("site", None, &site));
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            if let Some(view) = self.agent_view(&id, now) {
                let frame = sse::frame("agent", None, &view);
                self.agent_feeds.insert(id, Published::new(view, frame));
            }
        }
    }

    /// Re-derives every feed and publishes those that really changed. Returns
    /// the new version when any scope changed.
    fn publish_changes(&mut self, now: Timestamp) -> Option<u64> {
        self.derived_at = now;
        let slug = self.account.slug.clone();
        let mut next_version = None;
        let live_scopes: BTreeSet<Scope> = self.model.scopes().collect();
        // A deleted group's feed is dropped, which ends its streams.
        self.scopes.retain(|scope, _| live_scopes.contains(scope));
        for scope in live_scopes {
            let mut snapshot = self.model.snapshot(&slug, &scope, now, 0);
            if let Some(published) = self.scopes.get(&scope) {
                snapshot.version = published.value.version;
                if published.value == snapshot {
                    continue;
                }
            }
            let version = *next_version.get_or_insert(self.version + 1);
            snapshot.version = version;
            let frame = sse::frame("status", Some(version), &snapshot);
            match self.scopes.get_mut(&scope) {
                Some(published) => {
                    published.tx.send_replace(frame);
                    published.value = snapshot;
                }
                None => {
                    self.scopes.insert(scope, Published::new(snapshot, frame));
                }
            }
        }
        if let Some(version) = next_version {
            self.version = version;
        }

        let site = self.model.site_event(now);
        if site != self.site.value {
            self.site.tx.send_replace(sse::frame("site", None, &site));
            self.site.value = site;
        }

        self.agent_feeds
            .retain(|id, _| self.agents.contains_key(id));
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            let Some(view) = self.agent_view(&id, now) else {
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
        next_version
    }
}

/// Locks a std mutex. Critical sections here never panic half-way through a
/// change, so a poisoned lock still guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
