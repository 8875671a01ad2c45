//! [`ServerState`]: what every handler shares — the store, the writer, the event hub, the
//! server owner ID and the configured limits.

use crate::events::Events;
use crate::protocol::ApiError;
use crate::store::writer::Writer;
use crate::store::Store;
use std::sync::{Arc, RwLock};

/// Limits and identity a handler may need.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest long-poll an assign may hold, in seconds.
    pub max_long_poll_secs: u64,
    /// Whether `addexecutormsg` may replace an executor of the same name.
    pub allow_executor_reregister: bool,
    /// Most assign requests long-polling at once (503 above).
    pub max_long_polls: usize,
    /// Most assign requests one executor may have long-polling at once.
    pub max_long_polls_per_executor: usize,
    /// Most packed arguments one generator holds (507 above).
    pub generator_max_args: u64,
    /// History entries kept per blueprint (the oldest go).
    pub blueprint_history: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_long_poll_secs: 3600,
            allow_executor_reregister: false,
            max_long_polls: 512,
            max_long_polls_per_executor: 8,
            generator_max_args: 100_000,
            blueprint_history: 100,
        }
    }
}

/// Facts `getserverinfomsg` reports.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// `BUILD_VERSION` or the crate version.
    pub build_version: String,
    /// `BUILD_TIME` or the start time.
    pub build_time: String,
    /// Host the API listens on.
    pub host: String,
    /// Port the API listens on.
    pub port: u16,
    /// Whether the API is served over TLS.
    pub tls: bool,
    /// `--sync`: `always` or `never`.
    pub sync: &'static str,
    /// When this process started serving (UTC nanoseconds).
    pub started_ns: i64,
    /// `--min-free-disk`: the reserve below which writes that add data are refused.
    pub min_free_disk: u64,
}

/// Shared server state.
pub struct ServerState {
    /// The database.
    pub store: Arc<Store>,
    /// The only way to write.
    pub writer: Writer,
    /// Events, shutdown, counters.
    pub events: Arc<Events>,
    /// Limits.
    pub limits: Limits,
    /// Reported by `getserverinfomsg`.
    pub info: RwLock<ServerInfo>,
    /// Channel append rate limiter.
    pub channel_rate: crate::channels::RateLimiter,
    /// Verified (payload, signature) → signer, for repeated requests.
    pub signers: crate::crypto::SignerCache,
    server_id: RwLock<String>,
    /// Assign long-polls in progress per executor ID (bounded by the limits above).
    pub long_polls_by_executor: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl ServerState {
    /// Assembles the state.
    pub fn new(
        store: Arc<Store>,
        writer: Writer,
        events: Arc<Events>,
        limits: Limits,
        server_id: String,
    ) -> ServerState {
        ServerState {
            store,
            writer,
            events,
            limits,
            info: RwLock::new(ServerInfo::default()),
            channel_rate: crate::channels::RateLimiter::default(),
            signers: crate::crypto::SignerCache::new(4096),
            server_id: RwLock::new(server_id),
            long_polls_by_executor: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The current server owner ID.
    pub fn server_id(&self) -> String {
        match self.server_id.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the server owner ID durably.
    pub async fn change_server_id(&self, id: String) -> Result<(), ApiError> {
        let v = id.clone();
        self.writer
            .run(move |txn| {
                let meta = txn.store.meta.clone();
                txn.put_raw(&meta, b"server-id".to_vec(), v.into_bytes());
                Ok(())
            })
            .await?;
        match self.server_id.write() {
            Ok(mut g) => *g = id,
            Err(p) => *p.into_inner() = id,
        }
        Ok(())
    }
}
