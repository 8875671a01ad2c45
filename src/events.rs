//! The process-event mechanism, the shutdown signal and the server's counters.
//!
//! Waiters use the event-listener pattern: create a listener, re-check the condition, then
//! await the listener. A notification sent between the check and the await is therefore never
//! lost. Events are published by the storage writer only after the sync that made the change
//! durable, so a woken task always reads state that survives a crash.
//!
//! * `waiting`: a process became assignable, or a colony's assignments resumed; wakes
//!   long-polling assigners.
//! * `process`: any process changed state (recorded as a [`Transition`]); wakes
//!   `subscribeprocessmsg` and `subscribeprocessesmsg` subscribers.
//! * channel appends and closes go to the [`Fanout`], which wakes that channel's subscribers.
//! * `shutdown`: the server is stopping; every task that waits on anything also waits on this.

use crate::fanout::Fanout;
use event_listener::{Event, EventListener};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How many recent process transitions are kept for subscribers.
pub const TRANSITIONS: usize = 4096;

/// One process state change, as subscribers see it.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Sequence number (increasing).
    pub seq: u64,
    /// Process ID.
    pub processid: String,
    /// Its colony.
    pub colony: String,
    /// Its executor type.
    pub executortype: String,
    /// The state it entered.
    pub state: i32,
}

/// A change the writer made, published after its sync.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A process changed; `state` is its new state.
    Process {
        /// Process ID.
        processid: String,
        /// Its colony.
        colony: String,
        /// Its executor type.
        executortype: String,
        /// New state.
        state: i32,
        /// Whether it is now in an assign queue.
        assignable: bool,
    },
    /// Assignments in a colony were resumed.
    Resumed,
    /// An entry was appended to channel `cid` at `pos` (durable once published).
    ChannelAppended {
        /// Channel ID.
        cid: u64,
        /// Position of the entry.
        pos: u64,
        /// The encoded subscription frame, if the channel had subscribers when it was written.
        frame: Option<Vec<u8>>,
    },
    /// Channel `cid` stopped accepting appends (its process finished or was removed).
    ChannelClosed {
        /// Channel ID.
        cid: u64,
    },
}

/// Counters for metrics, all in one place.
#[derive(Debug, Default)]
pub struct Counters {
    /// RPC requests answered.
    pub requests: AtomicU64,
    /// Operations committed by the writer.
    pub writes: AtomicU64,
    /// Syncs performed by the writer.
    pub syncs: AtomicU64,
    /// Total nanoseconds spent in syncs.
    pub sync_nanos: AtomicU64,
    /// Open client connections.
    pub connections: AtomicUsize,
    /// Connections refused because of the connection cap.
    pub connections_refused: AtomicU64,
    /// Writes refused because the disk was below the reserve (`--min-free-disk`).
    pub disk_refusals: AtomicU64,
    /// Assign requests long-polling now.
    pub long_polls: AtomicUsize,
    /// Assign long-polls refused by `--max-long-polls`.
    pub long_polls_refused: AtomicU64,
    /// Idle connections closed to make room for a new one at `--max-connections`.
    pub connections_evicted: AtomicU64,
    /// Assigns rolled back because the reply could not be delivered.
    pub assign_rollbacks: AtomicU64,
    /// Open WebSocket connections.
    pub websockets: AtomicUsize,
    /// Active subscriptions.
    pub subscriptions: AtomicUsize,
    /// Requests by payload type and status.
    pub by_type: crate::metrics::RequestCounts,
    /// Request latency.
    pub request_latency: crate::metrics::Histogram,
    /// Sync latency.
    pub sync_latency: crate::metrics::Histogram,
    /// Channel entries appended.
    pub appends: AtomicU64,
    /// Channel payload bytes appended.
    pub append_bytes: AtomicU64,
}

/// The shared event hub.
pub struct Events {
    /// Live channel subscribers' rings.
    pub fanout: Arc<Fanout>,
    transitions: Mutex<(u64, VecDeque<Transition>, HashSet<u64>)>,
    waiting: Event,
    process: Event,
    shutdown: Event,
    shutting_down: AtomicBool,
    /// Metrics counters.
    pub counters: Counters,
}

impl Default for Events {
    fn default() -> Events {
        Events::new()
    }
}

impl Events {
    /// A new hub.
    pub fn new() -> Events {
        Events::with_fanout(Fanout::new(crate::fanout::FeedSize::default()))
    }

    /// A new hub with the given fan-out.
    pub fn with_fanout(fanout: Fanout) -> Events {
        Events {
            fanout: Arc::new(fanout),
            transitions: Mutex::new((0, VecDeque::new(), HashSet::new())),
            waiting: Event::new(),
            process: Event::new(),
            shutdown: Event::new(),
            shutting_down: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    fn lock_transitions(
        &self,
    ) -> std::sync::MutexGuard<'_, (u64, VecDeque<Transition>, HashSet<u64>)> {
        self.transitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sequence number of the latest transition (subscribers start after it).
    pub fn transition_seq(&self) -> u64 {
        self.lock_transitions().0
    }

    /// Transitions after `seq` matching `keep`, and whether some were already forgotten
    /// (the subscriber must then re-read the store).
    pub fn transitions_since(
        &self,
        seq: u64,
        keep: impl Fn(&Transition) -> bool,
    ) -> (Vec<Transition>, bool) {
        let t = self.lock_transitions();
        let overflowed = t.1.front().is_some_and(|f| f.seq > seq + 1);
        (
            t.1.iter()
                .filter(|x| x.seq > seq && keep(x))
                .cloned()
                .collect(),
            overflowed,
        )
    }

    /// Claims transition `seq` for one `subscribeprocessesmsg` subscriber; false if another
    /// subscriber got it first.
    pub fn claim(&self, seq: u64) -> bool {
        self.lock_transitions().2.insert(seq)
    }

    /// Publishes effects (called by the writer after a successful sync).
    pub fn publish(&self, effects: &[Effect]) {
        let mut wake_assigners = false;
        let mut any_process = false;
        for e in effects {
            match e {
                Effect::Process {
                    processid,
                    colony,
                    executortype,
                    state,
                    assignable,
                } => {
                    any_process = true;
                    wake_assigners |= *assignable;
                    let mut t = self.lock_transitions();
                    t.0 += 1;
                    let seq = t.0;
                    t.1.push_back(Transition {
                        seq,
                        processid: processid.clone(),
                        colony: colony.clone(),
                        executortype: executortype.clone(),
                        state: *state,
                    });
                    if t.1.len() > TRANSITIONS {
                        if let Some(old) = t.1.pop_front() {
                            t.2.remove(&old.seq);
                        }
                    }
                }
                Effect::Resumed => wake_assigners = true,
                Effect::ChannelAppended { cid, pos, frame } => {
                    self.fanout.publish(*cid, *pos, frame.as_deref());
                }
                Effect::ChannelClosed { cid } => self.fanout.close(*cid),
            }
        }
        if any_process {
            self.process.notify(usize::MAX);
        }
        if wake_assigners {
            self.waiting.notify(usize::MAX);
        }
    }

    /// A listener for "a process became assignable".
    pub fn listen_waiting(&self) -> EventListener {
        self.waiting.listen()
    }

    /// A listener for "some process changed".
    pub fn listen_process(&self) -> EventListener {
        self.process.listen()
    }

    /// Starts shutdown: every waiter is woken and sees [`Events::is_shutting_down`].
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.notify(usize::MAX);
        self.waiting.notify(usize::MAX);
        self.process.notify(usize::MAX);
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown has started.
    pub async fn shutdown_started(&self) {
        loop {
            if self.is_shutting_down() {
                return;
            }
            let l = self.shutdown.listen();
            if self.is_shutting_down() {
                return;
            }
            l.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_wakes_assigners_only_for_assignable() {
        let ev = Events::new();
        let l = ev.listen_waiting();
        ev.publish(&[Effect::Process {
            processid: "p".into(),
            colony: "c".into(),
            executortype: "t".into(),
            state: 1,
            assignable: false,
        }]);
        assert!(futures_lite::future::block_on(futures_lite::future::poll_once(l)).is_none());
        let l = ev.listen_waiting();
        ev.publish(&[Effect::Resumed]);
        assert!(futures_lite::future::block_on(futures_lite::future::poll_once(l)).is_some());
    }

    #[test]
    fn shutdown_is_seen_by_late_waiters() {
        let ev = Events::new();
        ev.shutdown();
        futures_lite::future::block_on(ev.shutdown_started());
        assert!(ev.is_shutting_down());
    }
}
