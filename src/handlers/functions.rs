//! The function registry (spec §4.7).

use super::{empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{AddFunctionMsg, FunctionIdMsg, GetFunctionsMsg};
use crate::protocol::ApiError;
use crate::store::keys;

pub async fn add(ctx: &mut Ctx<'_>, m: AddFunctionMsg) -> Result<Vec<u8>, ApiError> {
    let mut f = m
        .fun
        .or(m.function)
        .ok_or_else(|| ApiError::bad_request("Failed to add function, fun is null"))?;
    let member = auth::member(&ctx.state.store, &f.colonyname, &ctx.signer, true)?;
    let e = match member {
        auth::Member::Executor(e) if e.executorname == f.executorname => e,
        _ => {
            return Err(ApiError::forbidden(format!(
                "Access denied, the signer is not executor {}",
                f.executorname
            )))
        }
    };
    super::check_name("function name", &f.funcname)?;
    if f.functionid.is_empty() {
        f.functionid = crate::crypto::random_id();
    } else {
        super::check_id("function Id", &f.functionid)?;
    }
    f.executortype = e.executortype;
    let reply = f.clone();
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            txn.put_raw(
                &reg,
                keys::function_ref(&f.colonyname, &f.executorname, &f.functionid),
                Vec::new(),
            );
            txn.put(&reg, keys::function(&f.functionid), &f)?;
            Ok(())
        })
        .await?;
    json(&reply)
}

pub fn list(ctx: &mut Ctx<'_>, m: GetFunctionsMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let exec = (!m.executorname.is_empty()).then_some(m.executorname.as_str());
    json(&ctx.state.store.functions(&m.colonyname, exec)?)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: FunctionIdMsg) -> Result<Vec<u8>, ApiError> {
    let f = ctx.state.store.function(&m.functionid)?.ok_or_else(|| {
        ApiError::not_found(format!("Function with Id {} not found", m.functionid))
    })?;
    match auth::member(&ctx.state.store, &f.colonyname, &ctx.signer, true)? {
        auth::Member::Executor(e) if e.executorname == f.executorname => {}
        _ => {
            return Err(ApiError::forbidden(
                "Access denied, only the executor that registered a function may remove it",
            ))
        }
    }
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::function(&f.functionid));
            txn.remove(
                &reg,
                keys::function_ref(&f.colonyname, &f.executorname, &f.functionid),
            );
            Ok(())
        })
        .await?;
    empty()
}
