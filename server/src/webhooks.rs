//! Webhooks (docs/notifications.md, "Webhooks"): an account's integrations
//! are told of new conversations, new messages and status changes by a
//! signed `POST` to a URL of theirs.
//!
//! Each event becomes one outbox item of kind [`KIND`] per webhook that
//! subscribes to it, written with the change that causes it; the outbox
//! worker (`notify`) claims it, calls [`Webhooks::send`] and retries a
//! failure with the outbox's backoff. The item's id is the body's `id`, the
//! same on every retry, so a receiver can drop duplicates.
//!
//! Targets on loopback, private, link-local and other non-public networks
//! are refused when a webhook is created ([`Webhooks::check_url`]) and again
//! on every delivery: the HTTP client resolves names through
//! [`GuardedResolver`], which refuses a name when any of its addresses is
//! not public, so a name that resolved to a public address at creation and
//! to an internal one later (DNS rebinding) reaches nothing. Redirects are
//! not followed. `--allow-private-webhooks` lifts the rule.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::notify::{Attempt, OutboxTiming, Settled};
use crate::store::{OutboxItem, Store, WebhookAttempt, WebhookRecord};

/// The outbox kind of a webhook delivery.
pub const KIND: &str = "webhook";
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Onair-Signature";
/// Attempts kept in each webhook's delivery log.
pub const LOG_KEPT: u32 = 50;
/// Webhooks an account may have.
pub const MAX_PER_ACCOUNT: usize = 20;
/// The longest URL accepted.
const MAX_URL_LEN: usize = 2048;

/// What a webhook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    ConversationCreated,
    MessageCreated,
    StatusChanged,
}

impl Event {
    pub const ALL: [Event; 3] = [
        Event::ConversationCreated,
        Event::MessageCreated,
        Event::StatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::ConversationCreated => "conversation.created",
            Event::MessageCreated => "message.created",
            Event::StatusChanged => "status.changed",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// How webhooks are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `--allow-private-webhooks`: targets on loopback and private networks
    /// are allowed (a receiver on the same host or network).
    pub allow_private: bool,
    /// How long one delivery may take, connection included.
    pub timeout: Duration,
    /// Retries, leases and sweeps of the outbox.
    pub timing: OutboxTiming,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private: false,
            timeout: Duration::from_secs(10),
            timing: OutboxTiming::default(),
        }
    }
}

/// The webhook side of a process: its settings, the guarded HTTP client and
/// the outbox worker's wake-up for webhook items.
pub struct Webhooks {
    config: WebhookConfig,
    client: reqwest::Client,
    wake: Notify,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a URL cannot be a webhook's target, in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUrl(String);

/// What an outbox item of kind [`KIND`] holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub webhook_id: String,
    pub event: String,
    /// The conversation the event is about, if any: erasing the conversation
    /// erases its deliveries too (they hold the visitor's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The exact body to post, signed on each attempt.
    pub body: String,
}

/// What an attempt came to, as [`Webhooks::log`] records it.
#[derive(Debug)]
pub struct Tried {
    pub attempt: Attempt,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    payload: Option<WebhookPayload>,
}

impl Webhooks {
    pub fn new(config: WebhookConfig) -> anyhow::Result<Webhooks> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            // An HTTP(S)_PROXY of the environment would resolve names itself,
            // past the guard.
            .no_proxy()
            .timeout(config.timeout)
            .user_agent(concat!("onair-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Webhooks {
            config,
            client,
            wake: Notify::new(),
        })
    }

    pub fn timing(&self) -> OutboxTiming {
        self.config.timing
    }

    /// Tells the outbox worker that webhook items were written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`wake`](Webhooks::wake) was called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Checks a URL for a new webhook: `http` or `https`, a host, and (unless
    /// private targets are allowed) every address the host resolves to is
    /// public. Returns the URL as it will be stored.
    pub async fn check_url(&self, raw: &str) -> Result<String, InvalidUrl> {
        let url = parse_url(raw)?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) if !self.config.allow_private => {
                let found = tokio::net::lookup_host((name, port)).await.map_err(|_| {
                    InvalidUrl(format!(
                        "the host {name:?} of the webhook URL does not resolve"
                    ))
                })?;
                found.map(|a| a.ip()).collect()
            }
            _ => Vec::new(),
        };
        if !self.config.allow_private {
            if let Some(ip) = addresses.iter().find(|ip| !is_public(**ip)) {
                return Err(InvalidUrl(format!(
                    "the webhook URL reaches {ip}, a loopback, private or otherwise non-public address; \
                     the server's operator can allow such targets with --allow-private-webhooks"
                )));
            }
        }
        Ok(url.to_string())
    }

    /// Posts one claimed item to its webhook, signed with its secret.
    pub async fn send(&self, store: &dyn Store, item: &OutboxItem) -> Tried {
        let unsendable = |why: &str, payload| Tried {
            attempt: Attempt::Unsendable(why.to_owned()),
            status: None,
            payload,
        };
        let Ok(payload) = serde_json::from_str::<WebhookPayload>(&item.payload) else {
            return unsendable("the delivery cannot be read", None);
        };
        let webhook = match store.webhook(&payload.webhook_id).await {
            Ok(Some(webhook)) => webhook,
            Ok(None) => return unsendable("the webhook was deleted", Some(payload)),
            Err(e) => {
                tracing::warn!(error = %e, "could not read a webhook");
                return Tried {
                    attempt: Attempt::Failed("the webhook could not be read".to_owned()),
                    status: None,
                    payload: Some(payload),
                };
            }
        };
        let url = match self.target(&webhook.url) {
            Ok(url) => url,
            Err(InvalidUrl(why)) => {
                // The rule may have changed since the webhook was made (the
                // flag turned off): the next attempt is refused the same way.
                return Tried {
                    attempt: Attempt::Failed(why),
                    status: None,
                    payload: Some(payload),
                };
            }
        };
        let t = Timestamp::now().as_second();
        let signature = signature(&webhook.secret, t, &payload.body);
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(payload.body.clone())
            .send()
            .await;
        let (attempt, status) = match sent {
            Ok(response) if response.status().is_success() => {
                (Attempt::Sent, Some(response.status().as_u16()))
            }
            Ok(response) => {
                let status = response.status();
                let what = if status.is_redirection() {
                    " (redirects are not followed)"
                } else {
                    ""
                };
                (
                    Attempt::Failed(format!("the receiver answered {}{what}", status.as_u16())),
                    Some(status.as_u16()),
                )
            }
            Err(e) => (Attempt::Failed(self.describe(&e)), None),
        };
        Tried {
            attempt,
            status,
            payload: Some(payload),
        }
    }

    /// Appends an attempt to its webhook's delivery log.
    pub async fn log(&self, store: &dyn Store, item: &OutboxItem, tried: &Tried, settled: Settled) {
        let Some(payload) = &tried.payload else {
            return;
        };
        let error = match &tried.attempt {
            Attempt::Sent => None,
            Attempt::Failed(why) | Attempt::Unsendable(why) | Attempt::Dropped(why) => {
                Some(why.clone())
            }
        };
        let attempt = WebhookAttempt {
            delivery_id: item.id.clone(),
            event: payload.event.clone(),
            attempted_at: Timestamp::now(),
            status: tried.status,
            error,
            next_attempt_at: match settled {
                Settled::Retry(at) => Some(at),
                Settled::Sent | Settled::GaveUp => None,
            },
        };
        if let Err(e) = store
            .record_webhook_attempt(&payload.webhook_id, &attempt, LOG_KEPT)
            .await
        {
            tracing::warn!(error = %e, delivery = %item.id, "could not log a webhook attempt");
        }
    }

    /// The URL to post to, checked again: a literal address is not looked
    /// up by the resolver, so it is judged here.
    fn target(&self, raw: &str) -> Result<url::Url, InvalidUrl> {
        let url = parse_url(raw)?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.config.allow_private && !is_public(ip) => Err(InvalidUrl(format!(
                "refused: {ip} is not a public address (see --allow-private-webhooks)"
            ))),
            _ => Ok(url),
        }
    }

    /// What went wrong, in words for the delivery log and the logs.
    fn describe(&self, e: &reqwest::Error) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<RefusedTarget>() {
                return format!("refused: {refused}");
            }
            source = cause.source();
        }
        if e.is_timeout() {
            format!("no answer within {} s", self.config.timeout.as_secs_f32())
        } else if e.is_connect() {
            "could not connect to the receiver".to_owned()
        } else {
            "the request failed".to_owned()
        }
    }
}

fn parse_url(raw: &str) -> Result<url::Url, InvalidUrl> {
    if raw.len() > MAX_URL_LEN {
        return Err(InvalidUrl(format!(
            "the webhook URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url = url::Url::parse(raw.trim())
        .map_err(|e| InvalidUrl(format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidUrl(format!(
            "the webhook URL must start with http:// or https://, not {}:",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidUrl("the webhook URL has no host".to_owned()));
    }
    Ok(url)
}

/// The deliveries one event causes: an outbox item for each of `webhooks`
/// that subscribes to `event`, each with its own id, which is also the
/// body's `id`.
pub fn deliveries(
    webhooks: &[WebhookRecord],
    event: Event,
    account_slug: &str,
    conversation_id: Option<&str>,
    data: &impl Serialize,
    now: Timestamp,
) -> Vec<OutboxItem> {
    let Ok(data) = serde_json::to_value(data) else {
        return Vec::new();
    };
    webhooks
        .iter()
        .filter(|webhook| webhook.events.iter().any(|e| e == event.as_str()))
        .filter_map(|webhook| {
            let id = uuid::Uuid::new_v4().to_string();
            let body = serde_json::json!({
                "id": id,
                "event": event.as_str(),
                "account": account_slug,
                "created_at": now,
                "data": data,
            })
            .to_string();
            let payload = WebhookPayload {
                webhook_id: webhook.id.clone(),
                event: event.as_str().to_owned(),
                conversation_id: conversation_id.map(str::to_owned),
                body,
            };
            Some(OutboxItem {
                id,
                account_id: webhook.account_id.clone(),
                kind: KIND.to_owned(),
                payload: serde_json::to_string(&payload).ok()?,
                created_at: now,
                due_at: now,
                attempts: 0,
            })
        })
        .collect()
}

/// A new webhook's secret: 256 random bits, hex, with a prefix that says
/// what it is.
pub fn new_secret() -> String {
    format!("whsec_{}", hex(&rand::random::<[u8; 32]>()))
}

/// The `Onair-Signature` value for a body sent at `t` (Unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let signed = format!("{t}.{body}");
    let mac = hmac_sha256(secret.as_bytes(), signed.as_bytes());
    format!("t={t},v1={}", hex(&mac))
}

/// HMAC (RFC 2104) over SHA-256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an address is on the public internet: not loopback, private
/// (RFC 1918), shared (CGNAT), link-local, unique-local, unspecified,
/// multicast, broadcast, documentation, benchmarking or reserved, also when
/// written as an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                                // "this network", unspecified
        || a == 10                                      // private
        || (a == 100 && (64..128).contains(&b))         // shared (CGNAT)
        || a == 127                                     // loopback
        || (a == 169 && b == 254)                       // link-local
        || (a == 172 && (16..32).contains(&b))          // private
        || (a == 192 && b == 0 && c == 0)               // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)               // documentation
        || (a == 192 && b == 88 && c == 99)             // 6to4 relay anycast
        || (a == 192 && b == 168)                       // private
        || (a == 198 && (18..20).contains(&b))          // benchmarking
        || (a == 198 && b == 51 && c == 100)            // documentation
        || (a == 203 && b == 0 && c == 113)             // documentation
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): the
    // IPv4 address is what a connection reaches. (:: and ::1 fall in here
    // too and are refused as 0.0.0.0/8.)
    if segments[..5] == [0; 5] && (segments[5] == 0xffff || segments[5] == 0) {
        return is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    // 6to4 (2002::/16) reaches the IPv4 address in bits 16–48.
    if segments[0] == 0x2002 {
        return is_public_v4(embedded_v4(segments[1], segments[2]));
    }
    // Only global unicast (2000::/3) is public; within it, IETF protocol
    // assignments (2001::/23, Teredo included), documentation (2001:db8::/32,
    // 3fff::/20) are not. Everything else (unique-local fc00::/7, link-local
    // fe80::/10, multicast ff00::/8, discard 100::/64, local NAT64 …) is out.
    let global_unicast = segments[0] & 0xe000 == 0x2000;
    let protocol_assignments = segments[0] == 0x2001 && segments[1] < 0x0200;
    let documentation =
        (segments[0] == 0x2001 && segments[1] == 0x0db8) || segments[0] & 0xfff0 == 0x3ff0;
    global_unicast && !protocol_assignments && !documentation
}

/// The HTTP client's name resolution: the system's, refusing a name when
/// any of its addresses is not public (unless private targets are allowed).
/// Every connection goes through it, so what was checked is what is reached.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

/// A name refused by [`GuardedResolver`].
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which is not a public address (see --allow-private-webhooks)")]
pub struct RefusedTarget {
    host: String,
    ip: IpAddr,
}

impl GuardedResolver {
    /// The addresses of `host`, or why they are refused.
    pub async fn lookup(
        self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        if !self.allow_private {
            if let Some(refused) = addresses.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(RefusedTarget {
                    host: host.to_owned(),
                    ip: refused.ip(),
                }));
            }
        }
        Ok(addresses)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = *self;
        Box::pin(async move {
            let addresses = resolver.lookup(name.as_str()).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_signature_covers_the_time_and_the_body() {
        let signed = signature("whsec_x", 1_700_000_000, "{}");
        // As `openssl dgst -sha256 -hmac whsec_x` computes it over "1700000000.{}"
        // (the check in docs/notifications.md).
        assert_eq!(
            signed,
            "t=1700000000,v1=be8cb8325f2202445260a855532f967e30ad2a9394ce28da66ee02880ddcb661"
        );
        assert_ne!(signed, signature("whsec_x", 1_700_000_001, "{}"));
        assert_ne!(signed, signature("whsec_y", 1_700_000_000, "{}"));
    }

    #[test]
    fn only_public_addresses_pass() {
        for (ip, public) in [
            ("93.184.215.14", true),
            ("8.8.8.8", true),
            ("2606:4700::1111", true),
            ("0.0.0.0", false),
            ("127.0.0.1", false),
            ("127.255.1.2", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.254", false),
            ("169.254.169.254", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("198.18.0.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::808:808", true),
            ("2002:7f00:1::", false),
            ("2002:808:808::", true),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("2001:0:4136:e378::1", false),
            ("3fff::1", false),
            ("100::1", false),
        ] {
            let parsed: IpAddr = ip.parse().expect("an address");
            assert_eq!(is_public(parsed), public, "{ip}");
        }
    }

    #[test]
    fn an_event_becomes_one_delivery_per_subscribed_webhook_with_its_id_in_the_body() {
        let hook = |id: &str, events: &[&str]| WebhookRecord {
            id: id.to_owned(),
            account_id: "acme-id".to_owned(),
            url: "https://hooks.example/x".to_owned(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            secret: "whsec_x".to_owned(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        let hooks = [
            hook("w1", &["message.created"]),
            hook("w2", &["status.changed"]),
            hook("w3", &["status.changed", "message.created"]),
        ];
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().expect("instant");
        let items = deliveries(
            &hooks,
            Event::MessageCreated,
            "acme",
            Some("c1"),
            &serde_json::json!({"text": "hi"}),
            at,
        );
        let payloads: Vec<WebhookPayload> = items
            .iter()
            .map(|i| serde_json::from_str(&i.payload).expect("payload"))
            .collect();
        let to: Vec<&str> = payloads.iter().map(|p| p.webhook_id.as_str()).collect();
        assert_eq!(to, ["w1", "w3"]);
        for (item, payload) in items.iter().zip(&payloads) {
            assert_eq!(item.kind, KIND);
            assert_eq!(item.account_id, "acme-id");
            assert_eq!(payload.conversation_id.as_deref(), Some("c1"));
            let body: serde_json::Value = serde_json::from_str(&payload.body).expect("body");
            assert_eq!(
                body,
                serde_json::json!({"id": item.id, "event": "message.created", "account": "acme",
                                   "created_at": "2026-12-01T10:00:00Z", "data": {"text": "hi"}})
            );
        }
        assert_ne!(items[0].id, items[1].id);
    }

    #[test]
    fn events_round_trip_by_name() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        assert_eq!(Event::parse("message.deleted"), None);
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_loopback_addresses() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let err = guarded.lookup("localhost").await.expect_err("loopback");
        assert!(err.to_string().contains("not a public address"), "{err}");
        let allowed = GuardedResolver {
            allow_private: true,
        };
        let found = allowed.lookup("localhost").await.expect("allowed");
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
    }

    #[tokio::test]
    async fn urls_are_checked_at_creation() {
        let webhooks = Webhooks::new(WebhookConfig::default()).expect("client");
        for (url, why) in [
            ("ftp://example.com/x", "http:// or https://"),
            ("not a url", "not a URL"),
            ("http://127.0.0.1:9/hook", "non-public"),
            ("http://[::1]/hook", "non-public"),
            ("http://localhost:8080/hook", "non-public"),
            ("http://0x7f.1/hook", "non-public"),
            ("http://169.254.169.254/latest", "non-public"),
        ] {
            let err = webhooks.check_url(url).await.expect_err(url);
            assert!(err.to_string().contains(why), "{url}: {err}");
        }
        assert_eq!(
            webhooks.check_url("https://93.184.215.14/hook").await,
            Ok("https://93.184.215.14/hook".to_owned())
        );
        let open = Webhooks::new(WebhookConfig {
            allow_private: true,
            ..WebhookConfig::default()
        })
        .expect("client");
        assert!(open.check_url("http://127.0.0.1:9/hook").await.is_ok());
        assert!(open.check_url("http://localhost:9/hook").await.is_ok());
    }
}
