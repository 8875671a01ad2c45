//! Routing and the `/api` endpoint: CORS, body limits, the reply envelope on every error.

use super::HttpConfig;
use crate::handlers::{self, Undelivered};
use crate::peer::PeerWatch;
use crate::protocol::{ApiError, Reply};
use crate::state::ServerState;
use bytes::Bytes;
use futures_lite::FutureExt;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Transport state shared by all connections.
pub struct Shared {
    /// Limits.
    pub http: HttpConfig,
    /// WebSocket limits.
    pub pubsub: Arc<crate::pubsub::PubsubConfig>,
    /// Request-body bytes currently buffered (bounded by `http.body_memory`).
    pub body_bytes: AtomicUsize,
    /// TLS acceptor when `--tls-cert`/`--tls-key` are set; plain HTTP otherwise.
    pub tls: Option<futures_rustls::TlsAcceptor>,
    /// Open connections (for eviction at the cap).
    pub connections: super::Connections,
}

impl Shared {
    /// Wraps a config.
    pub fn new(http: HttpConfig, pubsub: crate::pubsub::PubsubConfig) -> Shared {
        Shared {
            http,
            pubsub: Arc::new(pubsub),
            body_bytes: AtomicUsize::new(0),
            tls: None,
            connections: super::Connections::default(),
        }
    }
}

/// A reply body: one chunk. If the connection dies before the chunk is even taken by hyper,
/// the `undelivered` compensation runs (assign rollback). Once hyper took the bytes, delivery
/// is assumed: a false "undelivered" would run a process twice, which is worse.
pub struct ReplyBody {
    data: Option<Bytes>,
    undelivered: Option<Undelivered>,
}

impl ReplyBody {
    fn new(data: impl Into<Bytes>) -> ReplyBody {
        ReplyBody {
            data: Some(data.into()),
            undelivered: None,
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.undelivered = None;
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for ReplyBody {
    fn drop(&mut self) {
        if let Some(f) = self.undelivered.take() {
            f();
        }
    }
}

fn cors(resp: &mut Response<ReplyBody>) {
    resp.headers_mut()
        .insert("access-control-allow-origin", HeaderValue::from_static("*"));
}

fn plain(status: StatusCode, text: &'static str) -> Response<ReplyBody> {
    let mut r = Response::new(ReplyBody::new(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    cors(&mut r);
    r
}

fn envelope(status: u16, reply: &Reply, undelivered: Option<Undelivered>) -> Response<ReplyBody> {
    let mut r = Response::new(ReplyBody {
        data: Some(Bytes::from(reply.to_json())),
        undelivered,
    });
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    cors(&mut r);
    r
}

/// An error envelope with its HTTP status.
pub fn error_response(e: &ApiError) -> Response<ReplyBody> {
    envelope(e.status, &Reply::error(e), None)
}

/// Routes one request. `S` is the connection's stream type (a WebSocket upgrade takes it back).
pub async fn route<S>(
    req: Request<Incoming>,
    state: &Arc<ServerState>,
    shared: &Shared,
    peer: &PeerWatch,
) -> Response<ReplyBody>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    match (req.method(), req.uri().path()) {
        (&Method::OPTIONS, _) => {
            let mut r = plain(StatusCode::NO_CONTENT, "");
            let h = r.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("Origin,Content-Length,Content-Type"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("43200"));
            r
        }
        (&Method::GET, "/health") => plain(StatusCode::OK, ""),
        (&Method::POST, "/api") => api(req, state, shared, peer).await,
        (&Method::GET, "/pubsub") => websocket::<S>(req, state, shared),
        _ => plain(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// Answers a WebSocket upgrade on `/pubsub` and hands the socket to [`crate::pubsub::session`].
fn websocket<S>(
    mut req: Request<Incoming>,
    state: &Arc<ServerState>,
    shared: &Shared,
) -> Response<ReplyBody>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let h = req.headers();
    let has = |name: &str, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let Some(key) = h.get("sec-websocket-key").map(|k| k.as_bytes().to_vec()) else {
        return error_response(&ApiError::bad_request(
            "/pubsub is a WebSocket endpoint: send an Upgrade: websocket request",
        ));
    };
    if !has("upgrade", "websocket") || !has("connection", "upgrade") {
        return error_response(&ApiError::bad_request(
            "/pubsub is a WebSocket endpoint: send an Upgrade: websocket request",
        ));
    }
    if h.get("sec-websocket-version").and_then(|v| v.to_str().ok()) != Some("13") {
        let mut r = error_response(&ApiError::bad_request(
            "unsupported WebSocket version; use 13",
        ));
        r.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("13"));
        return r;
    }
    if state.events.is_shutting_down() {
        return error_response(&ApiError::unavailable("server is shutting down"));
    }
    let counters = &state.events.counters;
    if counters.websockets.fetch_add(1, Ordering::AcqRel) >= shared.pubsub.max_sockets {
        counters.websockets.fetch_sub(1, Ordering::AcqRel);
        return error_response(&ApiError::unavailable(format!(
            "too many WebSocket connections (at most {})",
            shared.pubsub.max_sockets
        )));
    }
    let accept = async_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let st = state.clone();
    let cfg = shared.pubsub.clone();
    smol::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                match upgraded.downcast::<smol_hyper::rt::FuturesIo<super::io::TimedIo<S>>>() {
                    Ok(parts) => {
                        let io = parts.io.into_inner();
                        crate::pubsub::session(io, parts.read_buf.to_vec(), st.clone(), cfg).await;
                    }
                    Err(_) => tracing::warn!("websocket upgrade: unexpected connection type"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
        st.events.counters.websockets.fetch_sub(1, Ordering::AcqRel);
    })
    .detach();
    let mut r = Response::new(ReplyBody::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// Releases reserved body memory when dropped.
struct Reservation<'a>(&'a AtomicUsize, usize);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::AcqRel);
    }
}

async fn api(
    req: Request<Incoming>,
    state: &Arc<ServerState>,
    shared: &Shared,
    peer: &PeerWatch,
) -> Response<ReplyBody> {
    let cfg = &shared.http;
    if state.events.is_shutting_down() {
        return error_response(&ApiError::unavailable("server is shutting down"));
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cfg.max_body) {
        let mut r = error_response(&ApiError::too_large(format!(
            "request body of {} bytes exceeds the limit of {} bytes (--max-body)",
            declared.unwrap_or(0),
            cfg.max_body
        )));
        r.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
        return r;
    }
    // small bodies are not accounted; large ones reserve what they may use
    let reserve = declared.unwrap_or(cfg.max_body);
    let _reservation = if reserve > 64 * 1024 {
        let prev = shared.body_bytes.fetch_add(reserve, Ordering::AcqRel);
        let r = Reservation(&shared.body_bytes, reserve);
        if prev + reserve > cfg.body_memory {
            return error_response(&ApiError::unavailable(
                "too many large requests in flight (--body-memory); try again later",
            ));
        }
        Some(r)
    } else {
        None
    };
    let limited = http_body_util::Limited::new(req.into_body(), cfg.max_body);
    let collected = async { Some(limited.collect().await) }
        .or(async {
            smol::Timer::after(cfg.body_timeout).await;
            None
        })
        .await;
    let body = match collected {
        None => {
            return error_response(&ApiError::timeout(format!(
                "request body not received within {} s",
                cfg.body_timeout.as_secs()
            )))
        }
        Some(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return error_response(&ApiError::too_large(format!(
                    "request body exceeds the limit of {} bytes (--max-body)",
                    cfg.max_body
                )));
            }
            return error_response(&ApiError::bad_request(format!(
                "failed to read request body: {e}"
            )));
        }
        Some(Ok(c)) => c.to_bytes(),
    };
    let answer = handlers::dispatch(state, &body, peer).await;
    envelope(answer.status, &answer.reply, answer.undelivered)
}
