//! Errors the API returns: an HTTP status, a stable machine-readable code and a message that
//! tells the caller what happened and what to do. Serialized as
//! `{"error": {"code": "...", "message": "...", ...}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::command::SmError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// For `compacted`: the first revision that can still be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_available: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: status.as_u16(), code: code.to_string(), message: message.into(), first_available: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<SmError> for ApiError {
    fn from(e: SmError) -> ApiError {
        let (status, code) = match &e {
            SmError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            SmError::Compacted { .. } => (StatusCode::GONE, "compacted"),
            SmError::FutureRevision { .. } => (StatusCode::BAD_REQUEST, "future_revision"),
            SmError::LeaseNotFound { .. } => (StatusCode::NOT_FOUND, "lease_not_found"),
            SmError::NotLockOwner { .. } => (StatusCode::CONFLICT, "not_lock_owner"),
            SmError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            SmError::NotEmpty { .. } => (StatusCode::CONFLICT, "not_empty"),
        };
        let mut err = ApiError::new(status, code, e.to_string());
        if let SmError::Compacted { first_available } = e {
            err.first_available = Some(first_available);
        }
        err
    }
}

/// The JSON body of an error response.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a ApiError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status_code(), Json(ErrorBody { error: &self })).into_response()
    }
}
