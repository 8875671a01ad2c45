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
use crate::store::{self};

pub async fn add(ctx: &mut Ctx<'_>, m: AddExecutorMsg) -> Result<Vec<u8>, ApiError> {
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
                // upstream refuses a known name, UNREGISTERED or not, unless re-registration
                // is allowed; then the old record is unregistered (its running processes
                // requeued, its functions deleted) and reactivated with the new fields
                if !reregister {
                    return Err(ApiError::bad_request(format!(
                        "Executor with name <{}> in Colony <{}> already exists",
                        e.executorname, e.colonyname
                    )));
                }
                crate::lifecycle::unregister_executor(txn, &old)?;
                if old.executorid != e.executorid {
                    release_id(txn, &old)?;
                }
            }
            if let Some(other) = txn.store.executor_by_id(&e.executorid)? {
                let same = other.colonyname == e.colonyname && other.executorname == e.executorname;
                // a kept UNREGISTERED record does not hold on to its ID: the new executor
                // takes it (the old record stays listed under its name)
                if !same && other.state != executor_state::UNREGISTERED {
                    return Err(ApiError::bad_request(format!(
                        "Executor with Id {} is already registered as {} in Colony {}",
                        e.executorid, other.executorname, other.colonyname
                    )));
                }
            }
            put(txn, &e)?;
            Ok(e)
        })
        .await
        .and_then(|e| json(&e))
}

fn put(txn: &mut Txn<'_>, e: &Executor) -> Result<(), store::Error> {
    let reg = txn.store.registry.clone();
    txn.put(&reg, keys::executor(&e.colonyname, &e.executorname), e)?;
    let mut loc = e.colonyname.as_bytes().to_vec();
    loc.push(0);
    loc.extend_from_slice(e.executorname.as_bytes());
    txn.put_raw(&reg, keys::executor_id(&e.executorid), loc);
    Ok(())
}

/// Drops the ID index entry of `e` if it still points at `e` (not at an executor that took
/// the ID over).
fn release_id(txn: &mut Txn<'_>, e: &Executor) -> Result<(), ApiError> {
    if let Some(holder) = txn.store.executor_by_id(&e.executorid)? {
        if holder.colonyname == e.colonyname && holder.executorname == e.executorname {
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::executor_id(&e.executorid));
        }
    }
    Ok(())
}

/// Upstream's answer when the executor named in update/report-allocation is unknown.
fn not_found(name: &str) -> ApiError {
    ApiError::bad_request(format!("Executor with name <{name}> does not exist"))
}

/// Upstream's answer for an unknown executor in approve, reject, remove and get: 500
/// `Failed to <op> executor, executor is nil`.
fn nil(op: &str) -> ApiError {
    ApiError::internal(format!("Failed to {op} executor, executor is nil"))
}

pub async fn set_state(
    ctx: &mut Ctx<'_>,
    m: ExecutorNameMsg,
    new_state: i32,
) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let mut e = txn
                .store
                .executor(&m.colonyname, &m.executorname)?
                .ok_or_else(|| {
                    nil(if new_state == executor_state::APPROVED {
                        "approve"
                    } else {
                        "reject"
                    })
                })?;
            e.state = new_state;
            put(txn, &e)?;
            Ok(())
        })
        .await?;
    empty()
}

pub async fn remove(ctx: &mut Ctx<'_>, m: ExecutorNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let e = txn
                .store
                .executor(&m.colonyname, &m.executorname)?
                .ok_or_else(|| nil("remove"))?;
            crate::lifecycle::unregister_executor(txn, &e)
        })
        .await?;
    empty()
}

pub fn list(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    json(&ctx.state.store.executors(&m.colonyname)?)
}

pub fn get(ctx: &mut Ctx<'_>, m: ExecutorNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let e = ctx
        .state
        .store
        .executor(&m.colonyname, &m.executorname)?
        .ok_or_else(|| nil("get"))?;
    json(&e)
}

pub fn get_by_id(ctx: &mut Ctx<'_>, m: ExecutorIdMsg) -> Result<Vec<u8>, ApiError> {
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
        .ok_or_else(|| not_found(name))?;
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
                .ok_or_else(|| not_found(&e.executorname))?;
            change(&mut e);
            put(txn, &e)?;
            Ok(())
        })
        .await?;
    empty()
}

pub async fn update(ctx: &mut Ctx<'_>, m: UpdateExecutorMsg) -> Result<Vec<u8>, ApiError> {
    let caps = m.capabilities.unwrap_or_default();
    modify_self(ctx, &m.colonyname, &m.executorname, move |e| {
        e.capabilities = caps
    })
    .await
}

pub async fn report_allocation(
    ctx: &mut Ctx<'_>,
    m: ReportAllocationMsg,
) -> Result<Vec<u8>, ApiError> {
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
            put(txn, &e)?;
            Ok(())
        })
        .await
}
