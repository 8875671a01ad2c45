//! Crons and generators (upstream `handlers/cron`, `handlers/generator`): every call needs an
//! approved executor or a user of the colony, as upstream. Lookups by ID come first and
//! answer upstream's statuses (500 "… is nil", `runcronmsg` 400 "cron not found").

use super::{check_name, empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{
    AddCronMsg, AddGeneratorMsg, ColonyCountMsg, CronIdMsg, GeneratorIdMsg, PackGeneratorMsg,
    ResolveGeneratorMsg,
};
use crate::protocol::types::{Cron, Generator};
use crate::protocol::ApiError;
use crate::schedules::{self, RunCause, Schedule, CHECKER_PERIOD_MS};

/// Most crons or generators one listing returns.
const MAX_COUNT: i64 = 10_000;

fn count(c: i64) -> Result<usize, ApiError> {
    if c < 0 {
        return Err(ApiError::bad_request(format!(
            "count must not be negative (got {c})"
        )));
    }
    Ok(usize::try_from(c.min(MAX_COUNT)).unwrap_or(0))
}

fn cron_of(ctx: &Ctx<'_>, id: &str, missing: ApiError) -> Result<Cron, ApiError> {
    let c = schedules::load_cron(&ctx.state.store, id)?.ok_or(missing)?;
    auth::member(&ctx.state.store, &c.colonyname, &ctx.signer, true)?;
    Ok(c)
}

pub async fn add_cron(ctx: &mut Ctx<'_>, m: AddCronMsg) -> Result<Vec<u8>, ApiError> {
    let mut c = m
        .cron
        .ok_or_else(|| ApiError::bad_request("Failed to add cron, msg.Cron is nil"))?;
    let member = auth::member(&ctx.state.store, &c.colonyname, &ctx.signer, true)?;
    check_name("cron name", &c.name)?;
    schedules::prepare("cron", &c.colonyname, &c.workflowspec)?;
    Schedule::of(c.interval, &c.cronexpression)?;
    if c.interval <= 0 && c.random {
        return Err(ApiError::bad_request(
            "Random cron is only supported when specifying intervals",
        ));
    }
    c.cronid = crate::crypto::random_id();
    c.initiatorid = ctx.signer.clone();
    c.initiatorname = member.name().to_string();
    let c = ctx
        .state
        .writer
        .run(move |txn| schedules::add_cron(txn, c))
        .await?;
    json(&c)
}

pub fn get_cron(ctx: &mut Ctx<'_>, m: CronIdMsg) -> Result<Vec<u8>, ApiError> {
    let mut c = cron_of(
        ctx,
        &m.cronid,
        ApiError::internal("Failed to get cron, cron is nil"),
    )?;
    c.checkerperiod = CHECKER_PERIOD_MS;
    json(&c)
}

pub fn get_crons(ctx: &mut Ctx<'_>, m: ColonyCountMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let n = count(m.count)?;
    json(&schedules::list_crons(&ctx.state.store, &m.colonyname, n)?)
}

/// Runs the cron now (membership is checked first: upstream runs it before checking). The
/// answer is the cron as it was before the run, as upstream; a cron waiting for its previous
/// workflow does not run and is answered as it is.
pub async fn run_cron(ctx: &mut Ctx<'_>, m: CronIdMsg) -> Result<Vec<u8>, ApiError> {
    let c = cron_of(ctx, &m.cronid, ApiError::bad_request("cron not found"))?;
    let id = c.cronid.clone();
    let before = ctx
        .state
        .writer
        .run(move |txn| schedules::run_cron(txn, &id, RunCause::Now))
        .await?;
    json(&before.unwrap_or(c))
}

pub async fn remove_cron(ctx: &mut Ctx<'_>, m: CronIdMsg) -> Result<Vec<u8>, ApiError> {
    let c = cron_of(
        ctx,
        &m.cronid,
        ApiError::internal("Failed to remove cron, cron is nil"),
    )?;
    ctx.state
        .writer
        .run(move |txn| schedules::remove_cron(txn, &c.cronid))
        .await?;
    empty()
}

fn generator_of(
    ctx: &Ctx<'_>,
    id: &str,
    missing: ApiError,
) -> Result<schedules::GeneratorRecord, ApiError> {
    let r = schedules::load_generator(&ctx.state.store, id)?.ok_or(missing)?;
    auth::member(&ctx.state.store, &r.generator.colonyname, &ctx.signer, true)?;
    Ok(r)
}

pub async fn add_generator(ctx: &mut Ctx<'_>, m: AddGeneratorMsg) -> Result<Vec<u8>, ApiError> {
    let mut g = m
        .generator
        .ok_or_else(|| ApiError::bad_request("Failed to add generator, msg.Generator is nil"))?;
    let member = auth::member(&ctx.state.store, &g.colonyname, &ctx.signer, true)?;
    check_name("generator name", &g.name)?;
    schedules::prepare("generator", &g.colonyname, &g.workflowspec)?;
    if g.trigger < 1 {
        // upstream accepts 0 and then divides by it in its trigger loop
        return Err(ApiError::bad_request(format!(
            "Failed to add generator, trigger must be at least 1 (got {})",
            g.trigger
        )));
    }
    g.generatorid = crate::crypto::random_id();
    g.initiatorid = ctx.signer.clone();
    g.initiatorname = member.name().to_string();
    let g = ctx
        .state
        .writer
        .run(move |txn| schedules::add_generator(txn, g))
        .await?;
    json(&g)
}

pub fn get_generator(ctx: &mut Ctx<'_>, m: GeneratorIdMsg) -> Result<Vec<u8>, ApiError> {
    let r = generator_of(
        ctx,
        &m.generatorid,
        ApiError::internal("Failed to get generator, generator is nil"),
    )?;
    let queued = r.queued();
    let mut g = r.generator;
    g.queuesize = i64::try_from(queued).unwrap_or(i64::MAX);
    g.checkerperiod = CHECKER_PERIOD_MS;
    json(&g)
}

pub fn resolve_generator(ctx: &mut Ctx<'_>, m: ResolveGeneratorMsg) -> Result<Vec<u8>, ApiError> {
    let r = schedules::generator_by_name(&ctx.state.store, &m.colonyname, &m.generatorname)?
        .ok_or_else(|| ApiError::internal("Failed to resolve generator, generator is nil"))?;
    auth::member(&ctx.state.store, &r.generator.colonyname, &ctx.signer, true)?;
    json(&r.generator)
}

/// Upstream answers an empty listing with `null` (clients accept it).
pub fn get_generators(ctx: &mut Ctx<'_>, m: ColonyCountMsg) -> Result<Vec<u8>, ApiError> {
    auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    let n = count(m.count)?;
    let list: Vec<Generator> = schedules::list_generators(&ctx.state.store, &m.colonyname, n)?;
    if list.is_empty() {
        return Ok(b"null".to_vec());
    }
    json(&list)
}

/// Packs an argument (durable when answered); if that completes a batch, the workflow is
/// submitted right away in its own operation (the timer retries one that fails).
pub async fn pack(ctx: &mut Ctx<'_>, m: PackGeneratorMsg) -> Result<Vec<u8>, ApiError> {
    let r = generator_of(
        ctx,
        &m.generatorid,
        ApiError::internal("Failed to increment generator, generator is nil"),
    )?;
    let id = r.generator.generatorid;
    let max = ctx.state.limits.generator_max_args;
    let arg = m.arg;
    let pid = id.clone();
    let due = ctx
        .state
        .writer
        .run(move |txn| schedules::pack(txn, &pid, arg, max))
        .await?;
    if due {
        let fid = id.clone();
        if let Err(e) = ctx
            .state
            .writer
            .run(move |txn| schedules::fire(txn, &fid))
            .await
        {
            tracing::warn!(generator = %id, error = %e, "generator workflow submission failed; retried by the timer");
        }
    }
    empty()
}

pub async fn remove_generator(ctx: &mut Ctx<'_>, m: GeneratorIdMsg) -> Result<Vec<u8>, ApiError> {
    let r = generator_of(
        ctx,
        &m.generatorid,
        ApiError::internal("Failed to remove generator, generator is nil"),
    )?;
    let id = r.generator.generatorid;
    ctx.state
        .writer
        .run(move |txn| schedules::remove_generator(txn, &id))
        .await?;
    empty()
}
