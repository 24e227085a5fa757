//! The onair status server as a library: [`router`] builds the HTTP surface,
//! [`serve`] runs it on a listener until a shutdown future resolves. The
//! `onair` binary is a thin `main` over these, and tests call them on port 0.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod conversations;
pub mod demo;
pub mod error;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod password;
pub mod sse;
pub mod store;

mod http;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use crate::hub::Hub;

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

/// Server settings that handlers need.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Enables `POST /api/v1/accounts` when set (`ONAIR_OPERATOR_TOKEN`).
    pub operator_token: Option<String>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.operator_token.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServerConfig")
            .field("operator_token", &token)
            .finish()
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    http::router(state)
}

/// Serves until `shutdown` resolves, then ends every event stream, lets
/// in-flight requests finish and records the shutdown for the restart rule
/// (forgetting, on start, the one recorded before).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = Arc::clone(&state.hub);
    hub.mark_running().await;
    tokio::task::spawn_blocking(http::prepare_assets);
    let app = router(state);
    let listener = listener.tap_io(configure_connection);
    // The peer's address reaches handlers as ConnectInfo: visitor messages are
    // rate-limited per client address (CONTRACT §3). Like `into_make_service`,
    // this hands each connection a clone of the router, which is a reference
    // count; passing the `Router` itself would make axum call `with_state` per
    // connection, copying every route table (~14 KB per open stream).
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            hub.shut_down().await;
        })
        .await
}

/// Per-connection socket options. Keep-alive probes and a user timeout make
/// the kernel drop a connection whose peer vanished (power loss, network cut)
/// within about a minute, which ends an agent's stream and starts its grace
/// period (CONTRACT §1.1: at most grace + 60 s after the last sign of life).
fn configure_connection(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(&*stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(20))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    if let Err(e) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not enable TCP keep-alive");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket.set_tcp_user_timeout(Some(Duration::from_secs(30))) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
}

/// `onair account create`: the same validation and result as
/// `POST /api/v1/accounts`, printed as JSON.
pub async fn create_account_from_cli(
    hub: &Hub,
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
    let (account, owner) = http::create_account(hub, new)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(serde_json::to_string_pretty(
        &serde_json::json!({ "account": account, "owner": owner }),
    )?)
}
