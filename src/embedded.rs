//! An in-process colonyd without the network: the store, the group-commit writer and the shared
//! state on a data directory, with requests handed straight to [`handlers::dispatch`] and
//! WebSocket byte streams to [`pubsub::session`]. The behaviour tests (`tests/node/`) drive it
//! with signed requests and restart it on the same directory; the fuzz targets (`fuzz/`) push
//! corrupted requests through the real handlers with it. Nothing in the server depends on it.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let owner = colonyd::PrivateKey::generate();
//! let node = colonyd::Embedded::open(dir.path(), &owner.id()).unwrap();
//! let (status, _reply) = node.request(br#"{"payloadtype":"versionmsg","payload":"eyJtc2d0eXBlIjoidmVyc2lvbm1zZyJ9","signature":""}"#);
//! assert_eq!(status, 200);
//! ```

use crate::events::Events;
use crate::handlers;
use crate::lifecycle;
use crate::peer::PeerWatch;
use crate::pubsub::{self, PubsubConfig};
use crate::state::{Limits, ServerState};
use crate::store::writer::{SyncMode, Writer};
use crate::store::{Store, StoreConfig};
use futures_lite::{AsyncRead, AsyncWrite};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How an [`Embedded`] server runs.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Longest assign long-poll in seconds (default 1).
    pub max_long_poll_secs: u64,
    /// Sync every group commit as `--sync always` does (default false: the OS decides).
    pub sync: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> EmbeddedOptions {
        EmbeddedOptions {
            max_long_poll_secs: 1,
            sync: false,
        }
    }
}

/// A server state with no listener. Dropping it drains the writer and closes the store, so
/// the same directory can be opened again (a restart).
pub struct Embedded {
    /// The shared state handlers run against.
    pub state: Arc<ServerState>,
    pubsub: Arc<PubsubConfig>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Embedded {
    /// Opens (or creates) a store in `dir` owned by `server_id`. Writes are not synced (the
    /// OS decides), assigns never long-poll for more than a second.
    pub fn open(dir: &Path, server_id: &str) -> Result<Embedded, String> {
        Embedded::open_with(dir, server_id, &EmbeddedOptions::default())
    }

    /// [`Embedded::open`] with options.
    pub fn open_with(
        dir: &Path,
        server_id: &str,
        options: &EmbeddedOptions,
    ) -> Result<Embedded, String> {
        let mut cfg = StoreConfig::new(dir.join("store"));
        cfg.worker_threads = 1;
        let store = Arc::new(Store::open(&cfg).map_err(|e| e.to_string())?);
        let events = Arc::new(Events::new());
        let mode = if options.sync {
            SyncMode::Always
        } else {
            SyncMode::Never
        };
        let (writer, writer_thread) =
            Writer::start(store.clone(), events.clone(), mode).map_err(|e| e.to_string())?;
        let limits = Limits {
            max_long_poll_secs: options.max_long_poll_secs,
            ..Limits::default()
        };
        let state = Arc::new(ServerState::new(
            store,
            writer,
            events,
            limits,
            server_id.to_string(),
        ));
        let pubsub = PubsubConfig {
            max_timeout: std::time::Duration::from_secs(1),
            ..PubsubConfig::default()
        };
        Ok(Embedded {
            state,
            pubsub: Arc::new(pubsub),
            writer_thread: Some(writer_thread),
        })
    }

    /// Writes every memtable to table files (for tests that damage tables).
    pub fn flush_tables(&self) -> Result<(), String> {
        self.state.store.flush_tables().map_err(|e| e.to_string())
    }

    /// Applies every deadline that is due now (execution and wait timeouts), as the server's
    /// deadline timer does when it wakes; returns how many fired.
    pub fn expire_due(&self) -> Result<usize, String> {
        smol::block_on(
            self.state
                .writer
                .run(|txn| lifecycle::expire_due(txn, usize::MAX)),
        )
        .map_err(|e| e.to_string())
    }

    /// Handles one `POST /api` body; returns the HTTP status and the reply envelope.
    pub fn request(&self, body: &[u8]) -> (u16, Vec<u8>) {
        let answer = smol::block_on(handlers::dispatch(&self.state, body, &PeerWatch::none()));
        (answer.status, answer.reply.to_json())
    }

    /// Runs a `/pubsub` session whose client sends exactly `bytes` (raw WebSocket frames, as
    /// after the HTTP upgrade) and then closes; returns the bytes the server wrote.
    pub fn websocket(&self, bytes: &[u8]) -> Vec<u8> {
        let output = Arc::new(std::sync::Mutex::new(Vec::new()));
        let io = Replay {
            input: bytes.to_vec(),
            pos: 0,
            output: output.clone(),
        };
        smol::block_on(pubsub::session(
            io,
            Vec::new(),
            self.state.clone(),
            self.pubsub.clone(),
        ));
        let written = output.lock().map(|v| v.clone()).unwrap_or_default();
        written
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.state.writer.close();
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

/// A client that sends a fixed byte string and then closes; what the server writes is kept
/// (up to 16 MiB) in a buffer shared with the caller, since the session consumes its stream.
struct Replay {
    input: Vec<u8>,
    pos: usize,
    output: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let rest = this.input.get(this.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Ok(mut out) = this.output.lock() {
            if out.len() < 16 << 20 {
                out.extend_from_slice(buf);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
