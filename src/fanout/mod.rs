//! The fan-out: carries each durable channel entry to every live subscriber without the
//! appender ever waiting on one.
//!
//! A channel that has subscribers has a [`Feed`]: a lock-free [`ring::Ring`] holding its
//! recent entries, each one shared immutable buffer ([`Frame`]) already encoded as the
//! WebSocket frame every subscriber writes as is (a subscriber clones the handle, never the
//! bytes), and an
//! event that wakes subscribers. The storage writer publishes into the ring after the sync
//! that made an entry durable ([`Fanout::publish`]), so subscribers only ever see durable
//! entries. A subscriber reads at its own cursor; if it falls behind the ring (or an entry was
//! too large for a slot), it reads that stretch from the on-disk log and rejoins the ring when
//! it catches up. It is never dropped and holds no queue of its own.
//!
//! Memory: a feed holds at most `slots` frames of at most `max_frame` bytes each (default
//! 64 × 2 KiB = 128 KiB; only what was published is allocated) and exists only while the
//! channel has subscribers. The map of feeds is a small mutex-protected table,
//! touched only when a subscription starts or ends and once per published group.

pub mod ring;

use event_listener::{Event, EventListener};
use ring::Ring;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One entry's subscription frame, shared by every subscriber that writes it.
pub type Frame = bytes::Bytes;

/// Ring geometry.
#[derive(Debug, Clone, Copy)]
pub struct FeedSize {
    /// Slots per ring.
    pub slots: usize,
    /// Largest frame a ring keeps (larger ones are read from disk).
    pub max_frame: usize,
}

impl Default for FeedSize {
    fn default() -> FeedSize {
        FeedSize {
            slots: 64,
            max_frame: 2048,
        }
    }
}

/// The live side of one channel.
pub struct Feed {
    /// Recent entries as encoded frames.
    pub ring: Ring<Frame>,
    event: Event,
    subscribers: AtomicUsize,
}

impl Feed {
    /// A listener for "something was published or the channel closed".
    pub fn listen(&self) -> EventListener {
        self.event.listen()
    }
}

/// All feeds, by channel ID.
pub struct Fanout {
    feeds: Mutex<HashMap<u64, Arc<Feed>>>,
    size: FeedSize,
}

/// A subscriber's hold on a feed; the feed goes away with its last subscriber.
pub struct Subscription {
    fanout: Arc<Fanout>,
    cid: u64,
    /// The feed.
    pub feed: Arc<Feed>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.feed.subscribers.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut feeds = self.fanout.lock();
            if self.feed.subscribers.load(Ordering::Acquire) == 0 {
                feeds.remove(&self.cid);
            }
        }
    }
}

impl Fanout {
    /// An empty fan-out with rings of `size`.
    pub fn new(size: FeedSize) -> Fanout {
        Fanout {
            feeds: Mutex::new(HashMap::new()),
            size,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Feed>>> {
        self.feeds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to channel `cid`. `durable_next` is the channel's next position as of the
    /// snapshot the subscriber read: a new ring starts there (earlier positions read as lagged
    /// and come from disk).
    pub fn subscribe(self: &Arc<Self>, cid: u64, durable_next: u64) -> Subscription {
        let mut feeds = self.lock();
        let feed = feeds
            .entry(cid)
            .or_insert_with(|| {
                Arc::new(Feed {
                    ring: Ring::new(self.size.slots, durable_next),
                    event: Event::new(),
                    subscribers: AtomicUsize::new(0),
                })
            })
            .clone();
        feed.subscribers.fetch_add(1, Ordering::AcqRel);
        Subscription {
            fanout: self.clone(),
            cid,
            feed,
        }
    }

    /// Whether channel `cid` has subscribers (only then is an appended entry framed for them).
    pub fn is_watched(&self, cid: u64) -> bool {
        self.lock().contains_key(&cid)
    }

    /// Publishes a durable entry (writer thread, after the sync). `frame` is the encoded
    /// WebSocket frame, or `None` when it was not encoded (subscriber arrived meanwhile):
    /// readers then fetch it from disk, as they do for a frame over `max_frame`.
    pub fn publish(&self, cid: u64, pos: u64, frame: Option<Frame>) {
        let feed = self.lock().get(&cid).cloned();
        if let Some(feed) = feed {
            if pos >= feed.ring.head() {
                let max = self.size.max_frame;
                feed.ring.publish(pos, frame.filter(|f| f.len() <= max));
            }
            feed.event.notify(usize::MAX);
        }
    }

    /// The channel stopped accepting entries.
    pub fn close(&self, cid: u64) {
        let feed = self.lock().get(&cid).cloned();
        if let Some(feed) = feed {
            feed.ring.close();
            feed.event.notify(usize::MAX);
        }
    }

    /// Channels with subscribers right now.
    pub fn active(&self) -> usize {
        self.lock().len()
    }
}
