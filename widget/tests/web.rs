//! The chat box in a real browser:
//! `wasm-pack test --headless --chrome widget --features test-hooks`.
//!
//! Each test mounts a fresh chat box pointed at an origin where nothing listens (its
//! `EventSource`s and requests just fail, which the widget survives), drives it with
//! `apply_snapshot_json`, `apply_message_json` and `apply_posted_json` standing in for the
//! server (exported with the `test-hooks` feature only), and reads the DOM, as a page or a
//! screen reader would.

#![cfg(target_arch = "wasm32")]

use onair_widget::{
    apply_message_json, apply_posted_json, apply_snapshot_json, mount, strings_of, unmount,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit,
    ShadowRoot, Storage,
};

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens on the discard port.
const ORIGIN: &str = "http://127.0.0.1:9";

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a document")
}

fn local_storage() -> Storage {
    web_sys::window()
        .and_then(|window| window.local_storage().ok().flatten())
        .expect("localStorage")
}

/// A fresh chat box for `acme`'s group `sales`, with nothing kept from an earlier test.
fn mount_in(lang: Option<&str>) {
    unmount();
    local_storage().clear().expect("cleared");
    mount(
        "acme".to_owned(),
        Some("sales".to_owned()),
        lang.map(str::to_owned),
        ORIGIN.to_owned(),
        // A language's words, as the loader passes them from its file.
        lang.map_or(JsValue::UNDEFINED, strings_of),
    );
}

fn host() -> Element {
    document()
        .get_element_by_id("onair-chatbox")
        .expect("the host element")
}

fn host_status() -> String {
    host().get_attribute("data-status").unwrap_or_default()
}

fn root() -> ShadowRoot {
    host().shadow_root().expect("an open shadow root")
}

fn find(selector: &str) -> HtmlElement {
    root()
        .query_selector(selector)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no {selector} in the shadow root"))
        .unchecked_into()
}

fn text(selector: &str) -> String {
    find(selector).text_content().unwrap_or_default()
}

/// Whether the element and every ancestor up to the shadow root are shown.
fn is_shown(selector: &str) -> bool {
    let mut element: Option<Element> = Some(find(selector).into());
    while let Some(current) = element {
        if current.unchecked_ref::<HtmlElement>().hidden() {
            return false;
        }
        element = current.parent_element();
    }
    true
}

fn snapshot(status: &str, version: u64) -> String {
    let reason = match status {
        "online" => "agents_online",
        "busy" => "agents_busy",
        _ => "no_agent_available",
    };
    format!(
        r#"{{"account":"acme","group":"sales","status":"{status}","reason":"{reason}","message":null,"next_change":null,"version":{version},"hide_when_offline":false}}"#
    )
}

fn apply(json: &str) {
    assert!(apply_snapshot_json(json), "not taken: {json}");
}

fn press_escape_in(selector: &str) {
    press_in(selector, "Escape", false);
}

fn press_in(selector: &str, key: &str, shift: bool) {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("event");
    find(selector).dispatch_event(&event).expect("dispatched");
}

/// The JSON of a message of conversation `c1`, as the server sends it.
fn message(id: &str, author: &str, text: &str) -> String {
    let agent_id = if author == "agent" { r#""a1""# } else { "null" };
    let text = js_sys::JSON::stringify(&text.into())
        .map(String::from)
        .expect("a JSON string");
    format!(
        r#"{{"id":"{id}","conversation_id":"c1","author":"{author}","agent_id":{agent_id},"text":{text},"created_at":"2026-11-23T10:00:00.123456789Z"}}"#
    )
}

fn receive(json: &str, seq: u64) -> bool {
    apply_message_json(json, Some(seq.to_string()))
}

/// The `201` answer to a visitor's message.
fn posted(message: &str) -> String {
    format!(
        r#"{{"conversation":{{"id":"c1","state":"open","group":"sales","name":null,"email":null,"created_at":"2026-11-23T10:00:00Z","last_message_at":"2026-11-23T10:00:00Z"}},"message":{message},"delivery":"live"}}"#
    )
}

fn textarea(selector: &str) -> HtmlTextAreaElement {
    find(selector).unchecked_into()
}

fn input(selector: &str) -> HtmlInputElement {
    find(selector).unchecked_into()
}

fn count(selector: &str) -> u32 {
    root()
        .query_selector_all(selector)
        .map(|nodes| nodes.length())
        .unwrap_or_default()
}

/// The chat box's announcements (the typing note is a live region of its own, in the panel).
fn live() -> String {
    text(".sr[aria-live=polite]")
}

#[wasm_bindgen_test]
fn connecting_until_the_first_snapshot_and_nothing_shown() {
    mount_in(Some("en"));
    assert_eq!(host_status(), "connecting");
    assert!(!is_shown(".w"));
    apply(&snapshot("online", 1));
    assert_eq!(host_status(), "online");
    assert!(is_shown(".bubble"));
}

#[wasm_bindgen_test]
fn the_host_carries_each_status() {
    mount_in(Some("en"));
    for (version, status) in ["online", "busy", "offline", "online"]
        .into_iter()
        .enumerate()
    {
        apply(&snapshot(status, version as u64 + 1));
        assert_eq!(host_status(), status);
        assert!(is_shown(".bubble"), "{status}");
    }
}

#[wasm_bindgen_test]
fn a_stale_or_malformed_snapshot_changes_nothing() {
    mount_in(Some("en"));
    apply(&snapshot("online", 5));
    // Stale: decoded, but older than what is shown.
    apply(&snapshot("offline", 4));
    assert_eq!(host_status(), "online");
    for bad in [
        "",
        "{",
        "null",
        "[]",
        "42",
        r#"{"status":"away","version":9}"#,
        r#"{"status":"offline"}"#,
        r#"{"status":"offline","version":"9"}"#,
        r#"{"status":"offline","version":-1}"#,
    ] {
        assert!(!apply_snapshot_json(bad), "took {bad}");
    }
    assert_eq!(host_status(), "online");
}

#[wasm_bindgen_test]
fn each_language_speaks_its_own_words() {
    // (lang, online title, busy title, offline title, offline bubble, email label, send)
    let cases = [
        (
            "en",
            "We’re online",
            "We’re busy",
            "We’re offline",
            "Leave a message",
            "Email",
            "Send",
        ),
        (
            "fr-FR",
            "Nous sommes en ligne",
            "Nous sommes occupés",
            "Nous sommes hors ligne",
            "Laissez un message",
            "Adresse e-mail",
            "Envoyer",
        ),
        (
            "de",
            "Wir sind online",
            "Wir sind gerade beschäftigt",
            "Wir sind offline",
            "Nachricht hinterlassen",
            "E-Mail-Adresse",
            "Senden",
        ),
        (
            "it",
            "Siamo online",
            "Siamo occupati",
            "Siamo offline",
            "Lascia un messaggio",
            "Indirizzo email",
            "Invia",
        ),
        (
            "es",
            "Estamos en línea",
            "Estamos ocupados",
            "Estamos fuera de línea",
            "Deja un mensaje",
            "Correo electrónico",
            "Enviar",
        ),
    ];
    for (lang, online, busy, offline, leave, email, send) in cases {
        mount_in(Some(lang));
        assert_eq!(
            find(".w").get_attribute("lang").as_deref(),
            Some(&lang[..2])
        );
        apply(&snapshot("online", 1));
        find(".bubble").click();
        assert_eq!(text("h2"), online, "{lang}");
        apply(&snapshot("busy", 2).replace(r#""message":null"#, r#""message":"…""#));
        assert_eq!(text("h2"), busy, "{lang}");
        assert!(is_shown(".msg"), "{lang}: the busy message");
        apply(&snapshot("offline", 3));
        assert_eq!(text("h2"), offline, "{lang}");
        assert_eq!(text(".bubble"), leave, "{lang}");
        assert!(is_shown(".panel"), "{lang}");
        assert_eq!(text("label[for=leave-email]"), email, "{lang}");
        assert_eq!(text(".leave .send"), send, "{lang}");
    }
}

#[wasm_bindgen_test]
fn an_unknown_data_lang_falls_back_to_the_browser_or_english() {
    mount_in(Some("pt-BR"));
    apply(&snapshot("online", 1));
    // Headless Chromium's own language is English here; any of the five would be fine.
    let title = text("h2");
    assert!(
        [
            "We’re online",
            "Nous sommes en ligne",
            "Wir sind online",
            "Siamo online",
            "Estamos en línea"
        ]
        .contains(&title.as_str()),
        "{title}"
    );
}

#[wasm_bindgen_test]
fn busy_and_offline_show_the_accounts_message() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    assert!(is_shown(".panel"));
    assert!(!is_shown(".msg"));
    apply(&snapshot("busy", 2).replace(r#""message":null"#, r#""message":"Back in five minutes""#));
    assert!(is_shown(".msg"));
    assert_eq!(text(".msg"), "Back in five minutes");
    apply(
        &snapshot("offline", 3).replace(r#""message":null"#, r#""message":"Leave us your email""#),
    );
    assert_eq!(text(".msg"), "Leave us your email");
    // Opened while offline, the panel focuses the message of the leave-a-message form.
    find(".close").click();
    find(".bubble").click();
    let focused = root().active_element().map(|element| element.id());
    assert_eq!(focused.as_deref(), Some("leave-text"));
}

#[wasm_bindgen_test]
fn hostile_text_stays_text() {
    mount_in(Some("en"));
    let hostile = "<img src=x onerror=alert(1)>";
    apply(&snapshot("busy", 1).replace(
        r#""message":null"#,
        r#""message":"<img src=x onerror=alert(1)>""#,
    ));
    assert_eq!(text(".msg"), hostile);
    assert!(root().query_selector("img").ok().flatten().is_none());
    assert!(document().query_selector("img").ok().flatten().is_none());
}

#[wasm_bindgen_test]
fn hide_when_offline_hides_everything() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    apply(&snapshot("offline", 2).replace(
        r#""hide_when_offline":false"#,
        r#""hide_when_offline":true"#,
    ));
    assert_eq!(host_status(), "offline");
    assert!(!is_shown(".w"));
    assert!(!is_shown(".panel"));
    // Back online, it shows again.
    apply(&snapshot("online", 3).replace(
        r#""hide_when_offline":false"#,
        r#""hide_when_offline":true"#,
    ));
    assert!(is_shown(".bubble"));
}

#[wasm_bindgen_test]
fn outside_office_hours_says_when_it_opens_in_local_time() {
    mount_in(Some("en"));
    let in_two_days = js_sys::Date::new(&(js_sys::Date::now() + 2.0 * 86_400_000.0).into());
    let at = String::from(in_two_days.to_iso_string());
    let json = snapshot("offline", 1)
        .replace("no_agent_available", "outside_office_hours")
        .replace(r#""next_change":null"#, &format!(r#""next_change":"{at}""#));
    apply(&json);
    // Said on the bubble, without opening the panel…
    assert!(is_shown(".bubble .sub"));
    let back = text(".bubble .sub");
    let weekday = String::from(in_two_days.to_locale_date_string("en", &weekday_long()));
    assert!(back.starts_with("Back on "), "{back}");
    assert!(back.contains(&weekday), "{back} should name {weekday}");
    // …and in the panel.
    find(".bubble").click();
    assert!(is_shown(".back"));
    assert_eq!(text(".back"), back);

    // Without office hours there is nothing to wait for.
    apply(&snapshot("offline", 2));
    assert!(!is_shown(".back"));
    assert!(!is_shown(".bubble .sub"));
}

fn weekday_long() -> js_sys::Object {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"weekday".into(), &"long".into()).expect("set");
    options
}

#[wasm_bindgen_test]
fn offline_offers_a_labelled_form_and_online_a_chat() {
    mount_in(Some("en"));
    apply(&snapshot("offline", 1));
    find(".bubble").click();
    assert!(is_shown(".panel"));
    for id in ["leave-name", "leave-email", "leave-text"] {
        assert!(is_shown(&format!("#{id}")), "{id}");
        assert!(is_shown(&format!("label[for={id}]")), "{id}");
        assert!(!text(&format!("label[for={id}]")).is_empty(), "{id}");
    }
    assert_eq!(input("#leave-email").type_(), "email");
    assert!(input("#leave-email").required());
    assert!(textarea("#leave-text").required());
    assert!(!input("#leave-name").required());
    assert!(!is_shown("#chat-text"));
    assert!(is_shown(".leave .send"));
    assert!(!find(".leave .send").has_attribute("disabled"));
    assert_eq!(
        find(".leave .send").get_attribute("type").as_deref(),
        Some("submit")
    );

    apply(&snapshot("online", 2));
    assert!(is_shown("#chat-text"));
    assert!(is_shown("label[for=chat-text]"));
    assert!(!is_shown("#leave-email"));
    assert!(is_shown(".chat .send"));
    assert!(!find(".chat .send").has_attribute("disabled"));
    // Nothing said yet: no conversation, no note.
    assert!(!is_shown(".log"));
    assert!(!is_shown(".note"));
}

#[wasm_bindgen_test]
fn messages_are_shown_as_text_with_who_wrote_them() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    let hostile = "<img src=x onerror=alert(1)>";
    assert!(receive(
        &message("m1", "visitor", "Hello,\nanyone there?"),
        1
    ));
    assert!(receive(&message("m2", "agent", hostile), 2));
    assert!(receive(
        &message("m3", "bot", "<script>alert(1)</script>"),
        3
    ));
    assert!(is_shown(".log"));
    assert_eq!(find(".log").get_attribute("role").as_deref(), Some("log"));
    assert_eq!(count(".log .m"), 3);
    assert_eq!(text(".log .v .t"), "Hello,\nanyone there?");
    assert_eq!(text(".log .v .sr"), "You");
    assert_eq!(text(".log .a .who"), "Agent");
    assert_eq!(text(".log .a .t"), hostile);
    assert_eq!(text(".log .b .who"), "Automatic reply");
    assert_eq!(text(".log .b .t"), "<script>alert(1)</script>");
    assert!(
        root()
            .query_selector("img, script")
            .ok()
            .flatten()
            .is_none()
    );
    assert!(document().query_selector("img").ok().flatten().is_none());
}

#[wasm_bindgen_test]
fn an_agents_reply_shows_the_agents_name_as_text() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    let named = message("m1", "agent", "Hi!").replacen(
        r#""agent_id":"a1","#,
        r#""agent_id":"a1","agent":{"id":"a1","name":"<i>Ann</i>","avatar_url":null},"#,
        1,
    );
    assert!(receive(&named, 1));
    assert_eq!(text(".log .a .who"), "<i>Ann</i>");
    assert!(root().query_selector(".log i").ok().flatten().is_none());
    // `agent: null` (an agent since deleted): the generic word.
    let unnamed = message("m2", "agent", "Still here").replacen(
        r#""agent_id":"a1","#,
        r#""agent_id":"a1","agent":null,"#,
        1,
    );
    assert!(receive(&unnamed, 2));
    assert_eq!(count(".log .a .who"), 2);
    let names: Vec<String> = (0..2)
        .map(|i| {
            root()
                .query_selector_all(".log .a .who")
                .ok()
                .and_then(|all| all.item(i))
                .and_then(|node| node.text_content())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["<i>Ann</i>", "Agent"]);
}

#[wasm_bindgen_test]
fn an_agents_reply_shows_their_picture_from_the_server_or_their_initials() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    let with = |id: &str, agent: &str| {
        message(id, "agent", "Hi!").replacen(
            r#""agent_id":"a1","#,
            &format!(r#""agent_id":"a1","agent":{agent},"#),
            1,
        )
    };
    let pictured = with(
        "m1",
        r#"{"id":"a1","name":"Ann Smith","avatar_url":"/api/v1/avatars/ab12"}"#,
    );
    assert!(receive(&pictured, 1));
    let picture = find(".log .a img.av");
    assert_eq!(
        picture.get_attribute("src").as_deref(),
        Some("http://127.0.0.1:9/api/v1/avatars/ab12"),
        "resolved against the server"
    );
    assert_eq!(picture.get_attribute("alt").as_deref(), Some(""));
    assert_eq!(text(".log .a .who"), "Ann Smith");
    // None, or one elsewhere: the initials, as text, hidden from screen readers.
    let initials = with(
        "m2",
        r#"{"id":"a2","name":"<b>bob</b> lee","avatar_url":"https://evil.example/x.png"}"#,
    );
    assert!(receive(&initials, 2));
    assert_eq!(count(".log .a img"), 1);
    assert_eq!(count(".log .a span.av"), 1);
    assert_eq!(text(".log .a span.av"), "<l");
    let shown = web_sys::window()
        .and_then(|w| {
            w.get_computed_style(&find(".log .a span.av"))
                .ok()
                .flatten()
        })
        .and_then(|style| style.get_property_value("text-transform").ok());
    assert_eq!(shown.as_deref(), Some("uppercase"), "shown as capitals");
    assert_eq!(
        find(".log .a span.av")
            .get_attribute("aria-hidden")
            .as_deref(),
        Some("true")
    );
    assert!(root().query_selector(".log b").ok().flatten().is_none());
}

#[wasm_bindgen_test]
fn web_addresses_are_links_that_open_apart_and_each_message_has_its_time() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    assert!(receive(
        &message(
            "m1",
            "agent",
            "See https://shop.example/teapots?c=blue. Not javascript:alert(1)"
        ),
        1
    ));
    let links = root().query_selector_all(".log .a .t a").expect("links");
    assert_eq!(links.length(), 1);
    let link: Element = links.item(0).expect("a link").unchecked_into();
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("https://shop.example/teapots?c=blue")
    );
    assert_eq!(link.get_attribute("target").as_deref(), Some("_blank"));
    assert_eq!(
        link.get_attribute("rel").as_deref(),
        Some("noopener noreferrer")
    );
    assert_eq!(
        link.text_content().as_deref(),
        Some("https://shop.example/teapots?c=blue")
    );
    // The rest is text, whole.
    assert_eq!(
        text(".log .a .t"),
        "See https://shop.example/teapots?c=blue. Not javascript:alert(1)"
    );
    // The time of the message, in the visitor's own time.
    let at = text(".log .a .at");
    assert!(
        !at.is_empty() && at.chars().any(|c| c.is_ascii_digit()),
        "{at:?}"
    );
}

#[wasm_bindgen_test]
fn a_message_arriving_twice_is_shown_once() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    let hello = message("m1", "visitor", "Hello");
    assert!(receive(&hello, 1));
    // A stream that reconnects replays the history.
    assert!(!receive(&hello, 1));
    assert!(receive(&message("m2", "agent", "Hi!"), 2));
    assert!(!receive(&hello, 1));
    assert_eq!(count(".log .m"), 2);
    assert!(!apply_message_json("{", None));
    assert!(!apply_message_json(r#"{"id":"m9","author":"agent"}"#, None));
}

#[wasm_bindgen_test]
fn replies_while_the_panel_is_closed_show_a_badge_and_are_announced() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    receive(&message("m1", "visitor", "Hello"), 1);
    assert!(!is_shown(".badge"));
    assert!(!find(".bubble").has_attribute("aria-label"));

    receive(&message("m2", "agent", "Hi, Bob here"), 2);
    assert!(is_shown(".badge"));
    assert_eq!(text(".badge"), "1");
    assert_eq!(
        find(".bubble").get_attribute("aria-label").as_deref(),
        Some("Chat with us. 1 new message")
    );
    assert_eq!(live(), "New message from an agent: Hi, Bob here");

    receive(&message("m3", "bot", "We will be right with you."), 3);
    assert_eq!(text(".badge"), "2");
    assert_eq!(
        find(".bubble").get_attribute("aria-label").as_deref(),
        Some("Chat with us. 2 new messages")
    );
    assert_eq!(live(), "New automatic message: We will be right with you.");

    find(".bubble").click();
    assert!(!is_shown(".badge"));
    assert!(!find(".bubble").has_attribute("aria-label"));
    // Read, also for the next page: the mark is kept with the conversation.
    assert_eq!(
        local_storage()
            .get_item("onair:acme:read:sales")
            .ok()
            .flatten()
            .as_deref(),
        Some("3")
    );
    receive(&message("m4", "agent", "How can I help?"), 4);
    find(".close").click();
    assert!(!is_shown(".badge"));
}

#[wasm_bindgen_test]
fn enter_sends_and_shift_enter_does_not() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    find(".bubble").click();
    let send = find(".chat .send");
    textarea("#chat-text").set_value("Hello");
    press_in("#chat-text", "Enter", true);
    assert!(!send.has_attribute("disabled"), "Shift+Enter is a new line");

    press_in("#chat-text", "Enter", false);
    assert!(send.has_attribute("disabled"), "waits for the answer");
    assert_eq!(send.text_content().as_deref(), Some("Sending…"));
    // The answer: the message as stored, shown from it (not before).
    assert!(apply_posted_json(&posted(&message(
        "m1", "visitor", "Hello"
    ))));
    assert!(!send.has_attribute("disabled"));
    assert_eq!(send.text_content().as_deref(), Some("Send"));
    assert_eq!(textarea("#chat-text").value(), "");
    assert_eq!(count(".log .m"), 1);
    // Nothing on its way any more: a second answer is not taken.
    assert!(!apply_posted_json(&posted(&message(
        "m2", "visitor", "Hello"
    ))));
    // And the stream's copy is the same message.
    assert!(!receive(&message("m1", "visitor", "Hello"), 1));
    assert_eq!(count(".log .m"), 1);
}

#[wasm_bindgen_test]
fn the_visitor_token_and_conversation_are_kept_for_the_next_page() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    let storage = local_storage();
    assert_eq!(
        storage.get_item("onair:acme:visitor").ok().flatten(),
        None,
        "nothing is stored for a visitor who does not write"
    );
    find(".bubble").click();
    textarea("#chat-text").set_value("Hello");
    find(".chat .send").click();
    let token = storage
        .get_item("onair:acme:visitor")
        .ok()
        .flatten()
        .expect("a visitor token");
    assert_eq!(token.len(), 24);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    assert!(apply_posted_json(&posted(&message(
        "m1", "visitor", "Hello"
    ))));
    assert_eq!(
        storage
            .get_item("onair:acme:conversation:sales")
            .ok()
            .flatten()
            .as_deref(),
        Some("c1")
    );

    // The next page: same token, same conversation, whose stream replays the history.
    unmount();
    mount(
        "acme".to_owned(),
        Some("sales".to_owned()),
        Some("en".to_owned()),
        ORIGIN.to_owned(),
        JsValue::UNDEFINED,
    );
    apply(&snapshot("online", 1));
    let other = message("m1", "visitor", "Hello").replace(r#""c1""#, r#""c0""#);
    assert!(!receive(&other, 1), "another conversation's message");
    assert!(receive(&message("m1", "visitor", "Hello"), 1));
    assert_eq!(
        storage.get_item("onair:acme:visitor").ok().flatten(),
        Some(token)
    );
}

#[wasm_bindgen_test]
fn the_offline_form_promises_email_only_when_the_server_sends_it() {
    // (The offline message itself is the server's, which promises email on the same condition.)
    for (email_replies, sent) in [
        (
            false,
            "Thanks — we have your message and will get back to you.",
        ),
        (true, "Thanks — we’ll get back to you by email."),
    ] {
        mount_in(Some("en"));
        let offline = snapshot("offline", 1).replace(
            r#""hide_when_offline":false"#,
            &format!(r#""hide_when_offline":false,"email_replies":{email_replies}"#),
        );
        apply(&offline);
        find(".bubble").click();
        input("#leave-email").set_value("ann@example.com");
        textarea("#leave-text").set_value("Hello");
        find(".leave .send").click();
        assert!(apply_posted_json(&posted(&message(
            "m1", "visitor", "Hello"
        ))));
        assert_eq!(text(".note"), sent, "{email_replies}");
        unmount();
    }
}

#[wasm_bindgen_test]
fn the_offline_form_confirms_keeps_who_wrote_and_prefills_it_next_time() {
    mount_in(Some("en"));
    apply(&snapshot("offline", 1));
    find(".bubble").click();
    input("#leave-name").set_value("Ann");
    input("#leave-email").set_value("ann@example.com");
    textarea("#leave-text").set_value("Please call me back.");
    let send = find(".leave .send");
    send.click();
    assert!(send.has_attribute("disabled"));
    assert!(apply_posted_json(&posted(&message(
        "m1",
        "visitor",
        "Please call me back."
    ))));
    assert!(is_shown(".note"));
    assert_eq!(
        text(".note"),
        "Thanks — we have your message and will get back to you."
    );
    assert_eq!(
        live(),
        "Thanks — we have your message and will get back to you."
    );
    // The message goes; who wrote it stays, for the next one.
    assert_eq!(textarea("#leave-text").value(), "");
    assert_eq!(input("#leave-name").value(), "Ann");
    assert_eq!(input("#leave-email").value(), "ann@example.com");
    assert!(!send.has_attribute("disabled"));

    // And on the next page: prefilled, from `localStorage`, for this account only.
    let storage = local_storage();
    assert_eq!(
        storage
            .get_item("onair:acme:email")
            .ok()
            .flatten()
            .as_deref(),
        Some("ann@example.com")
    );
    unmount();
    mount(
        "acme".to_owned(),
        None,
        Some("en".to_owned()),
        ORIGIN.to_owned(),
        JsValue::UNDEFINED,
    );
    apply(&snapshot("offline", 2));
    assert_eq!(input("#leave-name").value(), "Ann");
    assert_eq!(input("#leave-email").value(), "ann@example.com");
    unmount();
    mount(
        "other".to_owned(),
        None,
        Some("en".to_owned()),
        ORIGIN.to_owned(),
        JsValue::UNDEFINED,
    );
    apply(&snapshot("offline", 3));
    assert_eq!(input("#leave-email").value(), "");
}

#[wasm_bindgen_test]
fn the_offline_form_is_not_sent_without_an_email() {
    mount_in(Some("fr"));
    apply(&snapshot("offline", 1));
    find(".bubble").click();
    textarea("#leave-text").set_value("Bonjour");
    // The browser's own check (`required`) stops it before it is sent.
    find(".leave .send").click();
    assert!(!find(".leave .send").has_attribute("disabled"));
    assert!(!apply_posted_json(&posted(&message(
        "m1", "visitor", "Bonjour"
    ))));
}

#[wasm_bindgen_test]
fn hide_when_offline_keeps_a_conversation_in_progress_in_sight() {
    mount_in(Some("en"));
    let hidden = snapshot("offline", 1).replace(
        r#""hide_when_offline":false"#,
        r#""hide_when_offline":true"#,
    );
    apply(&hidden);
    assert!(!is_shown(".w"));
    receive(&message("m1", "visitor", "Hello"), 1);
    assert!(is_shown(".bubble"));
    find(".bubble").click();
    assert!(is_shown(".log"));
    assert!(is_shown("#leave-email"));
}

#[wasm_bindgen_test]
fn the_bubble_is_a_button_that_opens_the_panel_and_escape_closes_it() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    let bubble = find(".bubble");
    assert_eq!(bubble.tag_name(), "BUTTON");
    assert_eq!(
        bubble.get_attribute("aria-controls").as_deref(),
        Some("panel")
    );
    assert!(root().get_element_by_id("panel").is_some());
    assert_eq!(
        bubble.get_attribute("aria-expanded").as_deref(),
        Some("false")
    );
    assert!(!is_shown(".panel"));

    bubble.click();
    assert_eq!(
        bubble.get_attribute("aria-expanded").as_deref(),
        Some("true")
    );
    assert!(is_shown(".panel"));
    assert_eq!(text("#title"), "We’re online");
    let focused = root().active_element().map(|element| element.id());
    assert_eq!(
        focused.as_deref(),
        Some("chat-text"),
        "opening the panel focuses the text field"
    );
    assert_eq!(
        find(".log").get_attribute("tabindex").as_deref(),
        Some("0"),
        "the message list is reachable by keyboard, to scroll it"
    );

    press_escape_in("#chat-text");
    assert_eq!(
        bubble.get_attribute("aria-expanded").as_deref(),
        Some("false")
    );
    assert!(!is_shown(".panel"));
    let focused = root().active_element();
    assert!(
        focused.is_some_and(|element| element.class_name() == "bubble"),
        "focus returns to the bubble"
    );

    bubble.click();
    find(".close").click();
    assert_eq!(
        bubble.get_attribute("aria-expanded").as_deref(),
        Some("false")
    );
}

#[wasm_bindgen_test]
fn a_status_change_is_announced_politely() {
    mount_in(Some("en"));
    apply(&snapshot("online", 1));
    assert_eq!(live(), "", "the first answer is not a change");
    apply(&snapshot("busy", 2).replace(r#""message":null"#, r#""message":"Back soon.""#));
    assert_eq!(live(), "We’re busy. Back soon.");
    apply(&snapshot("online", 3));
    assert_eq!(live(), "We’re online");
}

#[wasm_bindgen_test]
fn mounting_twice_builds_one_chat_box() {
    mount_in(Some("en"));
    mount(
        "other".to_owned(),
        None,
        Some("de".to_owned()),
        ORIGIN.to_owned(),
        JsValue::UNDEFINED,
    );
    assert_eq!(
        document()
            .query_selector_all("#onair-chatbox")
            .map(|nodes| nodes.length())
            .ok(),
        Some(1)
    );
    assert_eq!(
        root().query_selector_all("style").map(|n| n.length()).ok(),
        Some(1)
    );
    apply(&snapshot("online", 1));
    assert_eq!(text("h2"), "We’re online", "the first mount stays");
}

#[wasm_bindgen_test]
fn unmounting_removes_the_chat_box() {
    mount_in(Some("en"));
    unmount();
    assert!(document().get_element_by_id("onair-chatbox").is_none());
    assert!(!apply_snapshot_json(&snapshot("online", 1)));
}

#[wasm_bindgen_test]
fn a_host_element_on_the_page_is_reused() {
    unmount();
    let own = document().create_element("div").expect("div");
    own.set_id("onair-chatbox");
    document()
        .body()
        .expect("body")
        .append_child(&own)
        .expect("append");
    mount(
        "acme".to_owned(),
        None,
        Some("en".to_owned()),
        ORIGIN.to_owned(),
        JsValue::UNDEFINED,
    );
    assert_eq!(
        document()
            .query_selector_all("#onair-chatbox")
            .map(|nodes| nodes.length())
            .ok(),
        Some(1)
    );
    assert_eq!(host_status(), "connecting");
    unmount();
    // The page's own element stays; the chat box in it is gone.
    assert!(
        own.shadow_root()
            .is_some_and(|root| root.child_element_count() == 0)
    );
    own.remove();
}
