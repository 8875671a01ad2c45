//! colonyd: a single-binary, ColonyOS-compatible server for edge devices.
//!
//! Module map (see ARCHITECTURE.md for the layer rule and the path of one request):
//!
//! * `protocol`: wire types, envelopes, errors (no I/O)
//! * `crypto`: keys, signatures, IDs
//! * `store`: fjall keyspaces, record codec, key layout, channel segments, the group-commit
//!   `store::writer`
//! * `channels`: durable channel logs in time-bucketed segment keyspaces
//! * `fanout`: lock-free broadcast rings carrying durable entries to live subscribers
//! * `process`: process records: creation and removal
//! * `lifecycle`: process state machine and timeouts, run inside the writer
//! * `scheduler`: which waiting process an executor gets
//! * `events`: the writer's sink: process events, channel fan-out, shutdown
//! * `peer`: whether a long-polling client is still connected
//! * `auth`: roles (server owner, colony owner, member, executor)
//! * `handlers`: one thin function per RPC
//! * `pubsub`: `/pubsub` WebSocket subscriptions
//! * `transport`: hyper on smol, limits, timeouts
//! * `workflows`: process graphs: submission, release of children, failure cascade
//! * `metrics`, `notify`: Prometheus metrics, systemd notify/watchdog
//! * `client`, `cli`: a blocking protocol client and the operator commands
//! * `config`, `server`: command line and startup/shutdown
//! * `embedded`: the server state without the network (fuzz targets)

#![forbid(unsafe_code)]

// Every module is private: the layer rule (ARCHITECTURE.md, checked by .ci/layers.py) decides
// who may use what inside the crate, and the compiler reports code nothing uses.
mod auth;
mod channels;
mod cli;
mod client;
mod config;
mod crypto;
mod embedded;
mod events;
mod fanout;
mod handlers;
mod lifecycle;
mod metrics;
mod notify;
mod peer;
mod process;
mod protocol;
mod pubsub;
mod scheduler;
mod server;
mod state;
mod store;
mod transport;
mod workflows;

// The public surface: what the binary, the end-to-end tests and the load generator use.
pub use client::{decode_reply, envelope, Client};
pub use config::{serve_help, Config};
pub use crypto::{random_id, PrivateKey};
pub use embedded::Embedded;
pub use protocol::{Access, ApiError, Endpoint, PayloadType};
pub use server::run;

/// The operator commands of the `colonyd` binary (`process ls`, `channel tail`, `backup`,
/// `restore`), each parsing its own arguments.
pub mod commands {
    pub use crate::cli::{backup, channel_tail, process_ls, restore, HELP, USAGE};
}

/// Internals the criterion benchmarks (`bench/hotpaths.rs`) and the fuzz targets (`fuzz/`)
/// drive directly. Not an API: it changes with the code.
#[doc(hidden)]
pub mod internals {
    pub use crate::channels::log::{self as channel_log, ChannelMeta, Entry};
    pub use crate::crypto::recover_id;
    pub use crate::events::Events;
    pub use crate::fanout::ring::{Read, Ring};
    pub use crate::lifecycle::submit;
    pub use crate::protocol::types::{
        Attribute, Colony, Executor, Function, FunctionSpec, Log, Process, User,
    };
    pub use crate::protocol::RequestEnvelope;
    pub use crate::scheduler::{select, Offer};
    pub use crate::store::writer::{SyncMode, Txn, Writer};
    pub use crate::store::{decode, encode, keys, ChannelPolicy, Store, StoreConfig};
    pub use crate::workflows::GraphRecord;
}
