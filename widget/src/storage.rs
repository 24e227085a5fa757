//! What the chat box keeps across page loads (docs/conversations.md): the visitor token, the current
//! conversation and how far the visitor has read it, and the name and email the visitor gave, in
//! `localStorage`. Where that is
//! unavailable (privacy modes throw on access, a full quota throws on write) the values live
//! in memory for the page's life instead, so chatting still works until the visitor leaves.

use alloc::string::String;

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::Window;

/// The window's property that holds the fallback (see [`Storage::memory`]).
const MEMORY_KEY: &str = "__onairMemory";

/// The keys of one chat box: the token per account, the conversation per account and group.
#[derive(Debug)]
pub(crate) struct Storage {
    local: Option<web_sys::Storage>,
    /// The fallback: the keys and values `localStorage` would not take, as an object's
    /// properties. For the page's life: the window holds it (a chat box mounted after an
    /// unmounted one finds its values).
    memory: Object,
    /// `onair:<account>:visitor`
    pub(crate) token_key: String,
    /// `onair:<account>:conversation`, or `onair:<account>:conversation:<group>`
    pub(crate) conversation_key: String,
    /// `onair:<account>:previous[:<group>]`: the closed conversation the current one
    /// followed, shown above it after a page load.
    pub(crate) previous_key: String,
    /// `onair:<account>:read`, or `onair:<account>:read:<group>`: the `seq` read up to.
    pub(crate) read_key: String,
    /// `onair:<account>:name` and `onair:<account>:email`: what the visitor gave, per account.
    pub(crate) name_key: String,
    pub(crate) email_key: String,
}

impl Storage {
    pub(crate) fn new(window: &Window, account: &str, group: Option<&str>) -> Storage {
        let key = |what: &str, group: Option<&str>| {
            let mut key = String::from("onair:");
            key.push_str(account);
            key.push(':');
            key.push_str(what);
            if let Some(group) = group {
                key.push(':');
                key.push_str(group);
            }
            key
        };
        Storage {
            // `Err` when the page may not use it (a sandboxed frame, blocked cookies).
            local: window.local_storage().ok().flatten(),
            memory: memory(window),
            token_key: key("visitor", None),
            conversation_key: key("conversation", group),
            previous_key: key("previous", group),
            read_key: key("read", group),
            name_key: key("name", None),
            email_key: key("email", None),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let remembered = Reflect::get(&self.memory, &JsValue::from_str(key)).ok();
        remembered
            .and_then(|value| value.as_string())
            .or_else(|| self.local.as_ref()?.get_item(key).ok().flatten())
    }

    pub(crate) fn set(&self, key: &str, value: &str) {
        let stored = self
            .local
            .as_ref()
            .is_some_and(|local| local.set_item(key, value).is_ok());
        let key = JsValue::from_str(key);
        if stored {
            let _ = Reflect::delete_property(&self.memory, &key);
        } else {
            let _ = Reflect::set(&self.memory, &key, &JsValue::from_str(value));
        }
    }

    /// Sets `key` to `value`, or removes it for `None`.
    pub(crate) fn keep(&self, key: &str, value: Option<&str>) {
        match value {
            Some(value) => self.set(key, value),
            None => self.remove(key),
        }
    }

    pub(crate) fn remove(&self, key: &str) {
        if let Some(local) = &self.local {
            let _ = local.remove_item(key);
        }
        let _ = Reflect::delete_property(&self.memory, &JsValue::from_str(key));
    }

    /// The visitor token, created on first use: a visitor who never writes gets nothing
    /// stored. 144 random bits from `crypto.getRandomValues` as 24 base64url characters
    /// (the server takes 22 to 256 of `A-Z a-z 0-9 - _`).
    pub(crate) fn visitor_token(&self, window: &Window) -> String {
        if let Some(token) = self.get(&self.token_key).filter(|token| is_token(token)) {
            return token;
        }
        let mut bytes = [0u8; 18];
        window
            .crypto()
            .and_then(|crypto| crypto.get_random_values_with_u8_array(&mut bytes))
            .expect_throw("onair: crypto.getRandomValues");
        let token = base64url(&bytes);
        self.set(&self.token_key, &token);
        token
    }
}

/// The window's fallback object, made on first use.
fn memory(window: &Window) -> Object {
    let key = JsValue::from_str(MEMORY_KEY);
    if let Ok(memory) = Reflect::get(window, &key)
        && memory.is_object()
    {
        return memory.unchecked_into();
    }
    let memory = Object::new();
    let _ = Reflect::set(window, &key, &memory);
    memory
}

/// The shape the server accepts.
fn is_token(token: &str) -> bool {
    (22..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Base64url without padding, for whole groups of three bytes.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len() / 3 * 4);
    for group in bytes.chunks_exact(3) {
        let &[a, b, c] = group else { continue };
        let bits = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        for shift in [18, 12, 6, 0] {
            text.push(char::from(ALPHABET[(bits >> shift) as usize & 63]));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_become_a_token_the_server_takes() {
        let token = base64url(&[0xff; 18]);
        assert_eq!(token, "_".repeat(24));
        assert!(is_token(&token));
        assert_eq!(base64url(&[0xfb, 0xef, 0xbe]), "----");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert_eq!(base64url(&[0; 18]), "A".repeat(24));
    }

    #[test]
    fn only_tokens_of_the_right_shape_are_reused() {
        assert!(is_token("abcdefghijklmnopqrstuv"));
        assert!(!is_token("abcdefghijklmnopqrstu"));
        assert!(!is_token("abcdefghijklmnopqrstu="));
        assert!(!is_token(""));
        assert!(!is_token(&"a".repeat(257)));
    }
}
