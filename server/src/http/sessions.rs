//! Login (`POST /accounts/{account}/sessions`) and logout (`DELETE /sessions/current`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use onair_shared::wire::{self, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ClientAddr;
use crate::AppState;
use crate::auth::{self, AgentAuth};
use crate::error::{ApiJson, Error, Result};
use crate::limits::LoginKey;
use crate::store::SessionRecord;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
    #[serde(default)]
    /// 1 to 200 characters, not all spaces, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    device: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LoggedIn {
    token: String,
    session: SessionView,
    agent: wire::Agent,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionView {
    id: String,
    device: String,
}

#[utoipa::path(
    post,
    path = "/accounts/{account}/sessions",
    tag = "sessions",
    operation_id = "login",
    summary = "Log in: a session token for one device",
    params(super::openapi::AccountSlug),
    request_body = Login,
    responses(
        (status = 201, description = "The session's token (shown once), the session and the agent", body = LoggedIn),
        (status = 401, description = "`invalid_credentials`: the email or password is wrong (the same answer for an unknown email)", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins for this email or from this address; try again after `Retry-After`", body = ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientAddr(address): ClientAddr,
    ApiJson(login): ApiJson<Login>,
) -> Result<(StatusCode, axum::Json<LoggedIn>)> {
    let hub = &state.hub;
    let live = hub.account(&slug).await?;
    let device = match login.device.as_deref() {
        Some(device) => super::validate::name("device", device)?,
        None => "unnamed device".to_owned(),
    };
    let email = login.email.trim().to_lowercase();
    // In a cluster the agent may have been added, or its password changed,
    // through another node a moment ago: log in against what the store holds.
    if hub.cluster.is_some() {
        hub.cluster_reload(&live).await?;
    }
    let found = {
        let inner = live.lock();
        inner
            .agents()
            .values()
            .find(|a| a.email == email)
            .map(|a| (a.id.clone(), a.password_hash.clone()))
    };
    let (agent_id, stored_hash) = found.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
    // Throttled before any hashing, the same for known and unknown emails.
    let key = LoginKey::of(&live.id, &email);
    hub.login_attempt(&key, address)
        .await
        .map_err(|retry| Error::RateLimited {
            code: "too_many_attempts",
            message: "too many login attempts",
            retry_after: retry.0,
        })?;
    // Unknown email and wrong password get the same answer after the same work.
    let matches = auth::verify_password(login.password, stored_hash).await?;
    let (true, Some(agent_id)) = (matches, agent_id) else {
        hub.login_failed(&key).await;
        tracing::info!(account = %slug, %address, "failed login");
        return Err(Error::Unauthorized {
            code: "invalid_credentials",
            message: "the email or password is wrong",
        });
    };

    hub.login_succeeded(&key).await;
    let token = auth::new_token();
    let now = hub.clock.now();
    let record = SessionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        agent_id: agent_id.clone(),
        token_hash: auth::token_hash(&token),
        device: device.clone(),
        last_seen: now,
        streaming: false,
        created_at: now,
    };
    let session = SessionView {
        id: record.id.clone(),
        device,
    };
    let token_hash = record.token_hash;
    let session_id = record.id.clone();
    let agent = hub.writer(&live).await.start_session(record).await?;
    hub.index_token(token_hash, &live, &session_id);
    tracing::info!(account = %slug, agent = %agent_id, session = %session_id, "logged in");
    Ok((
        StatusCode::CREATED,
        axum::Json(LoggedIn {
            token,
            session,
            agent,
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/sessions/current",
    tag = "sessions",
    operation_id = "logout",
    summary = "Log out: end the session of this token",
    security(("bearer" = [])),
    responses((status = 204, description = "The session ended")),
)]
async fn logout(State(state): State<AppState>, auth: AgentAuth) -> Result<StatusCode> {
    state
        .hub
        .writer(&auth.live)
        .await
        .end_session(&auth.session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
