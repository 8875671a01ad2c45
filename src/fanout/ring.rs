//! A lock-free, fixed-size broadcast ring: one producer publishes channel entries by position,
//! any number of readers copy them out at their own cursors. No locks, no allocation after
//! construction, no I/O and no async runtime: this file is compiled on its own by
//! `loom-tests/` with `--cfg loom`, where the atomics below become loom's.
//!
//! Each slot is a seqlock. Every access to slot data is atomic, so a reader racing with the
//! producer is never a data race; a reader that lost the race sees its stamp change and reports
//! [`Read::Lagged`] (it then reads the entry from the on-disk log instead).
//!
//! Protocol (position `p` lives in slot `p % slots`):
//! * producer: `stamp ← 2p+1` (writing); `len` and data words stored with `Release`;
//!   `stamp ← 2p+2` (`Release`); then `head ← p+1` (`Release`).
//! * reader of `p`: if `p ≥ head` the entry is not published yet ([`Read::Pending`], or
//!   [`Read::Closed`] after [`Ring::close`]); else `s1 ← stamp` (`Acquire`), which must equal
//!   `2p+2`; copy `len` and words (`Acquire`); `s2 ← stamp`; `s1 == s2` means the copy is whole.
//!   Reading any word the producer stored for a later position synchronizes with that store,
//!   which comes after the producer's `2q+1` stamp store, so `s2` cannot still be `2p+2`.
//!
//! Entries longer than a slot are published as [`Read::Oversize`] markers: the position
//! exists, the bytes must come from disk.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const OVERSIZE: u64 = u64::MAX;

/// Result of reading one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The entry's bytes were copied into the buffer.
    Ready,
    /// The entry exists but is not held in the ring (too large, or published before the ring
    /// existed): read it from disk.
    Oversize,
    /// The ring no longer (or never) held this position: read it from disk.
    Lagged,
    /// Not published yet; wait for a notification.
    Pending,
    /// Not published and never will be: the channel is closed.
    Closed,
}

struct Slot {
    stamp: AtomicU64,
    len: AtomicU64,
    words: Box<[AtomicU64]>,
}

/// The ring. `Sync`: share it behind an `Arc`.
pub struct Ring {
    slots: Box<[Slot]>,
    head: AtomicU64,
    closed: AtomicBool,
}

impl Ring {
    /// A ring of `slots` slots of `slot_bytes` bytes each, whose first position will be
    /// `start` (positions before it read as [`Read::Lagged`]).
    pub fn new(slots: usize, slot_bytes: usize, start: u64) -> Ring {
        let words = slot_bytes.div_ceil(8);
        let slots = (0..slots.max(1))
            .map(|_| Slot {
                stamp: AtomicU64::new(0),
                len: AtomicU64::new(0),
                words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        Ring {
            slots,
            head: AtomicU64::new(start),
            closed: AtomicBool::new(false),
        }
    }

    /// Bytes one slot holds.
    pub fn slot_bytes(&self) -> usize {
        self.slots.first().map_or(0, |s| s.words.len() * 8)
    }

    /// One past the last published position.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Whether [`Ring::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    // pos % n < n = slots.len() and n ≥ 1 (the constructor makes at least one slot)
    #[allow(clippy::indexing_slicing)]
    fn slot(&self, pos: u64) -> &Slot {
        let n = self.slots.len() as u64;
        &self.slots[(pos % n) as usize]
    }

    /// Publishes the entry at `pos` (single producer; positions strictly increasing; a gap
    /// makes the skipped positions [`Read::Lagged`]). `None` publishes an oversize marker.
    pub fn publish(&self, pos: u64, bytes: Option<&[u8]>) {
        let slot = self.slot(pos);
        slot.stamp.store(2 * pos + 1, Ordering::Relaxed);
        match bytes.filter(|b| b.len() <= slot.words.len() * 8) {
            Some(b) => {
                for (w, part) in slot.words.iter().zip(b.chunks(8)) {
                    let mut chunk = [0u8; 8];
                    for (dst, src) in chunk.iter_mut().zip(part) {
                        *dst = *src;
                    }
                    w.store(u64::from_le_bytes(chunk), Ordering::Release);
                }
                slot.len.store(b.len() as u64, Ordering::Release);
            }
            None => slot.len.store(OVERSIZE, Ordering::Release),
        }
        slot.stamp.store(2 * pos + 2, Ordering::Release);
        self.head.store(pos + 1, Ordering::Release);
    }

    /// Marks the ring closed: no position at or after [`Ring::head`] will be published.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Copies the entry at `pos` into `out` (cleared first) if the ring holds it.
    pub fn read(&self, pos: u64, out: &mut Vec<u8>) -> Read {
        out.clear();
        if pos >= self.head.load(Ordering::Acquire) {
            if !self.closed.load(Ordering::Acquire) {
                return Read::Pending;
            }
            // closed after the last publish: re-check that nothing was published meanwhile
            if pos >= self.head.load(Ordering::Acquire) {
                return Read::Closed;
            }
        }
        let slot = self.slot(pos);
        let s1 = slot.stamp.load(Ordering::Acquire);
        if s1 != 2 * pos + 2 {
            return Read::Lagged;
        }
        let len = slot.len.load(Ordering::Acquire);
        if len == OVERSIZE {
            return if slot.stamp.load(Ordering::Acquire) == s1 {
                Read::Oversize
            } else {
                Read::Lagged
            };
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > slot.words.len() * 8 {
            // a torn read of `len` from a later write: the stamp check below would catch it,
            // but do not copy garbage first
            return Read::Lagged;
        }
        for w in slot.words.iter().take(len.div_ceil(8)) {
            out.extend_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
        out.truncate(len);
        if slot.stamp.load(Ordering::Acquire) != s1 {
            out.clear();
            return Read::Lagged;
        }
        Read::Ready
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn publish_read_wrap_and_lag() {
        let r = Ring::new(4, 16, 10);
        let mut buf = Vec::new();
        assert_eq!(r.read(10, &mut buf), Read::Pending);
        assert_eq!(r.read(3, &mut buf), Read::Lagged);
        for p in 10..14 {
            r.publish(p, Some(format!("e{p}").as_bytes()));
        }
        assert_eq!(r.read(10, &mut buf), Read::Ready);
        assert_eq!(buf, b"e10");
        r.publish(14, Some(b"e14"));
        assert_eq!(r.read(10, &mut buf), Read::Lagged, "overwritten by 14");
        assert_eq!(r.read(14, &mut buf), Read::Ready);
        assert_eq!(buf, b"e14");
        r.publish(15, Some(&[7u8; 17]));
        assert_eq!(r.read(15, &mut buf), Read::Oversize);
        r.publish(16, None);
        assert_eq!(r.read(16, &mut buf), Read::Oversize);
        r.publish(17, Some(&[]));
        assert_eq!(r.read(17, &mut buf), Read::Ready);
        assert!(buf.is_empty());
        r.close();
        assert_eq!(r.read(18, &mut buf), Read::Closed);
        assert_eq!(r.read(17, &mut buf), Read::Ready);
    }

    #[test]
    fn concurrent_reader_sees_every_entry_or_lags() {
        let r = std::sync::Arc::new(Ring::new(8, 32, 0));
        let producer = {
            let r = r.clone();
            std::thread::spawn(move || {
                for p in 0..20_000u64 {
                    r.publish(p, Some(&p.to_le_bytes().repeat(3)));
                }
                r.close();
            })
        };
        let mut buf = Vec::new();
        let mut pos = 0u64;
        let mut lagged = 0u64;
        loop {
            match r.read(pos, &mut buf) {
                Read::Ready => {
                    assert_eq!(buf, pos.to_le_bytes().repeat(3));
                    pos += 1;
                }
                Read::Lagged => {
                    lagged += 1;
                    pos += 1; // would be read from disk
                }
                Read::Pending => std::hint::spin_loop(),
                Read::Closed => break,
                Read::Oversize => panic!("nothing oversize was published"),
            }
        }
        producer.join().unwrap();
        assert_eq!(pos, 20_000);
        assert!(lagged < 20_000);
    }
}
