//! The commit counter: proof that the journal still holds every acknowledged write.
//!
//! Under `--sync always` every group commit also writes its number into `meta` (`commit-seq`)
//! before the group's sync; after the sync the writer records that number in
//! `<store>/colonyd-commit` (8 bytes little-endian and an 8-byte FNV-1a checksum, written in
//! place without an fsync of its own). The file therefore never names a commit the journal
//! has not made durable; it may lag behind after a power cut, which only weakens the check.
//!
//! fjall's journal recovery stops at the first batch it cannot frame and truncates the rest
//! silently, as it must for a torn tail; damage in the middle of a journal (a flipped byte on
//! an SD card) would then drop acknowledged writes without a word. At open, a journal that
//! recovers to a lower commit than the file names has lost acknowledged writes, and the store
//! is refused ([`super::Error::Damaged`]).

use super::Error;
use fjall::Keyspace;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The key in `meta` holding the number of the last group commit.
pub const KEY: &[u8] = b"commit-seq";
/// The file beside fjall's that names the last synced commit.
const FILE: &str = "colonyd-commit";

fn checksum(v: u64) -> u64 {
    v.to_le_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// The last commit number stored in `meta` (0 if none).
pub fn stored(meta: &Keyspace) -> Result<u64, Error> {
    Ok(meta
        .get(KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_le_bytes))
}

/// The commit the file names, if it exists and is intact (a torn write is ignored, logged).
fn recorded(store: &Path) -> Option<u64> {
    let bytes = std::fs::read(store.join(FILE)).ok()?;
    let value = bytes.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok())?;
    let sum = bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok())?;
    let value = u64::from_le_bytes(value);
    if checksum(value) == u64::from_le_bytes(sum) {
        Some(value)
    } else {
        tracing::warn!(file = %store.join(FILE).display(), "commit record unreadable (torn write?); journal completeness not checked");
        None
    }
}

/// Refuses a store whose journal recovered to fewer commits than were acknowledged.
pub fn check(store: &Path, meta: &Keyspace) -> Result<(), Error> {
    let Some(acked) = recorded(store) else {
        return Ok(());
    };
    let have = stored(meta)?;
    if have < acked {
        return Err(Error::Damaged(format!(
            "the journal ({}/*.jnl) recovers to group commit {have}, but commit {acked} was \
             acknowledged: acknowledged writes are missing (a journal file is damaged)",
            store.display()
        )));
    }
    Ok(())
}

/// The writer's side: numbers group commits and records the synced ones.
pub struct Commits {
    file: Option<File>,
    last: u64,
}

impl Commits {
    /// Starts counting after the last stored commit. With `enabled` false (`--sync never`,
    /// where a power cut may lose acknowledged writes by design) no number is kept and the
    /// file is removed, so a later check cannot mistake that loss for damage.
    pub fn open(store: &Path, meta: &Keyspace, enabled: bool) -> Result<Commits, Error> {
        let path = store.join(FILE);
        if !enabled {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(Commits {
                file: None,
                last: 0,
            });
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        Ok(Commits {
            file: Some(file),
            last: stored(meta)?,
        })
    }

    /// Numbers the group about to be synced (stages the number for `meta` in `batch`).
    pub fn stage(&mut self, batch: &mut fjall::OwnedWriteBatch, meta: &Keyspace) {
        if self.file.is_none() {
            return;
        }
        batch.insert(meta, KEY, (self.last + 1).to_le_bytes());
        self.last += 1;
    }

    /// Records that the staged group is durable.
    pub fn synced(&self) {
        if let Some(f) = &self.file {
            let mut bytes = [0u8; 16];
            let (value, sum) = bytes.split_at_mut(8);
            value.copy_from_slice(&self.last.to_le_bytes());
            sum.copy_from_slice(&checksum(self.last).to_le_bytes());
            if let Err(e) = f.write_all_at(&bytes, 0) {
                tracing::warn!(error = %e, "cannot record the last commit");
            }
        }
    }

    /// Makes the record durable (clean shutdown).
    pub fn close(&self) {
        if let Some(f) = &self.file {
            let _ = f.sync_all();
        }
    }
}
