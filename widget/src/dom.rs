//! The thin DOM layer: builds the shadow tree once, then applies each [`View`] to it with
//! `set_text_content`, attributes and `hidden`, so every text from the server or the page
//! stays text. Also reads a snapshot out of JSON and formats visitor-local times.

use js_sys::{Date, JSON, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, HtmlElement, ShadowRoot, ShadowRootInit, ShadowRootMode};

use crate::i18n::Strings;
use crate::model::{Form, LocalTime, RawSnapshot, Snapshot, View};

/// The host element's id (CONTRACT §4); it carries `data-status`.
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
    title: HtmlElement,
    message: HtmlElement,
    back_at: HtmlElement,
    chat: HtmlElement,
    leave: HtmlElement,
    /// A visually hidden `aria-live="polite"` region for status changes.
    live: HtmlElement,
}

impl Dom {
    /// Builds the chat box in the page, reusing `#onair-chatbox` and its open shadow root if
    /// they exist. `None` when the page leaves no way to (no body, or a host element that
    /// cannot take a shadow root).
    pub(crate) fn build(document: &Document, strings: &Strings) -> Option<Dom> {
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

        let chat = b.child(&panel, "div", "fields");
        b.field(&chat, "textarea", "chat-text", strings.your_message);
        let leave = b.child(&panel, "div", "fields");
        let name = b.field(&leave, "input", "leave-name", strings.name);
        set(&name, "autocomplete", "name");
        let email = b.field(&leave, "input", "leave-email", strings.email);
        set(&email, "type", "email");
        set(&email, "autocomplete", "email");
        set(&email, "required", "");
        let text = b.field(&leave, "textarea", "leave-text", strings.message);
        set(&text, "required", "");

        // Conversations (CONTRACT §3) are not built yet: say so instead of pretending to send.
        let send = b.child(&panel, "button", "send");
        set(&send, "type", "button");
        set(&send, "disabled", "");
        set(&send, "aria-describedby", "note");
        send.set_text_content(Some(strings.send));
        let note = b.child(&panel, "p", "note");
        note.set_id("note");
        note.set_text_content(Some(strings.not_available));

        let live = b.element("div", "sr");
        set(&live, "aria-live", "polite");
        set(&live, "aria-atomic", "true");
        set(&live, "lang", strings.code);

        for node in [&style, &frame, &live] {
            root.append_child(node).ok()?;
        }
        Some(Dom {
            host,
            created_host,
            root,
            frame,
            bubble,
            bubble_label,
            bubble_back_at,
            panel,
            close,
            title,
            message,
            back_at,
            chat,
            leave,
            live,
        })
    }

    pub(crate) fn render(&self, view: &View, announce: bool) {
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
        self.panel.set_hidden(!view.open);
        self.title.set_text_content(Some(view.title));
        show_text(&self.message, view.message.as_deref());
        show_text(&self.back_at, view.back_at.as_deref());
        self.chat.set_hidden(view.form != Form::Chat);
        self.leave.set_hidden(view.form != Form::LeaveMessage);
        if announce {
            if let Some(text) = &view.announcement {
                self.live.set_text_content(Some(text));
            }
        }
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

fn clear(root: &ShadowRoot) {
    while let Some(child) = root.first_child() {
        let _ = root.remove_child(&child);
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
    let value = JSON::parse(json).ok()?;
    if !value.is_object() {
        return None;
    }
    let field = |name: &str| Reflect::get(&value, &JsValue::from_str(name)).ok();
    let string = |name: &str| field(name).and_then(|value| value.as_string());
    Snapshot::decode(RawSnapshot {
        status: string("status"),
        reason: string("reason"),
        message: string("message"),
        next_change_ms: string("next_change").map(|at| Date::parse(&at)),
        version: field("version").and_then(|value| value.as_f64()),
        hide_when_offline: field("hide_when_offline").and_then(|value| value.as_bool()),
    })
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
