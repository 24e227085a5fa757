//! The chat box as a pure function of state: no web-sys here, so everything in this module
//! is tested natively with plain `#[test]`s. The DOM layer (`dom.rs`) turns browser events
//! into [`Msg`]s, feeds them to [`update`], applies what [`view`] returns and makes the
//! requests [`update`] leaves in [`Model::outbox`].

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use crate::i18n::{Lang, Strings};
use crate::wire::{Author, MAX_TEXT_CHARS, Reason, Status};

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
    pub(crate) email_replies: Option<bool>,
}

/// A status snapshot (docs/status.md) the chat box can show.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) status: Status,
    /// `None` for a reason this widget does not know yet: it only matters for office hours.
    pub(crate) reason: Option<Reason>,
    pub(crate) message: Option<String>,
    pub(crate) next_change_ms: Option<f64>,
    pub(crate) version: u64,
    pub(crate) hide_when_offline: bool,
    /// The server emails replies: only then may the box promise one by email.
    pub(crate) email_replies: bool,
}

impl Snapshot {
    /// Checks what arrived. A snapshot without a known status or a usable version is
    /// dropped whole: showing a guess would be worse than keeping the last answer.
    pub(crate) fn decode(raw: RawSnapshot) -> Option<Snapshot> {
        let status = Status::parse(raw.status.as_deref()?)?;
        let version = raw.version?;
        if !(version.is_finite() && version >= 0.0 && version % 1.0 == 0.0) {
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
            // A server that does not say has no email to promise.
            email_replies: raw.email_replies.unwrap_or(false),
        })
    }
}

/// The fields of one message (docs/conversations.md), as the DOM layer read them from JSON, unchecked.
#[derive(Debug, Default)]
pub(crate) struct RawMessage {
    pub(crate) id: Option<String>,
    pub(crate) conversation_id: Option<String>,
    pub(crate) author: Option<String>,
    /// `agent.name`: who answered.
    pub(crate) agent_name: Option<String>,
    /// `agent.avatar_url`: their picture, root-relative.
    pub(crate) agent_avatar: Option<String>,
    pub(crate) text: Option<String>,
    /// `created_at` as milliseconds since the epoch.
    pub(crate) created_ms: Option<f64>,
    /// The SSE event id (the message's `seq`), for a message that came on the stream.
    pub(crate) seq: Option<String>,
}

/// A message of the visitor's conversation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ChatMessage {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) author: Author,
    /// The name of the agent who answered; `None` for the visitor's and automatic messages,
    /// and for an agent the server no longer names.
    pub(crate) agent_name: Option<String>,
    /// Where the agent's picture is, a path on the server (`/api/v1/avatars/…`); `None`
    /// when they have none, and for anything but a path, which is not loaded.
    pub(crate) agent_avatar: Option<String>,
    /// Plain text, shown as text.
    pub(crate) text: String,
    /// `created_at` in milliseconds since the epoch; infinite when unknown, so it goes last.
    pub(crate) created_ms: f64,
    /// Its `seq` in the conversation stream; `None` for one known only from a `201` answer.
    pub(crate) seq: Option<u64>,
}

impl ChatMessage {
    /// Checks what arrived; a message without an id, conversation, author or text is dropped.
    pub(crate) fn decode(raw: RawMessage) -> Option<ChatMessage> {
        let id = raw.id.filter(|id| !id.is_empty())?;
        Some(ChatMessage {
            id,
            conversation_id: raw.conversation_id?,
            author: Author::parse(raw.author.as_deref()?)?,
            agent_name: raw.agent_name.filter(|name| !name.trim().is_empty()),
            // A path on the server only: never another host (`//host/…`) nor a scheme.
            agent_avatar: raw
                .agent_avatar
                .filter(|path| path.starts_with('/') && !path.starts_with("//")),
            text: raw.text?,
            created_ms: raw
                .created_ms
                .filter(|ms| ms.is_finite())
                .unwrap_or(f64::INFINITY),
            seq: raw.seq.and_then(|seq| seq.trim_ascii().parse().ok()),
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
    pub(crate) chat: Chat,
    /// The request to make now. The DOM layer takes it after each [`update`] and answers
    /// with [`Msg::Posted`].
    pub(crate) outbox: Option<Post>,
    /// Which form's request is on its way; its Send button waits until it is answered.
    pub(crate) sending: Option<Form>,
    /// What the panel says about the last send or the conversation's end.
    pub(crate) notice: Option<Notice>,
    /// An agent is writing a reply: their name, empty when the server gave none.
    pub(crate) agent_typing: Option<String>,
    /// The name and email the visitor gave, kept for later conversations and forms.
    pub(crate) visitor: Visitor,
    /// What the next announcement is about.
    news: News,
}

impl Model {
    pub(crate) fn new(lang: Lang) -> Model {
        Model {
            snapshot: None,
            open: false,
            lang,
            connected: false,
            chat: Chat::default(),
            outbox: None,
            sending: None,
            notice: None,
            agent_typing: None,
            visitor: Visitor::default(),
            news: News::Status,
        }
    }
}

/// What the visitor told about themselves: given once, in the leave-a-message form, and sent
/// with every conversation they start afterwards (the DOM layer keeps it across pages).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Visitor {
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
}

/// The visitor's current conversation (docs/conversations.md).
#[derive(Debug, Default)]
pub(crate) struct Chat {
    /// Its id; kept in `localStorage` by the DOM layer, so it survives page loads.
    pub(crate) id: Option<String>,
    /// An agent closed it: the next message starts a new one.
    pub(crate) closed: bool,
    /// Oldest first, each once.
    pub(crate) messages: Vec<ChatMessage>,
    /// The highest `seq` seen on the stream: where a new stream resumes.
    pub(crate) last_seq: u64,
    /// The highest `seq` the visitor has had in front of them (the panel open); replies
    /// after it are unread. Kept across page loads, like the id.
    pub(crate) read_seq: u64,
}

impl Chat {
    /// A conversation with messages that is not closed: it keeps the chat box shown.
    fn in_progress(&self) -> bool {
        self.id.is_some() && !self.closed && !self.messages.is_empty()
    }

    /// Agent and automatic messages the visitor has not seen yet.
    fn unread(&self) -> impl Iterator<Item = &ChatMessage> {
        self.messages.iter().filter(|message| {
            message.author != Author::Visitor && message.seq.is_some_and(|seq| seq > self.read_seq)
        })
    }
}

/// A request for the DOM layer to make (it adds the visitor token, group and language).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Post {
    /// `POST …/conversations`: a new conversation, from the chat or the offline form.
    Start {
        text: String,
        name: Option<String>,
        email: Option<String>,
    },
    /// `POST …/conversations/{id}/messages`.
    Append {
        conversation_id: String,
        text: String,
    },
}

/// Why a request failed, as the DOM layer saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The HTTP status; 0 when no answer came (network down, CORS refused).
    pub(crate) status: u16,
    /// The error's `code` and `message` (docs/api.md), empty when the body had none.
    pub(crate) code: String,
    pub(crate) message: String,
    /// `Retry-After`, in seconds.
    pub(crate) retry_after: Option<u32>,
}

/// What the panel says under the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The offline form's message is on its way to the team.
    Sent,
    /// The conversation was closed (or is gone): the next message starts a new one.
    Ended,
    Problem(Problem),
}

/// Why a message was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    NoText,
    /// Longer than the server takes, with its length in characters.
    TooLong(usize),
    /// The server's rate limit, with its `Retry-After` in seconds.
    RateLimited(u32),
    MissingEmail,
    InvalidEmail,
    /// No answer, or one without an error message.
    Failed,
    /// Another error: the server's own message.
    Server(String),
}

impl Problem {
    /// Reads a failed request. `None` when it means the conversation is over: closed (409),
    /// or unknown (404) to this server.
    fn of(failure: Failure) -> Option<Problem> {
        let problem = match failure.code.as_str() {
            "conversation_closed" | "unknown_conversation" => return None,
            "rate_limited" if failure.retry_after.is_some() => {
                Problem::RateLimited(failure.retry_after.unwrap_or_default())
            }
            "missing_email" => Problem::MissingEmail,
            "invalid_email" => Problem::InvalidEmail,
            "invalid_text" => Problem::NoText,
            _ if failure.status == 0 || failure.message.is_empty() => Problem::Failed,
            _ => Problem::Server(failure.message),
        };
        Some(problem)
    }
}

/// What an announcement says: the status (the default), the newest unread reply, or the
/// notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum News {
    Status,
    Reply,
    Notice,
}

#[derive(Debug)]
pub(crate) enum Msg {
    Snapshot(Snapshot),
    Connected,
    Disconnected,
    TogglePanel,
    ClosePanel,
    /// A message of the closed conversation the current one followed, read after a page
    /// load: shown above it, as on the page where the visitor wrote again.
    Earlier(ChatMessage),
    /// The conversation kept from an earlier page, and how far the visitor had read it.
    Resume {
        conversation_id: String,
        read_seq: u64,
    },
    /// The visitor sent the chat's text.
    Send(String),
    /// The visitor sent the leave-a-message form.
    Leave {
        name: String,
        email: String,
        text: String,
    },
    /// The answer to the request in [`Model::outbox`]: the message as stored, or why not.
    Posted(Result<ChatMessage, Failure>),
    /// A message from the conversation stream.
    Message(ChatMessage),
    /// `event: conversation`: the conversation's state now.
    Conversation {
        id: String,
        closed: bool,
    },
    /// The server does not know the conversation (its stream answered 404): forget it.
    ConversationGone,
    /// `event: typing` from an agent of the conversation, with the agent's name if any.
    AgentTyping(Option<String>),
    /// No typing signal for a few seconds (the DOM layer's timer): the agent stopped.
    TypingOver,
}

/// What an [`update`] asks of the DOM layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing changed.
    None,
    /// Render the new view.
    Render,
    /// Render, and announce [`View::announcement`] to screen readers: there is news.
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
            // Versions never go backwards on the server (docs/status.md): a lower one is stale,
            // e.g. from a connection that was overtaken by a newer one.
            if snapshot.version < last.version || *last == snapshot {
                return Change::None;
            }
            let status_changed = last.status != snapshot.status;
            let came_online = last.status == Status::Offline && snapshot.status != Status::Offline;
            model.snapshot = Some(snapshot);
            if came_online && matches!(model.notice, Some(Notice::Sent | Notice::Problem(_))) {
                // Said about the offline form, which is gone: the chat replaces it.
                model.notice = None;
            }
            if status_changed {
                announce(model, News::Status)
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
            if model.open {
                mark_read(&mut model.chat);
            }
            Change::Render
        }
        Msg::ClosePanel => set(&mut model.open, false),
        Msg::Resume {
            conversation_id,
            read_seq,
        } => {
            model.chat = Chat {
                id: Some(conversation_id),
                read_seq,
                ..Chat::default()
            };
            Change::Render
        }
        Msg::Earlier(message) => {
            let other = model
                .chat
                .id
                .as_ref()
                .is_some_and(|current| *current != message.conversation_id);
            if other && receive(model, message) {
                Change::Render
            } else {
                Change::None
            }
        }
        Msg::Send(text) => {
            if model.sending.is_some() {
                return Change::None;
            }
            let text = match checked_text(&text) {
                Ok(text) => text,
                // Enter in an empty box is not worth a complaint.
                Err(Problem::NoText) => return Change::None,
                Err(problem) => return complain(model, problem),
            };
            let post = match &model.chat.id {
                Some(id) if !model.chat.closed => Post::Append {
                    conversation_id: id.clone(),
                    text,
                },
                _ => Post::Start {
                    text,
                    name: model.visitor.name.clone(),
                    email: model.visitor.email.clone(),
                },
            };
            post_now(model, post, Form::Chat)
        }
        Msg::Leave { name, email, text } => {
            if model.sending.is_some() {
                return Change::None;
            }
            let text = match checked_text(&text) {
                Ok(text) => text,
                Err(problem) => return complain(model, problem),
            };
            let email = email.trim();
            if email.is_empty() {
                return complain(model, Problem::MissingEmail);
            }
            let name = name.trim();
            model.visitor = Visitor {
                name: (!name.is_empty()).then(|| name.to_owned()),
                email: Some(email.to_owned()),
            };
            // A left message always starts a conversation of its own, with the email to
            // answer; whatever was said in the chat before stays in its own conversation.
            let post = Post::Start {
                text,
                name: model.visitor.name.clone(),
                email: model.visitor.email.clone(),
            };
            post_now(model, post, Form::LeaveMessage)
        }
        Msg::Posted(answer) => {
            // An answer for nothing on its way: a test's stand-in answered it already.
            let Some(form) = model.sending.take() else {
                return Change::None;
            };
            match answer {
                Ok(message) => {
                    if model.chat.id.as_deref() != Some(&message.conversation_id) {
                        // A new conversation after a closed one: what was said stays in
                        // sight above it (seqs are global, so what was read stays read).
                        let earlier = core::mem::take(&mut model.chat);
                        model.chat = Chat {
                            id: Some(message.conversation_id.clone()),
                            messages: earlier.messages,
                            read_seq: earlier.read_seq,
                            ..Chat::default()
                        };
                    }
                    receive(model, message);
                    if form == Form::LeaveMessage {
                        model.notice = Some(Notice::Sent);
                        return announce(model, News::Notice);
                    }
                    model.notice = None;
                    Change::Render
                }
                Err(failure) => match Problem::of(failure) {
                    Some(problem) => complain(model, problem),
                    None => {
                        model.chat.closed = true;
                        model.notice = Some(Notice::Ended);
                        announce(model, News::Notice)
                    }
                },
            }
        }
        Msg::Message(message) => {
            if model.chat.id.as_deref() != Some(&message.conversation_id) {
                // From a stream of a conversation since replaced.
                return Change::None;
            }
            let is_reply = message.author != Author::Visitor;
            let from_agent = message.author == Author::Agent;
            let seq = message.seq.unwrap_or(0);
            if !receive(model, message) {
                return Change::None;
            }
            if from_agent {
                // The reply being typed has come.
                model.agent_typing = None;
            }
            if model.open && is_shown(model) {
                mark_read(&mut model.chat);
            } else if is_reply && seq > model.chat.read_seq {
                return announce(model, News::Reply);
            }
            Change::Render
        }
        Msg::Conversation { id, closed } => {
            if model.chat.id.as_deref() != Some(&id) || model.chat.closed == closed {
                return Change::None;
            }
            model.chat.closed = closed;
            if !closed {
                return Change::Render;
            }
            model.notice = Some(Notice::Ended);
            // Before any message this is the stream's opening, after a page load: old news.
            if model.chat.messages.is_empty() {
                Change::Render
            } else {
                announce(model, News::Notice)
            }
        }
        Msg::ConversationGone => {
            model.chat = Chat::default();
            model.agent_typing = None;
            if model.notice == Some(Notice::Ended) {
                model.notice = None;
            }
            Change::Render
        }
        Msg::AgentTyping(name) => {
            let name = Some(name.unwrap_or_default());
            if model.agent_typing == name || model.chat.id.is_none() {
                return Change::None;
            }
            model.agent_typing = name;
            Change::Render
        }
        Msg::TypingOver => {
            if model.agent_typing.take().is_none() {
                return Change::None;
            }
            Change::Render
        }
    }
}

fn set(field: &mut bool, value: bool) -> Change {
    if *field == value {
        return Change::None;
    }
    *field = value;
    Change::Render
}

fn announce(model: &mut Model, news: News) -> Change {
    model.news = news;
    Change::RenderAndAnnounce
}

fn complain(model: &mut Model, problem: Problem) -> Change {
    model.notice = Some(Notice::Problem(problem));
    announce(model, News::Notice)
}

fn post_now(model: &mut Model, post: Post, form: Form) -> Change {
    model.outbox = Some(post);
    model.sending = Some(form);
    model.notice = None;
    Change::Render
}

/// The text to send, trimmed as the server stores it (`onair_shared::conversation::message_text`),
/// or why it cannot be sent.
fn checked_text(text: &str) -> Result<String, Problem> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(Problem::NoText);
    }
    if chars > MAX_TEXT_CHARS {
        return Err(Problem::TooLong(chars));
    }
    Ok(text.to_owned())
}

/// Adds a message to the conversation once, in the order it was written; `false` if it was
/// there already (the same message comes in the `201` answer and on the stream, and a
/// stream replays the history on connect).
fn receive(model: &mut Model, message: ChatMessage) -> bool {
    let chat = &mut model.chat;
    if let Some(seq) = message.seq {
        chat.last_seq = chat.last_seq.max(seq);
    }
    if let Some(known) = chat
        .messages
        .iter_mut()
        .find(|known| known.id == message.id)
    {
        known.seq = known.seq.or(message.seq);
        return false;
    }
    // Usually the last place; a reply overtaken by the answer to the visitor's own
    // message goes before it. Not `insert`: its panic message would bring integer
    // formatting into the wasm.
    let mut later = Vec::new();
    while chat
        .messages
        .last()
        .is_some_and(|last| last.created_ms > message.created_ms)
    {
        later.extend(chat.messages.pop());
    }
    chat.messages.push(message);
    chat.messages.extend(later.into_iter().rev());
    true
}

fn mark_read(chat: &mut Chat) {
    chat.read_seq = chat.read_seq.max(chat.last_seq);
}

/// Whether the chat box shows anything at all.
fn is_shown(model: &Model) -> bool {
    match &model.snapshot {
        // Nothing to show until the server answers: a bubble that then vanishes (hidden while
        // offline) or changes its mind would be worse than a short wait.
        None => false,
        // A visitor with a conversation in progress keeps seeing it, also while offline with
        // `hide_when_offline` set (widget/README.md).
        Some(snapshot) => {
            !(snapshot.status == Status::Offline && snapshot.hide_when_offline)
                || model.chat.in_progress()
        }
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

/// What stands for an agent without a picture: the first letters of their name's first and
/// last words ("Ann Marie Smith": "AS"; "ann": "a"). The style sheet shows them upper-case:
/// `char::to_uppercase` would bring Unicode's case tables into the wasm (about 6 KB
/// transferred), and the browser has them already.
pub(crate) fn initials(name: &str) -> String {
    let mut words = name.split_ascii_whitespace();
    let first = words.next().and_then(|w| w.chars().next());
    let last = words.last().and_then(|w| w.chars().next());
    first.into_iter().chain(last).collect()
}

/// A message's text in pieces for the DOM layer: plain text (`false`) and web addresses to show
/// as links (`true`). Only `http://` and `https://` addresses are links, up to the next space,
/// without the punctuation that ends a sentence after them (and a closing bracket they did not
/// open). Everything is still shown as text: a link's text is its address.
pub(crate) fn linked(text: &str) -> Vec<(bool, &str)> {
    // Bytes, not `str::find`: a string searcher would cost the wasm kilobytes. Every cut is at
    // an ASCII byte, so on a character boundary.
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut done = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        let scheme = if rest.starts_with(b"https://") {
            8
        } else if rest.starts_with(b"http://") {
            7
        } else {
            at += 1;
            continue;
        };
        let mut end = rest
            .iter()
            .position(|&b| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'"'))
            .unwrap_or(rest.len());
        // Punctuation after an address ends the sentence, not the address; so does a closing
        // bracket the address did not open.
        while let Some(&last) = rest.get(end.wrapping_sub(1)) {
            let link = rest.get(..end).unwrap_or_default();
            let count = |c| link.iter().filter(|&&b| b == c).count();
            let unopened = last == b')' && count(b')') > count(b'(');
            if !(matches!(last, b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'') || unopened) {
                break;
            }
            end -= 1;
        }
        // A scheme alone is no address: it stays text.
        if end > scheme {
            if at > done {
                pieces.push((false, text.get(done..at).unwrap_or_default()));
            }
            pieces.push((true, text.get(at..at + end).unwrap_or_default()));
            done = at + end;
        }
        at += end.max(1);
    }
    if done < text.len() {
        pieces.push((false, text.get(done..).unwrap_or_default()));
    }
    pieces
}

/// What the DOM shows, derived from the model alone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct View<'a> {
    /// The host element's `data-status`: `online`, `busy`, `offline` or `connecting`.
    pub(crate) host_status: &'static str,
    /// Whether anything is shown.
    pub(crate) visible: bool,
    /// The stream dropped; the last status stays shown, slightly dimmed.
    pub(crate) reconnecting: bool,
    /// Whether the panel is open.
    pub(crate) open: bool,
    pub(crate) bubble_label: &'static str,
    /// The count of unread replies on the bubble, as text; `None` when there are none.
    pub(crate) badge: Option<String>,
    /// The bubble's accessible name when it differs from its text (unread replies).
    pub(crate) bubble_name: Option<String>,
    pub(crate) title: &'static str,
    /// The busy or offline message.
    pub(crate) message: Option<String>,
    /// When office hours open again, visitor-local.
    pub(crate) back_at: Option<String>,
    /// The conversation so far, oldest first.
    pub(crate) messages: &'a [ChatMessage],
    /// "Ann is typing…" while an agent writes a reply.
    pub(crate) typing: Option<String>,
    pub(crate) form: Form,
    /// The send buttons wait for an answer.
    pub(crate) sending: bool,
    pub(crate) send_label: &'static str,
    /// What the panel says about the last send; `notice_is_problem` when it went wrong.
    pub(crate) notice: Option<String>,
    pub(crate) notice_is_problem: bool,
    /// What a screen reader says on [`Change::RenderAndAnnounce`]; `None` while nothing is
    /// shown.
    pub(crate) announcement: Option<String>,
}

/// The view of `model` in `strings` at `now_ms` (milliseconds since the epoch).
/// `local_time` formats an instant in the visitor's timezone; the DOM layer passes one that
/// asks the browser, the tests a fixed one.
pub(crate) fn view<'a>(
    model: &'a Model,
    strings: &Strings,
    now_ms: f64,
    local_time: &dyn Fn(f64) -> LocalTime,
) -> View<'a> {
    let visible = is_shown(model);
    let sending = model.sending.is_some();
    let send_label = if sending {
        strings.sending
    } else {
        strings.send
    };
    let Some(snapshot) = &model.snapshot else {
        return View {
            host_status: "connecting",
            visible,
            reconnecting: false,
            open: false,
            bubble_label: strings.bubble_chat,
            badge: None,
            bubble_name: None,
            title: strings.title_online,
            message: None,
            back_at: None,
            messages: &model.chat.messages,
            typing: None,
            form: Form::Chat,
            sending,
            send_label,
            notice: None,
            notice_is_problem: false,
            announcement: None,
        };
    };

    let (bubble_label, title, form) = match snapshot.status {
        Status::Online => (strings.bubble_chat, strings.title_online, Form::Chat),
        Status::Busy => (strings.bubble_chat, strings.title_busy, Form::Chat),
        Status::Offline => (
            strings.bubble_offline,
            strings.title_offline,
            Form::LeaveMessage,
        ),
    };
    // Online has no message: the account's messages are for busy and offline.
    // The server sends them in the chat box's language (`?lang=`), its own
    // built-in ones where the account gave none.
    let message = match snapshot.status {
        Status::Online => None,
        Status::Busy | Status::Offline => snapshot.message.clone(),
    };
    let back_at = back_at(snapshot, strings, now_ms, local_time);
    let open = visible && model.open;

    let unread = if open { 0 } else { model.chat.unread().count() };
    let unread_text = match unread {
        0 => None,
        1 => Some(strings.unread[0].to_owned()),
        n => Some(decimal(n as u64) + strings.unread[1]),
    };
    let bubble_name = unread_text
        .as_deref()
        .map(|unread| sentences(&[Some(bubble_label), back_at.as_deref(), Some(unread)]));
    let notice = model
        .notice
        .as_ref()
        .map(|notice| notice_text(notice, strings, snapshot.email_replies));
    let announcement = visible.then(|| match model.news {
        News::Status => sentences(&[Some(title), message.as_deref(), back_at.as_deref()]),
        News::Reply => model
            .chat
            .unread()
            .last()
            .map(|reply| {
                let from = if reply.author == Author::Bot {
                    strings.new_from_bot
                } else {
                    strings.new_from_agent
                };
                from.to_owned() + &reply.text
            })
            .unwrap_or_default(),
        News::Notice => notice.clone().unwrap_or_default(),
    });

    View {
        host_status: snapshot.status.as_str(),
        visible,
        reconnecting: !model.connected,
        open,
        bubble_label,
        badge: (unread > 0).then(|| decimal(unread as u64)),
        bubble_name,
        title,
        message,
        back_at,
        messages: &model.chat.messages,
        typing: model.agent_typing.as_deref().map(|name| {
            let name = if name.is_empty() { strings.agent } else { name };
            name.to_owned() + strings.typing
        }),
        form,
        sending,
        send_label,
        notice,
        notice_is_problem: matches!(model.notice, Some(Notice::Problem(_))),
        announcement,
    }
}

/// `email_replies`: whether the "sent" notice may promise an answer by email.
fn notice_text(notice: &Notice, strings: &Strings, email_replies: bool) -> String {
    let problem = match notice {
        Notice::Sent if email_replies => return strings.sent.to_owned(),
        Notice::Sent => return strings.sent_no_email.to_owned(),
        Notice::Ended => return strings.ended.to_owned(),
        Notice::Problem(problem) => problem,
    };
    let around = |[before, after]: [&str; 2], number: u64| {
        let mut text = before.to_owned();
        text.push_str(&decimal(number));
        text.push_str(after);
        text
    };
    match problem {
        Problem::NoText => strings.no_text.to_owned(),
        Problem::TooLong(chars) => around(strings.too_long, *chars as u64),
        Problem::RateLimited(seconds) => around(strings.rate_limited, u64::from(*seconds)),
        Problem::MissingEmail => strings.missing_email.to_owned(),
        Problem::InvalidEmail => strings.invalid_email.to_owned(),
        Problem::Failed => strings.failed.to_owned(),
        Problem::Server(message) => message.clone(),
    }
}

/// `n` in decimal digits; `format!` and `to_string` would bring `core::fmt` into the wasm.
pub(crate) fn decimal(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits
        .iter()
        .rev()
        .map(|&digit| char::from(digit))
        .collect()
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
            email_replies: false,
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

    fn view_of(model: &Model) -> View<'_> {
        view(model, model.lang.strings(), NOW, &local_time)
    }

    fn view_in(lang: Lang, snapshot: Snapshot) -> View<'static> {
        let mut model = model_with([snapshot]);
        model.lang = lang;
        // Leaked: a view borrows its model, and these tests are short-lived.
        let model = Box::leak(Box::new(model));
        view(model, lang.strings(), NOW, &local_time)
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
    fn busy_and_offline_show_the_message_the_server_sent_in_the_chat_boxs_language() {
        let with_message = |status, message: &str| Snapshot {
            message: Some(message.to_owned()),
            ..snapshot(status, 1)
        };
        let busy = view_in(Lang::En, with_message(Status::Busy, "Back in five"));
        assert_eq!(busy.message.as_deref(), Some("Back in five"));
        let offline = view_in(Lang::De, with_message(Status::Offline, "Schreiben Sie uns"));
        assert_eq!(offline.message.as_deref(), Some("Schreiben Sie uns"));
        // Online never shows the busy or offline message, even if one came along.
        let online = view_in(Lang::En, with_message(Status::Online, "stale"));
        assert_eq!(online.message, None);
        // None sent (or a blank one): none shown.
        let busy = view_in(Lang::De, snapshot(Status::Busy, 1));
        assert_eq!(busy.message, None);
    }

    #[test]
    fn only_a_server_that_emails_replies_gets_an_answer_by_email_promised() {
        for lang in Lang::ALL {
            let strings = lang.strings();
            for email_replies in [false, true] {
                let offline = Snapshot {
                    email_replies,
                    ..snapshot(Status::Offline, 1)
                };
                let mut model = model_with([offline.clone()]);
                model.lang = lang;
                model.notice = Some(Notice::Sent);
                let view = view(&model, strings, NOW, &local_time);
                let sent = if email_replies {
                    strings.sent
                } else {
                    strings.sent_no_email
                };
                assert_eq!(view.notice.as_deref(), Some(sent), "{lang:?}");
            }
            assert_ne!(strings.sent, strings.sent_no_email, "{lang:?}");
        }
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
        // (The message is the server's, in the chat box's language.)
        assert_eq!(today.back_at.as_deref(), Some("Back at 09:00"));
        let later = view_in(Lang::En, closed_until(NOW + 30.0 * HOUR, 1));
        assert_eq!(later.back_at.as_deref(), Some("Back on Monday at 09:00"));
        assert_eq!(
            later.announcement.as_deref(),
            Some("We’re offline. Back on Monday at 09:00")
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
            email_replies: Some(true),
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
                email_replies: true,
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
                email_replies: false,
            })
        );
    }

    // Conversations (docs/conversations.md).

    const CONVERSATION: &str = "c1";

    fn message(id: &str, author: Author, seq: Option<u64>) -> ChatMessage {
        ChatMessage {
            id: id.to_owned(),
            conversation_id: CONVERSATION.to_owned(),
            author,
            agent_name: None,
            agent_avatar: None,
            text: format!("text of {id}"),
            created_ms: NOW + seq.unwrap_or(0) as f64,
            seq,
        }
    }

    /// Online, with conversation `c1` under way (as after a page load), panel closed.
    fn chatting() -> Model {
        let mut model = model_with([snapshot(Status::Online, 1)]);
        update(
            &mut model,
            Msg::Resume {
                conversation_id: CONVERSATION.to_owned(),
                read_seq: 0,
            },
        );
        model
    }

    #[test]
    fn an_agent_typing_shows_until_the_reply_or_the_timer() {
        let mut model = chatting();
        update(&mut model, Msg::TogglePanel);
        assert_eq!(view_of(&model).typing, None);
        assert_eq!(
            update(&mut model, Msg::AgentTyping(Some("Ann".to_owned()))),
            Change::Render
        );
        assert_eq!(view_of(&model).typing.as_deref(), Some("Ann is typing…"));
        // The signal repeats while Ann types: nothing to redraw, nothing announced again.
        assert_eq!(
            update(&mut model, Msg::AgentTyping(Some("Ann".to_owned()))),
            Change::None
        );
        // An automatic reply is not the agent's: still typing.
        update(
            &mut model,
            Msg::Message(message("b1", Author::Bot, Some(2))),
        );
        assert!(view_of(&model).typing.is_some());
        update(
            &mut model,
            Msg::Message(message("a1", Author::Agent, Some(3))),
        );
        assert_eq!(view_of(&model).typing, None, "the reply came");

        update(&mut model, Msg::AgentTyping(None));
        assert_eq!(
            view_of(&model).typing.as_deref(),
            Some("Agent is typing…"),
            "no name given"
        );
        assert_eq!(update(&mut model, Msg::TypingOver), Change::Render);
        assert_eq!(view_of(&model).typing, None);
        assert_eq!(update(&mut model, Msg::TypingOver), Change::None);
    }

    #[test]
    fn typing_is_in_the_chat_box_language_and_needs_a_conversation() {
        let mut model = model_with([snapshot(Status::Online, 1)]);
        assert_eq!(
            update(&mut model, Msg::AgentTyping(Some("Ann".to_owned()))),
            Change::None,
            "no conversation to type in"
        );
        let mut model = chatting();
        model.lang = Lang::De;
        update(&mut model, Msg::AgentTyping(Some("Jörg".to_owned())));
        let view = view(&model, Lang::De.strings(), NOW, &local_time);
        assert_eq!(view.typing.as_deref(), Some("Jörg schreibt…"));
        update(&mut model, Msg::ConversationGone);
        assert_eq!(model.agent_typing, None);
    }

    #[test]
    fn the_name_and_email_given_once_go_with_later_conversations() {
        let mut model = model_with([snapshot(Status::Offline, 1)]);
        update(
            &mut model,
            Msg::Leave {
                name: " Vera ".to_owned(),
                email: " vera@example.com ".to_owned(),
                text: "Call me".to_owned(),
            },
        );
        let remembered = Visitor {
            name: Some("Vera".to_owned()),
            email: Some("vera@example.com".to_owned()),
        };
        assert_eq!(model.visitor, remembered);
        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        // Online later, after that conversation was closed: the chat's first message starts a
        // new one, with who the visitor is.
        update(&mut model, Msg::Snapshot(snapshot(Status::Online, 2)));
        update(
            &mut model,
            Msg::Conversation {
                id: CONVERSATION.to_owned(),
                closed: true,
            },
        );
        update(&mut model, Msg::Send("Me again".to_owned()));
        assert_eq!(
            model.outbox.take(),
            Some(Post::Start {
                text: "Me again".to_owned(),
                name: Some("Vera".to_owned()),
                email: Some("vera@example.com".to_owned()),
            })
        );
        // A visitor who never gave them sends none.
        let mut model = chatting();
        model.chat.closed = true;
        update(&mut model, Msg::Send("Hi".to_owned()));
        assert!(matches!(
            model.outbox.take(),
            Some(Post::Start {
                name: None,
                email: None,
                ..
            })
        ));
    }

    #[test]
    fn the_offline_forms_note_goes_when_the_chat_box_comes_online() {
        let mut model = model_with([snapshot(Status::Offline, 1)]);
        update(
            &mut model,
            Msg::Leave {
                name: String::new(),
                email: "vera@example.com".to_owned(),
                text: "Call me".to_owned(),
            },
        );
        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        assert!(
            view_of(&model)
                .notice
                .is_some_and(|n| n.starts_with("Thanks"))
        );
        // Still offline (a new message, say): the note stays.
        update(
            &mut model,
            Msg::Snapshot(Snapshot {
                message: Some("Back Monday".to_owned()),
                ..snapshot(Status::Offline, 2)
            }),
        );
        assert!(view_of(&model).notice.is_some());
        update(&mut model, Msg::Snapshot(snapshot(Status::Online, 3)));
        assert_eq!(view_of(&model).notice, None);
        // A closed conversation's note is about the chat: it stays whatever the status.
        update(
            &mut model,
            Msg::Conversation {
                id: CONVERSATION.to_owned(),
                closed: true,
            },
        );
        update(&mut model, Msg::Snapshot(snapshot(Status::Offline, 4)));
        update(&mut model, Msg::Snapshot(snapshot(Status::Online, 5)));
        assert!(view_of(&model).notice.is_some());
    }

    #[test]
    fn web_addresses_in_messages_become_links_and_nothing_else_does() {
        assert_eq!(
            linked("See https://shop.example/teapots?colour=blue, or call."),
            [
                (false, "See "),
                (true, "https://shop.example/teapots?colour=blue"),
                (false, ", or call.")
            ]
        );
        assert_eq!(
            linked("(details: http://a.example/x_(y)) and https://b.example."),
            [
                (false, "(details: "),
                (true, "http://a.example/x_(y)"),
                (false, ") and "),
                (true, "https://b.example"),
                (false, ".")
            ]
        );
        assert_eq!(linked("no links here"), [(false, "no links here")]);
        assert_eq!(linked(""), []);
        // Not web addresses, or nothing after the scheme: text.
        assert_eq!(
            linked("javascript:alert(1) ftp://x.example https:// done"),
            [(false, "javascript:alert(1) ftp://x.example https:// done")]
        );
        assert_eq!(
            linked("<a href=\"https://x.example/\">"),
            [
                (false, "<a href=\""),
                (true, "https://x.example/"),
                (false, "\">")
            ]
        );
        assert_eq!(
            linked("ünï https://ü.example/ä ënd"),
            [
                (false, "ünï "),
                (true, "https://ü.example/ä"),
                (false, " ënd")
            ]
        );
    }

    fn ids(model: &Model) -> Vec<&str> {
        model.chat.messages.iter().map(|m| m.id.as_str()).collect()
    }

    fn failure(status: u16, code: &str, message: &str) -> Failure {
        Failure {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            retry_after: None,
        }
    }

    fn notice(model: &Model) -> Option<String> {
        view_of(model).notice
    }

    #[test]
    fn the_first_message_starts_a_conversation_and_later_ones_join_it() {
        let mut model = model_with([snapshot(Status::Online, 1)]);
        assert_eq!(
            update(&mut model, Msg::Send("  Hello\n".to_owned())),
            Change::Render
        );
        assert_eq!(
            model.outbox.take(),
            Some(Post::Start {
                text: "Hello".to_owned(),
                name: None,
                email: None
            })
        );
        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        assert_eq!(model.chat.id.as_deref(), Some(CONVERSATION));
        assert_eq!(ids(&model), ["m1"]);
        assert_eq!(model.sending, None);

        update(&mut model, Msg::Send("Are you there?".to_owned()));
        assert_eq!(
            model.outbox.take(),
            Some(Post::Append {
                conversation_id: CONVERSATION.to_owned(),
                text: "Are you there?".to_owned()
            })
        );
    }

    #[test]
    fn send_waits_for_the_answer() {
        let mut model = chatting();
        assert_eq!(view_of(&model).send_label, "Send");
        update(&mut model, Msg::Send("one".to_owned()));
        assert!(model.outbox.take().is_some());
        let sending = view_of(&model);
        assert!(sending.sending);
        assert_eq!(sending.send_label, "Sending…");
        // Enter again while it is on its way: nothing more is sent.
        assert_eq!(
            update(&mut model, Msg::Send("two".to_owned())),
            Change::None
        );
        assert_eq!(model.outbox, None);

        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        let done = view_of(&model);
        assert!(!done.sending);
        assert_eq!(done.send_label, "Send");
    }

    #[test]
    fn an_answer_when_nothing_is_on_its_way_is_ignored() {
        let mut model = chatting();
        let late = Msg::Posted(Err(failure(0, "", "")));
        assert_eq!(update(&mut model, late), Change::None);
        assert_eq!(model.notice, None);
    }

    #[test]
    fn an_empty_message_is_not_sent_and_a_long_one_is_refused_with_its_length() {
        let mut model = chatting();
        assert_eq!(
            update(&mut model, Msg::Send(" \n ".to_owned())),
            Change::None
        );
        assert_eq!(model.outbox, None);

        let exactly = "é".repeat(MAX_TEXT_CHARS);
        update(&mut model, Msg::Send(exactly.clone()));
        assert_eq!(
            model.outbox.take(),
            Some(Post::Append {
                conversation_id: CONVERSATION.to_owned(),
                text: exactly
            })
        );
        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );

        let change = update(&mut model, Msg::Send("x".repeat(MAX_TEXT_CHARS + 1)));
        assert_eq!(change, Change::RenderAndAnnounce);
        assert_eq!(model.outbox, None);
        assert_eq!(model.sending, None);
        let refused = view_of(&model);
        assert_eq!(
            refused.notice.as_deref(),
            Some("Your message is too long: 4001 characters, at most 4000 please.")
        );
        assert!(refused.notice_is_problem);
        assert_eq!(refused.announcement, refused.notice);
    }

    #[test]
    fn the_visitors_message_from_the_answer_and_the_stream_is_shown_once() {
        let mut model = chatting();
        update(&mut model, Msg::Send("Hello".to_owned()));
        update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        // The same message on the stream, now with its seq: not again.
        let echo = update(
            &mut model,
            Msg::Message(message("m1", Author::Visitor, Some(1))),
        );
        assert_eq!(echo, Change::None);
        assert_eq!(ids(&model), ["m1"]);
        assert_eq!(model.chat.last_seq, 1);
    }

    #[test]
    fn a_replayed_history_adds_only_what_is_new() {
        let mut model = chatting();
        for seq in 1..=3 {
            update(
                &mut model,
                Msg::Message(message(&format!("m{seq}"), Author::Agent, Some(seq))),
            );
        }
        // A new stream after a drop replays everything, then one more.
        for seq in 1..=4 {
            update(
                &mut model,
                Msg::Message(message(&format!("m{seq}"), Author::Agent, Some(seq))),
            );
        }
        assert_eq!(ids(&model), ["m1", "m2", "m3", "m4"]);
        assert_eq!(model.chat.last_seq, 4);
    }

    #[test]
    fn messages_go_in_the_order_they_were_written() {
        let mut model = chatting();
        update(
            &mut model,
            Msg::Message(message("m2", Author::Visitor, Some(2))),
        );
        // Overtaken: written before m2, arriving after it.
        update(
            &mut model,
            Msg::Message(message("m1", Author::Agent, Some(1))),
        );
        update(
            &mut model,
            Msg::Message(message("m3", Author::Bot, Some(3))),
        );
        assert_eq!(ids(&model), ["m1", "m2", "m3"]);
    }

    #[test]
    fn messages_of_another_conversation_are_ignored() {
        let mut model = chatting();
        let other = ChatMessage {
            conversation_id: "c0".to_owned(),
            ..message("m1", Author::Agent, Some(1))
        };
        assert_eq!(update(&mut model, Msg::Message(other)), Change::None);
        assert!(model.chat.messages.is_empty());
    }

    #[test]
    fn replies_while_the_panel_is_closed_are_unread_and_announced() {
        let mut model = chatting();
        assert_eq!(
            update(
                &mut model,
                Msg::Message(message("m1", Author::Visitor, Some(1)))
            ),
            Change::Render,
            "the visitor's own message is not news"
        );
        assert_eq!(view_of(&model).badge, None);

        assert_eq!(
            update(
                &mut model,
                Msg::Message(message("m2", Author::Agent, Some(2)))
            ),
            Change::RenderAndAnnounce
        );
        let one = view_of(&model);
        assert_eq!(one.badge.as_deref(), Some("1"));
        assert_eq!(
            one.bubble_name.as_deref(),
            Some("Chat with us. 1 new message")
        );
        assert_eq!(
            one.announcement.as_deref(),
            Some("New message from an agent: text of m2")
        );

        update(
            &mut model,
            Msg::Message(message("m3", Author::Bot, Some(3))),
        );
        let two = view_of(&model);
        assert_eq!(two.badge.as_deref(), Some("2"));
        assert_eq!(
            two.bubble_name.as_deref(),
            Some("Chat with us. 2 new messages")
        );
        assert_eq!(
            two.announcement.as_deref(),
            Some("New automatic message: text of m3")
        );

        // Opening the panel reads them.
        update(&mut model, Msg::TogglePanel);
        assert_eq!(model.chat.read_seq, 3);
        let open = view_of(&model);
        assert_eq!(open.badge, None);
        assert_eq!(open.bubble_name, None);
        update(&mut model, Msg::ClosePanel);
        assert_eq!(view_of(&model).badge, None);
    }

    #[test]
    fn replies_while_the_panel_is_open_are_read_at_once() {
        let mut model = chatting();
        update(&mut model, Msg::TogglePanel);
        assert_eq!(
            update(
                &mut model,
                Msg::Message(message("m1", Author::Agent, Some(1)))
            ),
            Change::Render
        );
        assert_eq!(model.chat.read_seq, 1);
        update(&mut model, Msg::ClosePanel);
        assert_eq!(view_of(&model).badge, None);
    }

    #[test]
    fn after_a_page_load_only_replies_after_the_read_mark_are_unread() {
        let mut model = model_with([snapshot(Status::Online, 1)]);
        update(
            &mut model,
            Msg::Resume {
                conversation_id: CONVERSATION.to_owned(),
                read_seq: 2,
            },
        );
        // The history replays: seen before, except the reply that came while away.
        update(
            &mut model,
            Msg::Message(message("m1", Author::Visitor, Some(1))),
        );
        let seen = update(
            &mut model,
            Msg::Message(message("m2", Author::Agent, Some(2))),
        );
        assert_eq!(seen, Change::Render);
        let new = update(
            &mut model,
            Msg::Message(message("m3", Author::Agent, Some(3))),
        );
        assert_eq!(new, Change::RenderAndAnnounce);
        assert_eq!(view_of(&model).badge.as_deref(), Some("1"));
    }

    #[test]
    fn server_errors_are_said_in_the_visitors_language() {
        let check = |lang: Lang, failure: Failure, expect: &str| {
            let mut model = chatting();
            model.lang = lang;
            update(&mut model, Msg::Send("Hello".to_owned()));
            assert_eq!(
                update(&mut model, Msg::Posted(Err(failure))),
                Change::RenderAndAnnounce
            );
            let view = view(&model, lang.strings(), NOW, &local_time);
            assert_eq!(view.notice.as_deref(), Some(expect));
            assert!(view.notice_is_problem);
            assert!(!view.sending);
            assert_eq!(model.chat.id.as_deref(), Some(CONVERSATION), "kept");
        };
        let limited = Failure {
            retry_after: Some(42),
            ..failure(429, "rate_limited", "too many messages; try again in 42 s")
        };
        check(
            Lang::En,
            limited.clone(),
            "Too many messages — please try again in 42 s.",
        );
        check(
            Lang::De,
            limited,
            "Zu viele Nachrichten — bitte versuchen Sie es in 42 s erneut.",
        );
        check(
            Lang::Fr,
            failure(400, "missing_email", "nobody is available right now"),
            Lang::Fr.strings().missing_email,
        );
        check(
            Lang::En,
            failure(400, "invalid_email", "email is not valid"),
            "Please check your email address.",
        );
        check(
            Lang::En,
            failure(400, "invalid_text", "text must be 1 to 4000 characters"),
            "Please write a message first.",
        );
        check(Lang::It, failure(0, "", ""), Lang::It.strings().failed);
        check(Lang::En, failure(502, "", ""), Lang::En.strings().failed);
        // A code this widget does not know: the server's own words.
        check(
            Lang::En,
            failure(413, "payload_too_large", "the body is over 16384 bytes"),
            "the body is over 16384 bytes",
        );
    }

    #[test]
    fn a_closed_conversation_is_said_and_the_next_message_starts_a_new_one_below_it() {
        let mut model = chatting();
        update(
            &mut model,
            Msg::Message(message("m1", Author::Agent, Some(1))),
        );
        update(&mut model, Msg::Send("Hello again".to_owned()));
        model.outbox = None;
        let closed = failure(409, "conversation_closed", "the conversation is closed");
        assert_eq!(
            update(&mut model, Msg::Posted(Err(closed))),
            Change::RenderAndAnnounce
        );
        let ended = view_of(&model);
        assert_eq!(ended.notice.as_deref(), Some(Lang::En.strings().ended));
        assert!(!ended.notice_is_problem);
        assert_eq!(ended.messages.len(), 1, "the history stays in sight");

        update(&mut model, Msg::Send("Hello again".to_owned()));
        assert!(matches!(model.outbox.take(), Some(Post::Start { .. })));
        let new = ChatMessage {
            conversation_id: "c2".to_owned(),
            created_ms: NOW + 5.0,
            ..message("n1", Author::Visitor, None)
        };
        update(&mut model, Msg::Posted(Ok(new)));
        assert_eq!(model.chat.id.as_deref(), Some("c2"));
        assert!(!model.chat.closed);
        assert_eq!(
            ids(&model),
            ["m1", "n1"],
            "the closed conversation stays in sight"
        );
        assert_eq!(notice(&model), None);
        let unread_before = model.chat.unread().count();
        let reply = ChatMessage {
            conversation_id: "c2".to_owned(),
            ..message("n2", Author::Agent, Some(7))
        };
        update(&mut model, Msg::Message(reply));
        assert_eq!(ids(&model), ["m1", "n1", "n2"]);
        assert_eq!(
            model.chat.unread().count(),
            unread_before + 1,
            "only the new reply is news"
        );
    }

    #[test]
    fn after_a_page_load_the_earlier_closed_conversation_goes_above_the_current_one() {
        // The page resumed c2 (the conversation after the closed c1) and has its history.
        let mut model = model_with([snapshot(Status::Online, 1)]);
        update(
            &mut model,
            Msg::Resume {
                conversation_id: "c2".to_owned(),
                read_seq: 0,
            },
        );
        let in_c2 = |id: &str, seq| ChatMessage {
            conversation_id: "c2".to_owned(),
            created_ms: NOW + 10.0 + seq as f64,
            ..message(id, Author::Agent, Some(seq))
        };
        update(&mut model, Msg::Message(in_c2("n1", 8)));
        let unread = model.chat.unread().count();

        // c1's messages, read once: they go before, and are not news.
        let earlier = [
            message("m1", Author::Visitor, None),
            ChatMessage {
                created_ms: NOW + 1.0,
                ..message("m2", Author::Agent, None)
            },
            // One of the current conversation's own is not taken from there.
            in_c2("n9", 9),
        ];
        let changes: Vec<Change> = earlier
            .iter()
            .map(|m| update(&mut model, Msg::Earlier(m.clone())))
            .collect();
        assert_eq!(changes, [Change::Render, Change::Render, Change::None]);
        assert_eq!(ids(&model), ["m1", "m2", "n1"]);
        assert_eq!(model.chat.unread().count(), unread);
        // Twice changes nothing; nor does it without a conversation.
        assert_eq!(
            update(&mut model, Msg::Earlier(earlier[0].clone())),
            Change::None
        );
        let mut gone = model_with([snapshot(Status::Online, 1)]);
        assert_eq!(
            update(&mut gone, Msg::Earlier(earlier[1].clone())),
            Change::None
        );
        assert!(gone.chat.messages.is_empty());
    }

    #[test]
    fn the_stream_closing_the_conversation_is_announced_unless_it_is_old_news() {
        // After a page load the stream opens with the state, before the history.
        let mut model = chatting();
        let closed = || Msg::Conversation {
            id: CONVERSATION.to_owned(),
            closed: true,
        };
        assert_eq!(update(&mut model, closed()), Change::Render);
        assert!(model.chat.closed);
        assert_eq!(notice(&model).as_deref(), Some(Lang::En.strings().ended));

        let mut model = chatting();
        update(
            &mut model,
            Msg::Message(message("m1", Author::Visitor, Some(1))),
        );
        assert_eq!(update(&mut model, closed()), Change::RenderAndAnnounce);
        assert_eq!(update(&mut model, closed()), Change::None);
        // Another conversation's state changes nothing.
        let other = Msg::Conversation {
            id: "c0".to_owned(),
            closed: false,
        };
        assert_eq!(update(&mut model, other), Change::None);
    }

    #[test]
    fn a_conversation_unknown_to_the_server_is_forgotten() {
        let mut model = chatting();
        update(&mut model, Msg::ConversationGone);
        assert_eq!(model.chat.id, None);
        update(&mut model, Msg::Send("Hello".to_owned()));
        assert!(matches!(model.outbox, Some(Post::Start { .. })));
    }

    #[test]
    fn an_unknown_conversation_when_writing_ends_it_too() {
        let mut model = chatting();
        update(&mut model, Msg::Send("Hello".to_owned()));
        let gone = failure(404, "unknown_conversation", "there is no conversation");
        update(&mut model, Msg::Posted(Err(gone)));
        assert!(model.chat.closed);
        update(&mut model, Msg::Send("Hello".to_owned()));
        assert!(matches!(model.outbox, Some(Post::Start { .. })));
    }

    fn leave(name: &str, email: &str, text: &str) -> Msg {
        Msg::Leave {
            name: name.to_owned(),
            email: email.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_offline_form_leaves_a_message_with_the_email_and_confirms() {
        let mut model = model_with([Snapshot {
            email_replies: true,
            ..snapshot(Status::Offline, 1)
        }]);
        assert_eq!(view_of(&model).form, Form::LeaveMessage);
        update(
            &mut model,
            leave(" Ann ", " ann@example.com ", " Call me back "),
        );
        assert_eq!(
            model.outbox.take(),
            Some(Post::Start {
                text: "Call me back".to_owned(),
                name: Some("Ann".to_owned()),
                email: Some("ann@example.com".to_owned())
            })
        );
        assert!(view_of(&model).sending);

        let answer = update(
            &mut model,
            Msg::Posted(Ok(message("m1", Author::Visitor, None))),
        );
        assert_eq!(answer, Change::RenderAndAnnounce);
        let sent = view_of(&model);
        assert_eq!(
            sent.notice.as_deref(),
            Some("Thanks — we’ll get back to you by email.")
        );
        assert!(!sent.notice_is_problem);
        assert_eq!(sent.announcement, sent.notice);
        assert!(!sent.sending);
        assert_eq!(model.chat.id.as_deref(), Some(CONVERSATION));

        // The next send clears the confirmation.
        update(
            &mut model,
            leave("", "ann@example.com", "And one more thing"),
        );
        assert_eq!(notice(&model), None);
        let Some(Post::Start { name, .. }) = model.outbox.take() else {
            panic!("a left message starts a conversation of its own");
        };
        assert_eq!(name, None);
    }

    #[test]
    fn the_offline_form_refuses_a_missing_email_or_text() {
        let mut model = model_with([snapshot(Status::Offline, 1)]);
        update(&mut model, leave("Ann", "  ", "Hello"));
        assert_eq!(model.outbox, None);
        assert_eq!(
            notice(&model).as_deref(),
            Some(Lang::En.strings().missing_email)
        );
        update(&mut model, leave("Ann", "ann@example.com", "   "));
        assert_eq!(model.outbox, None);
        assert_eq!(notice(&model).as_deref(), Some(Lang::En.strings().no_text));
    }

    #[test]
    fn hide_when_offline_keeps_a_conversation_in_progress_in_sight() {
        let hidden = Snapshot {
            hide_when_offline: true,
            ..snapshot(Status::Offline, 2)
        };
        let mut model = chatting();
        update(&mut model, Msg::Snapshot(hidden.clone()));
        // A kept id whose history has not arrived (yet) is nothing to show.
        assert!(!view_of(&model).visible);

        update(
            &mut model,
            Msg::Message(message("m1", Author::Visitor, Some(1))),
        );
        let shown = view_of(&model);
        assert!(shown.visible);
        assert_eq!(shown.form, Form::LeaveMessage);
        assert_eq!(update(&mut model, Msg::TogglePanel), Change::Render);

        // A closed conversation is over.
        update(
            &mut model,
            Msg::Conversation {
                id: CONVERSATION.to_owned(),
                closed: true,
            },
        );
        assert!(!view_of(&model).visible);
        assert!(!view_of(&model).open);
    }

    #[test]
    fn an_agent_without_a_picture_goes_by_the_initials_of_their_first_and_last_names() {
        assert_eq!(initials("Ann"), "A");
        assert_eq!(initials("Ann Smith"), "AS");
        // Shown upper-case by the style sheet (`.av`), whatever the case typed.
        assert_eq!(initials("ann smith"), "as");
        assert_eq!(initials("  Ann   Marie\tSmith "), "AS");
        assert_eq!(initials("élise Ørsted"), "éØ");
        assert_eq!(initials("<i>Ann</i>"), "<");
        assert_eq!(initials("李 小龍"), "李小");
        assert_eq!(initials("   "), "");
    }

    #[test]
    fn decoding_messages_drops_what_it_cannot_show() {
        let raw = || RawMessage {
            id: Some("m1".to_owned()),
            conversation_id: Some(CONVERSATION.to_owned()),
            author: Some("agent".to_owned()),
            agent_name: Some("Ann".to_owned()),
            agent_avatar: Some("/api/v1/avatars/ab12".to_owned()),
            text: Some("<b>hi</b>".to_owned()),
            created_ms: Some(NOW),
            seq: Some("7".to_owned()),
        };
        assert_eq!(
            ChatMessage::decode(raw()),
            Some(ChatMessage {
                agent_name: Some("Ann".to_owned()),
                agent_avatar: Some("/api/v1/avatars/ab12".to_owned()),
                text: "<b>hi</b>".to_owned(),
                created_ms: NOW,
                ..message("m1", Author::Agent, Some(7))
            })
        );
        // A blank name is no name: the chat box says "Agent".
        let unnamed = ChatMessage::decode(RawMessage {
            agent_name: Some("  ".to_owned()),
            ..raw()
        });
        assert_eq!(unnamed.and_then(|m| m.agent_name), None);
        // A picture is a path on the server, never another address.
        for elsewhere in [
            "https://evil.example/a.png",
            "//evil.example/a.png",
            "javascript:x",
            "",
        ] {
            let decoded = ChatMessage::decode(RawMessage {
                agent_avatar: Some(elsewhere.to_owned()),
                ..raw()
            });
            assert_eq!(decoded.and_then(|m| m.agent_avatar), None, "{elsewhere}");
        }
        let check = |raw: RawMessage| assert_eq!(ChatMessage::decode(raw), None);
        check(RawMessage::default());
        check(RawMessage {
            id: Some(String::new()),
            ..raw()
        });
        check(RawMessage {
            author: Some("admin".to_owned()),
            ..raw()
        });
        check(RawMessage {
            text: None,
            ..raw()
        });
        check(RawMessage {
            conversation_id: None,
            ..raw()
        });

        // No usable seq or time: still a message, unread-proof and last.
        let loose = ChatMessage::decode(RawMessage {
            seq: Some("x".to_owned()),
            created_ms: Some(f64::NAN),
            ..raw()
        })
        .expect("a message");
        assert_eq!(loose.seq, None);
        assert_eq!(loose.created_ms, f64::INFINITY);
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(7), "7");
        assert_eq!(decimal(4001), "4001");
        assert_eq!(decimal(u64::MAX), u64::MAX.to_string());
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
