//! The store's errors: what can go wrong below the protocol. Handlers never build these; they
//! reach a client only through `From<Error> for ApiError` (500, or 507 for a full disk, 503
//! while shutting down), with the cause in the message and in the log.

use crate::protocol::error::status;
use crate::protocol::ApiError;
use std::fmt;

/// A storage failure.
#[derive(Debug)]
pub enum Error {
    /// The storage engine failed (I/O underneath it, or its own checks).
    Engine(fjall::Error),
    /// File-system I/O outside the engine (backups, directories).
    Io(std::io::Error),
    /// A stored record cannot be read: corruption, or a format newer than this build.
    Corrupt(String),
    /// A record could not be encoded (a programming error: every record type is encodable).
    Encode(String),
    /// Free space on the data directory's filesystem is below the configured reserve.
    DiskFull {
        /// Free bytes when last measured.
        free: u64,
        /// The reserve (`--min-free-disk`).
        reserve: u64,
    },
    /// An earlier sync failed: nothing more is written until the server restarts.
    Failed,
    /// The writer has stopped (shutdown).
    Closed,
    /// The data directory lacks something the store recorded (a keyspace directory, the
    /// engine's metadata): opening it would serve an incomplete store as if it were whole.
    Damaged(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine(e) => write!(f, "storage error: {e}"),
            Error::Io(e) => write!(f, "storage I/O error: {e}"),
            Error::Corrupt(what) => write!(f, "corrupt record in store: {what}"),
            Error::Encode(what) => write!(f, "failed to encode a record: {what}"),
            Error::DiskFull { free, reserve } => write!(
                f,
                "insufficient storage: {} free on the data directory's filesystem, below the \
                 reserve of {} (--min-free-disk); free space or remove data, reads still work",
                human(*free),
                human(*reserve)
            ),
            Error::Failed => f.write_str(
                "storage failure: the write could not be made durable; colonyd is restarting",
            ),
            Error::Closed => f.write_str("server is shutting down"),
            Error::Damaged(what) => write!(
                f,
                "the store is damaged: {what}; colonyd will not serve it as if it were whole. \
                 Restore the data directory from a backup (`colonyd restore BACKUP DIR`, from \
                 `colonyd backup`), or move it aside to start empty"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Engine(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<fjall::Error> for Error {
    fn from(e: fjall::Error) -> Error {
        Error::Engine(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let code = match e {
            Error::DiskFull { .. } => status::INSUFFICIENT_STORAGE,
            Error::Closed => status::UNAVAILABLE,
            _ => status::INTERNAL,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Engine errors met above the store (channel logs reading their own keyspaces) reach clients
/// the same way: as a storage error.
impl From<fjall::Error> for ApiError {
    fn from(e: fjall::Error) -> ApiError {
        Error::Engine(e).into()
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let full = ApiError::from(Error::DiskFull {
            free: 3 << 20,
            reserve: 64 << 20,
        });
        assert_eq!(full.status, 507);
        assert!(full.message.contains("3.0 MiB free"), "{full}");
        assert_eq!(ApiError::from(Error::Closed).status, 503);
        assert_eq!(ApiError::from(Error::Corrupt("x".into())).status, 500);
    }
}
