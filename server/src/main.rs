//! The `onair` binary: parses the command line and hands over to the library.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use onair_server::cli::{AccountCommand, Cli, Command, CreateAccountArgs, ServeArgs};
use onair_server::connections::ConnectionLimits;
use onair_server::hub::HubOptions;
use onair_server::notify::{MailConfig, Outbox, OutboxTiming};
use onair_server::push::PushConfig;
use onair_server::webhooks::WebhookConfig;
use onair_server::{AppState, Hub, ServerConfig, cluster, demo, node, store};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("ONAIR_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let outcome = match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Account(AccountCommand::Create(args)) => create_account(args).await,
        Command::Openapi => {
            println!("{}", onair_server::openapi_json());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A sentence for the operator, with its causes; no backtrace.
        Err(e) => {
            eprintln!("onair: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Opens the database a URL names and loads every account from it; with a
/// Redis URL, as a node of a cluster.
async fn open_hub(
    url: &str,
    redis: Option<&str>,
    outbox: Option<Arc<Outbox>>,
    webhooks: WebhookConfig,
    push: PushConfig,
) -> anyhow::Result<Arc<Hub>> {
    let opening = || format!("opening {}", store::redacted_url(url));
    let Some(redis) = redis else {
        let store = store::open(url).await.with_context(opening)?;
        let options = HubOptions {
            outbox,
            webhooks,
            push,
            ..HubOptions::default()
        };
        return node::start(store, options, None)
            .await
            .context("loading accounts");
    };
    let (store, cluster_store) = store::open_cluster(url).await.with_context(opening)?;
    let node_id = uuid::Uuid::new_v4().to_string();
    let (bus, events) = cluster::start_bus(redis, &node_id)
        .await
        .with_context(|| format!("connecting to {}", store::redacted_url(redis)))?;
    let limits = cluster::limits::ClusterLimits::connect(redis)
        .await
        .with_context(|| format!("connecting to {}", store::redacted_url(redis)))?;
    let link = cluster::ClusterLink::new(node_id.clone(), cluster_store, bus, Some(limits));
    let options = HubOptions {
        cluster: Some(link),
        outbox,
        webhooks,
        push,
        ..HubOptions::default()
    };
    let hub = node::start(store, options, Some(events))
        .await
        .context("loading accounts")?;
    tracing::info!(node = %node_id, "cluster mode: a node of the cluster on this database");
    Ok(hub)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.redis.is_some() && !store::is_shared_database(&args.database.url) {
        anyhow::bail!(
            "--redis (cluster mode) needs a database every node shares: use --database postgres://USER@HOST:PORT/DB, not {}",
            store::redacted_url(&args.database.url)
        );
    }
    let timing = outbox_timing(&args);
    let outbox = outbox(&args, timing)?;
    let webhooks = WebhookConfig {
        allow_private: args.allow_private_webhooks,
        timing,
        ..WebhookConfig::default()
    };
    if webhooks.allow_private {
        tracing::warn!(
            "--allow-private-webhooks: webhooks may reach loopback and private networks"
        );
    }
    let push = push_config(&args, timing)?;
    let hub = open_hub(
        &args.database.url,
        args.redis.as_deref(),
        outbox,
        webhooks,
        push,
    )
    .await?;
    let state = AppState {
        hub,
        config: Arc::new(ServerConfig {
            operator_token: args.operator_token,
            connections: args
                .max_connections
                .map_or_else(ConnectionLimits::default, |max| {
                    ConnectionLimits::with_max(usize::try_from(max).unwrap_or(usize::MAX))
                }),
            trusted_proxies: args.trusted_proxies.unwrap_or_default(),
        }),
    };
    if args.demo && demo::seed(&state).await? {
        tracing::info!("created the demo account");
    }
    // Before `listening on`: whoever reads that line may signal at once.
    let shutdown = shutdown_signal();
    let listener = onair_server::connections::bind(args.listen)
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        database = %store::redacted_url(&args.database.url),
        max_connections = state.config.connections.max_connections,
        "listening on http://{addr}"
    );
    if !onair_server::widget_built() {
        tracing::warn!(
            "this binary has no widget build: run `cargo xtask widget` and rebuild to serve it"
        );
    }
    if args.demo {
        print_demo_help(addr);
    }
    onair_server::serve(listener, state, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The email outbox `--smtp-url` asks for, checked before anything starts.
fn outbox(args: &ServeArgs, timing: OutboxTiming) -> anyhow::Result<Option<Arc<Outbox>>> {
    let Some(smtp_url) = &args.smtp_url else {
        if args.mail_from.is_some() {
            tracing::warn!("--mail-from is set without --smtp-url: no email will be sent");
        }
        return Ok(None);
    };
    let Some(from) = &args.mail_from else {
        anyhow::bail!(
            "--smtp-url needs --mail-from (ONAIR_MAIL_FROM), the sender of notification emails, e.g. --mail-from 'onair <noreply@example.com>'"
        );
    };
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let config = MailConfig::new(smtp_url, from, &public_url, timing)?;
    tracing::info!(relay = %store::redacted_url(smtp_url), "email notifications on");
    Ok(Some(Arc::new(Outbox::new(config)?)))
}

/// The outbox's retries and leases, for email, webhooks and pushes alike.
fn outbox_timing(args: &ServeArgs) -> OutboxTiming {
    let mut timing = OutboxTiming::default();
    if let Some(ms) = args.outbox_retry_ms {
        timing.first_retry = std::time::Duration::from_millis(ms);
    }
    if let Some(ms) = args.outbox_lease_ms {
        timing.lease = std::time::Duration::from_millis(ms);
    }
    if let Some(ms) = args.reply_digest_ms {
        timing.reply_digest_window = std::time::Duration::from_millis(ms);
    }
    timing
}

/// Web Push settings: the VAPID contact, checked before anything starts.
fn push_config(args: &ServeArgs, timing: OutboxTiming) -> anyhow::Result<PushConfig> {
    let contact = match &args.push_contact {
        Some(contact) if contact.starts_with("mailto:") || contact.starts_with("https://") => {
            Some(contact.clone())
        }
        Some(contact) => {
            anyhow::bail!("--push-contact {contact:?}: use mailto:ADDRESS or an https:// URL")
        }
        None => args
            .public_url
            .clone()
            .filter(|url| url.starts_with("https://")),
    };
    Ok(PushConfig {
        contact,
        allow_loopback: args.push_allow_loopback,
        timing,
    })
}

fn print_demo_help(addr: std::net::SocketAddr) {
    let mut out = format!(
        "\n  onair demo is running.\n\n    demo page (a customer website with the chat box):  http://{addr}/\n    agent dashboard:                                   http://{addr}/dashboard\n\n  Log in to the dashboard (account \"{}\") as any of:\n",
        demo::ACCOUNT
    );
    for (name, email, groups) in demo::AGENTS {
        let groups = if groups.is_empty() {
            "no group: counts for every group".to_owned()
        } else {
            groups.join(", ")
        };
        out.push_str(&format!(
            "    {email:<20} password {:<12} {name} ({groups})\n",
            demo::PASSWORD
        ));
    }
    out.push_str("\n  Ctrl-C stops the server.\n");
    eprintln!("{out}");
}

async fn create_account(args: CreateAccountArgs) -> anyhow::Result<()> {
    let store = store::open(&args.database.url)
        .await
        .with_context(|| format!("opening {}", store::redacted_url(&args.database.url)))?;
    let created = onair_server::create_account_from_cli(store.as_ref(), &args).await?;
    println!("{created}");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM that arrives right
/// after `listening on` is logged must shut the server down cleanly, not
/// kill it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        (
            listen(SignalKind::interrupt(), "Ctrl-C"),
            listen(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }
}
