//! Command-line interface: `onair serve` and `onair account create`.
//! Every flag can also be set by an `ONAIR_*` environment variable.

use std::fmt;
use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "onair",
    version,
    about = "Live-chat status server: online, busy or offline, the instant it changes."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Print the API reference (OpenAPI 3.1), as `GET /api/v1/openapi.json` serves it.
    Openapi,
}

#[derive(Args)]
pub struct DatabaseArg {
    /// Where data lives: `sqlite://PATH` (created if missing) or
    /// `postgres://USER@HOST:PORT/DB` (an existing database).
    #[arg(
        long = "database",
        env = "ONAIR_DATABASE_URL",
        default_value = "sqlite://onair.db"
    )]
    pub url: String,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ONAIR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Cluster mode: the Redis that nodes sharing one PostgreSQL database
    /// use to reach each other, `redis://HOST:PORT` (needs a `postgres://`
    /// database).
    #[arg(long, env = "ONAIR_REDIS_URL")]
    pub redis: Option<String>,
    /// Enables `POST /api/v1/accounts` for whoever presents this bearer token.
    #[arg(long, env = "ONAIR_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,
    /// At most this many open connections (default: a tenth and 192 below
    /// the process's open-file limit). At the cap a new connection closes the
    /// longest-idle one, or is answered 503 when none is idle.
    #[arg(long, env = "ONAIR_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(16..))]
    pub max_connections: Option<u64>,
    /// Reverse proxies in front of the server, `CIDR,…` (e.g.
    /// `127.0.0.1,10.0.0.0/8`): only for requests from these is the client's
    /// address taken from `X-Forwarded-For` (rate limits, logs).
    #[arg(long, env = "ONAIR_TRUSTED_PROXIES", value_parser = crate::proxies::TrustedProxies::parse)]
    pub trusted_proxies: Option<crate::proxies::TrustedProxies>,
    /// Create the `demo` account (groups `sales` and `support`, three agents)
    /// if it is missing, and print its logins.
    #[arg(long, env = "ONAIR_DEMO")]
    pub demo: bool,
    /// Email notifications: the relay to send through, `smtp://HOST:PORT`
    /// (plain, a relay on localhost), `smtp://USER:PASS@HOST:PORT?tls=starttls`
    /// or `smtps://USER:PASS@HOST:PORT`. Without it no email is sent.
    #[arg(long, env = "ONAIR_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of notification emails, e.g. `onair <noreply@example.com>`
    /// (required with --smtp-url).
    #[arg(long, env = "ONAIR_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where people reach this server, for links in emails (default:
    /// `http://` and the listen address).
    #[arg(long, env = "ONAIR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Webhooks may target loopback, private and other non-public addresses
    /// (a receiver on this host or network). Off by default: an admin could
    /// otherwise make the server reach its own network.
    /// The variable takes `1`, `true`, `yes` or `on` (and their opposites).
    #[arg(
        long,
        env = "ONAIR_ALLOW_PRIVATE_WEBHOOKS",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private_webhooks: bool,
    /// Testing: the first retry of a failed email or webhook after this
    /// many ms (default 10 s, doubling up to an hour).
    #[arg(long, env = "ONAIR_OUTBOX_RETRY_MS", hide = true)]
    pub outbox_retry_ms: Option<u64>,
    /// Testing: how long a claimed item is held before it falls due again
    /// (default 5 min).
    #[arg(long, env = "ONAIR_OUTBOX_LEASE_MS", hide = true)]
    pub outbox_lease_ms: Option<u64>,
    /// Testing: how long agents' replies to an absent visitor gather before
    /// their digest is emailed (default 60 s).
    #[arg(long, env = "ONAIR_REPLY_DIGEST_MS", hide = true)]
    pub reply_digest_ms: Option<u64>,
    /// Web Push: how push services can reach the operator, `mailto:…` or
    /// `https://…`, sent with every push (Apple's service requires one;
    /// default: --public-url when it is https).
    #[arg(long, env = "ONAIR_PUSH_CONTACT")]
    pub push_contact: Option<String>,
    /// Testing: accept push subscriptions on loopback addresses, over plain
    /// http too (a push service the tests run).
    #[arg(long, env = "ONAIR_PUSH_ALLOW_LOOPBACK", hide = true)]
    pub push_allow_loopback: bool,
}

impl fmt::Debug for DatabaseArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArg")
            .field("url", &crate::store::redacted_url(&self.url))
            .finish()
    }
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "redis",
                &self.redis.as_deref().map(crate::store::redacted_url),
            )
            .field("max_connections", &self.max_connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("demo", &self.demo)
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(crate::store::redacted_url),
            )
            .field("mail_from", &self.mail_from)
            .field("public_url", &self.public_url)
            .field("allow_private_webhooks", &self.allow_private_webhooks)
            .field("outbox_retry_ms", &self.outbox_retry_ms)
            .field("outbox_lease_ms", &self.outbox_lease_ms)
            .field("reply_digest_ms", &self.reply_digest_ms)
            .field("push_contact", &self.push_contact)
            .field("push_allow_loopback", &self.push_allow_loopback)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and its owner (an admin agent).
    Create(CreateAccountArgs),
}

#[derive(Args)]
pub struct CreateAccountArgs {
    /// The account's slug in URLs and the embed tag: a-z, 0-9 and -.
    #[arg(long)]
    pub slug: String,
    /// The account's display name.
    #[arg(long)]
    pub name: String,
    /// The account's IANA timezone, e.g. Europe/Prague.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    #[arg(long)]
    pub owner_name: String,
    #[arg(long)]
    pub owner_email: String,
    /// The owner's password (at least 8 characters). Prefer the environment
    /// variable: command lines are visible to other users of the machine.
    #[arg(long, env = "ONAIR_OWNER_PASSWORD", hide_env_values = true)]
    pub owner_password: String,
    #[command(flatten)]
    pub database: DatabaseArg,
}

impl fmt::Debug for CreateAccountArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateAccountArgs")
            .field("slug", &self.slug)
            .field("owner_email", &self.owner_email)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn the_smtp_password_is_left_out_of_debug_output() {
        let cli = Cli::try_parse_from([
            "onair",
            "serve",
            "--smtp-url",
            "smtps://mailer:s3cret-pass@mail.example:465",
            "--mail-from",
            "onair <noreply@example.com>",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve");
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("mail.example"), "{shown}");
    }
}
