//! Process records: creating one (with its ENV attributes and its channels) and removing one
//! with what it owns. Below the graph rules and the lifecycle, which both create and remove
//! processes; state changes are not made here (see [`crate::lifecycle`]).

use crate::protocol::json::RawJson;
use crate::protocol::time::Timestamp;
use crate::protocol::types::{attribute_type, Attribute, FunctionSpec, Process};
use crate::protocol::ApiError;
use crate::store::keys;
use crate::store::writer::Txn;

const NS: i64 = 1_000_000_000;
const DAY_NS: i64 = 86_400 * NS;

/// What a new process is made of.
pub struct NewProcess<'a> {
    /// Its ID (random).
    pub processid: String,
    /// Normalized spec.
    pub spec: FunctionSpec,
    /// Submitter ID.
    pub initiatorid: &'a str,
    /// Submitter name.
    pub initiatorname: &'a str,
    /// Graph it belongs to ("" if standalone).
    pub processgraphid: &'a str,
    /// Whether it waits for parents (workflow members with dependencies).
    pub waitforparents: bool,
    /// Parent process IDs.
    pub parents: Vec<String>,
    /// Child process IDs.
    pub children: Vec<String>,
    /// Input set at creation (a cron's root members get the previous run's output); members
    /// with parents get their parents' output when assigned instead.
    pub input: Vec<RawJson>,
}

/// Creates a WAITING process (standalone or workflow member) with its channels.
pub fn create(txn: &mut Txn<'_>, n: NewProcess<'_>) -> Result<Process, ApiError> {
    let now = txn.now;
    let spec = n.spec;
    let pid = n.processid;
    let attributes = spec
        .env
        .iter()
        .map(|(k, v)| Attribute {
            attributeid: crate::crypto::random_id(),
            targetid: pid.clone(),
            targetcolonyname: spec.conditions.colonyname.clone(),
            targetprocessgraphid: n.processgraphid.to_string(),
            state: 0,
            attributetype: attribute_type::ENV,
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    let waitdeadline = wait_deadline(&spec, now);
    let p = Process {
        processid: pid,
        initiatorid: n.initiatorid.to_string(),
        initiatorname: n.initiatorname.to_string(),
        prioritytime: now.saturating_sub(i64::from(spec.priority).saturating_mul(DAY_NS)),
        submissiontime: Timestamp(now),
        waitdeadline,
        attributes,
        spec,
        waitforparents: n.waitforparents,
        parents: n.parents,
        children: n.children,
        input: n.input,
        processgraphid: n.processgraphid.to_string(),
        ..Process::default()
    };
    txn.put_process(None, &p)?;
    let policy = txn.store.channel_policy.clone();
    crate::channels::log::create_for_process(txn, &p.processid, &p.spec.channels, &policy)?;
    Ok(p)
}

/// Removes a process and what it owns (attribute index entries, channels; logs stay, as
/// upstream).
pub fn remove(txn: &mut Txn<'_>, p: &Process) -> Result<(), ApiError> {
    let reg = txn.store.registry.clone();
    for a in &p.attributes {
        txn.remove(&reg, keys::attribute(&a.attributeid));
    }
    txn.delete_process(p);
    crate::channels::log::delete_process(txn, &p.processid)
}

/// The wait deadline of a process entering the queue at `now`, if its spec sets one.
pub fn wait_deadline(spec: &FunctionSpec, now: i64) -> Timestamp {
    if spec.maxwaittime > 0 {
        Timestamp(now.saturating_add(i64::from(spec.maxwaittime) * NS))
    } else {
        Timestamp(0)
    }
}
