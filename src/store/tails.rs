//! Channel tails and the channel byte total, kept in memory by the writer so that an append
//! rewrites no metadata and no global counter.
//!
//! A channel's stored metadata holds a *checkpoint* of its tail (next position and payload
//! bytes), rewritten only every [`CHECKPOINT_ENTRIES`] entries or [`CHECKPOINT_BYTES`] bytes,
//! when the channel starts a new segment and when it closes. The true tail is the checkpoint
//! plus the entries stored after it; the writer keeps it in [`Tails`] (derived once from the
//! entries after the checkpoint when a channel is first appended to after a start, then kept
//! up to date). Entries are stored densely and the journal recovers a prefix of its batches,
//! so "the entries after the checkpoint" are always positions `checkpoint..end` without a gap.
//!
//! The total payload bytes of live channels (for `--channel-disk-budget`) is an in-memory
//! counter; the writer writes it to `meta` (`channel-bytes`) once per group commit, before the
//! group's sync, and only when it changed. After a power cut it is exact for every
//! acknowledged append; entries that reached the journal without being acknowledged (a group
//! whose sync never finished) are readable but not counted, so the total can be low by at most
//! one group's payload per cut, never high.
//!
//! This module never reads or writes entries; the channel log above it does.

use super::Error;
use fjall::Keyspace;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Rewrite a channel's metadata checkpoint after this many entries…
pub const CHECKPOINT_ENTRIES: u64 = 1024;
/// …or this many payload bytes since the last checkpoint.
pub const CHECKPOINT_BYTES: u64 = 1 << 20;
/// Most tails kept; beyond this one is forgotten (and derived again when needed).
pub const MAX_TAILS: usize = 4096;
/// The `meta` key holding the channel byte total (u64 BE).
pub const BYTES_KEY: &[u8] = b"channel-bytes";

/// The end of one channel's log as the writer sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tail {
    /// Position the next entry gets.
    pub next_pos: u64,
    /// Payload bytes stored.
    pub bytes: u64,
}

/// Tails of recently appended channels, by channel ID, and the byte total.
pub struct Tails {
    map: Mutex<HashMap<u64, Tail>>,
    total: AtomicU64,
    persisted: AtomicU64,
}

impl Tails {
    /// Loads the byte total from `meta`.
    pub fn open(meta: &Keyspace) -> Result<Tails, Error> {
        let total = meta
            .get(BYTES_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(Tails {
            map: Mutex::new(HashMap::new()),
            total: AtomicU64::new(total),
            persisted: AtomicU64::new(total),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tail>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tail of channel `cid`, if known.
    pub fn get(&self, cid: u64) -> Option<Tail> {
        self.lock().get(&cid).copied()
    }

    /// Records a committed tail (`None`: forget the channel).
    pub(super) fn set(&self, cid: u64, tail: Option<Tail>) {
        let mut map = self.lock();
        match tail {
            Some(t) => {
                if map.len() >= MAX_TAILS && !map.contains_key(&cid) {
                    if let Some(victim) = map.keys().next().copied() {
                        map.remove(&victim);
                    }
                }
                map.insert(cid, t);
            }
            None => {
                map.remove(&cid);
            }
        }
    }

    /// Payload bytes held by live channels (as committed).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// Applies a committed change of the total.
    pub(super) fn add(&self, delta: i64) {
        let cur = self.total.load(Ordering::Acquire);
        let next = if delta >= 0 {
            cur.saturating_add(delta.unsigned_abs())
        } else {
            cur.saturating_sub(delta.unsigned_abs())
        };
        self.total.store(next, Ordering::Release);
    }

    /// Stages the total for `meta` if it changed since it was last staged (writer, before a
    /// sync; the group's record batch is committed right after).
    pub(super) fn stage(&self, batch: &mut fjall::OwnedWriteBatch, meta: &Keyspace) {
        let total = self.total();
        if self.persisted.load(Ordering::Acquire) != total {
            batch.insert(meta, BYTES_KEY, total.to_be_bytes());
            self.persisted.store(total, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_saturates_and_persists_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let meta = db.keyspace("meta", Default::default).unwrap();
        let t = Tails::open(&meta).unwrap();
        assert_eq!(t.total(), 0);
        t.add(10);
        t.add(-3);
        assert_eq!(t.total(), 7);
        t.add(-100);
        assert_eq!(t.total(), 0, "never below zero");
        t.add(5);
        let mut batch = db.batch();
        t.stage(&mut batch, &meta);
        batch.commit().unwrap();
        assert_eq!(Tails::open(&meta).unwrap().total(), 5);
        t.set(
            1,
            Some(Tail {
                next_pos: 3,
                bytes: 9,
            }),
        );
        assert_eq!(
            t.get(1),
            Some(Tail {
                next_pos: 3,
                bytes: 9
            })
        );
        t.set(1, None);
        assert_eq!(t.get(1), None);
        for cid in 0..(MAX_TAILS as u64 + 10) {
            t.set(cid, Some(Tail::default()));
        }
        assert!(t.lock().len() <= MAX_TAILS);
    }
}
