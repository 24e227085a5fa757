//! The onair chat box (CONTRACT §4): a wasm-bindgen + web-sys widget fed by the public
//! status stream (CONTRACT §2.4).
//!
//! - `model`: pure state, `update` and `view`, tested natively.
//! - `i18n`: every string in English, French, German, Italian and Spanish.
//! - `dom`: builds the shadow tree once and applies each view to it.
//! - `app`: the page's one widget in a thread-local, its `EventSource` and reconnects.
//! - `listener`: RAII guards for event listeners and timers.
//!
//! `www/widget.js` loads the glue module `wasm-pack` generates and calls [`mount`].
//! No serde here: snapshots are read with `JSON.parse` and `Reflect`, for size.

mod app;
mod dom;
mod i18n;
mod listener;
mod model;

use wasm_bindgen::prelude::wasm_bindgen;

/// Shows the chat box for `account` (and `group`, if any) in the page, in `lang` (a BCP 47
/// tag; else the browser's language; else English), following the status stream at
/// `origin` (the server's origin, e.g. `https://chat.example.com`).
///
/// Creates `<div id="onair-chatbox">` at the end of the body, or reuses one the page has.
/// Mounting again while a chat box is mounted does nothing.
#[wasm_bindgen]
pub fn mount(account: String, group: Option<String>, lang: Option<String>, origin: String) {
    app::mount(app::Config {
        account,
        group,
        lang,
        origin,
    });
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
/// This is how the browser tests drive the chat box without a server; a page could also use
/// it to show a snapshot it already has.
#[wasm_bindgen]
pub fn apply_snapshot_json(json: &str) -> bool {
    app::apply_snapshot_json(json)
}
