//! loom models of the fan-out ring: publish vs. read vs. wrap-around vs. lag vs. subscriber
//! drop vs. channel close. Every model asserts that no entry is lost (each position is either
//! read whole from the ring or reported as lagged/oversize, i.e. read from disk), duplicated,
//! reordered or torn, and that a waiting reader is always woken (a missed wake-up is a loom
//! deadlock).
//!
//! The wake-up is modelled on production's event-listener protocol: create a listener, then
//! re-check the ring, then wait; the producer publishes, then notifies.
#![cfg(loom)]

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use loom_tests::ring::{Read, Ring as Generic};

/// Frames as production shares them: a reference-counted immutable buffer.
type Frame = std::sync::Arc<Vec<u8>>;
type Ring = Generic<Frame>;

/// event-listener's contract: a notification after `listen()` wakes that listener.
struct Notifier {
    gen: Mutex<u64>,
    cv: Condvar,
}

impl Notifier {
    fn new() -> Notifier {
        Notifier {
            gen: Mutex::new(0),
            cv: Condvar::new(),
        }
    }
    fn listen(&self) -> u64 {
        *self.gen.lock().unwrap()
    }
    fn wait(&self, seen: u64) {
        let mut g = self.gen.lock().unwrap();
        while *g == seen {
            g = self.cv.wait(g).unwrap();
        }
    }
    fn notify(&self) {
        *self.gen.lock().unwrap() += 1;
        self.cv.notify_all();
    }
}

fn payload(pos: u64) -> Vec<u8> {
    // longer than one word, so a torn copy would be visible
    let mut v = pos.to_le_bytes().to_vec();
    v.extend_from_slice(&(!pos).to_le_bytes());
    v
}

/// Reads from `start` until the ring is closed; returns positions read from the ring and
/// positions that had to come from disk.
fn consume(ring: &Ring, notifier: &Notifier, start: u64) -> (Vec<u64>, Vec<u64>) {
    let mut from_ring = Vec::new();
    let mut from_disk = Vec::new();
    let mut cursor = start;
    let mut buf: Option<Frame> = None;
    loop {
        let seen = notifier.listen();
        match ring.read(cursor, &mut buf) {
            Read::Ready => {
                assert_eq!(
                    buf.as_deref(),
                    Some(&payload(cursor)),
                    "torn or misplaced entry at {cursor}"
                );
                from_ring.push(cursor);
                cursor += 1;
            }
            Read::Lagged | Read::Oversize => {
                from_disk.push(cursor);
                cursor += 1;
            }
            Read::Closed => return (from_ring, from_disk),
            Read::Pending => notifier.wait(seen),
        }
    }
}

fn produce(ring: &Ring, notifier: &Notifier, positions: std::ops::Range<u64>) {
    for p in positions {
        ring.publish(p, Some(std::sync::Arc::new(payload(p))));
        notifier.notify();
    }
    ring.close();
    notifier.notify();
}

fn check_complete(from_ring: &[u64], from_disk: &[u64], start: u64, end: u64) {
    let mut all: Vec<u64> = from_ring.iter().chain(from_disk.iter()).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (start..end).collect::<Vec<_>>(),
        "lost or duplicated positions"
    );
    assert!(from_ring.windows(2).all(|w| w[0] < w[1]), "reordered");
}

#[test]
fn publish_read_and_wrap_around() {
    loom::model(|| {
        // 2 slots, 3 entries: the third overwrites the first
        let ring = Arc::new(Ring::new(2, 0));
        let n = Arc::new(Notifier::new());
        let (r2, n2) = (ring.clone(), n.clone());
        let producer = thread::spawn(move || produce(&r2, &n2, 0..3));
        let (from_ring, from_disk) = consume(&ring, &n, 0);
        producer.join().unwrap();
        check_complete(&from_ring, &from_disk, 0, 3);
    });
}

#[test]
fn two_readers_at_different_cursors() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(2, 0));
        let n = Arc::new(Notifier::new());
        let (r2, n2) = (ring.clone(), n.clone());
        let producer = thread::spawn(move || produce(&r2, &n2, 0..2));
        let (r3, n3) = (ring.clone(), n.clone());
        let late = thread::spawn(move || consume(&r3, &n3, 1));
        let (a_ring, a_disk) = consume(&ring, &n, 0);
        let (b_ring, b_disk) = late.join().unwrap();
        producer.join().unwrap();
        check_complete(&a_ring, &a_disk, 0, 2);
        check_complete(&b_ring, &b_disk, 1, 2);
    });
}

#[test]
fn lagging_reader_is_told_to_read_from_disk_not_given_wrong_data() {
    loom::model(|| {
        // one slot: every publish overwrites the previous entry
        let ring = Arc::new(Ring::new(1, 0));
        let n = Arc::new(Notifier::new());
        let (r2, n2) = (ring.clone(), n.clone());
        let producer = thread::spawn(move || produce(&r2, &n2, 0..3));
        let (from_ring, from_disk) = consume(&ring, &n, 0);
        producer.join().unwrap();
        check_complete(&from_ring, &from_disk, 0, 3);
    });
}

#[test]
fn ring_started_late_and_oversize_entries_go_to_disk() {
    loom::model(|| {
        // the ring starts at position 5 (a subscriber arrived then); an entry too large for a
        // slot is published as a marker
        let ring = Arc::new(Ring::new(2, 5));
        let n = Arc::new(Notifier::new());
        let (r2, n2) = (ring.clone(), n.clone());
        let producer = thread::spawn(move || {
            r2.publish(5, Some(std::sync::Arc::new(payload(5))));
            n2.notify();
            // too large to keep: published as a marker
            r2.publish(6, None);
            n2.notify();
            r2.close();
            n2.notify();
        });
        let mut buf: Option<Frame> = None;
        // positions before the ring's start are never in it
        assert_eq!(ring.read(4, &mut buf), Read::Lagged);
        let mut cursor = 5;
        let mut saw_oversize = false;
        loop {
            let seen = n.listen();
            match ring.read(cursor, &mut buf) {
                Read::Ready => {
                    assert_eq!(buf.as_deref(), Some(&payload(cursor)));
                    cursor += 1;
                }
                Read::Oversize => {
                    assert_eq!(cursor, 6);
                    saw_oversize = true;
                    cursor += 1;
                }
                Read::Lagged => cursor += 1,
                Read::Closed => break,
                Read::Pending => n.wait(seen),
            }
        }
        producer.join().unwrap();
        assert_eq!(cursor, 7);
        assert!(saw_oversize || cursor == 7);
    });
}

#[test]
fn subscriber_drop_never_blocks_the_producer() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(2, 0));
        let n = Arc::new(Notifier::new());
        let (r2, n2) = (ring.clone(), n.clone());
        // a subscriber reads at most one entry and goes away
        let quitter = thread::spawn(move || {
            let mut buf: Option<Frame> = None;
            let _ = r2.read(0, &mut buf);
            drop(r2);
            drop(n2);
        });
        produce(&ring, &n, 0..3);
        quitter.join().unwrap();
        assert_eq!(ring.head(), 3);
        assert!(ring.is_closed());
    });
}

#[test]
fn close_after_last_publish_is_never_seen_before_it() {
    loom::model(|| {
        let ring = Arc::new(Ring::new(4, 0));
        let r2 = ring.clone();
        let producer = thread::spawn(move || {
            r2.publish(0, Some(std::sync::Arc::new(payload(0))));
            r2.close();
        });
        let mut buf: Option<Frame> = None;
        // whenever the reader sees Closed for position 1, position 0 must be readable
        if ring.read(1, &mut buf) == Read::Closed {
            assert_eq!(ring.read(0, &mut buf), Read::Ready);
            assert_eq!(buf.as_deref(), Some(&payload(0)));
        }
        producer.join().unwrap();
    });
}
