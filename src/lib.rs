//! colonyd: a single-binary, ColonyOS-compatible server for edge devices.
//!
//! The modules are private; ARCHITECTURE.md has the layer rule they follow (checked by
//! `.ci/layers.py`), a code map with what each owns and never does, and the path of one
//! append from socket to fsync to subscriber. The public surface below is what the binary,
//! the tests, the load generator and the fuzz targets use:
//!
//! * [`run`] with a [`Config`]: the server; [`Embedded`]: the same server without sockets
//! * [`Client`], [`envelope`], [`decode_reply`], [`PrivateKey`]: a blocking signed client
//! * [`PayloadType`], [`Access`], [`Endpoint`]: every payload type colonyd answers, who may
//!   send it and where; [`ApiError`]: how a refusal reaches the client
//! * [`commands`]: the operator commands of the binary

#![forbid(unsafe_code)]

// Every module is private: the layer rule (ARCHITECTURE.md, checked by .ci/layers.py) decides
// who may use what inside the crate, and the compiler reports code nothing uses.
mod auth;
mod blueprints;
mod channels;
mod cli;
mod client;
mod colonyfs;
mod config;
mod crypto;
mod embedded;
mod events;
mod fanout;
mod handlers;
mod housekeeping;
mod lifecycle;
mod metrics;
mod migrate;
mod notify;
mod peer;
mod process;
mod protocol;
mod pubsub;
mod scheduler;
mod schedules;
mod server;
mod state;
mod store;
mod transport;
mod workflows;

// The public surface: what the binary, the end-to-end tests and the load generator use.
pub use client::{decode_reply, envelope, Client, Stream, Target};
pub use config::{Config, CronMissedArg, ServeArgs, SyncArg, SERVE_AFTER_HELP};
pub use crypto::{random_id, PrivateKey};
pub use embedded::{Embedded, EmbeddedOptions};
pub use protocol::{Access, ApiError, Endpoint, PayloadType};
pub use server::run;

/// The `colonyd` command line ([`commands::Cli`]) and the operator commands besides `serve`.
pub mod commands {
    pub use crate::cli::{
        backup, channel_tail, completions, export, import, process_ls, restore, status, BackupArgs,
        ChannelCommand, ChannelTailArgs, Cli, Command, ExportArgs, ImportArgs, ProcessCommand,
        ProcessLsArgs, RestoreArgs, ServerArgs, StateArg, FAILURE, USAGE,
    };
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
        Attribute, Colony, Cron, Executor, File, Function, FunctionSpec, Generator, Location, Log,
        Process, Snapshot, User,
    };
    pub use crate::protocol::RequestEnvelope;
    pub use crate::scheduler::{select, Offer};
    pub use crate::schedules::GeneratorRecord;
    pub use crate::store::writer::{SyncMode, Txn, Writer};
    pub use crate::store::{decode, encode, keys, ChannelPolicy, Store, StoreConfig};
    pub use crate::workflows::GraphRecord;
}
