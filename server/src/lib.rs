//! The onair status server as a library: [`router`] builds the HTTP surface,
//! [`serve`] runs it on a listener until a shutdown future resolves. The
//! `onair` binary is a thin `main` over these, and tests call them on port 0.

pub mod auth;
pub mod avatars;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod connections;
pub mod conversations;
pub mod demo;
pub mod error;
pub mod feeds;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod outbox;
pub mod password;
pub mod proxies;
pub mod push;
pub mod sse;
pub mod store;
pub mod webhooks;

mod http;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use tokio::net::TcpListener;

pub use crate::hub::{Hub, account};

/// Whether this binary embeds the widget's wasm build (see `server/build.rs`).
pub fn widget_built() -> bool {
    http::widget_built()
}

/// Everything a request handler can reach: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<ServerConfig>,
}

/// Server settings.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Enables `POST /api/v1/accounts` when set (`ONAIR_OPERATOR_TOKEN`).
    pub operator_token: Option<String>,
    /// Connection cap and timeouts (docs/hardening.md).
    pub connections: connections::ConnectionLimits,
    /// Proxies whose `X-Forwarded-For` names the client (docs/hardening.md).
    pub trusted_proxies: proxies::TrustedProxies,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.operator_token.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServerConfig")
            .field("operator_token", &token)
            .field("connections", &self.connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

/// The whole HTTP surface.
/// The API reference, `GET /api/v1/openapi.json`, as pretty JSON (what
/// `onair openapi` prints and `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    http::document()
        .to_pretty_json()
        .expect("the API document serialises")
}

pub fn router(state: AppState) -> Router {
    http::router(state)
}

/// Serves until `shutdown` resolves, then ends every event stream, lets
/// in-flight requests finish and records the shutdown for the restart rule
/// (forgetting, on start, the one recorded before). Connections are held to
/// the limits of `state.config.connections` (see [`connections`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = Arc::clone(&state.hub);
    let limits = state.config.connections;
    hub.metrics
        .max_streams
        .store(limits.max_streams() as u64, Ordering::Relaxed);
    hub.mark_running().await;
    tokio::task::spawn_blocking(http::prepare_assets);
    let app = router(state);
    connections::serve(listener, app, limits, shutdown, hub.shut_down()).await
}

/// `onair account create`: the same validation and result as
/// `POST /api/v1/accounts`, printed as JSON. It writes to the store only: a
/// server running on the same database (or every node of a cluster) picks
/// the account up on its first use, and nothing of theirs is touched.
pub async fn create_account_from_cli(
    store: &dyn store::Store,
    args: &cli::CreateAccountArgs,
) -> anyhow::Result<String> {
    let new = http::NewAccount {
        slug: args.slug.clone(),
        name: args.name.clone(),
        timezone: args.timezone.clone(),
        owner: http::NewOwner {
            name: args.owner_name.clone(),
            email: args.owner_email.clone(),
            password: args.owner_password.clone(),
        },
    };
    let now = jiff::Timestamp::now();
    let (account, owner) = http::new_account_records(new, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_account(&account, &owner)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => {
                anyhow::anyhow!("the slug {:?} is already taken", account.slug)
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    let owner = onair_shared::wire::Agent {
        id: owner.id,
        name: owner.name,
        email: owner.email,
        role: owner.role,
        groups: owner.groups,
        status: owner.status,
        available: false,
        email_notifications: owner.email_notifications,
        disabled: owner.disabled,
        avatar_url: None,
    };
    Ok(serde_json::to_string_pretty(
        // (The built-in offline message shown is the one without email replies.)
        &serde_json::json!({ "account": http::account_wire(&account, false), "owner": owner }),
    )?)
}
