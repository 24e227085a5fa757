//! Agents' pictures (docs/api.md, "Avatars"): an agent sets and removes its
//! own (`PUT`/`DELETE /me/avatar`); anyone fetches one by its hash
//! (`GET /avatars/{hash}`), the address messages and agents name.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use onair_shared::wire::{self, ErrorBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::AgentAuth;
use crate::avatars::{self, MAX_BYTES, TYPES};
use crate::error::{Error, Result};
use crate::store::AvatarRecord;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_avatar, remove_avatar))
        .routes(routes!(avatar))
}

/// The agent's own picture: the image is the body, its type the
/// `Content-Type`; the bytes must be of that type. Every device of the agent
/// is told (`event: agent`), and replies name the new picture at once.
#[utoipa::path(
    put,
    path = "/me/avatar",
    tag = "me",
    operation_id = "set_my_avatar",
    summary = "Set the agent's picture: a PNG, JPEG, WebP or GIF image of at most 256 KiB",
    security(("bearer" = [])),
    request_body(
        description = "The image itself, as its `Content-Type` says",
        content((inline(Image) = "image/png"), (inline(Image) = "image/jpeg"), (inline(Image) = "image/webp"), (inline(Image) = "image/gif")),
    ),
    responses(
        (status = 200, description = "The agent, with its `avatar_url`", body = wire::Agent),
        (status = 400, description = "`unsupported_image`: the `Content-Type` is not one of the four image types, or the bytes are not an image of that type", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the image is over 256 KiB", body = ErrorBody),
    ),
)]
async fn set_avatar(
    State(state): State<AppState>,
    auth: AgentAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<wire::Agent>> {
    let content_type = image_type(&headers)?;
    let too_large = Error::PayloadTooLarge { limit: MAX_BYTES };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BYTES as u64) {
        return Err(too_large);
    }
    let bytes = axum::body::to_bytes(body, MAX_BYTES).await.map_err(|e| {
        if e.into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large
        } else {
            Error::bad_request("unreadable_body", "the body could not be read")
        }
    })?;
    if avatars::sniff(&bytes) != Some(content_type) {
        return Err(Error::bad_request(
            "unsupported_image",
            format!("the body is not a {content_type} image"),
        ));
    }
    let writer = state.hub.writer(&auth.live).await;
    let record = AvatarRecord {
        agent_id: auth.agent_id.clone(),
        account_id: auth.live.id.clone(),
        hash: avatars::hash(&bytes),
        content_type: content_type.to_owned(),
        bytes: bytes.to_vec(),
        updated_at: writer.now(),
    };
    let agent = writer
        .set_avatar(&auth.agent_id, Some(record))
        .await
        .map_err(gone)?;
    Ok(axum::Json(agent))
}

/// The bytes of an image.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct Image(Vec<u8>);

/// Which of [`TYPES`] the request's `Content-Type` names (parameters and
/// case aside).
fn image_type(headers: &HeaderMap) -> Result<&'static str> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = given.split(';').next().unwrap_or_default().trim();
    TYPES
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(essence))
        .ok_or_else(|| {
            Error::bad_request(
                "unsupported_image",
                format!(
                    "the Content-Type must be one of {}, not {given:?}",
                    TYPES.join(", ")
                ),
            )
        })
}

/// The agent's own picture removed: chat boxes show its initials.
#[utoipa::path(
    delete,
    path = "/me/avatar",
    tag = "me",
    operation_id = "remove_my_avatar",
    summary = "Remove the agent's picture (having none is fine)",
    security(("bearer" = [])),
    responses((status = 200, description = "The agent, its `avatar_url` `null`", body = wire::Agent)),
)]
async fn remove_avatar(
    State(state): State<AppState>,
    auth: AgentAuth,
) -> Result<axum::Json<wire::Agent>> {
    let writer = state.hub.writer(&auth.live).await;
    let agent = writer
        .set_avatar(&auth.agent_id, None)
        .await
        .map_err(gone)?;
    Ok(axum::Json(agent))
}

/// The agent was deleted meanwhile: its token no longer counts.
fn gone(e: Error) -> Error {
    match e {
        Error::NotFound { .. } => Error::Unauthorized {
            code: "invalid_token",
            message: "the token is unknown or has ended",
        },
        other => other,
    }
}

/// A picture by its hash, for anyone (an `<img>` on any page).
#[utoipa::path(
    get,
    path = "/avatars/{hash}",
    tag = "status",
    operation_id = "avatar",
    summary = "An agent's picture, by the hash in its `avatar_url`; cached for good",
    params(("hash" = String, Path, description = "SHA-256 of the picture, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The picture, with `Cache-Control: public, max-age=31536000, immutable`",
            content((inline(Image) = "image/png"), (inline(Image) = "image/jpeg"), (inline(Image) = "image/webp"), (inline(Image) = "image/gif"))),
        (status = 404, description = "`unknown_avatar`: no agent has this picture (any more)", body = ErrorBody),
    ),
)]
async fn avatar(State(state): State<AppState>, Path(hash): Path<String>) -> Response {
    let found = if avatars::is_hash(&hash) {
        state.hub.store.avatar(&hash).await
    } else {
        Ok(None)
    };
    let mut response = match found {
        Ok(Some(record)) => {
            let content_type = HeaderValue::from_str(&record.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(super::service::IMMUTABLE),
                    ),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static("default-src 'none'"),
                    ),
                ],
                record.bytes,
            )
                .into_response()
        }
        Ok(None) => Error::not_found("unknown_avatar", format!("there is no picture {hash:?}"))
            .into_response(),
        Err(e) => Error::from(e).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
