//! ColonyFS metadata (upstream `pkg/core/file.go`, `snapshot.go`, `database/postgresql/
//! files.go`, `snapshots.go`): file revisions and snapshots. The server never touches the
//! bytes; clients move them to and from an S3-compatible store and register them here.
//!
//! Storage (key layout in [`crate::store::keys`]): a revision is `x‖file-id` → [`File`] with a
//! `X‖colony\0label\0name\0‖u64be(seq)` → file-id index entry, so the revisions of a name are
//! in sequence order, the names of a label are grouped, and labels are listed and matched by
//! prefix from one scan. `seq` is one counter for the whole server (`meta` `file-seq`), as
//! upstream's `FILE_SEQ`. A snapshot is `y‖snapshot-id` → [`Snapshot`] with
//! `Y‖colony\0name` → snapshot-id (names are unique per colony).

use crate::protocol::time::Timestamp;
use crate::protocol::types::{File, FileData, FileLabel, Snapshot};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{keys, Store};
use std::collections::BTreeMap;

const FILE_SEQ: &[u8] = b"file-seq";

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The file with this ID in `colony`.
pub fn file(store: &Store, colony: &str, id: &str) -> Result<Option<File>, ApiError> {
    let f: Option<File> = store.get(&store.registry, &keys::file(id))?;
    Ok(f.filter(|f| f.colonyname == colony).map(outgoing))
}

/// As upstream reads it back: the protocol is always `s3`.
fn outgoing(mut f: File) -> File {
    f.reference.protocol = "s3".to_string();
    f
}

/// Registers a revision: the server sets its ID (given), sequence number and time.
pub fn add(txn: &mut Txn<'_>, mut f: File) -> Result<File, ApiError> {
    let meta = txn.store.meta.clone();
    let seq = match meta.get(FILE_SEQ)? {
        Some(v) => <[u8; 8]>::try_from(&v[..])
            .map(u64::from_be_bytes)
            .map_err(|_| crate::store::Error::Damaged("meta file-seq is not 8 bytes".into()))?,
        None => 0,
    }
    .saturating_add(1);
    txn.put_raw(&meta, FILE_SEQ.to_vec(), seq.to_be_bytes().to_vec());
    f.sequencenr = i64::try_from(seq).unwrap_or(i64::MAX);
    f.added = Timestamp(txn.now);
    let reg = txn.store.registry.clone();
    txn.put_raw(
        &reg,
        keys::file_revision(&f.colonyname, &f.label, &f.name, seq),
        f.fileid.clone().into_bytes(),
    );
    txn.put(&reg, keys::file(&f.fileid), &f)?;
    Ok(outgoing(f))
}

/// Every revision of `label`/`name`, newest first.
pub fn revisions(
    store: &Store,
    colony: &str,
    label: &str,
    name: &str,
) -> Result<Vec<File>, ApiError> {
    let mut out = Vec::new();
    for g in store
        .registry
        .prefix(keys::file_revisions(colony, label, Some(name)))
        .rev()
    {
        let (_, id) = g.into_inner()?;
        if let Some(f) = file(store, colony, &utf8(&id))? {
            out.push(f);
        }
    }
    Ok(out)
}

/// The newest revision of each name under exactly `label`.
pub fn latest_per_name(
    store: &Store,
    colony: &str,
    label: &str,
) -> Result<Vec<FileData>, ApiError> {
    let prefix = keys::file_revisions(colony, label, None);
    let mut newest: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for g in store.registry.prefix(&prefix) {
        let (k, id) = g.into_inner()?;
        // key: prefix ‖ name \0 ‖ seq(8): keep the last (newest) per name
        let rest = k.get(prefix.len()..).unwrap_or_default();
        let name = rest.get(..rest.len().saturating_sub(9)).unwrap_or_default();
        newest.insert(name.to_vec(), id.to_vec());
    }
    let mut out = Vec::new();
    for id in newest.values() {
        if let Some(f) = file(store, colony, &utf8(id))? {
            out.push(FileData {
                name: f.name,
                checksum: f.checksum,
                size: f.size,
                s3filename: f.reference.s3object.object,
            });
        }
    }
    Ok(out)
}

/// Labels with their revision counts, in label order: every label of the colony (`under`
/// None), those starting with `under` (`exact` false: a plain prefix, as upstream's `LIKE`),
/// or `under` itself and its sub-labels (`exact`: None when `under` itself has no file, as
/// upstream).
pub fn labels(
    store: &Store,
    colony: &str,
    under: Option<&str>,
    exact: bool,
) -> Result<Option<Vec<FileLabel>>, ApiError> {
    let base = keys::file_revisions(colony, "", None);
    let base = base
        .get(..base.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec();
    let mut prefix = base.clone();
    prefix.extend_from_slice(under.unwrap_or("").as_bytes());
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for g in store.registry.prefix(&prefix) {
        let k = g.key()?;
        let rest = k.get(base.len()..).unwrap_or_default();
        let label = rest.split(|b| *b == 0).next().unwrap_or_default();
        *counts.entry(utf8(label)).or_insert(0) += 1;
    }
    if let (Some(u), true) = (under, exact) {
        if !counts.contains_key(u) {
            return Ok(None);
        }
        let sub = format!("{u}/");
        counts.retain(|l, _| l == u || l.starts_with(&sub));
    }
    let list: Vec<FileLabel> = counts
        .into_iter()
        .map(|(name, files)| FileLabel { name, files })
        .collect();
    Ok((!list.is_empty()).then_some(list))
}

fn remove_revision(txn: &mut Txn<'_>, f: &File) {
    let reg = txn.store.registry.clone();
    let seq = u64::try_from(f.sequencenr).unwrap_or(0);
    txn.remove(
        &reg,
        keys::file_revision(&f.colonyname, &f.label, &f.name, seq),
    );
    txn.remove(&reg, keys::file(&f.fileid));
}

/// Removes one revision (nothing if there is none).
pub fn remove_by_id(txn: &mut Txn<'_>, colony: &str, id: &str) -> Result<(), ApiError> {
    if let Some(f) = file(txn.store, colony, id)? {
        remove_revision(txn, &f);
    }
    Ok(())
}

/// Removes every revision of `label`/`name`.
pub fn remove_by_name(
    txn: &mut Txn<'_>,
    colony: &str,
    label: &str,
    name: &str,
) -> Result<(), ApiError> {
    for f in revisions(txn.store, colony, label, name)? {
        remove_revision(txn, &f);
    }
    Ok(())
}

/// Freezes the newest revision of every file under `label` (one trailing `/` dropped) and its
/// sub-labels as snapshot `name`.
pub fn create_snapshot(
    txn: &mut Txn<'_>,
    colony: &str,
    label: &str,
    name: &str,
    id: String,
) -> Result<Snapshot, ApiError> {
    let reg = txn.store.registry.clone();
    let name_key = keys::snapshot_name(colony, Some(name));
    if reg.get(&name_key)?.is_some() {
        return Err(ApiError::internal(format!(
            "Snapshot with name <{name}> in Colony <{colony}> already exists"
        )));
    }
    let label = label.strip_suffix('/').unwrap_or(label);
    let mut ids = Vec::new();
    for l in labels(txn.store, colony, Some(label), true)?.unwrap_or_default() {
        for d in latest_per_name(txn.store, colony, &l.name)? {
            if let Some(f) = revisions(txn.store, colony, &l.name, &d.name)?
                .into_iter()
                .next()
            {
                ids.push(f.fileid);
            }
        }
    }
    let s = Snapshot {
        snapshotid: id,
        colonyname: colony.to_string(),
        label: label.to_string(),
        name: name.to_string(),
        fileids: (!ids.is_empty()).then_some(ids),
        added: Timestamp(txn.now),
    };
    txn.put_raw(&reg, name_key, s.snapshotid.clone().into_bytes());
    txn.put(&reg, keys::snapshot(&s.snapshotid), &s)?;
    Ok(s)
}

/// A snapshot of `colony` by ID.
pub fn snapshot(store: &Store, colony: &str, id: &str) -> Result<Option<Snapshot>, ApiError> {
    let s: Option<Snapshot> = store.get(&store.registry, &keys::snapshot(id))?;
    Ok(s.filter(|s| s.colonyname == colony))
}

/// A snapshot of `colony` by name.
pub fn snapshot_by_name(
    store: &Store,
    colony: &str,
    name: &str,
) -> Result<Option<Snapshot>, ApiError> {
    match store
        .registry
        .get(keys::snapshot_name(colony, Some(name)))?
    {
        Some(id) => snapshot(store, colony, &utf8(&id)),
        None => Ok(None),
    }
}

/// A colony's snapshots, newest first.
pub fn snapshots(store: &Store, colony: &str) -> Result<Vec<Snapshot>, ApiError> {
    let mut out = Vec::new();
    for g in store.registry.prefix(keys::snapshot_name(colony, None)) {
        let (_, id) = g.into_inner()?;
        if let Some(s) = snapshot(store, colony, &utf8(&id))? {
            out.push(s);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.added.0));
    Ok(out)
}

/// Removes a snapshot (its files stay).
pub fn remove_snapshot(txn: &mut Txn<'_>, s: &Snapshot) {
    let reg = txn.store.registry.clone();
    txn.remove(&reg, keys::snapshot_name(&s.colonyname, Some(&s.name)));
    txn.remove(&reg, keys::snapshot(&s.snapshotid));
}

/// Removes every snapshot of a colony.
pub fn remove_all_snapshots(txn: &mut Txn<'_>, colony: &str) -> Result<(), ApiError> {
    for s in snapshots(txn.store, colony)? {
        remove_snapshot(txn, &s);
    }
    Ok(())
}

/// Removes every file revision and snapshot of a colony (with the colony).
pub fn remove_colony(txn: &mut Txn<'_>, colony: &str) -> Result<(), ApiError> {
    remove_all_snapshots(txn, colony)?;
    let base = keys::file_revisions(colony, "", None);
    let base = base
        .get(..base.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec();
    let reg = txn.store.registry.clone();
    for g in txn.store.registry.prefix(&base) {
        let (k, id) = g.into_inner()?;
        txn.remove(&reg, keys::file(&utf8(&id)));
        txn.remove(&reg, k.to_vec());
    }
    Ok(())
}
