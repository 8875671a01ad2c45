//! Server-level RPCs (spec §4.9): version, server info, owner and ID changes.

use super::{check_id, json, Ctx};
use crate::auth;
use crate::protocol::msgs::{
    ChangeColonyIdMsg, ChangeExecutorIdMsg, ChangeServerIdMsg, ChangeUserIdMsg, EmptyMsg,
};
use crate::protocol::ApiError;
use crate::store::keys;
use serde::Serialize;

pub fn version(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let _: EmptyMsg = ctx.msg()?;
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

pub fn info(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Backend {
        r#type: &'static str,
        port: u16,
        host: String,
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
        }],
    })
}

pub async fn change_server_id(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ChangeServerIdMsg = ctx.msg()?;
    auth::server_owner(&ctx.state.server_id(), &ctx.signer)?;
    check_id("server Id", &m.serverid)?;
    ctx.state.change_server_id(m.serverid.clone()).await?;
    json(&serde_json::json!({"msgtype": "changeserveridmsg", "serverid": m.serverid}))
}

pub async fn change_colony_id(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ChangeColonyIdMsg = ctx.msg()?;
    let mut colony = auth::colony_owner(&ctx.state.store, &m.colonyname, &ctx.signer)?;
    check_id("colony Id", &m.colonyid)?;
    colony.colonyid = m.colonyid.clone();
    ctx.state
        .writer
        .run(move |txn| {
            let reg = txn.store.registry.clone();
            txn.put(&reg, keys::colony(&colony.name), &colony);
            Ok(())
        })
        .await?;
    json(
        &serde_json::json!({"msgtype": "changecolonyidmsg", "colonyname": m.colonyname, "colonyid": m.colonyid}),
    )
}

pub async fn change_user_id(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ChangeUserIdMsg = ctx.msg()?;
    super::users::change_id(ctx, m.colonyname.clone(), m.userid.clone()).await?;
    json(
        &serde_json::json!({"msgtype": "changeuseridmsg", "colonyname": m.colonyname, "userid": m.userid}),
    )
}

pub async fn change_executor_id(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ChangeExecutorIdMsg = ctx.msg()?;
    super::executors::change_id(ctx, m.colonyname.clone(), m.executorid.clone()).await?;
    json(
        &serde_json::json!({"msgtype": "changeexecutoridmsg", "colonyname": m.colonyname, "executorid": m.executorid}),
    )
}
