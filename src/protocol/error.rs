//! Typed API errors. Every error reaches the client with both signals the clients need
//! (spec §1.3): `error:true` with a `{status,message}` payload and the same HTTP status.

use std::fmt;

/// The HTTP statuses colonyd answers with (also the `status` of a failure payload).
pub mod status {
    /// Success.
    pub const OK: u16 = 200;
    /// Malformed input, validation, state-machine violations.
    pub const BAD_REQUEST: u16 = 400;
    /// Bad signature, unknown payload type, not authorized.
    pub const FORBIDDEN: u16 = 403;
    /// The named thing does not exist.
    pub const NOT_FOUND: u16 = 404;
    /// A wait ran out.
    pub const TIMEOUT: u16 = 408;
    /// A body or payload over its configured limit.
    pub const TOO_LARGE: u16 = 413;
    /// Over a configured rate.
    pub const TOO_MANY_REQUESTS: u16 = 429;
    /// The client went away before its answer (nginx's 499; counted, never sent).
    pub const CLIENT_CLOSED: u16 = 499;
    /// The server failed (storage).
    pub const INTERNAL: u16 = 500;
    /// Over a capacity limit, or shutting down.
    pub const UNAVAILABLE: u16 = 503;
    /// The disk reserve or a channel's storage budget is reached.
    pub const INSUFFICIENT_STORAGE: u16 = 507;
}

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
        ApiError::new(status::BAD_REQUEST, m)
    }
    /// 403: bad signature, unknown payload type, not authorized.
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(status::FORBIDDEN, m)
    }
    /// 404: the named thing does not exist.
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(status::NOT_FOUND, m)
    }
    /// 408: a wait ran out.
    pub fn timeout(m: impl Into<String>) -> ApiError {
        ApiError::new(status::TIMEOUT, m)
    }
    /// 413: request body over the configured limit.
    pub fn too_large(m: impl Into<String>) -> ApiError {
        ApiError::new(status::TOO_LARGE, m)
    }
    /// 500: the server failed (storage).
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(status::INTERNAL, m)
    }
    /// 429: over a configured rate.
    pub fn too_many(m: impl Into<String>) -> ApiError {
        ApiError::new(status::TOO_MANY_REQUESTS, m)
    }
    /// 507: a storage budget is reached.
    pub fn insufficient_storage(m: impl Into<String>) -> ApiError {
        ApiError::new(status::INSUFFICIENT_STORAGE, m)
    }
    /// 503: over a capacity limit, or shutting down.
    pub fn unavailable(m: impl Into<String>) -> ApiError {
        ApiError::new(status::UNAVAILABLE, m)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}
