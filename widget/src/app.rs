//! The one chat box of a page: its state in a thread-local, its event stream and the
//! callbacks that feed [`update`]. Every callback is owned by a guard inside [`Widget`], so
//! dropping the widget (unmounting) detaches all of them.

use std::cell::RefCell;

use js_sys::Date;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, KeyboardEvent, MessageEvent, Window};

use crate::dom::{self, Dom};
use crate::i18n::Lang;
use crate::listener::{Listener, Timer};
use crate::model::{Backoff, Change, Model, Msg, update, view};

thread_local! {
    /// One chat box per page. Callbacks reach it through [`with_widget`].
    static WIDGET: RefCell<Option<Widget>> = const { RefCell::new(None) };
}

/// What `mount` was given.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) account: String,
    pub(crate) group: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) origin: String,
}

/// Mounts the chat box unless the page has one already.
pub(crate) fn mount(config: Config) {
    let _ = WIDGET.try_with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return;
        };
        if slot.is_none() {
            *slot = Widget::start(config);
        }
    });
}

/// Takes the chat box out of the page and closes its stream.
pub(crate) fn unmount() {
    let widget = WIDGET
        .try_with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
        .ok()
        .flatten();
    // Dropped outside the borrow: the guards' `Drop`s run browser code.
    drop(widget);
}

/// Feeds one snapshot's JSON to the chat box as if it came from the stream. `false` when
/// nothing is mounted or the text is not a snapshot.
pub(crate) fn apply_snapshot_json(json: &str) -> bool {
    with_widget(|widget| widget.on_status(json)).unwrap_or(false)
}

/// Runs `f` on the mounted widget. The page is single-threaded and nothing the widget does
/// while borrowed fires one of its own listeners (`focus()` fires focus events, which it does
/// not listen to), so the borrow succeeds; should a page script re-enter (say, calling
/// `apply_snapshot_json` from a focus handler), that call is dropped rather than panicking.
fn with_widget<R>(f: impl FnOnce(&mut Widget) -> R) -> Option<R> {
    // `try_with`, `try_borrow_mut`: no panicking paths, whose messages would cost kilobytes.
    WIDGET
        .try_with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            slot.as_mut().map(f)
        })
        .ok()
        .flatten()
}

#[derive(Debug)]
struct Widget {
    model: Model,
    /// The locale for visitor-local times (see [`Lang::locale`]).
    locale: String,
    /// The status stream's address.
    url: String,
    dom: Dom,
    /// The current stream; replaced on reconnect, closed on drop.
    source: Option<Source>,
    backoff: Backoff,
    /// Creates a new stream after the last one gave up.
    reconnect: Timer,
    /// Bubble, close button and Escape.
    _controls: [Listener; 3],
}

impl Widget {
    fn start(config: Config) -> Option<Widget> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let browser_tags = browser_languages(&window);
        let lang = Lang::choose(
            config
                .lang
                .as_deref()
                .into_iter()
                .chain(browser_tags.iter().map(String::as_str)),
        );
        let dom = Dom::build(&document, lang.strings())?;
        let controls = controls(&dom);
        let mut widget = Widget {
            model: Model::new(lang),
            locale: lang
                .locale(browser_tags.iter().map(String::as_str))
                .to_owned(),
            url: status_url(&config),
            dom,
            source: None,
            backoff: Backoff::new(),
            reconnect: Timer::new(&window, || {
                with_widget(|widget| {
                    widget.reconnect.fired();
                    widget.connect();
                });
            }),
            _controls: controls,
        };
        widget.render(false);
        widget.connect();
        Some(widget)
    }

    /// Opens a new stream, closing the old one. Never called from the old stream's own
    /// callbacks (only from start-up and the reconnect timer), so no running callback is dropped.
    fn connect(&mut self) {
        self.source = None;
        let Ok(events) = EventSource::new(&self.url) else {
            return;
        };
        let listeners = [
            Listener::new(&events, "open", |_| {
                with_widget(|widget| widget.dispatch(Msg::Connected));
            }),
            Listener::new(&events, "status", |event| {
                let data = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|event| event.data().as_string());
                if let Some(json) = data {
                    with_widget(|widget| widget.on_status(&json));
                }
            }),
            Listener::new(&events, "error", |_| {
                with_widget(Widget::on_error);
            }),
        ];
        self.source = Some(Source {
            events,
            _listeners: listeners,
        });
    }

    fn on_status(&mut self, json: &str) -> bool {
        self.backoff.reset();
        let Some(snapshot) = dom::read_snapshot(json) else {
            return false;
        };
        self.dispatch(Msg::Snapshot(snapshot));
        true
    }

    /// While the stream is `CONNECTING` the browser retries by itself (the server sends
    /// `retry: 2000`) and the last status stays shown. `CLOSED` means it gave up, for instance
    /// on an HTTP error while the server restarts: try again with a new stream, later.
    fn on_error(&mut self) {
        self.dispatch(Msg::Disconnected);
        let gave_up = self
            .source
            .as_ref()
            .is_some_and(|source| source.events.ready_state() == EventSource::CLOSED);
        if gave_up && !self.reconnect.is_pending() {
            let delay = self.backoff.next_delay_ms();
            self.reconnect.arm(delay);
        }
    }

    fn toggle_panel(&mut self) {
        self.dispatch(Msg::TogglePanel);
        if self.model.open {
            let _ = self.dom.panel.focus();
        }
    }

    /// Closes the panel and returns focus to the bubble; `false` if it was not open.
    fn close_panel(&mut self) -> bool {
        if self.dispatch(Msg::ClosePanel) == Change::None {
            return false;
        }
        let _ = self.dom.bubble.focus();
        true
    }

    fn dispatch(&mut self, msg: Msg) -> Change {
        let change = update(&mut self.model, msg);
        if change != Change::None {
            self.render(change == Change::RenderAndAnnounce);
        }
        change
    }

    fn render(&self, announce: bool) {
        let now_ms = Date::now();
        let local_time = dom::local_time(&self.locale, now_ms);
        let view = view(&self.model, self.model.lang.strings(), now_ms, &local_time);
        self.dom.render(&view, announce);
    }
}

impl Drop for Widget {
    fn drop(&mut self) {
        self.dom.remove();
    }
}

/// An open `EventSource` and its listeners; dropping it closes the stream.
#[derive(Debug)]
struct Source {
    events: EventSource,
    _listeners: [Listener; 3],
}

impl Drop for Source {
    fn drop(&mut self) {
        self.events.close();
    }
}

/// The listeners of the chat box's own controls.
fn controls(dom: &Dom) -> [Listener; 3] {
    [
        Listener::new(&dom.bubble, "click", |_| {
            with_widget(Widget::toggle_panel);
        }),
        Listener::new(&dom.close, "click", |_| {
            with_widget(Widget::close_panel);
        }),
        Listener::new(&dom.frame, "keydown", |event| {
            let is_escape = event
                .dyn_ref::<KeyboardEvent>()
                .is_some_and(|key| key.key() == "Escape");
            if is_escape && with_widget(Widget::close_panel) == Some(true) {
                // Ours alone: the page should not also react (say, by closing its own dialog).
                event.stop_propagation();
            }
        }),
    ]
}

/// `origin/api/v1/accounts/{account}/status/events[?group=…]` (CONTRACT §2.4).
fn status_url(config: &Config) -> String {
    let mut url = config.origin.clone();
    while url.ends_with('/') {
        url.pop();
    }
    url.push_str("/api/v1/accounts/");
    url.push_str(&String::from(js_sys::encode_uri_component(&config.account)));
    url.push_str("/status/events");
    if let Some(group) = config.group.as_deref().filter(|group| !group.is_empty()) {
        url.push_str("?group=");
        url.push_str(&String::from(js_sys::encode_uri_component(group)));
    }
    url
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
