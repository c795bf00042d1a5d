//! The HTTP edge of errors: one [`AppError`] that every handler returns, mapped once to a status and a small JSON
//! body (`{"error":"not_found","message":"…"}`). The gateway's [`control::Error`](crate::control::Error) kinds map
//! here, once; internal details are logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sightline_media::MediaError;

use crate::control::{Error, ErrorKind};

/// An error as an HTTP client sees it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No or unknown bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token's role is too low.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or a value is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The body is too large.
    #[error("request body too large")]
    TooLarge,
    /// A bounded queue is full right now; retry shortly.
    #[error("{0}")]
    Busy(String),
    /// A limit was reached or the feature cannot run here.
    #[error("{0}")]
    Unavailable(String),
    /// The token's budget for this kind of request is spent (`crate::ratelimit`); `429` with `Retry-After`.
    #[error("rate limited; retry in {} ms", .0.as_millis().max(1))]
    RateLimited(std::time::Duration),
    /// Something failed inside; the message is logged, the client gets a generic one.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        match e.kind {
            ErrorKind::NotFound => Self::NotFound(e.message),
            ErrorKind::Invalid => Self::BadRequest(e.message),
            ErrorKind::Busy => Self::Busy(e.message),
            ErrorKind::Forbidden => Self::Forbidden(e.message),
            ErrorKind::Unavailable => Self::Unavailable(e.message),
            ErrorKind::Internal => Self::Internal(e.message),
        }
    }
}

impl From<MediaError> for AppError {
    fn from(e: MediaError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response =
            (status, Json(json!({ "error": code, "message": message }))).into_response();
        match &self {
            Self::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            Self::RateLimited(wait) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after(*wait));
            }
            _ => {}
        }
        response
    }
}

/// A `Retry-After` value: whole seconds, rounded up, at least 1 (the header has no finer unit; the body's message
/// says the milliseconds).
pub fn retry_after(wait: std::time::Duration) -> header::HeaderValue {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    header::HeaderValue::from(u64::try_from(secs).unwrap_or(u64::MAX))
}
