//! Segments: the keyspaces that hold channel entries.
//!
//! fjall has no range delete; dropping a whole keyspace is its cheap bulk delete, and each
//! keyspace is its own LSM tree, so segments are few and time-bucketed: all appends go to the
//! *current* segment, and a new one is started when the current one is older than the segment
//! duration (`--segment-duration`). A segment is dropped once no channel references it.
//! A long-lived channel would pin old segments forever, so a segment older than two segment
//! durations is *retired*: the live entries of every channel still in it are relocated, in
//! bounded chunks, into the current segment (keeping their positions), then it is dropped.
//!
//! Segment keyspaces are named `seg-<8 hex digits>`; which exist is recorded in the `channels`
//! keyspace (`g‖seg`), see [`crate::channels::log`] for the key layout.

use super::Error;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

/// Keyspace name of segment `n`.
pub fn name(n: u32) -> String {
    format!("seg-{n:08x}")
}

/// `g‖seg`
pub fn segment_key(seg: u32) -> Vec<u8> {
    let mut k = vec![b'g'];
    k.extend_from_slice(&seg.to_be_bytes());
    k
}

/// Reads the segment list recorded in the `channels` keyspace (at startup).
pub fn recorded_segments(channels: &fjall::Keyspace) -> Result<Vec<(u32, i64)>, fjall::Error> {
    let mut out = Vec::new();
    for g in channels.prefix(b"g") {
        let (k, v) = g.into_inner()?;
        let id = k
            .get(1..5)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        let created = <[u8; 8]>::try_from(v.as_ref()).ok().map(i64::from_be_bytes);
        if let (Some(id), Some(created)) = (id, created) {
            out.push((id, created));
        }
    }
    Ok(out)
}

/// The open segment keyspaces, each with its creation time (ns).
pub struct Segments {
    open: RwLock<BTreeMap<u32, (Keyspace, i64)>>,
    /// Segments whose record was removed, to be dropped once that removal is durable.
    retired: Mutex<Vec<Keyspace>>,
    memtable_bytes: u64,
    /// fjall's `keyspaces/` directory, fsynced after a segment is created.
    dir: PathBuf,
}

impl Segments {
    /// Opens the listed segments (at startup).
    pub fn open(
        db: &Database,
        ids: &[(u32, i64)],
        memtable_bytes: u64,
        dir: PathBuf,
    ) -> Result<Segments, fjall::Error> {
        let mut open = BTreeMap::new();
        for &(id, created) in ids {
            open.insert(id, (keyspace(db, id, memtable_bytes)?, created));
        }
        Ok(Segments {
            open: RwLock::new(open),
            retired: Mutex::new(Vec::new()),
            memtable_bytes,
            dir,
        })
    }

    /// The keyspace of segment `id`, if open.
    pub fn get(&self, id: u32) -> Option<Keyspace> {
        read(&self.open).get(&id).map(|(k, _)| k.clone())
    }

    /// Creation time (ns) of segment `id`.
    pub fn created(&self, id: u32) -> Option<i64> {
        read(&self.open).get(&id).map(|(_, c)| *c)
    }

    /// The newest segment ID, if any.
    pub fn newest(&self) -> Option<u32> {
        read(&self.open).keys().next_back().copied()
    }

    /// All open segment IDs, oldest first.
    pub fn ids(&self) -> Vec<u32> {
        read(&self.open).keys().copied().collect()
    }

    /// Creates segment `id` (writer thread only). Its directory entry is durable when this
    /// returns, so the segment may be recorded.
    pub fn create(&self, db: &Database, id: u32, created: i64) -> Result<Keyspace, Error> {
        let ks = keyspace(db, id, self.memtable_bytes)?;
        super::sync_dir(&self.dir)?;
        write(&self.open).insert(id, (ks.clone(), created));
        Ok(ks)
    }

    /// Takes segment `id` out of use (writer thread only; no channel may reference it, and
    /// the caller removes its record in the same operation). Its keyspace is dropped by the
    /// next [`Segments::drop_retired`], after that removal is durable: a power cut in between
    /// leaves an unrecorded keyspace (removed at the next start), never a recorded segment
    /// without its keyspace.
    pub fn retire(&self, id: u32) {
        if let Some((ks, _)) = write(&self.open).remove(&id) {
            self.retired
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(ks);
        }
    }

    /// Drops the keyspaces of segments retired by earlier (synced) operations.
    pub fn drop_retired(&self, db: &Database) -> Result<usize, fjall::Error> {
        let retired = std::mem::take(
            &mut *self
                .retired
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let n = retired.len();
        for ks in retired {
            db.delete_keyspace(ks)?;
        }
        Ok(n)
    }

    /// Number of open segments.
    pub fn len(&self) -> usize {
        read(&self.open).len()
    }

    /// Whether no segment is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn keyspace(db: &Database, id: u32, memtable: u64) -> Result<Keyspace, fjall::Error> {
    db.keyspace(&name(id), || {
        KeyspaceCreateOptions::default().max_memtable_size(memtable)
    })
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
