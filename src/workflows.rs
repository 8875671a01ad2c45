//! Workflows (spec §6.3, decisions.md "Workflows"): process graphs whose members run after
//! the members they depend on succeed and receive their outputs as input.
//!
//! Everything here runs inside writer operations, so a submission, a release of children, a
//! failure cascade or an added child is one atomic batch: a crash never leaves a member that
//! can never run, nor one that runs twice.
//!
//! Storage: `processes` keyspace `g‖graph-id` → [`GraphRecord`]; `index` keyspace
//! `w‖colony\0‖state(u8)‖i64be(i64::MAX − submissiontime)‖graph-id` (listings, newest first,
//! and statistics). Members are ordinary processes with `processgraphid` set; the record keeps
//! the member list and per-state member counts, so the graph's state is computed in O(1) per
//! member change.

use crate::protocol::json::RawJson;
use crate::protocol::time::Timestamp;
use crate::protocol::types::{state, FunctionSpec, Process};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{self, keys};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A stored process graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GraphRecord {
    /// Graph ID.
    pub processgraphid: String,
    /// Submitter ID.
    pub initiatorid: String,
    /// Submitter name.
    pub initiatorname: String,
    /// Colony.
    pub colonyname: String,
    /// Members without dependencies.
    pub rootprocessids: Vec<String>,
    /// Graph state (process state codes).
    pub state: i32,
    /// Submission time.
    pub submissiontime: Timestamp,
    /// When the first member started.
    pub starttime: Timestamp,
    /// When the graph reached a final state.
    pub endtime: Timestamp,
    /// Every member, in creation order.
    pub processids: Vec<String>,
    /// Members per state (index = state code).
    pub counts: [u32; 5],
}

/// `g‖id`
pub fn graph_key(id: &str) -> Vec<u8> {
    let mut k = b"g".to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

/// `w‖colony\0‖state` (or all states with `None`)
pub fn by_state(colony: &str, st: Option<i32>) -> Vec<u8> {
    let mut k = b"w".to_vec();
    k.extend_from_slice(colony.as_bytes());
    k.push(0);
    if let Some(s) = st {
        k.push(u8::try_from(s).unwrap_or(u8::MAX));
    }
    k
}

fn index_key(g: &GraphRecord) -> Vec<u8> {
    let mut k = by_state(&g.colonyname, Some(g.state));
    k.extend_from_slice(&keys::i64be(i64::MAX - g.submissiontime.0));
    k.extend_from_slice(g.processgraphid.as_bytes());
    k
}

/// Loads a graph (latest state).
pub fn load(
    txn_store: &crate::store::Store,
    id: &str,
) -> Result<Option<GraphRecord>, store::Error> {
    txn_store.get(&txn_store.processes, &graph_key(id))
}

/// Loads a graph as the current writer operation left it.
fn load_in(txn: &Txn<'_>, id: &str) -> Result<Option<GraphRecord>, store::Error> {
    txn.get(&graph_key(id))
}

fn save(txn: &mut Txn<'_>, old: Option<&GraphRecord>, g: &GraphRecord) -> Result<(), store::Error> {
    let idx = txn.store.index.clone();
    if let Some(old) = old {
        let ok = index_key(old);
        if ok != index_key(g) {
            txn.remove(&idx, ok);
        }
    }
    txn.put_raw(&idx, index_key(g), Vec::new());
    let ps = txn.store.processes.clone();
    txn.put(&ps, graph_key(&g.processgraphid), g)?;
    Ok(())
}

/// Members of `counts` in state `s` (states outside 0-4 count as WAITING).
fn counted(counts: &[u32; 5], s: i32) -> u32 {
    counts.get(slot(s)).copied().unwrap_or(0)
}

/// The counter of state `s`.
fn counter(counts: &mut [u32; 5], s: i32) -> Option<&mut u32> {
    counts.get_mut(slot(s))
}

fn slot(s: i32) -> usize {
    usize::try_from(s).unwrap_or(0).min(4)
}

fn computed_state(c: &[u32; 5]) -> i32 {
    let total: u32 = c.iter().sum();
    if counted(c, state::FAILED) > 0 {
        state::FAILED
    } else if counted(c, state::CANCELLED) > 0 {
        state::CANCELLED
    } else if total > 0 && counted(c, state::SUCCESS) == total {
        state::SUCCESS
    } else if counted(c, state::SUCCESS) > 0 || counted(c, state::RUNNING) > 0 {
        state::RUNNING
    } else {
        state::WAITING
    }
}

fn recompute(txn: &Txn<'_>, g: &mut GraphRecord) {
    let new = computed_state(&g.counts);
    if new == g.state {
        return;
    }
    if new != state::WAITING && g.starttime.is_zero() {
        g.starttime = Timestamp(txn.now);
    }
    if state::is_final(new) {
        g.endtime = Timestamp(txn.now);
    }
    g.state = new;
}

/// Validates a workflow's specs: node names present and unique, dependencies known, no
/// cycle. Returns the specs in a dependency-respecting order (parents first).
// every index is a member's position: from `enumerate`/`0..len` or a value of `by_name`,
// built over the same specs; every vector indexed has one entry per spec
#[allow(clippy::indexing_slicing)]
pub fn validate(specs: &[FunctionSpec]) -> Result<Vec<usize>, ApiError> {
    if specs.is_empty() {
        return Err(ApiError::bad_request(
            "Failed to submit workflow, it has no function specs",
        ));
    }
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        if s.nodename.is_empty() {
            return Err(ApiError::internal(
                "Nodename is missing, check function spec for errors",
            ));
        }
        if by_name.insert(&s.nodename, i).is_some() {
            return Err(ApiError::internal(format!(
                "Duplicate nodename: {}",
                s.nodename
            )));
        }
    }
    let mut indegree = vec![0usize; specs.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); specs.len()];
    for (i, s) in specs.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for d in &s.conditions.dependencies {
            let Some(&p) = by_name.get(d.as_str()) else {
                return Err(ApiError::internal(
                    "Failed to submit workflow, invalid dependencies, are you depending on a nodename that does not exits?",
                ));
            };
            if seen.insert(p) {
                indegree[i] += 1;
                children[p].push(i);
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..specs.len()).filter(|i| indegree[*i] == 0).collect();
    let mut order = Vec::with_capacity(specs.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &c in &children[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push_back(c);
            }
        }
    }
    if order.len() != specs.len() {
        let stuck = specs
            .iter()
            .enumerate()
            .find(|(i, _)| indegree[*i] > 0)
            .map(|(_, s)| s.nodename.as_str())
            .unwrap_or("?");
        return Err(ApiError::bad_request(format!(
            "Failed to submit workflow, dependency cycle through node {stuck}"
        )));
    }
    Ok(order)
}

/// Submits a validated, normalized workflow: every member and the graph in one batch. Root
/// members (no dependencies) start with `root_input` as their input (a cron passes the
/// previous run's output; submissions pass nothing).
// every index is a member's position: from `enumerate`/`0..len` or a value of `by_name`,
// built over the same specs; every vector indexed has one entry per spec
#[allow(clippy::indexing_slicing)]
pub fn submit(
    txn: &mut Txn<'_>,
    colony: &str,
    specs: Vec<FunctionSpec>,
    initiatorid: &str,
    initiatorname: &str,
    root_input: &[RawJson],
) -> Result<GraphRecord, ApiError> {
    let order = validate(&specs)?;
    let gid = crate::crypto::random_id();
    let mut ids: Vec<String> = specs.iter().map(|_| crate::crypto::random_id()).collect();
    let by_name: BTreeMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.nodename.as_str(), i))
        .collect();
    let mut parents: Vec<Vec<String>> = vec![Vec::new(); specs.len()];
    let mut children: Vec<Vec<String>> = vec![Vec::new(); specs.len()];
    for (i, s) in specs.iter().enumerate() {
        for d in &s.conditions.dependencies {
            if let Some(&p) = by_name.get(d.as_str()) {
                if !parents[i].contains(&ids[p]) {
                    parents[i].push(ids[p].clone());
                    children[p].push(ids[i].clone());
                }
            }
        }
    }
    let mut g = GraphRecord {
        processgraphid: gid.clone(),
        initiatorid: initiatorid.to_string(),
        initiatorname: initiatorname.to_string(),
        colonyname: colony.to_string(),
        state: state::WAITING,
        submissiontime: Timestamp(txn.now),
        ..GraphRecord::default()
    };
    let mut specs: Vec<Option<FunctionSpec>> = specs.into_iter().map(Some).collect();
    for i in order {
        let Some(spec) = specs.get_mut(i).and_then(Option::take) else {
            continue;
        };
        let pid = std::mem::take(&mut ids[i]);
        let is_root = parents[i].is_empty();
        let p = crate::process::create(
            txn,
            crate::process::NewProcess {
                processid: pid.clone(),
                spec,
                initiatorid,
                initiatorname,
                processgraphid: &gid,
                waitforparents: !is_root,
                parents: std::mem::take(&mut parents[i]),
                children: std::mem::take(&mut children[i]),
                input: if is_root {
                    root_input.to_vec()
                } else {
                    Vec::new()
                },
            },
        )?;
        if is_root {
            g.rootprocessids.push(pid.clone());
        }
        g.processids.push(pid);
        if let Some(n) = counter(&mut g.counts, p.state) {
            *n += 1;
        }
        ids[i] = p.processid;
    }
    save(txn, None, &g)?;
    Ok(g)
}

/// Called by the lifecycle after a member changed from `old` to `new` (same batch): updates
/// the graph's counts and state and releases children on success. (The failure cascade is
/// the lifecycle's: it fails [`unfinished_members`] through its one transition function.)
pub fn member_changed(txn: &mut Txn<'_>, old: &Process, new: &Process) -> Result<(), ApiError> {
    let Some(mut g) = load_in(txn, &new.processgraphid)? else {
        return Ok(());
    };
    let before = g.clone();
    if old.state != new.state {
        if let Some(n) = counter(&mut g.counts, old.state) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = counter(&mut g.counts, new.state) {
            *n += 1;
        }
    }
    if new.state == state::SUCCESS && old.state != state::SUCCESS {
        release_children(txn, new)?;
    }
    recompute(txn, &mut g);
    if g != before {
        save(txn, Some(&before), &g)?;
    }
    Ok(())
}

/// Members of graph `gid` still WAITING or RUNNING, except `skip`, as this operation left them.
pub fn unfinished_members(txn: &Txn<'_>, gid: &str, skip: &str) -> Result<Vec<Process>, ApiError> {
    match load_in(txn, gid)? {
        Some(g) => unfinished(txn, &g, skip),
        None => Ok(Vec::new()),
    }
}

fn unfinished(txn: &Txn<'_>, g: &GraphRecord, skip: &str) -> Result<Vec<Process>, ApiError> {
    let mut out = Vec::new();
    if counted(&g.counts, state::WAITING) == 0 && counted(&g.counts, state::RUNNING) == 0 {
        return Ok(out);
    }
    for pid in &g.processids {
        if pid == skip {
            continue;
        }
        if let Some(m) = txn.process(pid)? {
            if m.state == state::WAITING || m.state == state::RUNNING {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Makes every child whose parents have all succeeded assignable (wakes executors through the
/// writer's events).
fn release_children(txn: &mut Txn<'_>, parent: &Process) -> Result<(), ApiError> {
    for cid in &parent.children {
        let Some(child) = txn.process(cid)? else {
            continue;
        };
        if !child.waitforparents || child.state != state::WAITING {
            continue;
        }
        let mut ready = true;
        for pid in &child.parents {
            let st = if pid == &parent.processid {
                parent.state
            } else {
                txn.process(pid)?.map_or(state::FAILED, |p| p.state)
            };
            if st != state::SUCCESS {
                ready = false;
                break;
            }
        }
        if ready {
            let mut c = child.clone();
            c.waitforparents = false;
            txn.put_process(Some(&child), &c)?;
        }
    }
    Ok(())
}

/// `cancelprocessgraphmsg`: the members to cancel (WAITING or RUNNING); the lifecycle cancels
/// them. Refused for a finished graph.
pub fn cancellable_members(txn: &Txn<'_>, gid: &str) -> Result<Vec<Process>, ApiError> {
    let g = load_in(txn, gid)?.ok_or_else(|| not_found(gid))?;
    if state::is_final(g.state) {
        return Err(ApiError::bad_request(format!(
            "Failed to cancel workflow, it is already {}",
            state::name(g.state)
        )));
    }
    unfinished(txn, &g, "")
}

/// `removeprocessgraphmsg`: deletes the graph, its processes and their channels (logs stay).
pub fn remove(txn: &mut Txn<'_>, gid: &str) -> Result<(), ApiError> {
    let g = load_in(txn, gid)?.ok_or_else(|| not_found(gid))?;
    if g.state == state::RUNNING {
        return Err(ApiError::bad_request(
            "Failed to remove workflow, it is running; cancel it first",
        ));
    }
    delete(txn, &g)
}

/// Deletes a graph record and its members.
pub fn delete(txn: &mut Txn<'_>, g: &GraphRecord) -> Result<(), ApiError> {
    for pid in &g.processids {
        if let Some(p) = txn.process(pid)? {
            crate::process::remove(txn, &p)?;
        }
    }
    let idx = txn.store.index.clone();
    txn.remove(&idx, index_key(g));
    let ps = txn.store.processes.clone();
    txn.remove(&ps, graph_key(&g.processgraphid));
    Ok(())
}

/// What `addchildmsg` asks for.
pub struct AddChild<'a> {
    /// Graph.
    pub processgraphid: &'a str,
    /// The running member adding the child.
    pub parentprocessid: &'a str,
    /// With `insert == false`: a member the new child becomes a parent of ("" for none).
    pub childprocessid: &'a str,
    /// The child's spec (normalized).
    pub spec: FunctionSpec,
    /// Insert between the parent and its children instead of appending.
    pub insert: bool,
}

/// `addchildmsg`: links a new member under a running parent (spec §6.3).
pub fn add_child(txn: &mut Txn<'_>, signer: &str, req: AddChild<'_>) -> Result<Process, ApiError> {
    let mut g = load_in(txn, req.processgraphid)?.ok_or_else(|| not_found(req.processgraphid))?;
    let bad = |m: &str| ApiError::bad_request(format!("Failed to add child, {m}"));
    let parent = txn
        .process(req.parentprocessid)?
        .ok_or_else(|| bad("parent process not found"))?;
    if parent.processgraphid != g.processgraphid {
        return Err(bad("the parent is not a member of this workflow"));
    }
    if parent.state != state::RUNNING {
        return Err(bad("the parent is not running"));
    }
    if !parent.isassigned || parent.assignedexecutorid != signer {
        return Err(bad("the parent is not assigned to the signing executor"));
    }
    let before = g.clone();
    let child_id = crate::crypto::random_id();
    let mut new_parent = parent.clone();
    let mut grandchildren = Vec::new();
    if req.insert {
        grandchildren = std::mem::take(&mut new_parent.children);
        new_parent.children = vec![child_id.clone()];
        for gc in &grandchildren {
            if let Some(old) = txn.process(gc)? {
                let mut n = old.clone();
                for p in n.parents.iter_mut() {
                    if *p == parent.processid {
                        *p = child_id.clone();
                    }
                }
                txn.put_process(Some(&old), &n)?;
            }
        }
    } else {
        new_parent.children.push(child_id.clone());
        if !req.childprocessid.is_empty() {
            let old = txn
                .process(req.childprocessid)?
                .filter(|p| p.processgraphid == g.processgraphid)
                .ok_or_else(|| bad("childprocessid is not a member of this workflow"))?;
            if state::is_final(old.state) || old.state == state::RUNNING {
                return Err(bad("childprocessid has already started"));
            }
            let mut n = old.clone();
            n.parents.push(child_id.clone());
            n.waitforparents = true;
            txn.put_process(Some(&old), &n)?;
            grandchildren = vec![old.processid];
        }
    }
    txn.put_process(Some(&parent), &new_parent)?;
    let mut spec = req.spec;
    spec.conditions.colonyname = g.colonyname.clone();
    let child = crate::process::create(
        txn,
        crate::process::NewProcess {
            processid: child_id,
            spec,
            initiatorid: &g.initiatorid,
            initiatorname: &g.initiatorname,
            processgraphid: &g.processgraphid,
            waitforparents: true,
            parents: vec![parent.processid.clone()],
            children: grandchildren,
            input: Vec::new(),
        },
    )?;
    g.processids.push(child.processid.clone());
    if let Some(n) = counter(&mut g.counts, state::WAITING) {
        *n += 1;
    }
    recompute(txn, &mut g);
    save(txn, Some(&before), &g)?;
    Ok(child)
}

fn not_found(gid: &str) -> ApiError {
    ApiError::not_found(format!("Process graph with Id {gid} not found"))
}
