//! API integration tests: the real router on a real socket (port 0), a real
//! SQLite file per test, real HTTP and SSE clients.

mod helpers;
#[path = "../common/receiver.rs"]
mod receiver;
#[path = "../common/smtp.rs"]
mod smtp;

mod access;
mod admin;
mod avatars;
mod conversations;
mod durability;
mod files;
mod logins;
mod notifications;
mod push;
mod smoke;
mod status;
mod webhooks;
