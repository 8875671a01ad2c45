//! Entities as they appear on the wire (spec §5) and, postcard-encoded, in the store.
//!
//! Fields are named as the JSON keys of spec §5 (which documents them); each type's comment
//! points at its section.
//!
//! Field order is Go's emission order. No field is ever skipped when serializing (postcard is
//! not self-describing); fields Go omits when empty are emitted empty, which every client
//! accepts.

// fields are the wire keys documented in spec §5
#![allow(missing_docs)]

use super::json::{lenient, RawJson};
use super::time::Timestamp;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Process states (spec §5.5).
pub mod state {
    /// Submitted, not yet assigned.
    pub const WAITING: i32 = 0;
    /// Assigned to an executor.
    pub const RUNNING: i32 = 1;
    /// Closed successfully.
    pub const SUCCESS: i32 = 2;
    /// Closed as failed (also by timeouts).
    pub const FAILED: i32 = 3;
    /// Cancelled.
    pub const CANCELLED: i32 = 4;
    /// Whether a state is final.
    pub fn is_final(s: i32) -> bool {
        s == SUCCESS || s == FAILED || s == CANCELLED
    }
    /// Name of a state for messages (upstream's words: "Tried to set failed process as …").
    pub fn name(s: i32) -> &'static str {
        match s {
            WAITING => "waiting",
            RUNNING => "running",
            SUCCESS => "successful",
            FAILED => "failed",
            CANCELLED => "cancelled",
            _ => "unknown",
        }
    }
}

/// Executor states (spec §5.2).
pub mod executor_state {
    /// Registered, waiting for the colony owner.
    pub const PENDING: i32 = 0;
    /// May act as a member.
    pub const APPROVED: i32 = 1;
    /// Refused by the colony owner.
    pub const REJECTED: i32 = 2;
    /// Removed by the colony owner (`removeexecutormsg`): the record is kept, listed and
    /// counted, but fails every check that needs an approved executor.
    pub const UNREGISTERED: i32 = 3;
}

/// A colony (spec §5.1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Colony {
    /// The colony owner's ID.
    #[serde(deserialize_with = "lenient")]
    pub colonyid: String,
    /// Unique server-wide.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
}

/// An executor (spec §5.2).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Executor {
    #[serde(deserialize_with = "lenient")]
    pub executorid: String,
    #[serde(deserialize_with = "lenient")]
    pub executortype: String,
    #[serde(deserialize_with = "lenient")]
    pub executorname: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    pub state: i32,
    pub requirefuncreg: bool,
    pub commissiontime: Timestamp,
    pub lastheardfromtime: Timestamp,
    #[serde(deserialize_with = "lenient")]
    pub locationname: String,
    pub capabilities: RawJson,
    pub allocations: RawJson,
}

/// A user (spec §5.3).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub userid: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub email: String,
    #[serde(deserialize_with = "lenient")]
    pub phone: String,
}

/// GPU requirements inside [`Conditions`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Gpu {
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub mem: String,
    pub count: i32,
    pub nodecount: i32,
}

/// Where and on what a process may run (spec §5.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Conditions {
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    pub executornames: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient")]
    pub executortype: String,
    #[serde(deserialize_with = "lenient")]
    pub locationname: String,
    #[serde(deserialize_with = "lenient")]
    pub dependencies: Vec<String>,
    pub nodes: i32,
    #[serde(deserialize_with = "lenient")]
    pub cpu: String,
    pub processes: i32,
    pub processespernode: i32,
    #[serde(deserialize_with = "lenient")]
    pub mem: String,
    #[serde(deserialize_with = "lenient")]
    pub storage: String,
    #[serde(deserialize_with = "lenient")]
    pub gpu: Gpu,
    pub walltime: i64,
}

/// What to run (spec §5.4).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FunctionSpec {
    #[serde(deserialize_with = "lenient")]
    pub nodename: String,
    #[serde(deserialize_with = "lenient")]
    pub funcname: String,
    /// Stored as sent; `null` goes out as `[]` (upstream normalizes it when a process is read).
    #[serde(serialize_with = "wire_args")]
    pub args: Option<Vec<RawJson>>,
    /// Stored as sent; `null` goes out as `{}`.
    #[serde(serialize_with = "wire_kwargs")]
    pub kwargs: RawJson,
    pub priority: i32,
    pub maxwaittime: i32,
    pub maxexectime: i32,
    pub maxretries: i32,
    #[serde(deserialize_with = "lenient")]
    pub conditions: Conditions,
    #[serde(deserialize_with = "lenient")]
    pub label: String,
    pub fs: RawJson,
    #[serde(deserialize_with = "lenient")]
    pub env: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient")]
    pub channels: Vec<String>,
}

/// A key/value attached to a process (spec §5.5).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Attribute {
    #[serde(deserialize_with = "lenient")]
    pub attributeid: String,
    #[serde(deserialize_with = "lenient")]
    pub targetid: String,
    #[serde(deserialize_with = "lenient")]
    pub targetcolonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub targetprocessgraphid: String,
    pub state: i32,
    pub attributetype: i32,
    #[serde(deserialize_with = "lenient")]
    pub key: String,
    #[serde(deserialize_with = "lenient")]
    pub value: String,
}

/// Attribute types: 0 input, 1 output, 2 error (set by clients), 3 environment.
pub mod attribute_type {
    /// Environment (from `spec.env`).
    pub const ENV: i32 = 3;
}

/// A process (spec §5.5).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub processid: String,
    pub initiatorid: String,
    pub initiatorname: String,
    pub assignedexecutorid: String,
    pub isassigned: bool,
    pub state: i32,
    pub prioritytime: i64,
    pub submissiontime: Timestamp,
    pub starttime: Timestamp,
    pub endtime: Timestamp,
    pub waitdeadline: Timestamp,
    pub execdeadline: Timestamp,
    pub retries: i32,
    pub attributes: Vec<Attribute>,
    pub spec: FunctionSpec,
    pub waitforparents: bool,
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub processgraphid: String,
    #[serde(rename = "in")]
    pub input: Vec<RawJson>,
    #[serde(rename = "out")]
    pub output: Vec<RawJson>,
    pub errors: Vec<String>,
}

impl Process {
    /// The colony the process belongs to.
    pub fn colony(&self) -> &str {
        &self.spec.conditions.colonyname
    }

    /// Sets the process's state and, as upstream's `SetProcessState` does, the state of
    /// every attribute of the process (an attribute's `state` follows its process).
    pub fn set_state(&mut self, s: i32) {
        self.state = s;
        for a in &mut self.attributes {
            a.state = s;
        }
    }
}

/// `args: null` is returned as `[]` on the wire, as upstream normalizes it when a process is
/// read (pycolonies' model rejects `null`); the store keeps what was sent.
fn wire_args<S: serde::Serializer>(v: &Option<Vec<RawJson>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        None if s.is_human_readable() => s.serialize_seq(Some(0))?.end(),
        _ => v.serialize(s),
    }
}

/// `kwargs: null` is returned as `{}` on the wire (as [`wire_args`]).
fn wire_kwargs<S: serde::Serializer>(v: &RawJson, s: S) -> Result<S::Ok, S::Error> {
    if v.is_null() && s.is_human_readable() {
        s.serialize_map(Some(0))?.end()
    } else {
        v.serialize(s)
    }
}

/// A log line (spec §5.7).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Log {
    pub processid: String,
    pub colonyname: String,
    pub executorname: String,
    pub message: String,
    /// UTC nanoseconds.
    pub timestamp: i64,
}

/// Colony or server statistics (spec §5.8).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Statistics {
    pub colonies: i64,
    pub executors: i64,
    pub activeexecutors: i64,
    pub unregisteredexecutors: i64,
    pub waitingprocesses: i64,
    pub runningprocesses: i64,
    pub successfulprocesses: i64,
    pub failedprocesses: i64,
    pub cancelledprocesses: i64,
    pub waitingworkflows: i64,
    pub runningworkflows: i64,
    pub successfulworkflows: i64,
    pub failedworkflows: i64,
    pub cancelledworkflows: i64,
}

/// A registered function (spec §5.9).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Function {
    #[serde(deserialize_with = "lenient")]
    pub functionid: String,
    #[serde(deserialize_with = "lenient")]
    pub executorname: String,
    #[serde(deserialize_with = "lenient")]
    pub executortype: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub funcname: String,
    #[serde(deserialize_with = "lenient")]
    pub description: String,
    pub args: RawJson,
    pub counter: i64,
    pub minwaittime: f64,
    pub maxwaittime: f64,
    pub minexectime: f64,
    pub maxexectime: f64,
    pub avgwaittime: f64,
    pub avgexectime: f64,
    #[serde(deserialize_with = "lenient")]
    pub locationname: String,
}

/// A location (upstream `pkg/core/location.go`): a named place executors and processes may
/// refer to by `locationname`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Location {
    #[serde(deserialize_with = "lenient")]
    pub locationid: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub description: String,
    pub long: f64,
    pub lat: f64,
}

/// A cron (upstream `pkg/core/cron.go`): a workflow spec (a JSON **string**) run on a
/// six-field expression with seconds (`interval` −1) or every `interval` seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Cron {
    #[serde(deserialize_with = "lenient")]
    pub cronid: String,
    #[serde(deserialize_with = "lenient")]
    pub initiatorid: String,
    #[serde(deserialize_with = "lenient")]
    pub initiatorname: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub cronexpression: String,
    pub interval: i64,
    pub random: bool,
    pub nextrun: Timestamp,
    pub lastrun: Timestamp,
    #[serde(deserialize_with = "lenient")]
    pub workflowspec: String,
    #[serde(deserialize_with = "lenient")]
    pub prevprocessgraphid: String,
    pub waitforprevprocessgraph: bool,
    /// Not stored: `getcronmsg` reports the checker period in ms, every other reply 0.
    pub checkerperiod: i64,
}

/// A generator (upstream `pkg/core/generator.go`): a workflow spec (a JSON **string**)
/// submitted once `trigger` arguments have been packed, or `timeout` seconds after the first
/// (or the last run) with fewer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Generator {
    #[serde(deserialize_with = "lenient")]
    pub generatorid: String,
    #[serde(deserialize_with = "lenient")]
    pub initiatorid: String,
    #[serde(deserialize_with = "lenient")]
    pub initiatorname: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub workflowspec: String,
    pub trigger: i64,
    pub timeout: i64,
    pub firstpack: Timestamp,
    pub lastrun: Timestamp,
    /// Not stored: `getgeneratormsg` reports the packed arguments waiting, others 0.
    pub queuesize: i64,
    /// Not stored: `getgeneratormsg` reports the checker period in ms, others 0.
    pub checkerperiod: i64,
}

/// One node of `getclustermsg`'s answer (upstream `pkg/cluster/config.go`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClusterNode {
    pub name: String,
    pub host: String,
    /// etcd client port upstream; 0 here (no etcd).
    pub port: u16,
    /// etcd peer port upstream; 0 here.
    pub peerport: u16,
    /// relay port upstream; 0 here.
    pub relayport: u16,
    pub apiport: u16,
}

/// `getclustermsg`'s answer: the nodes and the leader (a whole node).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    pub leader: ClusterNode,
}

/// Where a file's bytes are in an S3-compatible store (upstream `pkg/core/file.go`). The
/// credentials are kept as sent and returned only to members of the colony.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct S3Object {
    #[serde(deserialize_with = "lenient")]
    pub server: String,
    #[serde(deserialize_with = "lenient")]
    pub port: i64,
    #[serde(deserialize_with = "lenient")]
    pub tls: bool,
    #[serde(deserialize_with = "lenient")]
    pub accesskey: String,
    #[serde(deserialize_with = "lenient")]
    pub secretkey: String,
    #[serde(deserialize_with = "lenient")]
    pub region: String,
    #[serde(deserialize_with = "lenient")]
    pub encryptionkey: String,
    #[serde(deserialize_with = "lenient")]
    pub encryptionalg: String,
    #[serde(deserialize_with = "lenient")]
    pub object: String,
    #[serde(deserialize_with = "lenient")]
    pub bucket: String,
}

/// A file's storage reference (`ref`); the protocol is always `s3` on the way out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileRef {
    #[serde(deserialize_with = "lenient")]
    pub protocol: String,
    #[serde(deserialize_with = "lenient")]
    pub s3object: S3Object,
}

/// One revision of a ColonyFS file (upstream `pkg/core/file.go`): metadata only, the bytes are
/// in S3. The same colony, label and name added again is a new revision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct File {
    #[serde(deserialize_with = "lenient")]
    pub fileid: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient")]
    pub label: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub size: i64,
    #[serde(deserialize_with = "lenient")]
    pub sequencenr: i64,
    #[serde(deserialize_with = "lenient")]
    pub checksum: String,
    #[serde(deserialize_with = "lenient")]
    pub checksumalg: String,
    #[serde(rename = "ref", deserialize_with = "lenient")]
    pub reference: FileRef,
    #[serde(deserialize_with = "lenient")]
    pub added: Timestamp,
}

/// `getfilesmsg`'s element: the newest revision of each name under a label.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileData {
    pub name: String,
    pub checksum: String,
    pub size: i64,
    pub s3filename: String,
}

/// `getfilelabelsmsg`'s element: a label and how many file revisions carry it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileLabel {
    pub name: String,
    pub files: i64,
}

/// A named, frozen set of file revisions under a label (upstream `pkg/core/snapshot.go`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Snapshot {
    pub snapshotid: String,
    pub colonyname: String,
    pub label: String,
    pub name: String,
    /// `null` on the wire when empty, as upstream.
    pub fileids: Option<Vec<String>>,
    pub added: Timestamp,
}

/// Blueprint and definition metadata (upstream `BlueprintMetadata`). JSON only (stored as
/// JSON text): empty optional keys are left out as upstream's `omitempty`; the three times are
/// always present and only ever what the client sent (upstream never sets them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintMetadata {
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub colonyname: String,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "String::is_empty")]
    pub locationname: String,
    #[serde(
        deserialize_with = "lenient",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        deserialize_with = "lenient",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient", skip_serializing_if = "is_zero")]
    pub generation: i64,
    #[serde(
        rename = "createdAt",
        alias = "createdat",
        deserialize_with = "lenient"
    )]
    pub created_at: Timestamp,
    #[serde(
        rename = "updatedAt",
        alias = "updatedat",
        deserialize_with = "lenient"
    )]
    pub updated_at: Timestamp,
    #[serde(
        rename = "lastReconciliationProcess",
        alias = "lastreconciliationprocess",
        deserialize_with = "lenient",
        skip_serializing_if = "String::is_empty"
    )]
    pub last_reconciliation_process: String,
    #[serde(
        rename = "lastReconciliationTime",
        alias = "lastreconciliationtime",
        deserialize_with = "lenient"
    )]
    pub last_reconciliation_time: Timestamp,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A blueprint: declarative desired state of a kind (upstream `Blueprint`). `spec` goes out
/// as `{}` when absent (the `colonyos` crate cannot read `null`); `status` is left out when
/// empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Blueprint {
    #[serde(deserialize_with = "lenient")]
    pub blueprintid: String,
    #[serde(deserialize_with = "lenient")]
    pub kind: String,
    #[serde(deserialize_with = "lenient")]
    pub metadata: BlueprintMetadata,
    #[serde(serialize_with = "object_or_empty")]
    pub spec: serde_json::Value,
    #[serde(skip_serializing_if = "is_empty_json")]
    pub status: serde_json::Value,
}

fn object_or_empty<S: serde::Serializer>(v: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
    if v.is_null() {
        serde_json::Map::new().serialize(s)
    } else {
        v.serialize(s)
    }
}

fn is_empty_json(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Names of a blueprint kind (upstream `Names`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintNames {
    #[serde(deserialize_with = "lenient")]
    pub kind: String,
    #[serde(rename = "listKind", alias = "listkind", deserialize_with = "lenient")]
    pub list_kind: String,
    #[serde(deserialize_with = "lenient")]
    pub singular: String,
    #[serde(deserialize_with = "lenient")]
    pub plural: String,
    #[serde(
        rename = "shortNames",
        alias = "shortnames",
        deserialize_with = "lenient",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub short_names: Vec<String>,
}

/// Who reconciles a kind (upstream `HandlerSpec`); `reconcileInterval` is kept and reported
/// but, as upstream, not used (the reconcile cron runs every 60 s).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintHandler {
    #[serde(
        rename = "executorType",
        alias = "executortype",
        deserialize_with = "lenient"
    )]
    pub executor_type: String,
    #[serde(
        rename = "functionName",
        alias = "functionname",
        deserialize_with = "lenient"
    )]
    pub function_name: String,
    #[serde(
        rename = "reconcileInterval",
        alias = "reconcileinterval",
        deserialize_with = "lenient",
        skip_serializing_if = "is_zero"
    )]
    pub reconcile_interval: i64,
}

/// A definition's spec (upstream `BlueprintDefinitionSpec`); `schema` is kept as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintDefinitionSpec {
    #[serde(deserialize_with = "lenient")]
    pub group: String,
    #[serde(deserialize_with = "lenient")]
    pub version: String,
    #[serde(deserialize_with = "lenient")]
    pub names: BlueprintNames,
    #[serde(deserialize_with = "lenient")]
    pub scope: String,
    #[serde(skip_serializing_if = "is_empty_json")]
    pub schema: serde_json::Value,
    #[serde(deserialize_with = "lenient")]
    pub handler: BlueprintHandler,
}

/// A blueprint definition: a kind, its schema and its reconciler.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintDefinition {
    #[serde(deserialize_with = "lenient")]
    pub blueprintdefinitionid: String,
    #[serde(deserialize_with = "lenient")]
    pub kind: String,
    #[serde(deserialize_with = "lenient")]
    pub metadata: BlueprintMetadata,
    #[serde(deserialize_with = "lenient")]
    pub spec: BlueprintDefinitionSpec,
}

/// One recorded change of a blueprint (upstream `BlueprintHistory`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlueprintHistory {
    pub historyid: String,
    pub blueprintid: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub spec: serde_json::Value,
    #[serde(skip_serializing_if = "is_empty_json")]
    pub status: serde_json::Value,
    pub timestamp: Timestamp,
    pub changedby: String,
    pub changetype: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pycolonies_submit_parses_and_round_trips_postcard() {
        let json = r#"{"nodename": "echo", "funcname": "echo", "args": ["hi", 3],
 "kwargs": null, "priority": 1, "maxwaittime": -1, "maxexectime": -1, "maxretries": -1,
 "conditions": {"colonyname": "dev", "executornames": null, "executortype": "cli", "dependencies": [],
  "nodes": 0, "cpu": "", "processes": 0, "processespernode": 0, "mem": "", "storage": "",
  "gpu": {"name": "", "mem": "", "count": 0, "nodecount": 0}, "walltime": 0},
 "label": "", "fs": null, "env": {}, "channels": ["chat"]}"#;
        let spec: FunctionSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.conditions.executortype, "cli");
        assert_eq!(spec.channels, vec!["chat".to_string()]);
        let p = Process {
            processid: "p".into(),
            spec,
            output: vec![RawJson::from_text("\"x\"").unwrap()],
            ..Process::default()
        };
        let bytes = postcard::to_stdvec(&p).unwrap();
        let back: Process = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
        let wire = serde_json::to_value(&back).unwrap();
        assert_eq!(wire["spec"]["args"], serde_json::json!(["hi", 3]));
        assert_eq!(wire["out"], serde_json::json!(["x"]));
        assert_eq!(wire["starttime"], "0001-01-01T00:00:00Z");
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for bad in [
            r#"{"priority": "high"}"#,
            r#"{"priority": 99999999999999999999}"#,
            r#"{"conditions": 5}"#,
            r#"{"env": {"a": 1}}"#,
        ] {
            assert!(serde_json::from_str::<FunctionSpec>(bad).is_err(), "{bad}");
        }
        // deep nesting where a type is expected hits serde_json's recursion limit
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let json = format!(r#"{{"conditions": {{"gpu": {deep}}}}}"#);
        assert!(serde_json::from_str::<FunctionSpec>(&json).is_err());
        // free-form JSON is skipped iteratively and kept verbatim: no stack overflow either way
        let json = format!(r#"{{"kwargs": {deep}}}"#);
        if let Ok(spec) = serde_json::from_str::<FunctionSpec>(&json) {
            assert_eq!(spec.kwargs.text().len(), 20_000);
        }
    }
}
