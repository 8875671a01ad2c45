//! A lock-free, fixed-size broadcast ring: one producer publishes channel entries by position,
//! any number of readers take them at their own cursors. Each entry is one shared, immutable
//! frame (`T`, in production a reference-counted buffer): a reader gets a clone of the handle,
//! never a copy of the bytes, so every live subscriber writes the same buffer to its socket.
//! No thread ever waits for another, no allocation after construction, no I/O and no async
//! runtime: this file is compiled on its own by `loom-tests/` with `--cfg loom`, where the
//! atomics and the slot mutex below become loom's.
//!
//! Each slot is a seqlock stamp plus a mutex holding the frame handle, taken only with
//! `try_lock` and only long enough to swap or clone a handle. A reader that loses a race with
//! the producer (stamp changed, or the slot momentarily held) reports [`Read::Lagged`] and
//! reads the entry from the on-disk log instead; a producer that finds the slot held by a
//! reader leaves its stamp odd, so that position reads as lagged too. Nobody blocks.
//!
//! Protocol (position `p` lives in slot `p % slots`):
//! * producer: `stamp ← 2p+1`; under `try_lock`, frame ← the new handle, then (only if the
//!   lock was had) `stamp ← 2p+2` (`Release`); then `head ← p+1` (`Release`).
//! * reader of `p`: if `p ≥ head` the entry is not published yet ([`Read::Pending`], or
//!   [`Read::Closed`] after [`Ring::close`]); else `s1 ← stamp` (`Acquire`), which must equal
//!   `2p+2`; under `try_lock` clone the handle; `s2 ← stamp`; `s1 == s2` means the handle is
//!   position `p`'s. A handle the producer stored for a later position `q` was stored after
//!   its `2q+1` stamp, and the mutex orders that store before the reader's `s2` load, so `s2`
//!   cannot still be `2p+2`.
//!
//! Entries published without a frame (too large to keep, or not framed because the channel
//! had no subscribers when it was written) are [`Read::Oversize`] markers: the position
//! exists, the bytes must come from disk.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;

/// Result of reading one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The entry's frame was handed out.
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

struct Slot<T> {
    stamp: AtomicU64,
    frame: Mutex<Option<T>>,
}

/// The ring. `Sync` when `T` is `Send`: share it behind an `Arc`.
pub struct Ring<T> {
    slots: Box<[Slot<T>]>,
    head: AtomicU64,
    closed: AtomicBool,
}

impl<T: Clone> Ring<T> {
    /// A ring of `slots` slots whose first position will be `start` (positions before it
    /// read as [`Read::Lagged`]).
    pub fn new(slots: usize, start: u64) -> Ring<T> {
        let slots = (0..slots.max(1))
            .map(|_| Slot {
                stamp: AtomicU64::new(0),
                frame: Mutex::new(None),
            })
            .collect();
        Ring {
            slots,
            head: AtomicU64::new(start),
            closed: AtomicBool::new(false),
        }
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
    fn slot(&self, pos: u64) -> &Slot<T> {
        let n = self.slots.len() as u64;
        &self.slots[(pos % n) as usize]
    }

    /// Publishes the entry at `pos` (single producer; positions strictly increasing; a gap
    /// makes the skipped positions [`Read::Lagged`]). `None` publishes an oversize marker.
    pub fn publish(&self, pos: u64, frame: Option<T>) {
        let slot = self.slot(pos);
        slot.stamp.store(2 * pos + 1, Ordering::Relaxed);
        // the old handle is dropped outside the lock
        let old = match slot.frame.try_lock() {
            Ok(mut held) => {
                let old = std::mem::replace(&mut *held, frame);
                slot.stamp.store(2 * pos + 2, Ordering::Release);
                old
            }
            // a reader is cloning the previous handle: leave the stamp odd (readers of `pos`
            // go to disk) rather than wait
            Err(_) => None,
        };
        drop(old);
        self.head.store(pos + 1, Ordering::Release);
    }

    /// Marks the ring closed: no position at or after [`Ring::head`] will be published.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Hands out the frame at `pos` in `out` (cleared first) if the ring holds it.
    pub fn read(&self, pos: u64, out: &mut Option<T>) -> Read {
        *out = None;
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
        let frame = match slot.frame.try_lock() {
            Ok(held) => held.clone(),
            Err(_) => return Read::Lagged,
        };
        if slot.stamp.load(Ordering::Acquire) != s1 {
            return Read::Lagged;
        }
        match frame {
            Some(f) => {
                *out = Some(f);
                Read::Ready
            }
            None => Read::Oversize,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn frame(s: &str) -> Option<std::sync::Arc<[u8]>> {
        Some(s.as_bytes().into())
    }

    #[test]
    fn publish_read_wrap_and_lag() {
        let r = Ring::new(4, 10);
        let mut buf = None;
        assert_eq!(r.read(10, &mut buf), Read::Pending);
        assert_eq!(r.read(3, &mut buf), Read::Lagged);
        for p in 10..14 {
            r.publish(p, frame(&format!("e{p}")));
        }
        assert_eq!(r.read(10, &mut buf), Read::Ready);
        assert_eq!(buf.as_deref(), Some(&b"e10"[..]));
        r.publish(14, frame("e14"));
        assert_eq!(r.read(10, &mut buf), Read::Lagged, "overwritten by 14");
        assert!(buf.is_none());
        assert_eq!(r.read(14, &mut buf), Read::Ready);
        assert_eq!(buf.as_deref(), Some(&b"e14"[..]));
        r.publish(16, None);
        assert_eq!(r.read(15, &mut buf), Read::Lagged, "skipped");
        assert_eq!(r.read(16, &mut buf), Read::Oversize);
        r.publish(17, frame(""));
        assert_eq!(r.read(17, &mut buf), Read::Ready);
        assert_eq!(buf.as_deref(), Some(&b""[..]));
        r.close();
        assert_eq!(r.read(18, &mut buf), Read::Closed);
        assert_eq!(r.read(17, &mut buf), Read::Ready);
    }

    #[test]
    fn readers_share_the_published_buffer() {
        let r = Ring::new(2, 0);
        let f: std::sync::Arc<[u8]> = b"shared".as_slice().into();
        r.publish(0, Some(f.clone()));
        let (mut a, mut b) = (None, None);
        assert_eq!(r.read(0, &mut a), Read::Ready);
        assert_eq!(r.read(0, &mut b), Read::Ready);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(std::sync::Arc::ptr_eq(&a, &f) && std::sync::Arc::ptr_eq(&b, &f));
    }

    #[test]
    fn concurrent_reader_sees_every_entry_or_lags() {
        let r = std::sync::Arc::new(Ring::new(8, 0));
        let producer = {
            let r = r.clone();
            std::thread::spawn(move || {
                for p in 0..20_000u64 {
                    r.publish(p, Some(std::sync::Arc::new(p.to_le_bytes().repeat(3))));
                }
                r.close();
            })
        };
        let mut buf = None;
        let mut pos = 0u64;
        let mut lagged = 0u64;
        loop {
            match r.read(pos, &mut buf) {
                Read::Ready => {
                    assert_eq!(buf.as_deref(), Some(&pos.to_le_bytes().repeat(3)));
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
