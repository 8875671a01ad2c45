//! Crons: stored workflow specs run on a schedule ([`super::Schedule`]).
//!
//! A cron's next run is part of its record and of the `n‖` index, both written in the batch
//! that runs it, so after a restart or a power cut the index says exactly which ticks are
//! still owed. A tick that fell while the server was down runs once when it comes back (as
//! upstream; `--cron-missed skip` drops it instead), and the next run is counted from then.

use super::{submit, Initiator, Schedule};
use crate::protocol::json::RawJson;
use crate::protocol::time::Timestamp;
use crate::protocol::types::{state, Cron};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{keys, Store};

/// What to do with a tick that fell while the server was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Run once at startup, then continue from then (upstream's behaviour).
    RunOnce,
    /// Do not run it; continue with the next tick from startup.
    Skip,
}

/// Why a cron runs.
#[derive(Debug, Clone, Copy)]
pub enum RunCause {
    /// Its next run is due. `started_at`: when this server started (ticks before it were
    /// missed while down).
    Due {
        /// What to do with missed ticks.
        missed: Missed,
        /// Server start, ns since the epoch.
        started_at: i64,
    },
    /// `runcronmsg`: now, whatever the schedule says (waiting for the previous run still
    /// applies, as upstream).
    Now,
}

/// The cron with this ID, if any.
pub fn load(store: &Store, id: &str) -> Result<Option<Cron>, ApiError> {
    Ok(store.get(&store.processes, &keys::cron(id))?)
}

fn load_in(txn: &Txn<'_>, id: &str) -> Result<Option<Cron>, ApiError> {
    Ok(txn.get(&keys::cron(id))?)
}

fn save(txn: &mut Txn<'_>, old: Option<&Cron>, c: &Cron) -> Result<(), ApiError> {
    let idx = txn.store.index.clone();
    if let Some(o) = old.filter(|o| !o.nextrun.is_zero()) {
        txn.remove(&idx, keys::cron_run(o.nextrun.0, &o.cronid));
    }
    if !c.nextrun.is_zero() {
        txn.put_raw(&idx, keys::cron_run(c.nextrun.0, &c.cronid), Vec::new());
    }
    let ps = txn.store.processes.clone();
    let mut stored = c.clone();
    stored.checkerperiod = 0;
    txn.put(&ps, keys::cron(&c.cronid), &stored)?;
    Ok(())
}

/// Stores a new cron (ID, initiator and spec already checked); its first run is scheduled
/// from now.
pub fn add(txn: &mut Txn<'_>, mut c: Cron) -> Result<Cron, ApiError> {
    let reg = txn.store.registry.clone();
    let name_key = keys::cron_name(&c.colonyname, Some(&c.name));
    if txn.store.registry.get(&name_key)?.is_some() {
        return Err(ApiError::bad_request(format!(
            "Cron with name <{}> in Colony <{}> already exists",
            c.name, c.colonyname
        )));
    }
    let schedule = Schedule::of(c.interval, &c.cronexpression)?;
    let next = schedule.next_after(txn.now).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Failed to add cron, cronexpression {:?} never matches again",
            c.cronexpression
        ))
    })?;
    c.nextrun = Timestamp(next);
    c.lastrun = Timestamp(0);
    c.prevprocessgraphid.clear();
    c.checkerperiod = 0;
    txn.put_raw(&reg, name_key, c.cronid.clone().into_bytes());
    save(txn, None, &c)?;
    Ok(c)
}

/// Up to `count` crons of `colony`, in name order.
pub fn list(store: &Store, colony: &str, count: usize) -> Result<Vec<Cron>, ApiError> {
    let mut out = Vec::new();
    for g in store
        .registry
        .prefix(keys::cron_name(colony, None))
        .take(count)
    {
        let (_, id) = g.into_inner().map_err(crate::store::Error::from)?;
        if let Some(c) = load(store, &String::from_utf8_lossy(&id))? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Removes a cron (its graphs stay).
pub fn remove(txn: &mut Txn<'_>, id: &str) -> Result<(), ApiError> {
    let Some(c) = load_in(txn, id)? else {
        return Ok(());
    };
    let reg = txn.store.registry.clone();
    let idx = txn.store.index.clone();
    let ps = txn.store.processes.clone();
    txn.remove(&reg, keys::cron_name(&c.colonyname, Some(&c.name)));
    if !c.nextrun.is_zero() {
        txn.remove(&idx, keys::cron_run(c.nextrun.0, &c.cronid));
    }
    txn.remove(&ps, keys::cron(&c.cronid));
    Ok(())
}

/// Removes every cron of a colony.
pub fn remove_all(txn: &mut Txn<'_>, colony: &str) -> Result<usize, ApiError> {
    let ids = txn.store.keys(
        &txn.store.registry,
        &keys::cron_name(colony, None),
        usize::MAX,
    )?;
    let mut n = 0;
    for k in ids {
        if let Some(id) = txn.store.registry.get(&k)? {
            remove(txn, &String::from_utf8_lossy(&id))?;
            n += 1;
        }
    }
    Ok(n)
}

/// When the earliest cron is due, if any.
pub fn next_cron_run(store: &Store) -> Option<i64> {
    store
        .index
        .prefix(keys::CRON_RUNS)
        .next()
        .and_then(|g| g.key().ok())
        .and_then(|k| keys::parse_cron_run(&k))
        .map(|(at, _)| at)
}

/// The crons due at `now` that may run (not waiting for an unfinished previous graph), at
/// most `limit`, earliest first.
pub fn due_crons(store: &Store, now: i64, limit: usize) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for g in store.index.prefix(keys::CRON_RUNS) {
        let k = g.key().map_err(crate::store::Error::from)?;
        let Some((at, id)) = keys::parse_cron_run(&k) else {
            continue;
        };
        if at > now || out.len() >= limit {
            break;
        }
        if let Some(c) = load(store, &id)? {
            if !waits_for_previous(store, &c)? {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// Whether the cron waits for its previous graph: it asked to, and that graph still exists and
/// is waiting or running. (A cancelled previous graph does not block it: see README.)
fn waits_for_previous(store: &Store, c: &Cron) -> Result<bool, ApiError> {
    if !c.waitforprevprocessgraph || c.prevprocessgraphid.is_empty() {
        return Ok(false);
    }
    Ok(crate::workflows::load(store, &c.prevprocessgraphid)?
        .is_some_and(|g| g.state == state::WAITING || g.state == state::RUNNING))
}

/// The outputs of the previous graph's last members (those without children), in member
/// order: the next run's input, as upstream passes it.
fn previous_output(txn: &Txn<'_>, c: &Cron) -> Result<Vec<RawJson>, ApiError> {
    let mut out = Vec::new();
    if c.prevprocessgraphid.is_empty() {
        return Ok(out);
    }
    let Some(g) = crate::workflows::load(txn.store, &c.prevprocessgraphid)? else {
        return Ok(out);
    };
    for pid in &g.processids {
        if let Some(p) = txn.process(pid)? {
            if p.children.is_empty() {
                out.extend(p.output);
            }
        }
    }
    Ok(out)
}

/// Runs a cron: submits its workflow and advances it, in this one operation. Returns the cron
/// as it was before (what `runcronmsg` answers), or None if nothing ran (not due any more,
/// waiting for its previous graph, or a missed tick skipped).
pub fn run(txn: &mut Txn<'_>, id: &str, cause: RunCause) -> Result<Option<Cron>, ApiError> {
    let Some(old) = load_in(txn, id)? else {
        return Ok(None);
    };
    if let RunCause::Due { missed, started_at } = cause {
        if old.nextrun.is_zero() || old.nextrun.0 > txn.now {
            return Ok(None);
        }
        if missed == Missed::Skip && old.nextrun.0 < started_at {
            tracing::info!(cron = %old.name, colony = %old.colonyname, "cron tick missed while the server was down: skipped");
            reschedule(txn, id)?;
            return Ok(None);
        }
    }
    if waits_for_previous(txn.store, &old)? {
        return Ok(None);
    }
    let input = previous_output(txn, &old)?;
    let who = Initiator {
        id: &old.initiatorid,
        name: &old.initiatorname,
    };
    let g = submit(txn, &old.colonyname, &old.workflowspec, &who, None, &input)?;
    let mut c = old.clone();
    c.lastrun = Timestamp(txn.now);
    c.prevprocessgraphid = g.processgraphid;
    c.nextrun = next_run(&c, txn.now);
    save(txn, Some(&old), &c)?;
    Ok(Some(old))
}

fn next_run(c: &Cron, now: i64) -> Timestamp {
    Schedule::of(c.interval, &c.cronexpression)
        .ok()
        .and_then(|s| s.next_after(now))
        .map_or(Timestamp(0), Timestamp)
}

/// Moves a cron's next run to its next tick after now without running it (a skipped missed
/// tick, or a run whose submission failed: it is not retried every second).
pub fn reschedule(txn: &mut Txn<'_>, id: &str) -> Result<(), ApiError> {
    let Some(old) = load_in(txn, id)? else {
        return Ok(());
    };
    let mut c = old.clone();
    c.nextrun = next_run(&c, txn.now);
    save(txn, Some(&old), &c)
}
