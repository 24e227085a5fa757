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

use std::fmt;
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
use sha2::Sha256;

/// The outbox kind of a push message.
pub const PUSH: &str = "push";
/// The `meta` key of the server's VAPID private key (base64url of the scalar).
pub const VAPID_KEY_META: &str = "vapid_private_key";
/// How long a push service keeps a message for a device that is offline.
pub const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a VAPID token is valid (RFC 8292 allows at most 24 h).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
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
