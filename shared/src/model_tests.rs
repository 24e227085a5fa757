//! The rules of docs/status.md as the model derives them. Each test names the
//! rule it guards; breaking the rule breaks the test.

use super::*;
use crate::office_hours::OfficeHoursSpec;

use Status::{Busy, Offline, Online};

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

const ONLINE: Derived = Derived {
    status: Online,
    reason: Reason::AgentsOnline,
};
const BUSY: Derived = Derived {
    status: Busy,
    reason: Reason::AgentsBusy,
};
const NO_AGENT: Derived = Derived {
    status: Offline,
    reason: Reason::NoAgentAvailable,
};
const CLOSED: Derived = Derived {
    status: Offline,
    reason: Reason::OutsideOfficeHours,
};

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamps are RFC 3339")
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// Monday 2026-11-23, 10:00 UTC: inside the weekday business hours below.
fn now() -> Timestamp {
    at("2026-11-23T10:00:00Z")
}

/// Long before [`now`], far outside any grace period.
fn long_ago() -> Timestamp {
    at("2026-11-01T00:00:00Z")
}

fn site() -> Scope {
    Scope::Site
}

fn group(key: &str) -> Scope {
    Scope::Group(key.to_owned())
}

fn agent(chosen: Status, groups: &[&str]) -> AgentState {
    let mut agent = AgentState::new(chosen);
    agent.groups = groups.iter().map(|&key| key.to_owned()).collect();
    agent
}

trait AgentBuilder {
    /// A session (device) with no open stream whose last sign of life was `last_seen`.
    fn with_session(self, last_seen: Timestamp) -> Self;
    /// A session with an open agent stream and an old last sign of life, so
    /// only the stream can make it present.
    fn with_stream(self) -> Self;
}

impl AgentBuilder for AgentState {
    fn with_session(mut self, last_seen: Timestamp) -> Self {
        let id = format!("session-{}", self.sessions.len());
        self.sessions
            .insert(id, SessionPresence::seen_at(last_seen));
        self
    }

    fn with_stream(mut self) -> Self {
        let id = format!("session-{}", self.sessions.len());
        let presence = SessionPresence {
            open_streams: 1,
            last_seen: long_ago(),
        };
        self.sessions.insert(id, presence);
        self
    }
}

/// An account whose agents get the ids `agent-0`, `agent-1`, … in order.
fn account(agents: impl IntoIterator<Item = AgentState>) -> AccountState {
    let mut state = AccountState::default();
    for (index, agent) in agents.into_iter().enumerate() {
        state.agents.insert(format!("agent-{index}"), agent);
    }
    state
}

trait AccountBuilder {
    fn with_groups(self, keys: &[&str]) -> Self;
    fn with_grace(self, grace_seconds: u32) -> Self;
    fn with_office_hours(self, json: &str) -> Self;
    fn with_group_office_hours(self, key: &str, json: &str) -> Self;
}

impl AccountBuilder for AccountState {
    fn with_groups(mut self, keys: &[&str]) -> Self {
        for &key in keys {
            self.groups.entry(key.to_owned()).or_default();
        }
        self
    }

    fn with_grace(mut self, grace_seconds: u32) -> Self {
        self.settings.grace_seconds = grace_seconds;
        self
    }

    fn with_office_hours(mut self, json: &str) -> Self {
        self.office_hours = Some(office_hours(json));
        self
    }

    fn with_group_office_hours(mut self, key: &str, json: &str) -> Self {
        self.groups.entry(key.to_owned()).or_default().office_hours = Some(office_hours(json));
        self
    }
}

fn office_hours(json: &str) -> OfficeHours {
    let spec: OfficeHoursSpec =
        serde_json::from_str(json).expect("test office hours are valid JSON");
    OfficeHours::parse(&spec).expect("test office hours are valid")
}

/// Monday to Friday, 09:00–17:00 UTC.
const WEEKDAYS_9_TO_17: &str = r#"{
    "enabled": true,
    "timezone": "UTC",
    "weekly": {
        "mon": [{"from": "09:00", "to": "17:00"}],
        "tue": [{"from": "09:00", "to": "17:00"}],
        "wed": [{"from": "09:00", "to": "17:00"}],
        "thu": [{"from": "09:00", "to": "17:00"}],
        "fri": [{"from": "09:00", "to": "17:00"}]
    }
}"#;

/// Monday 18:00–23:00 UTC only: open when the weekday hours are closed.
const MONDAY_EVENING: &str = r#"{
    "enabled": true,
    "timezone": "UTC",
    "weekly": {"mon": [{"from": "18:00", "to": "23:00"}]}
}"#;

/// Monday 09:00–12:00 UTC only: closed on Monday afternoon while the weekday
/// hours are still open.
const MONDAY_MORNING: &str = r#"{
    "enabled": true,
    "timezone": "UTC",
    "weekly": {"mon": [{"from": "09:00", "to": "12:00"}]}
}"#;

/// Disabled, with a plan that would be closed at every instant the tests use
/// except Monday 09:00–10:00, so only `enabled: false` can make it open.
const DISABLED: &str = r#"{
    "enabled": false,
    "timezone": "UTC",
    "weekly": {"mon": [{"from": "09:00", "to": "10:00"}]}
}"#;

/// Asserts what each scope derives at `now`.
#[track_caller]
fn check(state: &AccountState, now: Timestamp, expect: &[(Scope, Derived)]) {
    for (scope, expected) in expect {
        assert_eq!(
            derive(state, scope, now),
            *expected,
            "scope {scope:?} at {now}"
        );
    }
}

/// Asserts what the site of an account with no groups derives at [`now`] for
/// each named set of agents.
#[track_caller]
fn check_site(cases: Vec<(&str, Vec<AgentState>, Derived)>) {
    for (name, agents, expected) in cases {
        let state = account(agents);
        assert_eq!(derive(&state, &site(), now()), expected, "{name}");
    }
}

// ---------------------------------------------------------------------------
// An account without groups
// ---------------------------------------------------------------------------

#[test]
fn account_without_groups_is_online_iff_at_least_one_available_agent_chose_online() {
    let recent = now() - secs(10);
    check_site(vec![
        (
            "one online agent with a stream",
            vec![agent(Online, &[]).with_stream()],
            ONLINE,
        ),
        (
            "one online agent seen recently",
            vec![agent(Online, &[]).with_session(recent)],
            ONLINE,
        ),
        (
            "one online agent without sessions",
            vec![agent(Online, &[])],
            NO_AGENT,
        ),
        (
            "one online agent whose grace ran out",
            vec![agent(Online, &[]).with_session(now() - secs(120))],
            NO_AGENT,
        ),
        (
            "an absent online agent and a present one",
            vec![agent(Online, &[]), agent(Online, &[]).with_session(recent)],
            ONLINE,
        ),
    ]);
}

#[test]
fn online_agent_takes_precedence_over_busy_agent() {
    // Both orders, so that neither agent's position in the map decides.
    check_site(vec![
        (
            "online then busy",
            vec![
                agent(Online, &[]).with_stream(),
                agent(Busy, &[]).with_stream(),
            ],
            ONLINE,
        ),
        (
            "busy then online",
            vec![
                agent(Busy, &[]).with_stream(),
                agent(Online, &[]).with_stream(),
            ],
            ONLINE,
        ),
    ]);
}

#[test]
fn only_busy_available_agents_make_the_chat_busy() {
    check_site(vec![
        ("one busy agent", vec![agent(Busy, &[]).with_stream()], BUSY),
        (
            "a busy agent and an online agent without sessions",
            vec![agent(Busy, &[]).with_stream(), agent(Online, &[])],
            BUSY,
        ),
        (
            "a busy agent and an online agent whose grace ran out",
            vec![
                agent(Online, &[]).with_session(now() - secs(600)),
                agent(Busy, &[]).with_stream(),
            ],
            BUSY,
        ),
        (
            "a busy agent whose grace ran out",
            vec![agent(Busy, &[]).with_session(now() - secs(600))],
            NO_AGENT,
        ),
    ]);
}

#[test]
fn chosen_offline_agent_with_a_present_session_does_not_count() {
    check_site(vec![
        (
            "offline with a stream",
            vec![agent(Offline, &[]).with_stream()],
            NO_AGENT,
        ),
        (
            "offline seen just now",
            vec![agent(Offline, &[]).with_session(now())],
            NO_AGENT,
        ),
        (
            "offline with a stream beside a busy agent",
            vec![
                agent(Offline, &[]).with_stream(),
                agent(Busy, &[]).with_stream(),
            ],
            BUSY,
        ),
    ]);
    let state = account([agent(Offline, &[]).with_stream()]);
    let offline = &state.agents["agent-0"];
    assert!(state.has_present_session(offline, now()));
    assert!(!state.is_available(offline, now()));
}

#[test]
fn account_without_agents_is_offline_with_no_agent_available() {
    check_site(vec![("no agents", vec![], NO_AGENT)]);
    let state = account([]).with_groups(&["sales"]);
    check(
        &state,
        now(),
        &[(site(), NO_AGENT), (group("sales"), NO_AGENT)],
    );
}

#[test]
fn chosen_status_belongs_to_the_agent_and_applies_to_every_device() {
    let mut state = account([agent(Online, &[]).with_stream().with_session(now())]);
    check(&state, now(), &[(site(), ONLINE)]);

    // Choosing a status once changes it for every session of the agent.
    state.agents.get_mut("agent-0").unwrap().chosen = Busy;
    check(&state, now(), &[(site(), BUSY)]);
    state.agents.get_mut("agent-0").unwrap().chosen = Offline;
    check(&state, now(), &[(site(), NO_AGENT)]);
    assert!(!state.is_available(&state.agents["agent-0"], now()));
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

#[test]
fn site_scope_counts_agents_of_every_group() {
    let state = account([
        agent(Busy, &["sales"]).with_stream(),
        agent(Online, &["support"]).with_stream(),
    ])
    .with_groups(&["sales", "support"]);
    check(&state, now(), &[(site(), ONLINE)]);

    let state =
        account([agent(Busy, &["support"]).with_stream()]).with_groups(&["sales", "support"]);
    check(&state, now(), &[(site(), BUSY)]);
}

#[test]
fn group_scope_counts_its_members_plus_ungrouped_agents() {
    let state = account([
        agent(Online, &["sales"]).with_stream(),
        agent(Busy, &[]).with_stream(),
    ])
    .with_groups(&["sales", "support"]);
    check(
        &state,
        now(),
        &[
            (site(), ONLINE),
            (group("sales"), ONLINE),
            (group("support"), BUSY),
        ],
    );
}

#[test]
fn ungrouped_agent_counts_for_every_group() {
    let state =
        account([agent(Online, &[]).with_stream()]).with_groups(&["sales", "support", "billing"]);
    check(
        &state,
        now(),
        &[
            (site(), ONLINE),
            (group("sales"), ONLINE),
            (group("support"), ONLINE),
            (group("billing"), ONLINE),
        ],
    );
}

#[test]
fn agent_in_another_group_does_not_count() {
    let state =
        account([agent(Online, &["support"]).with_stream()]).with_groups(&["sales", "support"]);
    check(
        &state,
        now(),
        &[(group("sales"), NO_AGENT), (group("support"), ONLINE)],
    );

    // Not even as busy: only its own groups see it.
    let state = account([
        agent(Busy, &["support"]).with_stream(),
        agent(Online, &["sales"]),
    ])
    .with_groups(&["sales", "support"]);
    check(
        &state,
        now(),
        &[(group("sales"), NO_AGENT), (group("support"), BUSY)],
    );
}

#[test]
fn agent_in_several_groups_counts_in_each() {
    let state = account([agent(Online, &["sales", "support"]).with_stream()])
        .with_groups(&["sales", "support", "billing"]);
    check(
        &state,
        now(),
        &[
            (site(), ONLINE),
            (group("sales"), ONLINE),
            (group("support"), ONLINE),
            (group("billing"), NO_AGENT),
        ],
    );
}

#[test]
fn groups_without_ungrouped_agents_see_only_their_members() {
    let state = account([
        agent(Busy, &["sales"]).with_stream(),
        agent(Online, &["support"]).with_stream(),
        agent(Online, &["billing"]),
    ])
    .with_groups(&["sales", "support", "billing"]);
    check(
        &state,
        now(),
        &[
            (site(), ONLINE),
            (group("sales"), BUSY),
            (group("support"), ONLINE),
            (group("billing"), NO_AGENT),
        ],
    );
}

#[test]
fn unavailable_ungrouped_agent_does_not_count_for_groups() {
    let state = account([
        agent(Busy, &["sales"]).with_stream(),
        agent(Online, &[]).with_session(long_ago()),
    ])
    .with_groups(&["sales", "support"]);
    check(
        &state,
        now(),
        &[
            (site(), BUSY),
            (group("sales"), BUSY),
            (group("support"), NO_AGENT),
        ],
    );
}

#[test]
fn unknown_group_sees_only_ungrouped_agents() {
    let state = account([
        agent(Online, &["sales"]).with_stream(),
        agent(Busy, &[]).with_stream(),
    ])
    .with_groups(&["sales"]);
    check(&state, now(), &[(group("nope"), BUSY)]);
}

// ---------------------------------------------------------------------------
// Presence, grace and logout
// ---------------------------------------------------------------------------

#[test]
fn session_with_an_open_stream_is_present_regardless_of_last_seen() {
    let session = SessionPresence {
        open_streams: 1,
        last_seen: long_ago(),
    };
    for grace_seconds in [0, DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS] {
        assert!(
            session.is_present(now(), grace_seconds),
            "grace {grace_seconds}"
        );
    }
    let several = SessionPresence {
        open_streams: 3,
        last_seen: long_ago(),
    };
    assert!(several.is_present(now(), 0));

    let state = account([agent(Online, &[]).with_stream()]).with_grace(0);
    check(&state, now(), &[(site(), ONLINE)]);
}

#[test]
fn session_without_stream_is_present_for_exactly_grace_seconds_after_last_seen() {
    let seen = now();
    let state = account([agent(Online, &[]).with_session(seen)]);
    assert_eq!(state.settings.grace_seconds, DEFAULT_GRACE_SECONDS);
    assert_eq!(DEFAULT_GRACE_SECONDS, 120);
    check(&state, seen, &[(site(), ONLINE)]);
    check(&state, seen + secs(119), &[(site(), ONLINE)]);
    check(
        &state,
        seen + SignedDuration::from_millis(119_999),
        &[(site(), ONLINE)],
    );
    check(&state, seen + secs(120), &[(site(), NO_AGENT)]);
    check(&state, seen + secs(121), &[(site(), NO_AGENT)]);

    let session = SessionPresence::seen_at(seen);
    assert!(session.is_present(seen + secs(119), 120));
    assert!(!session.is_present(seen + secs(120), 120));
    assert_eq!(session.grace_ends(120), seen + secs(120));
}

#[test]
fn grace_seconds_is_the_accounts_setting() {
    let seen = now();
    for grace_seconds in [1, 30, MAX_GRACE_SECONDS] {
        let state = account([agent(Busy, &[]).with_session(seen)]).with_grace(grace_seconds);
        let end = seen + secs(i64::from(grace_seconds));
        assert_eq!(
            derive(&state, &site(), end - secs(1)),
            BUSY,
            "grace {grace_seconds}"
        );
        assert_eq!(
            derive(&state, &site(), end),
            NO_AGENT,
            "grace {grace_seconds}"
        );
    }
}

#[test]
fn grace_seconds_zero_means_present_only_while_a_stream_is_open() {
    let seen = now();
    let state = account([agent(Online, &[]).with_session(seen)]).with_grace(0);
    check(&state, seen, &[(site(), NO_AGENT)]);
    check(&state, seen + secs(1), &[(site(), NO_AGENT)]);
    assert!(!SessionPresence::seen_at(seen).is_present(seen, 0));

    let state = account([agent(Online, &[]).with_stream()]).with_grace(0);
    check(&state, seen, &[(site(), ONLINE)]);
}

#[test]
fn logout_makes_the_agent_unavailable_at_once_without_grace() {
    // Logout removes the session; the agent's other state stays.
    let recent = now() - secs(5);
    let mut state = account([
        agent(Online, &[]).with_session(recent),
        agent(Busy, &[]).with_session(recent),
    ]);
    check(&state, now(), &[(site(), ONLINE)]);

    state
        .agents
        .get_mut("agent-0")
        .unwrap()
        .sessions
        .remove("session-0");
    // The other agent's session is still in grace and keeps counting; the
    // logged-out one counts no more, at the very same instant.
    check(&state, now(), &[(site(), BUSY)]);
    assert!(!state.is_available(&state.agents["agent-0"], now()));

    state
        .agents
        .get_mut("agent-1")
        .unwrap()
        .sessions
        .remove("session-0");
    check(&state, now(), &[(site(), NO_AGENT)]);
}

#[test]
fn logout_of_one_device_keeps_the_agent_available_on_the_others() {
    let mut state = account([agent(Online, &[])
        .with_stream()
        .with_session(now() - secs(5))]);
    state
        .agents
        .get_mut("agent-0")
        .unwrap()
        .sessions
        .remove("session-1");
    check(&state, now(), &[(site(), ONLINE)]);
    state
        .agents
        .get_mut("agent-0")
        .unwrap()
        .sessions
        .remove("session-0");
    check(&state, now(), &[(site(), NO_AGENT)]);
}

#[test]
fn agent_with_two_sessions_stays_available_while_either_is_present() {
    // The first device's grace ends at now+20 s, the second's at now+110 s.
    let state = account([agent(Online, &[])
        .with_session(now() - secs(100))
        .with_session(now() - secs(10))]);
    check(&state, now(), &[(site(), ONLINE)]);
    check(&state, now() + secs(20), &[(site(), ONLINE)]);
    check(&state, now() + secs(109), &[(site(), ONLINE)]);
    check(&state, now() + secs(110), &[(site(), NO_AGENT)]);

    // A stream on one device keeps the agent available after the other's
    // grace has run out.
    let state = account([agent(Busy, &[]).with_session(long_ago()).with_stream()]);
    check(&state, now(), &[(site(), BUSY)]);
}

#[test]
fn session_seen_again_restarts_its_grace() {
    // Any sign of life (heartbeat, request, stream closing, a restart) moves
    // last_seen, and grace counts from there.
    let mut state = account([agent(Online, &[]).with_session(now() - secs(100))]);
    check(&state, now() + secs(30), &[(site(), NO_AGENT)]);
    let session = state
        .agents
        .get_mut("agent-0")
        .unwrap()
        .sessions
        .get_mut("session-0")
        .unwrap();
    session.last_seen = now();
    check(&state, now() + secs(30), &[(site(), ONLINE)]);
    check(&state, now() + secs(120), &[(site(), NO_AGENT)]);
}

// ---------------------------------------------------------------------------
// Office hours
// ---------------------------------------------------------------------------

#[test]
fn closed_office_hours_make_the_chat_offline_whatever_the_agents_do() {
    let sunday = at("2026-11-22T10:00:00Z");
    let monday_evening = at("2026-11-23T20:00:00Z");
    let state = account([
        agent(Online, &[]).with_stream(),
        agent(Busy, &["sales"]).with_stream(),
    ])
    .with_groups(&["sales"])
    .with_office_hours(WEEKDAYS_9_TO_17);
    for closed in [
        sunday,
        monday_evening,
        at("2026-11-23T17:00:00Z"),
        at("2026-11-23T08:59:59Z"),
    ] {
        check(
            &state,
            closed,
            &[(site(), CLOSED), (group("sales"), CLOSED)],
        );
    }
}

#[test]
fn open_office_hours_let_the_agents_decide() {
    let opening = at("2026-11-23T09:00:00Z");
    let cases = [
        ("online", vec![agent(Online, &[]).with_stream()], ONLINE),
        ("busy", vec![agent(Busy, &[]).with_stream()], BUSY),
        ("absent", vec![agent(Online, &[])], NO_AGENT),
        ("none", vec![], NO_AGENT),
    ];
    for (name, agents, expected) in cases {
        let state = account(agents).with_office_hours(WEEKDAYS_9_TO_17);
        for open in [opening, now(), at("2026-11-23T16:59:59Z")] {
            assert_eq!(derive(&state, &site(), open), expected, "{name} at {open}");
        }
    }
}

#[test]
fn disabled_office_hours_let_the_agents_decide_at_any_time() {
    let state = account([agent(Online, &[]).with_stream()]).with_office_hours(DISABLED);
    for instant in [
        at("2026-11-23T20:00:00Z"),
        at("2026-11-22T03:00:00Z"),
        now(),
    ] {
        check(&state, instant, &[(site(), ONLINE)]);
    }
}

#[test]
fn group_own_office_hours_replace_the_accounts_when_the_account_is_closed() {
    let monday_evening = at("2026-11-23T20:00:00Z");
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["sales", "support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_EVENING);
    check(
        &state,
        monday_evening,
        &[
            (site(), CLOSED),
            (group("sales"), CLOSED),
            (group("support"), ONLINE),
        ],
    );
    // And in the morning the group's own hours are closed although the
    // account's are open.
    check(
        &state,
        now(),
        &[
            (site(), ONLINE),
            (group("sales"), ONLINE),
            (group("support"), CLOSED),
        ],
    );
}

#[test]
fn group_own_office_hours_replace_the_accounts_when_the_account_is_open() {
    let monday_afternoon = at("2026-11-23T14:00:00Z");
    let state = account([agent(Busy, &["support"]).with_stream()])
        .with_groups(&["support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_MORNING);
    check(
        &state,
        monday_afternoon,
        &[(site(), BUSY), (group("support"), CLOSED)],
    );
    check(&state, now(), &[(site(), BUSY), (group("support"), BUSY)]);
}

#[test]
fn group_own_disabled_office_hours_mean_always_open_for_that_group() {
    let monday_evening = at("2026-11-23T20:00:00Z");
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["sales", "support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", DISABLED);
    check(
        &state,
        monday_evening,
        &[
            (site(), CLOSED),
            (group("sales"), CLOSED),
            (group("support"), ONLINE),
        ],
    );
}

#[test]
fn group_without_own_office_hours_follows_the_accounts() {
    let state = account([agent(Online, &["sales"]).with_stream()])
        .with_groups(&["sales", "support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_EVENING);
    check(&state, now(), &[(group("sales"), ONLINE)]);
    check(
        &state,
        at("2026-11-23T20:00:00Z"),
        &[(group("sales"), CLOSED)],
    );
}

#[test]
fn account_without_office_hours_is_always_open() {
    let state = account([agent(Online, &[]).with_stream()]).with_groups(&["sales"]);
    for instant in [at("2026-11-22T03:00:00Z"), at("2026-11-23T20:00:00Z")] {
        check(
            &state,
            instant,
            &[(site(), ONLINE), (group("sales"), ONLINE)],
        );
    }
}

// ---------------------------------------------------------------------------
// snapshot() and site_event()
// ---------------------------------------------------------------------------

fn custom_messages(state: AccountState) -> AccountState {
    let mut state = state;
    state.settings.busy_message = Some(LocalText::All("Busy, sorry.".to_owned()));
    state.settings.offline_message = Some(LocalText::All("Gone fishing.".to_owned()));
    state
}

#[test]
fn snapshot_message_is_the_busy_or_offline_message_when_that_applies() {
    let cases = [
        (
            "online",
            vec![agent(Online, &[]).with_stream()],
            now(),
            None,
        ),
        (
            "busy",
            vec![agent(Busy, &[]).with_stream()],
            now(),
            Some("Busy, sorry."),
        ),
        (
            "no agent",
            vec![agent(Online, &[])],
            now(),
            Some("Gone fishing."),
        ),
        (
            "outside office hours",
            vec![agent(Online, &[]).with_stream()],
            at("2026-11-23T20:00:00Z"),
            Some("Gone fishing."),
        ),
    ];
    for (name, agents, instant, expected) in cases {
        let state = custom_messages(account(agents)).with_office_hours(WEEKDAYS_9_TO_17);
        let snapshot = state.snapshot("acme", &site(), instant, 1, Lang::En);
        assert_eq!(snapshot.message.as_deref(), expected, "{name}");
    }

    let defaults = account([agent(Busy, &[]).with_stream()]);
    assert_eq!(
        defaults
            .snapshot("acme", &site(), now(), 1, Lang::En)
            .message
            .as_deref(),
        builtin_message(Busy, Lang::En, false)
    );
    let defaults = account([]);
    assert_eq!(
        defaults
            .snapshot("acme", &site(), now(), 1, Lang::En)
            .message
            .as_deref(),
        builtin_message(Offline, Lang::En, false)
    );
}

#[test]
fn messages_are_given_per_language_and_fall_back_to_the_built_in_text_in_that_language() {
    let mut state = account([agent(Busy, &[]).with_stream()]);
    let texts = [
        (Lang::En, "Busy, sorry."),
        (Lang::De, "Beschäftigt."),
        (Lang::Fr, "  "),
    ];
    state.settings.busy_message = Some(LocalText::PerLanguage(
        texts.iter().map(|&(l, t)| (l, t.to_owned())).collect(),
    ));
    let message =
        |state: &AccountState, lang| state.snapshot("acme", &site(), now(), 1, lang).message;
    assert_eq!(message(&state, Lang::En).as_deref(), Some("Busy, sorry."));
    assert_eq!(message(&state, Lang::De).as_deref(), Some("Beschäftigt."));
    // Not given, or blank: the built-in text of that language.
    assert_eq!(
        message(&state, Lang::It).as_deref(),
        builtin_message(Busy, Lang::It, false)
    );
    assert_eq!(
        message(&state, Lang::Fr).as_deref(),
        builtin_message(Busy, Lang::Fr, false)
    );

    // A plain string is every language's.
    state.settings.busy_message = Some(LocalText::All("Wait.".to_owned()));
    for lang in Lang::ALL {
        assert_eq!(message(&state, lang).as_deref(), Some("Wait."), "{lang:?}");
    }

    // The snapshots of every language at once agree with each language's own.
    state.settings.busy_message = Some(LocalText::PerLanguage(
        [(Lang::Es, "Ocupados.".to_owned())].into(),
    ));
    let all = state.snapshots("acme", &site(), now(), 3);
    for lang in Lang::ALL {
        assert_eq!(
            all.in_lang(lang),
            state.snapshot("acme", &site(), now(), 3, lang),
            "{lang:?}"
        );
    }
}

#[test]
fn built_in_offline_messages_promise_email_only_when_replies_are_emailed() {
    for lang in Lang::ALL {
        let with = builtin_message(Offline, lang, true).unwrap();
        let without = builtin_message(Offline, lang, false).unwrap();
        assert_ne!(with, without, "{lang:?}");
        let mentions_email =
            |text: &str| text.to_lowercase().contains("mail") || text.contains("correo");
        assert!(
            mentions_email(with) && !mentions_email(without),
            "{lang:?}: {with} / {without}"
        );
        assert!(builtin_message(Busy, lang, true).is_some());
        assert_eq!(builtin_message(Online, lang, true), None);
    }
    let mut state = account([]);
    state.settings.email_replies = true;
    assert_eq!(
        state
            .snapshot("acme", &site(), now(), 1, Lang::De)
            .message
            .as_deref(),
        builtin_message(Offline, Lang::De, true)
    );
}

#[test]
fn snapshot_carries_account_group_status_reason_and_version() {
    let state = account([agent(Busy, &["sales"]).with_stream()]).with_groups(&["sales", "support"]);

    let snapshot = state.snapshot("acme", &group("sales"), now(), 42, Lang::En);
    assert_eq!(
        snapshot,
        StatusSnapshot {
            account: "acme".to_owned(),
            group: Some("sales".to_owned()),
            status: Busy,
            reason: Reason::AgentsBusy,
            message: builtin_message(Busy, Lang::En, false).map(str::to_owned),
            next_change: None,
            version: 42,
            hide_when_offline: false,
            email_replies: false,
        }
    );

    let mut hiding = state.clone();
    hiding.settings.hide_when_offline = true;
    assert!(
        hiding
            .snapshot("acme", &site(), now(), 1, Lang::En)
            .hide_when_offline
    );

    let snapshot = state.snapshot("acme", &site(), now(), 7, Lang::En);
    assert_eq!(snapshot.group, None);
    assert_eq!(snapshot.version, 7);

    let snapshot = state.snapshot("other", &group("support"), now(), u64::MAX, Lang::En);
    assert_eq!(snapshot.account, "other");
    assert_eq!(snapshot.group.as_deref(), Some("support"));
    assert_eq!(
        (snapshot.status, snapshot.reason),
        (Offline, Reason::NoAgentAvailable)
    );
    assert_eq!(snapshot.version, u64::MAX);
}

#[test]
fn snapshot_next_change_comes_from_the_governing_office_hours() {
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["sales", "support", "billing"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_MORNING)
        .with_group_office_hours("billing", DISABLED);
    let next_change = |scope: Scope| {
        state
            .snapshot("acme", &scope, now(), 1, Lang::En)
            .next_change
    };
    assert_eq!(next_change(site()), Some(at("2026-11-23T17:00:00Z")));
    assert_eq!(
        next_change(group("sales")),
        Some(at("2026-11-23T17:00:00Z"))
    );
    assert_eq!(
        next_change(group("support")),
        Some(at("2026-11-23T12:00:00Z"))
    );
    assert_eq!(next_change(group("billing")), None);

    // While closed, next_change is the next opening.
    let evening = state.snapshot("acme", &site(), at("2026-11-23T20:00:00Z"), 1, Lang::En);
    assert_eq!(evening.next_change, Some(at("2026-11-24T09:00:00Z")));

    let without_hours = account([]);
    assert_eq!(
        without_hours
            .snapshot("acme", &site(), now(), 1, Lang::En)
            .next_change,
        None
    );
}

#[test]
fn site_event_lists_the_site_and_every_group() {
    let state = account([
        agent(Busy, &["sales"]).with_stream(),
        agent(Online, &["support"]).with_stream(),
    ])
    .with_groups(&["sales", "support", "billing"]);
    let event = state.site_event(now());
    assert_eq!(
        event,
        SiteEvent {
            site: Online,
            groups: BTreeMap::from([
                ("billing".to_owned(), Offline),
                ("sales".to_owned(), Busy),
                ("support".to_owned(), Online),
            ]),
        }
    );

    let without_groups = account([]).site_event(now());
    assert_eq!(
        without_groups,
        SiteEvent {
            site: Offline,
            groups: BTreeMap::new()
        }
    );
}

#[test]
fn site_event_follows_each_groups_office_hours() {
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["sales", "support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_EVENING);
    let event = state.site_event(at("2026-11-23T20:00:00Z"));
    assert_eq!(event.site, Offline);
    assert_eq!(event.groups["sales"], Offline);
    assert_eq!(event.groups["support"], Online);
}

#[test]
fn scopes_are_the_site_then_each_group() {
    let state = account([]).with_groups(&["support", "sales"]);
    assert_eq!(
        state.scopes().collect::<Vec<_>>(),
        vec![site(), group("sales"), group("support")]
    );
}

// ---------------------------------------------------------------------------
// next_deadline()
// ---------------------------------------------------------------------------

#[test]
fn next_deadline_is_the_earliest_grace_end_of_sessions_without_streams() {
    let state = account([
        agent(Online, &[]).with_session(now() - secs(30)),
        agent(Busy, &["sales"])
            .with_session(now() - secs(100))
            .with_session(now() - secs(50)),
    ])
    .with_groups(&["sales"]);
    assert_eq!(state.next_deadline(now()), Some(now() + secs(20)));
    // After that one, the next.
    assert_eq!(
        state.next_deadline(now() + secs(20)),
        Some(now() + secs(70))
    );
    assert_eq!(
        state.next_deadline(now() + secs(70)),
        Some(now() + secs(90))
    );
    assert_eq!(state.next_deadline(now() + secs(90)), None);
}

#[test]
fn next_deadline_follows_the_accounts_grace_seconds() {
    let state = account([agent(Online, &[]).with_session(now())]).with_grace(30);
    assert_eq!(state.next_deadline(now()), Some(now() + secs(30)));
    let state = account([agent(Online, &[]).with_session(now())]).with_grace(0);
    assert_eq!(state.next_deadline(now()), None);
}

#[test]
fn next_deadline_ignores_sessions_with_open_streams() {
    let mut streaming = SessionPresence::seen_at(now() - secs(10));
    streaming.open_streams = 1;
    let mut online = agent(Online, &[]);
    online.sessions.insert("streaming".to_owned(), streaming);
    let state = account([online.clone()]);
    assert_eq!(state.next_deadline(now()), None);

    // A later grace end of a session without a stream is still found.
    let state = account([online, agent(Busy, &[]).with_session(now() - secs(5))]);
    assert_eq!(state.next_deadline(now()), Some(now() + secs(115)));
}

#[test]
fn next_deadline_ignores_sessions_whose_grace_already_ended() {
    let state = account([
        agent(Online, &[]).with_session(now() - secs(200)),
        agent(Online, &[]).with_session(now() - secs(120)),
    ]);
    assert_eq!(state.next_deadline(now()), None);

    let state = account([
        agent(Online, &[]).with_session(now() - secs(200)),
        agent(Busy, &[]).with_session(now() - secs(60)),
    ]);
    assert_eq!(state.next_deadline(now()), Some(now() + secs(60)));
}

#[test]
fn next_deadline_is_none_when_nothing_is_pending() {
    assert_eq!(account([]).next_deadline(now()), None);
    let state = account([agent(Online, &[]).with_stream(), agent(Busy, &[])])
        .with_groups(&["sales"])
        .with_office_hours(DISABLED)
        .with_group_office_hours("sales", DISABLED);
    assert_eq!(state.next_deadline(now()), None);
}

#[test]
fn next_deadline_includes_the_accounts_office_hours_boundaries() {
    let state = account([agent(Online, &[]).with_stream()]).with_office_hours(WEEKDAYS_9_TO_17);
    assert_eq!(state.next_deadline(now()), Some(at("2026-11-23T17:00:00Z")));
    assert_eq!(
        state.next_deadline(at("2026-11-23T17:00:00Z")),
        Some(at("2026-11-24T09:00:00Z"))
    );
    // Friday evening: the next boundary is Monday's opening.
    assert_eq!(
        state.next_deadline(at("2026-11-27T18:00:00Z")),
        Some(at("2026-11-30T09:00:00Z"))
    );
}

#[test]
fn next_deadline_includes_a_groups_own_office_hours_boundaries() {
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["sales", "support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_MORNING);
    assert_eq!(state.next_deadline(now()), Some(at("2026-11-23T12:00:00Z")));

    // A group's hours count even when the account has none.
    let state = account([])
        .with_groups(&["support"])
        .with_group_office_hours("support", MONDAY_EVENING);
    assert_eq!(state.next_deadline(now()), Some(at("2026-11-23T18:00:00Z")));
}

#[test]
fn next_deadline_is_the_earlier_of_grace_end_and_office_hours_boundary() {
    let state = account([agent(Online, &[]).with_session(now() - secs(60))])
        .with_office_hours(WEEKDAYS_9_TO_17);
    assert_eq!(state.next_deadline(now()), Some(now() + secs(60)));

    let late = at("2026-11-23T16:59:30Z");
    let state =
        account([agent(Online, &[]).with_session(late)]).with_office_hours(WEEKDAYS_9_TO_17);
    assert_eq!(state.next_deadline(late), Some(at("2026-11-23T17:00:00Z")));
}

#[test]
fn deriving_again_at_the_deadline_sees_the_grace_expiry() {
    let state = account([
        agent(Online, &[]).with_session(now() - secs(100)),
        agent(Busy, &[]).with_session(now() - secs(10)),
    ]);
    let before = derive(&state, &site(), now());
    assert_eq!(before, ONLINE);

    let deadline = state
        .next_deadline(now())
        .expect("a grace period is running");
    assert_eq!(deadline, now() + secs(20));
    assert_eq!(
        derive(&state, &site(), deadline - SignedDuration::from_millis(1)),
        ONLINE
    );
    assert_eq!(derive(&state, &site(), deadline), BUSY);

    let deadline = state
        .next_deadline(deadline)
        .expect("the busy agent's grace is running");
    assert_eq!(derive(&state, &site(), deadline), NO_AGENT);
    assert_eq!(state.next_deadline(deadline), None);
}

#[test]
fn deriving_again_at_the_deadline_sees_the_office_hours_boundary() {
    let state = account([agent(Online, &[]).with_stream()])
        .with_groups(&["support"])
        .with_office_hours(WEEKDAYS_9_TO_17)
        .with_group_office_hours("support", MONDAY_MORNING);
    let deadline = state
        .next_deadline(now())
        .expect("office hours have boundaries");
    check(&state, now(), &[(group("support"), ONLINE)]);
    check(
        &state,
        deadline,
        &[(site(), ONLINE), (group("support"), CLOSED)],
    );
    let deadline = state
        .next_deadline(deadline)
        .expect("office hours have boundaries");
    check(
        &state,
        deadline,
        &[(site(), CLOSED), (group("support"), CLOSED)],
    );
}

#[test]
fn next_deadline_rechecks_office_hours_whose_next_change_is_beyond_the_horizon() {
    // Mondays 09–17 UTC; the next two Mondays are holidays: closed for 21 days.
    let state = account([agent(Online, &[]).with_stream()]).with_office_hours(
        r#"{"enabled": true, "timezone": "UTC",
            "weekly": {"mon": [{"from": "09:00", "to": "17:00"}]},
            "exceptions": [{"date": "2026-11-30", "hours": []}, {"date": "2026-12-07", "hours": []}]}"#,
    );
    let evening = at("2026-11-23T18:00:00Z");
    assert_eq!(
        derive(&state, &site(), evening).reason,
        Reason::OutsideOfficeHours
    );
    let recheck = state.next_deadline(evening).expect("a re-check point");
    assert!(recheck <= at("2026-12-14T09:00:00Z"), "{recheck}");
    // Following re-check points reaches the opening exactly.
    let opening = state.next_deadline(recheck).expect("the opening");
    assert_eq!(opening, at("2026-12-14T09:00:00Z"));
    assert_eq!(derive(&state, &site(), opening).status, Status::Online);
}

// ---------------------------------------------------------------------------
// Waiting conversations (docs/conversations.md: the busy reply's deadline)
// ---------------------------------------------------------------------------

fn waiting(group: Option<&str>, since: Timestamp) -> Waiting {
    Waiting {
        group: group.map(str::to_owned),
        since,
    }
}

#[test]
fn the_next_busy_reply_is_the_earliest_wait_plus_busy_after_seconds() {
    let mut state = account([]);
    assert_eq!(state.next_busy_reply(), None);
    state.settings.busy_after_seconds = 45;
    state
        .waiting
        .insert("c1".into(), waiting(None, now() + secs(10)));
    state.waiting.insert("c2".into(), waiting(None, now()));
    assert_eq!(state.next_busy_reply(), Some(now() + secs(45)));
    // A deadline in the past is still named: the timer acts at once.
    state.settings.busy_after_seconds = 0;
    assert_eq!(state.next_busy_reply(), Some(now()));
}

#[test]
fn busy_replies_fall_due_at_their_deadline_with_their_scopes_status() {
    let mut state = account([
        agent(Busy, &["sales"]).with_stream(),
        agent(Online, &["support"]).with_stream(),
    ])
    .with_groups(&["sales", "support"]);
    state.settings.busy_after_seconds = 45;
    state
        .waiting
        .insert("sales-chat".into(), waiting(Some("sales"), now()));
    state
        .waiting
        .insert("site-chat".into(), waiting(None, now() + secs(1)));
    state
        .waiting
        .insert("gone-group".into(), waiting(Some("deleted"), now()));

    assert_eq!(state.busy_replies_due(now() + secs(44)), []);
    assert_eq!(
        state.busy_replies_due(now() + secs(45)),
        [
            ("gone-group".to_owned(), Online),
            ("sales-chat".to_owned(), Busy),
        ],
        "a deleted group's conversation counts as the site's"
    );
    assert_eq!(state.busy_replies_due(now() + secs(46)).len(), 3);
}

#[test]
fn a_conversations_scope_is_its_group_while_the_group_exists() {
    let state = account([]).with_groups(&["sales"]);
    assert_eq!(state.conversation_scope(Some("sales")), group("sales"));
    assert_eq!(state.conversation_scope(Some("nope")), site());
    assert_eq!(state.conversation_scope(None), site());
}
