//! The process lifecycle (spec §6.1): submit, assign, close, fail, cancel, timeouts, removal.
//!
//! Every function here runs inside a writer operation ([`Txn`]), so each transition is atomic
//! and serialized with every other write. Handlers do authorization by role; the checks that
//! depend on the process's current state (who it is assigned to, which state it is in) live here
//! so they cannot race with another transition.

use crate::protocol::json::RawJson;
use crate::protocol::time::Timestamp;
use crate::protocol::types::{executor_state, state, Attribute, Executor, FunctionSpec, Process};
use crate::protocol::ApiError;
use crate::scheduler::{self, Offer};
use crate::store::keys;
use crate::store::writer::Txn;

use crate::process::{create, wait_deadline, NewProcess};

const NS: i64 = 1_000_000_000;

/// Validates and normalizes a submitted spec (pure; callable before entering the writer).
pub fn normalize_spec(spec: &mut FunctionSpec) -> Result<(), ApiError> {
    if !(-50_000..=50_000).contains(&spec.priority) {
        return Err(ApiError::bad_request(format!(
            "Failed to submit function spec, priority {} is outside [-50000, 50000]",
            spec.priority
        )));
    }
    let c = &mut spec.conditions;
    if c.colonyname.is_empty() {
        return Err(ApiError::bad_request(
            "Failed to submit function spec, conditions.colonyname is empty",
        ));
    }
    let bad = |what: &str, e: String| {
        ApiError::bad_request(format!(
            "Failed to submit function spec, conditions.{what}: {e}"
        ))
    };
    let mem = scheduler::parse_bytes(&c.mem).map_err(|e| bad("mem", e))?;
    let storage = scheduler::parse_bytes(&c.storage).map_err(|e| bad("storage", e))?;
    let gpu_mem = scheduler::parse_bytes(&c.gpu.mem).map_err(|e| bad("gpu.mem", e))?;
    c.cpu = format!("{}m", scheduler::parse_cpu(&c.cpu));
    c.mem = format!("{}Mi", mem >> 20);
    c.storage = format!("{}Mi", storage >> 20);
    c.gpu.mem = format!("{}Mi", gpu_mem >> 20);
    c.gpu.nodecount = 0;
    if spec.fs.is_null() {
        spec.fs =
            RawJson::from_text(r#"{"mount":"","snapshots":null,"dirs":null}"#).unwrap_or_default();
    }
    for name in &spec.channels {
        if name.is_empty() || name.len() > 256 {
            return Err(ApiError::bad_request(format!(
                "Failed to submit function spec, invalid channel name {name:?} (1-256 bytes)"
            )));
        }
    }
    Ok(())
}

/// Creates a standalone WAITING process from a normalized spec.
pub fn submit(
    txn: &mut Txn<'_>,
    spec: FunctionSpec,
    initiatorid: &str,
    initiatorname: &str,
) -> Result<Process, ApiError> {
    create(
        txn,
        NewProcess {
            processid: crate::crypto::random_id(),
            spec,
            initiatorid,
            initiatorname,
            processgraphid: "",
            waitforparents: false,
            parents: Vec::new(),
            children: Vec::new(),
            input: Vec::new(),
        },
    )
}

/// A state change, with what it carries.
pub enum Change {
    /// WAITING → RUNNING on `executorid`; `input` is a workflow member's parents' output.
    Assign {
        /// The executor.
        executorid: String,
        /// Parents' output (workflow members).
        input: Vec<RawJson>,
    },
    /// RUNNING → WAITING.
    Requeue(Requeue),
    /// RUNNING → SUCCESS, with the output if any.
    Succeed(Option<Vec<RawJson>>),
    /// → FAILED, with errors.
    Fail(Vec<String>),
    /// → CANCELLED.
    Cancel,
}

/// Why a running process goes back to the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Its assign reply could not be delivered: as if never assigned.
    Undelivered,
    /// Its executor was removed: retries unchanged, times cleared, wait deadline afresh.
    ExecutorRemoved,
    /// Its execution deadline passed with retries left: one more retry.
    Retry,
}

/// The one function that changes a process's state. Sets the state and every attribute's
/// state, the times and deadlines, closes the channels of a finished process, updates the
/// function statistics on success, writes the record (its index keys and the process event
/// follow), and lets the workflow rules follow a member: the graph's counts and state,
/// children released on success, and on failure the failure cascade, whose members go through
/// this same function. Returns the new version.
pub fn transition(txn: &mut Txn<'_>, old: &Process, change: Change) -> Result<Process, ApiError> {
    apply(txn, old, change, true)
}

fn apply(
    txn: &mut Txn<'_>,
    old: &Process,
    change: Change,
    may_cascade: bool,
) -> Result<Process, ApiError> {
    let now = txn.now;
    let mut p = old.clone();
    match change {
        Change::Assign { executorid, input } => {
            p.set_state(state::RUNNING);
            p.isassigned = true;
            p.assignedexecutorid = executorid;
            p.starttime = Timestamp(now);
            p.execdeadline = if p.spec.maxexectime > 0 {
                Timestamp(now.saturating_add(i64::from(p.spec.maxexectime) * NS))
            } else {
                Timestamp(0)
            };
            if !p.parents.is_empty() {
                p.input = input;
            }
        }
        Change::Requeue(why) => {
            let starttime = p.starttime;
            p.set_state(state::WAITING);
            p.isassigned = false;
            p.assignedexecutorid.clear();
            p.starttime = Timestamp(0);
            p.execdeadline = Timestamp(0);
            if !p.parents.is_empty() {
                // the next assignment gathers it again from the parents
                p.input.clear();
            }
            match why {
                Requeue::Undelivered => {}
                Requeue::ExecutorRemoved => {
                    p.endtime = Timestamp(0);
                    p.waitforparents = false;
                    p.waitdeadline = wait_deadline(&p.spec, now);
                }
                Requeue::Retry => {
                    // the failed attempt's start and end stay visible until the retry
                    p.starttime = starttime;
                    p.endtime = Timestamp(now);
                    p.retries = p.retries.saturating_add(1);
                    p.waitdeadline = wait_deadline(&p.spec, now);
                }
            }
        }
        Change::Succeed(out) => {
            if let Some(out) = out.filter(|o| !o.is_empty()) {
                p.output = out;
            }
            p.set_state(state::SUCCESS);
            p.endtime = Timestamp(now);
            update_function_stats(txn, &p)?;
        }
        Change::Fail(errors) => {
            p.set_state(state::FAILED);
            p.endtime = Timestamp(now);
            p.errors = errors;
        }
        Change::Cancel => {
            p.set_state(state::CANCELLED);
            p.endtime = Timestamp(now);
        }
    }
    txn.put_process(Some(old), &p)?;
    if state::is_final(p.state) {
        let policy = txn.store.channel_policy.clone();
        crate::channels::log::close_process(txn, &p.processid, &policy)?;
    }
    if !p.processgraphid.is_empty() {
        crate::workflows::member_changed(txn, old, &p)?;
        if may_cascade && p.state == state::FAILED && old.state != state::FAILED {
            let unfinished =
                crate::workflows::unfinished_members(txn, &p.processgraphid, &p.processid)?;
            // a failed member fails every member still waiting or running
            let why = format!(
                "workflow member {} (process {}) failed",
                p.spec.nodename, p.processid
            );
            for m in unfinished {
                apply(txn, &m, Change::Fail(vec![why.clone()]), false)?;
            }
        }
    }
    Ok(p)
}

/// `cancelprocessgraphmsg`: cancels the graph's waiting and running members.
pub fn cancel_workflow(txn: &mut Txn<'_>, gid: &str) -> Result<(), ApiError> {
    for m in crate::workflows::cancellable_members(txn, gid)? {
        apply(txn, &m, Change::Cancel, false)?;
    }
    Ok(())
}

/// Assigns the best matching waiting process to `executor`, if any.
pub fn assign(
    txn: &mut Txn<'_>,
    executor: &Executor,
    offer: Offer,
) -> Result<Option<Process>, ApiError> {
    // the executor heard from now, whether or not it gets work
    let mut e = executor.clone();
    e.lastheardfromtime = Timestamp(txn.now);
    let reg = txn.store.registry.clone();
    txn.put(&reg, keys::executor(&e.colonyname, &e.executorname), &e)?;
    let Some(old) = scheduler::select(txn.store, executor, offer)? else {
        return Ok(None);
    };
    let mut input = Vec::new();
    for parent in &old.parents {
        if let Some(pp) = txn.process(parent)? {
            input.extend(pp.output);
        }
    }
    let change = Change::Assign {
        executorid: executor.executorid.clone(),
        input,
    };
    transition(txn, &old, change).map(Some)
}

/// What `removeexecutormsg` and the stale-executor sweep do (upstream's `RemoveExecutorByName`),
/// in one atomic write:
/// the record is kept with state UNREGISTERED, its functions are deleted, and every process it
/// was running goes back to WAITING for another executor.
pub fn unregister_executor(txn: &mut Txn<'_>, e: &Executor) -> Result<(), ApiError> {
    let reg = txn.store.registry.clone();
    for f in txn.store.functions(&e.colonyname, Some(&e.executorname))? {
        txn.remove(&reg, keys::function(&f.functionid));
        txn.remove(
            &reg,
            keys::function_ref(&e.colonyname, &e.executorname, &f.functionid),
        );
    }
    let requeued = requeue_of_executor(txn, e)?;
    if requeued > 0 {
        tracing::info!(
            executor = %e.executorname,
            colony = %e.colonyname,
            requeued,
            "executor removed: its running processes are waiting again"
        );
    }
    let mut kept = e.clone();
    kept.state = executor_state::UNREGISTERED;
    let key = keys::executor(&kept.colonyname, &kept.executorname);
    txn.put(&reg, key, &kept)?;
    Ok(())
}

/// Undoes an assignment whose reply could not be delivered, if nothing happened since.
pub fn rollback_assign(txn: &mut Txn<'_>, assigned: &Process) -> Result<bool, ApiError> {
    let Some(cur) = txn.process(&assigned.processid)? else {
        return Ok(false);
    };
    if cur.state != state::RUNNING
        || cur.assignedexecutorid != assigned.assignedexecutorid
        || cur.starttime != assigned.starttime
    {
        return Ok(false);
    }
    transition(txn, &cur, Change::Requeue(Requeue::Undelivered))?;
    Ok(true)
}

/// Puts every process `executor` is running back to WAITING, unassigned, for another executor
/// of the colony (`removeexecutormsg`, re-registration; upstream's `RemoveExecutorByName`):
/// retries unchanged, start and end times and the execution deadline cleared, the wait
/// deadline (if the spec has one) counted afresh from now. A workflow member waits for nothing
/// else: its parents had all succeeded when it was assigned. Returns how many were requeued.
pub fn requeue_of_executor(txn: &mut Txn<'_>, executor: &Executor) -> Result<usize, ApiError> {
    let mut running = Vec::new();
    for g in txn
        .store
        .index
        .prefix(keys::by_state(&executor.colonyname, state::RUNNING))
    {
        if let Some(pid) = keys::trailing_pid(&g.key()?) {
            running.push(pid);
        }
    }
    let mut requeued = 0;
    for pid in running {
        let Some(old) = txn.process(&pid)? else {
            continue;
        };
        if old.state != state::RUNNING || old.assignedexecutorid != executor.executorid {
            continue;
        }
        transition(txn, &old, Change::Requeue(Requeue::ExecutorRemoved))?;
        requeued += 1;
    }
    Ok(requeued)
}

/// Loads a process or answers 404.
pub fn load(txn: &Txn<'_>, pid: &str, op: &str) -> Result<Process, ApiError> {
    txn.store
        .process(pid)?
        .ok_or_else(|| ApiError::not_found(format!("Failed to {op}, process not found")))
}

fn require_assigned_to(p: &Process, signer: &str, op: &str) -> Result<(), ApiError> {
    if !p.isassigned {
        return Err(ApiError::forbidden(format!(
            "Failed to {op}, process is not assigned"
        )));
    }
    if p.assignedexecutorid != signer {
        return Err(ApiError::forbidden(format!(
            "Failed to {op}, process is not assigned to the signing executor"
        )));
    }
    Ok(())
}

/// `closesuccessfulmsg`.
pub fn close_successful(
    txn: &mut Txn<'_>,
    pid: &str,
    signer: &str,
    out: Option<Vec<RawJson>>,
) -> Result<(), ApiError> {
    let op = "close process as successful";
    let old = load(txn, pid, op)?;
    require_assigned_to(&old, signer, op)?;
    match old.state {
        state::RUNNING => {}
        state::SUCCESS => return Ok(()),
        state::WAITING => {
            return Err(ApiError::bad_request(
                "Tried to set waiting process as successful without being running",
            ))
        }
        s => {
            return Err(ApiError::bad_request(format!(
                "Tried to set {} process as successful",
                state::name(s)
            )))
        }
    }
    transition(txn, &old, Change::Succeed(out))?;
    Ok(())
}

/// `closefailedmsg`.
pub fn close_failed(
    txn: &mut Txn<'_>,
    pid: &str,
    signer: &str,
    errors: Vec<String>,
) -> Result<(), ApiError> {
    let op = "close process as failed";
    let old = load(txn, pid, op)?;
    require_assigned_to(&old, signer, op)?;
    if state::is_final(old.state) {
        return Err(ApiError::bad_request(format!(
            "Tried to set {} process as failed",
            state::name(old.state)
        )));
    }
    transition(txn, &old, Change::Fail(errors))?;
    Ok(())
}

/// `setoutputmsg`.
pub fn set_output(
    txn: &mut Txn<'_>,
    pid: &str,
    signer: &str,
    out: Vec<RawJson>,
) -> Result<(), ApiError> {
    let op = "set output";
    let old = load(txn, pid, op)?;
    require_assigned_to(&old, signer, op)?;
    if old.state != state::RUNNING {
        return Err(ApiError::forbidden(
            "Failed to set output, process is not running",
        ));
    }
    if out.is_empty() {
        return Ok(());
    }
    let mut p = old.clone();
    p.output = out;
    txn.put_process(Some(&old), &p)?;
    Ok(())
}

/// `cancelprocessmsg`.
pub fn cancel(txn: &mut Txn<'_>, pid: &str) -> Result<(), ApiError> {
    let old = load(txn, pid, "cancel process")?;
    if !old.processgraphid.is_empty() {
        return Err(ApiError::bad_request(
            "Failed to cancel process, it is part of a workflow; cancel the workflow instead",
        ));
    }
    if state::is_final(old.state) {
        return Err(ApiError::bad_request(format!(
            "Failed to cancel process, it is already {}",
            state::name(old.state)
        )));
    }
    transition(txn, &old, Change::Cancel)?;
    Ok(())
}

/// `addattributemsg`.
pub fn add_attribute(
    txn: &mut Txn<'_>,
    signer: &str,
    mut a: Attribute,
) -> Result<Attribute, ApiError> {
    let op = "add attribute";
    let old = txn
        .process(&a.targetid)?
        .ok_or_else(|| ApiError::not_found("Failed to add attribute, target process not found"))?;
    require_assigned_to(&old, signer, op)?;
    if old.state != state::RUNNING {
        return Err(ApiError::forbidden(
            "Failed to add attribute, process is not running",
        ));
    }
    a.attributeid = crate::crypto::random_id();
    a.targetcolonyname = old.colony().to_string();
    a.targetprocessgraphid = old.processgraphid.clone();
    let mut p = old.clone();
    p.attributes.push(a.clone());
    txn.put_process(Some(&old), &p)?;
    let reg = txn.store.registry.clone();
    txn.put_raw(
        &reg,
        keys::attribute(&a.attributeid),
        p.processid.into_bytes(),
    );
    Ok(a)
}

/// Applies deadlines that have passed (spec §6.1 timeout loop). Returns how many fired.
pub fn expire_due(txn: &mut Txn<'_>, limit: usize) -> Result<usize, ApiError> {
    let now = txn.now;
    let mut due = Vec::new();
    for g in txn.store.index.prefix(keys::DEADLINES).take(limit) {
        let key = g.key()?;
        match keys::parse_deadline(&key) {
            Some((at, kind, pid)) if at <= now => due.push((at, kind, pid)),
            Some(_) => break,
            None => continue,
        }
    }
    let mut fired = 0;
    for (at, kind, pid) in due {
        let Some(old) = txn.process(&pid)? else {
            let idx = txn.store.index.clone();
            txn.remove(&idx, keys::deadline(at, kind, &pid));
            continue;
        };
        if kind == keys::DEADLINE_WAIT && old.state == state::WAITING && old.waitdeadline.0 == at {
            let errors = vec!["Maximum waiting time limit exceeded".into()];
            transition(txn, &old, Change::Fail(errors))?;
            fired += 1;
        } else if kind == keys::DEADLINE_EXEC
            && old.state == state::RUNNING
            && old.execdeadline.0 == at
        {
            let max = old.spec.maxretries;
            if max > -1 && old.retries >= max {
                let errors = vec!["Maximum execution time limit exceeded".into()];
                transition(txn, &old, Change::Fail(errors))?;
            } else {
                transition(txn, &old, Change::Requeue(Requeue::Retry))?;
            }
            fired += 1;
        }
    }
    Ok(fired)
}

fn update_function_stats(txn: &mut Txn<'_>, p: &Process) -> Result<(), ApiError> {
    let Some(executor) = txn.store.executor_by_id(&p.assignedexecutorid)? else {
        return Ok(());
    };
    let funcs = txn
        .store
        .functions(&executor.colonyname, Some(&executor.executorname))?;
    let Some(mut f) = funcs.into_iter().find(|f| f.funcname == p.spec.funcname) else {
        return Ok(());
    };
    let secs = |ns: i64| ns as f64 / 1e9;
    let wait = secs(p.starttime.0 - p.submissiontime.0);
    let exec = secs(p.endtime.0 - p.starttime.0);
    let n = f.counter as f64;
    if f.counter == 0 {
        f.minwaittime = wait;
        f.maxwaittime = wait;
        f.minexectime = exec;
        f.maxexectime = exec;
    } else {
        f.minwaittime = f.minwaittime.min(wait);
        f.maxwaittime = f.maxwaittime.max(wait);
        f.minexectime = f.minexectime.min(exec);
        f.maxexectime = f.maxexectime.max(exec);
    }
    f.avgwaittime = (f.avgwaittime * n + wait) / (n + 1.0);
    f.avgexectime = (f.avgexectime * n + exec) / (n + 1.0);
    f.counter += 1;
    let reg = txn.store.registry.clone();
    txn.put(&reg, keys::function(&f.functionid), &f)?;
    Ok(())
}
