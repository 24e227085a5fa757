//! The chat box as a pure function of state: no web-sys here, so everything in this module
//! is tested natively with plain `#[test]`s. The DOM layer (`dom.rs`) turns browser events
//! into [`Msg`]s, feeds them to [`update`] and applies what [`view`] returns.

use onair_shared::{Reason, Status};

use crate::i18n::{Lang, Strings};

/// The fields of one `event: status`, as the DOM layer read them from its JSON, unchecked.
/// A field of the wrong JSON type reads as `None`.
#[derive(Debug, Default)]
pub(crate) struct RawSnapshot {
    pub(crate) status: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) message: Option<String>,
    /// `next_change` as milliseconds since the epoch (the browser parses RFC 3339 for us).
    pub(crate) next_change_ms: Option<f64>,
    pub(crate) version: Option<f64>,
    pub(crate) hide_when_offline: Option<bool>,
}

/// A status snapshot (CONTRACT §2.4) the chat box can show.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) status: Status,
    /// `None` for a reason this widget does not know yet: it only matters for office hours.
    pub(crate) reason: Option<Reason>,
    pub(crate) message: Option<String>,
    pub(crate) next_change_ms: Option<f64>,
    pub(crate) version: u64,
    pub(crate) hide_when_offline: bool,
}

impl Snapshot {
    /// Checks what arrived. A snapshot without a known status or a usable version is
    /// dropped whole: showing a guess would be worse than keeping the last answer.
    pub(crate) fn decode(raw: RawSnapshot) -> Option<Snapshot> {
        let status = Status::parse(raw.status.as_deref()?)?;
        let version = raw.version?;
        if !(version.is_finite() && version >= 0.0 && version.fract() == 0.0) {
            return None;
        }
        Some(Snapshot {
            status,
            reason: raw.reason.as_deref().and_then(Reason::parse),
            message: raw
                .message
                .filter(|message| !message.chars().all(char::is_whitespace)),
            next_change_ms: raw.next_change_ms.filter(|ms| ms.is_finite()),
            // In range: finite, non-negative and whole; a cast saturates beyond u64::MAX.
            version: version as u64,
            hide_when_offline: raw.hide_when_offline.unwrap_or(false),
        })
    }
}

/// Everything the chat box shows follows from this.
#[derive(Debug)]
pub(crate) struct Model {
    /// The last answer from the server; `None` until the first one.
    pub(crate) snapshot: Option<Snapshot>,
    /// Whether the visitor opened the panel.
    pub(crate) open: bool,
    pub(crate) lang: Lang,
    /// Whether the event stream is open right now. A drop keeps the last snapshot shown.
    pub(crate) connected: bool,
}

impl Model {
    pub(crate) fn new(lang: Lang) -> Model {
        Model {
            snapshot: None,
            open: false,
            lang,
            connected: false,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Msg {
    Snapshot(Snapshot),
    Connected,
    Disconnected,
    TogglePanel,
    ClosePanel,
}

/// What an [`update`] asks of the DOM layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing changed.
    None,
    /// Render the new view.
    Render,
    /// Render, and announce the new status to screen readers: it changed.
    RenderAndAnnounce,
}

pub(crate) fn update(model: &mut Model, msg: Msg) -> Change {
    match msg {
        Msg::Snapshot(snapshot) => {
            // A snapshot is current news, whatever the stream said before it.
            model.connected = true;
            let Some(last) = &model.snapshot else {
                // The first answer replaces "connecting"; it is not a change to announce.
                model.snapshot = Some(snapshot);
                return Change::Render;
            };
            // Versions never go backwards on the server (CONTRACT §2.4): a lower one is stale,
            // e.g. from a connection that was overtaken by a newer one.
            if snapshot.version < last.version || *last == snapshot {
                return Change::None;
            }
            let status_changed = last.status != snapshot.status;
            model.snapshot = Some(snapshot);
            if status_changed {
                Change::RenderAndAnnounce
            } else {
                Change::Render
            }
        }
        Msg::Connected => set(&mut model.connected, true),
        Msg::Disconnected => set(&mut model.connected, false),
        Msg::TogglePanel => {
            if !is_shown(model) {
                return Change::None;
            }
            model.open = !model.open;
            Change::Render
        }
        Msg::ClosePanel => set(&mut model.open, false),
    }
}

fn set(field: &mut bool, value: bool) -> Change {
    if *field == value {
        return Change::None;
    }
    *field = value;
    Change::Render
}

/// Whether the chat box shows anything at all.
fn is_shown(model: &Model) -> bool {
    match &model.snapshot {
        // Nothing to show until the server answers: a bubble that then vanishes (hidden while
        // offline) or changes its mind would be worse than a short wait.
        None => false,
        // Conversations (CONTRACT §3) will extend this: a visitor with a conversation in
        // progress keeps seeing it even while offline with `hide_when_offline` set.
        Some(snapshot) => !(snapshot.status == Status::Offline && snapshot.hide_when_offline),
    }
}

/// Which form the panel holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// Online or busy: write to an agent.
    Chat,
    /// Offline: name, email and message, answered later by email.
    LeaveMessage,
}

/// A visitor-local instant, formatted by the browser in the chat box's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalTime {
    /// The weekday (or date) when the instant is not today, visitor-local.
    pub(crate) day: Option<String>,
    pub(crate) time: String,
}

/// What the DOM shows, derived from the model alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    /// The host element's `data-status`: `online`, `busy`, `offline` or `connecting`.
    pub(crate) host_status: &'static str,
    /// Whether anything is shown.
    pub(crate) visible: bool,
    /// The stream dropped; the last status stays shown, slightly dimmed.
    pub(crate) reconnecting: bool,
    /// Whether the panel is open.
    pub(crate) open: bool,
    pub(crate) bubble_label: &'static str,
    pub(crate) title: &'static str,
    /// The busy or offline message.
    pub(crate) message: Option<String>,
    /// When office hours open again, visitor-local.
    pub(crate) back_at: Option<String>,
    pub(crate) form: Form,
    /// What a screen reader says when the status changes; `None` while nothing is shown.
    pub(crate) announcement: Option<String>,
}

/// The view of `model` in `strings` at `now_ms` (milliseconds since the epoch).
/// `local_time` formats an instant in the visitor's timezone; the DOM layer passes one that
/// asks the browser, the tests a fixed one.
pub(crate) fn view(
    model: &Model,
    strings: &Strings,
    now_ms: f64,
    local_time: &dyn Fn(f64) -> LocalTime,
) -> View {
    let visible = is_shown(model);
    let Some(snapshot) = &model.snapshot else {
        return View {
            host_status: "connecting",
            visible,
            reconnecting: false,
            open: false,
            bubble_label: strings.bubble_chat,
            title: strings.title_online,
            message: None,
            back_at: None,
            form: Form::Chat,
            announcement: None,
        };
    };

    let (bubble_label, title, default_message, form) = match snapshot.status {
        Status::Online => (strings.bubble_chat, strings.title_online, None, Form::Chat),
        Status::Busy => (
            strings.bubble_chat,
            strings.title_busy,
            Some(strings.busy_message),
            Form::Chat,
        ),
        Status::Offline => (
            strings.bubble_offline,
            strings.title_offline,
            Some(strings.offline_message),
            Form::LeaveMessage,
        ),
    };
    // Online has no message: the account's messages are for busy and offline.
    let message =
        default_message.map(|default| snapshot.message.as_deref().unwrap_or(default).to_owned());
    let back_at = back_at(snapshot, strings, now_ms, local_time);
    let announcement =
        visible.then(|| sentences(&[Some(title), message.as_deref(), back_at.as_deref()]));

    View {
        host_status: snapshot.status.as_str(),
        visible,
        reconnecting: !model.connected,
        open: visible && model.open,
        bubble_label,
        title,
        message,
        back_at,
        form,
        announcement,
    }
}

/// "Back on Monday at 09:00" when office hours are closed and will open; nothing for a
/// `next_change` already past (the server's next snapshot is on its way).
fn back_at(
    snapshot: &Snapshot,
    strings: &Strings,
    now_ms: f64,
    local_time: &dyn Fn(f64) -> LocalTime,
) -> Option<String> {
    if snapshot.reason != Some(Reason::OutsideOfficeHours) {
        return None;
    }
    let at = snapshot.next_change_ms.filter(|at| *at > now_ms)?;
    let local = local_time(at);
    let mut text = String::new();
    match &local.day {
        Some(day) => {
            let [before_day, before_time, after] = strings.back_on_day;
            for piece in [before_day, day, before_time, &local.time, after] {
                text.push_str(piece);
            }
        }
        None => {
            let [before_time, after] = strings.back_today;
            for piece in [before_time, &local.time, after] {
                text.push_str(piece);
            }
        }
    }
    Some(text)
}

/// Joins the parts into sentences, adding a full stop where a part has no closing punctuation.
fn sentences(parts: &[Option<&str>]) -> String {
    let mut text = String::new();
    for part in parts.iter().flatten() {
        if !text.is_empty() {
            if !matches!(text.chars().next_back(), Some('.' | '!' | '?' | '…')) {
                text.push('.');
            }
            text.push(' ');
        }
        text.push_str(part);
    }
    text
}

/// The wait before creating a new `EventSource` after one gave up (readyState `CLOSED`):
/// 1 s, doubling up to 30 s, back to 1 s once an event arrives.
#[derive(Debug)]
pub(crate) struct Backoff {
    next_ms: i32,
}

impl Backoff {
    const FIRST_MS: i32 = 1_000;
    const MAX_MS: i32 = 30_000;

    pub(crate) fn new() -> Backoff {
        Backoff {
            next_ms: Backoff::FIRST_MS,
        }
    }

    pub(crate) fn next_delay_ms(&mut self) -> i32 {
        let delay = self.next_ms;
        self.next_ms = (delay * 2).min(Backoff::MAX_MS);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next_ms = Backoff::FIRST_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000_000.0;
    const HOUR: f64 = 3_600_000.0;

    fn snapshot(status: Status, version: u64) -> Snapshot {
        let reason = match status {
            Status::Online => Reason::AgentsOnline,
            Status::Busy => Reason::AgentsBusy,
            Status::Offline => Reason::NoAgentAvailable,
        };
        Snapshot {
            status,
            reason: Some(reason),
            message: None,
            next_change_ms: None,
            version,
            hide_when_offline: false,
        }
    }

    fn closed_until(at_ms: f64, version: u64) -> Snapshot {
        Snapshot {
            reason: Some(Reason::OutsideOfficeHours),
            next_change_ms: Some(at_ms),
            ..snapshot(Status::Offline, version)
        }
    }

    /// A fixed formatter: "today" within 12 hours of `NOW`, else "Monday".
    fn local_time(at_ms: f64) -> LocalTime {
        LocalTime {
            day: (at_ms - NOW > 12.0 * HOUR).then(|| "Monday".to_owned()),
            time: "09:00".to_owned(),
        }
    }

    fn model_with(snapshots: impl IntoIterator<Item = Snapshot>) -> Model {
        let mut model = Model::new(Lang::En);
        for snapshot in snapshots {
            update(&mut model, Msg::Snapshot(snapshot));
        }
        model
    }

    fn view_of(model: &Model) -> View {
        view(model, model.lang.strings(), NOW, &local_time)
    }

    fn view_in(lang: Lang, snapshot: Snapshot) -> View {
        let mut model = model_with([snapshot]);
        model.lang = lang;
        view(&model, lang.strings(), NOW, &local_time)
    }

    fn raw(status: &str, version: f64) -> RawSnapshot {
        RawSnapshot {
            status: Some(status.to_owned()),
            reason: Some("agents_online".to_owned()),
            version: Some(version),
            ..RawSnapshot::default()
        }
    }

    #[test]
    fn connecting_is_shown_only_before_the_first_answer() {
        let mut model = Model::new(Lang::En);
        let before = view_of(&model);
        assert_eq!(before.host_status, "connecting");
        assert!(!before.visible);
        assert_eq!(before.announcement, None);

        update(&mut model, Msg::Snapshot(snapshot(Status::Busy, 3)));
        update(&mut model, Msg::Disconnected);
        let after_drop = view_of(&model);
        assert_eq!(after_drop.host_status, "busy");
        assert!(after_drop.visible);
        assert!(after_drop.reconnecting);

        update(&mut model, Msg::Connected);
        assert!(!view_of(&model).reconnecting);
    }

    #[test]
    fn each_status_has_its_host_status_label_title_and_form() {
        let online = view_in(Lang::En, snapshot(Status::Online, 1));
        assert_eq!(online.host_status, "online");
        assert_eq!(online.bubble_label, "Chat with us");
        assert_eq!(online.title, "We’re online");
        assert_eq!(online.message, None);
        assert_eq!(online.form, Form::Chat);

        let busy = view_in(Lang::En, snapshot(Status::Busy, 1));
        assert_eq!(busy.host_status, "busy");
        assert_eq!(busy.bubble_label, "Chat with us");
        assert_eq!(busy.title, "We’re busy");
        assert_eq!(busy.form, Form::Chat);

        let offline = view_in(Lang::En, snapshot(Status::Offline, 1));
        assert_eq!(offline.host_status, "offline");
        assert_eq!(offline.bubble_label, "Leave a message");
        assert_eq!(offline.title, "We’re offline");
        assert_eq!(offline.form, Form::LeaveMessage);

        for shown in [online, busy, offline] {
            assert!(shown.visible);
            assert!(!shown.reconnecting);
            assert!(!shown.open);
        }
    }

    #[test]
    fn busy_and_offline_show_the_accounts_message_or_a_default() {
        let with_message = |status, message: &str| Snapshot {
            message: Some(message.to_owned()),
            ..snapshot(status, 1)
        };
        let busy = view_in(Lang::En, with_message(Status::Busy, "Back in five"));
        assert_eq!(busy.message.as_deref(), Some("Back in five"));
        let offline = view_in(Lang::En, with_message(Status::Offline, "Write to us"));
        assert_eq!(offline.message.as_deref(), Some("Write to us"));
        // Online never shows the busy or offline message, even if one came along.
        let online = view_in(Lang::En, with_message(Status::Online, "stale"));
        assert_eq!(online.message, None);

        let busy = view_in(Lang::De, snapshot(Status::Busy, 1));
        assert_eq!(
            busy.message.as_deref(),
            Some(Lang::De.strings().busy_message)
        );
        let offline = view_in(Lang::It, snapshot(Status::Offline, 1));
        assert_eq!(
            offline.message.as_deref(),
            Some(Lang::It.strings().offline_message)
        );
    }

    #[test]
    fn every_language_has_its_own_words_for_every_status() {
        for status in [Status::Online, Status::Busy, Status::Offline] {
            let english = view_in(Lang::En, snapshot(status, 1));
            for lang in [Lang::Fr, Lang::De, Lang::It, Lang::Es] {
                let translated = view_in(lang, snapshot(status, 1));
                assert_eq!(translated.host_status, english.host_status);
                assert!(!translated.title.is_empty());
                assert!(!translated.bubble_label.is_empty());
                assert_ne!(translated.title, english.title, "{lang:?} {status:?}");
                assert_ne!(
                    translated.bubble_label, english.bubble_label,
                    "{lang:?} {status:?}"
                );
                if status != Status::Online {
                    assert!(translated.message.is_some(), "{lang:?} {status:?}");
                    assert_ne!(translated.message, english.message, "{lang:?} {status:?}");
                }
                assert_ne!(translated.announcement, english.announcement);
            }
        }
    }

    #[test]
    fn a_stale_version_is_ignored() {
        let mut model = model_with([snapshot(Status::Online, 7)]);
        let change = update(&mut model, Msg::Snapshot(snapshot(Status::Offline, 6)));
        assert_eq!(change, Change::None);
        assert_eq!(view_of(&model).host_status, "online");

        let change = update(&mut model, Msg::Snapshot(snapshot(Status::Offline, 8)));
        assert_eq!(change, Change::RenderAndAnnounce);
        assert_eq!(view_of(&model).host_status, "offline");
    }

    #[test]
    fn the_same_snapshot_again_changes_nothing() {
        let mut model = model_with([snapshot(Status::Online, 7)]);
        assert_eq!(
            update(&mut model, Msg::Snapshot(snapshot(Status::Online, 7))),
            Change::None
        );
    }

    #[test]
    fn only_a_change_of_status_is_announced() {
        let mut model = Model::new(Lang::En);
        // The first answer is what the page shows on load, not a change.
        assert_eq!(
            update(&mut model, Msg::Snapshot(snapshot(Status::Online, 1))),
            Change::Render
        );
        assert_eq!(
            update(&mut model, Msg::Snapshot(snapshot(Status::Busy, 2))),
            Change::RenderAndAnnounce
        );
        let new_message = Snapshot {
            message: Some("Five minutes".to_owned()),
            ..snapshot(Status::Busy, 3)
        };
        assert_eq!(
            update(&mut model, Msg::Snapshot(new_message)),
            Change::Render
        );
        assert_eq!(
            view_of(&model).announcement.as_deref(),
            Some("We’re busy. Five minutes")
        );
    }

    #[test]
    fn hide_when_offline_shows_nothing_while_offline() {
        let hidden = Snapshot {
            hide_when_offline: true,
            ..snapshot(Status::Offline, 1)
        };
        let mut model = model_with([hidden]);
        let view = view_of(&model);
        assert_eq!(view.host_status, "offline");
        assert!(!view.visible);
        assert!(!view.open);
        assert_eq!(view.announcement, None);
        // Nothing to open.
        assert_eq!(update(&mut model, Msg::TogglePanel), Change::None);

        // The setting only concerns offline.
        let online = Snapshot {
            hide_when_offline: true,
            ..snapshot(Status::Online, 2)
        };
        update(&mut model, Msg::Snapshot(online));
        assert!(view_of(&model).visible);
    }

    #[test]
    fn outside_office_hours_says_when_it_opens() {
        let today = view_in(Lang::En, closed_until(NOW + HOUR, 1));
        assert_eq!(today.back_at.as_deref(), Some("Back at 09:00"));
        let later = view_in(Lang::En, closed_until(NOW + 30.0 * HOUR, 1));
        assert_eq!(later.back_at.as_deref(), Some("Back on Monday at 09:00"));
        assert_eq!(
            later.announcement.as_deref(),
            Some(
                "We’re offline. Leave us a message and we’ll get back to you by email. Back on Monday at 09:00"
            )
        );

        let german = view_in(Lang::De, closed_until(NOW + 30.0 * HOUR, 1));
        assert_eq!(
            german.back_at.as_deref(),
            Some("Wieder erreichbar am Monday um 09:00 Uhr")
        );
        for lang in Lang::ALL {
            let text = view_in(lang, closed_until(NOW + 30.0 * HOUR, 1)).back_at;
            let text = text.unwrap_or_default();
            assert!(
                text.contains("Monday") && text.contains("09:00"),
                "{lang:?}: {text}"
            );
            assert!(!text.contains('{'), "{lang:?}: {text}");
        }
    }

    #[test]
    fn no_back_at_without_office_hours_or_a_future_opening() {
        // Offline because nobody is there: the opening time says nothing.
        let nobody = Snapshot {
            next_change_ms: Some(NOW + HOUR),
            ..snapshot(Status::Offline, 1)
        };
        assert_eq!(view_in(Lang::En, nobody).back_at, None);
        // Closed, but no opening within 14 days.
        let closed = Snapshot {
            next_change_ms: None,
            ..closed_until(0.0, 1)
        };
        assert_eq!(view_in(Lang::En, closed).back_at, None);
        // An opening already past.
        assert_eq!(view_in(Lang::En, closed_until(NOW - 1.0, 1)).back_at, None);
    }

    #[test]
    fn the_panel_toggles_and_closes() {
        let mut model = model_with([snapshot(Status::Online, 1)]);
        assert_eq!(update(&mut model, Msg::TogglePanel), Change::Render);
        assert!(view_of(&model).open);
        assert_eq!(update(&mut model, Msg::ClosePanel), Change::Render);
        assert!(!view_of(&model).open);
        assert_eq!(update(&mut model, Msg::ClosePanel), Change::None);

        // Nothing to open before the first answer.
        let mut model = Model::new(Lang::En);
        assert_eq!(update(&mut model, Msg::TogglePanel), Change::None);
    }

    #[test]
    fn decoding_accepts_a_complete_snapshot() {
        let decoded = Snapshot::decode(RawSnapshot {
            status: Some("offline".to_owned()),
            reason: Some("outside_office_hours".to_owned()),
            message: Some("See you".to_owned()),
            next_change_ms: Some(NOW),
            version: Some(42.0),
            hide_when_offline: Some(true),
        });
        assert_eq!(
            decoded,
            Some(Snapshot {
                status: Status::Offline,
                reason: Some(Reason::OutsideOfficeHours),
                message: Some("See you".to_owned()),
                next_change_ms: Some(NOW),
                version: 42,
                hide_when_offline: true,
            })
        );
    }

    #[test]
    fn decoding_drops_what_it_cannot_trust() {
        let check = |raw: RawSnapshot| assert_eq!(Snapshot::decode(raw), None);
        check(RawSnapshot::default());
        check(raw("away", 1.0));
        check(raw("Online", 1.0));
        check(raw("online", -1.0));
        check(raw("online", 1.5));
        check(raw("online", f64::NAN));
        check(raw("online", f64::INFINITY));
        check(RawSnapshot {
            version: None,
            ..raw("online", 1.0)
        });
    }

    #[test]
    fn decoding_tolerates_unknown_reasons_and_blank_or_missing_extras() {
        let decoded = Snapshot::decode(RawSnapshot {
            reason: Some("a_future_reason".to_owned()),
            message: Some("  ".to_owned()),
            next_change_ms: Some(f64::NAN),
            ..raw("busy", 0.0)
        });
        assert_eq!(
            decoded,
            Some(Snapshot {
                status: Status::Busy,
                reason: None,
                message: None,
                next_change_ms: None,
                version: 0,
                hide_when_offline: false,
            })
        );
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<i32> = (0..7).map(|_| backoff.next_delay_ms()).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(), 1_000);
    }
}
