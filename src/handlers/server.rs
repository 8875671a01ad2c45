//! Server-level RPCs (spec §4.9): version, server info, owner and ID changes.

use super::{check_id, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{
    BackupMsg, ChangeColonyIdMsg, ChangeExecutorIdMsg, ChangeServerIdMsg, ChangeUserIdMsg, EmptyMsg,
};
use crate::protocol::ApiError;
use crate::store::keys;
use serde::Serialize;

pub fn version(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Version {
        buildversion: String,
        buildtime: String,
        msgtype: &'static str,
    }
    let info = ctx.state.info.read().map(|g| g.clone()).unwrap_or_default();
    json(&Version {
        buildversion: info.build_version,
        buildtime: info.build_time,
        msgtype: "versionmsg",
    })
}

pub fn info(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Backend {
        r#type: &'static str,
        port: u16,
        host: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        tls: bool,
    }
    #[derive(Serialize)]
    struct Info {
        buildversion: String,
        buildtime: String,
        backends: Vec<Backend>,
    }
    let info = ctx.state.info.read().map(|g| g.clone()).unwrap_or_default();
    json(&Info {
        buildversion: info.build_version,
        buildtime: info.build_time,
        backends: vec![Backend {
            r#type: "http",
            port: info.port,
            host: info.host,
            tls: info.tls,
        }],
    })
}

/// `getclustermsg`: this one node, shaped as upstream's etcd cluster (its ports are those of
/// etcd, which colonyd does not have: 0), and the leader is the node itself, so
/// `colonies cluster info` prints this server as the leader.
pub fn cluster(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let info = ctx.state.info.read().map(|g| g.clone()).unwrap_or_default();
    let node = crate::protocol::types::ClusterNode {
        name: "colonyd".to_string(),
        host: info.host,
        port: 0,
        peerport: 0,
        relayport: 0,
        apiport: info.port,
    };
    json(&crate::protocol::types::Cluster {
        nodes: vec![node.clone()],
        leader: node,
    })
}

pub async fn change_server_id(
    ctx: &mut Ctx<'_>,
    m: ChangeServerIdMsg,
) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    check_id("server Id", &m.serverid)?;
    ctx.state.change_server_id(m.serverid.clone()).await?;
    json(&serde_json::json!({"msgtype": "changeserveridmsg", "serverid": m.serverid}))
}

pub async fn change_colony_id(
    ctx: &mut Ctx<'_>,
    m: ChangeColonyIdMsg,
) -> Result<Vec<u8>, ApiError> {
    let mut colony = auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    check_id("colony Id", &m.colonyid)?;
    colony.colonyid = m.colonyid.clone();
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            txn.put(&reg, keys::colony(&colony.name), &colony)?;
            Ok(())
        })
        .await?;
    json(
        &serde_json::json!({"msgtype": "changecolonyidmsg", "colonyname": m.colonyname, "colonyid": m.colonyid}),
    )
}

pub async fn change_user_id(ctx: &mut Ctx<'_>, m: ChangeUserIdMsg) -> Result<Vec<u8>, ApiError> {
    super::users::change_id(ctx, m.colonyname.clone(), m.userid.clone()).await?;
    json(
        &serde_json::json!({"msgtype": "changeuseridmsg", "colonyname": m.colonyname, "userid": m.userid}),
    )
}

pub async fn change_executor_id(
    ctx: &mut Ctx<'_>,
    m: ChangeExecutorIdMsg,
) -> Result<Vec<u8>, ApiError> {
    super::executors::change_id(ctx, m.colonyname.clone(), m.executorid.clone()).await?;
    json(
        &serde_json::json!({"msgtype": "changeexecutoridmsg", "colonyname": m.colonyname, "executorid": m.executorid}),
    )
}

/// `colonydbackupmsg` (colonyd's own, server owner only): a consistent copy of the store in
/// `dir` on the server's machine (relative paths are inside the data directory).
pub async fn backup(ctx: &mut Ctx<'_>, m: BackupMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    if m.dir.is_empty() {
        return Err(ApiError::bad_request("backup needs a directory"));
    }
    // the backup lands inside the data directory: no absolute paths, no `..`
    let rel = std::path::Path::new(&m.dir);
    if !rel.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        return Err(ApiError::bad_request(
            "backup directory must be a relative path inside the data directory, without '..'",
        ));
    }
    let data_dir = ctx
        .state
        .store
        .path()
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| ApiError::internal("the store has no data directory above it"))?;
    let target = data_dir.join(&m.dir);
    if target.exists()
        && std::fs::read_dir(&target)
            .map_err(|e| ApiError::bad_request(format!("cannot read {}: {e}", target.display())))?
            .next()
            .is_some()
    {
        return Err(ApiError::bad_request(format!(
            "backup directory {} is not empty",
            target.display()
        )));
    }
    std::fs::create_dir_all(&target)
        .map_err(|e| ApiError::bad_request(format!("cannot create {}: {e}", target.display())))?;
    let store = ctx.state.store.clone();
    let t = target.clone();
    let records = smol::unblock(move || store.backup_to(&t.join("store"))).await?;
    tracing::info!(dir = %target.display(), records, "backup written");
    json(&serde_json::json!({"dir": target.display().to_string(), "records": records}))
}

/// `colonydstatusmsg` (colonyd's own, server owner only): what `colonyd status` shows beside
/// the statistics every ColonyOS server reports: uptime, sync mode, the store's size, the free
/// space on its filesystem and the reserve, the number of channels.
pub fn status(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let info = ctx.state.info.read().map(|g| g.clone()).unwrap_or_default();
    let store = &ctx.state.store;
    let now = crate::protocol::time::now_ns();
    let free = rustix::fs::statvfs(store.path())
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .map_err(|e| ApiError::internal(format!("cannot read free disk space: {e}")))?;
    json(&serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "buildversion": info.build_version,
        "started": crate::protocol::time::Timestamp(info.started_ns).to_rfc3339(),
        "uptimeseconds": (now.saturating_sub(info.started_ns)) / 1_000_000_000,
        "sync": info.sync,
        "tls": info.tls,
        "datadir": store.path().parent().map(|p| p.display().to_string()).unwrap_or_default(),
        "storebytes": allocated(store.path()),
        "freediskbytes": free,
        "mindiskreservebytes": info.min_free_disk,
        "channels": crate::channels::log::count(store)?,
    }))
}

/// `colonydexportmsg` (colonyd's own, server owner only): the configuration state of every
/// colony — the colony, its executors (with their approval state), users, functions,
/// locations, blueprint definitions, blueprints, crons and generators — in the entities' wire
/// shapes, as `colonyd export` writes it and `colonyd import` replays it (README, "Moving to
/// a bigger cluster"). Processes, workflows, logs, channels and files are not configuration
/// and are left out.
pub fn export(ctx: &mut Ctx<'_>, _: EmptyMsg) -> Result<Vec<u8>, ApiError> {
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    let store = &ctx.state.store;
    let mut colonies = Vec::new();
    for colony in store.colonies()? {
        let name = colony.name.clone();
        let locations: Vec<crate::protocol::types::Location> =
            store.scan(&store.registry, &keys::location(&name, None), usize::MAX)?;
        colonies.push(serde_json::json!({
            "colony": colony,
            "executors": store.executors(&name)?,
            "users": store.users(&name)?,
            "functions": store.functions(&name, None)?,
            "locations": locations,
            "blueprintdefinitions": crate::blueprints::definitions(store, &name)?,
            "blueprints": crate::blueprints::list(store, &name, "", "")?,
            "crons": crate::schedules::list_crons(store, &name, usize::MAX)?,
            "generators": crate::schedules::list_generators(store, &name, usize::MAX)?,
        }));
    }
    json(&serde_json::json!({
        "format": "colonyd-export",
        "version": 1,
        "exported": crate::protocol::time::Timestamp::now().to_rfc3339(),
        "colonydversion": env!("CARGO_PKG_VERSION"),
        "serverid": ctx.state.server_id(),
        "colonies": colonies,
    }))
}

/// Bytes allocated on disk under `dir` (the journal is preallocated sparse: its length says
/// little about what it uses).
fn allocated(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated(&e.path()),
            Ok(m) => m.blocks().saturating_mul(512),
            Err(_) => 0,
        })
        .sum()
}
