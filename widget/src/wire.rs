//! The few shapes of `onair_shared` the chat box reads, copied: `onair_shared` links std (it
//! uses jiff and serde), and the wasm pages load links none (`lib.rs`). The tests below hold the
//! copies to the originals (a dev-dependency), so a new status or author breaks them, not pages.

/// A scope's status (`onair_shared::Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Online,
    Busy,
    Offline,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Busy => "busy",
            Status::Offline => "offline",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Status> {
        match s {
            "online" => Some(Status::Online),
            "busy" => Some(Status::Busy),
            "offline" => Some(Status::Offline),
            _ => None,
        }
    }
}

/// Why a scope shows its status (`onair_shared::Reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    OutsideOfficeHours,
    AgentsOnline,
    AgentsBusy,
    NoAgentAvailable,
}

impl Reason {
    pub(crate) fn parse(s: &str) -> Option<Reason> {
        match s {
            "outside_office_hours" => Some(Reason::OutsideOfficeHours),
            "agents_online" => Some(Reason::AgentsOnline),
            "agents_busy" => Some(Reason::AgentsBusy),
            "no_agent_available" => Some(Reason::NoAgentAvailable),
            _ => None,
        }
    }
}

/// Who wrote a message (`onair_shared::wire::Author`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Author {
    Visitor,
    Agent,
    /// An automatic reply.
    Bot,
}

impl Author {
    pub(crate) fn parse(s: &str) -> Option<Author> {
        match s {
            "visitor" => Some(Author::Visitor),
            "agent" => Some(Author::Agent),
            "bot" => Some(Author::Bot),
            _ => None,
        }
    }
}

/// The longest message text the server takes, in characters
/// (`onair_shared::conversation::MAX_TEXT_CHARS`).
pub(crate) const MAX_TEXT_CHARS: usize = 4000;

#[cfg(test)]
mod tests {
    use super::*;
    use onair_shared::wire as shared;

    /// The copy of each original: a new variant in onair_shared fails to compile here.
    fn status(original: shared::Status) -> Status {
        match original {
            shared::Status::Online => Status::Online,
            shared::Status::Busy => Status::Busy,
            shared::Status::Offline => Status::Offline,
        }
    }

    fn reason(original: shared::Reason) -> Reason {
        match original {
            shared::Reason::OutsideOfficeHours => Reason::OutsideOfficeHours,
            shared::Reason::AgentsOnline => Reason::AgentsOnline,
            shared::Reason::AgentsBusy => Reason::AgentsBusy,
            shared::Reason::NoAgentAvailable => Reason::NoAgentAvailable,
        }
    }

    fn author(original: shared::Author) -> Author {
        match original {
            shared::Author::Visitor => Author::Visitor,
            shared::Author::Agent => Author::Agent,
            shared::Author::Bot => Author::Bot,
        }
    }

    /// The chat box asks for `?lang=` with its own codes (`i18n::Lang::code`); the server
    /// must know each of them, and speak no language the chat box lacks.
    #[test]
    fn the_chat_box_speaks_the_servers_languages() {
        let ours: Vec<&str> = crate::i18n::Lang::ALL.iter().map(|l| l.code()).collect();
        let servers: Vec<&str> = shared::Lang::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(ours, servers);
    }

    #[test]
    fn the_copies_read_what_the_originals_write() {
        assert_eq!(MAX_TEXT_CHARS, onair_shared::conversation::MAX_TEXT_CHARS);
        for original in [
            shared::Status::Online,
            shared::Status::Busy,
            shared::Status::Offline,
        ] {
            assert_eq!(Status::parse(original.as_str()), Some(status(original)));
            assert_eq!(status(original).as_str(), original.as_str());
        }
        for original in [
            shared::Reason::OutsideOfficeHours,
            shared::Reason::AgentsOnline,
            shared::Reason::AgentsBusy,
            shared::Reason::NoAgentAvailable,
        ] {
            assert_eq!(Reason::parse(original.as_str()), Some(reason(original)));
        }
        for original in [
            shared::Author::Visitor,
            shared::Author::Agent,
            shared::Author::Bot,
        ] {
            assert_eq!(Author::parse(original.as_str()), Some(author(original)));
        }
        for unknown in ["", "Online", "away", "agent "] {
            assert_eq!(Status::parse(unknown), None);
            assert_eq!(Reason::parse(unknown), None);
            assert_eq!(Author::parse(unknown), None);
        }
    }
}
