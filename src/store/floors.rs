//! Where each assign queue's live keys begin, so that picking the next process does not walk
//! the tombstones of every process assigned before it.
//!
//! A queue (`keys::queue_of`) is a key range ordered by priority time. Assigning a process
//! deletes its key, and the storage engine keeps the tombstone until a compaction drops it:
//! a scan from the start of the queue would step over all of them, so each assign would cost
//! more than the one before (measured: submit → assign → close cycles fell from 1 341/s to
//! 688/s between runs of 2 000 and 6 000 cycles). A floor is a key at or below every live
//! key of its queue; scans start there, and the first live key a scan finds becomes the new
//! floor.
//!
//! Correctness does not depend on timing: once an insert of a queue key commits, the floor is
//! lowered to it, and a scan raises a floor only if no key was lowered into that queue since
//! the scan read it (a per-queue stamp), so a floor never passes a live key. (A scan that
//! started before the commit and raises before the lowering is undone by the lowering; one
//! that starts after the commit sees the key.) Floors live
//! in memory only (after a start the first scan of each queue walks it once), and the table
//! is bounded: past [`MAX_QUEUES`] queues it is cleared, which only costs that walk again.
//!
//! This module never reads or writes storage.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most queues with a floor before the table is cleared (queue names come from requests).
pub const MAX_QUEUES: usize = 4096;

#[derive(Debug, Clone)]
struct Floor {
    /// Every live key of the queue is ≥ this key (`None`: not known; scan from the start).
    key: Option<Vec<u8>>,
    /// Changes whenever a key is inserted into the queue.
    stamp: u64,
}

/// The floors of the assign queues, by queue prefix.
#[derive(Debug, Default)]
pub struct Floors {
    inner: Mutex<(u64, HashMap<Vec<u8>, Floor>)>,
}

/// Where a scan of one queue starts, and what it must show to raise the floor.
#[derive(Debug, Clone)]
pub struct ScanStart {
    /// The first key to read (the floor, or the queue prefix itself).
    pub from: Vec<u8>,
    stamp: u64,
}

impl Floors {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<Vec<u8>, Floor>)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where a scan of the queue `prefix` starts.
    pub fn start(&self, prefix: &[u8]) -> ScanStart {
        let mut guard = self.lock();
        let (next, map) = &mut *guard;
        if !map.contains_key(prefix) && map.len() >= MAX_QUEUES {
            map.clear();
        }
        let floor = map.entry(prefix.to_vec()).or_insert_with(|| {
            *next += 1;
            Floor {
                key: None,
                stamp: *next,
            }
        });
        ScanStart {
            from: floor.key.clone().unwrap_or_else(|| prefix.to_vec()),
            stamp: floor.stamp,
        }
    }

    /// A scan that began at `start` found `first` as the queue's first live key (`None`: the
    /// queue had no live key): it becomes the floor unless a key was inserted meanwhile.
    pub fn raise(&self, prefix: &[u8], start: &ScanStart, first: Option<&[u8]>) {
        let mut guard = self.lock();
        if let Some(floor) = guard.1.get_mut(prefix) {
            if floor.stamp == start.stamp {
                floor.key = Some(match first {
                    Some(k) => k.to_vec(),
                    // above every key of the queue: an insert lowers it again
                    None => [prefix, &[0xFF; 9][..]].concat(),
                });
            }
        }
    }

    /// Key `key` was inserted into the queue `prefix` (call after the insert committed).
    pub fn lower(&self, prefix: &[u8], key: &[u8]) {
        let mut guard = self.lock();
        let (next, map) = &mut *guard;
        if let Some(floor) = map.get_mut(prefix) {
            *next += 1;
            floor.stamp = *next;
            if floor.key.as_deref().is_some_and(|f| f > key) {
                floor.key = Some(key.to_vec());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_never_passes_a_live_key() {
        let f = Floors::default();
        let q = b"q-a\0".as_slice();
        let s = f.start(q);
        assert_eq!(s.from, q, "unknown: from the start");
        f.raise(q, &s, Some(b"q-a\0k5"));
        assert_eq!(f.start(q).from, b"q-a\0k5");
        // an insert below the floor lowers it
        f.lower(q, b"q-a\0k2");
        assert_eq!(f.start(q).from, b"q-a\0k2");
        // a scan that raced with an insert does not raise
        let s = f.start(q);
        f.lower(q, b"q-a\0k9");
        f.raise(q, &s, Some(b"q-a\0k7"));
        assert_eq!(f.start(q).from, b"q-a\0k2");
        // an empty queue: the floor goes above every key until the next insert
        let s = f.start(q);
        f.raise(q, &s, None);
        assert!(f.start(q).from.as_slice() > b"q-a\0\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFFzz".as_slice());
        f.lower(q, b"q-a\0k1");
        assert_eq!(f.start(q).from, b"q-a\0k1");
        // other queues are independent
        assert_eq!(f.start(b"q-b\0").from, b"q-b\0");
    }

    #[test]
    fn the_table_stays_bounded() {
        let f = Floors::default();
        for i in 0..(MAX_QUEUES + 10) {
            let _ = f.start(format!("q{i}\0").as_bytes());
        }
        assert!(f.lock().1.len() <= MAX_QUEUES);
    }
}
