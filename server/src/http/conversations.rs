//! Conversations (docs/conversations.md). Visitors, with their visitor token as the
//! capability: start one, add messages, follow it live (CORS like the public
//! status routes). Agents, for their own account only: the inbox, one
//! conversation, replies, closing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use onair_shared::conversation::{MAX_TEXT_CHARS, message_text};
use onair_shared::wire::{self, ConversationState, Delivery, ErrorBody, Lang};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ClientAddr;
use super::cors::with_cors;
use super::validate;
use crate::AppState;
use crate::auth::{self, AgentAuth};
use crate::conversations::{self as live_conversations, NewConversation};
use crate::error::{ApiJson, Error, Result};
use crate::hub::{AccountLive, Hub, MessageCount, TokenHash};
use crate::metrics::StreamGauge;
use crate::sse;
use crate::store::{ConversationFilter, ConversationRecord, MessageRecord};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start, visitor_start_preflight))
        .routes(routes!(visitor_message, visitor_messages_preflight))
        .routes(routes!(visitor_events, visitor_events_preflight))
        .routes(routes!(
            visitor_conversation,
            visitor_conversation_preflight
        ))
        .routes(routes!(visitor_typing, visitor_typing_preflight))
        .routes(routes!(list))
        .routes(routes!(show, erase))
        .routes(routes!(export))
        .routes(routes!(reply))
        .routes(routes!(close))
        .routes(routes!(agent_typing))
}

/// The shortest visitor token: 22 base64url characters hold 132 bits.
const MIN_TOKEN_CHARS: usize = 22;
const MAX_TOKEN_CHARS: usize = 256;
/// The longest visitor name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// `GET /conversations` answers this many unless asked for fewer or more.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

// ---------------------------------------------------------------------------
// Visitors

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// 22 to 256 of `A-Za-z0-9_-`: 128 random bits or more, made by the chat box.
    #[schema(pattern = "^[A-Za-z0-9_-]{22,256}$")]
    visitor_token: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// 1 to 4000 characters, not counting surrounding spaces; plain text.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
    /// The chat box language, for the default automatic replies.
    #[serde(default)]
    lang: Option<Lang>,
    /// The page the visitor writes from.
    #[serde(default)]
    page: Option<PageBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PageBody {
    url: String,
    #[serde(default)]
    title: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VisitorMessageBody {
    /// 22 to 256 of `A-Za-z0-9_-`: 128 random bits or more, made by the chat box.
    #[schema(pattern = "^[A-Za-z0-9_-]{22,256}$")]
    visitor_token: String,
    /// 1 to 4000 characters, not counting surrounding spaces; plain text.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/conversations",
    tag = "visitor",
    operation_id = "start_conversation",
    summary = "A visitor writes: a new conversation with its first message",
    params(super::openapi::AccountSlug),
    request_body = StartBody,
    responses(
        (status = 201, body = wire::ConversationStarted),
        (status = 400, description = "`missing_email`: the scope is offline and the message needs an email to be answered; or a bad field (`invalid_visitor_token`, `invalid_text`, `invalid_page`, …)", body = ErrorBody),
        (status = 404, description = "`unknown_account` or `unknown_group`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many messages from this visitor or address; try again after `Retry-After`", body = ErrorBody),
    ),
)]
async fn start(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    // Taken as a result so that a bad body, too, is answered with CORS headers.
    body: Result<ApiJson<StartBody>, Error>,
) -> Response {
    let hub = &state.hub;
    with_cors(&state, &slug, &headers, |live| async move {
        let ApiJson(body) = body?;
        let token_hash = visitor_token(&body.visitor_token)?;
        let text = text(&body.text)?;
        let name = visitor_name(body.name.as_deref())?;
        let page = body.page.map(page).transpose()?;
        let email = body
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(validate::email)
            .transpose()?;
        let group = body.group.filter(|g| !g.is_empty());
        // Answered before the rate limit counts the message: the widget's
        // second try, with an email, is the one that counts.
        let delivery = live_conversations::delivery_now(hub, &live, group.as_deref())?;
        if delivery == Delivery::Offline && email.is_none() {
            return Err(live_conversations::missing_email());
        }
        let counted = rate_limit(hub, &token_hash, address).await?;
        let new = NewConversation {
            group,
            name,
            email,
            lang: body.lang,
            page,
            token_hash,
            text,
        };
        let started = accepted(
            hub,
            counted,
            live_conversations::start(hub, &live, new).await,
        )
        .await?;
        Ok((StatusCode::CREATED, axum::Json(started)).into_response())
    })
    .await
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/conversations/{id}/messages",
    tag = "visitor",
    operation_id = "visitor_message",
    summary = "A visitor's next message",
    params(super::openapi::VisitorConversationPath),
    request_body = VisitorMessageBody,
    responses(
        (status = 201, body = wire::VisitorMessagePosted),
        (status = 404, description = "`unknown_conversation`, also for a visitor token that is not the conversation's", body = ErrorBody),
        (status = 409, description = "`conversation_closed`: start a new one", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many messages from this visitor or address; try again after `Retry-After`", body = ErrorBody),
    ),
)]
async fn visitor_message(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Result<ApiJson<VisitorMessageBody>, Error>,
) -> Response {
    let hub = &state.hub;
    with_cors(&state, &slug, &headers, |live| async move {
        let ApiJson(body) = body?;
        let token_hash = visitor_token(&body.visitor_token)?;
        let text = text(&body.text)?;
        let counted = rate_limit(hub, &token_hash, address).await?;
        let posted = live_conversations::visitor_message(hub, &live, &id, &token_hash, text).await;
        let posted = accepted(hub, counted, posted).await?;
        Ok((StatusCode::CREATED, axum::Json(posted)).into_response())
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VisitorTypingBody {
    /// 22 to 256 of `A-Za-z0-9_-`: 128 random bits or more, made by the chat box.
    #[schema(pattern = "^[A-Za-z0-9_-]{22,256}$")]
    visitor_token: String,
}

/// The visitor is typing: 204, passed to agents at most once a second.
#[utoipa::path(
    post,
    path = "/accounts/{account}/conversations/{id}/typing",
    tag = "visitor",
    operation_id = "visitor_typing",
    summary = "The visitor is typing: passed to agents at most once a second, never stored",
    params(super::openapi::VisitorConversationPath),
    request_body = VisitorTypingBody,
    responses(
        (status = 204, description = "Passed on (or dropped as too soon after the last)"),
        (status = 404, description = "`unknown_conversation`", body = ErrorBody),
        (status = 409, description = "`conversation_closed`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
    ),
)]
async fn visitor_typing(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<ApiJson<VisitorTypingBody>, Error>,
) -> Response {
    let hub = &state.hub;
    with_cors(&state, &slug, &headers, |live| async move {
        let ApiJson(body) = body?;
        let token_hash = visitor_token(&body.visitor_token)?;
        live_conversations::visitor_typing(hub, &live, &id, &token_hash).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `?visitor_token=`'s hash; `400 invalid_visitor_token` without one.
fn visitor_token_in(query: &HashMap<String, String>) -> Result<TokenHash> {
    let token = query.get("visitor_token").ok_or_else(|| {
        Error::bad_request(
            "invalid_visitor_token",
            "add ?visitor_token= with the token the conversation was started with",
        )
    })?;
    visitor_token(token)
}

/// The conversation `id` with its messages after `after`, if `token_hash` is
/// its visitor's; else `404 unknown_conversation`, as if there were none.
async fn visitors_conversation(
    hub: &Hub,
    account_id: &str,
    id: &str,
    token_hash: &TokenHash,
    after: u64,
) -> Result<(ConversationRecord, Vec<MessageRecord>)> {
    hub.store
        .conversation_with_messages(account_id, id, after)
        .await?
        .filter(|(c, _)| live_conversations::token_matches(&c.visitor_token_hash, token_hash))
        .ok_or_else(|| live_conversations::unknown_conversation(id))
}

/// A visitor's conversation with its messages, read once: what a chat box
/// shows of an earlier, closed conversation above the current one after a
/// page load (docs/conversations.md). The same token as for the stream.
#[utoipa::path(
    get,
    path = "/accounts/{account}/conversations/{id}",
    tag = "visitor",
    operation_id = "visitor_conversation",
    summary = "The visitor's conversation and its messages",
    params(super::openapi::VisitorConversationPath,
        ("visitor_token" = String, Query, pattern = "^[A-Za-z0-9_-]{22,256}$", description = "The token the conversation was started with")),
    responses(
        (status = 200, body = wire::ConversationWithMessages),
        (status = 404, description = "`unknown_conversation`: none with this id and token", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
    ),
)]
async fn visitor_conversation(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let hub = Arc::clone(&state.hub);
    with_cors(&state, &slug, &headers, |live| async move {
        let query = query_params(&uri)?;
        let token_hash = visitor_token_in(&query)?;
        let (conversation, messages) =
            visitors_conversation(&hub, &live.id, &id, &token_hash, 0).await?;
        let body = with_messages(&conversation, &messages, &live);
        Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
    })
    .await
}

/// The visitor's stream: `event: conversation` (now, and when its state
/// changes) and `event: message` with the message's `seq` as id — the history
/// after `Last-Event-ID` (or `?last_event_id=`, for a new `EventSource`) at
/// once, then every new message.
#[utoipa::path(
    get,
    path = "/accounts/{account}/conversations/{id}/events",
    tag = "visitor",
    operation_id = "visitor_events",
    summary = "The visitor's stream: `conversation`, `message` (history after Last-Event-ID, then live), `typing`",
    params(super::openapi::VisitorConversationPath,
        ("visitor_token" = String, Query, pattern = "^[A-Za-z0-9_-]{22,256}$", description = "The token the conversation was started with"),
        ("last_event_id" = Option<u64>, Query, description = "For a new EventSource: the last message seq seen (the Last-Event-ID header wins)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The last message seq seen")),
    responses(
        (status = 200, description = "Server-sent events (each one as the schema says), kept alive with comments", content_type = "text/event-stream", body = super::openapi::VisitorStreamEvent),
        (status = 404, description = "`unknown_conversation`", body = ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not in the account's `allowed_origins`", body = ErrorBody),
    ),
)]
async fn visitor_events(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let hub = Arc::clone(&state.hub);
    let headers = &headers;
    with_cors(&state, &slug, headers, |live| async move {
        let query = query_params(&uri)?;
        let token_hash = visitor_token_in(&query)?;
        let after = last_event_id(headers, &query);
        let gauge = StreamGauge::conversation(&hub.metrics)?;
        // Subscribe first, then read: a message stored meanwhile is in both,
        // and its seq drops the live copy (visitor_events).
        let subscription = live_conversations::subscribe_visitor(&live, &id);
        let (conversation, history) =
            visitors_conversation(&hub, &live.id, &id, &token_hash, after).await?;
        let counted = live_conversations::count_visitor_stream(&hub, &id).await;
        let replayed = history.last().map_or(after, |m| m.seq);
        let mut initial = Vec::with_capacity(history.len() + 2);
        initial.push(sse::RETRY);
        initial.push(sse::frame(
            "conversation",
            None,
            &live_conversations::view(&conversation),
        ));
        initial.extend(history.iter().map(|m| {
            sse::frame(
                "message",
                Some(m.seq),
                &live_conversations::message_view(m, &live),
            )
        }));
        let feeds = sse::Feeds {
            events: Some(live_conversations::visitor_events(subscription, replayed)),
            ..sse::Feeds::default()
        };
        let stream = sse::stream(
            initial,
            feeds,
            None,
            hub.signals(),
            Arc::clone(&hub.metrics),
            (gauge, counted),
        );
        Ok(sse::response(stream))
    })
    .await
}

super::cors::preflight_route!(
    visitor_start_preflight,
    "visitor",
    "/accounts/{account}/conversations",
    super::openapi::AccountSlug,
    "POST, OPTIONS"
);
super::cors::preflight_route!(
    visitor_messages_preflight,
    "visitor",
    "/accounts/{account}/conversations/{id}/messages",
    super::openapi::VisitorConversationPath,
    "GET, POST, OPTIONS"
);
super::cors::preflight_route!(
    visitor_conversation_preflight,
    "visitor",
    "/accounts/{account}/conversations/{id}",
    super::openapi::VisitorConversationPath,
    "GET, OPTIONS"
);
super::cors::preflight_route!(
    visitor_events_preflight,
    "visitor",
    "/accounts/{account}/conversations/{id}/events",
    super::openapi::VisitorConversationPath,
    "GET, POST, OPTIONS"
);
super::cors::preflight_route!(
    visitor_typing_preflight,
    "visitor",
    "/accounts/{account}/conversations/{id}/typing",
    super::openapi::VisitorConversationPath,
    "GET, POST, OPTIONS"
);

/// At least 22 and at most 256 of `[A-Za-z0-9_-]` (≥ 128 bits when random).
fn visitor_token(token: &str) -> Result<TokenHash> {
    let chars = token.len();
    let shape = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&chars) || !shape {
        return Err(Error::bad_request(
            "invalid_visitor_token",
            format!(
                "visitor_token must be {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} of A-Z, a-z, 0-9, - and _ (128 random bits or more)"
            ),
        ));
    }
    Ok(auth::token_hash(token))
}

fn text(value: &str) -> Result<String> {
    message_text(value).map(str::to_owned).ok_or_else(|| {
        Error::bad_request(
            "invalid_text",
            format!(
                "text must be 1 to {MAX_TEXT_CHARS} characters, not counting surrounding spaces"
            ),
        )
    })
}

/// The longest page URL and title, in characters.
const MAX_URL_CHARS: usize = 2048;
const MAX_TITLE_CHARS: usize = 300;

/// An `http` or `https` URL of at most 2048 characters, and a title of at most 300 (a longer
/// one is cut: titles are the page's, not the visitor's, to fix); no control characters.
fn page(body: PageBody) -> Result<wire::Page> {
    let url = body.url.trim();
    let scheme_ok = url.split_once("://").is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
    });
    if !scheme_ok
        || url.chars().count() > MAX_URL_CHARS
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::bad_request(
            "invalid_page",
            format!("page.url must be an http or https URL of at most {MAX_URL_CHARS} characters"),
        ));
    }
    let title = body
        .title
        .map(|title| {
            title
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_TITLE_CHARS)
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|title| !title.is_empty());
    Ok(wire::Page {
        url: url.to_owned(),
        title,
    })
}

/// Optional; empty means none.
fn visitor_name(value: Option<&str>) -> Result<Option<String>> {
    let Some(name) = value.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_name",
            format!("name must be at most {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(Some(name.to_owned()))
}

async fn rate_limit(hub: &Hub, token_hash: &TokenHash, address: IpAddr) -> Result<MessageCount> {
    hub.check_message_limit(token_hash, address)
        .await
        .map_err(|retry| Error::RateLimited {
            code: "rate_limited",
            message: "too many messages",
            retry_after: retry.0,
        })
}

/// Only accepted messages count against the limits: a message whose write
/// failed (or that was refused after counting) gives its place back.
async fn accepted<T>(hub: &Hub, counted: MessageCount, outcome: Result<T>) -> Result<T> {
    if outcome.is_err() {
        hub.release_message(counted).await;
    }
    outcome
}

fn query_params(uri: &Uri) -> Result<HashMap<String, String>> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|Query(params)| params)
        .map_err(|e| Error::bad_request("invalid_query", e.body_text()))
}

/// The seq to resume after: the `Last-Event-ID` header an `EventSource` sends
/// when it reconnects, else `?last_event_id=`; 0 (everything) when neither is
/// a number.
fn last_event_id(headers: &HeaderMap, query: &HashMap<String, String>) -> u64 {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    header
        .or_else(|| {
            query
                .get("last_event_id")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Agents

/// `GET /conversations?group=&state=&limit=`: the account's conversations,
/// newest message first. Every agent of the account sees all of them (the
/// live events are what goes to a group's agents only).
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "conversations",
    operation_id = "list_conversations",
    summary = "The inbox: the account's conversations, newest first",
    params(("group" = Option<String>, Query, pattern = "^[a-z0-9-]{0,64}$", description = "Only this group's"),
        ("state" = Option<wire::ConversationState>, Query, description = "Only those in this state"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "At most this many (default 50)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::Conversations),
    ),
)]
async fn list(
    State(state): State<AppState>,
    auth: AgentAuth,
    uri: Uri,
) -> Result<axum::Json<wire::Conversations>> {
    let query = query_params(&uri)?;
    let group = query
        .get("group")
        .filter(|g| !g.is_empty())
        .map(|g| validate::key("group", g))
        .transpose()?;
    let state_filter = query
        .get("state")
        .filter(|s| !s.is_empty())
        .map(|s| {
            ConversationState::parse(s).ok_or_else(|| {
                Error::bad_request(
                    "invalid_state",
                    format!("state {s:?} is not one of open, offline, closed"),
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_limit",
                    format!("limit must be a number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let filter = ConversationFilter {
        group,
        state: state_filter,
        limit,
    };
    let records = state
        .hub
        .store
        .list_conversations(&auth.live.id, &filter)
        .await?;
    let ids: Vec<String> = records.iter().map(|c| c.id.clone()).collect();
    let mut last = state.hub.store.last_messages(&ids).await?;
    Ok(axum::Json(wire::Conversations {
        conversations: records
            .iter()
            .map(|record| wire::ConversationSummary {
                conversation: live_conversations::view(record),
                last_message: last
                    .remove(&record.id)
                    .map(|m| wire::MessagePreview::of(m.author, &m.text, m.created_at)),
            })
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/conversations/{id}",
    tag = "conversations",
    operation_id = "show_conversation",
    summary = "One conversation with its messages",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::ConversationWithMessages),
    ),
)]
async fn show(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<wire::ConversationWithMessages>> {
    let (conversation, messages) = state
        .hub
        .store
        .conversation_with_messages(&auth.live.id, &id, 0)
        .await?
        .ok_or_else(|| live_conversations::unknown_conversation(&id))?;
    Ok(axum::Json(with_messages(
        &conversation,
        &messages,
        &auth.live,
    )))
}

/// `{conversation, messages}` as both the agent's and the visitor's read answer it.
fn with_messages(
    conversation: &ConversationRecord,
    messages: &[MessageRecord],
    live: &AccountLive,
) -> wire::ConversationWithMessages {
    wire::ConversationWithMessages {
        conversation: live_conversations::view(conversation),
        messages: messages
            .iter()
            .map(|m| live_conversations::message_view(m, live))
            .collect(),
    }
}

/// `DELETE /conversations/{id}` (admin): the conversation and its messages
/// are gone for good (docs/hardening.md).
#[utoipa::path(
    delete,
    path = "/conversations/{id}",
    tag = "conversations",
    operation_id = "erase_conversation",
    summary = "Erase a conversation and its messages for good (admins)",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Erased"),
        (status = 403, description = "`admin_required`: only admins erase and export", body = ErrorBody),
    ),
)]
async fn erase(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    auth.require_admin_of(&auth.live)?;
    live_conversations::erase(&state.hub, &auth.live, &id).await?;
    tracing::info!(account = %auth.live.slug, conversation = %id, "conversation erased");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /conversations/{id}/export` (admin): the conversation and all its
/// messages as one JSON document, to keep before an erasure.
#[utoipa::path(
    get,
    path = "/conversations/{id}/export",
    tag = "conversations",
    operation_id = "export_conversation",
    summary = "A conversation with its messages as a JSON download (admins)",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::ConversationWithMessages, description = "With `Content-Disposition: attachment`"),
        (status = 403, description = "`admin_required`: only admins erase and export", body = ErrorBody),
    ),
)]
async fn export(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<Response> {
    auth.require_admin_of(&auth.live)?;
    let (conversation, messages) = state
        .hub
        .store
        .conversation_with_messages(&auth.live.id, &id, 0)
        .await?
        .ok_or_else(|| live_conversations::unknown_conversation(&id))?;
    let document = wire::ConversationWithMessages {
        conversation: live_conversations::view(&conversation),
        messages: messages
            .iter()
            .map(|m| live_conversations::message_view(m, &auth.live))
            .collect(),
    };
    let disposition = format!("attachment; filename=\"conversation-{id}.json\"");
    let mut response = axum::Json(document).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    /// 1 to 4000 characters, not counting surrounding spaces; plain text.
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "reply",
    summary = "An agent's reply",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    request_body = ReplyBody,
    responses(
        (status = 201, body = wire::MessagePosted),
        (status = 409, description = "`conversation_closed`", body = ErrorBody),
    ),
)]
async fn reply(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, axum::Json<wire::MessagePosted>)> {
    let text = text(&body.text)?;
    let posted =
        live_conversations::agent_reply(&state.hub, &auth.live, &auth.agent_id, &id, text).await?;
    Ok((StatusCode::CREATED, axum::Json(posted)))
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/close",
    tag = "conversations",
    operation_id = "close_conversation",
    summary = "End a conversation; it takes no more messages",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::ConversationOnly),
    ),
)]
async fn close(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<wire::ConversationOnly>> {
    let conversation = live_conversations::close(&state.hub, &auth.live, &id).await?;
    Ok(axum::Json(wire::ConversationOnly { conversation }))
}

/// The agent is typing a reply: 204, passed to the visitor at most once a second.
#[utoipa::path(
    post,
    path = "/conversations/{id}/typing",
    tag = "conversations",
    operation_id = "agent_typing",
    summary = "The agent is typing: passed to the visitor at most once a second, never stored",
    params(super::openapi::ConversationPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Passed on (or dropped as too soon after the last)"),
        (status = 409, description = "`conversation_closed`", body = ErrorBody),
    ),
)]
async fn agent_typing(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    live_conversations::agent_typing(&state.hub, &auth.live, &auth.agent_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_tokens_need_22_url_safe_characters() {
        assert!(visitor_token("abcdefghijklmnopqrstuv").is_ok());
        assert!(visitor_token(&auth::new_token()).is_ok());
        assert!(visitor_token("A-_9".repeat(6).as_str()).is_ok());
        assert!(visitor_token("abcdefghijklmnopqrstu").is_err(), "21");
        assert!(visitor_token("abcdefghijklmnopqrstu=").is_err());
        assert!(visitor_token("abcdefghijklmnopqrstu é").is_err());
        assert!(visitor_token(&"a".repeat(257)).is_err());
    }

    #[test]
    fn last_event_id_prefers_the_header_and_ignores_what_is_not_a_number() {
        let query = |v: &str| HashMap::from([("last_event_id".to_owned(), v.to_owned())]);
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers, &HashMap::new()), 0);
        assert_eq!(last_event_id(&headers, &query("7")), 7);
        assert_eq!(last_event_id(&headers, &query("x")), 0);
        headers.insert("last-event-id", "12".parse().expect("header"));
        assert_eq!(last_event_id(&headers, &query("7")), 12);
        headers.insert("last-event-id", "nope".parse().expect("header"));
        assert_eq!(last_event_id(&headers, &query("7")), 7);
    }
}
