//! Conversations' automatic replies (docs/conversations.md) as a function of state and
//! time: which reply a visitor's message gets at once, when a busy reply falls
//! due, and the default texts in every language of the chat box.
//!
//! The rules, for one conversation:
//!
//! - A **wait** starts with the first visitor message no agent has answered
//!   yet and ends when an agent answers. Automatic messages do not end it.
//! - A visitor writing while the scope is **offline** gets the offline reply
//!   at once — once per conversation, not per message.
//! - A visitor writing while the scope is **busy** gets the busy reply at
//!   once — once per wait.
//! - A visitor writing while the scope is **online** gets nothing at once;
//!   when no agent has answered `busy_after_seconds` after the wait started,
//!   the busy reply falls due (the offline reply instead, if the scope has
//!   gone offline meanwhile and never had one). At most one automatic reply
//!   per wait comes from the deadline, and none when the wait already had one.

use jiff::{SignedDuration, Timestamp};

use crate::wire::{Lang, Status};

/// The longest message text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 4000;

/// A message's text as stored: trimmed, 1 to [`MAX_TEXT_CHARS`] characters.
/// `None` when the text is empty after trimming or too long.
pub fn message_text(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let chars = trimmed.chars().count();
    (1..=MAX_TEXT_CHARS).contains(&chars).then_some(trimmed)
}

/// An automatic message's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoReply {
    Offline,
    Busy,
}

impl AutoReply {
    /// The text to send: the account's own when it set one (an empty one
    /// turns the reply off: `None`), else the default in `lang`.
    pub fn text(self, custom: Option<&str>, lang: Lang) -> Option<&str> {
        let text = custom.map_or_else(|| self.default_text(lang), str::trim);
        message_text(text)
    }

    /// The default text in a chat box language.
    pub fn default_text(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (AutoReply::Offline, Lang::En) => {
                "Thanks for your message! We're not here right now, but we'll get back to you as soon as we can."
            }
            (AutoReply::Offline, Lang::Fr) => {
                "Merci pour votre message ! Nous ne sommes pas disponibles pour le moment, mais nous vous répondrons dès que possible."
            }
            (AutoReply::Offline, Lang::De) => {
                "Vielen Dank für Ihre Nachricht! Wir sind gerade nicht erreichbar, melden uns aber so schnell wie möglich bei Ihnen."
            }
            (AutoReply::Offline, Lang::It) => {
                "Grazie per il tuo messaggio! Al momento non siamo disponibili, ma ti risponderemo il prima possibile."
            }
            (AutoReply::Offline, Lang::Es) => {
                "¡Gracias por tu mensaje! Ahora mismo no estamos disponibles, pero te responderemos lo antes posible."
            }
            (AutoReply::Busy, Lang::En) => {
                "Thanks for your patience — all of our team are busy right now. Someone will be with you shortly."
            }
            (AutoReply::Busy, Lang::Fr) => {
                "Merci de votre patience : toute notre équipe est occupée pour le moment. Quelqu'un va vous répondre très bientôt."
            }
            (AutoReply::Busy, Lang::De) => {
                "Danke für Ihre Geduld – im Moment ist unser ganzes Team beschäftigt. Wir sind gleich für Sie da."
            }
            (AutoReply::Busy, Lang::It) => {
                "Grazie per la pazienza: in questo momento tutto il nostro team è occupato. Ti risponderemo a breve."
            }
            (AutoReply::Busy, Lang::Es) => {
                "Gracias por tu paciencia: ahora mismo todo nuestro equipo está ocupado. Te atenderemos en breve."
            }
        }
    }
}

/// Where one conversation stands with its automatic replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyState {
    /// When the current wait started: the first visitor message no agent has
    /// answered yet. `None` while no visitor is waiting.
    pub waiting_since: Option<Timestamp>,
    /// The current wait already had an automatic reply.
    pub replied_in_wait: bool,
    /// The conversation had its offline reply (it gets one at most).
    pub offline_replied: bool,
}

impl ReplyState {
    /// A visitor wrote at `now` while their scope showed `status`: the reply
    /// to send at once, if any.
    pub fn visitor_wrote(&mut self, status: Status, now: Timestamp) -> Option<AutoReply> {
        if self.waiting_since.is_none() {
            self.waiting_since = Some(now);
            self.replied_in_wait = false;
        }
        match status {
            Status::Online => None,
            Status::Busy => self.reply(AutoReply::Busy),
            Status::Offline => self.reply(AutoReply::Offline),
        }
    }

    /// An agent answered: the wait is over.
    pub fn agent_answered(&mut self) {
        self.waiting_since = None;
        self.replied_in_wait = false;
    }

    /// When the busy reply falls due if nothing else happens: the start of a
    /// wait that has had no automatic reply, plus `busy_after_seconds`. It may
    /// lie in the past (the server was down, or the setting was shortened).
    pub fn busy_reply_due(&self, busy_after_seconds: u32) -> Option<Timestamp> {
        let since = self.waiting_since.filter(|_| !self.replied_in_wait)?;
        Some(due(since, busy_after_seconds))
    }

    /// The busy-reply deadline has come and the scope shows `status`: the
    /// reply to send, if any. Either way the wait has had its reply.
    pub fn deadline_reached(&mut self, status: Status) -> Option<AutoReply> {
        if self.waiting_since.is_none() || self.replied_in_wait {
            return None;
        }
        self.replied_in_wait = true;
        match status {
            Status::Online | Status::Busy => Some(AutoReply::Busy),
            Status::Offline if self.offline_replied => None,
            Status::Offline => {
                self.offline_replied = true;
                Some(AutoReply::Offline)
            }
        }
    }

    fn reply(&mut self, kind: AutoReply) -> Option<AutoReply> {
        match kind {
            AutoReply::Offline if self.offline_replied => None,
            AutoReply::Offline => {
                self.offline_replied = true;
                self.replied_in_wait = true;
                Some(kind)
            }
            AutoReply::Busy if self.replied_in_wait => None,
            AutoReply::Busy => {
                self.replied_in_wait = true;
                Some(kind)
            }
        }
    }
}

/// `since + busy_after_seconds`.
pub fn due(since: Timestamp, busy_after_seconds: u32) -> Timestamp {
    since
        .saturating_add(SignedDuration::from_secs(i64::from(busy_after_seconds)))
        .unwrap_or(Timestamp::MAX)
}

/// A conversation whose busy reply is pending, as the account model keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The conversation's group; `None` for the site.
    pub group: Option<String>,
    /// When its wait started.
    pub since: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("test timestamps are RFC 3339")
    }

    fn t0() -> Timestamp {
        at("2026-11-23T10:00:00Z")
    }

    fn later(seconds: i64) -> Timestamp {
        t0() + SignedDuration::from_secs(seconds)
    }

    #[test]
    fn a_visitor_writing_while_online_gets_nothing_at_once_and_a_deadline() {
        let mut state = ReplyState::default();
        assert_eq!(state.visitor_wrote(Status::Online, t0()), None);
        assert_eq!(state.busy_reply_due(45), Some(later(45)));
        // A second message does not move the wait's start.
        assert_eq!(state.visitor_wrote(Status::Online, later(30)), None);
        assert_eq!(state.busy_reply_due(45), Some(later(45)));
    }

    #[test]
    fn the_deadline_gives_one_busy_reply_per_wait() {
        let mut state = ReplyState::default();
        state.visitor_wrote(Status::Online, t0());
        assert_eq!(
            state.deadline_reached(Status::Online),
            Some(AutoReply::Busy)
        );
        assert_eq!(state.busy_reply_due(45), None, "no second deadline");
        assert_eq!(state.deadline_reached(Status::Online), None);
        assert_eq!(state.visitor_wrote(Status::Online, later(60)), None);
        assert_eq!(state.busy_reply_due(45), None, "same wait, no new deadline");
    }

    #[test]
    fn an_agents_answer_ends_the_wait_and_the_next_message_starts_a_new_one() {
        let mut state = ReplyState::default();
        state.visitor_wrote(Status::Online, t0());
        state.agent_answered();
        assert_eq!(state.busy_reply_due(45), None);
        assert_eq!(state.deadline_reached(Status::Online), None);
        state.visitor_wrote(Status::Online, later(100));
        assert_eq!(state.busy_reply_due(45), Some(later(145)));
        assert_eq!(state.deadline_reached(Status::Busy), Some(AutoReply::Busy));
    }

    #[test]
    fn busy_answers_at_once_once_per_wait() {
        let mut state = ReplyState::default();
        assert_eq!(
            state.visitor_wrote(Status::Busy, t0()),
            Some(AutoReply::Busy)
        );
        assert_eq!(state.visitor_wrote(Status::Busy, later(5)), None);
        assert_eq!(state.busy_reply_due(45), None, "the wait had its reply");
        state.agent_answered();
        assert_eq!(
            state.visitor_wrote(Status::Busy, later(100)),
            Some(AutoReply::Busy),
            "a new wait"
        );
    }

    #[test]
    fn offline_answers_at_once_once_per_conversation() {
        let mut state = ReplyState::default();
        assert_eq!(
            state.visitor_wrote(Status::Offline, t0()),
            Some(AutoReply::Offline)
        );
        assert_eq!(state.visitor_wrote(Status::Offline, later(5)), None);
        assert_eq!(state.busy_reply_due(45), None);
        state.agent_answered();
        assert_eq!(state.visitor_wrote(Status::Offline, later(100)), None);
        // That new wait had no reply, so its deadline stands; by then the
        // scope is online.
        assert_eq!(state.busy_reply_due(45), Some(later(145)));
        assert_eq!(
            state.deadline_reached(Status::Online),
            Some(AutoReply::Busy)
        );
    }

    #[test]
    fn a_scope_gone_offline_by_the_deadline_gets_the_offline_reply_once() {
        let mut state = ReplyState::default();
        state.visitor_wrote(Status::Online, t0());
        assert_eq!(
            state.deadline_reached(Status::Offline),
            Some(AutoReply::Offline)
        );
        assert!(state.offline_replied);
        state.agent_answered();
        state.visitor_wrote(Status::Online, later(100));
        assert_eq!(state.deadline_reached(Status::Offline), None);
        assert_eq!(state.busy_reply_due(45), None);
    }

    #[test]
    fn message_text_is_trimmed_and_one_to_four_thousand_characters() {
        assert_eq!(message_text("  hello \n"), Some("hello"));
        assert_eq!(message_text(""), None);
        assert_eq!(message_text(" \n\t "), None);
        let longest = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(message_text(&longest), Some(longest.as_str()));
        assert_eq!(message_text(&"a".repeat(MAX_TEXT_CHARS + 1)), None);
    }

    #[test]
    fn reply_texts_are_the_accounts_or_the_default_in_the_visitors_language() {
        for lang in Lang::ALL {
            for kind in [AutoReply::Offline, AutoReply::Busy] {
                let default = kind.default_text(lang);
                assert!(message_text(default).is_some());
                assert_eq!(kind.text(None, lang), Some(default));
            }
        }
        assert_ne!(
            AutoReply::Busy.default_text(Lang::De),
            AutoReply::Busy.default_text(Lang::En)
        );
        assert_eq!(
            AutoReply::Busy.text(Some(" Back soon "), Lang::Fr),
            Some("Back soon")
        );
        assert_eq!(AutoReply::Offline.text(Some(""), Lang::En), None);
        assert_eq!(AutoReply::Offline.text(Some("  "), Lang::En), None);
    }
}
