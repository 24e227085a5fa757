//! The one error type at the HTTP edge, and the JSON extractor whose
//! rejections speak the same `{"error": {"code", "message"}}` shape.

use std::borrow::Cow;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use onair_shared::wire::{ErrorBody, ErrorDetail};
use serde::de::DeserializeOwned;

use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: malformed JSON or an invalid field; `code` names which.
    #[error("{message}")]
    BadRequest {
        code: Cow<'static, str>,
        message: String,
    },
    /// 401: missing or bad credentials.
    #[error("{message}")]
    Unauthorized {
        code: &'static str,
        message: &'static str,
    },
    /// 403: authenticated but not allowed.
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        message: &'static str,
    },
    /// 404: unknown account, group, agent, conversation or route.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 405: the path exists, the method does not.
    #[error("this path does not accept that method")]
    MethodNotAllowed,
    /// 409: a duplicate slug, email or key, or a change that would break an invariant.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 429: too many requests; try again after `retry_after` seconds.
    /// `code` says which limit: `rate_limited` (visitor messages) or
    /// `too_many_attempts` (logins).
    #[error("{message}; try again in {retry_after} s")]
    RateLimited {
        code: &'static str,
        message: &'static str,
        retry_after: u64,
    },
    /// 413: request body larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 503: a part of the service this build does not have.
    #[error("{message}")]
    ServiceUnavailable {
        code: &'static str,
        message: &'static str,
    },
    /// 503: the server is at a bound it keeps (password hashing queue,
    /// connections); try again after `retry_after` seconds.
    #[error("the server is busy; try again in {retry_after} s")]
    Busy { retry_after: u64 },
    /// 500: logged in full, answered without detail.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Error {
        Error::BadRequest {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Error {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::ServiceUnavailable { .. } | Error::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &str {
        match self {
            Error::BadRequest { code, .. } => code,
            Error::Unauthorized { code, .. }
            | Error::Forbidden { code, .. }
            | Error::NotFound { code, .. }
            | Error::Conflict { code, .. }
            | Error::RateLimited { code, .. }
            | Error::ServiceUnavailable { code, .. } => code,
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::Busy { .. } => "server_busy",
            Error::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Conflict(what) => {
                Error::conflict(conflict_code(what), format!("that {what} is already taken"))
            }
            StoreError::Full(detail) => {
                tracing::warn!(%detail, "a write failed: the disk is full");
                Error::ServiceUnavailable {
                    code: "storage_full",
                    message: "the server's disk is full: nothing can be stored until there is room again",
                }
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

fn conflict_code(what: &str) -> &'static str {
    match what {
        "slug" => "slug_taken",
        "email" => "email_taken",
        "key" => "key_taken",
        _ => "conflict",
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = match &self {
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "something went wrong on our side; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response();
        if let Error::RateLimited { retry_after, .. } | Error::Busy { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// The request body limit for every JSON route (docs/conversations.md: 16 KiB).
pub const BODY_LIMIT: usize = 16 * 1024;

/// A JSON body. Unlike axum's `Json` it does not insist on a content type
/// (a `curl -d` without `-H` works) and every rejection is our error shape:
/// `malformed_json`, `unknown_field`, `missing_field`, `invalid_<field>`,
/// `payload_too_large`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(inner)
                    if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    Error::PayloadTooLarge { limit: BODY_LIMIT }
                }
                other => Error::bad_request("unreadable_body", other.body_text()),
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // Whether the body is JSON at all decides the code, not which error the
        // typed parse met first: `{"x": 1} trailing` is malformed even though
        // `x` is unknown, and `{"status": null}` is JSON with an invalid status
        // even though serde_json reports a non-string enum as a syntax error.
        // Checked as `str` first, because skipping a string in a byte slice
        // does not validate its UTF-8.
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Error::bad_request("malformed_json", "the body is not UTF-8 text");
        };
        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(syntax) => malformed(&syntax),
            Ok(_) => json_error(e),
        }
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(e: &serde_json::Error) -> Error {
    Error::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
}

/// A body that is valid JSON but does not fit the expected shape.
fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let text = if inner.is_data() {
        inner.to_string()
    } else {
        "this value has the wrong type".to_owned()
    };
    let at = if path == "." {
        String::new()
    } else {
        format!("{path}: ")
    };
    if text.starts_with("unknown field") {
        return Error::bad_request("unknown_field", format!("{at}{text}"));
    }
    if text.starts_with("missing field") {
        return Error::bad_request("missing_field", format!("{at}{text}"));
    }
    // Name the offending field: `invalid_status`, `invalid_grace_seconds`, …
    let field = path
        .rsplit('.')
        .find(|segment| {
            segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
        })
        .map(|segment| segment.split('[').next().unwrap_or(segment).to_owned());
    match field {
        Some(field) => Error::bad_request(format!("invalid_{field}"), format!("{at}{text}")),
        None => Error::bad_request("invalid_body", format!("{at}{text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        status: onair_shared::Status,
        grace_seconds: Option<u32>,
    }

    fn code_of(body: &str) -> String {
        match parse_json::<Probe>(body.as_bytes()) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code().to_owned(),
        }
    }

    #[test]
    fn json_errors_name_what_is_wrong() {
        assert_eq!(code_of(r#"{"status": "online"}"#), "ok");
        assert_eq!(code_of(r#"{"status": "online""#), "malformed_json");
        assert_eq!(code_of(r#"{"status": "online"} x"#), "malformed_json");
        assert_eq!(code_of(""), "malformed_json");
        assert_eq!(code_of(r#"{"status": "away"}"#), "invalid_status");
        assert_eq!(
            code_of(r#"{"status": "online", "grace_seconds": -1}"#),
            "invalid_grace_seconds"
        );
        assert_eq!(
            code_of(r#"{"status": "online", "mood": 1}"#),
            "unknown_field"
        );
        assert_eq!(code_of(r#"{}"#), "missing_field");
        assert_eq!(code_of(r#"{"status": 1}"#), "invalid_status");
        assert_eq!(code_of(r#"{"status": null}"#), "invalid_status");
        assert_eq!(code_of(r#"{"mood": 1} x"#), "malformed_json");
        assert_eq!(code_of(r#"{"grace_seconds": 1"#), "malformed_json");
        assert_eq!(code_of(r#"[]"#), "invalid_body");
    }
}
