//! Housekeeping for a box that runs unattended (upstream `retention.go` and the cleanup
//! worker): purging old finished work (`--retention`) and unregistering executors that were
//! not heard from (`--stale-executor-duration`).
//!
//! Every step is a bounded writer operation (at most [`PURGE_BATCH`] records), so a purge of
//! a large backlog interleaves with appends and never holds the writer for long. The server
//! calls these on its timers; they never decide when to run.

use crate::protocol::time::Timestamp;
use crate::protocol::types::{executor_state, state, Executor, Log};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{keys, Store};
use std::collections::HashSet;
use std::time::Duration;

/// Most processes, graphs or logs one purge operation removes.
pub const PURGE_BATCH: usize = 64;

/// Housekeeping settings (`colonyd serve --help`).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Purge successful processes and graphs that finished, and logs added, longer ago than
    /// this (`--retention` with `--retention-policy`); None: keep everything (default).
    pub retention: Option<Duration>,
    /// Unregister executors not heard from for this long; zero: never.
    pub stale_after: Duration,
    /// How often stale executors are looked for.
    pub cleanup_interval: Duration,
    /// How often the retention purge runs.
    pub retention_interval: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            retention: None,
            stale_after: Duration::from_secs(600),
            cleanup_interval: Duration::from_secs(60),
            retention_interval: Duration::from_secs(60),
        }
    }
}

/// What one purge step removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Standalone successful processes.
    pub processes: usize,
    /// Successful graphs (with their members).
    pub graphs: usize,
    /// Log lines.
    pub logs: usize,
}

/// Where a purge round stopped: the colony it was in and the state-index key below which
/// its successful processes are still to be looked at. A round is a sequence of steps that
/// each pass on the cursor the previous one returned, so members of unfinished graphs (kept)
/// are stepped over once per round, not once per step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Colony name (colonies are visited in name order).
    pub colony: String,
    /// Resume the reverse scan of the colony's successful processes below this key.
    pub below: Option<Vec<u8>>,
}

/// One bounded purge step: successful graphs that finished before `cutoff` with all their
/// members, successful standalone processes that finished before it (their attributes and
/// channels go with them), and log lines added before it, colony by colony from `from`.
/// Returns what it removed and where the next step continues (None: the round is complete).
///
/// Upstream purges by submission time; colonyd keeps a process at least the retention period
/// after it *finished*, which never purges earlier than upstream would (end ≥ submission) and
/// lets the oldest-finished be found in order from the state index. Members of graphs that
/// did not succeed stay with their graph.
pub fn purge(
    txn: &mut Txn<'_>,
    cutoff: i64,
    from: Option<Cursor>,
) -> Result<(Purged, Option<Cursor>), ApiError> {
    let mut done = Purged::default();
    let from = from.unwrap_or_default();
    let left = |d: &Purged| PURGE_BATCH.saturating_sub(d.processes + d.graphs + d.logs);
    for c in txn.store.colonies()? {
        if c.name < from.colony {
            continue;
        }
        let below = if c.name == from.colony {
            from.below.clone()
        } else {
            None
        };
        if below.is_none() {
            done.graphs += purge_graphs(txn, &c.name, cutoff, left(&done))?;
            done.logs += purge_logs(txn, &c.name, cutoff, left(&done))?;
        }
        let (n, stopped) = purge_processes(txn, &c.name, cutoff, left(&done), below)?;
        done.processes += n;
        if stopped.is_some() || left(&done) == 0 {
            return Ok((
                done,
                Some(Cursor {
                    colony: c.name.clone(),
                    below: stopped,
                }),
            ));
        }
    }
    Ok((done, None))
}

/// The state index orders final processes by −endtime: the oldest finished are last. Returns
/// the number removed and, if the budget ran out first, the key to continue below.
fn purge_processes(
    txn: &mut Txn<'_>,
    colony: &str,
    cutoff: i64,
    budget: usize,
    below: Option<Vec<u8>>,
) -> Result<(usize, Option<Vec<u8>>), ApiError> {
    let store = txn.store;
    let prefix = keys::by_state(colony, state::SUCCESS);
    let end = below.unwrap_or_else(|| {
        let mut e = prefix.clone();
        e.push(0xff);
        e
    });
    let mut n = 0;
    // looking costs far less than removing: members of unfinished graphs are stepped over
    let mut looks = budget.saturating_mul(16);
    for g in store.index.range(prefix.clone()..end).rev() {
        let k = g.key()?;
        if n >= budget || looks == 0 {
            // not looked at yet: continue below k‖0, which includes k
            let mut resume = k.to_vec();
            resume.push(0);
            return Ok((n, Some(resume)));
        }
        looks -= 1;
        let Some(pid) = keys::trailing_pid(&k) else {
            continue;
        };
        let Some(p) = txn.process(&pid)? else {
            continue;
        };
        if p.endtime.0 >= cutoff {
            break;
        }
        if !p.processgraphid.is_empty() {
            continue;
        }
        crate::process::remove(txn, &p)?;
        n += 1;
    }
    Ok((n, None))
}

/// The graph index orders by −submissiontime: the oldest submitted are last, and a graph
/// cannot have finished before it was submitted.
fn purge_graphs(
    txn: &mut Txn<'_>,
    colony: &str,
    cutoff: i64,
    budget: usize,
) -> Result<usize, ApiError> {
    let store = txn.store;
    let mut removed = 0;
    let mut members = 0;
    let mut scanned = 0;
    let prefix = crate::workflows::by_state(colony, Some(state::SUCCESS));
    for g in store.index.prefix(&prefix).rev() {
        let k = g.key()?;
        scanned += 1;
        if members >= budget || scanned > budget * 4 {
            break;
        }
        let Some(gid) = keys::trailing_pid(&k) else {
            continue;
        };
        let Some(rec) = crate::workflows::load(store, &gid)? else {
            continue;
        };
        if rec.submissiontime.0 >= cutoff {
            break;
        }
        if rec.endtime.0 >= cutoff {
            continue;
        }
        members += rec.processids.len().max(1);
        crate::workflows::delete(txn, &rec)?;
        removed += 1;
    }
    Ok(removed)
}

/// Log lines of a colony added before `cutoff` (the colony index is in time order).
fn purge_logs(
    txn: &mut Txn<'_>,
    colony: &str,
    cutoff: i64,
    budget: usize,
) -> Result<usize, ApiError> {
    let store = txn.store;
    let logs = store.logs.clone();
    let prefix = keys::logs_of_colony(colony);
    let mut n = 0;
    for g in store.logs.prefix(&prefix).take(budget) {
        let (k, v) = g.into_inner()?;
        let ts = k
            .get(prefix.len()..)
            .and_then(keys::from_i64be)
            .unwrap_or(i64::MAX);
        if ts >= cutoff {
            break;
        }
        if let Some(log) = store.get::<Log>(&logs, &v)? {
            let mut by_exec = keys::logs_of_executor(&log.colonyname, &log.executorname);
            by_exec.extend_from_slice(&keys::i64be(ts));
            txn.remove(&logs, by_exec);
        }
        txn.remove(&logs, v.to_vec());
        txn.remove(&logs, k.to_vec());
        n += 1;
    }
    Ok(n)
}

/// Executors to unregister: not unregistered already, heard from at least once, and not since
/// `cutoff`, and not waiting in an assign long-poll now (`busy`: executor IDs).
pub fn stale_executors(
    store: &Store,
    cutoff: i64,
    busy: &HashSet<String>,
) -> Result<Vec<Executor>, ApiError> {
    let mut out = Vec::new();
    for c in store.colonies()? {
        for e in store.executors(&c.name)? {
            if e.state != executor_state::UNREGISTERED
                && !e.lastheardfromtime.is_zero()
                && e.lastheardfromtime.0 < cutoff
                && !busy.contains(&e.executorid)
            {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Unregisters one stale executor as `removeexecutormsg` would, if it is still stale (it may
/// have been heard from since it was found). Returns whether it did.
pub fn unregister_if_stale(
    txn: &mut Txn<'_>,
    found: &Executor,
    cutoff: i64,
) -> Result<bool, ApiError> {
    let Some(e) = txn.store.executor(&found.colonyname, &found.executorname)? else {
        return Ok(false);
    };
    if e.executorid != found.executorid
        || e.state == executor_state::UNREGISTERED
        || e.lastheardfromtime.is_zero()
        || e.lastheardfromtime.0 >= cutoff
    {
        return Ok(false);
    }
    tracing::info!(
        executor = %e.executorname,
        colony = %e.colonyname,
        last_heard = %e.lastheardfromtime.to_rfc3339(),
        "unregistering stale executor"
    );
    crate::lifecycle::unregister_executor(txn, &e)?;
    Ok(true)
}

/// Marks an executor heard from now (a long-poll that ended without work).
pub fn heard_from(txn: &mut Txn<'_>, colony: &str, name: &str, id: &str) -> Result<(), ApiError> {
    if let Some(mut e) = txn.store.executor(colony, name)? {
        if e.executorid == id && e.state != executor_state::UNREGISTERED {
            e.lastheardfromtime = Timestamp(txn.now);
            let reg = txn.store.registry.clone();
            txn.put(&reg, keys::executor(colony, name), &e)?;
        }
    }
    Ok(())
}
