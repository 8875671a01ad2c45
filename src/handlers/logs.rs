//! Logs (spec §4.6): executors write lines for processes; members read them back.

use super::{empty, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{AddExecutorLogMsg, AddLogMsg, GetLogsMsg, SearchLogsMsg};
use crate::protocol::time::now_ns;
use crate::protocol::types::{state, Log};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{self, decode, keys, Store};

/// Largest `count` a `getlogsmsg` may ask for (upstream answers 403 above it).
pub const MAX_LOG_COUNT: i64 = 500;

fn put_log(txn: &mut Txn<'_>, mut log: Log) -> Result<(), store::Error> {
    log.timestamp = txn.now;
    let logs = txn.store.logs.clone();
    let key = keys::log(&log.processid, log.timestamp);
    let mut by_exec = keys::logs_of_executor(&log.colonyname, &log.executorname);
    by_exec.extend_from_slice(&keys::i64be(log.timestamp));
    let mut by_colony = keys::logs_of_colony(&log.colonyname);
    by_colony.extend_from_slice(&keys::i64be(log.timestamp));
    txn.put_raw(&logs, by_exec, key.clone());
    txn.put_raw(&logs, by_colony, key.clone());
    txn.put(&logs, key, &log)?;
    Ok(())
}

pub async fn add(ctx: &mut Ctx<'_>, m: AddLogMsg) -> Result<Vec<u8>, ApiError> {
    let p = ctx
        .state
        .store
        .process(&m.processid)?
        .ok_or_else(|| ApiError::not_found("Failed to add log, process not found"))?;
    let member = auth::member(&ctx.state.store, p.colony(), &ctx.signer, true)?;
    let signer = ctx.signer.clone();
    let executorname = member.name().to_string();
    ctx.state
        .writer
        .run(move |txn| {
            let p = crate::lifecycle::load(txn, &m.processid, "add log")?;
            if p.assignedexecutorid != signer {
                return Err(ApiError::forbidden(
                    "Failed to add log, process is not assigned to the signing executor",
                ));
            }
            if p.state != state::RUNNING {
                return Err(ApiError::forbidden(
                    "Failed to add log, process is not running",
                ));
            }
            put_log(
                txn,
                Log {
                    processid: p.processid.clone(),
                    colonyname: p.colony().to_string(),
                    executorname,
                    message: m.message,
                    timestamp: 0,
                },
            )?;
            Ok(())
        })
        .await?;
    empty()
}

pub async fn add_executor_log(
    ctx: &mut Ctx<'_>,
    m: AddExecutorLogMsg,
) -> Result<Vec<u8>, ApiError> {
    let member = auth::member(&ctx.state.store, &m.colonyname, &ctx.signer, true)?;
    match member {
        auth::Member::Executor(e) if e.executorname == m.executorname => {}
        _ => {
            return Err(ApiError::forbidden(format!(
                "Access denied, the signer is not executor {}",
                m.executorname
            )))
        }
    }
    ctx.state
        .writer
        .run(move |txn| {
            put_log(
                txn,
                Log {
                    processid: String::new(),
                    colonyname: m.colonyname,
                    executorname: m.executorname,
                    message: m.message,
                    timestamp: 0,
                },
            )?;
            Ok(())
        })
        .await?;
    empty()
}

fn resolve(store: &Store, key: &[u8]) -> Result<Option<Log>, store::Error> {
    match store.logs.get(key)? {
        Some(v) => decode(&v).map(Some),
        None => Ok(None),
    }
}

pub fn get(ctx: &mut Ctx<'_>, m: GetLogsMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    if m.count > MAX_LOG_COUNT {
        return Err(ApiError::forbidden(format!(
            "Failed to get logs, count exceeds the maximum of {MAX_LOG_COUNT}"
        )));
    }
    // which index, and is the value the log itself or a pointer to it
    let (prefix, indirect) = if !m.executorname.is_empty() {
        let colony = if m.colonyname.is_empty() {
            String::new()
        } else {
            m.colonyname.clone()
        };
        let e = store.executor(&colony, &m.executorname)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "Failed to get logs, executor {} not found",
                m.executorname
            ))
        })?;
        auth::member(store, &e.colonyname, &ctx.signer, true)?;
        (keys::logs_of_executor(&e.colonyname, &e.executorname), true)
    } else {
        let p = store
            .process(&m.processid)?
            .ok_or_else(|| ApiError::not_found("Failed to get logs, process not found"))?;
        auth::member(store, p.colony(), &ctx.signer, true)?;
        (keys::logs_of_process(&p.processid), false)
    };
    let count = usize::try_from(m.count).unwrap_or(0);
    if count == 0 {
        return json(&Vec::<Log>::new());
    }
    let read = |k: &[u8], v: &[u8]| -> Result<Option<Log>, store::Error> {
        let _ = k;
        if indirect {
            resolve(store, v)
        } else {
            decode(v).map(Some)
        }
    };
    let mut out = Vec::new();
    if m.latest {
        for g in store.logs.prefix(&prefix).rev().take(count) {
            let (k, v) = g.into_inner()?;
            if let Some(l) = read(&k, &v)? {
                out.push(l);
            }
        }
        out.reverse();
    } else {
        let mut start = prefix.clone();
        if m.since > 0 {
            start.extend_from_slice(&keys::i64be(m.since.saturating_add(1)));
        }
        let mut end = prefix.clone();
        end.push(0xff);
        for g in store.logs.range(start..end).take(count) {
            let (k, v) = g.into_inner()?;
            if let Some(l) = read(&k, &v)? {
                out.push(l);
            }
        }
    }
    json(&out)
}

pub fn search(ctx: &mut Ctx<'_>, m: SearchLogsMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    auth::member(store, &m.colonyname, &ctx.signer, true)?;
    if m.count > 100 {
        return Err(ApiError::bad_request(
            "Failed to search logs, count exceeds the maximum of 100",
        ));
    }
    if m.days > 30 {
        return Err(ApiError::bad_request(
            "Failed to search logs, days exceeds the maximum of 30",
        ));
    }
    let count = usize::try_from(m.count).unwrap_or(0);
    let since = now_ns().saturating_sub(m.days.max(0).saturating_mul(86_400_000_000_000));
    let prefix = keys::logs_of_colony(&m.colonyname);
    let mut start = prefix.clone();
    start.extend_from_slice(&keys::i64be(since));
    let mut end = prefix;
    end.push(0xff);
    let mut out = Vec::new();
    for g in store.logs.range(start..end) {
        if out.len() >= count {
            break;
        }
        let (_, v) = g.into_inner()?;
        if let Some(l) = resolve(store, &v)? {
            if l.message.contains(&m.text) {
                out.push(l);
            }
        }
    }
    json(&out)
}
