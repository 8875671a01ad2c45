//! ColonyFS files and snapshots (upstream `handlers/file`, `handlers/snapshot`): every call
//! needs an approved executor or a user of the colony, as upstream. A file's S3 credentials
//! are returned only through these calls, so only to members; nothing here logs a file.

use super::{check_name, empty, json, Ctx};
use crate::auth;
use crate::colonyfs;
use crate::protocol::msgs::{
    AddFileMsg, ColonyNameMsg, CreateSnapshotMsg, GetFileLabelsMsg, GetFileMsg, GetFilesMsg,
    RemoveFileMsg, SnapshotMsg,
};
use crate::protocol::ApiError;

/// Labels and names are key components: bounded, no zero byte (empty is allowed, as upstream).
fn check_part(what: &str, v: &str) -> Result<(), ApiError> {
    if v.len() > 1024 || v.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{what} must be at most 1024 bytes without zero bytes"
        )));
    }
    Ok(())
}

fn member(ctx: &Ctx<'_>, colony: &str) -> Result<(), ApiError> {
    auth::member(&ctx.state.store, colony, &ctx.signer, true).map(|_| ())
}

pub async fn add(ctx: &mut Ctx<'_>, m: AddFileMsg) -> Result<Vec<u8>, ApiError> {
    let mut f = m
        .file
        .ok_or_else(|| ApiError::bad_request("Failed to add file, msg.File is nil"))?;
    member(ctx, &f.colonyname)?;
    check_part("file label", &f.label)?;
    check_part("file name", &f.name)?;
    f.fileid = crate::crypto::random_id();
    let f = ctx
        .state
        .writer
        .run(move |txn| colonyfs::add(txn, f))
        .await?;
    json(&f)
}

/// Always a list: one revision by ID, or every revision of a label and name (newest first),
/// or only the newest.
pub fn get(ctx: &mut Ctx<'_>, m: GetFileMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    let store = &ctx.state.store;
    if !m.fileid.is_empty() {
        let f = colonyfs::file(store, &m.colonyname, &m.fileid)?
            .ok_or_else(|| ApiError::bad_request("Failed to get file"))?;
        return json(&[f]);
    }
    if m.label.is_empty() || m.name.is_empty() {
        return Err(ApiError::internal("malformatted get file msg"));
    }
    let mut files = colonyfs::revisions(store, &m.colonyname, &m.label, &m.name)?;
    if files.is_empty() {
        return Err(ApiError::not_found("Failed to get file"));
    }
    if m.latest {
        files.truncate(1);
    }
    json(&files)
}

pub fn list(ctx: &mut Ctx<'_>, m: GetFilesMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    json(&colonyfs::latest_per_name(
        &ctx.state.store,
        &m.colonyname,
        &m.label,
    )?)
}

/// `null` when nothing matches, as upstream.
pub fn labels(ctx: &mut Ctx<'_>, m: GetFileLabelsMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    let under = (!m.name.is_empty()).then_some(m.name.as_str());
    let exact = under.is_some() && m.exact;
    match colonyfs::labels(&ctx.state.store, &m.colonyname, under, exact)? {
        Some(l) => json(&l),
        None => Ok(b"null".to_vec()),
    }
}

/// Removing what is not there is not an error, as upstream.
pub async fn remove(ctx: &mut Ctx<'_>, m: RemoveFileMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    if m.fileid.is_empty() && (m.label.is_empty() || m.name.is_empty()) {
        return Err(ApiError::bad_request("malformatted remove file msg"));
    }
    ctx.state
        .writer
        .run(move |txn| {
            if m.fileid.is_empty() {
                colonyfs::remove_by_name(txn, &m.colonyname, &m.label, &m.name)
            } else {
                colonyfs::remove_by_id(txn, &m.colonyname, &m.fileid)
            }
        })
        .await?;
    empty()
}

pub async fn create_snapshot(ctx: &mut Ctx<'_>, m: CreateSnapshotMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    check_name("snapshot name", &m.name)?;
    check_part("snapshot label", &m.label)?;
    let id = crate::crypto::random_id();
    let s = ctx
        .state
        .writer
        .run(move |txn| colonyfs::create_snapshot(txn, &m.colonyname, &m.label, &m.name, id))
        .await?;
    json(&s)
}

pub fn get_snapshot(ctx: &mut Ctx<'_>, m: SnapshotMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    let store = &ctx.state.store;
    let s = if !m.snapshotid.is_empty() {
        colonyfs::snapshot(store, &m.colonyname, &m.snapshotid)?.ok_or_else(|| {
            ApiError::internal(format!(
                "Snapshot not found with Id <{}> in Colony <{}> does not exists",
                m.snapshotid, m.colonyname
            ))
        })?
    } else if !m.name.is_empty() {
        colonyfs::snapshot_by_name(store, &m.colonyname, &m.name)?.ok_or_else(|| {
            ApiError::internal(format!(
                "Snapshot not found with name <{}> in Colony <{}> does not exists",
                m.name, m.colonyname
            ))
        })?
    } else {
        return Err(ApiError::internal(
            "Failed to get snapshot, malformatted msg",
        ));
    };
    json(&s)
}

/// Newest first; `null` when there are none, as upstream.
pub fn snapshots(ctx: &mut Ctx<'_>, m: ColonyNameMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    let list = colonyfs::snapshots(&ctx.state.store, &m.colonyname)?;
    if list.is_empty() {
        return Ok(b"null".to_vec());
    }
    json(&list)
}

/// Removing a snapshot that is not there is not an error, as upstream.
pub async fn remove_snapshot(ctx: &mut Ctx<'_>, m: SnapshotMsg) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    if m.snapshotid.is_empty() && m.name.is_empty() {
        // upstream's spelling
        return Err(ApiError::internal(
            "Failed to remove snapsnot, malformatted msg",
        ));
    }
    ctx.state
        .writer
        .run(move |txn| {
            let s = if m.snapshotid.is_empty() {
                colonyfs::snapshot_by_name(txn.store, &m.colonyname, &m.name)?
            } else {
                colonyfs::snapshot(txn.store, &m.colonyname, &m.snapshotid)?
            };
            if let Some(s) = s {
                colonyfs::remove_snapshot(txn, &s);
            }
            Ok(())
        })
        .await?;
    empty()
}

pub async fn remove_all_snapshots(
    ctx: &mut Ctx<'_>,
    m: ColonyNameMsg,
) -> Result<Vec<u8>, ApiError> {
    member(ctx, &m.colonyname)?;
    ctx.state
        .writer
        .run(move |txn| colonyfs::remove_all_snapshots(txn, &m.colonyname))
        .await?;
    empty()
}
