//! Shapes that cross a wire: what the HTTP API and the event streams send, and
//! what the widget decodes. Field names here are the API's (docs/api.md): changing one breaks clients.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A status, both as an agent chooses it and as a chat box shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Busy,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Busy => "busy",
            Status::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "online" => Some(Status::Online),
            "busy" => Some(Status::Busy),
            "offline" => Some(Status::Offline),
            _ => None,
        }
    }
}

/// Why a scope shows the status it does (docs/status.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    OutsideOfficeHours,
    AgentsOnline,
    AgentsBusy,
    NoAgentAvailable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutsideOfficeHours => "outside_office_hours",
            Reason::AgentsOnline => "agents_online",
            Reason::AgentsBusy => "agents_busy",
            Reason::NoAgentAvailable => "no_agent_available",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        match s {
            "outside_office_hours" => Some(Reason::OutsideOfficeHours),
            "agents_online" => Some(Reason::AgentsOnline),
            "agents_busy" => Some(Reason::AgentsBusy),
            "no_agent_available" => Some(Reason::NoAgentAvailable),
            _ => None,
        }
    }
}

/// What a chat box shows for one scope: `GET …/status` and `event: status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusSnapshot {
    pub account: String,
    pub group: Option<String>,
    pub status: Status,
    pub reason: Reason,
    /// The busy or offline message when that applies.
    pub message: Option<String>,
    /// The next instant office hours open or close for this scope, if within 14 days.
    pub next_change: Option<Timestamp>,
    /// The account's change counter at this scope's last change; never goes backwards.
    pub version: u64,
    /// The account's `hide_when_offline` setting: a widget shows nothing while
    /// offline (and no conversation is in progress). In the snapshot, so
    /// widgets need no second request.
    #[serde(default)]
    pub hide_when_offline: bool,
    /// Whether the server emails replies to visitors who left an address
    /// (it is configured with SMTP): without it, a chat box must not promise
    /// an answer by email.
    #[serde(default)]
    pub email_replies: bool,
}

/// `event: site` on the agent stream: the site's status and every group's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteEvent {
    pub site: Status,
    pub groups: BTreeMap<String, Status>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// An agent as the API shows it (docs/api.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub groups: Vec<String>,
    /// The chosen status.
    pub status: Status,
    /// Chosen `online` or `busy` and at least one session present.
    pub available: bool,
    /// Whether the agent gets an email for each offline message of its scopes.
    pub email_notifications: bool,
    /// Disabled by an admin: cannot log in, counts for no chat box.
    #[serde(default)]
    pub disabled: bool,
    /// The agent's picture, root-relative (`/api/v1/avatars/{hash}`); `null`
    /// while it has none.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// One of an agent's sessions (devices), as `GET /me` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub id: String,
    pub device: String,
    pub present: bool,
}

/// `GET /me`: the agent with its sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    #[serde(flatten)]
    pub agent: Agent,
    pub sessions: Vec<Session>,
}

/// An account's settings as the API shows them (docs/api.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub grace_seconds: u32,
    /// The chat box's message while busy; `null`: the built-in text in the
    /// chat box's language (also for a language a per-language value leaves out).
    #[serde(default)]
    pub busy_message: Option<LocalText>,
    /// The chat box's message while offline; `null` as for `busy_message`.
    #[serde(default)]
    pub offline_message: Option<LocalText>,
    pub hide_when_offline: bool,
    pub busy_after_seconds: u32,
    pub allowed_origins: Vec<String>,
    /// The automatic reply to a visitor who writes while the scope is offline
    /// (docs/conversations.md). `null`: the default text, in the visitor's language; an
    /// empty string: no offline reply (per language too).
    #[serde(default)]
    pub offline_reply: Option<LocalText>,
    /// The automatic reply while busy or when no agent answered in time;
    /// `null` and `""` as for `offline_reply`.
    #[serde(default)]
    pub busy_reply: Option<LocalText>,
    pub created_at: Timestamp,
    /// The built-in texts, per language: what applies where the account
    /// gives none of its own. Read-only.
    #[serde(default)]
    pub builtin: BuiltinTexts,
}

/// An account's built-in chat box texts in every language (`builtin` of an account).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuiltinTexts {
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub busy_message: BTreeMap<Lang, String>,
    /// Promises an answer by email only when the server sends email replies.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub offline_message: BTreeMap<Lang, String>,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub offline_reply: BTreeMap<Lang, String>,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub busy_reply: BTreeMap<Lang, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub key: String,
    pub name: String,
}

/// The languages of the chat box, and of the default automatic replies (widget/README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    En,
    Fr,
    De,
    It,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::De, Lang::It, Lang::Es];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::It => "it",
            Lang::Es => "es",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|lang| lang.as_str() == s)
    }

    /// This language's place in [`Lang::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A text an account gives its chat boxes (docs/status.md): one string for every
/// language, or one per language (`{"en": "…", "de": "…"}`). A language it
/// does not name gets the built-in text in that language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LocalText {
    /// The same text in every language.
    All(String),
    /// A text per language.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    PerLanguage(BTreeMap<Lang, String>),
}

impl LocalText {
    /// The text for `lang`, if this names one.
    pub fn get(&self, lang: Lang) -> Option<&str> {
        match self {
            LocalText::All(text) => Some(text),
            LocalText::PerLanguage(texts) => texts.get(&lang).map(String::as_str),
        }
    }
}

/// Where a conversation stands (docs/conversations.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// Delivered live: the visitor's scope was online or busy when they last wrote.
    Open,
    /// Left while the scope was offline; waits for an agent's follow-up.
    Offline,
    /// Ended by an agent; it takes no more messages.
    Closed,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Open => "open",
            ConversationState::Offline => "offline",
            ConversationState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationState> {
        match s {
            "open" => Some(ConversationState::Open),
            "offline" => Some(ConversationState::Offline),
            "closed" => Some(ConversationState::Closed),
            _ => None,
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Visitor,
    Agent,
    /// An automatic reply.
    Bot,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Visitor => "visitor",
            Author::Agent => "agent",
            Author::Bot => "bot",
        }
    }

    pub fn parse(s: &str) -> Option<Author> {
        match s {
            "visitor" => Some(Author::Visitor),
            "agent" => Some(Author::Agent),
            "bot" => Some(Author::Bot),
            _ => None,
        }
    }
}

/// How a visitor's message was delivered: to agents who are there (`live`,
/// the scope was online or busy) or as an offline message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Live,
    Offline,
}

/// A conversation (docs/conversations.md). Optional fields are always present, `null`
/// when absent, as in the status snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: String,
    pub state: ConversationState,
    /// The group whose chat box it was started from; `null` for the site's.
    pub group: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: Timestamp,
    pub last_message_at: Timestamp,
    /// The page the visitor wrote from; `null` when the chat box did not say.
    #[serde(default)]
    pub page: Option<Page>,
}

/// A page of the customer's website (docs/conversations.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page {
    /// An `http` or `https` URL.
    pub url: String,
    pub title: Option<String>,
}

/// A message of a conversation (docs/conversations.md). Text is plain text, never HTML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub author: Author,
    /// The agent who wrote it; `null` unless `author` is `agent`.
    pub agent_id: Option<String>,
    /// Who answered, as the chat box shows it; `null` unless `author` is `agent` (and for an
    /// agent since deleted).
    #[serde(default)]
    pub agent: Option<MessageAgent>,
    pub text: String,
    pub created_at: Timestamp,
}

/// The agent on a message (docs/conversations.md): what a visitor may see of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageAgent {
    pub id: String,
    pub name: String,
    /// The agent's picture, root-relative (`/api/v1/avatars/{hash}`: resolve it against the
    /// server's origin); `null` while they have none.
    pub avatar_url: Option<String>,
}

/// `event: typing` (docs/conversations.md): someone is writing in a conversation. Never
/// stored; the other side's chat box or dashboard shows it for a few seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Typing {
    pub conversation_id: String,
    /// `visitor` or `agent`.
    pub author: Author,
    /// The agent's name, or the visitor's when they gave one; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /accounts/{account}/conversations` → 201.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationStarted {
    pub conversation: Conversation,
    pub message: Message,
    pub delivery: Delivery,
}

/// `POST /accounts/{account}/conversations/{id}/messages` → 201. `delivery`
/// says how the message went, so the widget knows without asking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VisitorMessagePosted {
    pub message: Message,
    pub delivery: Delivery,
}

/// `POST /conversations/{id}/messages` (an agent's reply) → 201.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePosted {
    pub message: Message,
}

/// `GET /conversations` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversations {
    pub conversations: Vec<ConversationSummary>,
}

/// A conversation as the inbox lists it: its fields and its newest message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSummary {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// The newest message that is not an automatic reply, its text cut to
    /// [`PREVIEW_CHARS`] characters; `null` when there is none.
    pub last_message: Option<MessagePreview>,
}

/// The most characters of a message an inbox preview shows.
pub const PREVIEW_CHARS: usize = 140;

/// The start of a message, for the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePreview {
    pub author: Author,
    /// At most [`PREVIEW_CHARS`] characters, with `…` when cut.
    pub text: String,
    pub created_at: Timestamp,
}

impl MessagePreview {
    /// The preview of a message by `author` with `text`.
    pub fn of(author: Author, text: &str, created_at: Timestamp) -> MessagePreview {
        // Past the limit: the first PREVIEW_CHARS - 1 characters and `…`.
        let text = match text.char_indices().nth(PREVIEW_CHARS) {
            Some(_) => {
                let cut = text
                    .char_indices()
                    .nth(PREVIEW_CHARS - 1)
                    .map_or(text.len(), |(at, _)| at);
                format!("{}…", text[..cut].trim_end())
            }
            None => text.to_owned(),
        };
        MessagePreview {
            author,
            text,
            created_at,
        }
    }
}

/// `GET /conversations/{id}` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationWithMessages {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

/// `POST /conversations/{id}/close` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationOnly {
    pub conversation: Conversation,
}

/// Every error the API answers: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_keeps_short_texts_and_cuts_long_ones_at_a_character() {
        let at = Timestamp::UNIX_EPOCH;
        assert_eq!(MessagePreview::of(Author::Visitor, "Hi", at).text, "Hi");
        let exact = "é".repeat(PREVIEW_CHARS);
        assert_eq!(MessagePreview::of(Author::Agent, &exact, at).text, exact);
        let long = format!("{} tail", "ü".repeat(PREVIEW_CHARS - 1));
        let cut = MessagePreview::of(Author::Bot, &long, at).text;
        assert_eq!(cut, format!("{}…", "ü".repeat(PREVIEW_CHARS - 1)));
        assert_eq!(cut.chars().count(), PREVIEW_CHARS);
        let solid = "x".repeat(200);
        let cut = MessagePreview::of(Author::Visitor, &solid, at).text;
        assert_eq!(cut, format!("{}…", "x".repeat(PREVIEW_CHARS - 1)));
    }

    /// The hand-written `as_str`/`parse` (used where serde is too heavy, as in
    /// the widget) must agree with the serde names.
    #[test]
    fn string_forms_match_the_serde_names() {
        for status in [Status::Online, Status::Busy, Status::Offline] {
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        for reason in [
            Reason::OutsideOfficeHours,
            Reason::AgentsOnline,
            Reason::AgentsBusy,
            Reason::NoAgentAvailable,
        ] {
            let json = serde_json::to_string(&reason).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        for role in [Role::Admin, Role::Agent] {
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for lang in Lang::ALL {
            let json = serde_json::to_string(&lang).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", lang.as_str()));
            assert_eq!(Lang::parse(lang.as_str()), Some(lang));
        }
        for state in [
            ConversationState::Open,
            ConversationState::Offline,
            ConversationState::Closed,
        ] {
            let json = serde_json::to_string(&state).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        }
        for author in [Author::Visitor, Author::Agent, Author::Bot] {
            let json = serde_json::to_string(&author).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", author.as_str()));
            assert_eq!(Author::parse(author.as_str()), Some(author));
        }
        assert_eq!(Status::parse("away"), None);
        assert_eq!(Reason::parse(""), None);
    }
}
