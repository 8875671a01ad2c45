//! A check of the journal's batch headers before the engine replays them.
//!
//! fjall's journal is a sequence of batches: `Start {0x01, item count u32, seqno u64}`, the
//! items (`0x02, value type, compression, keyspace id u64, key length u16, value length u32,
//! stored length u32, key, value`) or a clear (`0x04, keyspace id u64`), then
//! `End {0x03, xxh3-64 of the item bytes, "FJL\x03"}`. The checksum covers the items, not the
//! header (ARCHITECTURE.md, fjall fact 1): a flipped bit in a sequence number replays the batch
//! under another number, and a number at or below what a keyspace's tables already hold makes
//! recovery skip the batch: acknowledged writes gone without an error.
//!
//! Two facts let colonyd see such a header before fjall opens the store:
//! * the engine takes a batch's number from its counter while it holds the journal's lock, so
//!   numbers only grow along the journal (files in the order of their numbers);
//! * every batch colonyd's writer commits carries one more item, `meta/batch-seqno`, the number
//!   the engine is about to give it ([`stamp`]): inside the checksum. Nothing else takes a
//!   number between the stamp and the commit (the writer is the only one writing), and
//!   anything that did could only make the header larger, never smaller.
//!
//! A complete batch (its checksum matching) whose number is not above the previous batch's, or
//! below its own stamp, is damage; the store is refused, naming the file and the offset.
//! Parsing stops at the first batch that is not whole: that is either a torn tail (fjall
//! truncates it) or damage fjall itself reports; the commit counter ([`super::commits`])
//! catches acknowledged batches lost behind it.

use super::Error;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The key in `meta` that every batch the writer commits carries: the sequence number the
/// engine gives that batch (u64 little-endian).
const KEY: &[u8] = b"batch-seqno";

/// Stages the stamp: the number the engine will give `batch` when it is committed next.
pub fn stamp(batch: &mut fjall::OwnedWriteBatch, db: &fjall::Database, meta: &fjall::Keyspace) {
    if !batch.is_empty() {
        batch.insert(meta, KEY, db.seqno().to_le_bytes());
    }
}

/// A reader that hashes what it reads and knows its offset.
struct Journal {
    r: BufReader<std::fs::File>,
    at: u64,
    hash: xxhash_rust::xxh3::Xxh3,
}

impl Journal {
    /// Reads `N` bytes (hashed when `hashed`); `None` at the end of the file.
    fn bytes<const N: usize>(&mut self, hashed: bool) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        self.at += N as u64;
        if hashed {
            self.hash.update(&b);
        }
        Some(b)
    }

    fn u8(&mut self, hashed: bool) -> Option<u8> {
        self.bytes::<1>(hashed).map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(true).map(u16::from_le_bytes)
    }

    fn u32(&mut self, hashed: bool) -> Option<u32> {
        self.bytes(hashed).map(u32::from_le_bytes)
    }

    fn u64(&mut self, hashed: bool) -> Option<u64> {
        self.bytes(hashed).map(u64::from_le_bytes)
    }

    /// Reads and hashes `n` bytes, keeping them if `keep` (bounded by the caller).
    fn skip(&mut self, n: u64, keep: bool) -> Option<Vec<u8>> {
        let mut kept = Vec::new();
        let mut left = n;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let chunk = usize::try_from(left.min(buf.len() as u64)).ok()?;
            let part = buf.get_mut(..chunk)?;
            self.r.read_exact(part).ok()?;
            self.hash.update(part);
            if keep {
                kept.extend_from_slice(part);
            }
            left -= chunk as u64;
        }
        self.at += n;
        Some(kept)
    }

    /// One item or clear, hashed; the stamp if it is one. `None`: not a whole entry.
    fn item(&mut self) -> Option<Option<u64>> {
        match self.u8(true)? {
            0x02 => {
                let _value_type = self.u8(true)?;
                let _compression = self.u8(true)?;
                let _keyspace = self.u64(true)?;
                let key_len = self.u16()?;
                let _value_len = self.u32(true)?;
                let stored = self.u32(true)?;
                let key = self.skip(u64::from(key_len), true)?;
                let is_stamp = key == KEY && stored == 8;
                let value = self.skip(u64::from(stored), is_stamp)?;
                Some(if is_stamp {
                    <[u8; 8]>::try_from(value.as_slice())
                        .ok()
                        .map(u64::from_le_bytes)
                } else {
                    None
                })
            }
            0x04 => self.u64(true).map(|_| None),
            _ => None,
        }
    }

    /// The next whole batch: (offset, sequence number, stamp). `None` at the end of what
    /// fjall would replay.
    fn batch(&mut self) -> Option<(u64, u64, Option<u64>)> {
        let offset = self.at;
        if self.u8(false)? != 0x01 {
            return None;
        }
        let count = self.u32(false)?;
        let seqno = self.u64(false)?;
        self.hash = xxhash_rust::xxh3::Xxh3::new();
        let mut stamp = None;
        for _ in 0..count {
            if let Some(s) = self.item()? {
                stamp = Some(s);
            }
        }
        if self.u8(false)? != 0x03 {
            return None;
        }
        let checksum = self.u64(false)?;
        if self.bytes::<4>(false)? != *b"FJL\x03" || checksum != self.hash.digest() {
            return None;
        }
        Some((offset, seqno, stamp))
    }
}

fn journals(store: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(store)? {
        let p = e?.path();
        let n = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(n), true) = (n, p.is_file()) {
            out.push((n, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Checks the batch headers of every journal in `store`, oldest first.
pub fn check_all(store: &Path) -> Result<(), Error> {
    let mut previous: Option<(u64, PathBuf, u64)> = None;
    for (_, path) in journals(store)? {
        let mut j = Journal {
            r: BufReader::with_capacity(64 * 1024, std::fs::File::open(&path)?),
            at: 0,
            hash: xxhash_rust::xxh3::Xxh3::new(),
        };
        while let Some((offset, seqno, stamp)) = j.batch() {
            let damaged = |why: String| {
                Error::Damaged(format!(
                    "journal file {} is damaged: the batch at byte {offset} {why}; fjall would \
                     replay it out of order or skip it",
                    path.display()
                ))
            };
            if let Some((prev, prev_path, prev_offset)) = &previous {
                if seqno <= *prev {
                    return Err(damaged(format!(
                        "has sequence number {seqno}, not above the {prev} of the batch before \
                         it ({} byte {prev_offset})",
                        prev_path.display()
                    )));
                }
            }
            if let Some(s) = stamp.filter(|s| seqno < *s) {
                return Err(damaged(format!(
                    "has sequence number {seqno} in its header but was written as {s}"
                )));
            }
            previous = Some((seqno, path.clone(), offset));
        }
    }
    Ok(())
}
