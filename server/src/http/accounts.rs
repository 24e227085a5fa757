//! `POST /accounts` (operator) and an account's settings (admin).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use onair_shared::conversation::AutoReply;
use onair_shared::model::{
    DEFAULT_BUSY_AFTER_SECONDS, MAX_GRACE_SECONDS, Settings, builtin_message,
};
use onair_shared::wire::{self, Lang, Role, Status};
use serde::{Deserialize, Serialize};

use super::{Admin, validate};
use crate::AppState;
use crate::auth;
use crate::error::{ApiJson, Error, Result};
use crate::hub::{Hub, Inner};
use crate::store::{AccountRecord, AgentRecord};
use onair_shared::wire::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show, update))
}

/// The body of `POST /accounts`, also what `onair account create` and the
/// demo seed build.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    pub(crate) slug: String,
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    pub(crate) timezone: String,
    pub(crate) owner: NewOwner,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOwner {
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub(crate) name: String,
    pub(crate) email: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub(crate) password: String,
}

impl std::fmt::Debug for NewOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOwner")
            .field("name", &self.name)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CreatedAccount)]
struct Created {
    account: wire::Account,
    owner: wire::Agent,
}

/// Validates and creates an account with its owner (an admin agent).
pub(crate) async fn create_account(
    hub: &Hub,
    new: NewAccount,
) -> Result<(wire::Account, wire::Agent)> {
    let now = hub.clock.now();
    let (account, owner) = new_account_records(new, now).await?;
    let owner_id = owner.id.clone();
    let live = hub.create_account(account, owner).await?;
    let inner = live.lock();
    let owner = inner
        .agent_view(&owner_id, now)
        .ok_or_else(|| Error::Internal("owner vanished".into()))?;
    Ok((account_view(&inner), owner))
}

/// Validates a new account and its owner and hashes the owner's password:
/// the records to store, created at `now`.
pub(crate) async fn new_account_records(
    new: NewAccount,
    now: jiff::Timestamp,
) -> Result<(AccountRecord, AgentRecord)> {
    let slug = validate::key("slug", &new.slug)?;
    let name = validate::name("name", &new.name)?;
    let timezone = validate::timezone(&new.timezone)?;
    let owner_name = validate::name("owner_name", &new.owner.name)?;
    let email = validate::email(&new.owner.email)?;
    auth::check_password_shape(&new.owner.password)?;
    let password_hash = auth::hash_password(new.owner.password).await?;
    let defaults = Settings::default();
    let account = AccountRecord {
        id: uuid::Uuid::new_v4().to_string(),
        slug,
        name,
        timezone,
        grace_seconds: defaults.grace_seconds,
        busy_message: defaults.busy_message,
        offline_message: defaults.offline_message,
        hide_when_offline: false,
        busy_after_seconds: DEFAULT_BUSY_AFTER_SECONDS,
        allowed_origins: Vec::new(),
        office_hours: None,
        offline_reply: None,
        busy_reply: None,
        created_at: now,
    };
    let owner = AgentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account.id.clone(),
        name: owner_name,
        email,
        role: Role::Admin,
        status: Status::Offline,
        groups: Vec::new(),
        password_hash,
        email_notifications: true,
        disabled: false,
        avatar: None,
        created_at: now,
    };
    Ok((account, owner))
}

#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    operation_id = "create_account",
    summary = "Create an account with its owner (operator)",
    security(("bearer" = [])),
    request_body = NewAccount,
    responses(
        (status = 201, description = "The account and its owner, an admin", body = Created),
        (status = 404, description = "`not_found`: the server has no operator token, so the route does not exist", body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    // Read only after the credentials: a route that does not exist, or a
    // caller without the token, learns nothing from body validation.
    body: Result<ApiJson<NewAccount>, Error>,
) -> Result<(StatusCode, axum::Json<Created>)> {
    // Without an operator token the route does not exist (docs/api.md).
    let Some(expected) = state.config.operator_token.as_deref() else {
        return Err(Error::not_found(
            "not_found",
            "there is nothing at this path",
        ));
    };
    if !auth::is_operator(auth::bearer_of(&headers), expected) {
        return Err(Error::Unauthorized {
            code: "invalid_operator_token",
            message: "this route needs Authorization: Bearer <operator token>",
        });
    }
    let ApiJson(new) = body?;
    let (account, owner) = create_account(&state.hub, new).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { account, owner })))
}

pub(crate) fn account_view(inner: &Inner) -> wire::Account {
    account_wire(inner.account(), inner.email_replies())
}

/// The account as the API shows it; `email_replies`: whether this server
/// emails replies (which the built-in offline message promises).
pub(crate) fn account_wire(a: &AccountRecord, email_replies: bool) -> wire::Account {
    let per_lang = |text: &dyn Fn(Lang) -> Option<&'static str>| {
        Lang::ALL
            .into_iter()
            .filter_map(|lang| Some((lang, text(lang)?.to_owned())))
            .collect()
    };
    let builtin = wire::BuiltinTexts {
        busy_message: per_lang(&|lang| builtin_message(Status::Busy, lang, email_replies)),
        offline_message: per_lang(&|lang| builtin_message(Status::Offline, lang, email_replies)),
        offline_reply: per_lang(&|lang| Some(AutoReply::Offline.default_text(lang))),
        busy_reply: per_lang(&|lang| Some(AutoReply::Busy.default_text(lang))),
    };
    wire::Account {
        id: a.id.clone(),
        slug: a.slug.clone(),
        name: a.name.clone(),
        timezone: a.timezone.clone(),
        grace_seconds: a.grace_seconds,
        busy_message: a.busy_message.clone(),
        offline_message: a.offline_message.clone(),
        hide_when_offline: a.hide_when_offline,
        busy_after_seconds: a.busy_after_seconds,
        allowed_origins: a.allowed_origins.clone(),
        offline_reply: a.offline_reply.clone(),
        busy_reply: a.busy_reply.clone(),
        created_at: a.created_at,
        builtin,
    }
}

#[utoipa::path(
    get,
    path = "/accounts/{account}",
    tag = "accounts",
    operation_id = "show_account",
    summary = "An account's settings (admins)",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    responses(
        (status = 200, body = wire::Account),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn show(Admin(live): Admin) -> Result<axum::Json<wire::Account>> {
    Ok(axum::Json(account_view(&live.lock())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    timezone: Option<String>,
    grace_seconds: Option<u32>,
    /// Absent: unchanged; `null`: the built-in text in the chat box's
    /// language; a string: this text in every language; an object: a text
    /// per language (`{"en": "…", "de": "…"}`), the built-in one for the others.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<wire::LocalText>)]
    busy_message: Option<Option<serde_json::Value>>,
    /// As `busy_message`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<wire::LocalText>)]
    offline_message: Option<Option<serde_json::Value>>,
    hide_when_offline: Option<bool>,
    busy_after_seconds: Option<u32>,
    allowed_origins: Option<Vec<String>>,
    /// Absent: unchanged; `null`: back to the default texts; a string or an
    /// object of languages as for `busy_message` (`""`: no reply).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<wire::LocalText>)]
    offline_reply: Option<Option<serde_json::Value>>,
    /// As `offline_reply`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<wire::LocalText>)]
    busy_reply: Option<Option<serde_json::Value>>,
}

/// Tells a field that is present, even as `null`, from one that is absent.
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The largest `busy_after_seconds`: a day.
const MAX_BUSY_AFTER_SECONDS: u32 = 86_400;

#[utoipa::path(
    patch,
    path = "/accounts/{account}",
    tag = "accounts",
    operation_id = "update_account",
    summary = "Change an account's settings (admins); absent fields stay as they are",
    params(super::openapi::AccountSlug),
    security(("bearer" = [])),
    request_body = AccountPatch,
    responses(
        (status = 200, body = wire::Account),
        (status = 403, description = "`admin_required` (not an admin) or `wrong_account` (a token of another account)", body = ErrorBody),
    ),
)]
async fn update(
    State(state): State<AppState>,
    Admin(live): Admin,
    ApiJson(patch): ApiJson<AccountPatch>,
) -> Result<axum::Json<wire::Account>> {
    let writer = state.hub.writer(&live).await;
    let mut record = writer.read(|inner| inner.account().clone());
    if let Some(name) = &patch.name {
        record.name = validate::name("name", name)?;
    }
    if let Some(timezone) = &patch.timezone {
        record.timezone = validate::timezone(timezone)?;
    }
    if let Some(grace) = patch.grace_seconds {
        if grace > MAX_GRACE_SECONDS {
            return Err(Error::bad_request(
                "invalid_grace_seconds",
                format!("grace_seconds must be between 0 and {MAX_GRACE_SECONDS}"),
            ));
        }
        record.grace_seconds = grace;
    }
    if let Some(text) = &patch.busy_message {
        record.busy_message = validate::local_text("busy_message", text.as_ref())?;
    }
    if let Some(text) = &patch.offline_message {
        record.offline_message = validate::local_text("offline_message", text.as_ref())?;
    }
    if let Some(hide) = patch.hide_when_offline {
        record.hide_when_offline = hide;
    }
    if let Some(seconds) = patch.busy_after_seconds {
        if seconds > MAX_BUSY_AFTER_SECONDS {
            return Err(Error::bad_request(
                "invalid_busy_after_seconds",
                format!("busy_after_seconds must be between 0 and {MAX_BUSY_AFTER_SECONDS}"),
            ));
        }
        record.busy_after_seconds = seconds;
    }
    if let Some(text) = &patch.offline_reply {
        record.offline_reply = validate::local_text("offline_reply", text.as_ref())?;
    }
    if let Some(text) = &patch.busy_reply {
        record.busy_reply = validate::local_text("busy_reply", text.as_ref())?;
    }
    if let Some(origins) = patch.allowed_origins {
        record.allowed_origins = origins.iter().map(|o| origin(o)).collect::<Result<_>>()?;
    }
    writer.update_account(record).await?;
    Ok(axum::Json(writer.read(account_view)))
}

/// An origin as browsers send it: `scheme://host[:port]`, no path.
fn origin(value: &str) -> Result<String> {
    let invalid = || {
        Error::bad_request(
            "invalid_allowed_origins",
            format!("{value:?} is not an origin such as \"https://www.example.com\""),
        )
    };
    let (scheme, rest) = value.split_once("://").ok_or_else(invalid)?;
    let host_ok = !rest.is_empty()
        && !rest.contains('/')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !(scheme == "http" || scheme == "https") || !host_ok {
        return Err(invalid());
    }
    Ok(value.to_ascii_lowercase())
}
