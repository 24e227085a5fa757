//! The thin DOM layer: builds the shadow tree once, then applies each [`View`] to it with
//! `set_text_content`, attributes and `hidden`, so every text from the server or the page
//! stays text. Also reads snapshots and messages out of JSON and formats visitor-local times.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use js_sys::{Date, JSON, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Document, Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, ShadowRoot,
    ShadowRootInit, ShadowRootMode,
};

use crate::i18n::Strings;
use crate::model::{
    ChatMessage, Form, LocalTime, RawMessage, RawSnapshot, Snapshot, View, initials, linked,
};
use crate::wire::Author;

/// The host element's id (widget/README.md); it carries `data-status`.
pub(crate) const HOST_ID: &str = "onair-chatbox";

const STYLE: &str = include_str!("style.css");

/// The number of elements in the shadow tree ([`TREE`]).
const NODES: usize = 32;

// The elements a render or a listener touches, as their lines in [`TREE`] (and indices into
// `Dom::elements`).
const STYLE_ELEMENT: usize = 0;
pub(crate) const FRAME: usize = 1;
pub(crate) const BUBBLE: usize = 2;
const BUBBLE_LABEL: usize = 5;
const BUBBLE_BACK_AT: usize = 6;
const BADGE: usize = 7;
pub(crate) const PANEL: usize = 8;
const TITLE: usize = 12;
pub(crate) const CLOSE: usize = 13;
const MESSAGE: usize = 14;
const BACK_AT: usize = 15;
const LOG: usize = 16;
const TYPING: usize = 17;
const NOTE: usize = 18;
pub(crate) const CHAT: usize = 19;
pub(crate) const CHAT_TEXT: usize = 21;
const CHAT_SEND: usize = 22;
pub(crate) const LEAVE: usize = 23;
const LEAVE_NAME: usize = 25;
const LEAVE_EMAIL: usize = 27;
const LEAVE_TEXT: usize = 29;
const LEAVE_SEND: usize = 30;
const LIVE: usize = 31;

/// The shadow tree, which [`Dom::build`] makes in this order: one element a line, each appended
/// to its parent. A line is the parent (a letter for the line it is on, `a` the first; `-` the
/// shadow root), the tag, then `|name=value` for each attribute in order; a name of nothing
/// stands for the element's text, and a value `@n` for the `n`th of the chat box's words that
/// `build` lists. One loop over text instead of a call per element and attribute, and the
/// elements in one array instead of a field each: both bytes.
///
/// - The frame (`b`): everything visible, the bubble and the panel. In the bubble, under its
///   label (`e`), when office hours open: seen without opening the panel; then the count of
///   unread replies. The coloured status dots are decoration only.
/// - The log (under the panel, `i`) is `role="log"`, so a screen reader reads what is appended
///   while the panel is open; it scrolls, so keyboard users reach it to scroll it. Then
///   "Ann is typing…", a polite live region of its own, so a screen reader says it once when it
///   appears, not at every signal while Ann types; then what the panel says about the last
///   send, between the conversation and the forms, where the eye goes after Send.
/// - Real forms (`t`, `x`): the browser checks `required` and `type=email` before `submit`
///   fires, and Enter in a field submits. Ids are scoped to the shadow root, so they cannot
///   clash with the page's.
/// - Last, a visually hidden `aria-live="polite"` region for status changes and news.
const TREE: &str = "-style
-div|class=w|role=region|aria-label=@0|lang=@1|hidden=
bbutton|class=bubble|type=button|aria-expanded=false|aria-controls=panel
cspan|class=dot|aria-hidden=true
cspan|class=txt
espan
espan|class=sub|hidden=
cspan|class=badge|hidden=
bdiv|class=panel|id=panel|role=dialog|aria-labelledby=title|tabindex=-1|hidden=
idiv|class=head
jh2|id=title
kspan|class=dot|aria-hidden=true
kspan
jbutton|class=close|type=button|aria-label=@2|=\u{d7}
ip|class=msg
ip|class=back
idiv|class=log|role=log|aria-label=@3|tabindex=0|hidden=
ip|class=typing|aria-live=polite|hidden=
ip|class=note|hidden=
iform|class=fields chat
tlabel|for=chat-text|=@4
ttextarea|id=chat-text
tbutton|class=send|type=submit|=@5
iform|class=fields leave
xlabel|for=leave-name|=@6
xinput|id=leave-name|autocomplete=name
xlabel|for=leave-email|=@7
xinput|id=leave-email|type=email|autocomplete=email|required=
xlabel|for=leave-text|=@8
xtextarea|id=leave-text|required=
xbutton|class=send|type=submit|=@5
-div|class=sr|aria-live=polite|aria-atomic=true|lang=@1";

/// `text` up to the first `end` byte (all of it without one), and what follows that byte.
fn cut(text: &str, end: u8) -> (&str, &str) {
    // A loop of its own: `position` on `bytes()` was twice the size.
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() && bytes[at] != end {
        at += 1;
    }
    match text.split_at_checked(at) {
        Some((head, tail)) => (head, tail.get(1..).unwrap_or_default()),
        None => (text, ""),
    }
}

/// The shadow tree, built once, and what a render needs to know of what it shows.
#[derive(Debug)]
pub(crate) struct Dom {
    pub(crate) host: Element,
    /// Whether this widget created the host element, so unmounting removes it again.
    created_host: bool,
    root: ShadowRoot,
    /// The elements of [`TREE`], in its order.
    elements: [HtmlElement; NODES],
    /// The ids of the messages in the log, in order: new ones are appended, not redrawn.
    shown: Vec<String>,
    /// Whether the panel was open at the last render: on opening, the log scrolls down.
    was_open: bool,
    document: Document,
    strings: &'static Strings,
    /// The server's origin, without a trailing slash: agents' pictures are paths on it.
    origin: String,
}

impl Dom {
    /// Builds the chat box in the page, reusing `#onair-chatbox` and its open shadow root if
    /// they exist. `None` when the page leaves no way to (no body, or a host element that
    /// cannot take a shadow root).
    pub(crate) fn build(
        document: &Document,
        strings: &'static Strings,
        origin: String,
    ) -> Option<Dom> {
        let (host, created_host) = match document.get_element_by_id(HOST_ID) {
            Some(host) => (host, false),
            None => {
                let host = document.create_element("div").ok()?;
                set(&host, "id", HOST_ID);
                document.body()?.append_child(&host).ok()?;
                (host, true)
            }
        };
        set(&host, "data-status", "connecting");
        let root = match host.shadow_root() {
            Some(root) => {
                // Whatever an earlier mount left goes.
                clear(&root);
                root
            }
            None => host
                .attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))
                .ok()?,
        };
        let b = Builder { document };
        let words = [
            strings.region,
            strings.code,
            strings.close,
            strings.conversation,
            strings.your_message,
            strings.send,
            strings.name,
            strings.email,
            strings.message,
        ];
        let mut elements: Vec<HtmlElement> = Vec::with_capacity(NODES);
        let mut lines = TREE;
        while !lines.is_empty() {
            let (line, rest) = cut(lines, b'\n');
            lines = rest;
            let (head, mut attributes) = cut(line, b'|');
            let element = b.element(head.get(1..).unwrap_or_default(), "");
            while !attributes.is_empty() {
                let (attribute, rest) = cut(attributes, b'|');
                attributes = rest;
                let (name, mut value) = cut(attribute, b'=');
                if let [b'@', n] = value.as_bytes() {
                    value = words
                        .get(usize::from(n.wrapping_sub(b'0')))
                        .copied()
                        .unwrap_or_default();
                }
                if name.is_empty() {
                    element.set_text_content(Some(value));
                } else {
                    set(&element, name, value);
                }
            }
            let parent = head.bytes().next().unwrap_or_default().wrapping_sub(b'a');
            // Only fails for a node that cannot go there, and these can.
            let _ = match elements.get(usize::from(parent)) {
                Some(parent) => parent.append_child(&element),
                None => root.append_child(&element),
            };
            elements.push(element);
        }
        let elements: [HtmlElement; NODES] = elements.try_into().ok()?;
        elements[STYLE_ELEMENT].set_text_content(Some(STYLE));
        Some(Dom {
            host,
            created_host,
            root,
            elements,
            shown: Vec::new(),
            was_open: false,
            document: document.clone(),
            strings,
            origin,
        })
    }

    /// The element at `index` of [`TREE`].
    pub(crate) fn at(&self, index: usize) -> &HtmlElement {
        &self.elements[index]
    }

    pub(crate) fn chat_text(&self) -> &HtmlTextAreaElement {
        self.at(CHAT_TEXT).unchecked_ref()
    }

    pub(crate) fn leave_name(&self) -> &HtmlInputElement {
        self.at(LEAVE_NAME).unchecked_ref()
    }

    pub(crate) fn leave_email(&self) -> &HtmlInputElement {
        self.at(LEAVE_EMAIL).unchecked_ref()
    }

    pub(crate) fn leave_text(&self) -> &HtmlTextAreaElement {
        self.at(LEAVE_TEXT).unchecked_ref()
    }

    /// Shows `view`; `local_time` formats the messages' times (see [`local_time`]).
    pub(crate) fn render(
        &mut self,
        view: &View<'_>,
        announce: bool,
        local_time: &dyn Fn(f64) -> LocalTime,
    ) {
        set(&self.host, "data-status", view.host_status);
        let e = &self.elements;
        e[FRAME].set_hidden(!view.visible);
        if view.reconnecting {
            set(&e[FRAME], "data-reconnecting", "");
        } else {
            let _ = e[FRAME].remove_attribute("data-reconnecting");
        }
        set(
            &e[BUBBLE],
            "aria-expanded",
            if view.open { "true" } else { "false" },
        );
        e[BUBBLE_LABEL].set_text_content(Some(view.bubble_label));
        show_text(&e[BUBBLE_BACK_AT], view.back_at.as_deref());
        show_text(&e[BADGE], view.badge.as_deref());
        match &view.bubble_name {
            Some(name) => set(&e[BUBBLE], "aria-label", name),
            None => {
                let _ = e[BUBBLE].remove_attribute("aria-label");
            }
        }
        e[PANEL].set_hidden(!view.open);
        e[TITLE].set_text_content(Some(view.title));
        show_text(&e[MESSAGE], view.message.as_deref());
        show_text(&e[BACK_AT], view.back_at.as_deref());
        let appended = self.render_messages(view.messages, local_time);
        if view.open && (appended || !self.was_open) {
            // The newest message in sight.
            let log = self.at(LOG);
            log.set_scroll_top(log.scroll_height());
        }
        self.was_open = view.open;
        let e = &self.elements;
        show_text(&e[TYPING], view.typing.as_deref());
        e[CHAT].set_hidden(view.form != Form::Chat);
        e[LEAVE].set_hidden(view.form != Form::LeaveMessage);
        for send in [&e[CHAT_SEND], &e[LEAVE_SEND]] {
            send.set_text_content(Some(view.send_label));
            if view.sending {
                set(send, "disabled", "");
            } else {
                let _ = send.remove_attribute("disabled");
            }
        }
        show_text(&e[NOTE], view.notice.as_deref());
        set(
            &e[NOTE],
            "class",
            if view.notice_is_problem {
                "note problem"
            } else {
                "note"
            },
        );
        if announce {
            if let Some(text) = &view.announcement {
                e[LIVE].set_text_content(Some(text));
            }
        }
    }

    /// Brings the log up to `messages`: appends what is new, or redraws it all when a message
    /// went in between or the conversation changed. `true` if anything changed.
    fn render_messages(
        &mut self,
        messages: &[ChatMessage],
        local_time: &dyn Fn(f64) -> LocalTime,
    ) -> bool {
        let known = self.shown.len();
        let extends = messages.len() >= known
            && messages
                .iter()
                .zip(&self.shown)
                .all(|(message, id)| message.id == *id);
        if extends && messages.len() == known {
            return false;
        }
        // `get`, not indexing: no panic path (its message formatting costs bytes).
        let new = if extends {
            messages.get(known..).unwrap_or_default()
        } else {
            clear(self.at(LOG));
            self.shown.clear();
            messages
        };
        for message in new {
            let _ = self
                .at(LOG)
                .append_child(&self.message_element(message, local_time));
            self.shown.push(message.id.clone());
        }
        self.at(LOG).set_hidden(messages.is_empty());
        true
    }

    /// One message: who wrote it (for the visitor's own, to screen readers only; an agent by
    /// name), its text with web addresses as links, and when, visitor-local.
    fn message_element(
        &self,
        message: &ChatMessage,
        local_time: &dyn Fn(f64) -> LocalTime,
    ) -> HtmlElement {
        let (class, who_class, who) = match message.author {
            Author::Visitor => ("m v", "sr", self.strings.you),
            Author::Agent => (
                "m a",
                "who",
                message.agent_name.as_deref().unwrap_or(self.strings.agent),
            ),
            Author::Bot => ("m b", "who", self.strings.bot),
        };
        let b = Builder {
            document: &self.document,
        };
        let item = b.element("div", class);
        if message.author == Author::Agent {
            // Beside the name, which says who it is: decoration for a screen reader.
            match &message.agent_avatar {
                Some(path) => {
                    let picture = b.child(&item, "img", "av");
                    set(&picture, "alt", "");
                    set(&picture, "src", &(self.origin.clone() + path));
                }
                None => {
                    let letters = b.child(&item, "span", "av");
                    set(&letters, "aria-hidden", "true");
                    letters.set_text_content(Some(&initials(who)));
                }
            }
        }
        b.child(&item, "span", who_class)
            .set_text_content(Some(who));
        let text = b.child(&item, "span", "t");
        for (is_link, piece) in linked(&message.text) {
            if is_link {
                // Only http and https (`linked`), opened apart from the page, which it cannot
                // reach, and told nothing of where it came from.
                let link = b.child(&text, "a", "");
                set(&link, "href", piece);
                set(&link, "target", "_blank");
                set(&link, "rel", "noopener noreferrer");
                link.set_text_content(Some(piece));
            } else {
                let _ = text.append_with_str_1(piece);
            }
        }
        if message.created_ms.is_finite() {
            let at = local_time(message.created_ms);
            let shown = match at.day {
                Some(day) => day + ", " + &at.time,
                None => at.time,
            };
            b.child(&item, "span", "at").set_text_content(Some(&shown));
        }
        item
    }

    /// Takes the chat box out of the page.
    pub(crate) fn remove(&self) {
        if self.created_host {
            self.host.remove();
        } else {
            clear(&self.root);
            let _ = self.host.remove_attribute("data-status");
        }
    }
}

/// Creates elements; every failure here would be a browser bug, so it is not handled twice.
struct Builder<'a> {
    document: &'a Document,
}

impl Builder<'_> {
    fn element(&self, tag: &str, class: &str) -> HtmlElement {
        let element: HtmlElement = self
            .document
            .create_element(tag)
            .map(JsCast::unchecked_into)
            .unwrap_or_else(|_| wasm_bindgen::throw_str("onair: createElement"));
        if !class.is_empty() {
            set(&element, "class", class);
        }
        element
    }

    fn child(&self, parent: &HtmlElement, tag: &str, class: &str) -> HtmlElement {
        let element = self.element(tag, class);
        let _ = parent.append_child(&element);
        element
    }
}

/// Removes every child of `node` (`textContent = null`: one import for this and for text, not
/// a loop over `firstChild` and `removeChild`).
fn clear(node: &web_sys::Node) {
    node.set_text_content(None);
}

fn set(element: &Element, name: &str, value: &str) {
    // Only fails for an invalid attribute name, and ours are constants.
    let _ = element.set_attribute(name, value);
}

fn show_text(element: &HtmlElement, text: Option<&str>) {
    element.set_text_content(text);
    element.set_hidden(text.is_none());
}

/// Reads a status snapshot from an event's JSON. Anything malformed yields `None` and is
/// ignored; nothing here can panic.
pub(crate) fn read_snapshot(json: &str) -> Option<Snapshot> {
    let value = parse_object(json)?;
    Snapshot::decode(RawSnapshot {
        status: string(&value, "status"),
        reason: string(&value, "reason"),
        message: string(&value, "message"),
        next_change_ms: string(&value, "next_change").map(|at| Date::parse(&at)),
        version: field(&value, "version").and_then(|value| value.as_f64()),
        hide_when_offline: field(&value, "hide_when_offline").and_then(|value| value.as_bool()),
        email_replies: field(&value, "email_replies").and_then(|value| value.as_bool()),
    })
}

/// Reads a message (docs/conversations.md) from an `event: message`'s JSON and its event id.
pub(crate) fn read_message(json: &str, event_id: Option<String>) -> Option<ChatMessage> {
    message_of(&parse_object(json)?, event_id)
}

/// Reads a message from a parsed object (a `201` answer's `message`).
pub(crate) fn message_of(value: &JsValue, event_id: Option<String>) -> Option<ChatMessage> {
    if !value.is_object() {
        return None;
    }
    let agent = field(value, "agent").filter(JsValue::is_object);
    ChatMessage::decode(RawMessage {
        id: string(value, "id"),
        conversation_id: string(value, "conversation_id"),
        author: string(value, "author"),
        agent_name: agent.as_ref().and_then(|agent| string(agent, "name")),
        agent_avatar: agent.as_ref().and_then(|agent| string(agent, "avatar_url")),
        text: string(value, "text"),
        created_ms: string(value, "created_at").map(|at| Date::parse(&at)),
        seq: event_id,
    })
}

/// The message in a `201` answer to a visitor's post: `{"conversation"?, "message", "delivery"}`.
pub(crate) fn posted_message(answer: &JsValue) -> Option<ChatMessage> {
    message_of(&field(answer, "message")?, None)
}

/// Reads an `event: typing`: `Some` with the name, if any, when it is an agent's.
pub(crate) fn read_typing(json: &str) -> Option<Option<String>> {
    let value = parse_object(json)?;
    (string(&value, "author")? == "agent").then(|| string(&value, "name"))
}

/// Reads an `event: conversation`: its id, and whether it is closed.
pub(crate) fn read_conversation(json: &str) -> Option<(String, bool)> {
    let value = parse_object(json)?;
    let closed = string(&value, "state")? == "closed";
    Some((string(&value, "id")?, closed))
}

/// The strings of a language's file (an array, see [`Strings::from_texts`]); `None` for anything
/// else. Read once per page and kept for its life (leaked: the chat box's own strings are
/// `&'static` like English's).
pub(crate) fn read_strings(list: &JsValue) -> Option<&'static Strings> {
    let mut index = 0;
    // Not an array: `Reflect.get` throws (`undefined`), or there are no strings.
    let texts = core::iter::from_fn(|| {
        let text = Reflect::get_u32(list, index).ok()?.as_string()?;
        index += 1;
        Some(&*text.leak())
    });
    Some(Box::leak(Box::new(Strings::from_texts(texts)?)))
}

/// `JSON.parse`, for objects only.
pub(crate) fn parse_object(json: &str) -> Option<JsValue> {
    JSON::parse(json).ok().filter(JsValue::is_object)
}

/// `value[name]` (`undefined` when absent); `None` when `value` is not an object.
pub(crate) fn field(value: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(value, &JsValue::from_str(name)).ok()
}

/// `value[name]` when it is a string.
pub(crate) fn string(value: &JsValue, name: &str) -> Option<String> {
    field(value, name)?.as_string()
}

const DAY_MS: f64 = 86_400_000.0;

/// A formatter of visitor-local times in `locale`, as of `now_ms`: the time alone today, with
/// the weekday within the next six days (a weekday alone is unambiguous there), and with the
/// weekday and date beyond.
pub(crate) fn local_time(locale: &str, now_ms: f64) -> impl Fn(f64) -> LocalTime + '_ {
    move |at_ms| {
        let at = Date::new(&JsValue::from_f64(at_ms));
        let now = Date::new(&JsValue::from_f64(now_ms));
        let time = at.to_locale_time_string_with_options(
            locale,
            &options(&[("hour", "numeric"), ("minute", "2-digit")]),
        );
        let today = at.get_date() == now.get_date()
            && at.get_month() == now.get_month()
            && at.get_full_year() == now.get_full_year();
        let day = (!today).then(|| {
            let day_options = if at_ms - now_ms < 6.0 * DAY_MS {
                options(&[("weekday", "long")])
            } else {
                options(&[("weekday", "long"), ("day", "numeric"), ("month", "long")])
            };
            at.to_locale_date_string(locale, &day_options).into()
        });
        LocalTime {
            day,
            time: time.into(),
        }
    }
}

fn options(pairs: &[(&str, &str)]) -> Object {
    let object = Object::new();
    for (key, value) in pairs {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    object
}
