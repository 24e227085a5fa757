//! Web Push (docs/notifications.md): subscriptions through `/me/push`, and
//! deliveries to a push service this test runs on a real socket. The
//! service checks the VAPID header's ES256 signature and audience and
//! decrypts each message with the device's private key and auth secret, as a
//! browser would; the decryption below is written from RFC 8291 and RFC 8188
//! on its own, not by running the server's encryption backwards.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use onair_server::notify::OutboxTiming;
use onair_server::push::PushConfig;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::helpers::{Agent, TestApp, TestConfig, metric, spawn_app_with};

const SLUG: &str = "acme";
/// How long a test waits for a push that should go at once.
const PUSH_SOON: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// A push service

/// One request the push service received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A push service on 127.0.0.1: records every request and answers each with
/// the next status of its script (201 when the script is used up).
struct PushService {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    arrived: Arc<Notify>,
}

impl PushService {
    async fn start(script: &[u16]) -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let service = PushService {
            addr: listener.local_addr().expect("addr"),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            arrived: Arc::default(),
        };
        let (received, script, arrived) = (
            Arc::clone(&service.received),
            Arc::clone(&service.script),
            Arc::clone(&service.arrived),
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (received, script, arrived) = (
                    Arc::clone(&received),
                    Arc::clone(&script),
                    Arc::clone(&arrived),
                );
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let status = script.lock().expect("script").pop_front().unwrap_or(201);
                    received.lock().expect("received").push(request);
                    arrived.notify_waiters();
                    let answer = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        service
    }

    /// The endpoint of a device on this service.
    fn endpoint(&self, device: &str) -> String {
        format!("http://{}/push/{device}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }

    /// Waits until `count` requests have come; panics after `within`.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("{} of {count} pushes within {within:?}", received.len());
            }
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

/// An HTTP/1.1 request with a `content-length` body (what reqwest sends).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    assert_eq!(parts.next(), Some("POST"), "{request_line}");
    let path = parts.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------
// A device (the browser's half)

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// A browser's push subscription: its own key pair and auth secret.
struct Device {
    secret: SecretKey,
    auth: [u8; 16],
    endpoint: String,
}

impl Device {
    fn new(endpoint: String) -> Device {
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Device {
            secret: SecretKey::random(&mut rand::rngs::OsRng),
            auth,
            endpoint,
        }
    }

    fn public(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The body of `PUT /me/push`, as `PushSubscription.toJSON()` gives it.
    fn subscription(&self) -> Value {
        json!({"endpoint": self.endpoint, "expirationTime": null,
               "keys": {"p256dh": b64(&self.public()), "auth": b64(&self.auth)}})
    }

    /// Decrypts an `aes128gcm` body (RFC 8188 §2) whose keys come from RFC
    /// 8291 §3.4, as the receiving user agent does.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        // Header: salt (16) | rs (4) | idlen (1) | keyid (idlen).
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().expect("rs"));
        let idlen = usize::from(body[20]);
        assert_eq!(idlen, 65, "keyid is the sender's uncompressed P-256 key");
        let sender = PublicKey::from_sec1_bytes(&body[21..21 + idlen]).expect("sender key");
        let records = &body[21 + idlen..];
        assert!(records.len() <= record_size as usize, "one record");

        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public());
        info.extend_from_slice(sender.to_encoded_point(false).as_bytes());
        let (_, auth_hkdf) = Hkdf::<Sha256>::extract(Some(&self.auth), shared.raw_secret_bytes());
        let mut ikm = [0u8; 32];
        auth_hkdf.expand(&info, &mut ikm).expect("ikm");
        let (_, content) = Hkdf::<Sha256>::extract(Some(salt), &ikm);
        let mut key = [0u8; 16];
        content
            .expand(b"Content-Encoding: aes128gcm\0", &mut key)
            .expect("cek");
        let mut nonce = [0u8; 12];
        content
            .expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let mut plain = Aes128Gcm::new_from_slice(&key)
            .expect("key")
            .decrypt(Nonce::from_slice(&nonce), records)
            .expect("the record decrypts with the device's keys");
        // Padding: the last non-zero byte is the delimiter, 2 for the last record.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }
}

/// Checks a push's headers as a push service would (RFC 8030, RFC 8292)
/// and returns the decrypted JSON inside.
fn open(push: &Received, device: &Device, server_key: &str, service: &PushService) -> Value {
    assert_eq!(push.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(push.header("urgency"), Some("high"));
    let ttl: u64 = push.header("ttl").expect("TTL").parse().expect("a number");
    assert!(ttl > 0, "TTL {ttl}");

    let authorization = push.header("authorization").expect("Authorization");
    let rest = authorization
        .strip_prefix("vapid t=")
        .expect("vapid scheme");
    let (token, k) = rest.split_once(", k=").expect("t and k");
    assert_eq!(k, server_key, "k is the key the browser subscribed with");
    let (signed, signature) = token.rsplit_once('.').expect("signature");
    VerifyingKey::from_sec1_bytes(&unb64(k))
        .expect("k is a P-256 key")
        .verify(
            signed.as_bytes(),
            &Signature::from_slice(&unb64(signature)).expect("an ES256 signature"),
        )
        .expect("the token is signed with the server's key");
    let (header, claims) = signed.split_once('.').expect("header.claims");
    let header: Value = serde_json::from_slice(&unb64(header)).expect("header");
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&unb64(claims)).expect("claims");
    assert_eq!(claims["aud"], format!("http://{}", service.addr));
    let expires = claims["exp"].as_i64().expect("exp");
    let now = jiff::Timestamp::now().as_second();
    assert!(
        expires > now && expires <= now + 24 * 3600,
        "exp {expires}, now {now}"
    );

    serde_json::from_slice(&device.decrypt(&push.body)).expect("JSON inside")
}

// ---------------------------------------------------------------------------
// The server

fn push_config() -> PushConfig {
    PushConfig {
        allow_loopback: true,
        timing: OutboxTiming {
            first_retry: Duration::from_millis(200),
            ..OutboxTiming::default()
        },
        ..PushConfig::default()
    }
}

async fn app() -> TestApp {
    spawn_app_with(TestConfig {
        push: Some(push_config()),
        ..TestConfig::default()
    })
    .await
}

async fn server_key(app: &TestApp, agent: &Agent) -> String {
    let info = app
        .get("/api/v1/me/push", Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    info["public_key"].as_str().expect("public_key").to_owned()
}

async fn subscribe(app: &TestApp, agent: &Agent, device: &Device) {
    app.put("/api/v1/me/push", Some(&agent.token), device.subscription())
        .await
        .expect(StatusCode::NO_CONTENT);
}

async fn subscribed(app: &TestApp, agent: &Agent) -> bool {
    let info = app
        .get("/api/v1/me/push", Some(&agent.token))
        .await
        .expect(StatusCode::OK);
    info["subscribed"].as_bool().expect("subscribed")
}

/// A visitor starts a conversation; returns its id and the visitor's token.
async fn visitor_starts(app: &TestApp, group: Option<&str>, text: &str) -> (String, String) {
    let token = onair_server::auth::new_token();
    let mut body = json!({"visitor_token": token, "name": "Vic Visitor",
                          "email": "vic@visitor.example", "text": text});
    if let Some(group) = group {
        body["group"] = json!(group);
    }
    let started = app
        .post(
            &format!("/api/v1/accounts/{SLUG}/conversations"),
            None,
            body,
        )
        .await
        .expect(StatusCode::CREATED);
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (id, token)
}

async fn visitor_writes(app: &TestApp, id: &str, token: &str, text: &str) {
    app.post(
        &format!("/api/v1/accounts/{SLUG}/conversations/{id}/messages"),
        None,
        json!({"visitor_token": token, "text": text}),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// Lets a worker that was going to send something more do it.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn each_eligible_device_gets_the_message_encrypted_for_it() {
    let service = PushService::start(&[]).await;
    let app = app().await;
    let owner = app.create_account(SLUG).await;
    app.add_group(SLUG, &owner, "sales").await;
    app.add_group(SLUG, &owner, "support").await;
    let sue = app.add_agent(SLUG, &owner, "Sue", &["support"]).await;
    let key = server_key(&app, &owner).await;
    assert_eq!(unb64(&key).len(), 65, "an uncompressed P-256 point");
    assert_eq!(unb64(&key)[0], 4);
    assert_eq!(server_key(&app, &sue).await, key, "one key for the server");
    assert!(!subscribed(&app, &owner).await);

    // The owner (in no group: every group's) on two devices, Sue on one.
    let phone = Device::new(service.endpoint("owner-phone"));
    let laptop_session = app.login(SLUG, &owner.email, "laptop").await;
    let laptop = Device::new(service.endpoint("owner-laptop"));
    let sues = Device::new(service.endpoint("sue"));
    subscribe(&app, &owner, &phone).await;
    subscribe(&app, &laptop_session, &laptop).await;
    subscribe(&app, &sue, &sues).await;
    assert!(subscribed(&app, &owner).await);

    let (id, token) = visitor_starts(
        &app,
        Some("sales"),
        "Hello, is the blue one in stock? I need it by Friday.",
    )
    .await;
    let pushes = service.wait_for(2, PUSH_SOON).await;
    settle().await;
    assert_eq!(service.received().len(), 2, "not Sue: support is not sales");
    let mut paths: Vec<&str> = pushes.iter().map(|p| p.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/push/owner-laptop", "/push/owner-phone"]);
    for push in &pushes {
        let device = if push.path.ends_with("phone") {
            &phone
        } else {
            &laptop
        };
        let message = open(push, device, &key, &service);
        assert_eq!(
            message,
            json!({"title": "New conversation from Vic Visitor",
                   "body": "Hello, is the blue one in stock? I need it by Friday.",
                   "conversation_id": id,
                   "url": format!("/dashboard#conversation={id}")})
        );
    }
    // A device cannot read another's push.
    let phone_push = pushes
        .iter()
        .find(|p| p.path.ends_with("phone"))
        .expect("phone");
    let stolen = std::panic::catch_unwind(|| laptop.decrypt(&phone_push.body));
    assert!(stolen.is_err(), "the laptop's keys open the phone's push");

    // The next message: a push again, its long text cut.
    let long = "x".repeat(300);
    visitor_writes(&app, &id, &token, &long).await;
    let pushes = service.wait_for(4, PUSH_SOON).await;
    let next = pushes[2..]
        .iter()
        .find(|p| p.path.ends_with("phone"))
        .expect("phone again");
    let message = open(next, &phone, &key, &service);
    assert_eq!(message["title"], "New message from Vic Visitor");
    let body = message["body"].as_str().expect("body");
    assert_eq!(body.chars().count(), 141, "{body}");
    assert!(body.ends_with('…'), "{body}");
    assert_eq!(metric(&app, "onair_outbox_sent_total").await, 4);
}

#[tokio::test]
async fn no_push_goes_to_an_agent_whose_dashboard_is_open() {
    let service = PushService::start(&[]).await;
    // Keep-alives often, so that the server soon sees a closed stream.
    let app = spawn_app_with(TestConfig {
        push: Some(push_config()),
        keep_alive: Some(Duration::from_millis(100)),
        ..TestConfig::default()
    })
    .await;
    let owner = app.create_account(SLUG).await;
    let phone = Device::new(service.endpoint("phone"));
    subscribe(&app, &owner, &phone).await;

    // The dashboard on another device of the same agent is open.
    let desk = app.login(SLUG, &owner.email, "desk").await;
    let mut stream = app.agent_events(&desk).await;
    stream.next().await;
    let (id, token) = visitor_starts(&app, None, "Anyone there?").await;
    settle().await;
    assert!(service.received().is_empty(), "{:?}", service.received());

    // Closed: the next message is pushed.
    drop(stream);
    let deadline = Instant::now() + PUSH_SOON;
    while service.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no push after the dashboard closed"
        );
        visitor_writes(&app, &id, &token, "Hello?").await;
        let _ = tokio::time::timeout(Duration::from_millis(500), service.arrived.notified()).await;
    }
    let push = &service.received()[0];
    let key = server_key(&app, &owner).await;
    assert_eq!(
        open(push, &phone, &key, &service)["title"],
        "New message from Vic Visitor"
    );
}

#[tokio::test]
async fn a_subscription_the_service_says_is_gone_is_removed_without_retry() {
    let service = PushService::start(&[410]).await;
    let app = app().await;
    let owner = app.create_account(SLUG).await;
    let phone = Device::new(service.endpoint("phone"));
    subscribe(&app, &owner, &phone).await;

    let (id, token) = visitor_starts(&app, None, "Hello").await;
    service.wait_for(1, PUSH_SOON).await;
    settle().await;
    assert_eq!(service.received().len(), 1, "no retry after 410");
    assert!(
        !subscribed(&app, &owner).await,
        "the subscription is removed"
    );
    assert_eq!(metric(&app, "onair_outbox_retried_total").await, 0);
    assert_eq!(metric(&app, "onair_outbox_queued").await, 0);

    visitor_writes(&app, &id, &token, "Still there?").await;
    settle().await;
    assert_eq!(
        service.received().len(),
        1,
        "nothing for a removed subscription"
    );
}

#[tokio::test]
async fn a_failing_push_service_is_retried_until_it_accepts() {
    let service = PushService::start(&[500, 429]).await;
    let app = app().await;
    let owner = app.create_account(SLUG).await;
    let phone = Device::new(service.endpoint("phone"));
    subscribe(&app, &owner, &phone).await;

    visitor_starts(&app, None, "Hello").await;
    let pushes = service.wait_for(3, PUSH_SOON).await;
    settle().await;
    assert_eq!(service.received().len(), 3, "two failures, then accepted");
    let key = server_key(&app, &owner).await;
    // Each attempt is the same message, encrypted anew.
    for push in &pushes {
        assert_eq!(
            open(push, &phone, &key, &service)["title"],
            "New conversation from Vic Visitor"
        );
    }
    assert_ne!(pushes[0].body, pushes[2].body);
    assert_eq!(metric(&app, "onair_outbox_retried_total").await, 2);
    assert_eq!(metric(&app, "onair_outbox_sent_total").await, 1);
    assert!(subscribed(&app, &owner).await, "kept after a 5xx");
}

#[tokio::test]
async fn a_session_that_ends_loses_its_subscription() {
    let service = PushService::start(&[]).await;
    let app = app().await;
    let owner = app.create_account(SLUG).await;
    let tablet = app.login(SLUG, &owner.email, "tablet").await;
    subscribe(&app, &owner, &Device::new(service.endpoint("phone"))).await;
    subscribe(&app, &tablet, &Device::new(service.endpoint("tablet"))).await;
    let store = &app.hub.store;

    app.delete("/api/v1/sessions/current", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        store
            .push_subscription(&owner.session_id)
            .await
            .expect("read"),
        None
    );
    // Ended from another device.
    let desk = app.login(SLUG, &owner.email, "desk").await;
    app.delete(
        &format!("/api/v1/me/sessions/{}", tablet.session_id),
        Some(&desk.token),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        store
            .push_subscription(&tablet.session_id)
            .await
            .expect("read"),
        None
    );

    visitor_starts(&app, None, "Hello").await;
    settle().await;
    assert!(service.received().is_empty());
}

#[tokio::test]
async fn subscriptions_are_checked_and_can_be_removed() {
    let app = spawn_app_with(TestConfig::default()).await;
    let owner = app.create_account(SLUG).await;
    let device = Device::new("https://push.example.net/send/abc".into());
    let good = device.subscription();

    app.put("/api/v1/me/push", None, good.clone())
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "missing_credentials");
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        body.pointer_mut(path).map(|v| *v = value).expect("path");
        body
    };
    for (body, code) in [
        (
            with("/endpoint", json!("http://push.example.net/send/abc")),
            "invalid_endpoint",
        ),
        (with("/endpoint", json!("not a url")), "invalid_endpoint"),
        (
            with("/endpoint", json!("https://user:pw@push.example.net/x")),
            "invalid_endpoint",
        ),
        // Loopback and private networks: refused unless the operator allows
        // loopback (tests).
        (
            with("/endpoint", json!("https://127.0.0.1:9/push")),
            "invalid_endpoint",
        ),
        (
            with("/endpoint", json!("https://localhost/push")),
            "invalid_endpoint",
        ),
        (
            with("/endpoint", json!("https://10.1.2.3/push")),
            "invalid_endpoint",
        ),
        (
            with("/endpoint", json!("https://[::1]/push")),
            "invalid_endpoint",
        ),
        (
            with(
                "/endpoint",
                json!(format!("https://push.example.net/{}", "a".repeat(2100))),
            ),
            "invalid_endpoint",
        ),
        (
            with("/keys/p256dh", json!(b64(&[4u8; 64]))),
            "invalid_p256dh",
        ),
        (
            with("/keys/p256dh", json!(b64(&[4u8; 65]))),
            "invalid_p256dh",
        ),
        (with("/keys/p256dh", json!("!!")), "invalid_p256dh"),
        (with("/keys/auth", json!(b64(&[1u8; 15]))), "invalid_auth"),
        (with("/keys/auth", json!(b64(&[1u8; 17]))), "invalid_auth"),
    ] {
        app.put("/api/v1/me/push", Some(&owner.token), body.clone())
            .await
            .expect_error(StatusCode::BAD_REQUEST, code);
    }
    let mut unknown = good.clone();
    unknown["keys"]["extra"] = json!(1);
    let answer = app
        .put("/api/v1/me/push", Some(&owner.token), unknown)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        !subscribed(&app, &owner).await,
        "nothing stored by a refusal"
    );

    app.put("/api/v1/me/push", Some(&owner.token), good)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(subscribed(&app, &owner).await);
    // Allowed only where the operator allows loopback.
    let local = Device::new("http://127.0.0.1:9/push".into());
    app.put("/api/v1/me/push", Some(&owner.token), local.subscription())
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_endpoint");
    let allowing = self::app().await;
    let other = allowing.create_account(SLUG).await;
    allowing
        .put("/api/v1/me/push", Some(&other.token), local.subscription())
        .await
        .expect(StatusCode::NO_CONTENT);

    app.delete("/api/v1/me/push", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!subscribed(&app, &owner).await);
    app.delete("/api/v1/me/push", Some(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_key_survives_a_restart() {
    let app = app().await;
    let owner = app.create_account(SLUG).await;
    let before = server_key(&app, &owner).await;
    let app = app
        .restart(TestConfig {
            push: Some(push_config()),
            ..TestConfig::default()
        })
        .await;
    assert_eq!(server_key(&app, &owner).await, before);
}

#[tokio::test]
async fn the_app_files_are_served_with_their_types() {
    let app = spawn_app_with(TestConfig::default()).await;
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    let manifest = get("/manifest.webmanifest").await.expect("manifest");
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(
        header(&manifest, "content-type"),
        "application/manifest+json"
    );
    let manifest: Value = manifest.json().await.expect("the manifest is JSON");
    assert_eq!(manifest["start_url"], "/dashboard");
    assert_eq!(manifest["display"], "standalone");
    assert!(manifest["name"].as_str().is_some_and(|n| !n.is_empty()));

    let worker = get("/sw.js").await.expect("sw.js");
    assert_eq!(worker.status(), StatusCode::OK);
    assert!(header(&worker, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&worker, "service-worker-allowed"), "/");
    assert_eq!(header(&worker, "cache-control"), "no-cache");
    let script = worker.text().await.expect("text");
    assert!(script.contains("'push'") && script.contains("'notificationclick'"));

    let module = get("/dashboard/notifications.js").await.expect("module");
    assert_eq!(module.status(), StatusCode::OK);
    assert!(header(&module, "content-type").starts_with("text/javascript"));

    for icon in manifest["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().expect("src");
        let response = app.client.get(app.url(src)).send().await.expect("icon");
        assert_eq!(response.status(), StatusCode::OK, "{src}");
        assert_eq!(
            header(&response, "content-type"),
            icon["type"].as_str().expect("type"),
            "{src}"
        );
    }
    let missing = get("/icons/nope.png").await.expect("icon");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let dashboard = get("/dashboard")
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(dashboard.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));
    assert!(dashboard.contains(r#"src="/dashboard/notifications.js""#));
}
