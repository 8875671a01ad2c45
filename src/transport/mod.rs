//! HTTP transport: hyper 1 on smol's executor.
//!
//! [`serve`] accepts connections (bounded by a connection cap), wraps each socket in
//! [`io::TimedIo`] and hands it to hyper's HTTP/1 connection driver with [`http::route`] as
//! the service. A per-connection watchdog closes connections that sit idle past the keep-alive
//! timeout or take too long to send a request head. On shutdown, connections are asked to
//! finish their current request and close.
//!
//! Nothing here knows about TCP except [`serve`]: [`serve_connection`] takes any futures-io
//! stream, so with `--tls-cert`/`--tls-key` the socket is wrapped in rustls ([`tls`]) first,
//! the handshake bounded by the header timeout.

pub mod http;
pub mod io;
pub mod tls;

use crate::peer::PeerWatch;
use crate::state::ServerState;
use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};
use io::{Activity, TimedIo};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Transport limits (all configurable on the command line).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body in bytes (413 above).
    pub max_body: usize,
    /// Bytes of request bodies that may be buffered at once (503 above).
    pub body_memory: usize,
    /// Time allowed from the first byte of a request to its complete head.
    pub header_timeout: Duration,
    /// Time allowed to receive a request body.
    pub body_timeout: Duration,
    /// Idle time after which a kept-alive connection is closed.
    pub idle_timeout: Duration,
    /// Most simultaneous client connections (503 above).
    pub max_connections: usize,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_body: 71 << 20,
            body_memory: 128 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The next connection, or `None` once shutdown has started. Accept errors (e.g. EMFILE) are
/// logged and retried after a short back-off instead of spinning.
async fn accept(
    listener: &TcpListener,
    state: &ServerState,
) -> Option<(TcpStream, std::net::SocketAddr)> {
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                state.events.shutdown_started().await;
                None
            })
            .await?;
        match accepted {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Accepts connections until shutdown starts.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, cfg: Arc<http::Shared>) {
    while let Some((stream, addr)) = accept(&listener, &state).await {
        let _ = stream.set_nodelay(true);
        let counters = &state.events.counters;
        if counters.connections.load(Ordering::Acquire) >= cfg.http.max_connections {
            // at the cap: make room by closing the connection that has gone longest without a
            // request in flight (idle keep-alive, or a slow head); refuse only if all are busy
            if cfg.connections.evict_stalled() {
                counters.connections_evicted.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.connections_refused.fetch_add(1, Ordering::Relaxed);
                smol::spawn(refuse(stream)).detach();
                continue;
            }
        }
        counters.connections.fetch_add(1, Ordering::AcqRel);
        let state = state.clone();
        let cfg = cfg.clone();
        smol::spawn(async move {
            let peer = PeerWatch::new(stream.clone());
            match &cfg.tls {
                None => serve_connection(stream, peer, &state, &cfg).await,
                Some(acceptor) => {
                    let handshake = async { Some(acceptor.accept(stream).await) }.or(async {
                        smol::Timer::after(cfg.http.header_timeout).await;
                        None
                    });
                    match handshake.await {
                        Some(Ok(tls)) => serve_connection(tls, peer, &state, &cfg).await,
                        Some(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        None => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
            state
                .events
                .counters
                .connections
                .fetch_sub(1, Ordering::AcqRel);
            tracing::trace!(%addr, "connection closed");
        })
        .detach();
    }
}

async fn refuse(mut stream: TcpStream) {
    let reply = crate::protocol::Reply::error(&crate::protocol::ApiError::unavailable(
        "too many connections; try again later",
    ))
    .to_json();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\naccess-control-allow-origin: *\r\n\r\n",
        reply.len()
    );
    let write = async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&reply).await;
        let _ = stream.flush().await;
    };
    let _ = write
        .or(async {
            smol::Timer::after(Duration::from_secs(1)).await;
        })
        .await;
}

/// Serves one connection over any async stream until it closes, times out or shutdown ends it.
pub async fn serve_connection<S>(
    stream: S,
    peer: PeerWatch,
    state: &Arc<ServerState>,
    shared: &Arc<http::Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let _registered = shared.connections.register(activity.clone());
    let io = smol_hyper::rt::FuturesIo::new(TimedIo::new(stream, activity.clone()));
    let svc_state = state.clone();
    let svc_shared = shared.clone();
    let svc_activity = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let state = svc_state.clone();
        let shared = svc_shared.clone();
        let activity = svc_activity.clone();
        let peer = peer.clone();
        async move {
            activity.request_started();
            let _done = Finished(activity);
            Ok::<_, std::convert::Infallible>(http::route::<S>(req, &state, &shared, &peer).await)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(smol_hyper::rt::SmolTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let cfg = &shared.http;
    enum Stop {
        Done,
        Timeout,
        Shutdown,
    }
    let stop = async {
        let _ = conn.as_mut().await;
        Stop::Done
    }
    .or(async {
        loop {
            let now = Instant::now();
            let wake = match activity.deadline(
                u64::try_from(cfg.header_timeout.as_millis()).unwrap_or(u64::MAX),
                u64::try_from(cfg.idle_timeout.as_millis()).unwrap_or(u64::MAX),
            ) {
                Some(at) if at <= now => return Stop::Timeout,
                Some(at) => at.min(now + Duration::from_secs(1)),
                None => now + Duration::from_secs(1),
            };
            smol::Timer::at(wake).await;
        }
    })
    .or(async {
        activity.evicted().await;
        Stop::Timeout
    })
    .or(async {
        state.events.shutdown_started().await;
        Stop::Shutdown
    })
    .await;
    if let Stop::Shutdown = stop {
        conn.as_mut().graceful_shutdown();
        let _ = async {
            let _ = conn.as_mut().await;
        }
        .or(async {
            smol::Timer::after(cfg.shutdown_grace).await;
        })
        .await;
    }
}

/// The open connections' activity, so that at the connection cap the most stalled one can be
/// closed to admit a new client (thousands of idle sockets cannot lock others out).
#[derive(Default)]
pub struct Connections {
    next: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<std::collections::HashMap<u64, Arc<Activity>>>,
}

/// Removes a connection from [`Connections`] when it ends.
pub struct Registered<'a> {
    set: &'a Connections,
    id: u64,
}

impl Connections {
    /// Adds a connection; it is removed when the returned guard drops.
    pub fn register(&self, a: Arc<Activity>) -> Registered<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.open.lock() {
            m.insert(id, a);
        }
        Registered { set: self, id }
    }

    /// Asks the connection stalled longest (no request in flight) to close; false if every
    /// connection has a request in flight. A well-behaved client sends its request right after
    /// connecting, so the victim is the idlest socket, not a fresh one. O(connections), only
    /// run at the cap.
    pub fn evict_stalled(&self) -> bool {
        let Ok(m) = self.open.lock() else {
            return false;
        };
        let victim = m
            .values()
            .filter_map(|a| a.stalled_for().map(|ms| (ms, a)))
            .max_by_key(|(ms, _)| *ms);
        match victim {
            Some((_, a)) => {
                a.request_eviction();
                true
            }
            None => false,
        }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.set.open.lock() {
            m.remove(&self.id);
        }
    }
}

struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Serves `GET /metrics` (Prometheus text) on the separate metrics listener until shutdown.
pub async fn serve_metrics(listener: TcpListener, state: Arc<ServerState>) {
    while let Some((stream, _)) = accept(&listener, &state).await {
        let st = state.clone();
        smol::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let st = st.clone();
                    async move {
                        let (status, body) = if req.method() == hyper::Method::GET
                            && req.uri().path() == "/metrics"
                        {
                            let info = st
                                .info
                                .read()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            let facts = crate::metrics::Facts {
                                started_ns: info.started_ns,
                                min_free_disk: info.min_free_disk,
                            };
                            drop(info);
                            (
                                200,
                                crate::metrics::render(
                                    &st.events.counters,
                                    &st.store,
                                    st.events.fanout.active(),
                                    facts,
                                ),
                            )
                        } else {
                            (404, "404 page not found".to_string())
                        };
                        let mut r = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        ));
                        *r.status_mut() = hyper::StatusCode::from_u16(status)
                            .unwrap_or(hyper::StatusCode::NOT_FOUND);
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(smol_hyper::rt::SmolTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            let _ = b
                .serve_connection(smol_hyper::rt::FuturesIo::new(stream), service)
                .await;
        })
        .detach();
    }
}
