//! The channel log: metadata, entries, and every operation on them.
//!
//! ## Key layout
//!
//! `channels` keyspace (`‖` concatenation, `BE` big-endian):
//!
//! | key | value |
//! |---|---|
//! | `m‖pid\0name` | [`ChannelMeta`] |
//! | `i‖cid(u64 BE)` | `pid\0name` (channel ID → metadata key) |
//! | `r‖seg(u32 BE)‖cid(u64 BE)` | empty: channel `cid` has entries in segment `seg` |
//! | `x‖expires(i64, sign-flipped BE)‖cid(u64 BE)` | empty: retention expiry of a closed channel |
//! | `g‖seg(u32 BE)` | creation time of segment `seg` (i64 BE ns) |
//! | `w‖pid` | who may write to the process's channels: `initiatorid\0assignedexecutorid` (written with the process record, [`crate::store::keys::channel_writers`]) |
//!
//! `meta` keyspace: `next-cid` (u64 BE, the next channel ID), `channel-bytes` (u64 BE, payload
//! bytes held by live channels, for the disk budget; written once per group commit, see
//! [`crate::store::tails`]).
//!
//! [`ChannelMeta::next_pos`] and [`ChannelMeta::bytes`] are a checkpoint, rewritten every
//! [`tails::CHECKPOINT_ENTRIES`] entries, at a new segment and at close (exact from then on);
//! the log's end is found from its last key ([`end`]), the writer keeps it in memory.
//!
//! Segment keyspace `seg-<hex>`: `cid(u64 BE)‖pos(u64 BE)` → [`Entry`] (postcard, version byte).
//!
//! `pos` is the dense server-side position (0, 1, 2, …) that `afterseq` counts; it never
//! changes, not even when retirement relocates an entry to a newer segment. Channel IDs are
//! never reused, so deleting a channel is O(1) in metadata: its entries become unreachable at
//! once, and their bytes go when their segment is dropped.

use crate::protocol::ApiError;
use crate::store::segments::segment_key;
use crate::store::tails::{self, Tail};
use crate::store::writer::Txn;
use crate::store::ChannelPolicy;
use crate::store::{self, decode, keys, Store};
use fjall::Readable;
use serde::{Deserialize, Serialize};

/// How long a closed channel without retention stays for its live subscribers to drain.
pub const SUBSCRIBER_GRACE_NS: i64 = 30 * 1_000_000_000;

/// Metadata of one channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChannelMeta {
    /// Internal ID (never reused).
    pub cid: u64,
    /// Owning process.
    pub processid: String,
    /// Declared name.
    pub name: String,
    /// Position the next entry got when this record was written (a checkpoint: entries may
    /// follow it, see [`end`]; exact once the channel is closed).
    pub next_pos: u64,
    /// Payload bytes stored as of the checkpoint.
    pub bytes: u64,
    /// When the process finished (0 while open).
    pub closed_at: i64,
    /// When a closed channel is removed (0 = not scheduled).
    pub expires_at: i64,
    /// Segments holding its entries.
    pub segments: Vec<u32>,
}

/// One stored entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Client-assigned sequence, verbatim.
    pub sequence: i64,
    /// Sequence this entry replies to (0 = none).
    pub inreplyto: i64,
    /// Server arrival time, ns.
    pub timestamp: i64,
    /// Signer ID.
    pub senderid: String,
    /// Raw payload bytes.
    pub payload: Vec<u8>,
    /// `data`, `end`, `error`, or any type the client sent.
    pub kind: String,
}

/// `m‖pid\0name`
pub fn meta_key(pid: &str, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + pid.len() + name.len());
    k.push(b'm');
    k.extend_from_slice(&channel_name_key(pid, name));
    k
}

/// `pid‖0‖name`: what the `i‖cid` key points at (the metadata key without its `m`).
fn channel_name_key(pid: &str, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + pid.len() + name.len());
    k.extend_from_slice(pid.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

fn process_prefix(pid: &str) -> Vec<u8> {
    meta_key(pid, "")
}

fn id_key(cid: u64) -> Vec<u8> {
    let mut k = vec![b'i'];
    k.extend_from_slice(&cid.to_be_bytes());
    k
}

fn ref_key(seg: u32, cid: u64) -> Vec<u8> {
    let mut k = vec![b'r'];
    k.extend_from_slice(&seg.to_be_bytes());
    k.extend_from_slice(&cid.to_be_bytes());
    k
}

fn ref_prefix(seg: u32) -> Vec<u8> {
    let mut k = vec![b'r'];
    k.extend_from_slice(&seg.to_be_bytes());
    k
}

fn expiry_key(at: i64, cid: u64) -> Vec<u8> {
    let mut k = vec![b'x'];
    k.extend_from_slice(&keys::i64be(at));
    k.extend_from_slice(&cid.to_be_bytes());
    k
}

/// `cid‖pos` inside a segment.
pub fn entry_key(cid: u64, pos: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&cid.to_be_bytes());
    k[8..].copy_from_slice(&pos.to_be_bytes());
    k
}

fn parse_entry_key(k: &[u8]) -> Option<(u64, u64)> {
    let cid = u64::from_be_bytes(k.get(..8)?.try_into().ok()?);
    let pos = u64::from_be_bytes(k.get(8..16)?.try_into().ok()?);
    Some((cid, pos))
}

fn get_u64(store: &Store, key: &[u8]) -> Result<u64, ApiError> {
    Ok(store
        .meta
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn put_u64(txn: &mut Txn<'_>, key: &[u8], v: u64) {
    let meta = txn.store.meta.clone();
    txn.put_raw(&meta, key.to_vec(), v.to_be_bytes().to_vec());
}

/// Creates the channels a process declares (at submit). Names are deduplicated.
pub fn create_for_process(
    txn: &mut Txn<'_>,
    pid: &str,
    names: &[String],
    policy: &ChannelPolicy,
) -> Result<(), ApiError> {
    let mut unique: Vec<&String> = Vec::new();
    for n in names {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    if unique.len() > policy.max_channels {
        return Err(ApiError::bad_request("process has too many channels"));
    }
    if unique.is_empty() {
        return Ok(());
    }
    let mut next = get_u64(txn.store, b"next-cid")?.max(1);
    let chans = txn.store.channels.clone();
    for name in unique {
        let meta = ChannelMeta {
            cid: next,
            processid: pid.to_string(),
            name: name.clone(),
            ..ChannelMeta::default()
        };
        txn.put(&chans, meta_key(pid, name), &meta)?;
        txn.put_raw(&chans, id_key(next), channel_name_key(pid, name));
        next += 1;
    }
    put_u64(txn, b"next-cid", next);
    Ok(())
}

/// Loads a channel's metadata as the writer sees it (latest, not necessarily durable).
pub fn load(store: &Store, pid: &str, name: &str) -> Result<Option<ChannelMeta>, store::Error> {
    store.get(&store.channels, &meta_key(pid, name))
}

/// Appends one entry; returns its position. The caller has checked authorization.
///
/// Writes the entry and nothing else, except a metadata checkpoint every
/// [`tails::CHECKPOINT_ENTRIES`] entries or [`tails::CHECKPOINT_BYTES`] bytes and when the
/// channel starts a new segment (see [`crate::store::tails`]).
pub fn append(
    txn: &mut Txn<'_>,
    pid: &str,
    name: &str,
    entry: &Entry,
    policy: &ChannelPolicy,
) -> Result<u64, ApiError> {
    let Some(mut meta) = load(txn.store, pid, name)? else {
        return Err(ApiError::not_found("Channel not found"));
    };
    if meta.closed_at != 0 {
        return Err(ApiError::not_found("Channel not found"));
    }
    let tail = tail(txn, &meta)?;
    if policy.max_entries > 0 && tail.next_pos >= policy.max_entries {
        return Err(ApiError::insufficient_storage("channel log is full"));
    }
    let len = entry.payload.len() as u64;
    if policy.disk_budget > 0 && txn.channel_bytes() + len > policy.disk_budget {
        return Err(ApiError::insufficient_storage(format!(
            "channel disk budget of {} bytes is used up (--channel-disk-budget); remove finished processes or raise the budget",
            policy.disk_budget
        )));
    }
    let (seg, ks) = current_segment(txn, policy)?;
    let pos = tail.next_pos;
    let bytes = crate::store::encode(entry)?;
    let record = txn.is_watched(meta.cid).then(|| bytes.clone());
    txn.put_raw(&ks, entry_key(meta.cid, pos).to_vec(), bytes);
    let tail = Tail {
        next_pos: pos + 1,
        bytes: tail.bytes + len,
    };
    let chans = txn.store.channels.clone();
    let new_segment = !meta.segments.contains(&seg);
    if new_segment {
        meta.segments.push(seg);
        txn.put_raw(&chans, ref_key(seg, meta.cid), Vec::new());
    }
    if new_segment
        || tail.next_pos - meta.next_pos >= tails::CHECKPOINT_ENTRIES
        || tail.bytes.saturating_sub(meta.bytes) >= tails::CHECKPOINT_BYTES
    {
        meta.next_pos = tail.next_pos;
        meta.bytes = tail.bytes;
        txn.put(&chans, meta_key(pid, name), &meta)?;
    }
    txn.set_tail(meta.cid, Some(tail));
    txn.add_channel_bytes(i64::try_from(len).unwrap_or(i64::MAX));
    txn.emit(crate::store::writer::Effect::ChannelAppended {
        cid: meta.cid,
        pos,
        record,
    });
    Ok(pos)
}

/// The channel's tail as the writer sees it: from memory, or derived from its checkpoint and
/// the entries stored after it (once after a start; remembered from then on).
fn tail(txn: &mut Txn<'_>, meta: &ChannelMeta) -> Result<Tail, ApiError> {
    if let Some(t) = txn.tail(meta.cid) {
        return Ok(t);
    }
    let mut t = Tail {
        next_pos: meta.next_pos,
        bytes: meta.bytes,
    };
    // relocation can leave a channel's positions interleaved across segments: pass over them
    // until a pass finds nothing more
    loop {
        let before = t.next_pos;
        for seg in &meta.segments {
            let Some(ks) = txn.store.segments.get(*seg) else {
                continue;
            };
            let lo = entry_key(meta.cid, t.next_pos);
            let hi = entry_key(meta.cid, u64::MAX);
            for g in ks.range(lo..hi) {
                let (k, v) = g.into_inner()?;
                match parse_entry_key(&k) {
                    Some((_, pos)) if pos == t.next_pos => {
                        let e: Entry = decode(&v)?;
                        t.next_pos += 1;
                        t.bytes += e.payload.len() as u64;
                    }
                    _ => break,
                }
            }
        }
        if t.next_pos == before {
            break;
        }
    }
    txn.set_tail(meta.cid, Some(t));
    Ok(t)
}

/// One past the last entry of a channel as `view` (a snapshot or the latest state) holds it.
pub fn end(store: &Store, view: &impl Readable, meta: &ChannelMeta) -> Result<u64, store::Error> {
    let mut end = meta.next_pos;
    for seg in &meta.segments {
        let Some(ks) = store.segments.get(*seg) else {
            continue;
        };
        let lo = entry_key(meta.cid, end);
        let hi = entry_key(meta.cid, u64::MAX);
        if let Some(g) = view.range(&ks, lo..hi).next_back() {
            let k = g.key()?;
            if let Some((_, pos)) = parse_entry_key(&k) {
                end = end.max(pos + 1);
            }
        }
    }
    Ok(end)
}

/// The segment appends go to, starting a new one when the current one is too old.
fn current_segment(
    txn: &mut Txn<'_>,
    policy: &ChannelPolicy,
) -> Result<(u32, fjall::Keyspace), ApiError> {
    let segs = &txn.store.segments;
    if let Some(id) = segs.newest() {
        if let (Some(created), Some(ks)) = (segs.created(id), segs.get(id)) {
            if txn.now - created < policy.segment_ns {
                return Ok((id, ks));
            }
        }
    }
    let id = segs.newest().map_or(1, |n| n + 1);
    let ks = segs.create(txn.store.db(), id, txn.now)?;
    // recorded at once (not in the batch): a recorded segment without entries is harmless and
    // is dropped by retirement; an unrecorded keyspace would be an orphan
    txn.store
        .channels
        .insert(segment_key(id), txn.now.to_be_bytes())?;
    tracing::debug!(segment = id, "started channel segment");
    Ok((id, ks))
}

/// Closes every channel of a finished process: with no retention they are removed now,
/// otherwise they stay readable until `now + retention`.
pub fn close_process(txn: &mut Txn<'_>, pid: &str, policy: &ChannelPolicy) -> Result<(), ApiError> {
    let metas: Vec<ChannelMeta> =
        txn.store
            .scan(&txn.store.channels, &process_prefix(pid), usize::MAX)?;
    let chans = txn.store.channels.clone();
    for mut m in metas {
        if m.closed_at != 0 {
            continue;
        }
        txn.emit(crate::store::writer::Effect::ChannelClosed { cid: m.cid });
        // live subscribers first receive every entry: without retention the history stays
        // for a bounded grace period while the channel is watched (decisions.md)
        let keep_for = if policy.retention_ns > 0 {
            policy.retention_ns
        } else if txn.is_watched(m.cid) {
            SUBSCRIBER_GRACE_NS
        } else {
            0
        };
        if keep_for <= 0 {
            delete(txn, &m)?;
        } else {
            // a closed channel's metadata is exact: it never grows again
            let t = tail(txn, &m)?;
            m.next_pos = t.next_pos;
            m.bytes = t.bytes;
            txn.set_tail(m.cid, None);
            m.closed_at = txn.now;
            m.expires_at = txn.now.saturating_add(keep_for);
            txn.put_raw(&chans, expiry_key(m.expires_at, m.cid), Vec::new());
            txn.put(&chans, meta_key(&m.processid, &m.name), &m)?;
        }
    }
    Ok(())
}

/// Removes every channel of a process (process removal).
pub fn delete_process(txn: &mut Txn<'_>, pid: &str) -> Result<(), ApiError> {
    let metas: Vec<ChannelMeta> =
        txn.store
            .scan(&txn.store.channels, &process_prefix(pid), usize::MAX)?;
    for m in metas {
        txn.emit(crate::store::writer::Effect::ChannelClosed { cid: m.cid });
        delete(txn, &m)?;
    }
    Ok(())
}

/// Removes one channel: O(1) in metadata; entry bytes go with their segments.
fn delete(txn: &mut Txn<'_>, m: &ChannelMeta) -> Result<(), ApiError> {
    let chans = txn.store.channels.clone();
    txn.remove(&chans, meta_key(&m.processid, &m.name));
    txn.remove(&chans, id_key(m.cid));
    for seg in &m.segments {
        txn.remove(&chans, ref_key(*seg, m.cid));
    }
    if m.expires_at != 0 {
        txn.remove(&chans, expiry_key(m.expires_at, m.cid));
    }
    let bytes = tail(txn, m)?.bytes;
    txn.add_channel_bytes(-i64::try_from(bytes).unwrap_or(i64::MAX));
    txn.set_tail(m.cid, None);
    Ok(())
}

/// Removes a closed channel that was kept only for its live subscribers (no retention), once
/// the last one has left. Returns whether it was removed.
pub fn drop_drained(
    txn: &mut Txn<'_>,
    pid: &str,
    name: &str,
    policy: &ChannelPolicy,
) -> Result<bool, ApiError> {
    let Some(m) = load(txn.store, pid, name)? else {
        return Ok(false);
    };
    if policy.retention_ns > 0 || m.closed_at == 0 || txn.is_watched(m.cid) {
        return Ok(false);
    }
    delete(txn, &m)?;
    Ok(true)
}

fn meta_by_cid(store: &Store, cid: u64) -> Result<Option<ChannelMeta>, store::Error> {
    let Some(rest) = store.channels.get(id_key(cid))? else {
        return Ok(None);
    };
    let mut k = vec![b'm'];
    k.extend_from_slice(&rest);
    store.get(&store.channels, &k)
}

/// How many channels exist (`colonyd status`): one metadata record each.
pub fn count(store: &Store) -> Result<u64, store::Error> {
    let mut n = 0u64;
    for g in store.channels.prefix(b"m") {
        g.key()?;
        n += 1;
    }
    Ok(n)
}

/// Removes closed channels whose retention has expired. Returns how many.
pub fn expire_due(txn: &mut Txn<'_>, limit: usize) -> Result<usize, ApiError> {
    let now = txn.now;
    let mut due = Vec::new();
    for g in txn.store.channels.prefix(b"x").take(limit) {
        let k = g.key()?;
        let at = keys::from_i64be(k.get(1..9).unwrap_or_default()).unwrap_or(i64::MAX);
        if at > now {
            break;
        }
        let cid = k
            .get(9..17)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes);
        due.push((k.to_vec(), cid));
    }
    let n = due.len();
    let chans = txn.store.channels.clone();
    for (key, cid) in due {
        match cid
            .map(|c| meta_by_cid(txn.store, c))
            .transpose()?
            .flatten()
        {
            Some(m) => delete(txn, &m)?,
            None => txn.remove(&chans, key),
        }
    }
    Ok(n)
}

/// The earliest retention expiry, if any.
pub fn next_expiry(store: &Store) -> Option<i64> {
    let g = store.channels.prefix(b"x").next()?;
    let k = g.key().ok()?;
    keys::from_i64be(k.get(1..9)?)
}

/// A page of entries read through a snapshot.
#[derive(Debug, Default)]
pub struct Page {
    /// Metadata as of the snapshot.
    pub meta: ChannelMeta,
    /// `(position, entry)` in position order.
    pub entries: Vec<(u64, Entry)>,
}

/// Reads entries `from..` (at most `limit`, 0 = no count limit) of a channel as of `snap`,
/// stopping once `max_bytes` of payload are collected (always at least one entry).
/// `Ok(None)`: the channel does not exist in that snapshot.
pub fn read(
    store: &Store,
    snap: &fjall::Snapshot,
    pid: &str,
    name: &str,
    from: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Option<Page>, ApiError> {
    let Some(raw) = snap.get(&store.channels, meta_key(pid, name))? else {
        return Ok(None);
    };
    let meta: ChannelMeta = decode(&raw)?;
    let entries = read_entries(store, snap, &meta, from, limit, max_bytes)?;
    Ok(Some(Page { meta, entries }))
}

/// Reads entries of a known channel (by metadata) as of `snap`.
pub fn read_entries(
    store: &Store,
    snap: &fjall::Snapshot,
    meta: &ChannelMeta,
    from: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(u64, Entry)>, ApiError> {
    let want = if limit == 0 { usize::MAX } else { limit };
    let mut out: Vec<(u64, Entry)> = Vec::new();
    for seg in &meta.segments {
        let Some(ks) = store.segments.get(*seg) else {
            continue;
        };
        let mut bytes = 0usize;
        let mut taken = 0usize;
        let lo = entry_key(meta.cid, from);
        let hi = entry_key(meta.cid, u64::MAX);
        for g in snap.range(&ks, lo..hi) {
            if taken >= want || (taken > 0 && bytes >= max_bytes) {
                break;
            }
            let (k, v) = g.into_inner()?;
            let Some((_, pos)) = parse_entry_key(&k) else {
                continue;
            };
            let e: Entry = decode(&v)?;
            bytes += e.payload.len();
            taken += 1;
            out.push((pos, e));
        }
    }
    if meta.segments.len() > 1 {
        out.sort_by_key(|(p, _)| *p);
        out.dedup_by_key(|(p, _)| *p);
    }
    // keep the dense prefix from `from`, within the byte and count limits
    let mut kept = 0usize;
    let mut bytes = 0usize;
    for (expect, (p, e)) in (from..).zip(out.iter()) {
        if *p != expect || kept >= want || (kept > 0 && bytes + e.payload.len() > max_bytes) {
            break;
        }
        bytes += e.payload.len();
        kept += 1;
    }
    out.truncate(kept);
    Ok(out)
}

/// One step of segment maintenance: drops an unreferenced old segment, or relocates up to
/// `chunk_bytes` of one channel out of a segment due for retirement. Returns whether it did
/// anything (call again until it does not).
pub fn maintain(
    txn: &mut Txn<'_>,
    policy: &ChannelPolicy,
    chunk_bytes: usize,
) -> Result<bool, ApiError> {
    let store = txn.store;
    // segments retired by an earlier maintenance operation: their records' removal was
    // synced before this operation started (each runs after the previous one is durable)
    if store.segments.drop_retired(store.db())? > 0 {
        return Ok(true);
    }
    let Some(newest) = store.segments.newest() else {
        return Ok(false);
    };
    let chans = store.channels.clone();
    for seg in store.segments.ids() {
        if seg == newest {
            continue;
        }
        let first_ref = store.channels.prefix(ref_prefix(seg)).next();
        let Some(first_ref) = first_ref else {
            txn.remove(&chans, segment_key(seg));
            store.segments.retire(seg);
            tracing::debug!(segment = seg, "retired channel segment");
            return Ok(true);
        };
        let created = store.segments.created(seg).unwrap_or(0);
        if txn.now - created < policy.segment_ns.saturating_mul(2) {
            continue;
        }
        // retire: move one channel's entries out of `seg`, in bounded chunks
        let k = first_ref.key()?;
        let Some(cid) = k
            .get(5..13)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
        else {
            txn.remove(&chans, k.to_vec());
            return Ok(true);
        };
        let Some(mut meta) = meta_by_cid(store, cid)? else {
            txn.remove(&chans, k.to_vec());
            return Ok(true);
        };
        let (cur, cur_ks) = current_segment(txn, policy)?;
        let Some(old_ks) = store.segments.get(seg) else {
            return Ok(false);
        };
        let lo = entry_key(cid, 0);
        let hi = entry_key(cid, u64::MAX);
        let mut moved = 0usize;
        let mut done = true;
        for g in old_ks.range(lo..hi) {
            if moved >= chunk_bytes {
                done = false;
                break;
            }
            let (ek, ev) = g.into_inner()?;
            moved += ev.len();
            txn.put_raw(&cur_ks, ek.to_vec(), ev.to_vec());
            txn.remove(&old_ks, ek.to_vec());
        }
        if !meta.segments.contains(&cur) {
            meta.segments.push(cur);
            txn.put_raw(&chans, ref_key(cur, cid), Vec::new());
        }
        if done {
            meta.segments.retain(|s| *s != seg);
            txn.remove(&chans, ref_key(seg, cid));
        }
        txn.put(&chans, meta_key(&meta.processid, &meta.name), &meta)?;
        tracing::debug!(segment = seg, cid, moved, done, "relocated channel entries");
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::writer::{NoSink, SyncMode, Writer};
    use crate::store::StoreConfig;
    use std::sync::Arc;
    use std::time::Duration;

    fn open(
        dir: &std::path::Path,
        policy: &ChannelPolicy,
    ) -> (Arc<Store>, Writer, std::thread::JoinHandle<()>) {
        let mut cfg = StoreConfig::new(dir);
        cfg.channel_policy = policy.clone();
        let store = Arc::new(Store::open(&cfg).unwrap());
        let (w, h) = Writer::start(store.clone(), Arc::new(NoSink), SyncMode::Always).unwrap();
        (store, w, h)
    }

    fn run<R: Send + 'static>(
        w: &Writer,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, ApiError> + Send + 'static,
    ) -> R {
        futures_lite::future::block_on(w.run(f)).unwrap()
    }

    fn entry(i: u64) -> Entry {
        Entry {
            sequence: i as i64,
            payload: format!("entry-{i}").into_bytes(),
            kind: "data".into(),
            ..Entry::default()
        }
    }

    fn read_all(store: &Store, pid: &str, name: &str) -> Option<Vec<(u64, Entry)>> {
        let snap = store.durable();
        let mut out = Vec::new();
        loop {
            let page = read(store, &snap, pid, name, out.len() as u64, 7, 1 << 20).unwrap()?;
            if page.entries.is_empty() {
                return Some(out);
            }
            out.extend(page.entries);
        }
    }

    #[test]
    fn reopening_repeatedly_keeps_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let policy = ChannelPolicy::default();
        let pid = "p".repeat(64);
        for round in 0..5u64 {
            let (store, w, h) = open(dir.path(), &policy);
            if round == 0 {
                let (pid, policy) = (pid.clone(), policy.clone());
                run(&w, move |txn| {
                    create_for_process(txn, &pid, &["a".into(), "b".into(), "a".into()], &policy)
                });
            }
            for i in 0..20 {
                let n = round * 20 + i;
                let (pid, policy) = (pid.clone(), policy.clone());
                let pos = run(&w, move |txn| append(txn, &pid, "a", &entry(n), &policy));
                assert_eq!(pos, n);
            }
            let got = read_all(&store, &pid, "a").unwrap();
            assert_eq!(got.len() as u64, (round + 1) * 20);
            for (i, (pos, e)) in got.iter().enumerate() {
                assert_eq!(*pos, i as u64);
                assert_eq!(e.payload, format!("entry-{i}").into_bytes());
            }
            assert_eq!(read_all(&store, &pid, "b").unwrap().len(), 0);
            w.close();
            h.join().unwrap();
        }
    }

    #[test]
    fn tail_and_byte_total_come_back_from_the_checkpoint_and_the_entries_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let policy = ChannelPolicy::default();
        let pid = "t".repeat(64);
        let n = tails::CHECKPOINT_ENTRIES + 7;
        let entry_bytes = |i: u64| entry(i).payload.len() as u64;
        let total = |upto: u64| (0..upto).map(entry_bytes).sum::<u64>();
        {
            let (store, w, h) = open(dir.path(), &policy);
            let (p, pol) = (pid.clone(), policy.clone());
            run(&w, move |txn| {
                create_for_process(txn, &p, &["a".into(), "b".into()], &pol)
            });
            for i in 0..n {
                let (p, pol) = (pid.clone(), policy.clone());
                run(&w, move |txn| append(txn, &p, "a", &entry(i), &pol));
            }
            // the stored metadata is a checkpoint, not rewritten per append: written at the
            // first append (its segment) and CHECKPOINT_ENTRIES later
            let meta = load(&store, &pid, "a").unwrap().unwrap();
            let at = tails::CHECKPOINT_ENTRIES + 1;
            assert_eq!(meta.next_pos, at);
            assert_eq!(meta.bytes, total(at));
            assert_eq!(end(&store, &store.durable(), &meta).unwrap(), n);
            assert_eq!(store.tails.total(), total(n));
            w.close();
            h.join().unwrap();
        }
        // reopened: the tail is derived, the total was persisted with the last group
        let (store, w, h) = open(dir.path(), &policy);
        assert_eq!(store.tails.total(), total(n));
        assert!(store
            .tails
            .get(load(&store, &pid, "a").unwrap().unwrap().cid)
            .is_none());
        let (p, pol) = (pid.clone(), policy.clone());
        let pos = run(&w, move |txn| append(txn, &p, "a", &entry(n), &pol));
        assert_eq!(pos, n);
        let (p, pol) = (pid.clone(), policy.clone());
        run(&w, move |txn| append(txn, &p, "b", &entry(0), &pol));
        let got = read_all(&store, &pid, "a").unwrap();
        assert_eq!(got.len() as u64, n + 1);
        assert!(got.iter().enumerate().all(|(i, (p, _))| *p == i as u64));
        assert_eq!(store.tails.total(), total(n + 1) + entry_bytes(0));
        // closing writes the exact tail; removing every channel frees every byte
        let (p, mut pol) = (pid.clone(), policy.clone());
        pol.retention_ns = 1_000_000_000_000;
        run(&w, move |txn| close_process(txn, &p, &pol));
        let meta = load(&store, &pid, "a").unwrap().unwrap();
        assert_eq!((meta.next_pos, meta.bytes), (n + 1, total(n + 1)));
        let p = pid.clone();
        run(&w, move |txn| delete_process(txn, &p));
        assert_eq!(store.tails.total(), 0);
        w.close();
        h.join().unwrap();
        drop(store);
        let (store, w, h) = open(dir.path(), &policy);
        assert_eq!(store.tails.total(), 0, "the freed total was persisted");
        w.close();
        h.join().unwrap();
    }

    #[test]
    fn close_without_retention_removes_at_once_and_unknown_channel_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let policy = ChannelPolicy::default();
        let (store, w, h) = open(dir.path(), &policy);
        let pid = "q".repeat(64);
        let (p2, pol) = (pid.clone(), policy.clone());
        run(&w, move |txn| {
            create_for_process(txn, &p2, &["c".into()], &pol)
        });
        let (p2, pol) = (pid.clone(), policy.clone());
        run(&w, move |txn| append(txn, &p2, "c", &entry(0), &pol));
        assert!(read_all(&store, &pid, "nope").is_none());
        let (p2, pol) = (pid.clone(), policy.clone());
        run(&w, move |txn| close_process(txn, &p2, &pol));
        assert!(read_all(&store, &pid, "c").is_none());
        let (p2, pol) = (pid.clone(), policy.clone());
        let err = futures_lite::future::block_on(
            w.run(move |txn| append(txn, &p2, "c", &entry(1), &pol)),
        )
        .unwrap_err();
        assert_eq!(err.status, 404);
        assert_eq!(store.tails.total(), 0);
        w.close();
        h.join().unwrap();
    }

    #[test]
    fn old_segments_are_retired_without_losing_or_moving_positions() {
        let dir = tempfile::tempdir().unwrap();
        let policy = ChannelPolicy {
            segment_ns: 150_000_000,
            ..ChannelPolicy::default()
        };
        let (store, w, h) = open(dir.path(), &policy);
        let keep = "k".repeat(64);
        let gone = "g".repeat(64);
        for pid in [&keep, &gone] {
            let (p2, pol) = (pid.clone(), policy.clone());
            run(&w, move |txn| {
                create_for_process(txn, &p2, &["log".into()], &pol)
            });
        }
        // three rounds of appends, each in a new segment
        let mut n = 0;
        for _ in 0..3 {
            for _ in 0..10 {
                for pid in [&keep, &gone] {
                    let (p2, pol) = (pid.clone(), policy.clone());
                    run(&w, move |txn| append(txn, &p2, "log", &entry(n), &pol));
                }
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            store.segments.len() >= 3,
            "segments: {:?}",
            store.segments.ids()
        );
        let first = store.segments.ids()[0];
        // the "gone" process is removed: O(1) in metadata, unreadable at once
        let p2 = gone.clone();
        run(&w, move |txn| delete_process(txn, &p2));
        assert!(read_all(&store, &gone, "log").is_none());
        std::thread::sleep(Duration::from_millis(350));
        let mut steps = 0;
        loop {
            let pol = policy.clone();
            if !run(&w, move |txn| maintain(txn, &pol, 64)) {
                break;
            }
            steps += 1;
            assert!(steps < 200, "maintenance does not converge");
        }
        assert!(
            !store.segments.ids().contains(&first),
            "the oldest segment was dropped"
        );
        assert_eq!(
            store.segments.len(),
            1,
            "only the current segment is left: {:?}",
            store.segments.ids()
        );
        let got = read_all(&store, &keep, "log").unwrap();
        assert_eq!(got.len(), 30);
        for (i, (pos, e)) in got.iter().enumerate() {
            assert_eq!(*pos, i as u64);
            assert_eq!(e.sequence, i as i64);
        }
        // and it still appends at the next position after reopening
        w.close();
        h.join().unwrap();
        drop(store);
        let (store, w, h) = open(dir.path(), &policy);
        let (p2, pol) = (keep.clone(), policy.clone());
        assert_eq!(
            run(&w, move |txn| append(txn, &p2, "log", &entry(30), &pol)),
            30
        );
        assert_eq!(read_all(&store, &keep, "log").unwrap().len(), 31);
        w.close();
        h.join().unwrap();
    }
}
