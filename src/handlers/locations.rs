//! Locations (upstream `handlers/location`): the colony owner adds and removes them; any
//! executor (whatever its state) or user of the colony reads them.

use super::{check_name, empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{AddLocationMsg, ColonyNameMsg, LocationNameMsg};
use crate::protocol::types::Location;
use crate::protocol::ApiError;
use crate::store::keys;

/// Upstream answers 400 for a missing colony before it checks the signer.
fn colony_exists(ctx: &Ctx<'_>, colony: &str) -> Result<(), ApiError> {
    if ctx.state.store.colony(colony)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Colony with name <{colony}> does not exists"
        )));
    }
    Ok(())
}

fn load(ctx: &Ctx<'_>, colony: &str, name: &str) -> Result<Option<Location>, ApiError> {
    let store = &ctx.state.store;
    Ok(store.get(&store.registry, &keys::location(colony, Some(name)))?)
}

pub async fn add(ctx: &mut Ctx<'_>, m: AddLocationMsg) -> Result<Vec<u8>, ApiError> {
    let mut loc = m
        .location
        .ok_or_else(|| ApiError::bad_request("Failed to add location, location is nil"))?;
    colony_exists(ctx, &loc.colonyname)?;
    auth::colony_owner(&ctx.state.store, &loc.colonyname, &ctx.signer)?;
    check_name("location name", &loc.name)?;
    if !loc.long.is_finite() || !loc.lat.is_finite() {
        return Err(ApiError::bad_request(
            "Failed to add location, long and lat must be finite numbers",
        ));
    }
    if loc.locationid.is_empty() {
        // upstream stores what the client sent (its CLI generates one)
        loc.locationid = crate::crypto::random_id();
    }
    let stored = loc.clone();
    ctx.state
        .writer
        .run(move |txn| {
            let key = keys::location(&loc.colonyname, Some(&loc.name));
            let reg = txn.store.registry.clone();
            if reg.get(&key)?.is_some() {
                return Err(ApiError::bad_request(format!(
                    "A location with name <{}> already exists in Colony with name <{}>",
                    loc.name, loc.colonyname
                )));
            }
            txn.put(&reg, key, &loc)?;
            Ok(())
        })
        .await?;
    json(&stored)
}

/// Upstream answers an empty listing with `null`.
pub fn list(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    colony_exists(ctx, &m.colonyname)?;
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    let store = &ctx.state.store;
    let list: Vec<Location> = store.scan(
        &store.registry,
        &keys::location(&m.colonyname, None),
        100_000,
    )?;
    if list.is_empty() {
        return Ok(b"null".to_vec());
    }
    json(&list)
}

pub fn get(ctx: &mut Ctx<'_>, m: LocationNameMsg) -> Result<Vec<u8>, ApiError> {
    colony_exists(ctx, &m.colonyname)?;
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, false)?;
    let loc = load(ctx, &m.colonyname, &m.name)?
        .ok_or_else(|| ApiError::not_found("Failed to get location, location is nil"))?;
    json(&loc)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: LocationNameMsg) -> Result<Vec<u8>, ApiError> {
    colony_exists(ctx, &m.colonyname)?;
    auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    if load(ctx, &m.colonyname, &m.name)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Location with name <{}> not found",
            m.name
        )));
    }
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            txn.remove(&reg, keys::location(&m.colonyname, Some(&m.name)));
            Ok(())
        })
        .await?;
    empty()
}
