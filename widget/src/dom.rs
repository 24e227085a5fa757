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

/// The elements a render touches, found once when the tree is built.
#[derive(Debug)]
pub(crate) struct Dom {
    pub(crate) host: Element,
    /// Whether this widget created the host element, so unmounting removes it again.
    created_host: bool,
    root: ShadowRoot,
    /// Everything visible: the bubble and the panel.
    pub(crate) frame: HtmlElement,
    pub(crate) bubble: HtmlElement,
    bubble_label: HtmlElement,
    /// When office hours open, under the bubble's label: seen without opening the panel.
    bubble_back_at: HtmlElement,
    pub(crate) panel: HtmlElement,
    pub(crate) close: HtmlElement,
    /// The count of unread replies, on the bubble.
    badge: HtmlElement,
    title: HtmlElement,
    message: HtmlElement,
    back_at: HtmlElement,
    /// The conversation: `role="log"`, so a screen reader reads what is appended while the
    /// panel is open.
    log: HtmlElement,
    /// "Ann is typing…": a polite live region of its own, so a screen reader says it once
    /// when it appears, not at every signal while Ann types.
    typing: HtmlElement,
    /// The ids of the messages in `log`, in order: new ones are appended, not redrawn.
    shown: Vec<String>,
    /// Whether the panel was open at the last render: on opening, the log scrolls down.
    was_open: bool,
    /// The chat's form: its text box and send button.
    pub(crate) chat: HtmlElement,
    pub(crate) chat_text: HtmlTextAreaElement,
    chat_send: HtmlElement,
    /// The leave-a-message form.
    pub(crate) leave: HtmlElement,
    pub(crate) leave_name: HtmlInputElement,
    pub(crate) leave_email: HtmlInputElement,
    pub(crate) leave_text: HtmlTextAreaElement,
    leave_send: HtmlElement,
    /// What the panel says about the last send.
    note: HtmlElement,
    /// A visually hidden `aria-live="polite"` region for status changes and news.
    live: HtmlElement,
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
                host.set_id(HOST_ID);
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

        let style = b.element("style", "");
        style.set_text_content(Some(STYLE));
        let frame = b.element("div", "w");
        set(&frame, "role", "region");
        set(&frame, "aria-label", strings.region);
        set(&frame, "lang", strings.code);
        frame.set_hidden(true);

        let bubble = b.child(&frame, "button", "bubble");
        set(&bubble, "type", "button");
        set(&bubble, "aria-expanded", "false");
        set(&bubble, "aria-controls", "panel");
        b.dot(&bubble);
        let bubble_text = b.child(&bubble, "span", "txt");
        let bubble_label = b.child(&bubble_text, "span", "");
        let bubble_back_at = b.child(&bubble_text, "span", "sub");
        bubble_back_at.set_hidden(true);
        let badge = b.child(&bubble, "span", "badge");
        badge.set_hidden(true);

        let panel = b.child(&frame, "div", "panel");
        panel.set_id("panel");
        set(&panel, "role", "dialog");
        set(&panel, "aria-labelledby", "title");
        set(&panel, "tabindex", "-1");
        panel.set_hidden(true);
        let head = b.child(&panel, "div", "head");
        let heading = b.child(&head, "h2", "");
        heading.set_id("title");
        b.dot(&heading);
        let title = b.child(&heading, "span", "");
        let close = b.child(&head, "button", "close");
        set(&close, "type", "button");
        set(&close, "aria-label", strings.close);
        close.set_text_content(Some("×"));
        let message = b.child(&panel, "p", "msg");
        let back_at = b.child(&panel, "p", "back");

        let log = b.child(&panel, "div", "log");
        set(&log, "role", "log");
        set(&log, "aria-label", strings.conversation);
        // It scrolls: keyboard users reach it to scroll it.
        set(&log, "tabindex", "0");
        log.set_hidden(true);
        let typing = b.child(&panel, "p", "typing");
        set(&typing, "aria-live", "polite");
        typing.set_hidden(true);

        // Real forms: the browser checks `required` and `type=email` before `submit` fires,
        // and Enter in a field submits.
        let chat = b.child(&panel, "form", "fields chat");
        let chat_text = b.field(&chat, "textarea", "chat-text", strings.your_message);
        let chat_send = b.send(&chat, strings.send);
        let leave = b.child(&panel, "form", "fields leave");
        let leave_name = b.field(&leave, "input", "leave-name", strings.name);
        set(&leave_name, "autocomplete", "name");
        let leave_email = b.field(&leave, "input", "leave-email", strings.email);
        set(&leave_email, "type", "email");
        set(&leave_email, "autocomplete", "email");
        set(&leave_email, "required", "");
        let leave_text = b.field(&leave, "textarea", "leave-text", strings.message);
        set(&leave_text, "required", "");
        let leave_send = b.send(&leave, strings.send);
        // Between the conversation and the forms, where the eye goes after Send.
        let note = b.element("p", "note");
        note.set_hidden(true);
        let _ = panel.insert_before(&note, Some(&chat));

        let live = b.element("div", "sr");
        set(&live, "aria-live", "polite");
        set(&live, "aria-atomic", "true");
        set(&live, "lang", strings.code);

        // Only fails for a node that cannot go there, and these can.
        for node in [&style, &frame, &live] {
            let _ = root.append_child(node);
        }
        Some(Dom {
            host,
            created_host,
            root,
            frame,
            bubble,
            bubble_label,
            bubble_back_at,
            badge,
            panel,
            close,
            title,
            message,
            back_at,
            log,
            typing,
            shown: Vec::new(),
            was_open: false,
            chat,
            chat_text: chat_text.unchecked_into(),
            chat_send,
            leave,
            leave_name: leave_name.unchecked_into(),
            leave_email: leave_email.unchecked_into(),
            leave_text: leave_text.unchecked_into(),
            leave_send,
            note,
            live,
            document: document.clone(),
            strings,
            origin,
        })
    }

    /// Shows `view`; `local_time` formats the messages' times (see [`local_time`]).
    pub(crate) fn render(
        &mut self,
        view: &View<'_>,
        announce: bool,
        local_time: &dyn Fn(f64) -> LocalTime,
    ) {
        set(&self.host, "data-status", view.host_status);
        self.frame.set_hidden(!view.visible);
        if view.reconnecting {
            set(&self.frame, "data-reconnecting", "");
        } else {
            let _ = self.frame.remove_attribute("data-reconnecting");
        }
        set(
            &self.bubble,
            "aria-expanded",
            if view.open { "true" } else { "false" },
        );
        self.bubble_label.set_text_content(Some(view.bubble_label));
        show_text(&self.bubble_back_at, view.back_at.as_deref());
        show_text(&self.badge, view.badge.as_deref());
        match &view.bubble_name {
            Some(name) => set(&self.bubble, "aria-label", name),
            None => {
                let _ = self.bubble.remove_attribute("aria-label");
            }
        }
        self.panel.set_hidden(!view.open);
        self.title.set_text_content(Some(view.title));
        show_text(&self.message, view.message.as_deref());
        show_text(&self.back_at, view.back_at.as_deref());
        let appended = self.render_messages(view.messages, local_time);
        if view.open && (appended || !self.was_open) {
            // The newest message in sight.
            self.log.set_scroll_top(self.log.scroll_height());
        }
        self.was_open = view.open;
        show_text(&self.typing, view.typing.as_deref());
        self.chat.set_hidden(view.form != Form::Chat);
        self.leave.set_hidden(view.form != Form::LeaveMessage);
        for send in [&self.chat_send, &self.leave_send] {
            send.set_text_content(Some(view.send_label));
            if view.sending {
                set(send, "disabled", "");
            } else {
                let _ = send.remove_attribute("disabled");
            }
        }
        show_text(&self.note, view.notice.as_deref());
        self.note.set_class_name(if view.notice_is_problem {
            "note problem"
        } else {
            "note"
        });
        if announce {
            if let Some(text) = &view.announcement {
                self.live.set_text_content(Some(text));
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
            clear(&self.log);
            self.shown.clear();
            messages
        };
        for message in new {
            let _ = self
                .log
                .append_child(&self.message_element(message, local_time));
            self.shown.push(message.id.clone());
        }
        self.log.set_hidden(messages.is_empty());
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
            element.set_class_name(class);
        }
        element
    }

    fn child(&self, parent: &HtmlElement, tag: &str, class: &str) -> HtmlElement {
        let element = self.element(tag, class);
        let _ = parent.append_child(&element);
        element
    }

    /// The coloured status dot, decoration only.
    fn dot(&self, parent: &HtmlElement) {
        let dot = self.child(parent, "span", "dot");
        set(&dot, "aria-hidden", "true");
    }

    fn send(&self, form: &HtmlElement, label: &str) -> HtmlElement {
        let send = self.child(form, "button", "send");
        set(&send, "type", "submit");
        send.set_text_content(Some(label));
        send
    }

    /// A form control with its label. Ids are scoped to the shadow root, so they cannot
    /// clash with the page's.
    fn field(&self, parent: &HtmlElement, tag: &str, id: &str, label: &str) -> HtmlElement {
        let label_element = self.child(parent, "label", "");
        set(&label_element, "for", id);
        label_element.set_text_content(Some(label));
        let control = self.child(parent, tag, "");
        control.set_id(id);
        control
    }
}

fn clear(node: &web_sys::Node) {
    while let Some(child) = node.first_child() {
        let _ = node.remove_child(&child);
    }
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

/// The strings of a language's file (an array, see [`Strings::from_list`]); `None` for anything
/// else. Read once per page and kept for its life (leaked: the chat box's own strings are
/// `&'static` like English's).
pub(crate) fn read_strings(list: &JsValue) -> Option<&'static Strings> {
    let mut texts = Vec::new();
    // Not an array: `Reflect.get` throws (`undefined`), or there are no strings.
    while let Ok(text) = Reflect::get_u32(list, texts.len() as u32) {
        let Some(text) = text.as_string() else {
            break;
        };
        texts.push(&*text.leak());
    }
    Some(Box::leak(Box::new(Strings::from_list(&texts)?)))
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
