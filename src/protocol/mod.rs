//! The wire protocol (spec §1.2–1.4, §5): the signed request envelope, the reply envelope,
//! typed errors with their HTTP statuses, the JSON shapes of every entity and request.
//!
//! Entity types serve two formats at once: JSON on the wire and postcard in the store. The few
//! places where the two differ (timestamps, free-form JSON, `null` tolerance) are handled by
//! small leaf types in [`json`] and [`time`] that ask the serializer whether it is
//! human-readable. Nothing here does I/O.

pub mod envelope;
pub mod error;
pub mod json;
pub mod msgs;
pub mod request;
pub mod time;
pub mod types;

pub use envelope::{Reply, RequestEnvelope};
pub use error::ApiError;
pub use request::{Access, Endpoint, PayloadType, Request};
