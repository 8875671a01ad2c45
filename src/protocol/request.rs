//! Requests: every payload type colonyd answers, as one enum.
//!
//! [`PayloadType`] names a request kind (its wire name, where it is served, who may send it);
//! [`Request`] is a decoded request, one variant per payload type carrying its message struct
//! from [`super::msgs`]. Both come from the one table in [`requests!`] below, so adding a payload
//! type is one row here, one handler function, and one row in the authorization matrix test;
//! the compiler then points at the dispatch `match` (`handlers::route`, `pubsub`) that must
//! handle it.
//!
//! Decoding follows spec §1.2: the payload type is looked up first (unknown: 403 before the
//! payload is read), then the JSON is decoded once into the variant's message (400), and its
//! `msgtype` must equal the payload type (400).

use super::msgs::*;
use super::ApiError;
use serde::de::DeserializeOwned;

/// Where a payload type is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /api`: one request, one reply.
    Api,
    /// `GET /pubsub`: a subscription on a WebSocket (ignored on `/api`, as upstream).
    Pubsub,
}

/// Who may send a payload type (spec §3). The handler enforces it against the message's
/// colony or process; this is the declaration the authorization matrix test checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the request is not signed (`versionmsg`, `getserverinfomsg`).
    Unsigned,
    /// The server owner.
    ServerOwner,
    /// The colony's owner.
    ColonyOwner,
    /// A user or an approved executor of the colony.
    Member,
    /// A user or an executor of the colony in any state (approval not required).
    AnyMember,
    /// A user or an approved executor of the colony, or its owner.
    MemberOrOwner,
    /// An approved executor of the colony.
    Executor,
    /// The approved executor the message (or the function it names) belongs to, itself.
    NamedExecutor,
    /// The executor the process is assigned to.
    AssignedExecutor,
    /// The process's submitter or the executor it is assigned to.
    ChannelParty,
    /// A user of the colony, changing its own record.
    OwnUser,
    /// An executor of the colony in any state, changing its own record.
    OwnExecutor,
}

macro_rules! requests {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $msg:ty, $endpoint:ident, $access:ident; )*) => {
        /// A payload type colonyd answers.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum PayloadType {
            $( $(#[$doc])* $variant, )*
        }

        impl PayloadType {
            /// Every payload type, in the table's order.
            pub const ALL: &'static [PayloadType] = &[$(PayloadType::$variant,)*];

            /// The wire name (`payloadtype` and `msgtype`).
            pub fn name(self) -> &'static str {
                match self {
                    $( PayloadType::$variant => $name, )*
                }
            }

            /// The payload type with this wire name.
            pub fn from_name(name: &str) -> Option<PayloadType> {
                match name {
                    $( $name => Some(PayloadType::$variant), )*
                    _ => None,
                }
            }

            /// Where it is served.
            pub fn endpoint(self) -> Endpoint {
                match self {
                    $( PayloadType::$variant => Endpoint::$endpoint, )*
                }
            }

            /// Who may send it.
            pub fn access(self) -> Access {
                match self {
                    $( PayloadType::$variant => Access::$access, )*
                }
            }
        }

        /// A decoded request: the payload type and its message.
        #[derive(Debug)]
        pub enum Request {
            $( $(#[$doc])* $variant($msg), )*
        }

        impl Request {
            /// Decodes `json` as the message of `pt` and checks its `msgtype`.
            pub fn decode(pt: PayloadType, json: &[u8]) -> Result<Request, ApiError> {
                match pt {
                    $( PayloadType::$variant => decode::<$msg>(pt, json).map(Request::$variant), )*
                }
            }
        }
    };
}

requests! {
    // colonies
    /// Adds a colony.
    AddColony = "addcolonymsg", AddColonyMsg, Api, ServerOwner;
    /// Removes a colony and everything in it.
    RemoveColony = "removecolonymsg", ColonyNameMsg, Api, ServerOwner;
    /// Lists colonies.
    GetColonies = "getcoloniesmsg", EmptyMsg, Api, ServerOwner;
    /// One colony.
    GetColony = "getcolonymsg", ColonyNameMsg, Api, Member;
    /// A colony's process counts.
    GetColonyStats = "getcolonystatsmsg", ColonyNameMsg, Api, Member;
    /// The server's counts.
    GetStatistics = "getstatisticsmsg", EmptyMsg, Api, ServerOwner;
    // executors
    /// Registers an executor (pending approval).
    AddExecutor = "addexecutormsg", AddExecutorMsg, Api, ColonyOwner;
    /// Approves an executor.
    ApproveExecutor = "approveexecutormsg", ExecutorNameMsg, Api, ColonyOwner;
    /// Rejects an executor.
    RejectExecutor = "rejectexecutormsg", ExecutorNameMsg, Api, ColonyOwner;
    /// Unregisters an executor.
    RemoveExecutor = "removeexecutormsg", ExecutorNameMsg, Api, ColonyOwner;
    /// Lists a colony's executors.
    GetExecutors = "getexecutorsmsg", ColonyNameMsg, Api, AnyMember;
    /// One executor by name.
    GetExecutor = "getexecutormsg", ExecutorNameMsg, Api, Member;
    /// One executor by ID.
    GetExecutorById = "getexecutorbyidmsg", ExecutorIdMsg, Api, Member;
    /// Sets an executor's capabilities.
    UpdateExecutor = "updateexecutormsg", UpdateExecutorMsg, Api, NamedExecutor;
    /// Records an executor's allocations.
    ReportAllocation = "reportallocationmsg", ReportAllocationMsg, Api, NamedExecutor;
    // users
    /// Adds a user.
    AddUser = "addusermsg", AddUserMsg, Api, ColonyOwner;
    /// Lists a colony's users.
    GetUsers = "getusersmsg", ColonyNameMsg, Api, AnyMember;
    /// One user by name.
    GetUser = "getusermsg", UserNameMsg, Api, AnyMember;
    /// One user by ID.
    GetUserById = "getuserbyidmsg", UserIdMsg, Api, AnyMember;
    /// Removes a user.
    RemoveUser = "removeusermsg", UserNameMsg, Api, ColonyOwner;
    // processes
    /// Submits a function spec.
    SubmitFunctionSpec = "submitfuncspecmsg", SubmitMsg, Api, Member;
    /// Waits for a process to run (long-poll).
    AssignProcess = "assignprocessmsg", AssignMsg, Api, Executor;
    /// One process.
    GetProcess = "getprocessmsg", ProcessIdMsg, Api, Member;
    /// Lists processes.
    GetProcesses = "getprocessesmsg", GetProcessesMsg, Api, Member;
    /// Processes of an executor within a time window.
    GetProcessHistory = "getprocesshistmsg", GetProcessHistMsg, Api, Member;
    /// Removes a process.
    RemoveProcess = "removeprocessmsg", ProcessIdMsg, Api, Member;
    /// Removes a colony's processes.
    RemoveAllProcesses = "removeallprocessesmsg", RemoveAllProcessesMsg, Api, ColonyOwner;
    /// Closes a process as successful.
    CloseSuccessful = "closesuccessfulmsg", OutputMsg, Api, AssignedExecutor;
    /// Closes a process as failed.
    CloseFailed = "closefailedmsg", CloseFailedMsg, Api, AssignedExecutor;
    /// Sets a running process's output.
    SetOutput = "setoutputmsg", OutputMsg, Api, AssignedExecutor;
    /// Cancels a process.
    CancelProcess = "cancelprocessmsg", ProcessIdMsg, Api, Member;
    /// Pauses assignments in a colony.
    PauseAssignments = "pauseassignmentsmsg", ColonyNameMsg, Api, ColonyOwner;
    /// Resumes assignments in a colony.
    ResumeAssignments = "resumeassignmentsmsg", ColonyNameMsg, Api, ColonyOwner;
    /// Whether assignments are paused.
    GetPauseStatus = "getpausestatusmsg", ColonyNameMsg, Api, AnyMember;
    /// Adds an attribute to a running process.
    AddAttribute = "addattributemsg", AddAttributeMsg, Api, AssignedExecutor;
    /// One attribute.
    GetAttribute = "getattributemsg", AttributeIdMsg, Api, Member;
    // logs
    /// Adds a log line to a running process.
    AddLog = "addlogmsg", AddLogMsg, Api, AssignedExecutor;
    /// Adds a log line of an executor.
    AddExecutorLog = "addexecutorlogmsg", AddExecutorLogMsg, Api, NamedExecutor;
    /// Reads logs.
    GetLogs = "getlogsmsg", GetLogsMsg, Api, Member;
    /// Searches logs.
    SearchLogs = "searchlogsmsg", SearchLogsMsg, Api, Member;
    // functions
    /// Registers a function of the signing executor.
    AddFunction = "addfunctionmsg", AddFunctionMsg, Api, NamedExecutor;
    /// Lists functions.
    GetFunctions = "getfunctionsmsg", GetFunctionsMsg, Api, Member;
    /// Removes a function of the signing executor.
    RemoveFunction = "removefunctionmsg", FunctionIdMsg, Api, NamedExecutor;
    // workflows
    /// Submits a workflow.
    SubmitWorkflowSpec = "submitworkflowspecmsg", SubmitWorkflowMsg, Api, Member;
    /// One process graph.
    GetProcessGraph = "getprocessgraphmsg", GraphIdMsg, Api, Member;
    /// Lists process graphs.
    GetProcessGraphs = "getprocessgraphsmsg", GetGraphsMsg, Api, Member;
    /// Removes a process graph and its members.
    RemoveProcessGraph = "removeprocessgraphmsg", GraphIdMsg, Api, Member;
    /// Removes a colony's process graphs.
    RemoveAllProcessGraphs = "removeallprocessgraphsmsg", RemoveAllGraphsMsg, Api, ColonyOwner;
    /// Cancels a process graph.
    CancelProcessGraph = "cancelprocessgraphmsg", GraphIdMsg, Api, Member;
    /// Adds a child to a running workflow member.
    AddChild = "addchildmsg", AddChildMsg, Api, AssignedExecutor;
    // channels
    /// Appends to a process's channel.
    ChannelAppend = "channelappendmsg", AppendMsg, Api, ChannelParty;
    /// Reads a process's channel.
    ChannelRead = "channelreadmsg", ChannelCursorMsg, Api, ChannelParty;
    // crons
    /// Adds a cron.
    AddCron = "addcronmsg", AddCronMsg, Api, Member;
    /// One cron.
    GetCron = "getcronmsg", CronIdMsg, Api, Member;
    /// Lists a colony's crons.
    GetCrons = "getcronsmsg", ColonyCountMsg, Api, Member;
    /// Runs a cron now.
    RunCron = "runcronmsg", CronIdMsg, Api, Member;
    /// Removes a cron.
    RemoveCron = "removecronmsg", CronIdMsg, Api, Member;
    // generators
    /// Adds a generator.
    AddGenerator = "addgeneratormsg", AddGeneratorMsg, Api, Member;
    /// One generator, with its queue size.
    GetGenerator = "getgeneratormsg", GeneratorIdMsg, Api, Member;
    /// Lists a colony's generators.
    GetGenerators = "getgeneratorsmsg", ColonyCountMsg, Api, Member;
    /// One generator by name.
    ResolveGenerator = "resolvegeneratormsg", ResolveGeneratorMsg, Api, Member;
    /// Packs an argument into a generator.
    PackGenerator = "packgeneratormsg", PackGeneratorMsg, Api, Member;
    /// Removes a generator and its packed arguments.
    RemoveGenerator = "removegeneratormsg", GeneratorIdMsg, Api, Member;
    // locations
    /// Adds a location.
    AddLocation = "addlocationmsg", AddLocationMsg, Api, ColonyOwner;
    /// One location.
    GetLocation = "getlocationmsg", LocationNameMsg, Api, AnyMember;
    /// Lists a colony's locations.
    GetLocations = "getlocationsmsg", ColonyNameMsg, Api, AnyMember;
    /// Removes a location.
    RemoveLocation = "removelocationmsg", LocationNameMsg, Api, ColonyOwner;
    // ColonyFS
    /// Registers a file revision (metadata; the bytes are in S3).
    AddFile = "addfilemsg", AddFileMsg, Api, Member;
    /// A file by ID, or the revisions of a label and name.
    GetFile = "getfilemsg", GetFileMsg, Api, Member;
    /// The newest revision of every file under a label.
    GetFiles = "getfilesmsg", GetFilesMsg, Api, Member;
    /// File labels with their revision counts.
    GetFileLabels = "getfilelabelsmsg", GetFileLabelsMsg, Api, Member;
    /// Removes a file revision, or every revision of a label and name.
    RemoveFile = "removefilemsg", RemoveFileMsg, Api, Member;
    /// Freezes the newest revisions under a label as a named snapshot.
    CreateSnapshot = "createsnapshotmsg", CreateSnapshotMsg, Api, Member;
    /// One snapshot, by ID or name.
    GetSnapshot = "getsnapshotmsg", SnapshotMsg, Api, Member;
    /// A colony's snapshots, newest first.
    GetSnapshots = "getsnapshotsmsg", ColonyNameMsg, Api, Member;
    /// Removes a snapshot (its files stay).
    RemoveSnapshot = "removesnapshotmsg", SnapshotMsg, Api, Member;
    /// Removes every snapshot of a colony.
    RemoveAllSnapshots = "removeallsnapshotmsg", ColonyNameMsg, Api, Member;
    // blueprints
    /// Adds a blueprint definition (a kind, its schema and reconciler).
    AddBlueprintDefinition = "addblueprintdefinitionmsg", AddBlueprintDefinitionMsg, Api, ColonyOwner;
    /// One blueprint definition.
    GetBlueprintDefinition = "getblueprintdefinitionmsg", BlueprintDefinitionMsg, Api, MemberOrOwner;
    /// A colony's blueprint definitions.
    GetBlueprintDefinitions = "getblueprintdefinitionsmsg", ColonyNameMsg, Api, MemberOrOwner;
    /// Removes a blueprint definition without blueprints.
    RemoveBlueprintDefinition = "removeblueprintdefinitionmsg", NamespaceNameMsg, Api, ColonyOwner;
    /// Adds a blueprint (and its reconcile cron, location and first reconcile).
    AddBlueprint = "addblueprintmsg", AddBlueprintMsg, Api, MemberOrOwner;
    /// One blueprint.
    GetBlueprint = "getblueprintmsg", NamespaceNameMsg, Api, MemberOrOwner;
    /// A colony's blueprints, by kind and location.
    GetBlueprints = "getblueprintsmsg", GetBlueprintsMsg, Api, MemberOrOwner;
    /// Updates a blueprint (a new generation when its spec changes).
    UpdateBlueprint = "updateblueprintmsg", UpdateBlueprintMsg, Api, MemberOrOwner;
    /// Removes a blueprint (and submits its cleanup).
    RemoveBlueprint = "removeblueprintmsg", NamespaceNameMsg, Api, MemberOrOwner;
    /// A blueprint's recorded changes.
    GetBlueprintHistory = "getblueprinthistorymsg", BlueprintHistoryMsg, Api, MemberOrOwner;
    /// Sets a blueprint's status (the reconciler).
    UpdateBlueprintStatus = "updateblueprintstatusmsg", BlueprintStatusMsg, Api, Member;
    /// Submits a reconcile of a blueprint now.
    ReconcileBlueprint = "reconcileblueprintmsg", ReconcileBlueprintMsg, Api, Member;
    // server
    /// The cluster (this one node).
    GetCluster = "getclustermsg", EmptyMsg, Api, ServerOwner;
    /// The server's version (unsigned).
    Version = "versionmsg", EmptyMsg, Api, Unsigned;
    /// The server's identity and build (unsigned).
    GetServerInfo = "getserverinfomsg", EmptyMsg, Api, Unsigned;
    /// Changes the server owner's ID.
    ChangeServerId = "changeserveridmsg", ChangeServerIdMsg, Api, ServerOwner;
    /// Changes a colony owner's ID.
    ChangeColonyId = "changecolonyidmsg", ChangeColonyIdMsg, Api, ColonyOwner;
    /// Changes a user's own ID.
    ChangeUserId = "changeuseridmsg", ChangeUserIdMsg, Api, OwnUser;
    /// Changes an executor's ID.
    ChangeExecutorId = "changeexecutoridmsg", ChangeExecutorIdMsg, Api, OwnExecutor;
    /// Copies the store (colonyd's own).
    Backup = "colonydbackupmsg", BackupMsg, Api, ServerOwner;
    /// The server's own state: uptime, sync mode, store size, free disk (colonyd's own).
    Status = "colonydstatusmsg", EmptyMsg, Api, ServerOwner;
    /// The server's configuration state as one document, for `colonyd export` (colonyd's own).
    Export = "colonydexportmsg", EmptyMsg, Api, ServerOwner;
    // subscriptions
    /// Waits for one process to reach a state.
    SubscribeProcess = "subscribeprocessmsg", SubscribeProcessMsg, Pubsub, Member;
    /// Waits for any process of a colony and executor type to reach a state.
    SubscribeProcesses = "subscribeprocessesmsg", SubscribeProcessMsg, Pubsub, Executor;
    /// Streams a channel's entries.
    SubscribeChannel = "subscribechannelmsg", ChannelCursorMsg, Pubsub, ChannelParty;
}

impl PayloadType {
    /// Unsigned requests skip signature recovery.
    pub fn is_signed(self) -> bool {
        self.access() != Access::Unsigned
    }

    /// The reply's `payloadtype` (upstream answers `getpausestatusmsg` with its own name).
    pub fn reply_name(self) -> &'static str {
        match self {
            PayloadType::GetPauseStatus => "pausestatusreplymsg",
            other => other.name(),
        }
    }
}

fn decode<T: DeserializeOwned + Message>(pt: PayloadType, json: &[u8]) -> Result<T, ApiError> {
    let m: T = serde_json::from_slice(json).map_err(|e| {
        ApiError::bad_request(format!("Failed to handle {}, invalid JSON: {e}", pt.name()))
    })?;
    if m.msgtype() != pt.name() {
        return Err(ApiError::bad_request(format!(
            "Failed to handle {}, msg.MsgType ({:?}) does not match payloadType",
            pt.name(),
            m.msgtype()
        )));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for pt in PayloadType::ALL {
            assert!(seen.insert(pt.name()), "{} twice", pt.name());
            assert_eq!(PayloadType::from_name(pt.name()), Some(*pt));
            assert!(pt.name().ends_with("msg"));
        }
        assert_eq!(PayloadType::from_name("nosuchmsg"), None);
        assert_eq!(PayloadType::from_name(""), None);
    }

    #[test]
    fn decodes_once_and_checks_msgtype() {
        let r = Request::decode(
            PayloadType::ChannelRead,
            br#"{"msgtype":"channelreadmsg","processId":"p","channel":"c","after_seq":3}"#,
        )
        .unwrap();
        let Request::ChannelRead(m) = r else {
            panic!("wrong variant")
        };
        assert_eq!(
            (m.processid.as_str(), m.name.as_str(), m.afterseq),
            ("p", "c", 3)
        );
        let e = Request::decode(PayloadType::GetProcess, br#"{"msgtype":"getprocessesmsg"}"#)
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("does not match payloadType"), "{e}");
        let e = Request::decode(PayloadType::GetProcess, b"{").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message
                .starts_with("Failed to handle getprocessmsg, invalid JSON"),
            "{e}"
        );
    }
}
