//! Agents' pictures (docs/api.md, "Avatars"): an agent uploads its own,
//! checked for type and size; anyone fetches it by its hash, cached for
//! good; replies and the agent's devices name it at once; removing it
//! leaves the agent with none.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const SLUG: &str = "acme";

/// A real 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\xdac\xe0\x0e\xbf\xf0\x1f\0\x03\xd5\x022\xd8\xa3?\xef\0\0\0\0IEND\xaeB`\x82";
/// The start of a JPEG (its signature is what is checked).
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn upload(app: &TestApp, token: Option<&str>, content_type: &str, bytes: &[u8]) -> Answer {
    upload_body(app, token, content_type, bytes.to_vec().into()).await
}

async fn upload_body(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: reqwest::Body,
) -> Answer {
    let mut request = app
        .client
        .put(app.url("/api/v1/me/avatar"))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The status, headers and bytes of `GET path`.
async fn fetch(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = app.client.get(app.url(path)).send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, headers, bytes)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_uploaded_picture_is_served_by_its_hash_and_cached_for_good() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert_eq!(me.expect(StatusCode::OK)["avatar_url"], Value::Null);

    let agent = upload(&app, Some(&owner.token), "image/png", PNG)
        .await
        .expect(StatusCode::OK);
    let url = format!("/api/v1/avatars/{}", sha256_hex(PNG));
    assert_eq!(agent["avatar_url"], url.as_str(), "{agent}");
    assert_eq!(agent["id"], owner.id.as_str());
    let me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert_eq!(me.expect(StatusCode::OK)["avatar_url"], url.as_str());

    let (status, headers, bytes) = fetch(&app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, PNG);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");

    // A new picture has a new address; the old one is gone.
    let agent = upload(&app, Some(&owner.token), "image/jpeg; charset=binary", JPEG)
        .await
        .expect(StatusCode::OK);
    let new_url = format!("/api/v1/avatars/{}", sha256_hex(JPEG));
    assert_eq!(agent["avatar_url"], new_url.as_str());
    let (status, headers, bytes) = fetch(&app, &new_url).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, JPEG));
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    app.get(&url, None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_avatar");
    app.get("/api/v1/avatars/not-a-hash", None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_avatar");

    // Stored with the account: a restart keeps it.
    let app = app.restart(TestConfig::default()).await;
    let me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert_eq!(me.expect(StatusCode::OK)["avatar_url"], new_url.as_str());
    assert_eq!(fetch(&app, &new_url).await.2, JPEG);
}

#[tokio::test]
async fn a_picture_must_be_an_image_of_its_type_and_small() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    let token = Some(owner.token.as_str());

    // The bytes are not what the type says.
    upload(&app, token, "image/png", JPEG)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "unsupported_image");
    upload(
        &app,
        token,
        "image/gif",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "unsupported_image");
    upload(&app, token, "image/png", b"")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "unsupported_image");
    // Not one of the four types, whatever the bytes.
    for content_type in ["image/svg+xml", "application/octet-stream", "text/plain"] {
        upload(&app, token, content_type, PNG)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "unsupported_image");
    }

    // Over 256 KiB, a valid image or not.
    let mut large = PNG.to_vec();
    large.resize(256 * 1024 + 1, 0);
    upload(&app, token, "image/png", &large)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Sent in chunks, without a length.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = large
        .chunks(16 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    upload_body(&app, token, "image/png", body)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // At the limit it is accepted.
    large.truncate(256 * 1024);
    let agent = upload(&app, token, "image/png", &large)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        agent["avatar_url"],
        format!("/api/v1/avatars/{}", sha256_hex(&large)).as_str()
    );

    // Refused pictures changed nothing; without a token nothing is stored.
    upload(&app, None, "image/png", PNG)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "missing_credentials");
    app.get(&format!("/api/v1/avatars/{}", sha256_hex(PNG)), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_avatar");
}

#[tokio::test]
async fn replies_and_the_agents_devices_name_its_picture_until_it_is_removed() {
    let app = spawn_app().await;
    let owner = app.create_account(SLUG).await;
    app.set_status(&owner, "online").await;
    let visitor = onair_server::auth::new_token();
    let started = app
        .post(
            &format!("/api/v1/accounts/{SLUG}/conversations"),
            None,
            json!({"visitor_token": visitor, "text": "Hello"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = started["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reply = |text: &'static str| {
        let (app, token, id) = (&app, owner.token.clone(), id.clone());
        async move {
            app.post(
                &format!("/api/v1/conversations/{id}/messages"),
                Some(&token),
                json!({"text": text}),
            )
            .await
            .expect(StatusCode::CREATED)
        }
    };
    let before = reply("Hi!").await;
    assert_eq!(before["message"]["agent"]["avatar_url"], Value::Null);

    let mut devices = app.agent_events(&owner).await;
    assert_eq!(devices.next().await.data["avatar_url"], Value::Null);
    upload(&app, Some(&owner.token), "image/png", PNG)
        .await
        .expect(StatusCode::OK);
    let url = format!("/api/v1/avatars/{}", sha256_hex(PNG));
    let told = loop {
        let event = devices.next().await;
        if event.event == "agent" {
            break event;
        }
    };
    assert_eq!(told.data["avatar_url"], url.as_str(), "{}", told.data);

    // Every reply names the agent's picture as it is now, old ones too.
    let after = reply("How can I help?").await;
    assert_eq!(
        after["message"]["agent"],
        json!({"id": owner.id, "name": "Owner", "avatar_url": url})
    );
    let history = app
        .get(&format!("/api/v1/conversations/{id}"), Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    let pictures: Vec<&Value> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["author"] == "agent")
        .map(|m| &m["agent"]["avatar_url"])
        .collect();
    assert_eq!(pictures, [&json!(url), &json!(url)], "{history}");

    // The agents' list shows it too.
    let agents = app
        .get(
            &format!("/api/v1/accounts/{SLUG}/agents"),
            Some(&owner.token),
        )
        .await
        .expect(StatusCode::OK);
    assert!(agents.to_string().contains(&url), "{agents}");

    let removed = app
        .delete("/api/v1/me/avatar", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(removed["avatar_url"], Value::Null);
    let told = loop {
        let event = devices.next().await;
        if event.event == "agent" {
            break event;
        }
    };
    assert_eq!(told.data["avatar_url"], Value::Null);
    let last = reply("Bye").await;
    assert_eq!(last["message"]["agent"]["avatar_url"], Value::Null);
    app.get(&url, None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "unknown_avatar");
    // Removing none is fine.
    app.delete("/api/v1/me/avatar", Some(&owner.token))
        .await
        .expect(StatusCode::OK);
}
