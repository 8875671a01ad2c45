//! Processes (spec §4.4): submit, assign (long-poll), close, listings, removal, attributes.

use super::{empty, json, Ctx};
use crate::auth;
use crate::lifecycle;
use crate::protocol::error::status;
use crate::protocol::msgs::{
    AddAttributeMsg, AssignMsg, AttributeIdMsg, CloseFailedMsg, ColonyNameMsg, GetProcessHistMsg,
    GetProcessesMsg, OutputMsg, ProcessIdMsg, RemoveAllProcessesMsg, SubmitMsg,
};
use crate::protocol::time::now_ns;
use crate::protocol::types::{executor_state, state, Process};
use crate::protocol::ApiError;
use crate::scheduler::{self, Offer};
use crate::state::ServerState;
use crate::store::keys;
use futures_lite::FutureExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most processes one `removeallprocessesmsg` writer operation deletes; larger removals take
/// several operations.
const REMOVE_CHUNK: usize = 10_000;
/// Cap on `getprocesshistmsg` results.
const MAX_HISTORY: usize = 10_000;
/// Cap on index entries a filtered listing inspects.
const MAX_LIST_SCAN: usize = 100_000;

pub async fn submit(ctx: &mut Ctx<'_>, m: SubmitMsg) -> Result<Vec<u8>, ApiError> {
    let mut spec = m
        .spec
        .ok_or_else(|| ApiError::bad_request("Failed to submit function spec, spec is null"))?;
    lifecycle::normalize_spec(&mut spec)?;
    let member = auth::member(
        &ctx.state.store,
        &spec.conditions.colonyname,
        &ctx.signer,
        true,
    )?;
    let signer = ctx.signer.clone();
    let name = member.name().to_string();
    let p = ctx
        .state
        .writer
        .run(move |txn| lifecycle::submit(txn, spec, &signer, &name))
        .await?;
    json(&p)
}

fn load(ctx: &Ctx<'_>, pid: &str, op: &str) -> Result<Process, ApiError> {
    ctx.state
        .store
        .process(pid)?
        .ok_or_else(|| ApiError::not_found(format!("Failed to {op}, process not found")))
}

pub fn get(ctx: &mut Ctx<'_>, m: ProcessIdMsg) -> Result<Vec<u8>, ApiError> {
    let p = load(ctx, &m.processid, "get process")?;
    auth::member(&ctx.state.store, p.colony(), &ctx.signer, true)?;
    json(&p)
}

pub async fn assign(ctx: &mut Ctx<'_>, m: AssignMsg) -> Result<Vec<u8>, ApiError> {
    if m.timeout == 0 {
        return Err(ApiError::bad_request(
            "Invalid timeout value, timeout cannot be zero",
        ));
    }
    let executor = auth::approved_executor(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    let offer = Offer::parse(&m.availablecpu, &m.availablemem)?;
    let state = ctx.state.clone();
    let wait = u64::try_from(m.timeout)
        .ok()
        .map(|s| Duration::from_secs(s.min(state.limits.max_long_poll_secs)));
    // a long-poll holds a connection and a waiter: bounded by --max-long-polls overall and per
    // executor. Over a bound, the request degrades to a single attempt: it still gets work that
    // is there now, and a 503 (not a 404) if there is none, so a flood cannot lock others out
    let (_slot, over_cap) = match wait {
        Some(_) => match LongPollSlot::take(&state, &executor.executorid) {
            Ok(slot) => (Some(slot), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let deadline = wait
        .filter(|_| over_cap.is_none())
        .map(|w| Instant::now() + w);
    let mut first = true;
    loop {
        let listener = state.events.listen_waiting();
        if state.events.is_shutting_down() {
            return Err(ApiError::unavailable("server is shutting down"));
        }
        let paused = state.store.is_paused(&m.colonyname)?;
        // a read-only look first: an idle executor woken for another executor's process does
        // not cost a write
        let candidate = !paused && scheduler::select(&state.store, &executor, offer)?.is_some();
        if candidate || first {
            first = false;
            let ex = executor.clone();
            let skip = paused;
            let got = state
                .writer
                .run(move |txn| {
                    let Some(fresh) = txn.store.executor_by_id(&ex.executorid)? else {
                        return Err(ApiError::forbidden(
                            "Failed to assign process, executor not found",
                        ));
                    };
                    // removed, rejected or moved while it waited: no more work for it
                    if fresh.state != executor_state::APPROVED
                        || fresh.colonyname != ex.colonyname
                        || fresh.executorname != ex.executorname
                    {
                        return Err(ApiError::forbidden(format!(
                            "Access denied, not a member of Colony with name <{}>",
                            ex.colonyname
                        )));
                    }
                    if skip {
                        // still record that the executor was heard from
                        let mut e = fresh;
                        e.lastheardfromtime = crate::protocol::time::Timestamp(txn.now);
                        let reg = txn.store.registry.clone();
                        txn.put(&reg, keys::executor(&e.colonyname, &e.executorname), &e)?;
                        return Ok(None);
                    }
                    lifecycle::assign(txn, &fresh, offer)
                })
                .await?;
            if let Some(p) = got {
                if ctx.peer.is_gone_now() {
                    rollback(&state, p).await;
                    return Err(ApiError::new(
                        status::CLIENT_CLOSED,
                        "client closed the connection during assign",
                    ));
                }
                let st = state.clone();
                let assigned = p.clone();
                ctx.on_undelivered(Box::new(move || {
                    smol::spawn(async move { rollback(&st, assigned).await }).detach();
                }));
                return json(&p);
            }
        }
        let Some(deadline) = deadline else {
            if let Some(e) = over_cap {
                return Err(e);
            }
            return Err(if paused {
                ApiError::unavailable(format!(
                    "Failed to assign process, assignments in colony {} are paused",
                    m.colonyname
                ))
            } else {
                ApiError::not_found("No process available for assignment")
            });
        };
        let woke = async {
            listener.await;
            true
        }
        .or(async {
            smol::Timer::at(deadline).await;
            false
        })
        .or(async {
            state.events.shutdown_started().await;
            true
        })
        .or(async {
            ctx.peer.gone().await;
            true
        })
        .await;
        if ctx.peer.is_gone_now() {
            return Err(ApiError::new(
                status::CLIENT_CLOSED,
                "client closed the connection during assign",
            ));
        }
        if !woke || Instant::now() >= deadline {
            // a long-poll that ends without work still heard from its executor: the stale
            // sweep must not take it between this answer and its next poll
            let (colony, name, id) = (
                executor.colonyname.clone(),
                executor.executorname.clone(),
                executor.executorid.clone(),
            );
            let _ = state
                .writer
                .run(move |txn| crate::housekeeping::heard_from(txn, &colony, &name, &id))
                .await;
            return Err(if paused {
                ApiError::timeout(format!(
                    "Failed to assign process, assignments in colony {} are paused",
                    m.colonyname
                ))
            } else {
                ApiError::not_found("No process available for assignment")
            });
        }
    }
}

async fn rollback(state: &std::sync::Arc<crate::state::ServerState>, p: Process) {
    let pid = p.processid.clone();
    match state
        .writer
        .run(move |txn| lifecycle::rollback_assign(txn, &p))
        .await
    {
        Ok(true) => {
            state
                .events
                .counters
                .assign_rollbacks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(processid = %pid, "assign reply undeliverable; process back to waiting");
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(processid = %pid, error = %e, "assign rollback failed"),
    }
}

pub fn list(ctx: &mut Ctx<'_>, m: GetProcessesMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    auth::member(store, &m.colonyname, &ctx.signer, true)?;
    if m.count > 100 {
        return Err(ApiError::bad_request(
            "Failed to get processes, count exceeds the maximum of 100",
        ));
    }
    let count = usize::try_from(m.count).unwrap_or(0);
    if !m.processgraphid.is_empty() {
        // pycolonies' get_processes_for_workflow: the members of one graph (state -1 = all)
        let g = crate::workflows::load(store, &m.processgraphid)?
            .filter(|g| g.colonyname == m.colonyname)
            .ok_or_else(|| {
                ApiError::not_found("Failed to get processes, process graph not found")
            })?;
        let mut out = Vec::new();
        for pid in g.processids.iter() {
            if out.len() >= count {
                break;
            }
            if let Some(p) = store.process(pid)? {
                if m.state < 0 || i64::from(p.state) == m.state {
                    out.push(p);
                }
            }
        }
        return json(&out);
    }
    let st = i32::try_from(m.state)
        .ok()
        .filter(|s| (state::WAITING..=state::CANCELLED).contains(s))
        .ok_or_else(|| ApiError::bad_request("Failed to get processes, invalid msg.State"))?;
    if count == 0 {
        return json(&Vec::<Process>::new());
    }
    let initiator = if m.executortype.is_empty() && !m.initiator.is_empty() {
        let u = store.user(&m.colonyname, &m.initiator)?.ok_or_else(|| {
            ApiError::bad_request(format!("User <{}> does not exist", m.initiator))
        })?;
        Some(u.userid)
    } else {
        None
    };
    let mut out = Vec::new();
    for g in store
        .index
        .prefix(keys::by_state(&m.colonyname, st))
        .take(MAX_LIST_SCAN)
    {
        if out.len() >= count {
            break;
        }
        let key = g.key()?;
        let Some(pid) = keys::trailing_pid(&key) else {
            continue;
        };
        let Some(p) = store.process(&pid)? else {
            continue;
        };
        let keep = if !m.executortype.is_empty() {
            p.spec.conditions.executortype == m.executortype
        } else if let Some(id) = &initiator {
            &p.initiatorid == id
        } else if !m.label.is_empty() {
            p.spec.label == m.label
        } else {
            true
        };
        if keep {
            out.push(p);
        }
    }
    json(&out)
}

pub fn history(ctx: &mut Ctx<'_>, m: GetProcessHistMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    auth::member(store, &m.colonyname, &ctx.signer, true)?;
    let since = now_ns().saturating_sub(m.seconds.max(0).saturating_mul(1_000_000_000));
    let prefix = keys::history_of(&m.colonyname);
    let mut start = prefix.clone();
    start.extend_from_slice(&keys::i64be(since));
    let mut end = prefix.clone();
    end.push(0xff);
    let mut out = Vec::new();
    for g in store.index.range(start..end) {
        if out.len() >= MAX_HISTORY {
            break;
        }
        let key = g.key()?;
        let Some(pid) = keys::trailing_pid(&key) else {
            continue;
        };
        let Some(p) = store.process(&pid)? else {
            continue;
        };
        if (m.state < 0 || i64::from(p.state) == m.state)
            && (m.executorid.is_empty() || p.assignedexecutorid == m.executorid)
        {
            out.push(p);
        }
    }
    json(&out)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: ProcessIdMsg) -> Result<Vec<u8>, ApiError> {
    let p = load(ctx, &m.processid, "remove process")?;
    auth::member(&ctx.state.store, p.colony(), &ctx.signer, true)?;
    ctx.state
        .writer
        .run(move |txn| {
            let p = lifecycle::load(txn, &m.processid, "remove process")?;
            if !p.processgraphid.is_empty() {
                return Err(ApiError::bad_request(
                    "Failed to remove process, it is part of a workflow; remove the workflow instead",
                ));
            }
            if p.state == state::RUNNING {
                return Err(ApiError::bad_request(
                    "Failed to remove process, process is running",
                ));
            }
            crate::process::remove(txn, &p)
        })
        .await?;
    empty()
}

pub async fn remove_all(ctx: &mut Ctx<'_>, m: RemoveAllProcessesMsg) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    let states: Vec<i32> = match m.state {
        -1 => vec![
            state::WAITING,
            state::SUCCESS,
            state::FAILED,
            state::CANCELLED,
        ],
        1 => {
            return Err(ApiError::bad_request(
                "Not possible to remove running processes",
            ))
        }
        0 | 2..=4 => vec![m.state as i32],
        other => {
            return Err(ApiError::bad_request(format!(
                "Failed to remove processes, invalid state {other}"
            )))
        }
    };
    for st in states {
        loop {
            let colony = m.colonyname.clone();
            let removed = ctx
                .state
                .writer
                .run(move |txn| {
                    let ps = txn.store.processes_by_index(
                        &keys::by_state(&colony, st),
                        REMOVE_CHUNK,
                        false,
                    )?;
                    let mut n = 0;
                    for p in ps.iter().filter(|p| p.processgraphid.is_empty()) {
                        crate::process::remove(txn, p)?;
                        n += 1;
                    }
                    Ok(n)
                })
                .await?;
            if removed < REMOVE_CHUNK {
                break;
            }
        }
    }
    empty()
}

/// Membership check for messages addressed to an assigned executor (AE = M + assigned).
fn member_of_process(ctx: &Ctx<'_>, pid: &str, op: &str) -> Result<(), ApiError> {
    let p = load(ctx, pid, op)?;
    auth::member(&ctx.state.store, p.colony(), &ctx.signer, true)?;
    Ok(())
}

pub async fn close_successful(ctx: &mut Ctx<'_>, m: OutputMsg) -> Result<Vec<u8>, ApiError> {
    member_of_process(ctx, &m.processid, "close process as successful")?;
    let signer = ctx.signer.clone();
    ctx.state
        .writer
        .run(move |txn| lifecycle::close_successful(txn, &m.processid, &signer, m.out))
        .await?;
    empty()
}

pub async fn close_failed(ctx: &mut Ctx<'_>, m: CloseFailedMsg) -> Result<Vec<u8>, ApiError> {
    member_of_process(ctx, &m.processid, "close process as failed")?;
    let signer = ctx.signer.clone();
    ctx.state
        .writer
        .run(move |txn| {
            lifecycle::close_failed(txn, &m.processid, &signer, m.errors.unwrap_or_default())
        })
        .await?;
    empty()
}

pub async fn set_output(ctx: &mut Ctx<'_>, m: OutputMsg) -> Result<Vec<u8>, ApiError> {
    member_of_process(ctx, &m.processid, "set output")?;
    let signer = ctx.signer.clone();
    ctx.state
        .writer
        .run(move |txn| {
            lifecycle::set_output(txn, &m.processid, &signer, m.out.unwrap_or_default())
        })
        .await?;
    empty()
}

pub async fn cancel(ctx: &mut Ctx<'_>, m: ProcessIdMsg) -> Result<Vec<u8>, ApiError> {
    member_of_process(ctx, &m.processid, "cancel process")?;
    ctx.state
        .writer
        .run(move |txn| lifecycle::cancel(txn, &m.processid))
        .await?;
    empty()
}

pub async fn pause(ctx: &mut Ctx<'_>, m: ColonyNameMsg, paused: bool) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            if paused {
                txn.put_raw(&reg, keys::paused(&m.colonyname), Vec::new());
            } else {
                txn.remove(&reg, keys::paused(&m.colonyname));
                txn.emit(crate::store::writer::Effect::Resumed);
            }
            Ok(())
        })
        .await?;
    empty()
}

pub fn pause_status(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    let paused = ctx.state.store.is_paused(&m.colonyname)?;
    json(&serde_json::json!({
        "msgtype": "pausestatusreplymsg",
        "colonyname": m.colonyname,
        "ispaused": paused,
    }))
}

pub async fn add_attribute(ctx: &mut Ctx<'_>, m: AddAttributeMsg) -> Result<Vec<u8>, ApiError> {
    let a = m
        .attribute
        .ok_or_else(|| ApiError::bad_request("Failed to add attribute, attribute is null"))?;
    member_of_process(ctx, &a.targetid, "add attribute")?;
    let signer = ctx.signer.clone();
    let a = ctx
        .state
        .writer
        .run(move |txn| lifecycle::add_attribute(txn, &signer, a))
        .await?;
    json(&a)
}

pub fn get_attribute(ctx: &mut Ctx<'_>, m: AttributeIdMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    let not_found =
        || ApiError::not_found(format!("Attribute with Id {} not found", m.attributeid));
    let pid = store
        .registry
        .get(keys::attribute(&m.attributeid))?
        .ok_or_else(not_found)?;
    let p = store
        .process(&String::from_utf8_lossy(&pid))?
        .ok_or_else(not_found)?;
    auth::member(store, p.colony(), &ctx.signer, true)?;
    let a = p
        .attributes
        .iter()
        .find(|a| a.attributeid == m.attributeid)
        .ok_or_else(not_found)?;
    json(a)
}

/// One of the `--max-long-polls` places (and one of its executor's); released when the
/// assign request ends.
struct LongPollSlot {
    state: Arc<ServerState>,
    executor: String,
}

impl LongPollSlot {
    fn take(state: &Arc<ServerState>, executor: &str) -> Result<LongPollSlot, ApiError> {
        let c = &state.events.counters;
        let limits = &state.limits;
        let refuse = |what: String| {
            c.long_polls_refused.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::unavailable(format!(
                "too many assign requests waiting ({what}); retry later or use a shorter timeout"
            )))
        };
        let mut by_executor = match state.long_polls_by_executor.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mine = by_executor.get(executor).copied().unwrap_or(0);
        if mine >= limits.max_long_polls_per_executor {
            return refuse(format!(
                "{mine} from this executor, --max-long-polls-per-executor"
            ));
        }
        if c.long_polls.load(Ordering::Acquire) >= limits.max_long_polls {
            return refuse(format!("{}, --max-long-polls", limits.max_long_polls));
        }
        c.long_polls.fetch_add(1, Ordering::AcqRel);
        by_executor.insert(executor.to_string(), mine + 1);
        Ok(LongPollSlot {
            state: state.clone(),
            executor: executor.to_string(),
        })
    }
}

impl Drop for LongPollSlot {
    fn drop(&mut self) {
        let mut by_executor = match self.state.long_polls_by_executor.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match by_executor.get_mut(&self.executor) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                by_executor.remove(&self.executor);
            }
        }
        self.state
            .events
            .counters
            .long_polls
            .fetch_sub(1, Ordering::AcqRel);
    }
}
