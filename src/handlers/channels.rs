//! Channels (spec §4.8): `channelappendmsg` and `channelreadmsg`.
//!
//! Check order as upstream: process lookup (404 `Process not found`) → membership (403) →
//! channel declared (404 `Channel not found`) → payload size → channel authorization (403) →
//! rate limit → log limits (inside the writer).

use super::{empty, Ctx};
use crate::auth;
use crate::channels::log::{self, Entry};
use crate::protocol::msgs::Message;
use crate::protocol::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A payload as clients send it: base64 text (Go client) or a JSON array of byte values
/// (pycolonies, the `colonyos` crate, TypeScript). `null` is empty.
#[derive(Debug, Default)]
pub struct Payload(pub Vec<u8>);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 text or an array of byte values 0-255")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Payload, E> {
                STANDARD
                    .decode(s)
                    .map(Payload)
                    .map_err(|e| E::custom(format!("payload is not standard base64: {e}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<i64>()? {
                    let b = u8::try_from(b).map_err(|_| {
                        de::Error::custom(format!("payload byte {b} is outside 0-255"))
                    })?;
                    out.push(b);
                }
                Ok(Payload(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `channelappendmsg`, with the field-name variants clients send.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppendMsg {
    msgtype: String,
    #[serde(alias = "processId", alias = "process_id")]
    processid: String,
    #[serde(alias = "channelname", alias = "channel", alias = "channelName")]
    name: String,
    #[serde(alias = "seq", alias = "seqnr")]
    sequence: i64,
    #[serde(alias = "inReplyTo", alias = "in_reply_to")]
    inreplyto: i64,
    payload: Payload,
    #[serde(
        alias = "payloadType",
        alias = "payload_type",
        alias = "type",
        alias = "msgType"
    )]
    payloadtype: Option<String>,
}

impl Message for AppendMsg {
    fn msgtype(&self) -> &str {
        &self.msgtype
    }
}

/// `channelreadmsg`, with variants.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReadMsg {
    msgtype: String,
    #[serde(alias = "processId", alias = "process_id")]
    processid: String,
    #[serde(alias = "channelname", alias = "channel", alias = "channelName")]
    name: String,
    #[serde(
        alias = "afterSeq",
        alias = "after_seq",
        alias = "afterindex",
        alias = "afterIndex"
    )]
    afterseq: i64,
    #[serde(alias = "count")]
    limit: i64,
}

impl Message for ReadMsg {
    fn msgtype(&self) -> &str {
        &self.msgtype
    }
}

pub async fn append(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: AppendMsg = ctx.msg()?;
    let store = &ctx.state.store;
    let policy = &store.channel_policy;
    let p = store
        .process(&m.processid)?
        .ok_or_else(|| ApiError::not_found("Process not found"))?;
    auth::member(store, p.colony(), &ctx.signer, true)?;
    if !p.spec.channels.contains(&m.name) {
        return Err(ApiError::not_found("Channel not found"));
    }
    if m.payload.0.len() > policy.max_payload {
        return Err(ApiError::too_large("message payload exceeds maximum size"));
    }
    if !auth::may_use_channels(&p, &ctx.signer) {
        return Err(ApiError::forbidden("Not authorized to write to channel"));
    }
    if !ctx
        .state
        .channel_rate
        .allow(&p.processid, policy.rate_per_sec)
    {
        return Err(ApiError::new(429, "rate limit exceeded"));
    }
    let kind = match m.payloadtype.as_deref() {
        None | Some("") => "data".to_string(),
        Some(t) => t.to_string(),
    };
    let signer = ctx.signer.clone();
    let pid = m.processid;
    let name = m.name;
    let policy = policy.clone();
    let payload = m.payload.0;
    let len = payload.len() as u64;
    ctx.state
        .writer
        .run(move |txn| {
            // authorization again inside the writer: the process may have changed meanwhile
            let p = crate::lifecycle::load(txn, &pid, "append to channel")?;
            if !auth::may_use_channels(&p, &signer) {
                return Err(ApiError::forbidden("Not authorized to write to channel"));
            }
            let entry = Entry {
                sequence: m.sequence,
                inreplyto: m.inreplyto,
                timestamp: txn.now,
                senderid: signer,
                payload,
                kind,
            };
            log::append(txn, &pid, &name, &entry, &policy)
        })
        .await?;
    let c = &ctx.state.events.counters;
    c.appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    c.append_bytes
        .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    empty()
}

pub fn read(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let m: ReadMsg = ctx.msg()?;
    let store = &ctx.state.store;
    auth::channel(store, &m.processid, &m.name, &ctx.signer, "read from")?;
    let from = u64::try_from(m.afterseq).unwrap_or(0);
    let limit = usize::try_from(m.limit).unwrap_or(0);
    let snap = store.durable();
    let page = log::read(
        store,
        &snap,
        &m.processid,
        &m.name,
        from,
        limit,
        store.channel_policy.page_bytes,
    )?
    .ok_or_else(|| ApiError::not_found("Channel not found"))?;
    Ok(crate::channels::wire::entries_json(
        page.entries.iter().map(|(_, e)| e),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_forms() {
        let m: AppendMsg =
            serde_json::from_str(r#"{"payload":[0,1,255],"channelname":"c"}"#).unwrap();
        assert_eq!(m.payload.0, vec![0, 1, 255]);
        assert_eq!(m.name, "c");
        let m: AppendMsg =
            serde_json::from_str(r#"{"payload":"aGk=","payloadtype":"end"}"#).unwrap();
        assert_eq!(m.payload.0, b"hi");
        assert_eq!(m.payloadtype.as_deref(), Some("end"));
        let m: AppendMsg = serde_json::from_str(r#"{"payload":null}"#).unwrap();
        assert!(m.payload.0.is_empty());
        assert!(serde_json::from_str::<AppendMsg>(r#"{"payload":[256]}"#).is_err());
        assert!(serde_json::from_str::<AppendMsg>(r#"{"payload":[-1]}"#).is_err());
        assert!(serde_json::from_str::<AppendMsg>(r#"{"payload":"!!"}"#).is_err());
        assert!(serde_json::from_str::<AppendMsg>(r#"{"payload":{"a":1}}"#).is_err());
    }
}
