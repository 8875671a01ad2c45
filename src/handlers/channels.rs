//! Channels (spec §4.8): `channelappendmsg` and `channelreadmsg`.
//!
//! Check order as upstream: process lookup (404 `Process not found`) → membership (403) →
//! channel declared (404 `Channel not found`) → payload size → channel authorization (403) →
//! rate limit → log limits (inside the writer).

use super::{empty, Ctx};
use crate::auth;
use crate::channels::log::{self, Entry};
use crate::protocol::msgs::{AppendMsg, ChannelCursorMsg};
use crate::protocol::ApiError;

pub async fn append(ctx: &mut Ctx<'_>, m: AppendMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    let policy = &store.channel_policy;
    let p = store
        .process(&m.processid)?
        .ok_or_else(|| ApiError::not_found("Process not found"))?;
    auth::member(store, p.colony(), &ctx.signer, true)?;
    if !p.spec.channels.contains(&m.name) {
        return Err(ApiError::not_found("Channel not found"));
    }
    if m.payload.0.len() > policy.max_payload {
        return Err(ApiError::too_large("message payload exceeds maximum size"));
    }
    if !auth::may_use_channels(&p, &ctx.signer) {
        return Err(ApiError::forbidden("Not authorized to write to channel"));
    }
    if !ctx
        .state
        .channel_rate
        .allow(&p.processid, policy.rate_per_sec)
    {
        return Err(ApiError::too_many("rate limit exceeded"));
    }
    let kind = match m.payloadtype.as_deref() {
        None | Some("") => "data".to_string(),
        Some(t) => t.to_string(),
    };
    let signer = ctx.signer.clone();
    let pid = m.processid;
    let name = m.name;
    let policy = policy.clone();
    let payload = m.payload.0;
    let len = payload.len() as u64;
    ctx.state
        .writer
        .run(move |txn| {
            // authorization again inside the writer (the process may have been reassigned
            // meanwhile), from the few bytes the check needs rather than the whole process
            if !auth::may_write_channels(txn, &pid, &signer)? {
                return Err(ApiError::forbidden("Not authorized to write to channel"));
            }
            let entry = Entry {
                sequence: m.sequence,
                inreplyto: m.inreplyto,
                timestamp: txn.now,
                senderid: signer,
                payload,
                kind,
            };
            log::append(txn, &pid, &name, &entry, &policy)
        })
        .await?;
    let c = &ctx.state.events.counters;
    c.appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    c.append_bytes
        .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    empty()
}

pub fn read(ctx: &mut Ctx<'_>, m: ChannelCursorMsg) -> Result<Vec<u8>, ApiError> {
    let store = &ctx.state.store;
    auth::channel(store, &m.processid, &m.name, &ctx.signer, "read from")?;
    let from = u64::try_from(m.afterseq).unwrap_or(0);
    let limit = usize::try_from(m.limit).unwrap_or(0);
    let snap = store.durable();
    let page = log::read(
        store,
        &snap,
        &m.processid,
        &m.name,
        from,
        limit,
        store.channel_policy.page_bytes,
    )?
    .ok_or_else(|| ApiError::not_found("Channel not found"))?;
    crate::channels::wire::entries_json(page.entries.iter().map(|(_, e)| e))
}
