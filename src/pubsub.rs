//! `GET /pubsub`: WebSocket subscriptions (spec §1.5, decisions.md).
//!
//! After hyper's upgrade, one [`session`] task owns the socket. It reads request envelopes
//! (text frames), checks each signature, and starts a subscription task per request (capped
//! per socket). Subscription tasks hand finished frames to the session through a small bounded
//! queue, so a client that reads slowly slows its own subscriptions down and nothing else; the
//! session pings idle clients and closes sockets whose peer is dead.
//!
//! * `subscribechannelmsg`: the backlog from `afterseq` in byte-capped pages, then each new
//!   durable entry from the channel's fan-out ring, in log order, with no gap and no
//!   duplicate; a subscriber that falls behind the ring reads from disk at its own cursor.
//!   Always ends with a `[]` frame, then a close frame (timeout, channel closed after its last
//!   entry, server shutdown).
//! * `subscribeprocessmsg`: one frame with the process once it is (or was, for RUNNING) in the
//!   wanted state; a timeout is an error frame (408) then a close frame.
//! * `subscribeprocessesmsg`: a frame for each process of the colony and executor type that
//!   enters the state, each offered to exactly one subscriber; timeout as above.

use crate::auth;
use crate::channels::log::{self as chlog, ChannelMeta};
use crate::channels::wire;
use crate::events::Transition;
use crate::fanout::ring::Read;
use crate::fanout::Frame;
use crate::protocol::msgs::{ChannelCursorMsg, SubscribeProcessMsg};
use crate::protocol::types::{state as pstate, Process};
use crate::protocol::{ApiError, Endpoint, PayloadType, Reply, Request, RequestEnvelope};
use crate::state::ServerState;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use async_tungstenite::{WebSocketSender, WebSocketStream};
use futures_lite::{AsyncRead, AsyncWrite, FutureExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// WebSocket limits (command line).
#[derive(Debug, Clone)]
pub struct PubsubConfig {
    /// Most open WebSocket connections (503 above).
    pub max_sockets: usize,
    /// Most concurrent subscriptions on one socket.
    pub max_subscriptions: usize,
    /// Ping an idle client this often; close it after two intervals without any frame.
    pub ping_interval: Duration,
    /// Close a socket whose client has not taken a frame for this long.
    pub write_timeout: Duration,
    /// Longest subscription timeout honoured.
    pub max_timeout: Duration,
}

impl Default for PubsubConfig {
    fn default() -> PubsubConfig {
        PubsubConfig {
            max_sockets: 4096,
            max_subscriptions: 64,
            ping_interval: Duration::from_secs(30),
            write_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// Frames queued per socket before subscription tasks wait.
const OUT_QUEUE: usize = 16;
/// Largest request frame accepted from a client.
const MAX_IN_FRAME: usize = 64 * 1024;

enum Out {
    /// A frame to send: shared with every other subscriber of the same entry.
    Frame(Frame),
    Close,
}

type Outbox = async_channel::Sender<Out>;
/// What the socket's reader task hands the session.
type Incoming = Result<Message, async_tungstenite::tungstenite::Error>;

/// Runs one WebSocket connection until it closes.
pub async fn session<S>(
    io: S,
    already_read: Vec<u8>,
    state: Arc<ServerState>,
    cfg: Arc<PubsubConfig>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_IN_FRAME);
    config.max_frame_size = Some(MAX_IN_FRAME);
    // tungstenite's defaults (128 KiB read and write buffers per socket) would make 1 000 idle
    // subscribers cost 250 MB; requests are small and frames are written whole
    config.read_buffer_size = 4096;
    config.write_buffer_size = 0;
    let ws =
        WebSocketStream::from_partially_read(io, already_read, Role::Server, Some(config)).await;
    // the socket is read by a task of its own, parked until the client sends something: polled
    // from the loop below it would be read (EAGAIN) and re-armed after every frame written
    let (mut ws, mut ws_in) = ws.split();
    let (in_tx, in_rx) = async_channel::bounded::<Incoming>(4);
    let reader = smol::spawn(async move {
        while let Some(msg) = ws_in.next().await {
            let failed = msg.is_err();
            if in_tx.send(msg).await.is_err() || failed {
                break;
            }
        }
    });
    let (out_tx, out_rx) = async_channel::bounded::<Out>(OUT_QUEUE);
    let active = Arc::new(AtomicUsize::new(0));
    let mut tasks: Vec<smol::Task<()>> = Vec::new();
    let mut last_seen = Instant::now();
    let mut next_ping = Instant::now() + cfg.ping_interval;
    let mut shutdown_deadline: Option<Instant> = None;
    // one timer for pings and the shutdown grace, moved only when its instant changes
    let mut tick_at = next_ping;
    let mut tick = smol::Timer::at(tick_at);
    enum Ev {
        In(Option<Incoming>),
        Out(Option<Out>),
        Tick,
        Shutdown,
    }
    loop {
        let want = shutdown_deadline.map_or(next_ping, |d| d.min(next_ping));
        if want != tick_at {
            tick_at = want;
            tick.set_at(tick_at);
        }
        let ev = async { Ev::In(in_rx.recv().await.ok()) }
            .or(async { Ev::Out(out_rx.recv().await.ok()) })
            .or(async {
                (&mut tick).await;
                Ev::Tick
            })
            .or(async {
                if shutdown_deadline.is_some() {
                    futures_lite::future::pending::<()>().await;
                }
                state.events.shutdown_started().await;
                Ev::Shutdown
            })
            .await;
        match ev {
            Ev::In(None) | Ev::In(Some(Err(_))) => break,
            Ev::In(Some(Ok(msg))) => {
                last_seen = Instant::now();
                let text = match msg {
                    Message::Text(t) => t.as_str().as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if active.load(Ordering::Acquire) >= cfg.max_subscriptions {
                    let e = ApiError::unavailable(format!(
                        "too many subscriptions on this connection (at most {})",
                        cfg.max_subscriptions
                    ));
                    let frame = Reply::error(&e).to_json().into();
                    if !send_now(&mut ws, frame, cfg.write_timeout).await {
                        break;
                    }
                    continue;
                }
                tasks.retain(|t| !t.is_finished());
                active.fetch_add(1, Ordering::AcqRel);
                state
                    .events
                    .counters
                    .subscriptions
                    .fetch_add(1, Ordering::Relaxed);
                let st = state.clone();
                let out = out_tx.clone();
                let act = active.clone();
                let c = cfg.clone();
                tasks.push(smol::spawn(async move {
                    subscription(&st, &text, &out, &c).await;
                    act.fetch_sub(1, Ordering::AcqRel);
                    st.events
                        .counters
                        .subscriptions
                        .fetch_sub(1, Ordering::Relaxed);
                }));
            }
            Ev::Out(Some(Out::Frame(f))) => {
                if !send_now(&mut ws, f, cfg.write_timeout).await {
                    break;
                }
            }
            Ev::Out(Some(Out::Close)) | Ev::Out(None) => break,
            Ev::Tick => {
                let now = Instant::now();
                if shutdown_deadline.is_some_and(|d| now >= d) {
                    break;
                }
                if now >= next_ping {
                    if now.duration_since(last_seen) > cfg.ping_interval * 2 {
                        tracing::debug!("websocket peer silent for two ping intervals; closing");
                        break;
                    }
                    if !send_msg(&mut ws, Message::Ping(Vec::new().into()), cfg.write_timeout).await
                    {
                        break;
                    }
                    next_ping = now + cfg.ping_interval;
                }
                // a fired timer does not fire again: arm it for the next instant
                tick_at = Instant::now();
            }
            Ev::Shutdown => {
                // subscriptions send their final frames themselves; give them a moment
                shutdown_deadline = Some(Instant::now() + Duration::from_secs(2));
            }
        }
    }
    drop(tasks);
    drop(reader);
    let _ = async {
        let _ = ws.close(None).await;
    }
    .or(async {
        smol::Timer::after(Duration::from_secs(1)).await;
    })
    .await;
}

async fn send_msg<S>(ws: &mut WebSocketSender<S>, m: Message, timeout: Duration) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async { ws.send(m).await.is_ok() }
        .or(async {
            smol::Timer::after(timeout).await;
            tracing::debug!("websocket client stopped reading; closing");
            false
        })
        .await
}

async fn send_now<S>(ws: &mut WebSocketSender<S>, frame: Frame, timeout: Duration) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match Utf8Bytes::try_from(frame) {
        Ok(text) => send_msg(ws, Message::Text(text), timeout).await,
        Err(e) => {
            // frames are JSON we encoded: cannot happen
            debug_assert!(false, "frame is not UTF-8: {e}");
            tracing::error!("dropping a WebSocket frame that is not UTF-8");
            true
        }
    }
}

async fn emit(out: &Outbox, frame: impl Into<Frame>) -> bool {
    out.send(Out::Frame(frame.into())).await.is_ok()
}

async fn emit_error(out: &Outbox, e: &ApiError) -> bool {
    emit(out, Reply::error(e).to_json()).await
}

/// Handles one request frame.
async fn subscription(state: &Arc<ServerState>, frame: &[u8], out: &Outbox, cfg: &PubsubConfig) {
    let env = match RequestEnvelope::parse(frame) {
        Ok(e) => e,
        Err(e) => {
            emit_error(out, &e).await;
            return;
        }
    };
    let Some(pt) =
        PayloadType::from_name(&env.payloadtype).filter(|pt| pt.endpoint() == Endpoint::Pubsub)
    else {
        return; // other payload types are ignored on /pubsub, as upstream
    };
    let signer = match state
        .signers
        .recover(env.payload.as_bytes(), &env.signature)
    {
        Ok(id) => id,
        Err(e) => {
            emit_error(out, &ApiError::forbidden(e.to_string())).await;
            return;
        }
    };
    let request = env
        .decode_payload()
        .and_then(|json| Request::decode(pt, &json));
    let result = match request {
        Ok(Request::SubscribeChannel(m)) => subscribe_channel(state, &signer, m, out, cfg).await,
        Ok(Request::SubscribeProcess(m)) => subscribe_process(state, &signer, m, out, cfg).await,
        Ok(Request::SubscribeProcesses(m)) => {
            subscribe_processes(state, &signer, m, out, cfg).await
        }
        // filtered above: every other request is served on /api
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        emit_error(out, &e).await;
    }
}

fn deadline_for(timeout: i64, default: i64, cfg: &PubsubConfig) -> Instant {
    let secs = if timeout <= 0 { default } else { timeout };
    let d = Duration::from_secs(u64::try_from(secs).unwrap_or(30)).min(cfg.max_timeout);
    Instant::now() + d
}

async fn subscribe_channel(
    state: &Arc<ServerState>,
    signer: &str,
    m: ChannelCursorMsg,
    out: &Outbox,
    cfg: &PubsubConfig,
) -> Result<(), ApiError> {
    let store = &state.store;
    crate::auth::channel(store, &m.processid, &m.name, signer, "subscribe to")?;
    let mut deadline = smol::Timer::at(deadline_for(m.timeout, 30, cfg));
    let page_bytes = store.channel_policy.page_bytes;
    let (mut meta, mut end) = current_meta(state, &m.processid, &m.name)?
        .ok_or_else(|| ApiError::not_found("Channel not found"))?;
    let sub = state.events.fanout.subscribe(meta.cid, end);
    let mut cursor = u64::try_from(m.afterseq).unwrap_or(0);
    let mut frame = None;
    // metadata removed (the history was dropped): what `meta` points at is all there is
    let mut gone = false;
    // entries made durable between the first look and the subscription reached no ring: one
    // more look once the ring exists finds them; every later entry is published into it
    let mut looked_since_subscribing = false;
    loop {
        // the listener first, then the checks: a publish after them wakes us (no missed wake-up)
        let listener = sub.feed.listen();
        // a live subscriber is served from the ring: the shared frame, no copy, no storage
        // read
        let read = sub.feed.ring.read(cursor, &mut frame);
        if let Some(f) = frame.take() {
            if !emit(out, f).await {
                return Ok(());
            }
            cursor += 1;
            continue;
        }
        let behind = matches!(read, Read::Lagged | Read::Oversize);
        if behind || cursor < end || !looked_since_subscribing || read == Read::Closed {
            // not in the ring (backlog, lag, an oversize entry, entries made durable before
            // the ring existed) or the channel closed: the durable snapshot knows
            looked_since_subscribing = true;
            match current_meta(state, &m.processid, &m.name)? {
                Some((fresh, e)) => (meta, end) = (fresh, e),
                None => gone = true,
            }
            if cursor < end {
                match disk_page(state, &meta, cursor, page_bytes)? {
                    Some((frame, n)) => {
                        if !emit(out, frame).await {
                            return Ok(());
                        }
                        cursor += n;
                        continue;
                    }
                    None => break, // entries gone (segment dropped): nothing more to send
                }
            }
        }
        if gone || meta.closed_at != 0 || read == Read::Closed {
            break; // every entry appended before the close was sent
        }
        // caught up: wait without touching storage
        if wait(listener, &mut deadline, state).await != Wake::Notified {
            break;
        }
    }
    let drained = gone || meta.closed_at != 0 || sub.feed.ring.is_closed();
    drop(sub);
    if emit(out, wire::end_frame()).await {
        let _ = out.send(Out::Close).await;
    }
    if drained && store.channel_policy.retention_ns == 0 {
        // the history was kept only for live subscribers: the last one out removes it
        let (pid, name, policy) = (
            m.processid.clone(),
            m.name.clone(),
            store.channel_policy.clone(),
        );
        let _ = state
            .writer
            .run(move |txn| chlog::drop_drained(txn, &pid, &name, &policy))
            .await;
    }
    Ok(())
}

/// The channel's metadata and the end of its log as of the latest durable snapshot.
/// A read or decode failure is an error (the subscriber gets a 500 frame), never "gone".
fn current_meta(
    state: &ServerState,
    pid: &str,
    name: &str,
) -> Result<Option<(ChannelMeta, u64)>, ApiError> {
    let snap = state.store.durable();
    use fjall::Readable;
    match snap.get(&state.store.channels, chlog::meta_key(pid, name))? {
        Some(raw) => {
            let meta: ChannelMeta = crate::store::decode(&raw)?;
            let end = chlog::end(&state.store, &snap, &meta)?;
            Ok(Some((meta, end)))
        }
        None => Ok(None),
    }
}

/// A page of entries from `cursor` read from the durable snapshot, as one frame, and how many
/// entries it carries; `None` if the entries are gone.
fn disk_page(
    state: &ServerState,
    meta: &ChannelMeta,
    cursor: u64,
    page_bytes: usize,
) -> Result<Option<(Vec<u8>, u64)>, ApiError> {
    let snap = state.store.durable();
    let entries = chlog::read_entries(&state.store, &snap, meta, cursor, 0, page_bytes)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let n = entries.len() as u64;
    Ok(Some((
        wire::subscription_frame(entries.iter().map(|(_, e)| e))?,
        n,
    )))
}

/// Why a subscription stopped waiting.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Notified,
    Deadline,
    Shutdown,
}

/// Waits for `listener`, the subscription's deadline (`timer`, one per subscription: a timer
/// made per wait would register with the reactor, and wake its thread, once per delivered
/// entry) or server shutdown.
async fn wait(
    listener: event_listener::EventListener,
    timer: &mut smol::Timer,
    state: &ServerState,
) -> Wake {
    async {
        listener.await;
        Wake::Notified
    }
    .or(async {
        timer.await;
        Wake::Deadline
    })
    .or(async {
        state.events.shutdown_started().await;
        Wake::Shutdown
    })
    .await
}

fn process_frame(p: &Process) -> Result<Vec<u8>, ApiError> {
    let json = crate::protocol::json::to_vec(p)?;
    Ok(Reply::ok("subscribeprocessmsg", &json).to_json())
}

/// Whether `p` is, or has been, in `want` (RUNNING counts once the process started).
fn reached(p: &Process, want: i32) -> bool {
    p.state == want
        || (want == pstate::RUNNING && !p.starttime.is_zero() && pstate::is_final(p.state))
}

/// Waits for a process event. On the deadline or at shutdown it ends the subscription with
/// an error frame (408 / 503) and a close frame, and returns false.
async fn keep_waiting(
    listener: event_listener::EventListener,
    deadline: &mut smol::Timer,
    state: &ServerState,
    out: &Outbox,
) -> bool {
    let e = match wait(listener, deadline, state).await {
        Wake::Notified => return true,
        Wake::Deadline => ApiError::timeout("timeout waiting for process state"),
        Wake::Shutdown => ApiError::unavailable("server is shutting down"),
    };
    if emit_error(out, &e).await {
        let _ = out.send(Out::Close).await;
    }
    false
}

async fn subscribe_process(
    state: &Arc<ServerState>,
    signer: &str,
    m: SubscribeProcessMsg,
    out: &Outbox,
    cfg: &PubsubConfig,
) -> Result<(), ApiError> {
    let store = &state.store;
    // transitions after this point are seen by the loop below
    let mut cursor = state.events.transition_seq();
    let p = store
        .process(&m.processid)?
        .ok_or_else(|| ApiError::forbidden(format!("Invalid process with Id {}", m.processid)))?;
    // approved members only: the frame carries the whole process, as getprocessmsg does
    auth::member(store, p.colony(), signer, true)?;
    let mut deadline = smol::Timer::at(deadline_for(m.timeout, 0, cfg));
    if reached(&p, m.state) {
        emit(out, process_frame(&p)?).await;
        return Ok(());
    }
    loop {
        let listener = state.events.listen_process();
        let (hits, overflowed) = state
            .events
            .transitions_since(cursor, |t| t.processid == m.processid);
        if let Some(last) = hits.last() {
            cursor = last.seq;
        }
        if hits.iter().any(|t| t.state == m.state) || overflowed {
            if let Some(p) = store.process(&m.processid)? {
                if hits.iter().any(|t| t.state == m.state) || reached(&p, m.state) {
                    emit(out, process_frame(&p)?).await;
                    return Ok(());
                }
            }
        }
        if !keep_waiting(listener, &mut deadline, state, out).await {
            return Ok(());
        }
    }
}

async fn subscribe_processes(
    state: &Arc<ServerState>,
    signer: &str,
    m: SubscribeProcessMsg,
    out: &Outbox,
    cfg: &PubsubConfig,
) -> Result<(), ApiError> {
    auth::approved_executor(&state.store, &m.colonyname, signer)?;
    let mut deadline = smol::Timer::at(deadline_for(m.timeout, 0, cfg));
    let mut cursor = state.events.transition_seq();
    let matches = |t: &Transition| {
        t.colony == m.colonyname && t.executortype == m.executortype && t.state == m.state
    };
    loop {
        let listener = state.events.listen_process();
        let (hits, _) = state.events.transitions_since(cursor, matches);
        for t in hits {
            cursor = cursor.max(t.seq);
            if !state.events.claim(t.seq) {
                continue; // offered to another subscriber
            }
            if let Some(p) = state.store.process(&t.processid)? {
                if !emit(out, process_frame(&p)?).await {
                    return Ok(());
                }
            }
        }
        if !keep_waiting(listener, &mut deadline, state, out).await {
            return Ok(());
        }
    }
}
