//! `powercut-fs`: a FUSE filesystem that models a disk losing power.
//!
//! Every operation passes straight through to a backing directory, so a program running on
//! the mount sees an ordinary filesystem. Beside that, the daemon remembers what the disk has
//! not made durable yet:
//!
//! * file data: for each file, its size at its last `fsync`/`fdatasync` and the old contents
//!   of every page overwritten since (taken before the write);
//! * directory entries: every create, mkdir, unlink, rmdir and rename since the directory that
//!   holds it was fsynced (`--mode strict`, the POSIX rule); in `--mode ext4` an fsync of the
//!   file itself also makes its own creation or rename durable, as ext4 does in practice.
//!   Unlinked files are parked in a hidden directory until the unlink is durable.
//!
//! `cut` on the control socket is the power cut (`cut-at-fsync N`: the Nth fsync from now
//! cuts instead of completing, so the cut lands exactly between writes and their sync): under
//! the same lock every operation takes, the daemon rolls the backing directory back to exactly the durable state (old pages back,
//! sizes back, pending entry changes undone newest first), in `--mode torn` leaves the last
//! unsynced page of each file partly written, answers `ok …`, and exits; every operation the
//! program on the mount tries after that fails. The test then kills the program, unmounts, and
//! starts a fresh daemon on the same backing directory: everything in it is durable.
//!
//! Usage: `powercut-fs --backing DIR --mount DIR --control SOCKET [--mode ext4|strict|torn]
//! [--seed N] [--fsync-delay-ms N]`. Runs as root (mount(2) without fusermount). The delay
//! makes every fsync take that long, like a slow SD card, so that cuts land between a write
//! and the end of its sync more often.

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

const PAGE: u64 = 4096;
const TRASH: &str = ".powercut-trash";
/// The parent of parked (unlinked, not yet durably) files.
const TRASH_INO: u64 = u64::MAX;
const TTL: Duration = Duration::ZERO;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ext4,
    Strict,
    Torn,
}

/// Where an inode lives: its parent's inode and its name there.
#[derive(Clone)]
struct Node {
    parent: u64,
    name: OsString,
}

/// What is durable of one file's data.
#[derive(Default)]
struct FileState {
    durable_size: u64,
    /// Page index → the page's durable bytes (up to `durable_size`), saved before the first
    /// overwrite since the last sync.
    saved: BTreeMap<u64, Vec<u8>>,
    /// The last page written since the last sync (torn mode tears it).
    last_page: Option<u64>,
}

impl FileState {
    /// A file whose `size` bytes are all durable.
    fn synced(size: u64) -> FileState {
        FileState {
            durable_size: size,
            ..FileState::default()
        }
    }
}

/// A directory-entry change not yet durable.
enum Change {
    /// `name` was created in `parent` (a file or a directory).
    Created {
        parent: u64,
        name: OsString,
        dir: bool,
    },
    /// A file was unlinked from `parent`; it is parked as `trash` until that is durable.
    Unlinked {
        parent: u64,
        name: OsString,
        trash: OsString,
    },
    /// An empty directory was removed from `parent`.
    Rmdir { parent: u64, name: OsString },
    /// `from` was renamed to `to`; what `to` held before is parked as `replaced`.
    Renamed {
        from: (u64, OsString),
        to: (u64, OsString),
        replaced: Option<(u64, OsString)>,
    },
}

struct Pending {
    change: Change,
    /// Directories still to be fsynced before the change is durable.
    needs: HashSet<u64>,
    /// The inode whose own fsync makes the change durable in ext4 mode.
    subject: Option<u64>,
}

struct Inner {
    backing: PathBuf,
    mode: Mode,
    rng: u64,
    dead: bool,
    next_ino: u64,
    next_fh: u64,
    next_trash: u64,
    nodes: HashMap<u64, Node>,
    children: HashMap<(u64, OsString), u64>,
    handles: HashMap<u64, (u64, File)>,
    files: HashMap<u64, FileState>,
    pending: Vec<Pending>,
    stats: Stats,
    /// `cut-at-fsync N`: the Nth fsync from now cuts the power instead of completing, and
    /// the answer goes to the control connection that asked.
    armed: Option<(u64, std::sync::mpsc::Sender<String>)>,
}

#[derive(Default)]
struct Stats {
    writes: u64,
    fsyncs: u64,
    fsyncdirs: u64,
    entry_changes: u64,
}

type Res<T> = Result<T, Errno>;

fn errno(e: std::io::Error) -> Errno {
    Errno::from(e)
}

impl Inner {
    fn path(&self, ino: u64) -> Res<PathBuf> {
        if ino == INodeNo::ROOT.0 {
            return Ok(self.backing.clone());
        }
        if ino == TRASH_INO {
            return Ok(self.backing.join(TRASH));
        }
        let node = self.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        Ok(self.path(node.parent)?.join(&node.name))
    }

    fn child_path(&self, parent: u64, name: &OsStr) -> Res<PathBuf> {
        Ok(self.path(parent)?.join(name))
    }

    fn ino_for(&mut self, parent: u64, name: &OsStr) -> u64 {
        if let Some(ino) = self.children.get(&(parent, name.to_os_string())) {
            return *ino;
        }
        self.next_ino += 1;
        let ino = self.next_ino;
        self.bind(ino, parent, name);
        ino
    }

    fn bind(&mut self, ino: u64, parent: u64, name: &OsStr) {
        if let Some(old) = self.nodes.insert(
            ino,
            Node {
                parent,
                name: name.to_os_string(),
            },
        ) {
            self.children.remove(&(old.parent, old.name));
        }
        self.children.insert((parent, name.to_os_string()), ino);
    }

    fn unbind_name(&mut self, parent: u64, name: &OsStr) -> Option<u64> {
        let ino = self.children.remove(&(parent, name.to_os_string()))?;
        self.nodes.remove(&ino);
        Some(ino)
    }

    fn attr(&self, ino: u64) -> Res<FileAttr> {
        let md = fs::symlink_metadata(self.path(ino)?).map_err(errno)?;
        Ok(attr_of(ino, &md))
    }

    fn alive(&self) -> Res<()> {
        if self.dead {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    /// The durable state of `ino`'s data, from the file as it is now if not tracked yet
    /// (everything on the backing directory at mount time is durable).
    fn file_state(&mut self, ino: u64, file: &File) -> Res<&mut FileState> {
        match self.files.entry(ino) {
            std::collections::hash_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                let size = file.metadata().map_err(errno)?.len();
                Ok(v.insert(FileState::synced(size)))
            }
        }
    }

    /// Saves the durable bytes of every page in `[from, to)` not saved since the last sync.
    fn save_pages(&mut self, ino: u64, file: &File, from: u64, to: u64) -> Res<()> {
        let st = self.file_state(ino, file)?;
        let end = to.min(st.durable_size);
        if from >= end {
            return Ok(());
        }
        for page in from / PAGE..=(end - 1) / PAGE {
            if st.saved.contains_key(&page) {
                continue;
            }
            let start = page * PAGE;
            let len = (st.durable_size - start).min(PAGE);
            let mut buf = vec![0u8; usize::try_from(len).map_err(|_| Errno::EIO)?];
            file.read_exact_at(&mut buf, start).map_err(errno)?;
            st.saved.insert(page, buf);
        }
        Ok(())
    }

    fn record(&mut self, change: Change, needs: &[u64], subject: Option<u64>) {
        self.stats.entry_changes += 1;
        self.pending.push(Pending {
            change,
            needs: needs.iter().copied().collect(),
            subject,
        });
    }

    /// Drops changes that became durable; removes what they parked.
    fn settle(&mut self) {
        let mut keep = Vec::with_capacity(self.pending.len());
        for p in std::mem::take(&mut self.pending) {
            if !p.needs.is_empty() {
                keep.push(p);
                continue;
            }
            let parked = match &p.change {
                Change::Unlinked { trash, .. } => Some(trash.clone()),
                Change::Renamed {
                    replaced: Some((_, trash)),
                    ..
                } => Some(trash.clone()),
                _ => None,
            };
            if let Some(t) = parked {
                let path = self.backing.join(TRASH).join(&t);
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
                if let Some(ino) = self.unbind_name(TRASH_INO, &t) {
                    self.files.remove(&ino);
                }
            }
        }
        self.pending = keep;
    }

    /// Counts an fsync against an armed cut; cuts (and fails the fsync) when it is due.
    fn trip(&mut self) -> Res<()> {
        let Some((left, _)) = self.armed.as_mut() else {
            return Ok(());
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Ok(());
        }
        let answer = self.cut();
        if let Some((_, tell)) = self.armed.take() {
            let _ = tell.send(answer);
        }
        Err(Errno::EIO)
    }

    fn fsync_file(&mut self, ino: u64) -> Res<()> {
        self.trip()?;
        self.stats.fsyncs += 1;
        let path = self.path(ino)?;
        let size = fs::metadata(&path).map_err(errno)?.len();
        self.files.insert(ino, FileState::synced(size));
        if self.mode == Mode::Ext4 {
            for p in &mut self.pending {
                if p.subject == Some(ino) {
                    p.needs.clear();
                }
            }
            self.settle();
        }
        Ok(())
    }

    fn fsync_dir(&mut self, ino: u64) -> Res<()> {
        self.trip()?;
        self.stats.fsyncdirs += 1;
        for p in &mut self.pending {
            p.needs.remove(&ino);
            if self.mode == Mode::Ext4 && p.subject == Some(ino) {
                p.needs.clear();
            }
        }
        self.settle();
        Ok(())
    }

    fn park(&mut self, path: &Path) -> Res<OsString> {
        self.next_trash += 1;
        let name = OsString::from(self.next_trash.to_string());
        fs::rename(path, self.backing.join(TRASH).join(&name)).map_err(errno)?;
        Ok(name)
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: reproducible from --seed
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn describe(&self, c: &Change) -> String {
        let at = |parent: u64, name: &OsStr| {
            self.child_path(parent, name)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| format!("?/{}", name.to_string_lossy()))
        };
        match c {
            Change::Created { parent, name, dir } => {
                format!(
                    "{} {}",
                    if *dir { "mkdir" } else { "create" },
                    at(*parent, name)
                )
            }
            Change::Unlinked { parent, name, .. } => format!("unlink {}", at(*parent, name)),
            Change::Rmdir { parent, name } => format!("rmdir {}", at(*parent, name)),
            Change::Renamed { from, to, .. } => {
                format!("rename {} -> {}", at(from.0, &from.1), at(to.0, &to.1))
            }
        }
    }

    /// The power cut: the backing directory becomes exactly what was durable.
    fn cut(&mut self) -> String {
        self.dead = true;
        self.handles.clear();
        let mut restored = 0;
        let mut torn = 0;
        let files: Vec<(u64, FileState)> = self.files.drain().collect();
        for (ino, st) in files {
            if st.saved.is_empty() && st.last_page.is_none() {
                continue;
            }
            let Ok(path) = self.path(ino) else { continue };
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            let tear = match (self.mode, st.last_page) {
                (Mode::Torn, Some(page)) if page * PAGE <= st.durable_size => {
                    let mut now = vec![0u8; PAGE as usize];
                    let n = file.read_at(&mut now, page * PAGE).unwrap_or(0);
                    now.truncate(n);
                    let sectors = (n / 512).max(2) as u64;
                    let keep = if n < 1024 {
                        n / 2
                    } else {
                        ((1 + self.next_rand() % (sectors - 1)) * 512) as usize
                    };
                    now.truncate(keep.min(n));
                    Some((page * PAGE, now))
                }
                _ => None,
            };
            for (page, bytes) in &st.saved {
                let _ = file.write_all_at(bytes, page * PAGE);
            }
            let _ = file.set_len(st.durable_size);
            if let Some((at, bytes)) = tear {
                if !bytes.is_empty() {
                    let _ = file.write_all_at(&bytes, at);
                    torn += 1;
                }
            }
            restored += 1;
        }
        let mut undone = 0;
        while let Some(p) = self.pending.pop() {
            undone += 1;
            eprintln!("powercut-fs: undo {}", self.describe(&p.change));
            match p.change {
                Change::Created { parent, name, dir } => {
                    if let Ok(path) = self.child_path(parent, &name) {
                        let _ = if dir {
                            fs::remove_dir_all(&path)
                        } else {
                            fs::remove_file(&path)
                        };
                    }
                }
                Change::Unlinked {
                    parent,
                    name,
                    trash,
                    ..
                } => {
                    if let Ok(path) = self.child_path(parent, &name) {
                        let _ = fs::rename(self.backing.join(TRASH).join(&trash), path);
                    }
                }
                Change::Rmdir { parent, name } => {
                    if let Ok(path) = self.child_path(parent, &name) {
                        let _ = fs::create_dir(path);
                    }
                }
                Change::Renamed {
                    from, to, replaced, ..
                } => {
                    if let (Ok(f), Ok(t)) = (
                        self.child_path(from.0, &from.1),
                        self.child_path(to.0, &to.1),
                    ) {
                        let _ = fs::rename(&t, &f);
                        if let Some((_, trash)) = replaced {
                            let _ = fs::rename(self.backing.join(TRASH).join(&trash), &t);
                        }
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(self.backing.join(TRASH));
        format!(
            "ok files_restored={restored} torn_pages={torn} entry_changes_undone={undone} writes={} fsyncs={} fsyncdirs={} entry_changes={}",
            self.stats.writes, self.stats.fsyncs, self.stats.fsyncdirs, self.stats.entry_changes
        )
    }
}

fn attr_of(ino: u64, md: &fs::Metadata) -> FileAttr {
    let kind = FileType::from_std(md.file_type()).unwrap_or(FileType::RegularFile);
    let t = |s: i64, ns: i64| {
        UNIX_EPOCH
            + Duration::from_secs(u64::try_from(s).unwrap_or(0))
            + Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
    };
    FileAttr {
        ino: INodeNo(ino),
        size: md.len(),
        blocks: md.blocks(),
        atime: t(md.atime(), md.atime_nsec()),
        mtime: t(md.mtime(), md.mtime_nsec()),
        ctime: t(md.ctime(), md.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind,
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

struct PowerCut {
    inner: Arc<Mutex<Inner>>,
    fsync_delay: Duration,
}

impl PowerCut {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

macro_rules! reply {
    ($reply:ident, $body:expr, |$v:ident| $ok:expr) => {
        match $body {
            Ok($v) => $ok,
            Err(e) => $reply.error(e),
        }
    };
}

impl Filesystem for PowerCut {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            if parent == INodeNo::ROOT && name == TRASH {
                return Err(Errno::ENOENT);
            }
            let md = fs::symlink_metadata(s.child_path(parent.0, name)?).map_err(errno)?;
            let ino = s.ino_for(parent.0, name);
            Ok(attr_of(ino, &md))
        })();
        reply!(reply, r, |a| reply.entry(&TTL, &a, Generation(0)));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.lock();
        let r = s.alive().and_then(|_| s.attr(ino.0));
        reply!(reply, r, |a| reply.attr(&TTL, &a));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.path(ino.0)?;
            if let Some(m) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(m & 0o7777))
                    .map_err(errno)?;
            }
            if let Some(len) = size {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(errno)?;
                let durable = s.file_state(ino.0, &file)?.durable_size;
                if len < durable {
                    s.save_pages(ino.0, &file, len, durable)?;
                }
                file.set_len(len).map_err(errno)?;
                let st = s.file_state(ino.0, &file)?;
                st.last_page = st.last_page.or(Some(len / PAGE));
            }
            s.attr(ino.0)
        })();
        reply!(reply, r, |a| reply.attr(&TTL, &a));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.child_path(parent.0, name)?;
            fs::create_dir(&path).map_err(errno)?;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode & !umask & 0o7777));
            let ino = s.ino_for(parent.0, name);
            s.record(
                Change::Created {
                    parent: parent.0,
                    name: name.to_os_string(),
                    dir: true,
                },
                &[parent.0],
                Some(ino),
            );
            s.attr(ino)
        })();
        reply!(reply, r, |a| reply.entry(&TTL, &a, Generation(0)));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.child_path(parent.0, name)?;
            fs::symlink_metadata(&path).map_err(errno)?;
            let ino = s.ino_for(parent.0, name);
            let trash = s.park(&path)?;
            s.bind(ino, TRASH_INO, &trash);
            s.record(
                Change::Unlinked {
                    parent: parent.0,
                    name: name.to_os_string(),
                    trash,
                },
                &[parent.0],
                None,
            );
            Ok(())
        })();
        reply!(reply, r, |_v| reply.ok());
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.child_path(parent.0, name)?;
            fs::remove_dir(&path).map_err(errno)?;
            s.unbind_name(parent.0, name);
            s.record(
                Change::Rmdir {
                    parent: parent.0,
                    name: name.to_os_string(),
                },
                &[parent.0],
                None,
            );
            Ok(())
        })();
        reply!(reply, r, |_v| reply.ok());
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            if flags.bits() & !libc::RENAME_NOREPLACE != 0 {
                return Err(Errno::EINVAL);
            }
            let from = s.child_path(parent.0, name)?;
            let to = s.child_path(newparent.0, newname)?;
            fs::symlink_metadata(&from).map_err(errno)?;
            let ino = s.ino_for(parent.0, name);
            let replaced = if fs::symlink_metadata(&to).is_ok() {
                if flags.bits() & libc::RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                let old = s.ino_for(newparent.0, newname);
                let trash = s.park(&to)?;
                s.bind(old, TRASH_INO, &trash);
                Some((old, trash))
            } else {
                None
            };
            if let Err(e) = fs::rename(&from, &to) {
                if let Some((old, trash)) = &replaced {
                    let _ = fs::rename(s.backing.join(TRASH).join(trash), &to);
                    s.bind(*old, newparent.0, newname);
                }
                return Err(errno(e));
            }
            s.bind(ino, newparent.0, newname);
            s.record(
                Change::Renamed {
                    from: (parent.0, name.to_os_string()),
                    to: (newparent.0, newname.to_os_string()),
                    replaced,
                },
                &[parent.0, newparent.0],
                Some(ino),
            );
            Ok(())
        })();
        reply!(reply, r, |_v| reply.ok());
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.path(ino.0)?;
            let mut o = OpenOptions::new();
            match flags.acc_mode() {
                OpenAccMode::O_RDONLY => o.read(true),
                // read too: the old contents of a page are read before it is overwritten
                OpenAccMode::O_WRONLY => o.read(true).write(true),
                OpenAccMode::O_RDWR => o.read(true).write(true),
            };
            // no O_APPEND (pwrite must honour the kernel's offsets), no O_DIRECT, no O_TRUNC
            // (a truncation arrives as setattr)
            let file = o.open(&path).map_err(errno)?;
            s.file_state(ino.0, &file)?;
            if flags.0 & libc::O_TRUNC != 0 {
                let durable = s.file_state(ino.0, &file)?.durable_size;
                s.save_pages(ino.0, &file, 0, durable)?;
                file.set_len(0).map_err(errno)?;
            }
            s.next_fh += 1;
            let fh = s.next_fh;
            s.handles.insert(fh, (ino.0, file));
            Ok(fh)
        })();
        reply!(reply, r, |fh| reply
            .opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO));
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.lock();
        let r = (|| {
            s.alive()?;
            let (_, file) = s.handles.get(&fh.0).ok_or(Errno::EBADF)?;
            let mut buf = vec![0u8; size as usize];
            let mut got = 0;
            while got < buf.len() {
                let rest = buf.get_mut(got..).ok_or(Errno::EIO)?;
                let n = file.read_at(rest, offset + got as u64).map_err(errno)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            buf.truncate(got);
            Ok(buf)
        })();
        reply!(reply, r, |b| reply.data(&b));
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let file = s
                .handles
                .get(&fh.0)
                .ok_or(Errno::EBADF)?
                .1
                .try_clone()
                .map_err(errno)?;
            let end = offset + data.len() as u64;
            s.save_pages(ino.0, &file, offset, end)?;
            file.write_all_at(data, offset).map_err(errno)?;
            s.stats.writes += 1;
            if !data.is_empty() {
                s.file_state(ino.0, &file)?.last_page = Some((end - 1) / PAGE);
            }
            Ok(data.len() as u32)
        })();
        reply!(reply, r, |n| reply.written(n));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let s = self.lock();
        reply!(reply, s.alive(), |_v| reply.ok());
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // a slow disk: the data is not durable until the sync returns, so a cut meanwhile
        // loses it (the lock is not held while waiting)
        std::thread::sleep(self.fsync_delay);
        let mut s = self.lock();
        let r = s.alive().and_then(|_| s.fsync_file(ino.0));
        reply!(reply, r, |_v| reply.ok());
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let s = self.lock();
        let r = s.alive().and_then(|_| s.path(ino.0)).and_then(|p| {
            if p.is_dir() {
                Ok(())
            } else {
                Err(Errno::ENOTDIR)
            }
        });
        reply!(reply, r, |_v| reply
            .opened(FileHandle(0), FopenFlags::empty()));
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.path(ino.0)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (ino.0, FileType::Directory, OsString::from("..")),
            ];
            let mut names: Vec<(OsString, FileType)> = fs::read_dir(&path)
                .map_err(errno)?
                .filter_map(Result::ok)
                .filter(|e| !(ino == INodeNo::ROOT && e.file_name() == TRASH))
                .map(|e| {
                    let kind = e
                        .file_type()
                        .ok()
                        .and_then(FileType::from_std)
                        .unwrap_or(FileType::RegularFile);
                    (e.file_name(), kind)
                })
                .collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, kind) in names {
                let child = s.ino_for(ino.0, &name);
                entries.push((child, kind, name));
            }
            Ok(entries)
        })();
        match r {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        std::thread::sleep(self.fsync_delay);
        let mut s = self.lock();
        let r = s.alive().and_then(|_| s.fsync_dir(ino.0));
        reply!(reply, r, |_v| reply.ok());
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.lock();
        let r = (|| {
            s.alive()?;
            statvfs(&s.backing)
        })();
        reply!(reply, r, |st| reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32
        ));
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        let s = self.lock();
        reply!(reply, s.alive(), |_v| reply.ok());
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let path = s.child_path(parent.0, name)?;
            let existed = fs::symlink_metadata(&path).is_ok();
            if existed && flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(mode & !umask & 0o7777)
                .open(&path)
                .map_err(errno)?;
            let ino = s.ino_for(parent.0, name);
            if existed {
                s.file_state(ino, &file)?;
                if flags & libc::O_TRUNC != 0 {
                    let durable = s.file_state(ino, &file)?.durable_size;
                    s.save_pages(ino, &file, 0, durable)?;
                    file.set_len(0).map_err(errno)?;
                }
            } else {
                s.files.insert(ino, FileState::synced(0));
                s.record(
                    Change::Created {
                        parent: parent.0,
                        name: name.to_os_string(),
                        dir: false,
                    },
                    &[parent.0],
                    Some(ino),
                );
            }
            let attr = attr_of(ino, &file.metadata().map_err(errno)?);
            s.next_fh += 1;
            let fh = s.next_fh;
            s.handles.insert(fh, (ino, file));
            Ok((attr, fh))
        })();
        reply!(reply, r, |v| reply.created(
            &TTL,
            &v.0,
            Generation(0),
            FileHandle(v.1),
            FopenFlags::FOPEN_DIRECT_IO
        ));
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        let r = (|| {
            s.alive()?;
            let file = s
                .handles
                .get(&fh.0)
                .ok_or(Errno::EBADF)?
                .1
                .try_clone()
                .map_err(errno)?;
            if mode != 0 && mode != libc::FALLOC_FL_KEEP_SIZE {
                // punching or zeroing changes contents: keep what it overwrites
                s.save_pages(ino.0, &file, offset, offset + length)?;
            }
            fallocate(&file, mode, offset, length)
        })();
        reply!(reply, r, |_v| reply.ok());
    }
}

/// statvfs(3) of `path`.
fn statvfs(path: &Path) -> Res<libc::statvfs> {
    let c =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: statvfs is a C struct of integers, for which all-zero bytes are a valid value
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a valid, writable statvfs
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc == 0 {
        Ok(st)
    } else {
        Err(errno(std::io::Error::last_os_error()))
    }
}

fn fallocate(file: &File, mode: i32, offset: u64, length: u64) -> Res<()> {
    let off = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    let len = i64::try_from(length).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid open descriptor; fallocate only reads its integer arguments
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, off, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno(std::io::Error::last_os_error()))
    }
}

/// Serves `cut` and `stats` on the control socket.
fn control(listener: UnixListener, inner: Arc<Mutex<Inner>>) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let Ok(read) = conn.try_clone() else { continue };
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            let mut s = inner.lock().unwrap_or_else(|e| e.into_inner());
            let line = line.trim();
            if let Some(n) = line.strip_prefix("cut-at-fsync ") {
                let Ok(n) = n.parse::<u64>() else {
                    let _ = writeln!(conn, "error: cut-at-fsync takes a count");
                    continue;
                };
                let (tell, told) = std::sync::mpsc::channel();
                s.armed = Some((n.max(1), tell));
                drop(s);
                let Ok(answer) = told.recv() else { continue };
                eprintln!("powercut-fs: cut at an fsync: {answer}");
                let _ = writeln!(conn, "{answer}");
                let _ = conn.flush();
                std::process::exit(0);
            }
            match line {
                "cut" => {
                    let answer = s.cut();
                    eprintln!("powercut-fs: cut ({:?}): {answer}", s.mode);
                    let _ = writeln!(conn, "{answer}");
                    let _ = conn.flush();
                    // exiting closes /dev/fuse: every later operation on the mount fails
                    std::process::exit(0);
                }
                "stats" => {
                    let _ = writeln!(
                        conn,
                        "ok writes={} fsyncs={} fsyncdirs={} entry_changes={} pending={}",
                        s.stats.writes,
                        s.stats.fsyncs,
                        s.stats.fsyncdirs,
                        s.stats.entry_changes,
                        s.pending.len()
                    );
                }
                other => {
                    let _ = writeln!(
                        conn,
                        "error: unknown command {other:?} (cut, cut-at-fsync N, stats)"
                    );
                }
            }
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: powercut-fs --backing DIR --mount DIR --control SOCKET [--mode ext4|strict|torn] [--seed N] [--fsync-delay-ms N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut backing = None;
    let mut mount = None;
    let mut control_path = None;
    let mut mode = Mode::Strict;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut fsync_delay = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--backing" => backing = Some(PathBuf::from(v())),
            "--mount" => mount = Some(PathBuf::from(v())),
            "--control" => control_path = Some(PathBuf::from(v())),
            "--mode" => {
                mode = match v().as_str() {
                    "ext4" => Mode::Ext4,
                    "strict" => Mode::Strict,
                    "torn" => Mode::Torn,
                    _ => usage(),
                }
            }
            "--fsync-delay-ms" => {
                fsync_delay = Duration::from_millis(v().parse::<u64>().unwrap_or_else(|_| usage()))
            }
            "--seed" => seed = v().parse::<u64>().unwrap_or_else(|_| usage()).max(1),
            _ => usage(),
        }
    }
    let (Some(backing), Some(mount), Some(control_path)) = (backing, mount, control_path) else {
        usage()
    };
    let backing = match backing.canonicalize() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("powercut-fs: backing directory {}: {e}", backing.display());
            std::process::exit(1)
        }
    };
    // whatever a previous daemon parked and never settled: the state on disk is durable now
    let _ = fs::remove_dir_all(backing.join(TRASH));
    if let Err(e) = fs::create_dir(backing.join(TRASH)) {
        eprintln!("powercut-fs: cannot create {TRASH}: {e}");
        std::process::exit(1)
    }
    let _ = fs::remove_file(&control_path);
    let listener = match UnixListener::bind(&control_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "powercut-fs: control socket {}: {e}",
                control_path.display()
            );
            std::process::exit(1)
        }
    };
    let inner = Arc::new(Mutex::new(Inner {
        backing,
        mode,
        rng: seed,
        dead: false,
        next_ino: 1,
        next_fh: 0,
        next_trash: 0,
        nodes: HashMap::new(),
        children: HashMap::new(),
        handles: HashMap::new(),
        files: HashMap::new(),
        pending: Vec::new(),
        stats: Stats::default(),
        armed: None,
    }));
    let c = inner.clone();
    std::thread::spawn(move || control(listener, c));
    let mut cfg = Config::default();
    cfg.mount_options = vec![MountOption::FSName("powercut".into())];
    eprintln!(
        "powercut-fs: mounting {} on {} (mode {mode:?}, seed {seed})",
        inner
            .lock()
            .map(|s| s.backing.display().to_string())
            .unwrap_or_default(),
        mount.display()
    );
    if let Err(e) = fuser::mount(PowerCut { inner, fsync_delay }, &mount, &cfg) {
        eprintln!("powercut-fs: mount {}: {e}", mount.display());
        std::process::exit(1)
    }
}
