//! Authorization (spec §3): who the signer is relative to a colony or process.
//!
//! Roles are checked from the registry; checks that depend on a process's current state
//! (assigned executor) live in [`crate::lifecycle`], inside the writer.

use crate::protocol::types::{executor_state, Colony, Executor, Process, User};
use crate::protocol::ApiError;
use crate::store::Store;

/// A member of a colony: an executor or a user.
#[derive(Debug, Clone)]
pub enum Member {
    /// A registered executor of the colony.
    Executor(Executor),
    /// A registered user of the colony.
    User(User),
}

impl Member {
    /// Executor or user name.
    pub fn name(&self) -> &str {
        match self {
            Member::Executor(e) => &e.executorname,
            Member::User(u) => &u.name,
        }
    }
}

/// Signer must be the server owner.
pub fn server_owner(server_id: &str, signer: &str) -> Result<(), ApiError> {
    if server_id == signer {
        Ok(())
    } else {
        Err(ApiError::forbidden("Access denied, not server owner"))
    }
}

/// Signer must own `colony`; returns the colony.
pub fn colony_owner(store: &Store, colony: &str, signer: &str) -> Result<Colony, ApiError> {
    if colony.is_empty() {
        return Err(ApiError::forbidden("Empty Colony name"));
    }
    let c = store.colony(colony)?.ok_or_else(|| {
        ApiError::forbidden(format!("Colony with name <{colony}> does not exists"))
    })?;
    if c.colonyid != signer {
        return Err(ApiError::forbidden("Access denied, not colony owner"));
    }
    Ok(c)
}

/// Signer must be an executor (approved, if `approved`) or a user of `colony`.
pub fn member(
    store: &Store,
    colony: &str,
    signer: &str,
    approved: bool,
) -> Result<Member, ApiError> {
    if let Some(e) = store.executor_by_id(signer)? {
        if e.colonyname == colony && (!approved || e.state == executor_state::APPROVED) {
            return Ok(Member::Executor(e));
        }
    }
    if let Some(u) = store.user_by_id(colony, signer)? {
        return Ok(Member::User(u));
    }
    if store.colony(colony)?.is_none() {
        return Err(ApiError::forbidden(format!(
            "Colony with name <{colony}> does not exists"
        )));
    }
    Err(ApiError::forbidden(format!(
        "Access denied, not a member of Colony with name <{colony}>"
    )))
}

/// Signer must be a user or an approved executor of `colony`, or its owner (blueprints, as
/// upstream's "membership, else ownership"). Returns the member, None for the owner.
pub fn member_or_owner(
    store: &Store,
    colony: &str,
    signer: &str,
) -> Result<Option<Member>, ApiError> {
    match member(store, colony, signer, true) {
        Ok(m) => Ok(Some(m)),
        Err(e) => match store.colony(colony)? {
            Some(c) if c.colonyid == signer => Ok(None),
            _ => Err(e),
        },
    }
}

/// Signer must be an approved executor of `colony` (assign, function registry).
pub fn approved_executor(store: &Store, colony: &str, signer: &str) -> Result<Executor, ApiError> {
    match member(store, colony, signer, true)? {
        Member::Executor(e) => Ok(e),
        Member::User(_) => Err(ApiError::forbidden(
            "Access denied, the signer is a user, not an executor",
        )),
    }
}

/// Whether `signer` may use the channels of `p`: its submitter, or the executor it is
/// assigned to (from assignment on; not after an execution timeout took it away).
pub fn may_use_channels(p: &Process, signer: &str) -> bool {
    p.initiatorid == signer || (p.isassigned && p.assignedexecutorid == signer)
}

/// [`may_use_channels`] inside the writer, as of the operation's view: reads the process's
/// channel writers record ([`crate::store::keys::channel_writers`]), falling back to the
/// process itself for a process stored before that record existed. A process that is gone
/// is "not found".
pub fn may_write_channels(
    txn: &crate::store::writer::Txn<'_>,
    pid: &str,
    signer: &str,
) -> Result<bool, ApiError> {
    use crate::store::keys;
    if let Some(v) = txn.store.channels.get(keys::channel_writers(pid))? {
        return Ok(keys::may_write_channels(&v, signer));
    }
    let p = txn
        .process(pid)?
        .ok_or_else(|| ApiError::not_found("Process not found"))?;
    Ok(may_use_channels(&p, signer))
}

/// Common checks of append, read and subscribe: process, membership, declared channel,
/// channel authorization. `verb` is `write to`, `read from` or `subscribe to`.
pub fn channel(
    store: &crate::store::Store,
    pid: &str,
    name: &str,
    signer: &str,
    verb: &str,
) -> Result<Process, ApiError> {
    let p = store
        .process(pid)?
        .ok_or_else(|| ApiError::not_found("Process not found"))?;
    member(store, p.colony(), signer, true)?;
    if !p.spec.channels.iter().any(|c| c == name) {
        return Err(ApiError::not_found("Channel not found"));
    }
    if !may_use_channels(&p, signer) {
        return Err(ApiError::forbidden(format!(
            "Not authorized to {verb} channel"
        )));
    }
    Ok(p)
}
