//! Generators: packed arguments queue up durably (one key each, first in, first out); a
//! workflow is submitted with exactly `trigger` of them once that many are waiting, or with
//! all that are waiting once `timeout` seconds have passed since the first pack (before the
//! first run) or since the last run (upstream `generator_controller.go`). Each submission
//! consumes its arguments in the batch that submits it.

use super::{submit, Initiator};
use crate::protocol::time::Timestamp;
use crate::protocol::types::Generator;
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{keys, Store};
use serde::{Deserialize, Serialize};

const NS: i64 = 1_000_000_000;

/// A stored generator and its argument queue: arguments `head..tail` are waiting.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GeneratorRecord {
    /// The generator as clients see it (`queuesize` and `checkerperiod` 0).
    pub generator: Generator,
    /// Sequence number of the oldest waiting argument.
    pub head: u64,
    /// Sequence number the next packed argument gets.
    pub tail: u64,
}

impl GeneratorRecord {
    /// Arguments waiting.
    pub fn queued(&self) -> u64 {
        self.tail.saturating_sub(self.head)
    }

    /// How many arguments a submission would take now, if one is due: `trigger` when that
    /// many wait; all of them when the timeout passed (whole seconds, as upstream).
    pub fn due(&self, now: i64) -> Option<u64> {
        let g = &self.generator;
        let trigger = u64::try_from(g.trigger).unwrap_or(1).max(1);
        let n = self.queued();
        if n >= trigger {
            return Some(trigger);
        }
        if n == 0 || g.timeout <= 0 {
            return None;
        }
        let since = if g.lastrun.is_zero() {
            g.firstpack
        } else {
            g.lastrun
        };
        let timed_out = !since.is_zero()
            && now.div_euclid(NS) > (since.0.div_euclid(NS)).saturating_add(g.timeout);
        timed_out.then_some(n)
    }
}

/// The generator with this ID.
pub fn load(store: &Store, id: &str) -> Result<Option<GeneratorRecord>, ApiError> {
    Ok(store.get(&store.processes, &keys::generator(id))?)
}

fn load_in(txn: &Txn<'_>, id: &str) -> Result<Option<GeneratorRecord>, ApiError> {
    Ok(txn.get(&keys::generator(id))?)
}

fn save(txn: &mut Txn<'_>, r: &GeneratorRecord) -> Result<(), ApiError> {
    let ps = txn.store.processes.clone();
    txn.put(&ps, keys::generator(&r.generator.generatorid), r)?;
    Ok(())
}

/// The generator of `colony` named `name`.
pub fn by_name(
    store: &Store,
    colony: &str,
    name: &str,
) -> Result<Option<GeneratorRecord>, ApiError> {
    match store
        .registry
        .get(keys::generator_name(colony, Some(name)))
        .map_err(crate::store::Error::from)?
    {
        Some(id) => load(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// Stores a new generator (ID, initiator and spec already checked).
pub fn add(txn: &mut Txn<'_>, mut g: Generator) -> Result<Generator, ApiError> {
    let name_key = keys::generator_name(&g.colonyname, Some(&g.name));
    if txn
        .store
        .registry
        .get(&name_key)
        .map_err(crate::store::Error::from)?
        .is_some()
    {
        return Err(ApiError::bad_request(format!(
            "Generator with name <{}> in Colony <{}> already exists",
            g.name, g.colonyname
        )));
    }
    g.firstpack = Timestamp(0);
    g.lastrun = Timestamp(0);
    g.queuesize = 0;
    g.checkerperiod = 0;
    let reg = txn.store.registry.clone();
    txn.put_raw(&reg, name_key, g.generatorid.clone().into_bytes());
    save(
        txn,
        &GeneratorRecord {
            generator: g.clone(),
            head: 0,
            tail: 0,
        },
    )?;
    Ok(g)
}

/// Up to `count` generators of `colony`, in name order.
pub fn list(store: &Store, colony: &str, count: usize) -> Result<Vec<Generator>, ApiError> {
    let mut out = Vec::new();
    for g in store
        .registry
        .prefix(keys::generator_name(colony, None))
        .take(count)
    {
        let (_, id) = g.into_inner().map_err(crate::store::Error::from)?;
        if let Some(r) = load(store, &String::from_utf8_lossy(&id))? {
            out.push(r.generator);
        }
    }
    Ok(out)
}

/// Queues one argument. Refused with 507 when `max_queue` arguments already wait. Returns
/// whether a submission is now due (the caller fires it in its own operation, so a workflow
/// that cannot be submitted never loses the argument).
pub fn pack(txn: &mut Txn<'_>, id: &str, arg: String, max_queue: u64) -> Result<bool, ApiError> {
    let Some(mut r) = load_in(txn, id)? else {
        return Err(ApiError::internal(
            "Failed to increment generator, generator is nil",
        ));
    };
    if r.queued() >= max_queue {
        return Err(ApiError::insufficient_storage(
            format!(
                "Failed to increment generator, generator <{}> already holds {} packed arguments (--generator-max-args)",
                r.generator.name,
                r.queued()
            ),
        ));
    }
    let reg = txn.store.registry.clone();
    txn.put_raw(&reg, keys::generator_arg(id, r.tail), arg.into_bytes());
    r.tail += 1;
    if r.generator.firstpack.is_zero() {
        r.generator.firstpack = Timestamp(txn.now);
    }
    save(txn, &r)?;
    Ok(r.due(txn.now).is_some())
}

/// Submits one workflow if one is due, consuming its arguments in this same operation.
/// Returns whether it submitted.
pub fn fire(txn: &mut Txn<'_>, id: &str) -> Result<bool, ApiError> {
    let Some(mut r) = load_in(txn, id)? else {
        return Ok(false);
    };
    let Some(n) = r.due(txn.now) else {
        return Ok(false);
    };
    let mut args = Vec::new();
    let mut used = Vec::new();
    for seq in r.head..r.head.saturating_add(n) {
        let k = keys::generator_arg(id, seq);
        if let Some(v) = txn
            .store
            .registry
            .get(&k)
            .map_err(crate::store::Error::from)?
        {
            args.push(String::from_utf8_lossy(&v).into_owned());
        }
        used.push(k);
    }
    let g = r.generator.clone();
    let who = Initiator {
        id: &g.initiatorid,
        name: &g.initiatorname,
    };
    submit(txn, &g.colonyname, &g.workflowspec, &who, Some(&args), &[])?;
    let reg = txn.store.registry.clone();
    for k in used {
        txn.remove(&reg, k);
    }
    r.head = r.head.saturating_add(n);
    r.generator.lastrun = Timestamp(txn.now);
    save(txn, &r)?;
    Ok(true)
}

/// Generators with a submission due at `now`.
pub fn due_generators(store: &Store, now: i64) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for g in store.processes.prefix(keys::GENERATORS) {
        let (_, v) = g.into_inner().map_err(crate::store::Error::from)?;
        let r: GeneratorRecord = crate::store::decode(&v)?;
        if r.due(now).is_some() {
            out.push(r.generator.generatorid);
        }
    }
    Ok(out)
}

/// Removes a generator and its waiting arguments.
pub fn remove(txn: &mut Txn<'_>, id: &str) -> Result<(), ApiError> {
    let Some(r) = load_in(txn, id)? else {
        return Ok(());
    };
    let reg = txn.store.registry.clone();
    for seq in r.head..r.tail {
        txn.remove(&reg, keys::generator_arg(id, seq));
    }
    txn.remove(
        &reg,
        keys::generator_name(&r.generator.colonyname, Some(&r.generator.name)),
    );
    let ps = txn.store.processes.clone();
    txn.remove(&ps, keys::generator(id));
    Ok(())
}

/// Removes every generator of a colony.
pub fn remove_all(txn: &mut Txn<'_>, colony: &str) -> Result<usize, ApiError> {
    let names = txn.store.keys(
        &txn.store.registry,
        &keys::generator_name(colony, None),
        usize::MAX,
    )?;
    let mut n = 0;
    for k in names {
        if let Some(id) = txn
            .store
            .registry
            .get(&k)
            .map_err(crate::store::Error::from)?
        {
            remove(txn, &String::from_utf8_lossy(&id))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        trigger: i64,
        timeout: i64,
        queued: u64,
        firstpack: i64,
        lastrun: i64,
    ) -> GeneratorRecord {
        GeneratorRecord {
            generator: Generator {
                trigger,
                timeout,
                firstpack: Timestamp(firstpack),
                lastrun: Timestamp(lastrun),
                ..Generator::default()
            },
            head: 10,
            tail: 10 + queued,
        }
    }

    #[test]
    fn due_by_count_then_by_timeout() {
        assert_eq!(rec(10, -1, 9, NS, 0).due(100 * NS), None);
        assert_eq!(rec(10, -1, 10, NS, 0).due(NS), Some(10));
        assert_eq!(rec(10, -1, 25, NS, 0).due(NS), Some(10));
        // timeout counts from the first pack until the first run, whole seconds, strictly after
        assert_eq!(rec(10, 1, 2, 5 * NS, 0).due(6 * NS + NS - 1), None);
        assert_eq!(rec(10, 1, 2, 5 * NS, 0).due(7 * NS), Some(2));
        // then from the last run
        assert_eq!(rec(10, 1, 2, 5 * NS, 50 * NS).due(7 * NS), None);
        assert_eq!(rec(10, 1, 2, 5 * NS, 50 * NS).due(52 * NS), Some(2));
        assert_eq!(rec(10, 1, 0, 5 * NS, 0).due(99 * NS), None);
        assert_eq!(rec(10, 0, 3, 5 * NS, 0).due(99 * NS), None);
    }
}
