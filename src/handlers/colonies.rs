//! Colonies (spec §4.1) and statistics.

use super::{check_id, check_name, empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{AddColonyMsg, ColonyNameMsg, EmptyMsg};
use crate::protocol::types::{executor_state, state, Statistics};
use crate::protocol::ApiError;
use crate::store::{keys, Store};

pub async fn add(ctx: &mut Ctx<'_>, m: AddColonyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let colony = m
        .colony
        .ok_or_else(|| ApiError::bad_request("Failed to add colony, colony is null"))?;
    if colony.colonyid.len() != 64 {
        return Err(ApiError::bad_request(
            "Failed to add colony, invalid colony Id length",
        ));
    }
    check_id("colony Id", &colony.colonyid)?;
    check_name("colony name", &colony.name)?;
    let c = colony.clone();
    ctx.state
        .writer
        .run(move |txn| {
            if txn.store.colony(&c.name)?.is_some() {
                return Err(ApiError::bad_request(format!(
                    "A Colony with name <{}> already exists",
                    c.name
                )));
            }
            let reg = txn.store.registry.clone();
            txn.put(&reg, keys::colony(&c.name), &c)?;
            Ok(())
        })
        .await?;
    json(&colony)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let name = m.colonyname;
    ctx.state
        .writer
        .run(move |txn| {
            if txn.store.colony(&name)?.is_none() {
                return Err(ApiError::bad_request(format!(
                    "Colony with name <{name}> not found"
                )));
            }
            let store = txn.store;
            let reg = store.registry.clone();
            for e in store.executors(&name)? {
                txn.remove(&reg, keys::executor_id(&e.executorid));
            }
            for u in store.users(&name)? {
                txn.remove(&reg, keys::user_id(&name, &u.userid));
            }
            for f in store.functions(&name, None)? {
                txn.remove(&reg, keys::function(&f.functionid));
            }
            for prefix in [
                keys::executors_of(&name),
                keys::users_of(&name),
                keys::functions_of(&name, None),
            ] {
                for k in store.keys(&reg, &prefix, usize::MAX)? {
                    txn.remove(&reg, k);
                }
            }
            txn.remove(&reg, keys::paused(&name));
            for k in store.keys(
                &store.index,
                &crate::workflows::by_state(&name, None),
                usize::MAX,
            )? {
                if let Some(id) = keys::trailing_pid(&k) {
                    if let Some(g) = crate::workflows::load(store, &id)? {
                        crate::workflows::delete(txn, &g)?;
                    }
                }
            }
            for p in store.processes_by_index(&keys::by_state_all(&name), usize::MAX, false)? {
                crate::process::remove(txn, &p)?;
            }
            let logs = store.logs.clone();
            for g in store.logs.prefix(keys::logs_of_colony(&name)) {
                let (k, v) = g.into_inner()?;
                txn.remove(&logs, v.to_vec());
                txn.remove(&logs, k.to_vec());
            }
            let mut exec_prefix = b"e".to_vec();
            exec_prefix.extend_from_slice(name.as_bytes());
            exec_prefix.push(0);
            for k in store.keys(&logs, &exec_prefix, usize::MAX)? {
                txn.remove(&logs, k);
            }
            crate::schedules::remove_colony(txn, &name)?;
            crate::colonyfs::remove_colony(txn, &name)?;
            crate::blueprints::remove_colony(txn, &name)?;
            for k in store.keys(&reg, &keys::location(&name, None), usize::MAX)? {
                txn.remove(&reg, k);
            }
            txn.remove(&reg, keys::colony(&name));
            Ok(())
        })
        .await?;
    empty()
}

pub fn list(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    json(&ctx.state.store.colonies()?)
}

pub fn get(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let c = ctx.state.store.colony(&m.colonyname)?.ok_or_else(|| {
        ApiError::not_found(format!("Colony with name <{}> not found", m.colonyname))
    })?;
    json(&c)
}

pub fn stats(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    if store.colony(&m.colonyname)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Colony with name <{}> not found",
            m.colonyname
        )));
    }
    auth::member(store, &m.colonyname, &ctx.signer, true)?;
    let mut s = Statistics {
        colonies: 1,
        ..Statistics::default()
    };
    add_colony_stats(store, &m.colonyname, &mut s)?;
    json(&s)
}

pub fn server_stats(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let store = &ctx.state.store;
    let mut s = Statistics::default();
    for c in store.colonies()? {
        s.colonies += 1;
        add_colony_stats(store, &c.name, &mut s)?;
    }
    json(&s)
}

fn add_colony_stats(store: &Store, colony: &str, s: &mut Statistics) -> Result<(), ApiError> {
    for e in store.executors(colony)? {
        s.executors += 1;
        if e.state == executor_state::APPROVED {
            s.activeexecutors += 1;
        }
        if e.state == executor_state::UNREGISTERED {
            s.unregisteredexecutors += 1;
        }
    }
    s.waitingprocesses += store.count(&store.index, &keys::by_state(colony, state::WAITING))?;
    s.runningprocesses += store.count(&store.index, &keys::by_state(colony, state::RUNNING))?;
    s.successfulprocesses += store.count(&store.index, &keys::by_state(colony, state::SUCCESS))?;
    s.failedprocesses += store.count(&store.index, &keys::by_state(colony, state::FAILED))?;
    s.cancelledprocesses += store.count(&store.index, &keys::by_state(colony, state::CANCELLED))?;
    let wf = |st| crate::workflows::by_state(colony, Some(st));
    s.waitingworkflows += store.count(&store.index, &wf(state::WAITING))?;
    s.runningworkflows += store.count(&store.index, &wf(state::RUNNING))?;
    s.successfulworkflows += store.count(&store.index, &wf(state::SUCCESS))?;
    s.failedworkflows += store.count(&store.index, &wf(state::FAILED))?;
    s.cancelledworkflows += store.count(&store.index, &wf(state::CANCELLED))?;
    Ok(())
}
