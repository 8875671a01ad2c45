//! Blueprints and their definitions (upstream `handlers/blueprint`). The colony owner adds and
//! removes definitions; members or the owner read them and add, read, update and remove
//! blueprints; only members report status and ask for a reconcile, as upstream.

use super::{check_name, empty, json, Ctx};
use crate::auth::{self, Member};
use crate::blueprints::{self, Actor};
use crate::protocol::msgs::{
    AddBlueprintDefinitionMsg, AddBlueprintMsg, BlueprintDefinitionMsg, BlueprintHistoryMsg,
    BlueprintStatusMsg, ColonyNameMsg, GetBlueprintsMsg, NamespaceNameMsg, ReconcileBlueprintMsg,
    UpdateBlueprintMsg,
};
use crate::protocol::ApiError;

/// The signer as blueprints record it: ID and member name ("" for the owner).
fn actor_of(ctx: &Ctx<'_>, colony: &str) -> Result<(String, String), ApiError> {
    let m = auth::member_or_owner(&ctx.state.store, colony, &ctx.signer)?;
    let name = m.as_ref().map(Member::name).unwrap_or("").to_string();
    Ok((ctx.signer.clone(), name))
}

pub async fn add_definition(
    ctx: &mut Ctx<'_>,
    m: AddBlueprintDefinitionMsg,
) -> Result<Vec<u8>, ApiError> {
    let mut d = m.blueprintdefinition.ok_or_else(|| {
        ApiError::bad_request("Failed to add blueprint definition, blueprint definition is nil")
    })?;
    auth::colony_owner(&ctx.state.store, &d.metadata.colonyname, &ctx.signer)?;
    check_name("blueprint definition name", &d.metadata.name)?;
    d.blueprintdefinitionid = crate::crypto::random_id();
    let d = ctx
        .state
        .writer
        .run(move |txn| blueprints::add_definition(txn, d))
        .await?;
    json(&d)
}

pub fn get_definition(ctx: &mut Ctx<'_>, m: BlueprintDefinitionMsg) -> Result<Vec<u8>, ApiError> {
    auth::member_or_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    let d = blueprints::definition(&ctx.state.store, &m.colonyname, &m.name)?
        .ok_or_else(|| ApiError::not_found("Blueprint definition not found"))?;
    json(&d)
}

pub fn get_definitions(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member_or_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    json(&blueprints::definitions(&ctx.state.store, &m.colonyname)?)
}

pub async fn remove_definition(
    ctx: &mut Ctx<'_>,
    m: NamespaceNameMsg,
) -> Result<Vec<u8>, ApiError> {
    auth::colony_owner(&ctx.state.store, &m.namespace, &ctx.signer)?;
    ctx.state
        .writer
        .run(move |txn| blueprints::remove_definition(txn, &m.namespace, &m.name))
        .await?;
    empty()
}

pub async fn add(ctx: &mut Ctx<'_>, m: AddBlueprintMsg) -> Result<Vec<u8>, ApiError> {
    let mut b = m
        .blueprint
        .ok_or_else(|| ApiError::bad_request("Failed to add blueprint, blueprint is nil"))?;
    let (id, name) = actor_of(ctx, &b.metadata.colonyname)?;
    check_name("blueprint name", &b.metadata.name)?;
    if !b.metadata.locationname.is_empty() {
        check_name("blueprint locationname", &b.metadata.locationname)?;
    }
    b.blueprintid = crate::crypto::random_id();
    let keep = ctx.state.limits.blueprint_history;
    let b = ctx
        .state
        .writer
        .run(move |txn| {
            blueprints::add(
                txn,
                b,
                &Actor {
                    id: &id,
                    name: &name,
                },
                keep,
            )
        })
        .await?;
    json(&b)
}

pub fn get(ctx: &mut Ctx<'_>, m: NamespaceNameMsg) -> Result<Vec<u8>, ApiError> {
    auth::member_or_owner(&ctx.state.store, &m.namespace, &ctx.signer)?;
    let b = blueprints::get(&ctx.state.store, &m.namespace, &m.name)?
        .ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    json(&b)
}

/// Upstream answers an empty listing with `null`.
pub fn list(ctx: &mut Ctx<'_>, m: GetBlueprintsMsg) -> Result<Vec<u8>, ApiError> {
    auth::member_or_owner(&ctx.state.store, &m.namespace, &ctx.signer)?;
    let list = blueprints::list(&ctx.state.store, &m.namespace, &m.kind, &m.locationname)?;
    if list.is_empty() {
        return Ok(b"null".to_vec());
    }
    json(&list)
}

pub async fn update(ctx: &mut Ctx<'_>, m: UpdateBlueprintMsg) -> Result<Vec<u8>, ApiError> {
    let b = m
        .blueprint
        .ok_or_else(|| ApiError::bad_request("Failed to update blueprint, blueprint is nil"))?;
    let (id, name) = actor_of(ctx, &b.metadata.colonyname)?;
    let keep = ctx.state.limits.blueprint_history;
    let force = m.forcegeneration;
    let b = ctx
        .state
        .writer
        .run(move |txn| {
            blueprints::update(
                txn,
                b,
                force,
                &Actor {
                    id: &id,
                    name: &name,
                },
                keep,
            )
        })
        .await?;
    json(&b)
}

pub async fn remove(ctx: &mut Ctx<'_>, m: NamespaceNameMsg) -> Result<Vec<u8>, ApiError> {
    let (id, name) = actor_of(ctx, &m.namespace)?;
    ctx.state
        .writer
        .run(move |txn| {
            blueprints::remove(
                txn,
                &m.namespace,
                &m.name,
                &Actor {
                    id: &id,
                    name: &name,
                },
            )
        })
        .await?;
    empty()
}

/// The blueprint is looked up first (404), then the signer checked against its colony, as
/// upstream. `null` when there is no history.
pub fn history(ctx: &mut Ctx<'_>, m: BlueprintHistoryMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    let b = blueprints::by_id(store, &m.blueprintid)?
        .ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    auth::member_or_owner(store, &b.metadata.colonyname, &ctx.signer)?;
    let limit = usize::try_from(m.limit.max(0)).unwrap_or(0);
    let h = blueprints::history(store, &b.blueprintid, limit)?;
    if h.is_empty() {
        return Ok(b"null".to_vec());
    }
    json(&h)
}

pub async fn set_status(ctx: &mut Ctx<'_>, m: BlueprintStatusMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let status: serde_json::Value = match &m.status {
        Some(raw) => serde_json::from_str(raw.text())
            .map_err(|e| ApiError::bad_request(format!("invalid status: {e}")))?,
        None => serde_json::Value::Null,
    };
    ctx.state
        .writer
        .run(move |txn| blueprints::set_status(txn, &m.colonyname, &m.blueprintname, status))
        .await?;
    empty()
}

pub async fn reconcile(ctx: &mut Ctx<'_>, m: ReconcileBlueprintMsg) -> Result<Vec<u8>, ApiError> {
    let member = auth::member(&ctx.state.store, &m.namespace, &ctx.signer, true)?;
    let (id, name) = (ctx.signer.clone(), member.name().to_string());
    let p = ctx
        .state
        .writer
        .run(move |txn| {
            blueprints::reconcile(
                txn,
                &m.namespace,
                &m.name,
                m.force,
                &Actor {
                    id: &id,
                    name: &name,
                },
            )
        })
        .await?;
    json(&p)
}
