//! RPC handlers: one thin function per payload type, grouped by family. A handler parses its
//! message, checks the signer's role ([`crate::auth`]) and calls the store or the lifecycle.
//!
//! [`dispatch`] follows spec §1.2's processing order: unsigned `versionmsg` /
//! `getserverinfomsg`, signature recovery (403), payload type lookup (403), base64 and JSON
//! (400), `msgtype` check (400), then the handler.

pub mod channels;
mod colonies;
mod executors;
mod functions;
mod logs;
mod processes;
mod server;
mod users;
mod workflows;

use crate::peer::PeerWatch;
use crate::protocol::msgs::Message;
use crate::protocol::types::executor_state;
use crate::protocol::{ApiError, Reply, RequestEnvelope};
use crate::state::ServerState;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// Called when an answer could not be delivered (the client is gone).
pub type Undelivered = Box<dyn FnOnce() + Send>;

/// A handler's answer, ready for the transport.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The reply envelope.
    pub reply: Reply,
    /// Compensation to run if the reply cannot be delivered (assign rollback).
    pub undelivered: Option<Undelivered>,
}

impl Answer {
    fn error(e: &ApiError) -> Answer {
        Answer {
            status: e.status,
            reply: Reply::error(e),
            undelivered: None,
        }
    }
}

/// What a handler sees of one request.
pub struct Ctx<'a> {
    /// Shared state.
    pub state: &'a Arc<ServerState>,
    /// The signer's ID.
    pub signer: String,
    /// The envelope's payload type.
    pub payloadtype: &'a str,
    payload: Vec<u8>,
    /// Watches whether the client is still connected (long-poll).
    pub peer: &'a PeerWatch,
    undelivered: Option<Undelivered>,
}

impl Ctx<'_> {
    /// Parses the message and checks `msgtype == payloadtype`.
    pub fn msg<T: DeserializeOwned + Message>(&self) -> Result<T, ApiError> {
        let m: T = serde_json::from_slice(&self.payload).map_err(|e| {
            ApiError::bad_request(format!(
                "Failed to handle {}, invalid JSON: {e}",
                self.payloadtype
            ))
        })?;
        if m.msgtype() != self.payloadtype {
            return Err(ApiError::bad_request(format!(
                "Failed to handle {}, msg.MsgType ({:?}) does not match payloadType",
                self.payloadtype,
                m.msgtype()
            )));
        }
        Ok(m)
    }

    /// Registers a compensation for an undeliverable reply.
    pub fn on_undelivered(&mut self, f: Undelivered) {
        self.undelivered = Some(f);
    }
}

/// JSON bytes of a reply value.
pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| ApiError::internal(format!("failed to encode reply: {e}")))
}

/// The empty success reply `{}`.
pub fn empty() -> Result<Vec<u8>, ApiError> {
    Ok(b"{}".to_vec())
}

/// Bodies at least this large are decoded and handled on the blocking pool.
pub const OFFLOAD_BYTES: usize = 64 * 1024;

/// Handles one `/api` request body.
///
/// A large body (a channel payload of megabytes arrives as a JSON array of byte values inside
/// base64) costs tens of milliseconds of parsing. Run on one of the few executor threads, that
/// would stall every other connection served by the thread; so bodies of [`OFFLOAD_BYTES`] or
/// more are handled on smol's blocking pool instead (how many at once is already bounded by
/// `--body-memory`).
pub async fn dispatch(state: &Arc<ServerState>, body: &[u8], peer: &PeerWatch) -> Answer {
    if body.len() >= OFFLOAD_BYTES {
        let (state, body, peer) = (state.clone(), body.to_vec(), peer.clone());
        return smol::unblock(move || smol::block_on(dispatch_here(&state, &body, &peer))).await;
    }
    dispatch_here(state, body, peer).await
}

async fn dispatch_here(state: &Arc<ServerState>, body: &[u8], peer: &PeerWatch) -> Answer {
    let started = std::time::Instant::now();
    let (pt, answer) = match RequestEnvelope::parse(body) {
        Ok(env) => {
            let pt = PAYLOAD_TYPES
                .iter()
                .find(|p| **p == env.payloadtype)
                .copied()
                .unwrap_or("unknown");
            (pt, handle(state, env, peer).await)
        }
        Err(e) => ("invalid", Answer::error(&e)),
    };
    let c = &state.events.counters;
    c.by_type.add(pt, answer.status);
    c.request_latency.observe(started.elapsed());
    c.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    answer
}

async fn handle(state: &Arc<ServerState>, env: RequestEnvelope, peer: &PeerWatch) -> Answer {
    let unsigned = matches!(env.payloadtype.as_str(), "versionmsg" | "getserverinfomsg");
    let signer = if unsigned {
        String::new()
    } else {
        match state
            .signers
            .recover(env.payload.as_bytes(), &env.signature)
        {
            Ok(id) => id,
            Err(e) => return Answer::error(&ApiError::forbidden(e.to_string())),
        }
    };
    if !is_known(&env.payloadtype) {
        let msg = if env.payloadtype.is_empty() {
            "invalid rpcMsg.PayloadType: empty payloadtype".to_string()
        } else {
            format!("invalid rpcMsg.PayloadType: {}", env.payloadtype)
        };
        return Answer::error(&ApiError::forbidden(msg));
    }
    let payload = if env.payloadtype == "getserverinfomsg" {
        b"{\"msgtype\":\"getserverinfomsg\"}".to_vec()
    } else {
        match env.decode_payload() {
            Ok(p) => p,
            Err(e) => return Answer::error(&e),
        }
    };
    let mut ctx = Ctx {
        state,
        signer,
        payloadtype: &env.payloadtype,
        payload,
        peer,
        undelivered: None,
    };
    let result = route(&mut ctx).await;
    match result {
        Ok(json) => {
            let pt = if ctx.payloadtype == "getpausestatusmsg" {
                "pausestatusreplymsg"
            } else {
                ctx.payloadtype
            };
            Answer {
                status: 200,
                reply: Reply::ok(pt, &json),
                undelivered: ctx.undelivered.take(),
            }
        }
        Err(e) => Answer::error(&e),
    }
}

/// Every payload type this server implements.
pub const PAYLOAD_TYPES: &[&str] = &[
    "addcolonymsg",
    "removecolonymsg",
    "getcoloniesmsg",
    "getcolonymsg",
    "getcolonystatsmsg",
    "getstatisticsmsg",
    "addexecutormsg",
    "approveexecutormsg",
    "rejectexecutormsg",
    "removeexecutormsg",
    "getexecutorsmsg",
    "getexecutormsg",
    "getexecutorbyidmsg",
    "updateexecutormsg",
    "reportallocationmsg",
    "addusermsg",
    "getusersmsg",
    "getusermsg",
    "getuserbyidmsg",
    "removeusermsg",
    "submitfuncspecmsg",
    "assignprocessmsg",
    "getprocessmsg",
    "getprocessesmsg",
    "getprocesshistmsg",
    "removeprocessmsg",
    "removeallprocessesmsg",
    "closesuccessfulmsg",
    "closefailedmsg",
    "setoutputmsg",
    "cancelprocessmsg",
    "pauseassignmentsmsg",
    "resumeassignmentsmsg",
    "getpausestatusmsg",
    "addattributemsg",
    "getattributemsg",
    "addlogmsg",
    "addexecutorlogmsg",
    "getlogsmsg",
    "searchlogsmsg",
    "addfunctionmsg",
    "getfunctionsmsg",
    "removefunctionmsg",
    "submitworkflowspecmsg",
    "getprocessgraphmsg",
    "getprocessgraphsmsg",
    "removeprocessgraphmsg",
    "removeallprocessgraphsmsg",
    "cancelprocessgraphmsg",
    "addchildmsg",
    "channelappendmsg",
    "channelreadmsg",
    "versionmsg",
    "getserverinfomsg",
    "changeserveridmsg",
    "changecolonyidmsg",
    "changeuseridmsg",
    "changeexecutoridmsg",
    "colonydbackupmsg",
];

fn is_known(pt: &str) -> bool {
    PAYLOAD_TYPES.contains(&pt)
}

async fn route(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    match ctx.payloadtype {
        "addcolonymsg" => colonies::add(ctx).await,
        "removecolonymsg" => colonies::remove(ctx).await,
        "getcoloniesmsg" => colonies::list(ctx),
        "getcolonymsg" => colonies::get(ctx),
        "getcolonystatsmsg" => colonies::stats(ctx),
        "getstatisticsmsg" => colonies::server_stats(ctx),
        "addexecutormsg" => executors::add(ctx).await,
        "approveexecutormsg" => executors::set_state(ctx, executor_state::APPROVED).await,
        "rejectexecutormsg" => executors::set_state(ctx, executor_state::REJECTED).await,
        "removeexecutormsg" => executors::remove(ctx).await,
        "getexecutorsmsg" => executors::list(ctx),
        "getexecutormsg" => executors::get(ctx),
        "getexecutorbyidmsg" => executors::get_by_id(ctx),
        "updateexecutormsg" => executors::update(ctx).await,
        "reportallocationmsg" => executors::report_allocation(ctx).await,
        "addusermsg" => users::add(ctx).await,
        "getusersmsg" => users::list(ctx),
        "getusermsg" => users::get(ctx),
        "getuserbyidmsg" => users::get_by_id(ctx),
        "removeusermsg" => users::remove(ctx).await,
        "submitfuncspecmsg" => processes::submit(ctx).await,
        "assignprocessmsg" => processes::assign(ctx).await,
        "getprocessmsg" => processes::get(ctx),
        "getprocessesmsg" => processes::list(ctx),
        "getprocesshistmsg" => processes::history(ctx),
        "removeprocessmsg" => processes::remove(ctx).await,
        "removeallprocessesmsg" => processes::remove_all(ctx).await,
        "closesuccessfulmsg" => processes::close_successful(ctx).await,
        "closefailedmsg" => processes::close_failed(ctx).await,
        "setoutputmsg" => processes::set_output(ctx).await,
        "cancelprocessmsg" => processes::cancel(ctx).await,
        "pauseassignmentsmsg" => processes::pause(ctx, true).await,
        "resumeassignmentsmsg" => processes::pause(ctx, false).await,
        "getpausestatusmsg" => processes::pause_status(ctx),
        "addattributemsg" => processes::add_attribute(ctx).await,
        "getattributemsg" => processes::get_attribute(ctx),
        "addlogmsg" => logs::add(ctx).await,
        "addexecutorlogmsg" => logs::add_executor_log(ctx).await,
        "getlogsmsg" => logs::get(ctx),
        "searchlogsmsg" => logs::search(ctx),
        "addfunctionmsg" => functions::add(ctx).await,
        "getfunctionsmsg" => functions::list(ctx),
        "removefunctionmsg" => functions::remove(ctx).await,
        "submitworkflowspecmsg" => workflows::submit(ctx).await,
        "getprocessgraphmsg" => workflows::get(ctx),
        "getprocessgraphsmsg" => workflows::list(ctx),
        "removeprocessgraphmsg" => workflows::remove(ctx).await,
        "removeallprocessgraphsmsg" => workflows::remove_all(ctx).await,
        "cancelprocessgraphmsg" => workflows::cancel(ctx).await,
        "addchildmsg" => workflows::add_child(ctx).await,
        "channelappendmsg" => channels::append(ctx).await,
        "channelreadmsg" => channels::read(ctx),
        "versionmsg" => server::version(ctx),
        "getserverinfomsg" => server::info(ctx),
        "changeserveridmsg" => server::change_server_id(ctx).await,
        "changecolonyidmsg" => server::change_colony_id(ctx).await,
        "changeuseridmsg" => server::change_user_id(ctx).await,
        "changeexecutoridmsg" => server::change_executor_id(ctx).await,
        "colonydbackupmsg" => server::backup(ctx).await,
        other => Err(ApiError::forbidden(format!(
            "invalid rpcMsg.PayloadType: {other}"
        ))),
    }
}

/// Refuses names the key layout cannot hold (empty, a zero byte, over 256 bytes).
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request(format!("{what} is empty")));
    }
    if name.len() > 256 || name.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1-256 bytes without zero bytes"
        )));
    }
    Ok(())
}

/// Refuses an ID that is not 64 hex characters.
pub fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "invalid {what} length or format: expected 64 hex characters"
        )));
    }
    Ok(())
}
