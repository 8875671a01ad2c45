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

use crate::channels::log::Entry;
use crate::channels::wire::subscription_frame;
use crate::fanout::Fanout;
use crate::metrics::Counters;
use crate::protocol::ApiError;
use crate::store::writer::Effect;
use event_listener::{Event, EventListener};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
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

impl crate::store::writer::Sink for Events {
    fn is_watched(&self, cid: u64) -> bool {
        self.fanout.is_watched(cid)
    }
    fn deliver(&self, effects: &[Effect]) {
        self.publish(effects);
    }
    fn synced(&self, took: std::time::Duration, acked: usize) {
        let c = &self.counters;
        c.sync_latency.observe(took);
        c.syncs.fetch_add(1, Ordering::Relaxed);
        c.sync_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        c.writes.fetch_add(acked as u64, Ordering::Relaxed);
    }
    fn disk_refused(&self) {
        self.counters.disk_refusals.fetch_add(1, Ordering::Relaxed);
    }
    fn failed(&self) {
        self.shutdown();
    }
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
                Effect::ChannelAppended { cid, pos, record } => {
                    let frame = record.as_deref().and_then(|r| frame_of(*cid, *pos, r));
                    self.fanout.publish(*cid, *pos, frame.map(Into::into));
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

/// The subscription frame of a durable entry, from its stored record. `None` (logged) if the
/// record does not decode: subscribers then read that entry from disk, as for an entry written
/// before they came, and get the store's error there.
fn frame_of(cid: u64, pos: u64, record: &[u8]) -> Option<Vec<u8>> {
    let framed = crate::store::decode::<Entry>(record)
        .map_err(ApiError::from)
        .and_then(|e| subscription_frame(std::iter::once(&e)));
    match framed {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(cid, pos, error = %e, "channel entry not framed for live subscribers");
            None
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
