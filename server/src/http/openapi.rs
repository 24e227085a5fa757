//! The API reference, generated from the handlers: `GET /api/v1/openapi.json`
//! (docs/api.md).
//!
//! Every handler carries a `#[utoipa::path]` with what is particular to it
//! (its body, its answer, the errors only it gives) and is routed through
//! `utoipa_axum::routes!`, so a route cannot exist without its entry: the
//! path and method axum serves are the ones the document names. What every
//! operation of a kind has in common is added here once, in [`Common`]: the
//! error answers of the shared extractors (a path segment that is not UTF-8,
//! a malformed body, a missing token, a full disk, an internal error) and the
//! security schemes.

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use onair_shared::wire::ErrorBody;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as _};

/// The document's fixed part; the paths come from the routers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "onair",
        description = "Live-chat status: the public status and conversation routes a chat box \
                       uses, and the agents' and admins' routes. Every error answers \
                       `{\"error\": {\"code\", \"message\"}}`; docs/api.md in the repository \
                       explains the conventions.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "status", description = "What a chat box shows (public)."),
        (name = "visitor", description = "A visitor's conversation (public, with the visitor token)."),
        (name = "sessions", description = "Logging in and out."),
        (name = "me", description = "The agent behind the token."),
        (name = "conversations", description = "The agent's inbox."),
        (name = "accounts", description = "An account's settings (operator, admins)."),
        (name = "agents", description = "An account's agents (admins)."),
        (name = "groups", description = "Groups and office hours (admins)."),
        (name = "webhooks", description = "Webhooks (admins)."),
        (name = "service", description = "Health, metrics, the reference, pages and assets."),
    )
)]
pub(crate) struct ApiDoc;

/// The name of the bearer scheme in `security(...)` of the handlers.
pub(crate) const BEARER: &str = "bearer";
/// `?access_token=`, accepted by the agent's event stream alone.
pub(crate) const QUERY_TOKEN: &str = "access_token";

/// Adds what operations of a kind share.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from POST /accounts/{account}/sessions, or on \
                         POST /accounts the operator token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            QUERY_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                QUERY_TOKEN,
                "A session token in the URL, for EventSource, which cannot send headers",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::OPTIONS, &mut item.options),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    add_shared_errors(&method, operation);
                }
            }
        }
    }
}

fn add_shared_errors(method: &Method, operation: &mut Operation) {
    let has = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let in_path = has(ParameterIn::Path);
    let in_query = has(ParameterIn::Query);
    let body = operation.request_body.is_some();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let writes = !matches!(*method, Method::GET | Method::OPTIONS | Method::HEAD);
    // A response object needs a description; a handler's success answer
    // often has nothing to add to its status.
    for (status, response) in &mut operation.responses.responses {
        if let RefOr::T(response) = response {
            if response.description.is_empty() {
                response.description = match status.as_str() {
                    "201" => "Created",
                    "204" => "Done",
                    _ => "OK",
                }
                .to_owned();
            }
        }
    }
    let mut add = |status: u16, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if in_path || in_query || body {
        add(
            400,
            "Bad input: `invalid_path` (a path segment that is not UTF-8), `invalid_query`, \
             `malformed_json`, `unknown_field`, `missing_field`, `invalid_<field>`",
        );
    }
    if body {
        add(413, "`payload_too_large`: the body is over 16 KiB");
    }
    if secured {
        add(
            401,
            "`missing_credentials` or `invalid_token`: no session, or not a valid one",
        );
    }
    if in_path {
        add(
            404,
            "An unknown account, agent, group, conversation or webhook",
        );
    }
    add(
        500,
        "`internal_error`: logged in full, answered without detail",
    );
    add(
        503,
        if writes {
            "`storage_full` (the disk is full: reads go on, writes wait), `server_busy` or \
             `too_many_connections`; try again after `Retry-After`"
        } else {
            "`too_many_connections`; try again after `Retry-After`"
        },
    );
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The whole document, serialised once (every router makes the same).
static DOCUMENT: OnceLock<Bytes> = OnceLock::new();

/// The document's first part, before the routers add their paths.
pub(crate) fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// The routers' document with what operations of a kind share.
pub(crate) fn complete(mut doc: OpenApi) -> OpenApi {
    Common.modify(&mut doc);
    doc
}

/// Keeps the document for [`serve`].
pub(crate) fn keep(doc: &OpenApi) {
    let _ = DOCUMENT
        .get_or_init(|| Bytes::from(serde_json::to_vec(doc).expect("the API document serialises")));
}

/// The API reference as JSON: every route, its bodies, answers and errors.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
)]
pub(crate) async fn serve() -> Response {
    let body = DOCUMENT.get().cloned().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

/// `{account}` in a path.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct AccountSlug {
    /// The account's slug, as in the chat box's script tag.
    account: String,
}

/// `{account}` and `{id}` of an agent.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct AgentPath {
    /// The account's slug.
    account: String,
    /// The agent's id.
    id: String,
}

/// `{account}` and `{key}` of a group.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct GroupPath {
    /// The account's slug.
    account: String,
    /// The group's key, as in `data-group` of the chat box.
    key: String,
}

/// `{account}` and `{id}` of a webhook.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct WebhookPath {
    /// The account's slug.
    account: String,
    /// The webhook's id.
    id: String,
}

/// `{account}` and `{id}` of a visitor's conversation.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct VisitorConversationPath {
    /// The account's slug.
    account: String,
    /// The conversation's id.
    id: String,
}

/// `{id}` of a conversation in the agent's account.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ConversationPath {
    /// The conversation's id.
    id: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use serde_json::Value;

    const METHODS: [&str; 6] = ["get", "put", "post", "delete", "options", "patch"];

    fn document() -> Value {
        serde_json::to_value(super::super::document()).expect("JSON")
    }

    fn http_sources() -> Vec<(String, String)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut sources: Vec<_> = std::fs::read_dir(&dir)
            .expect("src/http")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .map(|path| {
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read_to_string(&path).expect("source"))
            })
            .collect();
        sources.sort();
        assert!(sources.len() >= 10, "the handler modules: {sources:?}");
        sources
    }

    /// A route added with axum's own `route` method would be served without
    /// an entry in the reference; `.routes(routes!(…))` takes both from the
    /// handler's `#[utoipa::path]`. So no handler module may call `route`,
    /// `route_service` or `nest_service`, and every handler a `routes!`
    /// names has its entry.
    #[test]
    fn every_route_is_in_the_document() {
        let mut routed = BTreeSet::new();
        for (file, source) in http_sources() {
            // The code, not its tests (this one names what it looks for).
            let source = source.split("#[cfg(test)]").next().unwrap_or_default();
            for raw in ["route", "route_service", "nest_service"] {
                let call = format!(".{raw}(");
                assert!(
                    !source.contains(&call),
                    "{file} adds a route with `{call}`, which leaves it out of the API \
                     reference: use `.routes(routes!(handler))` with a #[utoipa::path]"
                );
            }
            let mut rest = source;
            let opening = ".routes(routes!(";
            while let Some(at) = rest.find(opening) {
                let inner = &rest[at + opening.len()..];
                let end = inner.find(')').expect("routes!(…)");
                let handlers = inner[..end].split(',').map(str::trim).filter(|h| {
                    !h.is_empty()
                        && h.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                routed.extend(handlers.map(|h| format!("{file}: {h}")));
                rest = &inner[end..];
            }
        }
        let doc = document();
        let operations: BTreeSet<String> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| {
                METHODS
                    .iter()
                    .filter_map(|m| item.get(*m))
                    .map(|op| op["operationId"].as_str().expect("operationId").to_owned())
            })
            .collect();
        // Each handler's operation: its operation_id, or its name by default.
        assert!(routed.len() >= 60, "handlers routed: {routed:?}");
        assert_eq!(
            operations.len(),
            routed.len(),
            "one operation per routed handler: {operations:?} against {routed:?}"
        );
        for path in [
            "/api/v1/openapi.json",
            "/api/v1/me/status",
            "/healthz",
            "/widget.js",
        ] {
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} is in the document"
            );
        }
    }

    /// What a client of the document relies on: unique operation ids, every
    /// `{name}` of a path declared as a path parameter, a description on
    /// every answer, every error answer in the one error shape, and every
    /// operation with an error answer for bad input or an internal error.
    #[test]
    fn every_operation_is_complete() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let names: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let id = op["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().expect("name"))
                    .collect();
                assert_eq!(declared, names, "{method} {path}: its path parameters");
                let responses = op["responses"].as_object().expect("responses");
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path} has a success answer"
                );
                assert!(responses.contains_key("500"), "{method} {path}: 500");
                for (status, response) in responses {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}: a description"
                    );
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}: the error shape"
                        );
                    }
                }
                if op.get("requestBody").is_some() || !names.is_empty() {
                    assert!(responses.contains_key("400"), "{method} {path}: 400");
                }
                if op.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path}: 401");
                }
            }
        }
    }

    /// `docs/openapi.json` is the reference as the code makes it: rewrite it
    /// with `cargo run -p onair-server -- openapi > docs/openapi.json`.
    #[test]
    fn the_document_in_docs_is_current() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed.trim_end() == crate::openapi_json().trim_end(),
            "docs/openapi.json differs from the code's document: run \
             `cargo run -p onair-server -- openapi > docs/openapi.json`"
        );
    }
}

/// Event names of `GET …/status/events`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum StatusEventName {
    /// `data`: a StatusSnapshot; `id`: its version.
    Status,
}

/// One event of a chat box's status stream: `event: status`, `id:` the
/// snapshot's version (for Last-Event-ID), `data:` the StatusSnapshot as JSON.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct StatusStreamEvent {
    event: StatusEventName,
    id: Option<String>,
    /// A StatusSnapshot, as JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// Event names of `GET /me/events`.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum AgentEventName {
    /// `data`: the agent with its sessions (Me), on connect and when it or one of its devices changes.
    Agent,
    /// `data`: the site's status and every group's, on connect and when one changes.
    Site,
    /// `data`: a Conversation that started or changed state.
    Conversation,
    /// `data`: a Message of a conversation the agent may answer.
    Message,
    /// `data`: `{conversation_id, author, name}`: someone is typing.
    Typing,
    /// `data`: `{id}`: an admin erased the conversation.
    ConversationErased,
}

/// One event of the agent's stream; `data` is JSON.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct AgentStreamEvent {
    event: AgentEventName,
    id: Option<String>,
    /// The event's object, as JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// Event names of a visitor's conversation stream.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum VisitorEventName {
    /// `data`: the Conversation, on connect and when its state changes.
    Conversation,
    /// `data`: a Message; `id`: its seq (for Last-Event-ID).
    Message,
    /// `data`: `{conversation_id, author, name}`: an agent is typing.
    Typing,
    /// `data`: `{id}`: the conversation was erased; the stream ends.
    ConversationErased,
}

/// One event of a visitor's conversation stream; `data` is JSON.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct VisitorStreamEvent {
    event: VisitorEventName,
    id: Option<String>,
    /// The event's object, as JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
}
