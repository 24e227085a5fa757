//! `/accounts/{account}/webhooks`: integrations told of conversations,
//! messages and status changes (docs/notifications.md, "Webhooks").

use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use onair_shared::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::AppState;
use crate::error::{ApiJson, Error, Result};
use crate::store::{WebhookAttempt, WebhookRecord};
use crate::webhooks::{self, Event};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
        .routes(routes!(deliveries))
}

/// A webhook as the API shows it. The secret is shown to admins every time:
/// they need it to check signatures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Webhook {
    id: String,
    url: String,
    events: Vec<String>,
    secret: String,
    created_at: Timestamp,
}

fn webhook_view(record: WebhookRecord) -> Webhook {
    Webhook {
        id: record.id,
        url: record.url,
        events: record.events,
        secret: record.secret,
        created_at: record.created_at,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Webhooks {
    webhooks: Vec<Webhook>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CreatedWebhook)]
struct Created {
    webhook: Webhook,
}

#[utoipa::path(
    get,
    path = "/accounts/{account}/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    summary = "The account's webhooks, with their signing secrets",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Webhooks),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn list(State(state): State<AppState>, Admin(live): Admin) -> Result<axum::Json<Webhooks>> {
    let webhooks = state.hub.store.webhooks(&live.id).await?;
    Ok(axum::Json(Webhooks {
        webhooks: webhooks.into_iter().map(webhook_view).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
}

/// The events asked for, known and without repeats, in the order of
/// [`Event::ALL`].
fn events(names: &[String]) -> Result<Vec<String>> {
    let known = || {
        Event::ALL
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err(Error::bad_request(
            "invalid_webhook_events",
            format!("events must name at least one of {}", known()),
        ));
    }
    let mut events = Vec::new();
    for name in names {
        let Some(event) = Event::parse(name) else {
            return Err(Error::bad_request(
                "invalid_webhook_events",
                format!("{name:?} is not an event; use {}", known()),
            ));
        };
        events.push(event);
    }
    events.sort();
    events.dedup();
    Ok(events.into_iter().map(|e| e.as_str().to_owned()).collect())
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    summary = "Add a webhook: events are POSTed to its URL, signed with its secret",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, body = Created),
        (status = 409, description = "`too_many_webhooks`", body = ErrorBody),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Admin(live): Admin,
    ApiJson(new): ApiJson<NewWebhook>,
) -> Result<(StatusCode, axum::Json<Created>)> {
    let events = events(&new.events)?;
    let url = state
        .hub
        .webhooks
        .check_url(&new.url)
        .await
        .map_err(|e| Error::bad_request("invalid_webhook_url", e.to_string()))?;
    // Messages read the account's webhooks under this lock: a webhook is
    // either there for a message or not, never half.
    let writer = state.hub.writer(&live).await;
    let store = &state.hub.store;
    if store.webhooks(&live.id).await?.len() >= webhooks::MAX_PER_ACCOUNT {
        return Err(Error::conflict(
            "too_many_webhooks",
            format!(
                "an account has at most {} webhooks; delete one first",
                webhooks::MAX_PER_ACCOUNT
            ),
        ));
    }
    let record = WebhookRecord {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: live.id.clone(),
        url,
        events,
        secret: webhooks::new_secret(),
        created_at: writer.now(),
    };
    store.create_webhook(&record).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Created {
            webhook: webhook_view(record),
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/accounts/{account}/webhooks/{id}",
    tag = "webhooks",
    operation_id = "remove_webhook",
    summary = "Remove a webhook; deliveries not yet made are dropped",
    params(super::openapi::WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let _writer = state.hub.writer(&live).await;
    if !state.hub.store.delete_webhook(&live.id, &id).await? {
        return Err(unknown_webhook(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One attempt of the delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
struct Delivery {
    /// The delivery's id: the body's `id`, the same on every attempt.
    id: String,
    event: String,
    attempted_at: Timestamp,
    /// `delivered`, `retrying` or `given_up`.
    #[schema(value_type = String)]
    result: &'static str,
    /// The receiver's HTTP status, when it answered.
    status: Option<u16>,
    error: Option<String>,
    next_attempt_at: Option<Timestamp>,
}

fn delivery_view(attempt: WebhookAttempt) -> Delivery {
    let result = match (&attempt.error, attempt.next_attempt_at) {
        (None, _) => "delivered",
        (Some(_), Some(_)) => "retrying",
        (Some(_), None) => "given_up",
    };
    Delivery {
        id: attempt.delivery_id,
        event: attempt.event,
        attempted_at: attempt.attempted_at,
        result,
        status: attempt.status,
        error: attempt.error,
        next_attempt_at: attempt.next_attempt_at,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Deliveries {
    deliveries: Vec<Delivery>,
}

/// The webhook's last attempts, newest first.
#[utoipa::path(
    get,
    path = "/accounts/{account}/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "webhook_deliveries",
    summary = "The webhook's last delivery attempts, newest first",
    params(super::openapi::WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Deliveries),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn deliveries(
    State(state): State<AppState>,
    Admin(live): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<Deliveries>> {
    let store = &state.hub.store;
    let known = store
        .webhook(&id)
        .await?
        .filter(|w| w.account_id == live.id);
    if known.is_none() {
        return Err(unknown_webhook(&id));
    }
    let attempts = store.webhook_attempts(&id, webhooks::LOG_KEPT).await?;
    Ok(axum::Json(Deliveries {
        deliveries: attempts.into_iter().map(delivery_view).collect(),
    }))
}

fn unknown_webhook(id: &str) -> Error {
    Error::not_found(
        "unknown_webhook",
        format!("there is no webhook {id:?} here"),
    )
}
