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

use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use std::collections::BTreeMap;
use std::sync::RwLock;

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
    memtable_bytes: u64,
}

impl Segments {
    /// Opens the listed segments (at startup).
    pub fn open(
        db: &Database,
        ids: &[(u32, i64)],
        memtable_bytes: u64,
    ) -> Result<Segments, fjall::Error> {
        let mut open = BTreeMap::new();
        for &(id, created) in ids {
            open.insert(id, (keyspace(db, id, memtable_bytes)?, created));
        }
        Ok(Segments {
            open: RwLock::new(open),
            memtable_bytes,
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

    /// Creates segment `id` (writer thread only).
    pub fn create(&self, db: &Database, id: u32, created: i64) -> Result<Keyspace, fjall::Error> {
        let ks = keyspace(db, id, self.memtable_bytes)?;
        write(&self.open).insert(id, (ks.clone(), created));
        Ok(ks)
    }

    /// Drops segment `id` and its bytes (writer thread only; no channel may reference it).
    pub fn drop_segment(&self, db: &Database, id: u32) -> Result<(), fjall::Error> {
        let ks = write(&self.open).remove(&id);
        match ks {
            Some((ks, _)) => db.delete_keyspace(ks),
            None => Ok(()),
        }
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
