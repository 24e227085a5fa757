//! The onair presence model.
//!
//! This crate is the heart of onair and knows nothing of the world: no IO, no
//! async runtime, no HTTP. Everything here is a function of state and `now`, so
//! the server, the widget (compiled to `wasm32-unknown-unknown`) and the tests
//! all agree on what a chat box shows.
//!
//! - [`office_hours`]: weekly plans, overnight intervals and dated exceptions in
//!   an IANA timezone; `is_open(at)` and `next_change(after)`.
//! - [`model`]: accounts, agents, groups and session presence with grace, and
//!   [`model::derive`], the rule of docs/status.md
//! - [`conversation`]: the automatic replies to visitors (docs/conversations.md): when
//!   one is due, and the default texts in every chat box language.
//! - [`sse`]: reading an event stream, for clients other than a browser (the
//!   tests and benchmarks).
//! - [`wire`]: the JSON shapes clients see (status snapshot, agent, site event,
//!   conversation, message).

pub mod conversation;
pub mod model;
pub mod office_hours;
pub mod sse;
pub mod validate;
pub mod wire;

pub use model::{AccountState, Derived, Scope, derive};
pub use wire::{Reason, Status};
