//! Executors (spec §4.2).

use super::{check_id, check_name, empty, json, Ctx};
use crate::auth;
use crate::protocol::json::RawJson;
use crate::protocol::msgs::{
    AddExecutorMsg, ColonyNameMsg, ExecutorIdMsg, ExecutorNameMsg, ReportAllocationMsg,
    UpdateExecutorMsg,
};
use crate::protocol::time::Timestamp;
use crate::protocol::types::{executor_state, Executor};
use crate::protocol::ApiError;
use crate::store::keys;
use crate::store::writer::Txn;

pub async fn add(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: AddExecutorMsg = ctx.msg()?;
    let mut e = m
        .executor
        .ok_or_else(|| ApiError::bad_request("Failed to add executor, executor is null"))?;
    auth::colony_owner(&ctx.state.store, &e.colonyname, &ctx.signer)?;
    check_id("executor Id", &e.executorid)?;
    check_name("executor name", &e.executorname)?;
    e.state = executor_state::PENDING;
    if e.capabilities.is_null() {
        e.capabilities =
            RawJson::from_text(r#"{"hardware":null,"software":null}"#).unwrap_or_default();
    }
    if e.allocations.is_null() {
        e.allocations = RawJson::from_text(r#"{"projects":null}"#).unwrap_or_default();
    }
    let reregister = ctx.state.limits.allow_executor_reregister;
    ctx.state
        .writer
        .run(move |txn| {
            e.commissiontime = Timestamp(txn.now);
            if let Some(old) = txn.store.executor(&e.colonyname, &e.executorname)? {
                if !reregister {
                    return Err(ApiError::bad_request(format!(
                        "Executor with name {} in Colony {} already exists",
                        e.executorname, e.colonyname
                    )));
                }
                delete(txn, &old)?;
            }
            if let Some(other) = txn.store.executor_by_id(&e.executorid)? {
                if other.colonyname != e.colonyname || other.executorname != e.executorname {
                    return Err(ApiError::bad_request(format!(
                        "Executor with Id {} is already registered as {} in Colony {}",
                        e.executorid, other.executorname, other.colonyname
                    )));
                }
            }
            put(txn, &e);
            Ok(e)
        })
        .await
        .and_then(|e| json(&e))
}

fn put(txn: &mut Txn<'_>, e: &Executor) {
    let reg = txn.store.registry.clone();
    txn.put(&reg, keys::executor(&e.colonyname, &e.executorname), e);
    let mut loc = e.colonyname.as_bytes().to_vec();
    loc.push(0);
    loc.extend_from_slice(e.executorname.as_bytes());
    txn.put_raw(&reg, keys::executor_id(&e.executorid), loc);
}

fn delete(txn: &mut Txn<'_>, e: &Executor) -> Result<(), ApiError> {
    let reg = txn.store.registry.clone();
    for f in txn.store.functions(&e.colonyname, Some(&e.executorname))? {
        txn.remove(&reg, keys::function(&f.functionid));
        txn.remove(
            &reg,
            keys::function_ref(&e.colonyname, &e.executorname, &f.functionid),
        );
    }
    txn.remove(&reg, keys::executor_id(&e.executorid));
    txn.remove(&reg, keys::executor(&e.colonyname, &e.executorname));
    Ok(())
}

fn not_found(colony: &str, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Executor with name {name} in Colony {colony} not found"
    ))
}

pub async fn set_state(ctx: &mut Ctx<'_>, new_state: i32) -> Result<Vec<u8>, ApiError> {
    let m: ExecutorNameMsg = ctx.msg()?;
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let mut e = txn
                .store
                .executor(&m.colonyname, &m.executorname)?
                .ok_or_else(|| not_found(&m.colonyname, &m.executorname))?;
            e.state = new_state;
            put(txn, &e);
            Ok(())
        })
        .await?;
    empty()
}

pub async fn remove(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ExecutorNameMsg = ctx.msg()?;
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let e = txn
                .store
                .executor(&m.colonyname, &m.executorname)?
                .ok_or_else(|| not_found(&m.colonyname, &m.executorname))?;
            delete(txn, &e)
        })
        .await?;
    empty()
}

pub fn list(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ColonyNameMsg = ctx.msg()?;
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    json(&ctx.state.store.executors(&m.colonyname)?)
}

pub fn get(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ExecutorNameMsg = ctx.msg()?;
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let e = ctx
        .state
        .store
        .executor(&m.colonyname, &m.executorname)?
        .ok_or_else(|| not_found(&m.colonyname, &m.executorname))?;
    json(&e)
}

pub fn get_by_id(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ExecutorIdMsg = ctx.msg()?;
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let e = ctx
        .state
        .store
        .executor_by_id(&m.executorid)?
        .filter(|e| e.colonyname == m.colonyname)
        .ok_or_else(|| {
            ApiError::not_found(format!("Executor with Id {} not found", m.executorid))
        })?;
    json(&e)
}

/// The signer must be the named executor of the colony (role X of spec §3).
fn signer_is(ctx: &Ctx<'_>, colony: &str, name: &str) -> Result<Executor, ApiError> {
    auth::member(&ctx.state.store, colony, &ctx.signer, false)?;
    let e = ctx
        .state
        .store
        .executor(colony, name)?
        .ok_or_else(|| not_found(colony, name))?;
    if e.executorid != ctx.signer {
        return Err(ApiError::forbidden(format!(
            "Access denied, the signer is not executor {name}"
        )));
    }
    Ok(e)
}

/// Changes the signing executor's own record (role X of spec §3).
async fn modify_self(
    ctx: &mut Ctx<'_>,
    colony: &str,
    name: &str,
    change: impl FnOnce(&mut Executor) + Send + 'static,
) -> Result<Vec<u8>, ApiError> {
    let e = signer_is(ctx, colony, name)?;
    ctx.state
        .writer
        .run(move |txn| {
            let mut e = txn
                .store
                .executor(&e.colonyname, &e.executorname)?
                .ok_or_else(|| not_found(&e.colonyname, &e.executorname))?;
            change(&mut e);
            put(txn, &e);
            Ok(())
        })
        .await?;
    empty()
}

pub async fn update(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: UpdateExecutorMsg = ctx.msg()?;
    let caps = m.capabilities.unwrap_or_default();
    modify_self(ctx, &m.colonyname, &m.executorname, move |e| {
        e.capabilities = caps
    })
    .await
}

pub async fn report_allocation(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ReportAllocationMsg = ctx.msg()?;
    let alloc = m.allocations.unwrap_or_default();
    modify_self(ctx, &m.colonyname, &m.executorname, move |e| {
        e.allocations = alloc
    })
    .await
}

/// Re-registers an executor under a new ID (`changeexecutoridmsg`).
pub async fn change_id(ctx: &mut Ctx<'_>, colony: String, new_id: String) -> Result<(), ApiError> {
    check_id("executor Id", &new_id)?;
    let e = match auth::member(&ctx.state.store, &colony, &ctx.signer, false)? {
        auth::Member::Executor(e) => e,
        auth::Member::User(_) => {
            return Err(ApiError::forbidden(
                "Access denied, the signer is not an executor",
            ))
        }
    };
    ctx.state
        .writer
        .run(move |txn| {
            if txn.store.executor_by_id(&new_id)?.is_some() {
                return Err(ApiError::bad_request(
                    "an executor with that Id already exists",
                ));
            }
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::executor_id(&e.executorid));
            let mut e = e;
            e.executorid = new_id;
            put(txn, &e);
            Ok(())
        })
        .await
}
