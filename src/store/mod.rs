//! Embedded durable storage on fjall 3: few keyspaces, postcard records that carry a format
//! version, secondary indexes derived from the records, and one group-commit [`writer`] through
//! which every change passes.
//!
//! Reads may happen from any thread ([`Store`] is `Sync`); writes happen only on the writer
//! thread, inside a [`writer::Txn`]. The key layout is documented in [`keys`].
//!
//! ## Directory entries and power cuts
//!
//! Under POSIX a new file or directory's *name* is durable only once its parent directory is
//! fsynced; an fsync of the file itself is not enough (ext4 happens to make it so, other
//! filesystems and SD cards do not). fjall fsyncs `<store>/keyspaces/` only when it creates the
//! database, before it creates `keyspaces/0` (its own metadata) and never after creating a
//! keyspace (`keyspaces/<id>`), and nothing fsyncs the directory holding `<store>`. So colonyd
//! does: [`Store::open`] fsyncs `keyspaces/`, the store directory and its parent, and
//! [`segments::Segments::create`] fsyncs `keyspaces/` before a new segment is recorded. A
//! marker file (`colonyd-store`, beside fjall's files; fjall ignores names without `.jnl`)
//! records that the store was created; if fjall's metadata keyspace, a fixed keyspace or a
//! recorded segment is then missing, opening fails with [`Error::Damaged`] naming it, instead
//! of fjall recreating it empty. `tests/python/test_powercut.py` checks all of this on a
//! filesystem that forgets every entry its directory did not fsync.

pub mod commits;
mod error;
pub mod floors;
pub mod journal;
pub mod keys;
pub mod segments;
mod tables;
pub mod tails;
pub mod writer;

pub use error::Error;

use crate::protocol::types::{Colony, Executor, Function, Process, User};
use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use segments::Segments;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The marker file in the store directory written once the store has been created.
const MARKER: &str = "colonyd-store";
/// The keyspaces colonyd creates at the first start.
const FIXED: [&str; 6] = ["channels", "meta", "registry", "processes", "index", "logs"];

/// fsyncs directory `dir`: makes the names created, renamed or removed in it durable.
/// Whether an engine error says a file's content is wrong (checksum, header, trailer, format),
/// as opposed to an I/O failure or a lock.
fn is_corruption(e: &fjall::Error) -> bool {
    // reading a damaged table fails with I/O errors too (a file cut short, an offset from a
    // flipped trailer): at open, every I/O error but the operator's (permissions, a full or
    // read-only disk, memory) means a file that does not read back
    let damaged_io = |io: &std::io::Error| {
        !matches!(
            io.kind(),
            std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::ReadOnlyFilesystem
                | std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::OutOfMemory
        )
    };
    match e {
        fjall::Error::Storage(fjall::LsmError::Io(io)) | fjall::Error::Io(io) => damaged_io(io),
        fjall::Error::Storage(_)
        | fjall::Error::Decompress(_)
        | fjall::Error::InvalidTrailer
        | fjall::Error::InvalidTag(_)
        | fjall::Error::InvalidVersion(_)
        | fjall::Error::Unrecoverable => true,
        _ => false,
    }
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// fsyncs `dir` and the directory holding it: a directory just created or filled is then
/// durable under its own name, with everything named in it.
pub fn sync_dir_and_parent(dir: &Path) -> std::io::Result<()> {
    sync_dir(dir)?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Where fjall keeps its keyspace directories (an engine detail colonyd depends on for the
/// fsyncs above and the damage check; checked by the store's tests).
fn keyspaces_dir(store: &Path) -> PathBuf {
    store.join("keyspaces")
}

/// Version byte written in front of every postcard record.
pub const RECORD_VERSION: u8 = 1;

/// Channel limits and retention, all configurable.
#[derive(Debug, Clone)]
pub struct ChannelPolicy {
    /// Largest payload of one entry in bytes.
    pub max_payload: usize,
    /// Most channels one process may declare.
    pub max_channels: usize,
    /// Most entries per channel (0 = no cap).
    pub max_entries: u64,
    /// Appends per second per process, all channels and senders (0 = no limit); bursts of
    /// five seconds' worth are allowed.
    pub rate_per_sec: u32,
    /// Total bytes of channel payloads kept (0 = no budget).
    pub disk_budget: u64,
    /// How long a closed process's channels stay readable (0 = removed at close).
    pub retention_ns: i64,
    /// Age at which the current segment is replaced by a new one.
    pub segment_ns: i64,
    /// Most payload bytes one read or one backlog page returns (at least one entry).
    pub page_bytes: usize,
}

impl Default for ChannelPolicy {
    fn default() -> ChannelPolicy {
        ChannelPolicy {
            max_payload: 10 << 20,
            max_channels: 100,
            max_entries: 0,
            rate_per_sec: 0,
            disk_budget: 0,
            retention_ns: 0,
            segment_ns: 3600 * 1_000_000_000,
            page_bytes: 8 << 20,
        }
    }
}

/// Sizes handed to fjall (its defaults assume a large machine).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Data directory.
    pub path: PathBuf,
    /// Block cache in bytes.
    pub cache_bytes: u64,
    /// Memtable size per keyspace in bytes.
    pub memtable_bytes: u64,
    /// Journal size cap in bytes before memtables are flushed.
    pub journal_bytes: u64,
    /// Background flush/compaction threads.
    pub worker_threads: usize,
    /// Channel limits and retention.
    pub channel_policy: ChannelPolicy,
}

impl StoreConfig {
    /// Small-device defaults for `path`.
    pub fn new(path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            path: path.into(),
            cache_bytes: 8 << 20,
            memtable_bytes: 4 << 20,
            journal_bytes: 64 << 20,
            worker_threads: 2,
            channel_policy: ChannelPolicy::default(),
        }
    }
}

/// The open database and its keyspaces.
pub struct Store {
    db: Database,
    /// Server-wide settings (server owner ID, format version).
    pub meta: Keyspace,
    /// Colonies, executors, users, functions and their ID indexes.
    pub registry: Keyspace,
    /// Process records.
    pub processes: Keyspace,
    /// Secondary process indexes (queue, by state, history, deadlines).
    pub index: Keyspace,
    /// Process and executor logs.
    pub logs: Keyspace,
    /// Channel metadata, segment references and retention (see [`crate::channels::log`]).
    pub channels: Keyspace,
    /// Segment keyspaces holding channel entries.
    pub segments: Segments,
    /// Channel limits and retention.
    pub channel_policy: ChannelPolicy,
    /// Channel tails and the channel byte total, kept by the writer ([`tails`]).
    pub tails: tails::Tails,
    /// Where each assign queue's live keys begin ([`floors`]).
    pub floors: floors::Floors,
    /// A snapshot of everything made durable by the last sync; channel readers read through it.
    durable: std::sync::RwLock<fjall::Snapshot>,
    path: PathBuf,
}

/// Encodes a record: version byte, then postcard.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    // postcard fails only on types it cannot represent; every record type is representable,
    // so this is a programming error that tests catch: refuse the write, never store a stub
    postcard::to_extend(v, vec![RECORD_VERSION]).map_err(|e| {
        debug_assert!(false, "record not encodable: {e}");
        Error::Encode(e.to_string())
    })
}

/// Decodes a record written by [`encode`]; unknown versions are refused, never guessed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| Error::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(Error::Corrupt(format!(
            "record format version {v} is not supported by this colonyd"
        ))),
        None => Err(Error::Corrupt("empty record".into())),
    }
}

impl Store {
    /// Opens (or creates) the store at `cfg.path`; refuses a store that lost something it
    /// recorded ([`Error::Damaged`]).
    pub fn open(cfg: &StoreConfig) -> Result<Store, Error> {
        Store::open_checked(cfg).map_err(|e| match e {
            // a table (or other engine file) that does not read back: refuse, never serve
            // around it
            Error::Engine(ref f) if is_corruption(f) => Error::Damaged(format!(
                "a storage file under {}/keyspaces does not read back ({f:?})",
                cfg.path.display()
            )),
            e => e,
        })
    }

    fn open_checked(cfg: &StoreConfig) -> Result<Store, Error> {
        let created = cfg.path.join(MARKER).exists();
        let damaged = |what: String| Error::Damaged(format!("{what} (in {})", cfg.path.display()));
        // fjall would recreate a lost metadata keyspace empty and then delete every keyspace
        // it no longer knows: check before it opens
        if created && !keyspaces_dir(&cfg.path).join("0").is_dir() {
            return Err(damaged(
                "the storage engine's metadata directory keyspaces/0 is missing".into(),
            ));
        }
        if created {
            tables::check_all(&keyspaces_dir(&cfg.path))?;
            journal::check_all(&cfg.path)?;
        }
        let db = Database::builder(&cfg.path)
            .cache_size(cfg.cache_bytes)
            .max_journaling_size(cfg.journal_bytes)
            .worker_threads(cfg.worker_threads.max(1))
            .open()
            .map_err(|e| match e {
                fjall::Error::JournalRecovery(why) => damaged(format!(
                    "a journal file ({}/*.jnl) is corrupt ({why:?}) in the middle, where a \
                     crash cannot have left it",
                    cfg.path.display()
                )),
                e => Error::Engine(e),
            })?;
        if created {
            for name in FIXED {
                if !db.keyspace_exists(name) {
                    return Err(damaged(format!("keyspace {name} is missing")));
                }
            }
        }
        let memtable = cfg.memtable_bytes;
        let ks = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(memtable)
            })
        };
        let channels = ks("channels")?;
        let recorded = segments::recorded_segments(&channels)?;
        for (id, _) in &recorded {
            if !db.keyspace_exists(&segments::name(*id)) {
                return Err(damaged(format!(
                    "channel segment keyspace {} is recorded but missing: the channel entries \
                     it held are gone",
                    segments::name(*id)
                )));
            }
        }
        // a segment keyspace without a record was created by an operation that did not
        // complete, or dropped by one: it holds nothing reachable
        for name in db.list_keyspace_names() {
            let name: &str = name.as_ref();
            if let Some(hex) = name.strip_prefix("seg-") {
                let id = u32::from_str_radix(hex, 16).ok();
                if !recorded.iter().any(|(r, _)| Some(*r) == id) {
                    let orphan = ks(name)?;
                    db.delete_keyspace(orphan)?;
                }
            }
        }
        let segments = Segments::open(&db, &recorded, memtable, keyspaces_dir(&cfg.path))?;
        let meta = ks("meta")?;
        commits::check(&cfg.path, &meta)?;
        let tails = tails::Tails::open(&meta)?;
        let store = Store {
            tails,
            floors: floors::Floors::default(),
            meta,
            registry: ks("registry")?,
            processes: ks("processes")?,
            index: ks("index")?,
            logs: ks("logs")?,
            channels,
            segments,
            channel_policy: cfg.channel_policy.clone(),
            durable: std::sync::RwLock::new(db.snapshot()),
            db: db.clone(),
            path: cfg.path.clone(),
        };
        // every keyspace directory, the marker and the store directory itself durable
        sync_dir(&keyspaces_dir(&cfg.path))?;
        if !created {
            let mut f = std::fs::File::create(cfg.path.join(MARKER))?;
            std::io::Write::write_all(
                &mut f,
                b"colonyd store: keyspaces/0 (fjall's metadata) and the keyspaces channels, \
                  meta, registry, processes, index, logs exist\n",
            )?;
            f.sync_all()?;
        }
        sync_dir_and_parent(&cfg.path)?;
        Ok(store)
    }

    /// The snapshot of durable state (as of the last sync).
    pub fn durable(&self) -> fjall::Snapshot {
        self.durable
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Publishes the current state as durable (writer, after a sync).
    pub fn publish_durable(&self) {
        let snap = self.db.snapshot();
        *self
            .durable
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snap;
    }

    /// The fjall database (for batches and persistence).
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, ks: &Keyspace, key: &[u8]) -> Result<Option<T>, Error> {
        match ks.get(key)? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Decodes every record under `prefix`, at most `limit`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        ks: &Keyspace,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for g in ks.prefix(prefix).take(limit) {
            let (_, v) = g.into_inner()?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// Keys under `prefix`, at most `limit`.
    pub fn keys(&self, ks: &Keyspace, prefix: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::new();
        for g in ks.prefix(prefix).take(limit) {
            out.push(g.key()?.to_vec());
        }
        Ok(out)
    }

    /// Number of keys under `prefix`.
    pub fn count(&self, ks: &Keyspace, prefix: &[u8]) -> Result<i64, Error> {
        let mut n = 0i64;
        for g in ks.prefix(prefix) {
            g.key()?;
            n += 1;
        }
        Ok(n)
    }

    /// The stored server owner ID, if any.
    pub fn server_id(&self) -> Result<Option<String>, Error> {
        Ok(self
            .meta
            .get(b"server-id")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// A colony by name.
    pub fn colony(&self, name: &str) -> Result<Option<Colony>, Error> {
        self.get(&self.registry, &keys::colony(name))
    }

    /// All colonies.
    pub fn colonies(&self) -> Result<Vec<Colony>, Error> {
        self.scan(&self.registry, b"c", usize::MAX)
    }

    /// An executor by colony and name.
    pub fn executor(&self, colony: &str, name: &str) -> Result<Option<Executor>, Error> {
        self.get(&self.registry, &keys::executor(colony, name))
    }

    /// An executor by its (global) ID.
    pub fn executor_by_id(&self, id: &str) -> Result<Option<Executor>, Error> {
        let Some(loc) = self.registry.get(keys::executor_id(id))? else {
            return Ok(None);
        };
        let mut e = Vec::with_capacity(loc.len() + 1);
        e.push(b'e');
        e.extend_from_slice(&loc);
        self.get(&self.registry, &e)
    }

    /// All executors of a colony.
    pub fn executors(&self, colony: &str) -> Result<Vec<Executor>, Error> {
        self.scan(&self.registry, &keys::executors_of(colony), usize::MAX)
    }

    /// A user by colony and name.
    pub fn user(&self, colony: &str, name: &str) -> Result<Option<User>, Error> {
        self.get(&self.registry, &keys::user(colony, name))
    }

    /// A user of `colony` by ID.
    pub fn user_by_id(&self, colony: &str, id: &str) -> Result<Option<User>, Error> {
        match self.registry.get(keys::user_id(colony, id))? {
            Some(name) => self.user(colony, &String::from_utf8_lossy(&name)),
            None => Ok(None),
        }
    }

    /// All users of a colony.
    pub fn users(&self, colony: &str) -> Result<Vec<User>, Error> {
        self.scan(&self.registry, &keys::users_of(colony), usize::MAX)
    }

    /// A process by ID.
    pub fn process(&self, pid: &str) -> Result<Option<Process>, Error> {
        self.get(&self.processes, &keys::process(pid))
    }

    /// A function by ID.
    pub fn function(&self, id: &str) -> Result<Option<Function>, Error> {
        self.get(&self.registry, &keys::function(id))
    }

    /// Functions of a colony, optionally of one executor.
    pub fn functions(&self, colony: &str, executor: Option<&str>) -> Result<Vec<Function>, Error> {
        let mut out = Vec::new();
        for key in self.keys(
            &self.registry,
            &keys::functions_of(colony, executor),
            usize::MAX,
        )? {
            let Some(id) = key.rsplit(|b| *b == 0).next() else {
                continue;
            };
            if let Some(f) = self.function(&String::from_utf8_lossy(id))? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Whether assignments in `colony` are paused.
    pub fn is_paused(&self, colony: &str) -> Result<bool, Error> {
        Ok(self.registry.contains_key(keys::paused(colony))?)
    }

    /// Processes whose index keys start with `prefix` (`index` keyspace), in key order.
    pub fn processes_by_index(
        &self,
        prefix: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<Process>, Error> {
        let mut out = Vec::new();
        let iter = self.index.prefix(prefix);
        let iter: Box<dyn Iterator<Item = fjall::Guard>> = if reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        for g in iter {
            if out.len() >= limit {
                break;
            }
            let key = g.key()?;
            if let Some(pid) = keys::trailing_pid(&key) {
                if let Some(p) = self.process(&pid)? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Every keyspace with its name: the fixed ones, then the channel segments.
    fn all_keyspaces(&self) -> Vec<(String, Keyspace)> {
        let mut spaces: Vec<(String, Keyspace)> = vec![
            ("meta".into(), self.meta.clone()),
            ("registry".into(), self.registry.clone()),
            ("processes".into(), self.processes.clone()),
            ("index".into(), self.index.clone()),
            ("logs".into(), self.logs.clone()),
            ("channels".into(), self.channels.clone()),
        ];
        for id in self.segments.ids() {
            if let Some(ks) = self.segments.get(id) {
                spaces.push((segments::name(id), ks));
            }
        }
        spaces
    }

    /// Writes every keyspace's memtable to table files and waits (the corruption tests damage
    /// tables, which only exist once memtables are flushed).
    pub fn flush_tables(&self) -> Result<(), Error> {
        for (_, ks) in self.all_keyspaces() {
            ks.rotate_memtable_and_wait()?;
        }
        Ok(())
    }

    /// Writes a consistent copy of everything durable into a new store at `target`: a logical
    /// copy through the durable snapshot (fjall has no checkpoint API, and copying files under
    /// a running compaction is not consistent). Returns the number of records copied.
    pub fn backup_to(&self, target: &Path) -> Result<u64, Error> {
        let snap = self.durable();
        let out = Database::builder(target)
            .cache_size(1 << 20)
            .worker_threads(1)
            .open()?;
        let mut n = 0u64;
        for (name, ks) in self.all_keyspaces() {
            let dst = out.keyspace(&name, KeyspaceCreateOptions::default)?;
            let mut batch = out.batch();
            let mut in_batch = 0usize;
            use fjall::Readable;
            for g in snap.iter(&ks) {
                let (k, v) = g.into_inner()?;
                batch.insert(&dst, k.to_vec(), v.to_vec());
                n += 1;
                in_batch += 1;
                if in_batch >= 10_000 {
                    std::mem::replace(&mut batch, out.batch()).commit()?;
                    in_batch = 0;
                }
            }
            batch.commit()?;
        }
        out.persist(fjall::PersistMode::SyncAll)?;
        // the backup's directory entries too (see "Directory entries and power cuts" above)
        sync_dir(&keyspaces_dir(target))?;
        sync_dir_and_parent(target)?;
        Ok(n)
    }

    /// Bytes used on disk by the store.
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_a_version_and_reject_garbage() {
        let c = Colony {
            colonyid: "x".into(),
            name: "dev".into(),
        };
        let bytes = encode(&c).unwrap();
        assert_eq!(bytes.first(), Some(&RECORD_VERSION));
        assert_eq!(decode::<Colony>(&bytes).unwrap(), c);
        for garbage in [&[][..], &[9, 1, 2], &[RECORD_VERSION, 200]] {
            let e = decode::<Colony>(garbage).unwrap_err();
            assert!(matches!(e, Error::Corrupt(_)), "{e}");
            assert_eq!(crate::protocol::ApiError::from(e).status, 500);
        }
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig::new(dir.path());
        {
            let s = Store::open(&cfg).unwrap();
            s.registry
                .insert(keys::colony("dev"), encode(&Colony::default()).unwrap())
                .unwrap();
            s.db().persist(fjall::PersistMode::SyncData).unwrap();
        }
        let s = Store::open(&cfg).unwrap();
        assert!(s.colony("dev").unwrap().is_some());
        assert!(s.colony("nope").unwrap().is_none());
    }
}
