//! The single group-commit writer. Every state change in colonyd runs here.
//!
//! Whoever holds the writer's [`Core`] is the writer. Normally that is a dedicated thread
//! that takes operations from a bounded queue: it runs the first one, then every operation
//! that queued up meanwhile (up to [`MAX_GROUP`]): each runs against the store, stages its
//! writes in its own fjall batch and, if it succeeded, commits that batch (atomic, not yet
//! synced). Then it syncs once (`PersistMode::SyncData` under `--sync always`), publishes the
//! group's events and only then acknowledges every caller. While it syncs, new operations
//! queue up and form the next group, so concurrent writers share syncs.
//!
//! A caller that finds itself alone (no other caller in [`Writer::run`], nothing queued, the
//! core free) runs the same steps as a group of one on its own thread instead: at a low,
//! steady rate that saves the two thread wake-ups (caller → writer thread → caller) that cost
//! more than the sync itself.
//!
//! Invariants:
//! * operations are serialized: each sees every earlier operation's writes, so check-then-act
//!   (assign, close) is atomic without locks;
//! * nothing is acknowledged before the sync that makes it durable; a failed operation writes
//!   nothing;
//! * a failed sync is never acknowledged. fjall refuses all later writes after one, so the
//!   writer marks the server fatally failed, starts shutdown and the process exits non-zero
//!   (systemd restarts it; recovery replays the journal).
//!
//! Disk space: before each group the writer reads the free space of the store's filesystem
//! (one `statvfs`). Below the reserve (`--min-free-disk`), operations that would add data (more
//! inserts than removes) are refused with 507 and write nothing, while removals still go
//! through (they free space) and
//! reads are untouched; writes resume by themselves once space is freed. The reserve keeps
//! room for fjall's journal rotation, flushes and compactions, so a full disk is met with a
//! clear refusal rather than the fatal path above; that path remains for space lost between
//! two checks (another process filling the disk).

use super::commits::Commits;
use super::tails::Tail;
use super::{decode, encode, keys, Error, Store};
use crate::protocol::types::Process;
use crate::protocol::ApiError;
use fjall::{Keyspace, OwnedWriteBatch, PersistMode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use std::time::Instant;

/// Most operations committed under one sync.
pub const MAX_GROUP: usize = 512;
/// Queue length before callers wait (backpressure).
pub const QUEUE: usize = 4096;

/// When to sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync (fdatasync) before acknowledging: nothing acknowledged is lost on power loss.
    Always,
    /// Let the OS decide: acknowledged writes survive a process crash but may be lost on power
    /// loss.
    Never,
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
        /// The entry's stored record (as [`crate::store::encode`] wrote it), kept only if the
        /// channel had subscribers when it was written: the sink turns it into a subscription
        /// frame after the sync, where it publishes it.
        record: Option<Vec<u8>>,
    },
    /// Channel `cid` stopped accepting appends (its process finished or was removed).
    ChannelClosed {
        /// Channel ID.
        cid: u64,
    },
}

/// Where the writer reports: which channels are watched (so an append keeps its record for
/// live subscribers only when someone listens), what changed (after the sync that made it durable), how syncs went,
/// refusals and fatal failure. The server's event hub implements it; tools and tests use
/// `NoSink`. Defined here so the store never imports the layers above it.
pub trait Sink: Send + Sync {
    /// Whether channel `cid` has live subscribers.
    fn is_watched(&self, cid: u64) -> bool;
    /// The group's changes, after the sync that made them durable.
    fn deliver(&self, effects: &[Effect]);
    /// A sync took `took` and acknowledged `acked` operations (0 if it failed).
    fn synced(&self, took: Duration, acked: usize);
    /// An operation was refused below the disk reserve.
    fn disk_refused(&self);
    /// A commit or sync failed: the server must stop.
    fn failed(&self);
}

/// A sink that reports nowhere (unit tests of the layers that use the writer).
#[cfg(test)]
pub struct NoSink;

#[cfg(test)]
impl Sink for NoSink {
    fn is_watched(&self, _cid: u64) -> bool {
        false
    }
    fn deliver(&self, _effects: &[Effect]) {}
    fn synced(&self, _took: Duration, _acked: usize) {}
    fn disk_refused(&self) {}
    fn failed(&self) {}
}

/// One operation's view: read the store, stage writes, record effects.
pub struct Txn<'a> {
    /// The store (reads see every earlier operation).
    pub store: &'a Store,
    batch: OwnedWriteBatch,
    /// Inserts and removes staged: an operation with more removes than inserts frees space
    /// and is let through below the disk reserve.
    inserts: usize,
    removes: usize,
    effects: Vec<Effect>,
    /// Wall-clock time for this operation, strictly increasing across operations (unique
    /// timestamps for log keys).
    pub now: i64,
    /// Where the writer reports (which channels have subscribers).
    sink: &'a dyn Sink,
    /// Records this operation staged in the `processes` keyspace (processes and workflow
    /// graphs; `None` = removed), so that an operation changing several of them (a workflow
    /// cascade, deadlines firing together, an executor's processes requeued) reads its own
    /// writes. Other keyspaces are not tracked: channel appends pay nothing for this.
    staged: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Channel tails this operation changed (`None` = forget), applied once it commits.
    tails: Vec<(u64, Option<Tail>)>,
    /// Change of the channel byte total, applied once it commits.
    channel_bytes: i64,
    /// Assign-queue keys inserted (queue prefix, key): their queues' floors are lowered once
    /// it commits ([`super::floors`]).
    queued: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<'a> Txn<'a> {
    /// An empty operation at time `now`.
    fn new(store: &'a Store, sink: &'a dyn Sink, now: i64) -> Txn<'a> {
        Txn {
            store,
            batch: store.db().batch(),
            inserts: 0,
            removes: 0,
            effects: Vec::new(),
            now,
            sink,
            staged: HashMap::new(),
            tails: Vec::new(),
            channel_bytes: 0,
            queued: Vec::new(),
        }
    }

    /// Stages an insert of an encoded record.
    pub fn put<T: Serialize>(
        &mut self,
        ks: &Keyspace,
        key: Vec<u8>,
        value: &T,
    ) -> Result<(), Error> {
        self.put_raw(ks, key, encode(value)?);
        Ok(())
    }
    /// Stages an insert of raw bytes.
    pub fn put_raw(&mut self, ks: &Keyspace, key: Vec<u8>, value: Vec<u8>) {
        self.inserts += 1;
        if self.tracked(ks) {
            self.staged.insert(key.clone(), Some(value.clone()));
        }
        self.batch.insert(ks, key, value);
    }

    fn tracked(&self, ks: &Keyspace) -> bool {
        ks.name() == self.store.processes.name()
    }

    /// Reads a record of the `processes` keyspace as this operation left it.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Error> {
        match self.staged.get(key) {
            Some(Some(v)) => decode(v).map(Some),
            Some(None) => Ok(None),
            None => self.store.get(&self.store.processes, key),
        }
    }

    /// A process as this operation left it.
    pub fn process(&self, pid: &str) -> Result<Option<Process>, Error> {
        self.get(&keys::process(pid))
    }
    /// Stages a delete.
    pub fn remove(&mut self, ks: &Keyspace, key: Vec<u8>) {
        self.removes += 1;
        if self.tracked(ks) {
            self.staged.insert(key.clone(), None);
        }
        self.batch.remove(ks, key);
    }
    /// The tail of channel `cid` as this operation left it (`None`: not known in memory).
    pub fn tail(&self, cid: u64) -> Option<Tail> {
        match self.tails.iter().rev().find(|(c, _)| *c == cid) {
            Some((_, t)) => *t,
            None => self.store.tails.get(cid),
        }
    }
    /// Sets the tail of channel `cid` (`None`: forget it), once this operation commits.
    pub fn set_tail(&mut self, cid: u64, tail: Option<Tail>) {
        self.tails.push((cid, tail));
    }
    /// The channel byte total as this operation left it.
    pub fn channel_bytes(&self) -> u64 {
        let t = self.store.tails.total();
        if self.channel_bytes >= 0 {
            t.saturating_add(self.channel_bytes.unsigned_abs())
        } else {
            t.saturating_sub(self.channel_bytes.unsigned_abs())
        }
    }
    /// Changes the channel byte total, once this operation commits.
    pub fn add_channel_bytes(&mut self, delta: i64) {
        self.channel_bytes = self.channel_bytes.saturating_add(delta);
    }
    /// Whether channel `cid` has live subscribers now.
    pub fn is_watched(&self, cid: u64) -> bool {
        self.sink.is_watched(cid)
    }

    /// Records an effect to publish after the sync.
    pub fn emit(&mut self, e: Effect) {
        self.effects.push(e);
    }

    /// Writes a process record and brings its index keys in line with it. `old` is the
    /// version currently stored (None for a new process).
    pub fn put_process(&mut self, old: Option<&Process>, new: &Process) -> Result<(), Error> {
        let new_keys = keys::process_index_keys(new);
        if let Some(old) = old {
            for k in keys::process_index_keys(old) {
                if !new_keys.contains(&k) {
                    self.removes += 1;
                    self.batch.remove(&self.store.index, k);
                }
            }
        }
        for k in new_keys {
            self.inserts += 1;
            if keys::is_queue_key(&k)
                && !old.is_some_and(|o| keys::process_index_keys(o).contains(&k))
            {
                if let Some(prefix) = k.get(..k.len().saturating_sub(8 + new.processid.len())) {
                    self.queued.push((prefix.to_vec(), k.clone()));
                }
            }
            self.batch.insert(&self.store.index, k, Vec::new());
        }
        let store = self.store;
        if !new.spec.channels.is_empty() {
            let value = keys::channel_writers_value(new);
            if old.map(keys::channel_writers_value).as_ref() != Some(&value) {
                self.put_raw(
                    &store.channels,
                    keys::channel_writers(&new.processid),
                    value,
                );
            }
        }
        self.put(&store.processes, keys::process(&new.processid), new)?;
        if old.map(|o| o.state) != Some(new.state)
            || old.map(|o| o.waitforparents) != Some(new.waitforparents)
        {
            self.emit(Effect::Process {
                processid: new.processid.clone(),
                colony: new.colony().to_string(),
                executortype: new.spec.conditions.executortype.clone(),
                state: new.state,
                assignable: new.state == crate::protocol::types::state::WAITING
                    && !new.waitforparents,
            });
        }
        Ok(())
    }

    /// Deletes a process record and its index keys (not its logs).
    pub fn delete_process(&mut self, p: &Process) {
        for k in keys::process_index_keys(p) {
            self.removes += 1;
            self.batch.remove(&self.store.index, k);
        }
        let store = self.store;
        if !p.spec.channels.is_empty() {
            self.remove(&store.channels, keys::channel_writers(&p.processid));
        }
        self.remove(&store.processes, keys::process(&p.processid));
    }
}

type Completion = Box<dyn FnOnce(Result<(), Error>) + Send>;
type Job = Box<dyn FnOnce(&mut Txn<'_>) -> (bool, Completion) + Send>;

/// Handle to the writer. Cloning is cheap.
#[derive(Clone)]
pub struct Writer {
    tx: async_channel::Sender<Job>,
    failed: Arc<AtomicBool>,
    /// The writer's state, owned by the thread (it goes, releasing the store, when the thread
    /// ends); a lone caller borrows it.
    core: Weak<Mutex<Core>>,
    /// Callers inside [`Writer::run`] right now.
    in_flight: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts the writer thread with no disk-space reserve.
    pub fn start(
        store: Arc<Store>,
        sink: Arc<dyn Sink>,
        mode: SyncMode,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        Writer::start_with_reserve(store, sink, mode, 0)
    }

    /// Starts the writer thread; operations that add data are refused (507) while the store's
    /// filesystem has fewer than `min_free` bytes available.
    pub fn start_with_reserve(
        store: Arc<Store>,
        sink: Arc<dyn Sink>,
        mode: SyncMode,
        min_free: u64,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = async_channel::bounded::<Job>(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let commits = Commits::open(store.path(), &store.meta, mode == SyncMode::Always)
            .map_err(std::io::Error::other)?;
        let core = Arc::new(Mutex::new(Core {
            space: DiskSpace {
                path: store.path().to_path_buf(),
                min_free,
                low: None,
            },
            store,
            sink,
            mode,
            commits,
            failed: failed.clone(),
            last_now: 0,
            pending: Vec::with_capacity(MAX_GROUP),
            effects: Vec::new(),
        }));
        let weak = Arc::downgrade(&core);
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(&core, &rx))?;
        Ok((
            Writer {
                tx,
                failed,
                core: weak,
                in_flight: Arc::new(AtomicUsize::new(0)),
            },
            handle,
        ))
    }

    /// Runs `op` as the writer; resolves after the sync that makes its writes durable.
    ///
    /// A caller alone with an idle writer runs its operation, the commit and the sync on its
    /// own thread (no hand-off to the writer thread and back: the two thread wake-ups that
    /// dominate a lone append's latency); otherwise the operation queues for the writer
    /// thread, which groups it with the others under one sync.
    pub async fn run<R, F>(&self, op: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R, ApiError> + Send + 'static,
    {
        if self.failed.load(Ordering::SeqCst) {
            return Err(Error::Failed.into());
        }
        let alone = self.in_flight.fetch_add(1, Ordering::AcqRel) == 0;
        let _in_flight = InFlight(&self.in_flight);
        let (done_tx, done_rx) = async_channel::bounded::<Result<R, ApiError>>(1);
        let job: Job = Box::new(move |txn| {
            let result = op(txn);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |synced| {
                let _ = done_tx.try_send(synced.map_err(ApiError::from).and(result));
            });
            (ok, completion)
        });
        let idle = alone && self.tx.is_empty() && !self.tx.is_closed();
        let core = idle.then(|| self.core.upgrade()).flatten();
        let queued = match core.as_deref().map(Mutex::try_lock) {
            Some(Ok(mut core)) => {
                core.group(job, None);
                None
            }
            _ => Some(job),
        };
        if let Some(job) = queued {
            if self.tx.send(job).await.is_err() {
                return Err(Error::Closed.into());
            }
        }
        match done_rx.recv().await {
            Ok(r) => r,
            Err(_) => Err(Error::Failed.into()),
        }
    }

    /// Whether a sync has failed (the server must exit non-zero).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Stops accepting operations; the thread exits after finishing queued ones.
    pub fn close(&self) {
        self.tx.close();
    }
}

/// Counts a caller out of [`Writer::run`], however it leaves.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The disk-space reserve: free bytes on the store's filesystem, read once per group.
struct DiskSpace {
    path: std::path::PathBuf,
    min_free: u64,
    /// Free bytes when last found below the reserve (for the refusal text and for logging
    /// the transitions once), `None` while above it.
    low: Option<u64>,
}

impl DiskSpace {
    /// Re-reads the free space; returns the free bytes if below the reserve.
    fn check(&mut self) -> Option<u64> {
        if self.min_free == 0 {
            return None;
        }
        let free = match rustix::fs::statvfs(&self.path) {
            Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot read free disk space");
                return self.low;
            }
        };
        let now_low = (free < self.min_free).then_some(free);
        match (self.low, now_low) {
            (None, Some(f)) => tracing::warn!(
                free = f,
                reserve = self.min_free,
                "disk almost full: refusing writes that add data until space is freed"
            ),
            (Some(_), None) => tracing::info!(free, "disk space recovered: accepting writes again"),
            _ => {}
        }
        self.low = now_low;
        now_low
    }

    fn refusal(&self, free: u64) -> Error {
        Error::DiskFull {
            free,
            reserve: self.min_free,
        }
    }
}

/// The writer's state: whoever holds it (the writer thread, or a lone caller) is the writer.
struct Core {
    store: Arc<Store>,
    sink: Arc<dyn Sink>,
    mode: SyncMode,
    space: DiskSpace,
    commits: Commits,
    failed: Arc<AtomicBool>,
    /// The last operation's time (operation times strictly increase).
    last_now: i64,
    pending: Vec<Completion>,
    effects: Vec<Effect>,
}

fn lock(core: &Mutex<Core>) -> std::sync::MutexGuard<'_, Core> {
    core.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer thread: takes queued operations and runs them in groups.
fn run(core: &Mutex<Core>, rx: &async_channel::Receiver<Job>) {
    while let Ok(first) = rx.recv_blocking() {
        let mut core = lock(core);
        core.group(first, Some(rx));
        if core.failed.load(Ordering::SeqCst) {
            break;
        }
    }
    let core = lock(core);
    // drain: anything still queued after a failure gets an error, not silence
    rx.close();
    while let Ok(job) = rx.try_recv() {
        let (_, completion) = job(&mut Txn::new(
            &core.store,
            core.sink.as_ref(),
            core.last_now,
        ));
        completion(Err(Error::Failed));
    }
    core.commits.close();
}

impl Core {
    /// Runs `first` and, with `more`, every operation queued meanwhile (up to [`MAX_GROUP`]),
    /// then syncs once and acknowledges them all.
    fn group(&mut self, first: Job, more: Option<&async_channel::Receiver<Job>>) {
        let low = self.space.check();
        let mut next = Some(first);
        // no gather window: waiting for more operations before the sync was measured and did
        // not pay (bench/README.md, group commit)
        while let Some(job) = next.take() {
            self.apply(job, low);
            if self.pending.len() < MAX_GROUP {
                next = more.and_then(|rx| rx.try_recv().ok());
            }
        }
        self.finish();
    }

    /// Runs one operation and commits its batch (not yet synced).
    fn apply(&mut self, job: Job, low: Option<u64>) {
        let now = crate::protocol::time::now_ns().max(self.last_now + 1);
        self.last_now = now;
        let (store, sink) = (self.store.as_ref(), self.sink.as_ref());
        let mut txn = Txn::new(store, sink, now);
        let (ok, completion) = job(&mut txn);
        if !ok {
            // the operation refused: nothing to write; its error reaches the caller
            completion(Ok(()));
        } else if let (Some(free), true) = (low, txn.inserts > txn.removes) {
            // below the disk reserve: only operations that remove more than they add
            sink.disk_refused();
            completion(Err(self.space.refusal(free)));
        } else {
            let Txn {
                mut batch,
                effects: e,
                tails,
                channel_bytes,
                queued,
                ..
            } = txn;
            super::journal::stamp(&mut batch, store.db(), &store.meta);
            match batch.commit() {
                Ok(()) => {
                    for (cid, tail) in tails {
                        store.tails.set(cid, tail);
                    }
                    for (prefix, key) in queued {
                        store.floors.lower(&prefix, &key);
                    }
                    store.tails.add(channel_bytes);
                    self.pending.push(completion);
                    self.effects.extend(e);
                }
                Err(err) => {
                    tracing::error!(error = %err, "storage commit failed");
                    completion(Err(Error::Failed));
                    fail(&self.failed, sink);
                }
            }
        }
    }

    /// Syncs the group, publishes its effects and acknowledges its operations.
    fn finish(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let store = &self.store;
        let started = Instant::now();
        // the group's own records (channel byte total, commit number): one batch, one
        // journal write, before the sync
        let mut records = store.db().batch();
        store.tails.stage(&mut records, &store.meta);
        if self.mode == SyncMode::Always {
            self.commits.stage(&mut records, &store.meta);
        }
        let staged = if records.is_empty() {
            Ok(())
        } else {
            super::journal::stamp(&mut records, store.db(), &store.meta);
            records.commit()
        };
        let synced = match self.mode {
            SyncMode::Always => staged.and_then(|()| store.db().persist(PersistMode::SyncData)),
            SyncMode::Never => staged,
        };
        let took = started.elapsed();
        match synced {
            Ok(()) => {
                self.commits.synced();
                self.sink.synced(took, self.pending.len());
                store.publish_durable();
                self.sink.deliver(&self.effects);
                for done in self.pending.drain(..) {
                    done(Ok(()));
                }
            }
            Err(err) => {
                self.sink.synced(took, 0);
                tracing::error!(error = %err, "storage sync failed; refusing all further writes");
                for done in self.pending.drain(..) {
                    done(Err(Error::Failed));
                }
                fail(&self.failed, self.sink.as_ref());
            }
        }
        self.effects.clear();
    }
}

fn fail(failed: &AtomicBool, sink: &dyn Sink) {
    failed.store(true, Ordering::SeqCst);
    sink.failed();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;
    use std::sync::atomic::AtomicU64;

    #[derive(Default)]
    struct CountSyncs(AtomicU64);

    impl Sink for CountSyncs {
        fn is_watched(&self, _cid: u64) -> bool {
            false
        }
        fn deliver(&self, _effects: &[Effect]) {}
        fn synced(&self, _took: Duration, _acked: usize) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn disk_refused(&self) {}
        fn failed(&self) {}
    }

    #[test]
    fn concurrent_writes_are_serialized_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&StoreConfig::new(dir.path())).unwrap());
        let sink = Arc::new(CountSyncs::default());
        let (w, handle) = Writer::start(store.clone(), sink.clone(), SyncMode::Always).unwrap();
        // 16 tasks × 50 read-modify-write increments of one counter: serialization means no
        // lost update.
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    futures_lite::future::block_on(async {
                        for _ in 0..50 {
                            w.run(|txn| {
                                let cur = txn
                                    .store
                                    .meta
                                    .get(b"n")?
                                    .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
                                    .unwrap_or(0);
                                let meta = txn.store.meta.clone();
                                txn.put_raw(&meta, b"n".to_vec(), (cur + 1).to_be_bytes().to_vec());
                                Ok(())
                            })
                            .await
                            .unwrap();
                        }
                    })
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        let v = store.meta.get(b"n").unwrap().unwrap();
        assert_eq!(u64::from_be_bytes(v.as_ref().try_into().unwrap()), 800);
        let syncs = sink.0.load(Ordering::Relaxed);
        assert!((1..=800).contains(&syncs), "syncs = {syncs}");
        // a refused operation writes nothing
        let r: Result<(), ApiError> = futures_lite::future::block_on(w.run(|txn| {
            let meta = txn.store.meta.clone();
            txn.put_raw(&meta, b"n".to_vec(), vec![0; 8]);
            Err(ApiError::bad_request("no"))
        }));
        assert_eq!(r.unwrap_err().status, 400);
        let v = store.meta.get(b"n").unwrap().unwrap();
        assert_eq!(u64::from_be_bytes(v.as_ref().try_into().unwrap()), 800);
        w.close();
        handle.join().unwrap();
    }
}
