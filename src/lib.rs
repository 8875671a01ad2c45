//! colonyd: a single-binary, ColonyOS-compatible server for edge devices.
//!
//! Module map (see ARCHITECTURE.md for the layer rule and the path of one request):
//!
//! * [`protocol`]: wire types, envelopes, errors (no I/O)
//! * [`crypto`]: keys, signatures, IDs
//! * [`store`]: fjall keyspaces, record codec, key layout, channel segments, the group-commit
//!   [`store::writer`]
//! * [`channels`]: durable channel logs in time-bucketed segment keyspaces
//! * [`fanout`]: lock-free broadcast rings carrying durable entries to live subscribers
//! * [`process`]: process records: creation and removal
//! * [`lifecycle`]: process state machine and timeouts, run inside the writer
//! * [`scheduler`]: which waiting process an executor gets
//! * [`events`]: the writer's sink: process events, channel fan-out, shutdown
//! * [`peer`]: whether a long-polling client is still connected
//! * [`auth`](crate::auth): roles (server owner, colony owner, member, executor)
//! * [`handlers`]: one thin function per RPC
//! * [`pubsub`]: `/pubsub` WebSocket subscriptions
//! * [`transport`]: hyper on smol, limits, timeouts
//! * [`workflows`]: process graphs: submission, release of children, failure cascade
//! * [`metrics`], [`notify`]: Prometheus metrics, systemd notify/watchdog
//! * [`client`], [`cli`]: a blocking protocol client and the operator commands
//! * [`config`], [`server`]: command line and startup/shutdown
//! * [`embedded`]: the server state without the network (fuzz targets)

#![forbid(unsafe_code)]

pub mod auth;
pub mod channels;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod embedded;
pub mod events;
pub mod fanout;
pub mod handlers;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod peer;
pub mod process;
pub mod protocol;
pub mod pubsub;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod store;
pub mod transport;
pub mod workflows;
