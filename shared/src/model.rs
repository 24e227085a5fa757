//! Accounts, agents, groups and session presence, and the derivation of what a
//! chat box shows (docs/status.md).
//!
//! Everything is a function of an [`AccountState`] and an instant `now`; the
//! server keeps one `AccountState` per account in memory and re-derives after
//! every change and at every deadline [`AccountState::next_deadline`] names.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::conversation::{self, Waiting};
use crate::office_hours::{NEXT_CHANGE_HORIZON_DAYS, OfficeHours};
use crate::wire::{Lang, LocalText, Reason, SiteEvent, Status, StatusSnapshot};

/// Default seconds a session stays present after its last sign of life.
pub const DEFAULT_GRACE_SECONDS: u32 = 120;
/// The largest `grace_seconds` an account may set.
pub const MAX_GRACE_SECONDS: u32 = 3600;
/// Default seconds before an unanswered visitor gets the busy reply.
pub const DEFAULT_BUSY_AFTER_SECONDS: u32 = 45;

/// The chat box's built-in message for `status` in `lang`, when the account
/// gives none (docs/status.md). Offline, it promises an answer by email only
/// when the server sends email replies.
pub fn builtin_message(status: Status, lang: Lang, email_replies: bool) -> Option<&'static str> {
    Some(match (status, lang, email_replies) {
        (Status::Online, ..) => return None,
        (Status::Busy, Lang::En, _) => "We’re busy right now — we’ll be back shortly.",
        (Status::Busy, Lang::Fr, _) => {
            "Nous sommes occupés pour le moment — nous revenons très vite."
        }
        (Status::Busy, Lang::De, _) => {
            "Wir sind gerade sehr beschäftigt — wir sind gleich wieder für Sie da."
        }
        (Status::Busy, Lang::It, _) => "Al momento siamo occupati — torniamo a breve.",
        (Status::Busy, Lang::Es, _) => "Ahora mismo estamos ocupados — volvemos enseguida.",
        (Status::Offline, Lang::En, true) => {
            "Leave us a message and we’ll get back to you by email."
        }
        (Status::Offline, Lang::En, false) => "Leave us a message and we’ll get back to you.",
        (Status::Offline, Lang::Fr, true) => {
            "Laissez-nous un message et nous vous répondrons par e-mail."
        }
        (Status::Offline, Lang::Fr, false) => "Laissez-nous un message et nous vous répondrons.",
        (Status::Offline, Lang::De, true) => {
            "Hinterlassen Sie uns eine Nachricht, wir antworten Ihnen per E-Mail."
        }
        (Status::Offline, Lang::De, false) => {
            "Hinterlassen Sie uns eine Nachricht, wir melden uns bei Ihnen."
        }
        (Status::Offline, Lang::It, true) => "Lasciaci un messaggio e ti risponderemo via email.",
        (Status::Offline, Lang::It, false) => "Lasciaci un messaggio e ti risponderemo.",
        (Status::Offline, Lang::Es, true) => {
            "Déjanos un mensaje y te responderemos por correo electrónico."
        }
        (Status::Offline, Lang::Es, false) => "Déjanos un mensaje y te responderemos.",
    })
}

/// A scope's snapshot in every chat box language: the English one and, for
/// the other languages, the message where it differs. What a server
/// publishes per scope, and what cluster nodes store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSnapshot {
    #[serde(flatten)]
    pub snapshot: StatusSnapshot,
    /// The message in French, German, Italian and Spanish (English is the
    /// snapshot's own).
    #[serde(default)]
    pub messages: BTreeMap<Lang, String>,
}

impl ScopeSnapshot {
    /// The snapshot a chat box in `lang` receives.
    pub fn in_lang(&self, lang: Lang) -> StatusSnapshot {
        let mut snapshot = self.snapshot.clone();
        if lang != Lang::En {
            snapshot.message = self.messages.get(&lang).cloned();
        }
        snapshot
    }
}

/// The part of an account's settings the derivation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub grace_seconds: u32,
    /// The account's busy message; `None`: the built-in one.
    pub busy_message: Option<LocalText>,
    /// The account's offline message; `None`: the built-in one.
    pub offline_message: Option<LocalText>,
    pub hide_when_offline: bool,
    /// Seconds a waiting visitor waits for an agent before the busy reply.
    pub busy_after_seconds: u32,
    /// Whether the server emails agents' replies to visitors (it has SMTP):
    /// a chat box promises an answer by email only then.
    pub email_replies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_seconds: DEFAULT_GRACE_SECONDS,
            busy_message: None,
            offline_message: None,
            hide_when_offline: false,
            busy_after_seconds: DEFAULT_BUSY_AFTER_SECONDS,
            email_replies: false,
        }
    }
}

/// Everything about one account that decides what its chat boxes show.
#[derive(Clone, Debug, Default)]
pub struct AccountState {
    pub settings: Settings,
    /// The account's office hours; `None` means none were ever set.
    pub office_hours: Option<OfficeHours>,
    /// Groups by key.
    pub groups: BTreeMap<String, GroupState>,
    /// Agents by id.
    pub agents: BTreeMap<String, AgentState>,
    /// Conversations whose busy reply is pending, by id (see [`conversation`]).
    pub waiting: BTreeMap<String, Waiting>,
}

#[derive(Clone, Debug, Default)]
pub struct GroupState {
    /// The group's own office hours, which replace the account's for it.
    pub office_hours: Option<OfficeHours>,
}

#[derive(Clone, Debug)]
pub struct AgentState {
    pub chosen: Status,
    pub groups: BTreeSet<String>,
    /// Sessions (devices) by id.
    pub sessions: BTreeMap<String, SessionPresence>,
}

impl AgentState {
    pub fn new(chosen: Status) -> AgentState {
        AgentState {
            chosen,
            groups: BTreeSet::new(),
            sessions: BTreeMap::new(),
        }
    }

    /// docs/status.md: every agent counts for the site; for group `g`, the
    /// agents in `g` and every agent in no group.
    pub fn is_eligible(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Site => true,
            Scope::Group(key) => self.groups.is_empty() || self.groups.contains(key),
        }
    }
}

/// What makes a session present: open agent streams, or a recent sign of life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPresence {
    pub open_streams: u32,
    pub last_seen: Timestamp,
}

impl SessionPresence {
    pub fn seen_at(last_seen: Timestamp) -> SessionPresence {
        SessionPresence {
            open_streams: 0,
            last_seen,
        }
    }

    /// Present while a stream is open, and until `last_seen + grace` (exclusive).
    pub fn is_present(&self, now: Timestamp, grace_seconds: u32) -> bool {
        self.open_streams > 0 || now < self.grace_ends(grace_seconds)
    }

    /// The instant this session stops being present if nothing happens.
    pub fn grace_ends(&self, grace_seconds: u32) -> Timestamp {
        self.last_seen
            .saturating_add(SignedDuration::from_secs(i64::from(grace_seconds)))
            .unwrap_or(Timestamp::MAX)
    }
}

/// A chat box's scope: the whole site or one group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Site,
    Group(String),
}

impl Scope {
    pub fn group(&self) -> Option<&str> {
        match self {
            Scope::Site => None,
            Scope::Group(key) => Some(key),
        }
    }
}

/// The derived status of a scope and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Derived {
    pub status: Status,
    pub reason: Reason,
}

/// docs/status.md: what the chat box of `scope` shows at `now`.
///
/// An unknown group derives as a group with no members of its own (only the
/// ungrouped agents count); callers reject unknown groups before asking.
pub fn derive(state: &AccountState, scope: &Scope, now: Timestamp) -> Derived {
    if let Some(hours) = state.office_hours_for(scope) {
        if !hours.is_open(now) {
            return Derived {
                status: Status::Offline,
                reason: Reason::OutsideOfficeHours,
            };
        }
    }
    let mut any_busy = false;
    for agent in state.eligible_agents(scope) {
        if !state.is_available(agent, now) {
            continue;
        }
        match agent.chosen {
            Status::Online => {
                return Derived {
                    status: Status::Online,
                    reason: Reason::AgentsOnline,
                };
            }
            Status::Busy => any_busy = true,
            Status::Offline => {}
        }
    }
    if any_busy {
        Derived {
            status: Status::Busy,
            reason: Reason::AgentsBusy,
        }
    } else {
        Derived {
            status: Status::Offline,
            reason: Reason::NoAgentAvailable,
        }
    }
}

impl AccountState {
    /// The office hours that govern `scope`: a group's own replace the account's.
    pub fn office_hours_for(&self, scope: &Scope) -> Option<&OfficeHours> {
        let own = scope
            .group()
            .and_then(|key| self.groups.get(key))
            .and_then(|group| group.office_hours.as_ref());
        own.or(self.office_hours.as_ref())
    }

    /// Site: every agent. Group `g`: agents in `g` plus every agent in no group.
    pub fn eligible_agents<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> impl Iterator<Item = &'a AgentState> + 'a {
        self.eligible_agent_ids(scope).map(|(_, agent)| agent)
    }

    /// [`eligible_agents`](Self::eligible_agents) with each agent's id: who
    /// hears of a scope's conversations (its streams, its notifications).
    pub fn eligible_agent_ids<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> impl Iterator<Item = (&'a str, &'a AgentState)> + 'a {
        self.agents
            .iter()
            .filter(move |(_, agent)| agent.is_eligible(scope))
            .map(|(id, agent)| (id.as_str(), agent))
    }

    /// Chosen `online` or `busy`, and at least one session present.
    pub fn is_available(&self, agent: &AgentState, now: Timestamp) -> bool {
        agent.chosen != Status::Offline && self.has_present_session(agent, now)
    }

    pub fn has_present_session(&self, agent: &AgentState, now: Timestamp) -> bool {
        let grace = self.settings.grace_seconds;
        agent
            .sessions
            .values()
            .any(|session| session.is_present(now, grace))
    }

    /// Every scope of the account: the site, then each group by key.
    pub fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        std::iter::once(Scope::Site).chain(self.groups.keys().cloned().map(Scope::Group))
    }

    /// The next instant strictly after `now` at which a derived status could
    /// change with nothing else happening: a present session's grace running
    /// out, or an office-hours boundary of any scope. The server sleeps until
    /// then instead of polling.
    pub fn next_deadline(&self, now: Timestamp) -> Option<Timestamp> {
        let grace = self.settings.grace_seconds;
        let grace_ends = self
            .agents
            .values()
            .flat_map(|agent| agent.sessions.values())
            .filter(|session| session.open_streams == 0)
            .map(|session| session.grace_ends(grace))
            .filter(|&end| end > now);
        // `next_change` looks 14 days ahead; enabled hours with no change in
        // that window get a re-check at its end, so a boundary further away is
        // still met on time.
        let recheck = now
            .saturating_add(SignedDuration::from_hours(24 * NEXT_CHANGE_HORIZON_DAYS))
            .unwrap_or(Timestamp::MAX);
        let office_hours = self
            .office_hours
            .iter()
            .chain(
                self.groups
                    .values()
                    .filter_map(|group| group.office_hours.as_ref()),
            )
            .filter(|hours| hours.enabled())
            .map(|hours| hours.next_change(now).unwrap_or(recheck));
        grace_ends.chain(office_hours).min()
    }

    /// The scope a conversation of `group` belongs to. A conversation whose
    /// group has been deleted counts as the site's.
    pub fn conversation_scope(&self, group: Option<&str>) -> Scope {
        match group {
            Some(key) if self.groups.contains_key(key) => Scope::Group(key.to_owned()),
            _ => Scope::Site,
        }
    }

    /// The earliest instant a waiting conversation's busy reply falls due. It
    /// may already have passed: the caller then acts at once.
    pub fn next_busy_reply(&self) -> Option<Timestamp> {
        let busy_after = self.settings.busy_after_seconds;
        self.waiting
            .values()
            .map(|waiting| conversation::due(waiting.since, busy_after))
            .min()
    }

    /// The waiting conversations whose busy reply is due at `now`, each with
    /// the status its scope shows then.
    pub fn busy_replies_due(&self, now: Timestamp) -> Vec<(String, Status)> {
        let busy_after = self.settings.busy_after_seconds;
        self.waiting
            .iter()
            .filter(|(_, waiting)| conversation::due(waiting.since, busy_after) <= now)
            .map(|(id, waiting)| {
                let scope = self.conversation_scope(waiting.group.as_deref());
                (id.clone(), derive(self, &scope, now).status)
            })
            .collect()
    }

    /// The full snapshot a chat box of `scope` in `lang` receives.
    pub fn snapshot(
        &self,
        account: &str,
        scope: &Scope,
        now: Timestamp,
        version: u64,
        lang: Lang,
    ) -> StatusSnapshot {
        let Derived { status, reason } = derive(self, scope, now);
        let next_change = self
            .office_hours_for(scope)
            .and_then(|hours| hours.next_change(now));
        StatusSnapshot {
            account: account.to_owned(),
            group: scope.group().map(str::to_owned),
            status,
            reason,
            message: self.message(status, lang),
            next_change,
            version,
            hide_when_offline: self.settings.hide_when_offline,
            email_replies: self.settings.email_replies,
        }
    }

    /// A scope's snapshot in every language at once (what the server
    /// publishes; docs/status.md).
    pub fn snapshots(
        &self,
        account: &str,
        scope: &Scope,
        now: Timestamp,
        version: u64,
    ) -> ScopeSnapshot {
        let snapshot = self.snapshot(account, scope, now, version, Lang::En);
        let messages = Lang::ALL[1..]
            .iter()
            .filter_map(|&lang| Some((lang, self.message(snapshot.status, lang)?)))
            .collect();
        ScopeSnapshot { snapshot, messages }
    }

    /// The busy or offline message in `lang`: the account's own for that
    /// language unless it is blank, else the built-in one.
    pub fn message(&self, status: Status, lang: Lang) -> Option<String> {
        let custom = match status {
            Status::Online => return None,
            Status::Busy => self.settings.busy_message.as_ref(),
            Status::Offline => self.settings.offline_message.as_ref(),
        };
        let own = custom
            .and_then(|text| text.get(lang))
            .map(str::trim)
            .filter(|text| !text.is_empty());
        own.or_else(|| builtin_message(status, lang, self.settings.email_replies))
            .map(str::to_owned)
    }

    /// `event: site` for agent streams.
    pub fn site_event(&self, now: Timestamp) -> SiteEvent {
        SiteEvent {
            site: derive(self, &Scope::Site, now).status,
            groups: self
                .groups
                .keys()
                .map(|key| {
                    (
                        key.clone(),
                        derive(self, &Scope::Group(key.clone()), now).status,
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
