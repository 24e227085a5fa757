//! Credentials: passwords (argon2id), session tokens (256 random bits, stored
//! only as SHA-256) and the extractors that authenticate a request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{Error, Result};
use crate::hub::AccountLive;
use crate::password::Hasher;
use onair_shared::wire::Role;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new bearer token: 32 random bytes, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time comparison of two secrets of any length.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    token_hash(given).ct_eq(&token_hash(expected)).into()
}

pub fn check_password_shape(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::bad_request(
            "invalid_password",
            format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters (and at most {MAX_PASSWORD_BYTES} bytes)"
            ),
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id on the process's bounded hasher.
pub async fn hash_password(password: String) -> Result<String> {
    Hasher::global().hash(password).await
}

/// Verifies a password against a stored hash, or against a dummy hash when
/// there is none, so an unknown email takes as long as a wrong password.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool> {
    Hasher::global().verify(password, stored).await
}

/// An authenticated agent request. Authenticating is a sign of life for the
/// session (docs/status.md).
#[derive(Debug, Clone)]
pub struct AgentAuth {
    pub live: Arc<AccountLive>,
    pub session_id: String,
    pub agent_id: String,
    pub role: Role,
}

impl AgentAuth {
    /// Agents of this account only, admins or not (docs/api.md).
    pub fn require_member_of(&self, live: &AccountLive) -> Result<()> {
        if self.live.id != live.id {
            return Err(Error::Forbidden {
                code: "wrong_account",
                message: "this token belongs to another account",
            });
        }
        Ok(())
    }

    /// Admins of this account only (docs/api.md).
    pub fn require_admin_of(&self, live: &AccountLive) -> Result<()> {
        self.require_member_of(live)?;
        if self.role != Role::Admin {
            return Err(Error::Forbidden {
                code: "admin_required",
                message: "only an admin may do this",
            });
        }
        Ok(())
    }
}

/// `?access_token=`, for `EventSource`, which cannot set headers.
fn query_token(parts: &Parts) -> Option<&str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
}

/// An agent request authenticated on the agent's event stream, the one route
/// that also takes `?access_token=` (an `EventSource` cannot set headers). The
/// route decides by taking this extractor: a token in any other URL would be
/// needlessly exposed, so [`AgentAuth`] takes the header only.
#[derive(Debug, Clone)]
pub struct AgentStreamAuth(pub AgentAuth);

impl FromRequestParts<AppState> for AgentStreamAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_of(&parts.headers)
            .or_else(|| query_token(parts))
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized {
                code: "missing_credentials",
                message: "send Authorization: Bearer <token> or ?access_token=<token>",
            })?;
        AgentAuth::with_token(token, state)
            .await
            .map(AgentStreamAuth)
    }
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token =
            bearer_of(&parts.headers)
                .filter(|t| !t.is_empty())
                .ok_or(Error::Unauthorized {
                    code: "missing_credentials",
                    message: "send Authorization: Bearer <token>",
                })?;
        AgentAuth::with_token(token, state).await
    }
}

impl AgentAuth {
    /// The session a bearer token names; a sign of life for it.
    async fn with_token(token: &str, state: &AppState) -> Result<AgentAuth> {
        let invalid = Error::Unauthorized {
            code: "invalid_token",
            message: "the token is unknown or has ended",
        };
        let (live, session_id) = state
            .hub
            .session_by_token_anywhere(&token_hash(token))
            .await?
            .ok_or(invalid)?;
        let (agent_id, role) = {
            let inner = live.lock();
            let agent_id = inner
                .sessions()
                .get(&session_id)
                .map(|s| s.record.agent_id.clone());
            let role = agent_id
                .as_ref()
                .and_then(|id| inner.agents().get(id))
                .map(|a| a.role);
            match (agent_id, role) {
                (Some(agent_id), Some(role)) => (agent_id, role),
                _ => {
                    return Err(Error::Unauthorized {
                        code: "invalid_token",
                        message: "the token is unknown or has ended",
                    });
                }
            }
        };
        state.hub.touch(&live, &session_id).await;
        Ok(AgentAuth {
            live,
            session_id,
            agent_id,
            role,
        })
    }
}

/// The operator's bearer token for `POST /api/v1/accounts`.
pub fn is_operator(parts_auth: Option<&str>, expected: &str) -> bool {
    parts_auth.is_some_and(|given| secrets_match(given, expected))
}

pub fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
