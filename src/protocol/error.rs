//! Typed API errors. Every error reaches the client with both signals the clients need
//! (spec §1.3): `error:true` with a `{status,message}` payload and the same HTTP status.

use std::fmt;

/// An error answered to a client: an HTTP status and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status, also the `status` field of the failure payload.
    pub status: u16,
    /// Human-readable message, the `message` field of the failure payload.
    pub message: String,
}

impl ApiError {
    /// A new error with the given status.
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400: malformed input, validation, state-machine violations.
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(400, m)
    }
    /// 403: bad signature, unknown payload type, not authorized.
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(403, m)
    }
    /// 404: the named thing does not exist.
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(404, m)
    }
    /// 408: a wait ran out.
    pub fn timeout(m: impl Into<String>) -> ApiError {
        ApiError::new(408, m)
    }
    /// 413: request body over the configured limit.
    pub fn too_large(m: impl Into<String>) -> ApiError {
        ApiError::new(413, m)
    }
    /// 500: the server failed (storage).
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(500, m)
    }
    /// 503: over a capacity limit, or shutting down.
    pub fn unavailable(m: impl Into<String>) -> ApiError {
        ApiError::new(503, m)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<fjall::Error> for ApiError {
    fn from(e: fjall::Error) -> ApiError {
        ApiError::internal(format!("storage error: {e}"))
    }
}
