//! HTTP handlers, one module per resource, merged once here.

mod accounts;
mod agents;
mod app;
mod avatars;
mod conversations;
mod cors;
mod groups;
mod me;
mod office_hours;
mod openapi;
mod push;
mod service;
mod sessions;
mod status;
mod webhooks;

pub(crate) use accounts::{
    NewAccount, NewOwner, account_wire, create_account, new_account_records,
};
pub(crate) use service::{prepare_assets, widget_built};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{BODY_LIMIT, Error};

/// Every route, each with its entry in the API reference.
fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(me::router())
        .merge(avatars::router())
        .merge(push::router())
        .merge(agents::router())
        .merge(groups::router())
        .merge(office_hours::router())
        .merge(status::router())
        .merge(conversations::router())
        .merge(webhooks::router())
        .routes(routes!(openapi::serve));
    OpenApiRouter::with_openapi(openapi::base())
        .nest("/api/v1", api)
        .merge(service::router())
        .merge(app::router())
}

/// The API reference: every route's operation, with the errors they share.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    openapi::complete(routes().split_for_parts().1)
}

pub(crate) fn router(state: AppState) -> Router {
    let (router, doc) = routes().split_for_parts();
    openapi::keep(&openapi::complete(doc));
    router
        .fallback(|| async { Error::not_found("not_found", "there is nothing at this path") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(
            // Spans carry the path only: a query may hold `access_token`.
            // An event stream's span lives as long as the stream; at debug
            // level it costs nothing unless asked for (docs/streams.md).
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request.uri().path();
                if path.ends_with("/events") {
                    tracing::debug_span!("stream", method = %request.method(), path = %path)
                } else {
                    tracing::info_span!("request", method = %request.method(), path = %path)
                }
            }),
        )
        .with_state(state)
}

/// Rejections axum answers itself before a handler runs (a path segment
/// that is not UTF-8, say) come as plain text; they are turned into the
/// error shape every other answer has (`invalid_path`, or `invalid_request`),
/// readable cross-origin like the public routes' answers.
async fn json_rejections(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let from_a_page = request.headers().contains_key(header::ORIGIN);
    let response = next.run(request).await;
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain_text {
        return response;
    }
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let code = if text.starts_with("Invalid URL") {
        "invalid_path"
    } else {
        "invalid_request"
    };
    let mut answer = Error::bad_request(code, text).into_response();
    *answer.status_mut() = status;
    if from_a_page {
        answer.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            axum::http::HeaderValue::from_static("*"),
        );
    }
    answer
}

/// The account named by the path's `{account}`, for an admin of it: 401
/// without a valid token, 404 for an unknown account, 403 for an agent who is
/// not an admin of it. An extractor, so it answers before the body is read.
#[derive(Debug)]
pub(crate) struct Admin(pub(crate) std::sync::Arc<crate::hub::AccountLive>);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Error> {
        account_for(parts, state, crate::auth::AgentAuth::require_admin_of)
            .await
            .map(Admin)
    }
}

/// The account named by the path's `{account}`, for any agent of it (an
/// admin or not): 401 without a valid token, 404 for an unknown account,
/// 403 `wrong_account` for an agent of another account. For what every
/// agent may read, such as the names of the account's groups.
#[derive(Debug)]
pub(crate) struct Member(pub(crate) std::sync::Arc<crate::hub::AccountLive>);

impl axum::extract::FromRequestParts<AppState> for Member {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Error> {
        account_for(parts, state, crate::auth::AgentAuth::require_member_of)
            .await
            .map(Member)
    }
}

/// The path's account, for the agent of the request's token if `allowed`.
async fn account_for(
    parts: &mut axum::http::request::Parts,
    state: &AppState,
    allowed: fn(&crate::auth::AgentAuth, &crate::hub::AccountLive) -> Result<(), Error>,
) -> Result<std::sync::Arc<crate::hub::AccountLive>, Error> {
    use axum::extract::FromRequestParts as _;
    let auth = crate::auth::AgentAuth::from_request_parts(parts, state).await?;
    let live = path_account(parts, state).await?;
    allowed(&auth, &live)?;
    // In a cluster another node may have changed the account a moment
    // ago; administration reads and writes what the store holds.
    if state.hub.cluster.is_some() {
        state.hub.cluster_reload(&live).await?;
    }
    Ok(live)
}

/// The account of the path's `{account}`.
async fn path_account(
    parts: &mut axum::http::request::Parts,
    state: &AppState,
) -> Result<std::sync::Arc<crate::hub::AccountLive>, Error> {
    use axum::extract::FromRequestParts as _;
    let params = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::bad_request("invalid_path", e.body_text()))?;
    let slug = params
        .iter()
        .find_map(|(name, value)| (name == "account").then_some(value))
        .ok_or_else(|| Error::Internal("an account route without {account}".into()))?;
    state.hub.account(slug).await
}

/// The client's address: the peer of the TCP connection, or behind a
/// trusted proxy what `X-Forwarded-For` says (see `proxies`). Requests that
/// did not come over a connection (the demo seeding calls the router
/// directly) share the unspecified address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(
                std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                |info| info.0.ip(),
            );
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(ClientAddr(
            state.config.trusted_proxies.client(peer, forwarded),
        ))
    }
}

/// Field rules shared by several resources.
pub(crate) mod validate {
    use std::collections::BTreeMap;

    use onair_shared::wire::{Lang, LocalText};

    use crate::error::{Error, Result};

    /// A display name: 1–200 characters after trimming.
    pub(crate) fn name(field: &'static str, value: &str) -> Result<String> {
        let trimmed = value.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > 200 || trimmed.chars().any(char::is_control) {
            return Err(Error::bad_request(
                format!("invalid_{field}"),
                format!("{field} must be 1 to 200 characters without control characters"),
            ));
        }
        Ok(trimmed.to_owned())
    }

    pub(crate) fn email(value: &str) -> Result<String> {
        let email = value.trim().to_lowercase();
        if !onair_shared::validate::is_plausible_email(&email) {
            return Err(Error::bad_request(
                "invalid_email",
                format!("{value:?} is not an email address"),
            ));
        }
        Ok(email)
    }

    pub(crate) fn timezone(value: &str) -> Result<String> {
        if value.is_empty() || jiff::tz::TimeZone::get(value).is_err() {
            return Err(Error::bad_request(
                "invalid_timezone",
                format!("{value:?} is not an IANA timezone such as \"Europe/Prague\""),
            ));
        }
        Ok(value.to_owned())
    }

    pub(crate) fn key(field: &'static str, value: &str) -> Result<String> {
        if !onair_shared::validate::is_valid_key(value) {
            return Err(Error::bad_request(
                format!("invalid_{field}"),
                format!("{field} {value:?} must be 1 to 64 of a-z, 0-9 and -"),
            ));
        }
        Ok(value.to_owned())
    }

    /// The most characters of an account's message or automatic reply.
    const MAX_MESSAGE_CHARS: usize = 1000;

    /// A message shown to visitors: at most 1000 characters.
    pub(crate) fn message(field: &'static str, value: &str) -> Result<String> {
        if value.chars().count() > MAX_MESSAGE_CHARS {
            return Err(Error::bad_request(
                format!("invalid_{field}"),
                format!("{field} is longer than 1000 characters"),
            ));
        }
        Ok(value.to_owned())
    }

    /// A text for visitors, in every language or per language (docs/status.md):
    /// `null` or `{}` (none of the account's own), a string, or an object of
    /// chat box languages and strings.
    pub(crate) fn local_text(
        field: &'static str,
        value: Option<&serde_json::Value>,
    ) -> Result<Option<LocalText>> {
        let invalid = |message: String| Error::bad_request(format!("invalid_{field}"), message);
        let languages = || Lang::ALL.map(Lang::as_str).join(", ");
        match value {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => {
                Ok(Some(LocalText::All(message(field, text)?)))
            }
            Some(serde_json::Value::Object(texts)) => {
                let mut by_lang = BTreeMap::new();
                for (code, text) in texts {
                    let lang = Lang::parse(code).ok_or_else(|| {
                        invalid(format!(
                            "{field} has {code:?}, which is not a chat box language ({})",
                            languages()
                        ))
                    })?;
                    let serde_json::Value::String(text) = text else {
                        return Err(invalid(format!("{field}.{code} must be a string")));
                    };
                    if text.chars().count() > MAX_MESSAGE_CHARS {
                        return Err(invalid(format!(
                            "{field}.{code} is longer than {MAX_MESSAGE_CHARS} characters"
                        )));
                    }
                    by_lang.insert(lang, text.clone());
                }
                Ok((!by_lang.is_empty()).then_some(LocalText::PerLanguage(by_lang)))
            }
            Some(_) => Err(invalid(format!(
                "{field} must be a string, an object of strings by language ({}), or null",
                languages()
            ))),
        }
    }
}
