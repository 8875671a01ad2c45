//! RPC handlers: one thin function per payload type, grouped by family. A handler parses its
//! message, checks the signer's role ([`crate::auth`]) and calls the store or the lifecycle.
//!
//! [`dispatch`] follows spec §1.2's processing order: unsigned `versionmsg` /
//! `getserverinfomsg`, signature recovery (403), payload type lookup (403), base64 and JSON
//! (400), `msgtype` check (400), then the handler.

mod blueprints;
pub mod channels;
mod colonies;
mod executors;
mod files;
mod functions;
mod locations;
mod logs;
mod processes;
mod schedules;
mod server;
mod users;
mod workflows;

use crate::peer::PeerWatch;
use crate::protocol::error::status;
use crate::protocol::types::executor_state;
use crate::protocol::{ApiError, Endpoint, PayloadType, Reply, Request, RequestEnvelope};
use crate::state::ServerState;
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
    /// The signer's ID (empty for unsigned requests).
    pub signer: String,
    /// The request's payload type.
    pub payloadtype: PayloadType,
    /// Watches whether the client is still connected (long-poll).
    pub peer: &'a PeerWatch,
    undelivered: Option<Undelivered>,
}

impl Ctx<'_> {
    /// Registers a compensation for an undeliverable reply.
    pub fn on_undelivered(&mut self, f: Undelivered) {
        self.undelivered = Some(f);
    }
}

/// JSON bytes of a reply value.
pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, ApiError> {
    crate::protocol::json::to_vec(v)
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
    let (metric_name, answer) = match RequestEnvelope::parse(body) {
        Ok(env) => {
            let name = PayloadType::from_name(&env.payloadtype)
                .filter(|pt| pt.endpoint() == Endpoint::Api)
                .map_or("unknown", PayloadType::name);
            (name, handle(state, env, peer).await)
        }
        Err(e) => ("invalid", Answer::error(&e)),
    };
    let c = &state.events.counters;
    c.by_type.add(metric_name, answer.status);
    c.request_latency.observe(started.elapsed());
    c.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    answer
}

/// Spec §1.2's order: signature (403), payload type (403), base64 and JSON (400), handler.
async fn handle(state: &Arc<ServerState>, env: RequestEnvelope, peer: &PeerWatch) -> Answer {
    let known = PayloadType::from_name(&env.payloadtype);
    let signer = if known.is_some_and(|pt| !pt.is_signed()) {
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
    let Some(pt) = known.filter(|pt| pt.endpoint() == Endpoint::Api) else {
        return Answer::error(&unknown_payload_type(&env.payloadtype));
    };
    let request = if pt == PayloadType::GetServerInfo {
        // upstream answers it without reading the payload
        Ok(Request::GetServerInfo(Default::default()))
    } else {
        env.decode_payload()
            .and_then(|json| Request::decode(pt, &json))
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => return Answer::error(&e),
    };
    let mut ctx = Ctx {
        state,
        signer,
        payloadtype: pt,
        peer,
        undelivered: None,
    };
    match route(&mut ctx, request).await {
        Ok(json) => Answer {
            status: status::OK,
            reply: Reply::ok(pt.reply_name(), &json),
            undelivered: ctx.undelivered.take(),
        },
        Err(e) => Answer::error(&e),
    }
}

/// The one dispatch: each request to its handler.
async fn route(ctx: &mut Ctx<'_>, request: Request) -> Result<Vec<u8>, ApiError> {
    use Request as R;
    match request {
        R::AddColony(m) => colonies::add(ctx, m).await,
        R::RemoveColony(m) => colonies::remove(ctx, m).await,
        R::GetColonies(m) => colonies::list(ctx, m),
        R::GetColony(m) => colonies::get(ctx, m),
        R::GetColonyStats(m) => colonies::stats(ctx, m),
        R::GetStatistics(m) => colonies::server_stats(ctx, m),
        R::AddExecutor(m) => executors::add(ctx, m).await,
        R::ApproveExecutor(m) => executors::set_state(ctx, m, executor_state::APPROVED).await,
        R::RejectExecutor(m) => executors::set_state(ctx, m, executor_state::REJECTED).await,
        R::RemoveExecutor(m) => executors::remove(ctx, m).await,
        R::GetExecutors(m) => executors::list(ctx, m),
        R::GetExecutor(m) => executors::get(ctx, m),
        R::GetExecutorById(m) => executors::get_by_id(ctx, m),
        R::UpdateExecutor(m) => executors::update(ctx, m).await,
        R::ReportAllocation(m) => executors::report_allocation(ctx, m).await,
        R::AddUser(m) => users::add(ctx, m).await,
        R::GetUsers(m) => users::list(ctx, m),
        R::GetUser(m) => users::get(ctx, m),
        R::GetUserById(m) => users::get_by_id(ctx, m),
        R::RemoveUser(m) => users::remove(ctx, m).await,
        R::SubmitFunctionSpec(m) => processes::submit(ctx, m).await,
        R::AssignProcess(m) => processes::assign(ctx, m).await,
        R::GetProcess(m) => processes::get(ctx, m),
        R::GetProcesses(m) => processes::list(ctx, m),
        R::GetProcessHistory(m) => processes::history(ctx, m),
        R::RemoveProcess(m) => processes::remove(ctx, m).await,
        R::RemoveAllProcesses(m) => processes::remove_all(ctx, m).await,
        R::CloseSuccessful(m) => processes::close_successful(ctx, m).await,
        R::CloseFailed(m) => processes::close_failed(ctx, m).await,
        R::SetOutput(m) => processes::set_output(ctx, m).await,
        R::CancelProcess(m) => processes::cancel(ctx, m).await,
        R::PauseAssignments(m) => processes::pause(ctx, m, true).await,
        R::ResumeAssignments(m) => processes::pause(ctx, m, false).await,
        R::GetPauseStatus(m) => processes::pause_status(ctx, m),
        R::AddAttribute(m) => processes::add_attribute(ctx, m).await,
        R::GetAttribute(m) => processes::get_attribute(ctx, m),
        R::AddLog(m) => logs::add(ctx, m).await,
        R::AddExecutorLog(m) => logs::add_executor_log(ctx, m).await,
        R::GetLogs(m) => logs::get(ctx, m),
        R::SearchLogs(m) => logs::search(ctx, m),
        R::AddFunction(m) => functions::add(ctx, m).await,
        R::GetFunctions(m) => functions::list(ctx, m),
        R::RemoveFunction(m) => functions::remove(ctx, m).await,
        R::SubmitWorkflowSpec(m) => workflows::submit(ctx, m).await,
        R::GetProcessGraph(m) => workflows::get(ctx, m),
        R::GetProcessGraphs(m) => workflows::list(ctx, m),
        R::RemoveProcessGraph(m) => workflows::remove(ctx, m).await,
        R::RemoveAllProcessGraphs(m) => workflows::remove_all(ctx, m).await,
        R::CancelProcessGraph(m) => workflows::cancel(ctx, m).await,
        R::AddChild(m) => workflows::add_child(ctx, m).await,
        R::ChannelAppend(m) => channels::append(ctx, m).await,
        R::ChannelRead(m) => channels::read(ctx, m),
        R::AddCron(m) => schedules::add_cron(ctx, m).await,
        R::GetCron(m) => schedules::get_cron(ctx, m),
        R::GetCrons(m) => schedules::get_crons(ctx, m),
        R::RunCron(m) => schedules::run_cron(ctx, m).await,
        R::RemoveCron(m) => schedules::remove_cron(ctx, m).await,
        R::AddGenerator(m) => schedules::add_generator(ctx, m).await,
        R::GetGenerator(m) => schedules::get_generator(ctx, m),
        R::GetGenerators(m) => schedules::get_generators(ctx, m),
        R::ResolveGenerator(m) => schedules::resolve_generator(ctx, m),
        R::PackGenerator(m) => schedules::pack(ctx, m).await,
        R::RemoveGenerator(m) => schedules::remove_generator(ctx, m).await,
        R::AddLocation(m) => locations::add(ctx, m).await,
        R::GetLocation(m) => locations::get(ctx, m),
        R::GetLocations(m) => locations::list(ctx, m),
        R::RemoveLocation(m) => locations::remove(ctx, m).await,
        R::GetCluster(m) => server::cluster(ctx, m),
        R::AddBlueprintDefinition(m) => blueprints::add_definition(ctx, m).await,
        R::GetBlueprintDefinition(m) => blueprints::get_definition(ctx, m),
        R::GetBlueprintDefinitions(m) => blueprints::get_definitions(ctx, m),
        R::RemoveBlueprintDefinition(m) => blueprints::remove_definition(ctx, m).await,
        R::AddBlueprint(m) => blueprints::add(ctx, m).await,
        R::GetBlueprint(m) => blueprints::get(ctx, m),
        R::GetBlueprints(m) => blueprints::list(ctx, m),
        R::UpdateBlueprint(m) => blueprints::update(ctx, m).await,
        R::RemoveBlueprint(m) => blueprints::remove(ctx, m).await,
        R::GetBlueprintHistory(m) => blueprints::history(ctx, m),
        R::UpdateBlueprintStatus(m) => blueprints::set_status(ctx, m).await,
        R::ReconcileBlueprint(m) => blueprints::reconcile(ctx, m).await,
        R::AddFile(m) => files::add(ctx, m).await,
        R::GetFile(m) => files::get(ctx, m),
        R::GetFiles(m) => files::list(ctx, m),
        R::GetFileLabels(m) => files::labels(ctx, m),
        R::RemoveFile(m) => files::remove(ctx, m).await,
        R::CreateSnapshot(m) => files::create_snapshot(ctx, m).await,
        R::GetSnapshot(m) => files::get_snapshot(ctx, m),
        R::GetSnapshots(m) => files::snapshots(ctx, m),
        R::RemoveSnapshot(m) => files::remove_snapshot(ctx, m).await,
        R::RemoveAllSnapshots(m) => files::remove_all_snapshots(ctx, m).await,
        R::Version(m) => server::version(ctx, m),
        R::GetServerInfo(m) => server::info(ctx, m),
        R::ChangeServerId(m) => server::change_server_id(ctx, m).await,
        R::ChangeColonyId(m) => server::change_colony_id(ctx, m).await,
        R::ChangeUserId(m) => server::change_user_id(ctx, m).await,
        R::ChangeExecutorId(m) => server::change_executor_id(ctx, m).await,
        R::Backup(m) => server::backup(ctx, m).await,
        R::Status(m) => server::status(ctx, m),
        R::Export(m) => server::export(ctx, m),
        // served on /pubsub: `handle` refuses them before decoding
        R::SubscribeProcess(_) | R::SubscribeProcesses(_) | R::SubscribeChannel(_) => {
            Err(unknown_payload_type(ctx.payloadtype.name()))
        }
    }
}

/// 403 for a payload type `/api` does not answer (spec §1.2: before the payload is decoded).
fn unknown_payload_type(name: &str) -> ApiError {
    if name.is_empty() {
        ApiError::forbidden("invalid rpcMsg.PayloadType: empty payloadtype")
    } else {
        ApiError::forbidden(format!("invalid rpcMsg.PayloadType: {name}"))
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
