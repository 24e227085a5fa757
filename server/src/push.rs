//! Web Push to the agent's app (docs/notifications.md, "Web Push").
//!
//! Three standards, each small enough to implement here on RustCrypto's
//! primitives rather than pull in a framework:
//!
//! - RFC 8292 (VAPID): the server signs a short-lived ES256 JWT for each push
//!   service origin with one P-256 key pair. The pair is made on first start
//!   and kept in the store (`meta`), created if absent in one statement so
//!   that every node of a cluster ends up with the same key: a subscription
//!   is bound to the public key the browser was given.
//! - RFC 8291 (message encryption for Web Push) over RFC 8188 (`aes128gcm`):
//!   an ephemeral ECDH key and a random salt per message, keys derived with
//!   HKDF-SHA-256, one AES-128-GCM record.
//! - RFC 8030 (delivery): `POST` the encrypted body to the subscription's
//!   endpoint with `TTL` and `Urgency`; 201 is done, 404/410 means the
//!   subscription is gone, 429 and 5xx are worth retrying.
//!
//! Deliveries go through the notification outbox like emails (kind `push`),
//! so a push is written in the same transaction as the visitor's message and
//! is retried with the outbox's backoff.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::notify::{Attempt, OutboxTiming};
use crate::store::{ConversationRecord, MessageRecord, OutboxItem, PushSubscriptionRecord, Store};

/// The outbox kind of a push message.
pub const PUSH: &str = "push";
/// The `meta` key of the server's VAPID private key (base64url of the scalar).
pub const VAPID_KEY_META: &str = "vapid_private_key";
/// How long a push service keeps a message for a device that is offline.
pub const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a VAPID token is valid (RFC 8292 allows at most 24 h).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest endpoint accepted.
const MAX_ENDPOINT: usize = 2048;
/// How much of a visitor's text a notification shows.
const BODY_CHARS: usize = 140;
/// The record size announced in the `aes128gcm` header. One record holds the
/// whole message, which is far below it.
const RECORD_SIZE: u32 = 4096;
/// An uncompressed P-256 point: `0x04 || x || y`.
pub const P256DH_LEN: usize = 65;
/// A subscription's authentication secret.
pub const AUTH_LEN: usize = 16;
/// The most a push service must accept (RFC 8030 §7.2): 4096 bytes of body.
/// The header (86 bytes), the delimiter and the tag (17) leave this much.
pub const MAX_PLAINTEXT: usize = 4096 - 86 - 17;

/// The server's VAPID key pair (RFC 8292).
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// A stored or given key that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(&'static str);

impl VapidKey {
    pub fn generate() -> VapidKey {
        VapidKey {
            signing: SigningKey::from(SecretKey::random(&mut rand::rngs::OsRng)),
        }
    }

    /// The key as [`to_stored`](VapidKey::to_stored) wrote it.
    pub fn from_stored(text: &str) -> Result<VapidKey, KeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| KeyError("the stored VAPID key is not base64url"))?;
        let secret = SecretKey::from_slice(&bytes)
            .map_err(|_| KeyError("the stored VAPID key is not a P-256 private key"))?;
        Ok(VapidKey {
            signing: SigningKey::from(secret),
        })
    }

    /// The private scalar, base64url: what the store keeps.
    pub fn to_stored(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.to_bytes())
    }

    /// The public key as browsers take it for `applicationServerKey`:
    /// base64url of the uncompressed point.
    pub fn public_key(&self) -> String {
        let point = self.signing.verifying_key().to_encoded_point(false);
        URL_SAFE_NO_PAD.encode(point.as_bytes())
    }

    /// An ES256 JWT for a push service (`aud` its origin), valid until
    /// `expires` (Unix seconds), naming the operator's contact as `sub` when
    /// there is one.
    pub fn token(&self, audience: &str, expires: i64, subject: Option<&str>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let mut claims = serde_json::json!({ "aud": audience, "exp": expires });
        if let Some(subject) = subject {
            claims["sub"] = serde_json::Value::from(subject);
        }
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{claims}");
        // JWS wants the signature as r || s (64 bytes), which is what
        // `Signature::to_bytes` gives; not DER.
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The `Authorization` header for a push to `endpoint` at `now` (Unix
    /// seconds): `vapid t=<JWT>, k=<public key>` (RFC 8292 §3).
    pub fn authorization(&self, endpoint: &url::Url, now: i64, subject: Option<&str>) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let expires = now.saturating_add(TOKEN_LIFETIME.as_secs() as i64);
        format!(
            "vapid t={}, k={}",
            self.token(&audience, expires, subject),
            self.public_key()
        )
    }
}

/// A browser's subscription keys, checked: the device's P-256 public key
/// (`p256dh`) and its authentication secret (`auth`).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    public: PublicKey,
    auth: [u8; AUTH_LEN],
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys").finish_non_exhaustive()
    }
}

impl DeviceKeys {
    /// Parses the base64url keys a `PushSubscription` gives (padding
    /// tolerated): `p256dh` a 65-byte uncompressed point on P-256, `auth` 16
    /// bytes.
    pub fn parse(p256dh: &str, auth: &str) -> Result<DeviceKeys, DeviceKeyError> {
        let point = decode_base64url(p256dh).ok_or(DeviceKeyError::P256dh)?;
        if point.len() != P256DH_LEN || point[0] != 0x04 {
            return Err(DeviceKeyError::P256dh);
        }
        let public = PublicKey::from_sec1_bytes(&point).map_err(|_| DeviceKeyError::P256dh)?;
        let auth = decode_base64url(auth)
            .and_then(|bytes| <[u8; AUTH_LEN]>::try_from(bytes).ok())
            .ok_or(DeviceKeyError::Auth)?;
        Ok(DeviceKeys { public, auth })
    }
}

/// Which key of a subscription is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceKeyError {
    #[error("keys.p256dh must be the base64url of a 65-byte uncompressed P-256 public key")]
    P256dh,
    #[error("keys.auth must be the base64url of 16 bytes")]
    Auth,
}

fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}

/// Encrypts a push message for a device (RFC 8291) as one `aes128gcm`
/// record (RFC 8188), with a fresh ephemeral key and salt.
pub fn encrypt(plaintext: &[u8], device: &DeviceKeys) -> Result<Vec<u8>, EncryptError> {
    let ephemeral = SecretKey::random(&mut rand::rngs::OsRng);
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    encrypt_with(plaintext, device, &ephemeral, &salt)
}

/// A message too long for one push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a push message may hold at most {MAX_PLAINTEXT} bytes")]
pub struct EncryptError;

/// [`encrypt`] with the sender's key and salt given: RFC 8291 §3.4 step by
/// step, so that Appendix A's example can be reproduced exactly.
fn encrypt_with(
    plaintext: &[u8],
    device: &DeviceKeys,
    sender: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError);
    }
    let ua_public = device.public.to_encoded_point(false);
    let as_public = sender.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(sender.to_nonzero_scalar(), device.public.as_affine());

    // PRK_key = HKDF-Extract(auth_secret, ecdh_secret);
    // IKM = HKDF-Expand(PRK_key, "WebPush: info" || 0x00 || ua_public || as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 2 * P256DH_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&device.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| EncryptError)?;

    // PRK = HKDF-Extract(salt, IKM); CEK and NONCE from it (RFC 8188 §2.2, §2.3).
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| EncryptError)?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| EncryptError)?;

    // One record, so it is the last: the delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| EncryptError)?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .map_err(|_| EncryptError)?;

    // Header: salt || rs (u32) || idlen || keyid (the sender's public key).
    let mut body = Vec::with_capacity(16 + 4 + 1 + P256DH_LEN + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(P256DH_LEN as u8);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Push settings: `--push-contact`, and the testing flag
/// `--push-allow-loopback`.
#[derive(Clone, Debug, Default)]
pub struct PushConfig {
    /// The operator's contact, `mailto:` or `https:`, sent as the VAPID
    /// `sub` claim (Apple's push service requires one).
    pub contact: Option<String>,
    /// Accepts endpoints on loopback addresses, over plain `http` too: for
    /// tests that run their own push service. Off in production, where a
    /// subscription could otherwise aim the server at itself.
    pub allow_loopback: bool,
    /// Retries, leases and sweeps of the outbox.
    pub timing: OutboxTiming,
}

/// The server's Web Push: its key, an HTTPS client, and the outbox worker's
/// wake-up for push items.
pub struct Push {
    key: VapidKey,
    config: PushConfig,
    client: reqwest::Client,
    wake: Notify,
}

impl fmt::Debug for Push {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Push")
            .field("key", &self.key)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Push {
    /// The stored VAPID key, or a new one stored if there is none. Nodes
    /// starting together each offer a key; the store keeps the first and
    /// every node uses that one.
    pub async fn load(store: &dyn Store, config: PushConfig) -> anyhow::Result<Push> {
        let candidate = VapidKey::generate();
        let stored = store
            .insert_meta_if_absent(VAPID_KEY_META, &candidate.to_stored())
            .await?;
        let key = VapidKey::from_stored(&stored)?;
        let client = reqwest::Client::builder()
            // A push service answers; it does not send us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(SEND_TIMEOUT)
            .build()?;
        Ok(Push {
            key,
            config,
            client,
            wake: Notify::new(),
        })
    }

    /// The public key for `applicationServerKey`.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    pub fn timing(&self) -> OutboxTiming {
        self.config.timing
    }

    /// Tells the outbox worker that push items were written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Checks a subscription's endpoint: an absolute `https` URL without
    /// credentials whose host is not this machine or a private network;
    /// loopback (over `http` too) only when the configuration allows it.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<url::Url, &'static str> {
        if endpoint.len() > MAX_ENDPOINT {
            return Err("endpoint is longer than 2048 characters");
        }
        let url = url::Url::parse(endpoint).map_err(|_| "endpoint is not an absolute URL")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("endpoint must not carry credentials");
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => is_loopback_or_private(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => is_loopback_or_private(IpAddr::V6(ip))?,
            None => return Err("endpoint has no host"),
        };
        match (url.scheme(), loopback) {
            (_, true) if !self.config.allow_loopback => Err("endpoint must not be on this machine"),
            ("https", _) | ("http", true) => Ok(url),
            _ => Err("endpoint must be an https:// URL"),
        }
    }

    /// Sends one push item, as the outbox worker claimed it.
    pub(crate) async fn deliver(&self, store: &dyn Store, item: &OutboxItem) -> Attempt {
        let Ok(queued) = serde_json::from_str::<QueuedPush>(&item.payload) else {
            return Attempt::Unsendable("the push cannot be read".into());
        };
        let subscription = match store.push_subscription(&queued.session_id).await {
            Ok(Some(subscription)) => subscription,
            Ok(None) => {
                return Attempt::Dropped("the device no longer has a subscription".into());
            }
            Err(e) => return Attempt::Failed(format!("could not read the subscription: {e}")),
        };
        let (Ok(endpoint), Ok(keys)) = (
            self.check_endpoint(&subscription.endpoint),
            DeviceKeys::parse(&subscription.p256dh, &subscription.auth),
        ) else {
            return Attempt::Unsendable("the stored subscription is not usable".into());
        };
        let Ok(body) = serde_json::to_vec(&queued.message)
            .map_err(drop)
            .and_then(|plain| encrypt(&plain, &keys).map_err(drop))
        else {
            return Attempt::Unsendable("the push message cannot be encrypted".into());
        };
        let now = jiff::Timestamp::now().as_second();
        let authorization = self
            .key
            .authorization(&endpoint, now, self.config.contact.as_deref());
        let sent = self
            .client
            .post(endpoint)
            .header("TTL", TTL.as_secs().to_string())
            .header("Urgency", "high")
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await;
        let status = match sent {
            Ok(response) => response.status(),
            // No words from reqwest: they would name the endpoint.
            Err(e) if e.is_timeout() => {
                return Attempt::Failed("the push service timed out".into());
            }
            Err(_) => return Attempt::Failed("could not reach the push service".into()),
        };
        let code = status.as_u16();
        match code {
            200..=299 => Attempt::Sent,
            404 | 410 => {
                // RFC 8030 §7.3: the subscription has expired or was
                // removed; this device will not be reached there again.
                if let Err(e) = store
                    .delete_push_subscription(
                        &subscription.session_id,
                        Some(&subscription.endpoint),
                    )
                    .await
                {
                    tracing::warn!(error = %e, "could not remove an expired push subscription");
                }
                Attempt::Dropped(format!(
                    "the push service says the subscription is gone ({code})"
                ))
            }
            408 | 429 | 500..=599 => Attempt::Failed(format!("the push service answered {code}")),
            _ => Attempt::Unsendable(format!("the push service refused the push ({code})")),
        }
    }
}

/// Loopback, private, link-local, unspecified or otherwise not a public
/// address; an error for addresses that are never an endpoint (multicast).
fn is_loopback_or_private(ip: IpAddr) -> Result<bool, &'static str> {
    if ip.is_multicast() {
        return Err("endpoint must not be a multicast address");
    }
    Ok(match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_loopback_or_private(IpAddr::V4(v4)).unwrap_or(true))
        }
    })
}

/// What a push says, as the service worker shows it: the JSON inside the
/// encrypted body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    pub title: String,
    pub body: String,
    pub conversation_id: String,
    /// Where a click leads: the conversation in the dashboard.
    pub url: String,
}

/// A push as the outbox stores it: the device (its session) and the message.
/// The subscription is looked up when it is sent, so a device that
/// unsubscribed or logged out meanwhile gets nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedPush {
    pub session_id: String,
    pub agent_id: String,
    pub message: PushMessage,
}

/// The pushes for a visitor's message: one per subscribed device of each
/// agent in `agents` (from [`agents_to_push`]).
pub fn visitor_message_pushes(
    agents: &HashSet<String>,
    subscriptions: &[PushSubscriptionRecord],
    conversation: &ConversationRecord,
    message: &MessageRecord,
    new_conversation: bool,
    now: jiff::Timestamp,
) -> Vec<OutboxItem> {
    let who = conversation
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("a visitor");
    let title = if new_conversation {
        format!("New conversation from {who}")
    } else {
        format!("New message from {who}")
    };
    let message = PushMessage {
        title,
        body: truncate(&message.text, BODY_CHARS),
        conversation_id: conversation.id.clone(),
        url: format!("/dashboard#conversation={}", conversation.id),
    };
    subscriptions
        .iter()
        .filter(|s| agents.contains(&s.agent_id))
        .filter_map(|s| {
            let queued = QueuedPush {
                session_id: s.session_id.clone(),
                agent_id: s.agent_id.clone(),
                message: message.clone(),
            };
            crate::notify::new_item(&conversation.account_id, PUSH, &queued, now)
        })
        .collect()
}

/// At most `limit` characters, with an ellipsis when cut.
fn truncate(text: &str, limit: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    }

    /// RFC 8291 Appendix A, every value as the RFC gives it.
    #[test]
    fn encryption_reproduces_the_rfc_8291_example() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let sender = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
            .expect("sender key");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sender.public_key().to_encoded_point(false).as_bytes()),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        let device = DeviceKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .expect("device keys");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let body = encrypt_with(plaintext, &device, &sender, &salt).expect("encrypt");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn each_message_has_its_own_salt_and_sender_key() {
        let device_secret = SecretKey::random(&mut rand::rngs::OsRng);
        let point = device_secret.public_key().to_encoded_point(false);
        let device = DeviceKeys::parse(
            &URL_SAFE_NO_PAD.encode(point.as_bytes()),
            "AAAAAAAAAAAAAAAAAAAAAA",
        )
        .expect("keys");
        let one = encrypt(b"hello", &device).expect("encrypt");
        let two = encrypt(b"hello", &device).expect("encrypt");
        assert_eq!(one.len(), 86 + 5 + 1 + 16);
        assert_ne!(one[..16], two[..16], "salt");
        assert_ne!(one[21..86], two[21..86], "sender key");
        assert_eq!(
            encrypt(&vec![b'x'; MAX_PLAINTEXT + 1], &device),
            Err(EncryptError)
        );
        assert!(
            encrypt(&vec![b'x'; MAX_PLAINTEXT], &device)
                .expect("fits")
                .len()
                <= 4096
        );
    }

    #[test]
    fn the_vapid_token_verifies_with_the_public_key_and_names_the_origin() {
        let key = VapidKey::generate();
        let endpoint =
            url::Url::parse("https://push.example.net:8443/wpush/v2/abc?x=1").expect("url");
        let header = key.authorization(&endpoint, 1_700_000_000, Some("mailto:ops@acme.example"));
        let rest = header.strip_prefix("vapid t=").expect("vapid scheme");
        let (token, k) = rest.split_once(", k=").expect("t and k");
        assert_eq!(k, key.public_key());

        let (input, signature) = token.rsplit_once('.').expect("signed");
        let verifying = VerifyingKey::from_sec1_bytes(&b64(k)).expect("public key");
        let signature = Signature::from_slice(&b64(signature)).expect("r || s");
        verifying
            .verify(input.as_bytes(), &signature)
            .expect("the signature verifies");

        let (head, claims) = input.split_once('.').expect("header and claims");
        let head: serde_json::Value = serde_json::from_slice(&b64(head)).expect("json");
        assert_eq!(head, serde_json::json!({"typ": "JWT", "alg": "ES256"}));
        let claims: serde_json::Value = serde_json::from_slice(&b64(claims)).expect("json");
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_700_000_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@acme.example");
    }

    #[test]
    fn a_stored_key_comes_back_the_same() {
        let key = VapidKey::generate();
        let again = VapidKey::from_stored(&key.to_stored()).expect("stored key");
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(b64(&key.public_key()).len(), P256DH_LEN);
        assert!(VapidKey::from_stored("not a key").is_err());
        assert!(VapidKey::from_stored(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
    }

    fn push(allow_loopback: bool) -> Push {
        Push {
            key: VapidKey::generate(),
            config: PushConfig {
                allow_loopback,
                ..PushConfig::default()
            },
            client: reqwest::Client::new(),
            wake: Notify::new(),
        }
    }

    #[test]
    fn endpoints_must_be_https_and_not_on_this_network() {
        let strict = push(false);
        let testing = push(true);
        for (endpoint, strict_ok, testing_ok) in [
            ("https://fcm.googleapis.com/fcm/send/abc", true, true),
            ("https://web.push.apple.com/QGx", true, true),
            ("http://push.example.net/x", false, false),
            ("ftp://push.example.net/x", false, false),
            ("https://127.0.0.1/x", false, true),
            ("http://127.0.0.1:9/x", false, true),
            ("http://localhost/x", false, true),
            ("http://[::1]/x", false, true),
            ("https://10.0.0.1/x", false, true),
            ("https://192.168.1.2/x", false, true),
            ("https://169.254.169.254/latest", false, true),
            ("https://[fd00::1]/x", false, true),
            ("https://[::ffff:127.0.0.1]/x", false, true),
            ("https://224.0.0.1/x", false, false),
            ("https://user@push.example.net/x", false, false),
            ("/relative", false, false),
        ] {
            assert_eq!(
                strict.check_endpoint(endpoint).is_ok(),
                strict_ok,
                "{endpoint}"
            );
            assert_eq!(
                testing.check_endpoint(endpoint).is_ok(),
                testing_ok,
                "{endpoint} (testing)"
            );
        }
    }

    #[test]
    fn long_texts_are_cut_at_a_character_with_an_ellipsis() {
        assert_eq!(truncate("  short  ", 10), "short");
        assert_eq!(truncate("exactly ten", 11), "exactly ten");
        assert_eq!(truncate("a few words here", 6), "a few…");
        assert_eq!(truncate("žluťoučký kůň", 4), "žluť…");
    }

    #[test]
    fn device_keys_of_the_wrong_shape_are_refused() {
        let good = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        assert!(DeviceKeys::parse(good, auth).is_ok());
        assert!(DeviceKeys::parse(&format!("{good}="), &format!("{auth}==")).is_ok());
        for (p256dh, auth, error) in [
            ("not base64!", auth, DeviceKeyError::P256dh),
            (&good[..60], auth, DeviceKeyError::P256dh),
            // 65 bytes, but not a point on the curve.
            (
                &*URL_SAFE_NO_PAD.encode([4u8; 65]),
                auth,
                DeviceKeyError::P256dh,
            ),
            (good, "BTBZMqHH6r4Tts7J", DeviceKeyError::Auth),
            (good, "", DeviceKeyError::Auth),
        ] {
            assert_eq!(
                DeviceKeys::parse(p256dh, auth),
                Err(error),
                "{p256dh} {auth}"
            );
        }
    }
}
