//! The one chat box of a page: its state, which the function that unmounts it owns (kept by
//! the window, see [`MOUNTED_KEY`]), its event streams, requests and the callbacks that feed
//! [`update`]. Every callback holds the chat box weakly ([`Handle`]) and is owned by a guard
//! inside [`Widget`], so dropping the widget (unmounting) detaches all of them; a request still
//! on its way when that happens finds no widget of its own mount to answer and is dropped.

use alloc::borrow::ToOwned;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::mem;

use js_sys::{Date, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, EventSource, KeyboardEvent, MessageEvent, Window};

use crate::dom::{self, Dom};
use crate::i18n::{Lang, Strings};
use crate::listener::{Listener, Timer};
use crate::model::{
    Backoff, Change, ChatMessage, Failure, Form, Model, Msg, Post, Visitor, decimal, update, view,
};
use crate::net;
use crate::storage::Storage;

/// The chat box as the function that unmounts it owns it (see [`mount`]).
type Shared = Rc<RefCell<Widget>>;

/// The chat box as its callbacks hold it: once it is unmounted (dropped), they find none.
type Handle = Weak<RefCell<Widget>>;

/// The window's property that holds the mounted chat box's unmount function, a JavaScript
/// function that owns the chat box. The wasm pages load has no std, and so no `thread_local!`,
/// and this crate no `unsafe` for a global of its own: the one chat box of the page is kept by
/// the page, and its callbacks each hold a [`Handle`].
const MOUNTED_KEY: &str = "__onairChatBox";

#[cfg(feature = "test-hooks")]
thread_local! {
    /// The mounted chat box, for the browser tests' hooks (a `test-hooks` build has std).
    static HOOKED: RefCell<Handle> = const { RefCell::new(Weak::new()) };
}

/// What `mount` was given.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) account: String,
    pub(crate) group: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) origin: String,
    /// The words of a language but English, from its file (`dom::read_strings`).
    pub(crate) strings: JsValue,
}

/// The words of `lang`: English's are built in, another's must be `given` (else English).
/// A `test-hooks` build has all five built in for the browser tests, and `given` comes first.
fn words(lang: Lang, given: &JsValue) -> (Lang, &'static Strings) {
    if lang != Lang::En {
        if let Some(strings) = dom::read_strings(given).filter(|s| s.code == lang.code()) {
            return (lang, strings);
        }
        #[cfg(feature = "test-hooks")]
        return (lang, lang.strings());
    }
    (Lang::En, Lang::english())
}

/// [`crate::strings_of`].
#[cfg(feature = "test-hooks")]
pub(crate) fn strings_of(code: &str) -> JsValue {
    let Some(lang) = Lang::from_tag(code) else {
        return JsValue::UNDEFINED;
    };
    lang.strings()
        .list()
        .iter()
        .map(|text| JsValue::from_str(text))
        .collect::<js_sys::Array>()
        .into()
}

/// Mounts the chat box unless the page has one already.
pub(crate) fn mount(config: Config) {
    let Some(window) = crate::window() else {
        return;
    };
    let key = JsValue::from_str(MOUNTED_KEY);
    if !Reflect::get(&window, &key).is_ok_and(|mounted| mounted.is_undefined()) {
        return;
    }
    let Some(widget) = Widget::start(config, &window) else {
        return;
    };
    #[cfg(feature = "test-hooks")]
    let _ = HOOKED.try_with(|hooked| hooked.replace(Rc::downgrade(&widget)));
    with(&Rc::downgrade(&widget), Widget::sync);
    let _ = Reflect::set(&window, &key, &owner(widget).into_js_value());
}

/// The unmount function [`mount`] leaves in the window: the chat box's one strong reference,
/// which it drops when called, and itself with it. Not while one of the chat box's callbacks
/// runs (a page script re-entering from one), which keeps it borrowed.
fn owner(widget: Shared) -> Closure<dyn FnMut(Event)> {
    let mut owned = Some(widget);
    Closure::new(move |_| {
        if owned
            .as_ref()
            .is_some_and(|widget| widget.try_borrow_mut().is_ok())
        {
            if let Some(window) = crate::window() {
                let _ = Reflect::delete_property(&window, &JsValue::from_str(MOUNTED_KEY));
            }
            // The guards' `Drop`s run browser code.
            drop(owned.take());
        }
    })
}

/// Takes the chat box out of the page and closes its streams.
pub(crate) fn unmount() {
    let mounted = crate::window()
        .and_then(|window| Reflect::get(&window, &JsValue::from_str(MOUNTED_KEY)).ok());
    if let Some(unmount) = mounted
        .as_ref()
        .and_then(|f| f.dyn_ref::<js_sys::Function>())
    {
        let _ = unmount.call0(&JsValue::UNDEFINED);
    }
}

/// Feeds one snapshot's JSON to the chat box as if it came from the stream. `false` when
/// nothing is mounted or the text is not a snapshot.
#[cfg(feature = "test-hooks")]
pub(crate) fn apply_snapshot_json(json: &str) -> bool {
    with_widget(|widget| widget.on_status(json)).unwrap_or(false)
}

/// Feeds one message's JSON to the chat box as if it came on the conversation stream with
/// `event_id` (its `seq`). With no conversation yet, the message's own becomes the current
/// one, as if kept from an earlier page.
#[cfg(feature = "test-hooks")]
pub(crate) fn apply_message_json(json: &str, event_id: Option<String>) -> bool {
    let Some(message) = dom::read_message(json, event_id) else {
        return false;
    };
    with_widget(|widget| {
        if widget.model.chat.id.is_none() {
            widget.dispatch(Msg::Resume {
                conversation_id: message.conversation_id.clone(),
                read_seq: 0,
            });
        }
        widget.dispatch(Msg::Message(message)) != Change::None
    })
    .unwrap_or(false)
}

/// Takes `json` as the `201` answer to the message being sent. `false` when nothing is being
/// sent or the text is not such an answer.
#[cfg(feature = "test-hooks")]
pub(crate) fn apply_posted_json(json: &str) -> bool {
    let Some(message) = dom::parse_object(json).and_then(|answer| dom::posted_message(&answer))
    else {
        return false;
    };
    with_widget(|widget| {
        let sending = widget.model.sending.is_some();
        if sending {
            widget.on_posted(Ok(message));
        }
        sending
    })
    .unwrap_or(false)
}

/// Runs `f` on the mounted widget, for the browser tests' hooks; like [`with`].
#[cfg(feature = "test-hooks")]
fn with_widget<R>(f: impl FnOnce(&mut Widget) -> R) -> Option<R> {
    let widget = HOOKED.try_with(|hooked| hooked.borrow().upgrade()).ok()??;
    let mut widget = widget.try_borrow_mut().ok()?;
    Some(f(&mut widget))
}

/// Runs `f` on the chat box `widget` points to, if it is still mounted. The page is
/// single-threaded and nothing the widget does while borrowed fires one of its own listeners
/// (`focus()` fires focus events, which it does not listen to), so the borrow succeeds; should
/// a page script re-enter (say, calling `unmount` from a focus handler), that call is dropped
/// rather than panicking.
fn with(widget: &Handle, f: impl FnOnce(&mut Widget)) {
    if let Some(widget) = widget.upgrade()
        && let Ok(mut widget) = widget.try_borrow_mut()
    {
        f(&mut widget);
    }
}

/// A listener's or a timer's callback: `f` with the chat box `widget` points to (see [`with`])
/// and the event. Not generic, and `f` a plain `fn`: every callback shares one instance of
/// wasm-bindgen's closure machinery (bytes).
fn callback(widget: &Handle, f: fn(&mut Widget, Event)) -> Closure<dyn FnMut(Event)> {
    let widget = widget.clone();
    Closure::new(move |event| with(&widget, |widget| f(widget, event)))
}

#[derive(Debug)]
struct Widget {
    model: Model,
    /// Itself, for the callbacks it makes.
    this: Handle,
    window: Window,
    /// What the chat box says, in `model.lang`.
    strings: &'static Strings,
    /// The locale for visitor-local times (see [`Lang::locale`]).
    locale: String,
    /// `origin/api/v1/accounts/{account}`.
    api: String,
    group: Option<String>,
    storage: Storage,
    dom: Dom,
    /// The status stream (docs/status.md).
    status: Stream,
    /// The conversation's stream, while there is a conversation.
    conversation: Stream,
    /// The conversation `conversation` follows and `storage` holds.
    following: Option<String>,
    /// The `read_seq` `storage` holds.
    saved_read_seq: u64,
    /// The name and email `storage` holds.
    saved_visitor: Visitor,
    /// The text of the chat message on its way, to clear the box once it arrived.
    sending_text: String,
    /// Clears "Ann is typing…" when no signal came for [`TYPING_SHOWN_MS`].
    typing_over: Timer,
    /// When the visitor's last typing signal went out (`Date.now()`), to send at most one
    /// per [`TYPING_EVERY_MS`].
    typing_sent_ms: f64,
    /// Bubble, close button, Escape, the chat's submit, Enter and typing, the offline form's
    /// submit.
    _controls: [Listener; 7],
}

/// How long a typing signal shows: agents send one at most every second while they type.
const TYPING_SHOWN_MS: i32 = 5_000;

/// The visitor's typing signals go out at most this often (the server passes on one a second).
const TYPING_EVERY_MS: f64 = 3_000.0;

/// An event stream that reconnects by itself: the browser retries while it is `CONNECTING`;
/// once it gave up (`CLOSED`) a new one follows after a backoff.
#[derive(Debug)]
struct Stream {
    /// The current `EventSource`; replaced on reconnect, closed on drop.
    source: Option<Source>,
    backoff: Backoff,
    /// Creates a new stream after the last one gave up.
    reconnect: Timer,
}

impl Stream {
    /// `reconnect` runs when the backoff is over: it marks the timer fired and connects again.
    fn new(window: &Window, reconnect: Closure<dyn FnMut(Event)>) -> Stream {
        Stream {
            source: None,
            backoff: Backoff::new(),
            reconnect: Timer::new(window, reconnect),
        }
    }

    fn gave_up(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|source| source.events.ready_state() == EventSource::CLOSED)
    }

    fn retry_later(&mut self) {
        if !self.reconnect.is_pending() {
            let delay = self.backoff.next_delay_ms();
            self.reconnect.arm(delay);
        }
    }
}

impl Widget {
    fn start(config: Config, window: &Window) -> Option<Shared> {
        let window = window.clone();
        let document = window.document()?;
        let browser_tags = browser_languages(&window);
        let (lang, strings) = words(
            Lang::choose(
                config
                    .lang
                    .as_deref()
                    .into_iter()
                    .chain(browser_tags.iter().map(String::as_str)),
            ),
            &config.strings,
        );
        let mut origin = config.origin;
        while origin.ends_with('/') {
            origin.pop();
        }
        let dom = Dom::build(&document, strings, origin.clone())?;
        let group = config.group.filter(|group| !group.is_empty());
        let storage = Storage::new(&window, &config.account, group.as_deref());
        let mut api = origin;
        api.push_str("/api/v1/accounts/");
        api.push_str(&encode(&config.account));
        let widget = Rc::new_cyclic(|this| {
            RefCell::new(Widget {
                model: Model::new(lang),
                strings,
                this: this.clone(),
                _controls: controls(&dom, this),
                locale: lang
                    .locale(browser_tags.iter().map(String::as_str))
                    .to_owned(),
                api,
                group,
                storage,
                dom,
                status: Stream::new(
                    &window,
                    callback(this, |widget, _| {
                        widget.status.reconnect.fired();
                        widget.connect_status();
                    }),
                ),
                conversation: Stream::new(
                    &window,
                    callback(this, |widget, _| {
                        widget.conversation.reconnect.fired();
                        widget.connect_conversation();
                    }),
                ),
                following: None,
                saved_read_seq: 0,
                saved_visitor: Visitor::default(),
                sending_text: String::new(),
                typing_over: Timer::new(
                    &window,
                    callback(this, |widget, _| {
                        widget.typing_over.fired();
                        widget.dispatch(Msg::TypingOver);
                    }),
                ),
                typing_sent_ms: 0.0,
                window,
            })
        });
        {
            let mut started = widget.try_borrow_mut().ok()?;
            started.resume();
            started.render(false);
            started.connect_status();
        }
        Some(widget)
    }

    /// Takes up what an earlier page kept: the visitor's name and email (prefilled in the
    /// leave-a-message form), and the conversation, whose stream replays the history. Without
    /// the token it was started with, the conversation could not be read.
    fn resume(&mut self) {
        let storage = &self.storage;
        let visitor = Visitor {
            name: storage.get(&storage.name_key),
            email: storage.get(&storage.email_key),
        };
        let dom = &self.dom;
        dom.leave_name()
            .set_value(visitor.name.as_deref().unwrap_or_default());
        dom.leave_email()
            .set_value(visitor.email.as_deref().unwrap_or_default());
        self.saved_visitor = visitor.clone();
        self.model.visitor = visitor;
        if storage.get(&storage.token_key).is_none() {
            return;
        }
        let Some(id) = storage.get(&storage.conversation_key) else {
            return;
        };
        if let Some(earlier) = storage.get(&storage.previous_key) {
            let mut url = self.api.clone();
            url.push_str("/conversations/");
            url.push_str(&encode(&earlier));
            url.push_str("?visitor_token=");
            url.push_str(&storage.visitor_token(&self.window));
            let this = self.this.clone();
            net::get_object(&url, move |body| {
                let Some(list) = body.and_then(|body| dom::field(&body, "messages")) else {
                    return;
                };
                with(&this, |widget| {
                    let mut index = 0;
                    while let Ok(item) = Reflect::get_u32(&list, index) {
                        let Some(message) = dom::message_of(&item, None) else {
                            break;
                        };
                        widget.dispatch(Msg::Earlier(message));
                        index += 1;
                    }
                });
            });
        }
        let read_seq = storage
            .get(&storage.read_key)
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0);
        self.saved_read_seq = read_seq;
        update(
            &mut self.model,
            Msg::Resume {
                conversation_id: id,
                read_seq,
            },
        );
    }

    /// Opens a new status stream, closing the old one. Never called from the old stream's own
    /// callbacks (only from start-up and the reconnect timer), so no running callback is
    /// dropped.
    fn connect_status(&mut self) {
        self.status.source = None;
        let mut url = self.api.clone();
        // The busy and offline messages come in the chat box's language.
        url.push_str("/status/events?lang=");
        url.push_str(self.model.lang.code());
        if let Some(group) = &self.group {
            url.push_str("&group=");
            url.push_str(&encode(group));
        }
        self.status.source = Source::open(
            &url,
            &self.this,
            &[
                ("open", |widget, _| {
                    widget.dispatch(Msg::Connected);
                }),
                ("status", |widget, event| {
                    if let Some((json, _)) = data(&event) {
                        widget.on_status(&json);
                    }
                }),
                ("error", |widget, _| widget.on_status_error()),
            ],
        );
    }

    fn on_status(&mut self, json: &str) -> bool {
        self.status.backoff.reset();
        let Some(snapshot) = dom::read_snapshot(json) else {
            return false;
        };
        self.dispatch(Msg::Snapshot(snapshot));
        true
    }

    /// While the stream is `CONNECTING` the browser retries by itself (the server sends
    /// `retry: 2000`) and the last status stays shown. `CLOSED` means it gave up, for instance
    /// on an HTTP error while the server restarts: try again with a new stream, later.
    fn on_status_error(&mut self) {
        self.dispatch(Msg::Disconnected);
        if self.status.gave_up() {
            self.status.retry_later();
        }
    }

    /// Opens the stream of the conversation followed, closing the old one; like
    /// [`Widget::connect_status`], never from the old stream's own callbacks. A new
    /// `EventSource` resumes after the last message seen (`?last_event_id=`); the browser's
    /// own reconnects send `Last-Event-ID` themselves. After a page load it replays the
    /// history, which the model takes once.
    fn connect_conversation(&mut self) {
        self.conversation.source = None;
        let Some(url) = self.conversation_url() else {
            return;
        };
        self.conversation.source = Source::open(
            &url,
            &self.this,
            &[
                ("message", |widget, event| {
                    if let Some((json, id)) = data(&event) {
                        widget.conversation.backoff.reset();
                        if let Some(message) = dom::read_message(&json, Some(id)) {
                            widget.dispatch(Msg::Message(message));
                        }
                    }
                }),
                ("typing", |widget, event| {
                    if let Some(name) = data(&event).and_then(|(json, _)| dom::read_typing(&json)) {
                        widget.on_agent_typing(name);
                    }
                }),
                ("conversation", |widget, event| {
                    let state = data(&event).and_then(|(json, _)| dom::read_conversation(&json));
                    if let Some((id, closed)) = state {
                        widget.conversation.backoff.reset();
                        widget.dispatch(Msg::Conversation { id, closed });
                    }
                }),
                ("error", |widget, _| widget.on_conversation_error()),
            ],
        );
    }

    fn on_agent_typing(&mut self, name: Option<String>) {
        self.dispatch(Msg::AgentTyping(name));
        self.typing_over.arm(TYPING_SHOWN_MS);
    }

    /// The visitor types in the chat's box: tell the agents, at most every few seconds, once
    /// there is a conversation to type in. Nothing is done with the answer.
    fn on_input(&mut self) {
        let chat = &self.model.chat;
        let Some(id) = chat.id.as_ref().filter(|_| !chat.closed) else {
            return;
        };
        let now_ms = Date::now();
        if now_ms - self.typing_sent_ms < TYPING_EVERY_MS {
            return;
        }
        self.typing_sent_ms = now_ms;
        let mut url = self.api.clone();
        url.push_str("/conversations/");
        url.push_str(&encode(id));
        url.push_str("/typing");
        let body = Object::new();
        put(
            &body,
            "visitor_token",
            Some(&self.storage.visitor_token(&self.window)),
        );
        net::post(&url, &body, |_| {});
    }

    fn conversation_url(&mut self) -> Option<String> {
        let id = self.following.as_deref()?;
        let token = self.storage.visitor_token(&self.window);
        let mut url = self.api.clone();
        url.push_str("/conversations/");
        url.push_str(&encode(id));
        url.push_str("/events?visitor_token=");
        url.push_str(&token);
        let last_seq = self.model.chat.last_seq;
        if last_seq > 0 {
            url.push_str("&last_event_id=");
            url.push_str(&decimal(last_seq));
        }
        Some(url)
    }

    /// The conversation stream gave up: ask the address how it answers, and forget a
    /// conversation it does not know (404: say, a different server, or its database was
    /// reset); anything else is tried again later.
    fn on_conversation_error(&mut self) {
        if !self.conversation.gave_up() || self.conversation.reconnect.is_pending() {
            return;
        }
        let (Some(url), Some(id)) = (self.conversation_url(), self.following.clone()) else {
            return;
        };
        let this = self.this.clone();
        net::status_of(&url, move |status| {
            with(&this, |widget| {
                if widget.following.as_deref() != Some(&id) {
                    return;
                }
                if status == 404 {
                    widget.dispatch(Msg::ConversationGone);
                } else {
                    widget.conversation.retry_later();
                }
            });
        });
    }

    /// Makes what the model asks for real: the conversation stream and what `localStorage`
    /// keeps follow the model's conversation, and a request in the outbox is sent.
    fn sync(&mut self) {
        if self.model.chat.id != self.following {
            let before = mem::replace(&mut self.following, self.model.chat.id.clone());
            let storage = &self.storage;
            match &self.following {
                Some(id) => storage.set(&storage.conversation_key, id),
                None => storage.remove(&storage.conversation_key),
            }
            // A new conversation after a closed one whose messages stay in sight: the next
            // page shows them too. (Taking up the conversation at a page load leaves it be.)
            if let Some(before) = before {
                let messages = &self.model.chat.messages;
                let in_sight = self.following.is_some()
                    && messages.iter().any(|m| m.conversation_id == before);
                storage.keep(&storage.previous_key, in_sight.then_some(before.as_str()));
            }
            self.conversation.backoff.reset();
            self.connect_conversation();
        }
        if self.model.visitor != self.saved_visitor {
            let (storage, visitor) = (&self.storage, &self.model.visitor);
            storage.keep(&storage.name_key, visitor.name.as_deref());
            storage.keep(&storage.email_key, visitor.email.as_deref());
            self.saved_visitor = visitor.clone();
        }
        let read_seq = self.model.chat.read_seq;
        if read_seq != self.saved_read_seq {
            self.saved_read_seq = read_seq;
            self.storage.set(&self.storage.read_key, &decimal(read_seq));
        }
        if let Some(post) = self.model.outbox.take() {
            self.post(post);
        }
    }

    /// Sends a visitor's message (docs/conversations.md); the answer comes back as [`Msg::Posted`].
    fn post(&mut self, post: Post) {
        let body = Object::new();
        put(
            &body,
            "visitor_token",
            Some(&self.storage.visitor_token(&self.window)),
        );
        let mut url = self.api.clone();
        url.push_str("/conversations");
        match post {
            Post::Start { text, name, email } => {
                put(&body, "group", self.group.as_deref());
                put(&body, "name", name.as_deref());
                put(&body, "email", email.as_deref());
                put(&body, "text", Some(&text));
                put(&body, "lang", Some(self.model.lang.code()));
                if let Some(page) = self.page() {
                    let _ = Reflect::set(&body, &JsValue::from_str("page"), &page);
                }
                self.sending_text = text;
            }
            Post::Append {
                conversation_id,
                text,
            } => {
                url.push('/');
                url.push_str(&encode(&conversation_id));
                url.push_str("/messages");
                put(&body, "text", Some(&text));
                self.sending_text = text;
            }
        }
        let this = self.this.clone();
        net::post(&url, &body, move |answer| {
            with(&this, |widget| widget.on_posted(answer));
        });
    }

    /// `{url, title}` of the page the chat box is on, for the agents; `None` on a page that is
    /// not `http` or `https` (a file opened from disk), which the server would refuse.
    fn page(&self) -> Option<Object> {
        let location = Reflect::get(&self.window, &JsValue::from_str("location")).ok()?;
        let url = Reflect::get(&location, &JsValue::from_str("href"))
            .ok()?
            .as_string()?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return None;
        }
        let page = Object::new();
        put(&page, "url", Some(&url));
        let title = self.window.document().map(|document| document.title());
        put(
            &page,
            "title",
            title.as_deref().filter(|title| !title.is_empty()),
        );
        Some(page)
    }

    /// A sent message arrived: the form it came from is emptied for the next one (the chat's
    /// box only if the visitor did not start another meanwhile; the name and email stay).
    fn on_posted(&mut self, answer: Result<ChatMessage, Failure>) {
        if answer.is_ok() {
            let dom = &self.dom;
            match self.model.sending {
                Some(Form::Chat) if dom.chat_text().value().trim() == self.sending_text => {
                    dom.chat_text().set_value("");
                }
                // The name and email stay, for the next message.
                Some(Form::LeaveMessage) => dom.leave_text().set_value(""),
                _ => {}
            }
        }
        self.dispatch(Msg::Posted(answer));
    }

    fn send_chat(&mut self) {
        let text = self.dom.chat_text().value();
        self.dispatch(Msg::Send(text));
        // Not on the Send button, which is disabled while sending and would drop the focus.
        let _ = self.dom.chat_text().focus();
    }

    fn send_leave(&mut self) {
        let dom = &self.dom;
        let msg = Msg::Leave {
            name: dom.leave_name().value(),
            email: dom.leave_email().value(),
            text: dom.leave_text().value(),
        };
        self.dispatch(msg);
        let _ = self.dom.leave_text().focus();
    }

    fn toggle_panel(&mut self) {
        self.dispatch(Msg::TogglePanel);
        if self.model.open {
            // Where the visitor writes, when there is a form to write in.
            let dom = &self.dom;
            let _ = if !dom.at(dom::CHAT).hidden() {
                dom.chat_text().focus()
            } else if !dom.at(dom::LEAVE).hidden() {
                dom.leave_text().focus()
            } else {
                dom.at(dom::PANEL).focus()
            };
        }
    }

    /// Closes the panel and returns focus to the bubble; `false` if it was not open.
    fn close_panel(&mut self) -> bool {
        if self.dispatch(Msg::ClosePanel) == Change::None {
            return false;
        }
        let _ = self.dom.at(dom::BUBBLE).focus();
        true
    }

    fn dispatch(&mut self, msg: Msg) -> Change {
        let change = update(&mut self.model, msg);
        if change != Change::None {
            self.render(change == Change::RenderAndAnnounce);
        }
        self.sync();
        change
    }

    fn render(&mut self, announce: bool) {
        let now_ms = Date::now();
        let local_time = dom::local_time(&self.locale, now_ms);
        let view = view(&self.model, self.strings, now_ms, &local_time);
        self.dom.render(&view, announce, &local_time);
    }
}

impl Drop for Widget {
    fn drop(&mut self) {
        self.dom.remove();
    }
}

/// An event's name and what handles it (see [`callback`]).
type Handler = (&'static str, fn(&mut Widget, Event));

/// An open `EventSource` and its listeners; dropping it closes the stream.
#[derive(Debug)]
struct Source {
    events: EventSource,
    _listeners: Vec<Listener>,
}

impl Source {
    fn open(url: &str, widget: &Handle, listeners: &[Handler]) -> Option<Source> {
        let events = EventSource::new(url).ok()?;
        let listeners = listeners
            .iter()
            .map(|&(kind, f)| Listener::new(&events, kind, callback(widget, f)))
            .collect();
        Some(Source {
            events,
            _listeners: listeners,
        })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.events.close();
    }
}

/// A stream event's `data` and `lastEventId`. Only for the events an `EventSource` of ours
/// dispatches by name (`status`, `message`…), which are `MessageEvent`s, and nothing else can
/// dispatch on it (the page has no reference to it): no `instanceof` check (an import).
fn data(event: &Event) -> Option<(String, String)> {
    let event = event.unchecked_ref::<MessageEvent>();
    Some((event.data().as_string()?, event.last_event_id()))
}

/// The listeners of the chat box's own controls.
fn controls(dom: &Dom, widget: &Handle) -> [Listener; 7] {
    let listen =
        |target: &web_sys::EventTarget, kind, f| Listener::new(target, kind, callback(widget, f));
    [
        listen(dom.at(dom::BUBBLE), "click", |widget, _| {
            widget.toggle_panel()
        }),
        listen(dom.at(dom::CLOSE), "click", |widget, _| {
            widget.close_panel();
        }),
        listen(dom.at(dom::FRAME), "keydown", |widget, event| {
            let is_escape = event
                .dyn_ref::<KeyboardEvent>()
                .is_some_and(|key| key.key() == "Escape");
            if is_escape && widget.close_panel() {
                // Ours alone: the page should not also react (say, by closing its own dialog).
                event.stop_propagation();
            }
        }),
        listen(dom.at(dom::CHAT), "submit", |widget, event| {
            event.prevent_default();
            widget.send_chat();
        }),
        // Enter sends, Shift+Enter is a new line; not while an input method composes.
        listen(dom.chat_text(), "keydown", |widget, event| {
            let Some(key) = event.dyn_ref::<KeyboardEvent>() else {
                return;
            };
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                event.prevent_default();
                widget.send_chat();
            }
        }),
        listen(dom.chat_text(), "input", |widget, _| widget.on_input()),
        listen(dom.at(dom::LEAVE), "submit", |widget, event| {
            event.prevent_default();
            widget.send_leave();
        }),
    ]
}

/// Sets `object[name]` to `value` when there is one.
fn put(object: &Object, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        let _ = Reflect::set(object, &JsValue::from_str(name), &JsValue::from_str(value));
    }
}

fn encode(component: &str) -> String {
    js_sys::encode_uri_component(component).into()
}

/// The browser's preferred languages, best first.
fn browser_languages(window: &Window) -> Vec<String> {
    let navigator = window.navigator();
    let mut tags: Vec<String> = navigator
        .languages()
        .iter()
        .filter_map(|tag| tag.as_string())
        .collect();
    tags.extend(navigator.language());
    tags
}
