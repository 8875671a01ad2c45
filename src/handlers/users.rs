//! Users (spec §4.3).

use super::{check_id, check_name, empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{AddUserMsg, ColonyNameMsg, UserIdMsg, UserNameMsg};
use crate::protocol::types::User;
use crate::protocol::ApiError;
use crate::store::keys;
use crate::store::writer::Txn;
use crate::store::{self};

fn put(txn: &mut Txn<'_>, u: &User) -> Result<(), store::Error> {
    let reg = txn.store.registry.clone();
    txn.put(&reg, keys::user(&u.colonyname, &u.name), u)?;
    txn.put_raw(
        &reg,
        keys::user_id(&u.colonyname, &u.userid),
        u.name.clone().into_bytes(),
    );
    Ok(())
}

pub async fn add(ctx: &mut Ctx<'_>, m: AddUserMsg) -> Result<Vec<u8>, ApiError> {
    let u = m
        .user
        .ok_or_else(|| ApiError::bad_request("Failed to add user, user is null"))?;
    if ctx.state.store.colony(&u.colonyname)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Colony with name <{}> does not exists",
            u.colonyname
        )));
    }
    auth::colony_owner(&ctx.state.store, &u.colonyname, &ctx.signer)?;
    check_id("user Id", &u.userid)?;
    check_name("user name", &u.name)?;
    let user = u.clone();
    ctx.state
        .writer
        .run(move |txn| {
            if txn.store.user(&u.colonyname, &u.name)?.is_some() {
                return Err(ApiError::bad_request(format!(
                    "A user with name {} already exists in colony {}",
                    u.name, u.colonyname
                )));
            }
            if txn.store.user_by_id(&u.colonyname, &u.userid)?.is_some() {
                return Err(ApiError::bad_request(format!(
                    "A user with Id {} already exists in colony {}",
                    u.userid, u.colonyname
                )));
            }
            put(txn, &u)?;
            Ok(())
        })
        .await?;
    json(&user)
}

pub fn list(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    if ctx.state.store.colony(&m.colonyname)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Colony with name <{}> does not exists",
            m.colonyname
        )));
    }
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    json(&ctx.state.store.users(&m.colonyname)?)
}

pub fn get(ctx: &mut Ctx<'_>, m: UserNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    let u = ctx
        .state
        .store
        .user(&m.colonyname, &m.name)?
        .ok_or_else(|| ApiError::not_found(format!("User with name <{}> not found", m.name)))?;
    json(&u)
}

pub fn get_by_id(ctx: &mut Ctx<'_>, m: UserIdMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    let u = ctx
        .state
        .store
        .user_by_id(&m.colonyname, &m.userid)?
        .ok_or_else(|| ApiError::not_found(format!("User with Id {} not found", m.userid)))?;
    json(&u)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: UserNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| {
            let u = txn.store.user(&m.colonyname, &m.name)?.ok_or_else(|| {
                ApiError::bad_request(format!("User with name <{}> not found", m.name))
            })?;
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::user(&u.colonyname, &u.name));
            txn.remove(&reg, keys::user_id(&u.colonyname, &u.userid));
            Ok(())
        })
        .await?;
    empty()
}

/// `changeuseridmsg`: the signing user takes a new ID.
pub async fn change_id(ctx: &mut Ctx<'_>, colony: String, new_id: String) -> Result<(), ApiError> {
    check_id("user Id", &new_id)?;
    let u = match auth::member(&ctx.state.store, &colony, &ctx.signer, false)? {
        auth::Member::User(u) => u,
        auth::Member::Executor(_) => {
            return Err(ApiError::forbidden(
                "Access denied, the signer is not a user",
            ))
        }
    };
    ctx.state
        .writer
        .run(move |txn| {
            if txn.store.user_by_id(&u.colonyname, &new_id)?.is_some() {
                return Err(ApiError::bad_request("a user with that Id already exists"));
            }
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::user_id(&u.colonyname, &u.userid));
            let mut u = u;
            u.userid = new_id;
            put(txn, &u)?;
            Ok(())
        })
        .await
}
