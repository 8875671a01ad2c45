//! Scheduled work: crons run a stored workflow on a calendar expression or an interval;
//! generators run one when enough arguments have been packed or a timeout passes (upstream
//! `pkg/server/controllers/cron_controller.go`, `generator_controller.go`; the facts relied on
//! are in README's compatibility section).
//!
//! Every run is one writer operation that submits the workflow through
//! [`crate::workflows::submit`] and, in the same batch, advances the cron (next run, last run,
//! previous graph) or consumes the generator's arguments: a crash or a power cut leaves either
//! both or neither, so a tick never runs twice and a packed argument is never used twice or
//! lost. Records live in the store (key layout in [`crate::store::keys`]); the server's timer
//! only decides when to look.

mod cron;
mod expr;
mod generator;

pub use cron::{
    add as add_cron, due_crons, list as list_crons, load as load_cron, next_cron_run,
    remove as remove_cron, reschedule, run as run_cron, Missed, RunCause,
};
pub use expr::Schedule;
pub use generator::{
    add as add_generator, by_name as generator_by_name, due_generators, fire,
    list as list_generators, load as load_generator, pack, remove as remove_generator,
    GeneratorRecord,
};

use crate::lifecycle::normalize_spec;
use crate::protocol::json::RawJson;
use crate::protocol::msgs::WorkflowSpec;
use crate::protocol::types::FunctionSpec;
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::workflows::{self, GraphRecord};

/// How often the server looks for due crons and generators, reported as `checkerperiod` (ms),
/// as upstream's default.
pub const CHECKER_PERIOD_MS: i64 = 1000;

/// Parses and checks the workflow spec a cron or generator stores (a JSON string): members
/// run in `colony` (a spec naming another colony is refused: membership was checked against
/// `colony`), every member is normalized and the graph validated as a submission would be,
/// so a stored spec that was accepted can always be submitted.
pub fn prepare(what: &str, colony: &str, text: &str) -> Result<Vec<FunctionSpec>, ApiError> {
    let ws: WorkflowSpec = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!("Failed to add {what}, invalid workflowspec: {e}"))
    })?;
    if !ws.colonyname.is_empty() && ws.colonyname != colony {
        return Err(ApiError::bad_request(format!(
            "Failed to add {what}, workflowspec.colonyname <{}> is not the {what}'s colony <{colony}>",
            ws.colonyname
        )));
    }
    if ws.functionspecs.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Failed to add {what}, workflowspec.functionspecs is empty"
        )));
    }
    let mut specs = ws.functionspecs;
    for s in specs.iter_mut() {
        s.conditions.colonyname = colony.to_string();
        normalize_spec(s)?;
    }
    workflows::validate(&specs)?;
    Ok(specs)
}

/// Who a run is submitted as: the cron's or generator's creator.
pub struct Initiator<'a> {
    /// ID.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
}

/// Submits a stored workflow spec. `root_args`, if given, replace the arguments of every
/// member without dependencies (one string each) and empty their kwargs (a generator's
/// packed arguments, as upstream passes them); `root_input` becomes their input (a cron's
/// previous run's output).
fn submit(
    txn: &mut Txn<'_>,
    colony: &str,
    spec_text: &str,
    who: &Initiator<'_>,
    root_args: Option<&[String]>,
    root_input: &[RawJson],
) -> Result<GraphRecord, ApiError> {
    // upstream resolves the creator again at every run and fails the run if it is gone: a
    // removed user's or executor's schedules stop with it
    let is_executor = txn
        .store
        .executor_by_id(who.id)?
        .is_some_and(|e| e.colonyname == colony);
    // the colony owner too: a blueprint added by the owner creates its kind's reconcile cron
    let is_owner = txn
        .store
        .colony(colony)?
        .is_some_and(|c| c.colonyid == who.id);
    if !is_executor && !is_owner && txn.store.user_by_id(colony, who.id)?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Could not derive InitiatorName: {} is no longer an executor or user of colony <{colony}>",
            who.name
        )));
    }
    let mut specs = prepare("workflow", colony, spec_text)?;
    if let Some(args) = root_args {
        let args: Vec<RawJson> = args
            .iter()
            .filter_map(|a| {
                serde_json::to_string(a)
                    .ok()
                    .and_then(|t| RawJson::from_text(&t).ok())
            })
            .collect();
        for s in specs
            .iter_mut()
            .filter(|s| s.conditions.dependencies.is_empty())
        {
            s.args = Some(args.clone());
            s.kwargs = RawJson::from_text("{}").unwrap_or_default();
        }
    }
    workflows::submit(txn, colony, specs, who.id, who.name, root_input)
}

/// Removes every cron and generator of a colony (with the colony, in its batch).
pub fn remove_colony(txn: &mut Txn<'_>, colony: &str) -> Result<(), ApiError> {
    cron::remove_all(txn, colony)?;
    generator::remove_all(txn, colony)?;
    Ok(())
}
