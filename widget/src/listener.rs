//! Browser callbacks owned by RAII guards, after gloo's `EventListener` and `Timeout`:
//! a callback lives exactly as long as its guard, and dropping the guard unregisters it,
//! so nothing is leaked with `Closure::forget` however often the widget reconnects.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, UnwrapThrowExt};
use web_sys::{Event, EventTarget, Window};

/// An event listener that removes itself when dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    /// Calls `callback` for each `kind` event on `target` until dropped. Every listener's is of
    /// the one closure type (`app::callback` makes them), which shares one instance of
    /// wasm-bindgen's closure machinery instead of one per closure type (bytes, again).
    pub(crate) fn new(
        target: &EventTarget,
        kind: &'static str,
        callback: Closure<dyn FnMut(Event)>,
    ) -> Listener {
        target
            .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
            .expect_throw("onair: addEventListener");
        Listener {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Removing a listener that is not registered is not an error; nothing to handle.
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// One callback for `setTimeout`, created once and armed any number of times; dropping it
/// cancels a pending call. The callback is never dropped while it runs, because it is only
/// dropped with its owner, which a timer callback never drops.
#[derive(Debug)]
pub(crate) struct Timer {
    window: Window,
    callback: Closure<dyn FnMut(Event)>,
    pending: Option<i32>,
}

impl Timer {
    /// A callback of the same type as [`Listener::new`]'s (`setTimeout` passes no event, so
    /// it gets `undefined`, which it ignores): every listener and timer then shares one instance
    /// of the closure machinery.
    pub(crate) fn new(window: &Window, callback: Closure<dyn FnMut(Event)>) -> Timer {
        Timer {
            window: window.clone(),
            callback,
            pending: None,
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Calls the callback after `delay_ms`, replacing a call still pending.
    pub(crate) fn arm(&mut self, delay_ms: i32) {
        self.cancel();
        self.pending = self
            .window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                self.callback.as_ref().unchecked_ref(),
                delay_ms,
            )
            .ok();
    }

    /// Marks the pending call as done; the callback calls this first.
    pub(crate) fn fired(&mut self) {
        self.pending = None;
    }

    fn cancel(&mut self) {
        if let Some(handle) = self.pending.take() {
            self.window.clear_timeout_with_handle(handle);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}
