//! Request messages (spec §4): the JSON inside an envelope's base64 `payload`.
//!
//! Every message carries `msgtype`, which must equal the envelope's `payloadtype`. Missing
//! fields take their zero value and `null` reads as empty, as Go decodes them; unknown keys
//! are ignored (clients send extras). Wrong JSON types are errors.

use super::json::{lenient, RawJson};
use super::types::{
    Attribute, Blueprint, BlueprintDefinition, Colony, Cron, Executor, File, Function,
    FunctionSpec, Generator, Location, User,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// A request message: knows its `msgtype`.
pub trait Message {
    /// The `msgtype` field as sent.
    fn msgtype(&self) -> &str;
}

macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? } )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        #[allow(missing_docs)]
        pub struct $name {
            #[serde(deserialize_with = "lenient")]
            pub msgtype: String,
            $( #[serde(deserialize_with = "lenient")] pub $field: $ty, )*
        }
        impl Message for $name {
            fn msgtype(&self) -> &str {
                &self.msgtype
            }
        }
    )*};
}

messages! {
    /// Any message that names only a colony (get colony, stats, list executors/users, pause…).
    ColonyNameMsg { colonyname: String }
    /// A message with no fields besides `msgtype`.
    EmptyMsg {}
    /// `addcolonymsg`.
    AddColonyMsg { colony: Option<Colony> }
    /// `addexecutormsg`.
    AddExecutorMsg { executor: Option<Executor> }
    /// approve/reject/remove/get executor.
    ExecutorNameMsg { colonyname: String, executorname: String }
    /// `getexecutorbyidmsg`.
    ExecutorIdMsg { colonyname: String, executorid: String }
    /// `updateexecutormsg`.
    UpdateExecutorMsg { colonyname: String, executorname: String, capabilities: Option<RawJson> }
    /// `reportallocationmsg`.
    ReportAllocationMsg { colonyname: String, executorname: String, allocations: Option<RawJson> }
    /// `addusermsg`.
    AddUserMsg { user: Option<User> }
    /// `getusermsg`, `removeusermsg`.
    UserNameMsg { colonyname: String, name: String }
    /// `getuserbyidmsg`.
    UserIdMsg { colonyname: String, userid: String }
    /// `submitfuncspecmsg`.
    SubmitMsg { spec: Option<FunctionSpec> }
    /// `assignprocessmsg`.
    AssignMsg { colonyname: String, timeout: i64, availablecpu: String, availablemem: String }
    /// Messages naming one process (get, remove, cancel).
    ProcessIdMsg { processid: String }
    /// `getprocessesmsg`.
    GetProcessesMsg { colonyname: String, count: i64, state: i64, executortype: String, label: String, initiator: String, processgraphid: String }
    /// `getprocesshistmsg`.
    GetProcessHistMsg { colonyname: String, executorid: String, seconds: i64, state: i64 }
    /// `removeallprocessesmsg`.
    RemoveAllProcessesMsg { colonyname: String, state: i64 }
    /// `closesuccessfulmsg`, `setoutputmsg`.
    OutputMsg { processid: String, out: Option<Vec<RawJson>> }
    /// `closefailedmsg`.
    CloseFailedMsg { processid: String, errors: Option<Vec<String>> }
    /// `addattributemsg`.
    AddAttributeMsg { attribute: Option<Attribute> }
    /// `getattributemsg`.
    AttributeIdMsg { attributeid: String }
    /// `addlogmsg`.
    AddLogMsg { processid: String, message: String }
    /// `addexecutorlogmsg`.
    AddExecutorLogMsg { colonyname: String, executorname: String, message: String }
    /// `getlogsmsg`.
    GetLogsMsg { colonyname: String, processid: String, executorname: String, count: i64, since: i64, latest: bool }
    /// `searchlogsmsg`.
    SearchLogsMsg { colonyname: String, text: String, days: i64, count: i64 }
    /// `addfunctionmsg` (`fun`; the Rust SDK's `function` key is accepted too).
    AddFunctionMsg { fun: Option<Function>, function: Option<Function> }
    /// `getfunctionsmsg`.
    GetFunctionsMsg { colonyname: String, executorname: String }
    /// `removefunctionmsg`.
    FunctionIdMsg { functionid: String }
    /// `changeserveridmsg`.
    ChangeServerIdMsg { serverid: String }
    /// `changecolonyidmsg`.
    ChangeColonyIdMsg { colonyname: String, colonyid: String }
    /// `changeuseridmsg`.
    ChangeUserIdMsg { colonyname: String, userid: String }
    /// `changeexecutoridmsg`.
    ChangeExecutorIdMsg { colonyname: String, executorid: String }
    /// `submitworkflowspecmsg`.
    SubmitWorkflowMsg { spec: Option<WorkflowSpec> }
    /// Messages naming one process graph (get, remove, cancel).
    GraphIdMsg { processgraphid: String }
    /// `getprocessgraphsmsg`.
    GetGraphsMsg { colonyname: String, count: i64, state: i64 }
    /// `removeallprocessgraphsmsg`.
    RemoveAllGraphsMsg { colonyname: String, state: i64 }
    /// `addchildmsg`.
    AddChildMsg { processgraphid: String, parentprocessid: String, childprocessid: String, spec: Option<FunctionSpec>, insert: bool }
    /// `colonydbackupmsg` (colonyd's own): a directory inside the data directory.
    BackupMsg { dir: String }
    /// `subscribeprocessmsg` (one process) and `subscribeprocessesmsg` (any of a colony).
    SubscribeProcessMsg { processid: String, colonyname: String, executortype: String, state: i32, timeout: i64 }
    /// `getcronsmsg`, `getgeneratorsmsg`: a colony and how many to list.
    ColonyCountMsg { colonyname: String, count: i64 }
    /// `addcronmsg`.
    AddCronMsg { cron: Option<Cron> }
    /// `getcronmsg`, `runcronmsg`, `removecronmsg` (whose `all` upstream ignores).
    CronIdMsg { cronid: String }
    /// `addgeneratormsg`.
    AddGeneratorMsg { generator: Option<Generator> }
    /// `getgeneratormsg`, `removegeneratormsg` (whose `all` upstream ignores).
    GeneratorIdMsg { generatorid: String }
    /// `resolvegeneratormsg`.
    ResolveGeneratorMsg { colonyname: String, generatorname: String }
    /// `packgeneratormsg`.
    PackGeneratorMsg { generatorid: String, arg: String }
    /// `addlocationmsg`.
    AddLocationMsg { location: Option<Location> }
    /// `getlocationmsg`, `removelocationmsg`.
    LocationNameMsg { colonyname: String, name: String }
    /// `addfilemsg`.
    AddFileMsg { file: Option<File> }
    /// `getfilemsg`: by `fileid`, or by `label` and `name` (every revision, or the newest).
    GetFileMsg { colonyname: String, fileid: String, label: String, name: String, latest: bool }
    /// `getfilesmsg`.
    GetFilesMsg { colonyname: String, label: String }
    /// `getfilelabelsmsg`: every label, or those under `name` (a prefix, or with `exact` the
    /// label itself and its sub-labels).
    GetFileLabelsMsg { colonyname: String, name: String, exact: bool }
    /// `removefilemsg`: by `fileid`, or every revision of `label` and `name`.
    RemoveFileMsg { colonyname: String, fileid: String, label: String, name: String }
    /// `createsnapshotmsg`.
    CreateSnapshotMsg { colonyname: String, label: String, name: String }
    /// `getsnapshotmsg`, `removesnapshotmsg`: by `snapshotid`, else by `name`.
    SnapshotMsg { colonyname: String, snapshotid: String, name: String }
    /// `addblueprintdefinitionmsg`.
    AddBlueprintDefinitionMsg { blueprintdefinition: Option<BlueprintDefinition> }
    /// `getblueprintdefinitionmsg` (by `colonyname`, as upstream).
    BlueprintDefinitionMsg { colonyname: String, name: String }
    /// `removeblueprintdefinitionmsg`, `getblueprintmsg`, `removeblueprintmsg` (by `namespace`, as
    /// upstream).
    NamespaceNameMsg { namespace: String, name: String }
    /// `addblueprintmsg`.
    AddBlueprintMsg { blueprint: Option<Blueprint> }
    /// `getblueprintsmsg`: optionally one kind, and with a kind one location.
    GetBlueprintsMsg { namespace: String, kind: String, locationname: String }
    /// `updateblueprintmsg`.
    UpdateBlueprintMsg { blueprint: Option<Blueprint>, forcegeneration: bool }
    /// `getblueprinthistorymsg`: newest first, at most `limit` (all when 0).
    BlueprintHistoryMsg { blueprintid: String, limit: i64 }
    /// `updateblueprintstatusmsg`.
    BlueprintStatusMsg { colonyname: String, blueprintname: String, status: Option<RawJson> }
    /// `reconcileblueprintmsg`.
    ReconcileBlueprintMsg { namespace: String, name: String, force: bool }
}

/// A workflow as submitted: the colony and its function specs.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WorkflowSpec {
    /// The colony every member runs in.
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    /// The members, parents named by `nodename` in `conditions.dependencies`.
    #[serde(deserialize_with = "lenient")]
    pub functionspecs: Vec<FunctionSpec>,
}

// Channel messages. Clients spell the same keys several ways (the Go client, pycolonies, the
// `colonyos` crate, colonies-ts); every spelling is declared here, once, and
// `channel_key_spellings` below checks that append, read and subscribe accept all of them.

/// `channelappendmsg`, with the key spellings clients send.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppendMsg {
    /// `msgtype`.
    pub msgtype: String,
    /// The process that owns the channel.
    #[serde(alias = "processId", alias = "process_id")]
    pub processid: String,
    /// The channel's name.
    #[serde(alias = "channelname", alias = "channel", alias = "channelName")]
    pub name: String,
    /// The sender's own sequence number (kept, not interpreted).
    #[serde(alias = "seq", alias = "seqnr")]
    pub sequence: i64,
    /// The sequence number this entry answers.
    #[serde(alias = "inReplyTo", alias = "in_reply_to")]
    pub inreplyto: i64,
    /// The bytes.
    pub payload: Payload,
    /// The entry's type (`data` when absent or empty, `end` closes the conversation).
    #[serde(
        alias = "payloadType",
        alias = "payload_type",
        alias = "type",
        alias = "msgType"
    )]
    pub payloadtype: Option<String>,
}

/// `channelreadmsg` and `subscribechannelmsg`: a channel and a position in it. A read uses
/// `limit`, a subscription `timeout`; each ignores the other.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChannelCursorMsg {
    /// `msgtype`.
    pub msgtype: String,
    /// The process that owns the channel.
    #[serde(alias = "processId", alias = "process_id")]
    pub processid: String,
    /// The channel's name.
    #[serde(alias = "channelname", alias = "channel", alias = "channelName")]
    pub name: String,
    /// Entries after this position (1-based; 0 is from the start).
    #[serde(
        alias = "afterSeq",
        alias = "after_seq",
        alias = "afterindex",
        alias = "afterIndex"
    )]
    pub afterseq: i64,
    /// Most entries a read returns (0: the server's page).
    #[serde(alias = "count")]
    pub limit: i64,
    /// Seconds a subscription stays open (0 or less: the default).
    pub timeout: i64,
}

impl Message for AppendMsg {
    fn msgtype(&self) -> &str {
        &self.msgtype
    }
}

impl Message for ChannelCursorMsg {
    fn msgtype(&self) -> &str {
        &self.msgtype
    }
}

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

    /// Append, read and subscribe accept the same spellings of the process and channel keys.
    #[test]
    fn channel_key_spellings() {
        for pid in ["processid", "processId", "process_id"] {
            for name in ["name", "channelname", "channel", "channelName"] {
                let text = format!(r#"{{"{pid}":"p","{name}":"c"}}"#);
                let a: AppendMsg = serde_json::from_str(&text).unwrap();
                let c: ChannelCursorMsg = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    (a.processid.as_str(), a.name.as_str()),
                    ("p", "c"),
                    "{text}"
                );
                assert_eq!(
                    (c.processid.as_str(), c.name.as_str()),
                    ("p", "c"),
                    "{text}"
                );
            }
        }
        for after in [
            "afterseq",
            "afterSeq",
            "after_seq",
            "afterindex",
            "afterIndex",
        ] {
            let c: ChannelCursorMsg = serde_json::from_str(&format!(r#"{{"{after}":7}}"#)).unwrap();
            assert_eq!(c.afterseq, 7, "{after}");
        }
    }
}
