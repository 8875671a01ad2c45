//! Request messages (spec §4): the JSON inside an envelope's base64 `payload`.
//!
//! Every message carries `msgtype`, which must equal the envelope's `payloadtype`. Missing
//! fields take their zero value and `null` reads as empty, as Go decodes them; unknown keys
//! are ignored (clients send extras). Wrong JSON types are errors.

use super::json::{lenient, RawJson};
use super::types::{Attribute, Colony, Executor, Function, FunctionSpec, User};
use serde::Deserialize;

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
}
