//! The chat box's requests besides its event streams: posting a visitor's message
//! (docs/conversations.md), reading an earlier conversation once, and asking how a conversation stream's address answers when its
//! `EventSource` gave up (an `EventSource` never tells the status).
//!
//! Callbacks rather than `async`: an executor (wasm-bindgen-futures) would cost the wasm
//! about 5 KB for two requests.

use alloc::boxed::Box;
use alloc::string::String;

use js_sys::{JSON, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{RequestInit, Response};

#[wasm_bindgen]
extern "C" {
    /// A promise seen for its `then(onFulfilled, onRejected)` with plain functions: js-sys's
    /// `then2` takes closures by reference, which would have to be kept somewhere until the
    /// promise settles.
    type Thenable;

    #[wasm_bindgen(method)]
    fn then(this: &Thenable, on_fulfilled: &JsValue, on_rejected: &JsValue);
}

use crate::dom;
use crate::model::{ChatMessage, Failure};

/// POSTs `body` as JSON to `url`; `done` gets the stored message from the `201` answer, or
/// why not.
pub(crate) fn post(
    url: &str,
    body: &Object,
    done: impl FnOnce(Result<ChatMessage, Failure>) + 'static,
) {
    let init = RequestInit::new();
    init.set_method("POST");
    if let Ok(json) = JSON::stringify(body) {
        init.set_body(&json);
    }
    let headers = Object::new();
    let _ = Reflect::set(
        &headers,
        &JsValue::from_str("Content-Type"),
        &JsValue::from_str("application/json"),
    );
    init.set_headers(&headers);
    fetch(url, &init, move |response| {
        let Some(response) = response else {
            return done(Err(Failure::default()));
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .ok()
            .flatten()
            .and_then(|seconds| seconds.trim_ascii().parse().ok());
        // `text()`, not `json()`: a rejection is then told apart from any JSON by its type.
        let Ok(text) = response.text() else {
            return done(answer(status, retry_after, None));
        };
        settle(
            &text,
            Box::new(move |text| done(answer(status, retry_after, text.as_string()))),
        );
    });
}

/// GETs `url`; `done` gets the body of a `200` answer as a JSON object, else `None`.
pub(crate) fn get_object(url: &str, done: impl FnOnce(Option<JsValue>) + 'static) {
    fetch(url, &RequestInit::new(), move |response| {
        let text = response
            .filter(|response| response.status() == 200)
            .and_then(|response| response.text().ok());
        let Some(text) = text else {
            return done(None);
        };
        settle(
            &text,
            Box::new(move |text| done(text.as_string().and_then(|t| dom::parse_object(&t)))),
        );
    });
}

/// Calls `done` with the HTTP status `url` answers a `HEAD` with; 0 when it does not answer.
pub(crate) fn status_of(url: &str, done: impl FnOnce(u16) + 'static) {
    let init = RequestInit::new();
    init.set_method("HEAD");
    fetch(url, &init, move |response| {
        done(response.map_or(0, |response| response.status()));
    });
}

/// The message of a `201` answer, or the error (`{"error": {"code", "message"}}`) of another.
fn answer(
    status: u16,
    retry_after: Option<u32>,
    body: Option<String>,
) -> Result<ChatMessage, Failure> {
    let body = body.and_then(|body| dom::parse_object(&body));
    if (200..300).contains(&status) {
        if let Some(message) = body.as_ref().and_then(dom::posted_message) {
            return Ok(message);
        }
    }
    let error = body.and_then(|body| dom::field(&body, "error"));
    let text = |name| {
        error
            .as_ref()
            .and_then(|error| dom::string(error, name))
            .unwrap_or_default()
    };
    Err(Failure {
        status,
        code: text("code"),
        message: text("message"),
        retry_after,
    })
}

/// `fetch`; `done` gets the response, or `None` when there is none (network down, CORS).
fn fetch(url: &str, init: &RequestInit, done: impl FnOnce(Option<Response>) + 'static) {
    let Some(window) = crate::window() else {
        return done(None);
    };
    settle(
        &window.fetch_with_str_and_init(url, init),
        Box::new(move |value| done(value.dyn_into().ok())),
    );
}

/// Calls `f` once with the value `promise` settles to, fulfilled or rejected (the caller
/// tells them apart by type). The callback frees itself after its one call
/// (`Closure::once_into_js`), and is both handlers of a promise that settles exactly once,
/// so it is always called and nothing leaks. Boxed: one instance of the closure machinery
/// for every caller.
fn settle(promise: &Promise, f: Box<dyn FnOnce(JsValue)>) {
    let callback = Closure::once_into_js(f);
    promise
        .unchecked_ref::<Thenable>()
        .then(&callback, &callback);
}
