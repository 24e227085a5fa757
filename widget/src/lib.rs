//! The onair chat box (widget/README.md): a wasm-bindgen + web-sys widget fed by the public
//! status stream (docs/status.md), in which visitors chat with agents (docs/conversations.md).
//!
//! - `model`: pure state, `update` and `view`, tested natively.
//! - `i18n`: every string in English, French, German, Italian and Spanish.
//! - `dom`: builds the shadow tree once and applies each view to it; reads JSON.
//! - `app`: the page's one widget (owned by its unmount function, which the window keeps), its
//!   `EventSource`s, requests and reconnects.
//! - `net`: `fetch` for posting messages.
//! - `storage`: the visitor token and conversation in `localStorage`, or in memory.
//! - `listener`: RAII guards for event listeners and timers.
//! - `wire`: the statuses, reasons and authors of `onair_shared`, copied (it links std).
//!
//! The build pages load (`cargo xtask widget`, without the `std` feature) is `no_std`.
//!
//! `www/widget.js`, with wasm-bindgen's glue put into it by `cargo xtask widget`, instantiates the
//! wasm and calls [`mount`].
//! No serde here: snapshots and messages are read with `JSON.parse` and `Reflect`, for size.

#![cfg_attr(all(not(feature = "std"), target_arch = "wasm32"), no_std)]

extern crate alloc;

mod app;
mod dom;
mod i18n;
mod listener;
mod model;
mod net;
mod storage;
mod wire;

use alloc::string::String;

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

/// The allocator: lol_alloc's free list (a few hundred bytes of wasm) instead of Rust's default
/// dlmalloc (about 8 KB). A chat box makes few, small allocations on one thread; the spin lock
/// around it costs nothing there and keeps `unsafe` out of this crate.
/// The panic handler of the build pages load, which has no std (`cargo xtask widget` builds
/// without the `std` feature): std's formats the message, which keeps `core::fmt` in the wasm
/// (about 3 KB of it). Nothing here is meant to panic; should something, the call traps, as
/// with `panic = "abort"`.
#[cfg(all(not(feature = "std"), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

#[wasm_bindgen]
extern "C" {
    /// The page's `window` (`None` where there is none). Not `web_sys::window()`, which looks
    /// for the global object through `self`, `window`, `globalThis` and `global` in turn and
    /// then checks that it is a `Window`: four imports and their code more (bytes), for the
    /// same object in a page.
    #[wasm_bindgen(thread_local_v2, js_name = window)]
    static WINDOW: Option<web_sys::Window>;
}

/// The page's `window`, see [`WINDOW`].
pub(crate) fn window() -> Option<web_sys::Window> {
    WINDOW.with(Option::clone)
}

/// Shows the chat box for `account` (and `group`, if any) in the page, in `lang` (a BCP 47
/// tag; else the browser's language; else English), following the status stream at
/// `origin` (the server's origin, e.g. `https://chat.example.com`).
///
/// English is built in; another language's words are `strings`, the array of its file
/// (`GET /widget/…strings….{lang}.json`, which the loader fetches). Without them for the language
/// chosen, the chat box speaks English.
///
/// Creates `<div id="onair-chatbox">` at the end of the body, or reuses one the page has.
/// Mounting again while a chat box is mounted does nothing.
#[wasm_bindgen]
pub fn mount(
    account: String,
    group: Option<String>,
    lang: Option<String>,
    origin: String,
    strings: JsValue,
) {
    app::mount(app::Config {
        account,
        group,
        lang,
        origin,
        strings,
    });
}

/// The file of the language `code` but English: its strings as a JSON array (see [`mount`]).
/// For `cargo xtask widget`, which writes them into `www/pkg/` (`examples/strings.rs`).
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub fn strings_json(code: &str) -> Option<String> {
    i18n::strings_json(code)
}

/// The strings of the language `code` as [`mount`] takes them, from the ones built into a
/// `test-hooks` build: how the browser tests pass them, as the loader does.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn strings_of(code: &str) -> JsValue {
    app::strings_of(code)
}

/// Removes the chat box from the page and closes its stream; [`mount`] may follow.
/// For pages that swap their content (single-page apps), and for the browser tests.
#[wasm_bindgen]
pub fn unmount() {
    app::unmount();
}

/// Shows one status snapshot (the JSON of `GET /api/v1/accounts/{account}/status` or of an
/// `event: status`) as if it had arrived on the stream, with the same checks: a stale
/// version or malformed JSON is ignored. Returns `false` when nothing is mounted or `json`
/// is not a snapshot.
///
/// This is how the browser tests drive the chat box without a server: only in a build with the
/// `test-hooks` feature, which theirs is and the shipped one is not (its bytes are the chat
/// box's).
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn apply_snapshot_json(json: &str) -> bool {
    app::apply_snapshot_json(json)
}

/// Shows one message (the JSON of an `event: message`, docs/conversations.md) as if it had arrived on
/// the conversation stream with the event id `event_id` (the message's `seq`): each message
/// once, by id; replies that come while the panel is closed count as unread. With no
/// conversation yet, the message's own becomes the current one. Returns `false` when nothing
/// is mounted, `json` is not a message, or it changed nothing (a duplicate, another
/// conversation's).
///
/// For the browser tests, like [`apply_snapshot_json`].
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn apply_message_json(json: &str, event_id: Option<String>) -> bool {
    app::apply_message_json(json, event_id)
}

/// Takes `json` as the `201` answer to the message being sent (`{"message": {…}, …}`), as if
/// the server had answered. Returns `false` when nothing is being sent or `json` is not such
/// an answer.
///
/// For the browser tests, which have no server to answer.
#[cfg(feature = "test-hooks")]
#[wasm_bindgen]
pub fn apply_posted_json(json: &str) -> bool {
    app::apply_posted_json(json)
}
