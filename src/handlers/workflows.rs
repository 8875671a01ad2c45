//! Workflows (spec §4.5): submit, get, list, remove, cancel, add child.

use super::{empty, json, Ctx};
use crate::auth;
use crate::lifecycle;
use crate::protocol::msgs::{
    AddChildMsg, GetGraphsMsg, GraphIdMsg, RemoveAllGraphsMsg, SubmitWorkflowMsg,
};
use crate::protocol::types::{state, Process};
use crate::protocol::ApiError;
use crate::store::Store;
use crate::workflows::{self, GraphRecord};
use serde_json::{json as j, Value};

/// Most graphs one listing returns.
const MAX_COUNT: i64 = 100;

/// The graph as clients expect it (spec §5.6); `detail` adds nodes and edges.
fn graph_json(store: &Store, g: &GraphRecord, detail: bool) -> Result<Value, ApiError> {
    let (nodes, edges) = if detail {
        layout(store, g)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(j!({
        "processgraphid": g.processgraphid,
        "initiatorid": g.initiatorid,
        "initiatorname": g.initiatorname,
        "colonyname": g.colonyname,
        "rootprocessids": g.rootprocessids,
        "state": g.state,
        "submissiontime": g.submissiontime.to_rfc3339(),
        "starttime": g.starttime.to_rfc3339(),
        "endtime": g.endtime.to_rfc3339(),
        "processids": g.processids,
        "nodes": nodes,
        "edges": edges,
    }))
}

/// Nodes placed by depth (rows) and order within a depth (columns); edges parent → child.
fn layout(store: &Store, g: &GraphRecord) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut procs: Vec<Process> = Vec::new();
    for pid in &g.processids {
        if let Some(p) = store.process(pid)? {
            procs.push(p);
        }
    }
    let mut depth: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    // members are stored parents-first except added children, so iterate to a fixed point
    for _ in 0..procs.len().max(1) {
        let mut changed = false;
        for p in &procs {
            let d = p
                .parents
                .iter()
                .filter_map(|q| depth.get(q.as_str()).map(|d| d + 1))
                .max()
                .unwrap_or(0);
            if depth.get(p.processid.as_str()) != Some(&d) {
                depth.insert(&p.processid, d);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut per_row: std::collections::HashMap<usize, i64> = std::collections::HashMap::new();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for p in &procs {
        let d = depth.get(p.processid.as_str()).copied().unwrap_or(0);
        let col = per_row.entry(d).or_insert(0);
        let kind = if p.parents.is_empty() {
            "input"
        } else if p.children.is_empty() {
            "output"
        } else {
            ""
        };
        let (color, background) = match p.state {
            state::RUNNING => ("#ffffff", "#1f77b4"),
            state::SUCCESS => ("#ffffff", "#2ca02c"),
            state::FAILED => ("#ffffff", "#d62728"),
            state::CANCELLED => ("#000000", "#bbbbbb"),
            _ => ("#000000", "#ffffff"),
        };
        nodes.push(j!({
            "id": p.processid,
            "data": {"label": p.spec.nodename},
            "position": {"x": *col * 200, "y": d as i64 * 100},
            "type": kind,
            "style": {"color": color, "background": background},
        }));
        *col += 1;
        for c in &p.children {
            edges.push(j!({
                "id": format!("{}-{}", p.processid, c),
                "source": p.processid,
                "target": c,
                "animated": p.state == state::RUNNING,
            }));
        }
    }
    Ok((nodes, edges))
}

fn load_graph(ctx: &Ctx<'_>, gid: &str) -> Result<GraphRecord, ApiError> {
    let g = workflows::load(&ctx.state.store, gid)?
        .ok_or_else(|| ApiError::not_found(format!("Process graph with Id {gid} not found")))?;
    auth::member(&ctx.state.store, &g.colonyname, &ctx.signer, true)?;
    Ok(g)
}

pub async fn submit(ctx: &mut Ctx<'_>, m: SubmitWorkflowMsg) -> Result<Vec<u8>, ApiError> {
    let spec = m
        .spec
        .ok_or_else(|| ApiError::bad_request("Failed to submit workflow, spec is null"))?;
    let member = auth::member(&ctx.state.store, &spec.colonyname, &ctx.signer, true)?;
    let mut specs = spec.functionspecs;
    for s in specs.iter_mut() {
        s.conditions.colonyname = spec.colonyname.clone();
        lifecycle::normalize_spec(s)?;
    }
    workflows::validate(&specs)?;
    let (signer, name, colony) = (
        ctx.signer.clone(),
        member.name().to_string(),
        spec.colonyname,
    );
    let g = ctx
        .state
        .writer
        .run(move |txn| workflows::submit(txn, &colony, specs, &signer, &name, &[]))
        .await?;
    json(&graph_json(&ctx.state.store, &g, false)?)
}

pub fn get(ctx: &mut Ctx<'_>, m: GraphIdMsg) -> Result<Vec<u8>, ApiError> {
    // upstream's answer for an unknown graph
    let g = workflows::load(&ctx.state.store, &m.processgraphid)?
        .ok_or_else(|| ApiError::internal("Failed to get processgraph, graph is nil"))?;
    auth::member(&ctx.state.store, &g.colonyname, &ctx.signer, true)?;
    json(&graph_json(&ctx.state.store, &g, true)?)
}

pub fn list(ctx: &mut Ctx<'_>, m: GetGraphsMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    auth::member(store, &m.colonyname, &ctx.signer, true)?;
    if m.count > MAX_COUNT {
        return Err(ApiError::bad_request(format!(
            "Failed to get process graphs, count exceeds the maximum of {MAX_COUNT}"
        )));
    }
    let st = i32::try_from(m.state)
        .ok()
        .filter(|s| (state::WAITING..=state::CANCELLED).contains(s))
        .ok_or_else(|| ApiError::bad_request("Failed to get process graphs, invalid state"))?;
    let mut out = Vec::new();
    for g in store
        .index
        .prefix(workflows::by_state(&m.colonyname, Some(st)))
        .take(usize::try_from(m.count).unwrap_or(0))
    {
        let key = g.key()?;
        let Some(id) = crate::store::keys::trailing_pid(&key) else {
            continue;
        };
        if let Some(rec) = workflows::load(store, &id)? {
            out.push(graph_json(store, &rec, false)?);
        }
    }
    json(&out)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: GraphIdMsg) -> Result<Vec<u8>, ApiError> {
    load_graph(ctx, &m.processgraphid)?;
    ctx.state
        .writer
        .run(move |txn| workflows::remove(txn, &m.processgraphid))
        .await?;
    empty()
}

pub async fn remove_all(ctx: &mut Ctx<'_>, m: RemoveAllGraphsMsg) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    let st = match m.state {
        -1 => None,
        1 => {
            return Err(ApiError::bad_request(
                "Not possible to remove running workflows",
            ))
        }
        0 | 2..=4 => Some(m.state as i32),
        other => {
            return Err(ApiError::bad_request(format!(
                "Failed to remove workflows, invalid state {other}"
            )))
        }
    };
    loop {
        let colony = m.colonyname.clone();
        let removed = ctx
            .state
            .writer
            .run(move |txn| {
                let store = txn.store;
                let mut n = 0;
                for k in store.keys(&store.index, &workflows::by_state(&colony, st), 100)? {
                    let Some(id) = crate::store::keys::trailing_pid(&k) else {
                        continue;
                    };
                    if let Some(g) = workflows::load(store, &id)? {
                        if g.state != state::RUNNING {
                            workflows::delete(txn, &g)?;
                            n += 1;
                        }
                    }
                }
                Ok(n)
            })
            .await?;
        if removed < 100 {
            break;
        }
    }
    empty()
}

pub async fn cancel(ctx: &mut Ctx<'_>, m: GraphIdMsg) -> Result<Vec<u8>, ApiError> {
    load_graph(ctx, &m.processgraphid)?;
    ctx.state
        .writer
        .run(move |txn| lifecycle::cancel_workflow(txn, &m.processgraphid))
        .await?;
    empty()
}

pub async fn add_child(ctx: &mut Ctx<'_>, m: AddChildMsg) -> Result<Vec<u8>, ApiError> {
    let mut spec = m
        .spec
        .ok_or_else(|| ApiError::bad_request("Failed to add child, spec is null"))?;
    let g = load_graph(ctx, &m.processgraphid)?;
    spec.conditions.colonyname = g.colonyname.clone();
    lifecycle::normalize_spec(&mut spec)?;
    let signer = ctx.signer.clone();
    let p = ctx
        .state
        .writer
        .run(move |txn| {
            workflows::add_child(
                txn,
                &signer,
                workflows::AddChild {
                    processgraphid: &m.processgraphid,
                    parentprocessid: &m.parentprocessid,
                    childprocessid: &m.childprocessid,
                    spec,
                    insert: m.insert,
                },
            )
        })
        .await?;
    json(&p)
}
