//! The authorization matrix: every implemented payload type (the `/api` RPCs and the three
//! `/pubsub` subscriptions), signed as each of twelve roles, against a real colonyd process.
//! Each cell gets a fresh fixture (its own pair of colonies), so a mutating request in one cell
//! cannot change another cell's outcome.
//!
//! The expected outcome of every cell is written out in [`matrix`] from spec §3/§4 and
//! decisions.md: allowed cells must answer 200 (or the subscription's first frame), refused
//! cells must answer exactly the listed status (403 unless noted). Roles from the other colony
//! are refused everywhere except the two unsigned RPCs: nothing crosses colonies.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod e2e;

use colonyd::PrivateKey;
use colonyd::{envelope, Client};
use colonyd::{Access, PayloadType};
use e2e::Colonyd;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const SERVER_PRVKEY: &str = e2e::SERVER_PRVKEY;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    ServerOwner,
    ColonyOwner,
    OtherColonyOwner,
    ApprovedExecutor,
    PendingExecutor,
    RejectedExecutor,
    /// Added, approved, then removed by the colony owner (kept as UNREGISTERED).
    UnregisteredExecutor,
    User,
    Submitter,
    AssignedExecutor,
    Stranger,
    OtherColonyExecutor,
}
use Role::*;

const ROLES: [Role; 12] = [
    ServerOwner,
    ColonyOwner,
    OtherColonyOwner,
    ApprovedExecutor,
    PendingExecutor,
    RejectedExecutor,
    UnregisteredExecutor,
    User,
    Submitter,
    AssignedExecutor,
    Stranger,
    OtherColonyExecutor,
];

/// Approved members of colony A: may read and write its processes.
const MEMBERS: &[Role] = &[ApprovedExecutor, User, Submitter, AssignedExecutor];
/// Members without the approval requirement (spec "M0"): pending, rejected and unregistered
/// executors too (upstream checks an executor's state only where approval is required).
const MEMBERS0: &[Role] = &[
    ApprovedExecutor,
    PendingExecutor,
    RejectedExecutor,
    UnregisteredExecutor,
    User,
    Submitter,
    AssignedExecutor,
];
const EVERYONE: &[Role] = &ROLES;
/// Members or the colony owner (blueprints, as upstream: membership, else ownership).
const MEMBERS_OR_OWNER: &[Role] = &[
    ApprovedExecutor,
    User,
    Submitter,
    AssignedExecutor,
    ColonyOwner,
];

/// One fixture: colony A with every role, colony B with its owner and an executor, a running
/// process P (submitted by the submitter, assigned to the assigned executor, channel "chat"
/// with one entry, a log and an attribute), a waiting process W, a running one-node workflow G
/// (root R assigned to the assigned executor), a waiting workflow G2, a function of the
/// approved executor.
struct Fixture {
    n: usize,
    colony: String,
    keys: Vec<(Role, PrivateKey)>,
    names: std::collections::HashMap<&'static str, String>,
    p: String,
    w: String,
    g: String,
    r: String,
    g2: String,
    attribute: String,
    function: String,
    cron: String,
    generator: String,
    blueprint: String,
}

impl Fixture {
    fn key(&self, r: Role) -> &PrivateKey {
        &self.keys.iter().find(|(k, _)| *k == r).expect("role").1
    }
    fn id(&self, r: Role) -> String {
        self.key(r).id()
    }
    fn name(&self, k: &str) -> String {
        self.names[k].clone()
    }
}

fn ok(c: &mut Client, msg: Value, key: &PrivateKey) -> Value {
    let what = msg["msgtype"].clone();
    c.call(msg, key)
        .unwrap_or_else(|e| panic!("fixture step {what} failed: {e}"))
}

fn spec(colony: &str, name: &str, channels: &[&str]) -> Value {
    json!({"nodename": name, "funcname": "work", "args": [], "maxexectime": -1, "maxretries": 0,
           "conditions": {"colonyname": colony, "executortype": "t", "dependencies": []},
           "channels": channels, "label": "matrix"})
}

fn fixture(c: &mut Client, n: usize) -> Fixture {
    let so = PrivateKey::from_hex(SERVER_PRVKEY).expect("server key");
    let keys: Vec<(Role, PrivateKey)> = ROLES
        .iter()
        .map(|r| {
            (
                *r,
                if *r == ServerOwner {
                    PrivateKey::from_hex(SERVER_PRVKEY).expect("key")
                } else {
                    PrivateKey::generate()
                },
            )
        })
        .collect();
    let key = |r: Role| &keys.iter().find(|(k, _)| *k == r).expect("role").1;
    let a = format!("a{n}");
    let b = format!("b{n}");
    let co = key(ColonyOwner);
    let ocoy = key(OtherColonyOwner);
    ok(
        c,
        json!({"msgtype":"addcolonymsg","colony":{"colonyid":co.id(),"name":a}}),
        &so,
    );
    ok(
        c,
        json!({"msgtype":"addcolonymsg","colony":{"colonyid":ocoy.id(),"name":b}}),
        &so,
    );
    let mut names = std::collections::HashMap::new();
    for (role, name, colony, owner, state) in [
        (AssignedExecutor, "asg", &a, co, Some("approveexecutormsg")),
        (ApprovedExecutor, "ok", &a, co, Some("approveexecutormsg")),
        (PendingExecutor, "pend", &a, co, None),
        (RejectedExecutor, "rej", &a, co, Some("rejectexecutormsg")),
        (
            UnregisteredExecutor,
            "unreg",
            &a,
            co,
            Some("approveexecutormsg"),
        ),
        (
            OtherColonyExecutor,
            "other",
            &b,
            ocoy,
            Some("approveexecutormsg"),
        ),
    ] {
        let ename = format!("{name}{n}");
        ok(
            c,
            json!({"msgtype":"addexecutormsg","executor":{"executorid":key(role).id(),
                "executorname":ename,"executortype":"t","colonyname":colony}}),
            owner,
        );
        if let Some(t) = state {
            ok(
                c,
                json!({"msgtype":t,"colonyname":colony,"executorname":ename}),
                owner,
            );
        }
        if role == UnregisteredExecutor {
            ok(
                c,
                json!({"msgtype":"removeexecutormsg","colonyname":colony,"executorname":ename}),
                owner,
            );
        }
        names.insert(name, ename);
    }
    for (role, name) in [(User, "alice"), (Submitter, "bob")] {
        let uname = format!("{name}{n}");
        ok(
            c,
            json!({"msgtype":"addusermsg","user":{"colonyname":a,"userid":key(role).id(),
                "name":uname,"email":"","phone":""}}),
            co,
        );
        names.insert(name, uname);
    }
    let sub = key(Submitter);
    let asg = key(AssignedExecutor);
    let wf = |root: &str| {
        json!({"msgtype":"submitworkflowspecmsg",
               "spec":{"colonyname":a,"functionspecs":[spec(&a, root, &[])]}})
    };
    let g = ok(c, wf("root"), sub)["processgraphid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = ok(
        c,
        json!({"msgtype":"assignprocessmsg","colonyname":a,"timeout":-1}),
        asg,
    )["processid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let p = ok(
        c,
        json!({"msgtype":"submitfuncspecmsg","spec":spec(&a, "p", &["chat"])}),
        sub,
    )["processid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let assigned = ok(
        c,
        json!({"msgtype":"assignprocessmsg","colonyname":a,"timeout":-1}),
        asg,
    );
    assert_eq!(
        assigned["processid"],
        json!(p),
        "fixture: P assigned second"
    );
    ok(
        c,
        json!({"msgtype":"addlogmsg","processid":p,"message":"hello log"}),
        asg,
    );
    let attribute = ok(
        c,
        json!({"msgtype":"addattributemsg","attribute":{"targetid":p,"key":"k","value":"v",
            "attributetype":1,"targetcolonyname":a}}),
        asg,
    )["attributeid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ok(
        c,
        json!({"msgtype":"channelappendmsg","processid":p,"name":"chat","sequence":1,
            "payload":"aGk=","payloadtype":""}),
        sub,
    );
    let function = ok(
        c,
        json!({"msgtype":"addfunctionmsg","fun":{"executorname":names["ok"],"colonyname":a,
            "funcname":"work"}}),
        key(ApprovedExecutor),
    )["functionid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let w = ok(
        c,
        json!({"msgtype":"submitfuncspecmsg","spec":spec(&a, "w", &[])}),
        sub,
    )["processid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let g2 = ok(c, wf("root2"), sub)["processgraphid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let workflow =
        json!({"colonyname": a, "functionspecs": [spec(&a, "cronned", &[])]}).to_string();
    let cron = ok(
        c,
        json!({"msgtype":"addcronmsg","cron":{"colonyname":a,"name":"fixture-cron",
            "interval":100000,"workflowspec":workflow}}),
        sub,
    )["cronid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let generator = ok(
        c,
        json!({"msgtype":"addgeneratormsg","generator":{"colonyname":a,"name":"fixture-gen",
            "trigger":100,"timeout":-1,"workflowspec":workflow}}),
        sub,
    )["generatorid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ok(
        c,
        json!({"msgtype":"addlocationmsg","location":{"locationid":"","colonyname":a,
            "name":"here","description":"","long":0.0,"lat":0.0}}),
        co,
    );
    ok(
        c,
        json!({"msgtype":"addfilemsg","file":{"colonyname":a,"label":"/m","name":"f","size":1,
            "ref":{"protocol":"s3","s3object":{"object":"o","bucket":"b"}}}}),
        sub,
    );
    ok(
        c,
        json!({"msgtype":"createsnapshotmsg","colonyname":a,"label":"/m","name":"snap"}),
        sub,
    );
    for (name, kind) in [("defs", "Thing"), ("spare", "Spare")] {
        ok(
            c,
            json!({"msgtype":"addblueprintdefinitionmsg","blueprintdefinition":{"kind":kind,
                "metadata":{"name":name,"colonyname":a},
                "spec":{"names":{"kind":kind},"handler":{"executorType":"bp","functionName":"rec"}}}}),
            co,
        );
    }
    let blueprint = ok(
        c,
        json!({"msgtype":"addblueprintmsg","blueprint":{"kind":"Thing",
            "metadata":{"name":"bp1","colonyname":a},"spec":{"size":1}}}),
        sub,
    )["blueprintid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Fixture {
        blueprint,
        cron,
        generator,
        n,
        colony: a,
        keys,
        names,
        p,
        w,
        g,
        r,
        g2,
        attribute,
        function,
    }
}

/// How a request travels.
#[derive(Clone, Copy)]
enum Via {
    Api,
    PubSub,
}

/// One row: the payload type, its request built from a fixture, the roles that may do it, and
/// refusal statuses other than 403.
struct Row {
    payloadtype: &'static str,
    via: Via,
    request: fn(&Fixture) -> Value,
    allowed: &'static [Role],
    /// What an allowed cell answers (200 unless noted).
    allowed_status: u16,
    refused_status: &'static [(Role, u16)],
}

const fn api(
    payloadtype: &'static str,
    request: fn(&Fixture) -> Value,
    allowed: &'static [Role],
) -> Row {
    Row {
        payloadtype,
        via: Via::Api,
        request,
        allowed,
        allowed_status: 200,
        refused_status: &[],
    }
}

fn fresh_id() -> String {
    PrivateKey::generate().id()
}

fn matrix() -> Vec<Row> {
    vec![
        // colonies
        api(
            "addcolonymsg",
            |f| json!({"colony":{"colonyid":fresh_id(),"name":format!("new{}", f.n)}}),
            &[ServerOwner],
        ),
        api(
            "removecolonymsg",
            |f| json!({"colonyname":f.colony}),
            &[ServerOwner],
        ),
        api("getcoloniesmsg", |_| json!({}), &[ServerOwner]),
        api("getcolonymsg", |f| json!({"colonyname":f.colony}), MEMBERS),
        api(
            "getcolonystatsmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS,
        ),
        api("getstatisticsmsg", |_| json!({}), &[ServerOwner]),
        // executors
        api(
            "addexecutormsg",
            |f| {
                json!({"executor":{"executorid":fresh_id(),"executorname":format!("new{}", f.n),
            "executortype":"t","colonyname":f.colony}})
            },
            &[ColonyOwner],
        ),
        api(
            "approveexecutormsg",
            |f| json!({"colonyname":f.colony,"executorname":f.name("pend")}),
            &[ColonyOwner],
        ),
        api(
            "rejectexecutormsg",
            |f| json!({"colonyname":f.colony,"executorname":f.name("pend")}),
            &[ColonyOwner],
        ),
        api(
            "removeexecutormsg",
            |f| json!({"colonyname":f.colony,"executorname":f.name("pend")}),
            &[ColonyOwner],
        ),
        api(
            "getexecutorsmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS0,
        ),
        api(
            "getexecutormsg",
            |f| json!({"colonyname":f.colony,"executorname":f.name("ok")}),
            MEMBERS,
        ),
        api(
            "getexecutorbyidmsg",
            |f| json!({"colonyname":f.colony,"executorid":f.id(ApprovedExecutor)}),
            MEMBERS,
        ),
        api(
            "updateexecutormsg",
            |f| {
                json!({"colonyname":f.colony,"executorname":f.name("ok"),
            "capabilities":{"hardware":[],"software":[]}})
            },
            &[ApprovedExecutor],
        ),
        api(
            "reportallocationmsg",
            |f| {
                json!({"colonyname":f.colony,"executorname":f.name("ok"),
            "allocations":{"projects":{}}})
            },
            &[ApprovedExecutor],
        ),
        // users
        api(
            "addusermsg",
            |f| {
                json!({"user":{"colonyname":f.colony,"userid":fresh_id(),"name":format!("carol{}", f.n),
            "email":"","phone":""}})
            },
            &[ColonyOwner],
        ),
        api("getusersmsg", |f| json!({"colonyname":f.colony}), MEMBERS0),
        api(
            "getusermsg",
            |f| json!({"colonyname":f.colony,"name":f.name("alice")}),
            MEMBERS0,
        ),
        api(
            "getuserbyidmsg",
            |f| json!({"colonyname":f.colony,"userid":f.id(User)}),
            MEMBERS0,
        ),
        api(
            "removeusermsg",
            |f| json!({"colonyname":f.colony,"name":f.name("alice")}),
            &[ColonyOwner],
        ),
        // processes
        api(
            "submitfuncspecmsg",
            |f| json!({"spec":spec(&f.colony, "s", &[])}),
            MEMBERS,
        ),
        Row {
            refused_status: &[],
            ..api(
                "assignprocessmsg",
                |f| json!({"colonyname":f.colony,"timeout":-1}),
                &[ApprovedExecutor, AssignedExecutor],
            )
        },
        api("getprocessmsg", |f| json!({"processid":f.p}), MEMBERS),
        api(
            "getprocessesmsg",
            |f| json!({"colonyname":f.colony,"count":10,"state":0}),
            MEMBERS,
        ),
        api(
            "getprocesshistmsg",
            |f| json!({"colonyname":f.colony,"executorid":"","seconds":60,"state":0}),
            MEMBERS,
        ),
        api(
            "removeprocessmsg",
            |f| json!({"processid":f.w,"all":false}),
            MEMBERS,
        ),
        api(
            "removeallprocessesmsg",
            |f| json!({"colonyname":f.colony,"state":0}),
            &[ColonyOwner],
        ),
        api(
            "closesuccessfulmsg",
            |f| json!({"processid":f.p,"out":["done"]}),
            &[AssignedExecutor],
        ),
        api(
            "closefailedmsg",
            |f| json!({"processid":f.p,"errors":["broke"]}),
            &[AssignedExecutor],
        ),
        api(
            "setoutputmsg",
            |f| json!({"processid":f.p,"out":["partial"]}),
            &[AssignedExecutor],
        ),
        api("cancelprocessmsg", |f| json!({"processid":f.w}), MEMBERS),
        api(
            "pauseassignmentsmsg",
            |f| json!({"colonyname":f.colony}),
            &[ColonyOwner],
        ),
        api(
            "resumeassignmentsmsg",
            |f| json!({"colonyname":f.colony}),
            &[ColonyOwner],
        ),
        api(
            "getpausestatusmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS0,
        ),
        api(
            "addattributemsg",
            |f| {
                json!({"attribute":{"targetid":f.p,"key":"k2","value":"v2","attributetype":1,
            "targetcolonyname":f.colony}})
            },
            &[AssignedExecutor],
        ),
        api(
            "getattributemsg",
            |f| json!({"attributeid":f.attribute}),
            MEMBERS,
        ),
        // logs
        api(
            "addlogmsg",
            |f| json!({"processid":f.p,"message":"more"}),
            &[AssignedExecutor],
        ),
        api(
            "addexecutorlogmsg",
            |f| json!({"colonyname":f.colony,"executorname":f.name("ok"),"message":"x"}),
            &[ApprovedExecutor],
        ),
        api(
            "getlogsmsg",
            |f| json!({"colonyname":f.colony,"processid":f.p,"executorname":"","count":10,"since":0}),
            MEMBERS,
        ),
        api(
            "searchlogsmsg",
            |f| json!({"colonyname":f.colony,"text":"hello","days":1,"count":10}),
            MEMBERS,
        ),
        // functions
        api(
            "addfunctionmsg",
            |f| json!({"fun":{"executorname":f.name("ok"),"colonyname":f.colony,"funcname":"more"}}),
            &[ApprovedExecutor],
        ),
        api(
            "getfunctionsmsg",
            |f| json!({"colonyname":f.colony,"executorname":""}),
            MEMBERS,
        ),
        api(
            "removefunctionmsg",
            |f| json!({"functionid":f.function}),
            &[ApprovedExecutor],
        ),
        // workflows
        api(
            "submitworkflowspecmsg",
            |f| {
                json!({"spec":{"colonyname":f.colony,
            "functionspecs":[spec(&f.colony, "x", &[])]}})
            },
            MEMBERS,
        ),
        api(
            "getprocessgraphmsg",
            |f| json!({"processgraphid":f.g}),
            MEMBERS,
        ),
        api(
            "getprocessgraphsmsg",
            |f| json!({"colonyname":f.colony,"count":10,"state":0}),
            MEMBERS,
        ),
        api(
            "removeprocessgraphmsg",
            |f| json!({"processgraphid":f.g2,"all":false}),
            MEMBERS,
        ),
        api(
            "removeallprocessgraphsmsg",
            |f| json!({"colonyname":f.colony,"state":0}),
            &[ColonyOwner],
        ),
        api(
            "cancelprocessgraphmsg",
            |f| json!({"processgraphid":f.g2}),
            MEMBERS,
        ),
        Row {
            // spec §4.5: a member whose process it is not gets 400 ("not assigned to signer")
            refused_status: &[(ApprovedExecutor, 400), (User, 400), (Submitter, 400)],
            ..api(
                "addchildmsg",
                |f| {
                    json!({"processgraphid":f.g,"parentprocessid":f.r,"childprocessid":"",
                "spec":spec(&f.colony, "child", &[]),"insert":false})
                },
                &[AssignedExecutor],
            )
        },
        // channels
        api(
            "channelappendmsg",
            |f| json!({"processid":f.p,"name":"chat","sequence":2,"payload":"eA==","payloadtype":""}),
            &[Submitter, AssignedExecutor],
        ),
        api(
            "channelreadmsg",
            |f| json!({"processid":f.p,"name":"chat","afterseq":0,"limit":0}),
            &[Submitter, AssignedExecutor],
        ),
        // server
        api(
            "versionmsg",
            |_| json!({"buildversion":"","buildtime":""}),
            EVERYONE,
        ),
        api("getserverinfomsg", |_| json!({}), EVERYONE),
        api(
            "changeserveridmsg",
            |f| json!({"serverid":f.id(ServerOwner)}),
            &[ServerOwner],
        ),
        api(
            "changecolonyidmsg",
            |f| json!({"colonyname":f.colony,"colonyid":f.id(ColonyOwner)}),
            &[ColonyOwner],
        ),
        api(
            "changeuseridmsg",
            |f| json!({"colonyname":f.colony,"userid":fresh_id()}),
            &[User, Submitter],
        ),
        api(
            "changeexecutoridmsg",
            |f| json!({"colonyname":f.colony,"executorid":fresh_id()}),
            &[
                ApprovedExecutor,
                PendingExecutor,
                RejectedExecutor,
                UnregisteredExecutor,
                AssignedExecutor,
            ],
        ),
        api(
            "colonydbackupmsg",
            |f| json!({"dir":format!("backup-{}", f.n)}),
            &[ServerOwner],
        ),
        api("colonydstatusmsg", |_| json!({}), &[ServerOwner]),
        api("colonydexportmsg", |_| json!({}), &[ServerOwner]),
        // crons
        api(
            "addcronmsg",
            |f| {
                json!({"cron":{"colonyname":f.colony,"name":format!("cron{}", f.n),"interval":100000,
                "workflowspec":json!({"colonyname":f.colony,"functionspecs":[spec(&f.colony, "x", &[])]}).to_string()}})
            },
            MEMBERS,
        ),
        api("getcronmsg", |f| json!({"cronid":f.cron}), MEMBERS),
        api(
            "getcronsmsg",
            |f| json!({"colonyname":f.colony,"count":10}),
            MEMBERS,
        ),
        api("runcronmsg", |f| json!({"cronid":f.cron}), MEMBERS),
        api(
            "removecronmsg",
            |f| json!({"cronid":f.cron,"all":false}),
            MEMBERS,
        ),
        // generators
        api(
            "addgeneratormsg",
            |f| {
                json!({"generator":{"colonyname":f.colony,"name":format!("gen{}", f.n),"trigger":3,
                "timeout":-1,
                "workflowspec":json!({"colonyname":f.colony,"functionspecs":[spec(&f.colony, "x", &[])]}).to_string()}})
            },
            MEMBERS,
        ),
        api(
            "getgeneratormsg",
            |f| json!({"generatorid":f.generator}),
            MEMBERS,
        ),
        api(
            "getgeneratorsmsg",
            |f| json!({"colonyname":f.colony,"count":10}),
            MEMBERS,
        ),
        api(
            "resolvegeneratormsg",
            |f| json!({"colonyname":f.colony,"generatorname":"fixture-gen"}),
            MEMBERS,
        ),
        api(
            "packgeneratormsg",
            |f| json!({"generatorid":f.generator,"arg":"a"}),
            MEMBERS,
        ),
        api(
            "removegeneratormsg",
            |f| json!({"generatorid":f.generator,"all":false}),
            MEMBERS,
        ),
        // locations
        api(
            "addlocationmsg",
            |f| {
                json!({"location":{"locationid":"","colonyname":f.colony,"name":"there",
                "description":"","long":1.5,"lat":2.5}})
            },
            &[ColonyOwner],
        ),
        api(
            "getlocationmsg",
            |f| json!({"colonyname":f.colony,"name":"here"}),
            MEMBERS0,
        ),
        api(
            "getlocationsmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS0,
        ),
        api(
            "removelocationmsg",
            |f| json!({"colonyname":f.colony,"name":"here"}),
            &[ColonyOwner],
        ),
        api("getclustermsg", |_| json!({}), &[ServerOwner]),
        // blueprints
        api(
            "addblueprintdefinitionmsg",
            |f| {
                json!({"blueprintdefinition":{"kind":"New","metadata":{"name":format!("d{}", f.n),
                "colonyname":f.colony},"spec":{"names":{"kind":"New"}}}})
            },
            &[ColonyOwner],
        ),
        api(
            "getblueprintdefinitionmsg",
            |f| json!({"colonyname":f.colony,"name":"defs"}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "getblueprintdefinitionsmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "removeblueprintdefinitionmsg",
            |f| json!({"namespace":f.colony,"name":"spare"}),
            &[ColonyOwner],
        ),
        api(
            "addblueprintmsg",
            |f| {
                json!({"blueprint":{"kind":"Thing","metadata":{"name":format!("b{}", f.n),
                "colonyname":f.colony},"spec":{"size":2}}})
            },
            MEMBERS_OR_OWNER,
        ),
        api(
            "getblueprintmsg",
            |f| json!({"namespace":f.colony,"name":"bp1"}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "getblueprintsmsg",
            |f| json!({"namespace":f.colony,"kind":"Thing","locationname":""}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "updateblueprintmsg",
            |f| {
                json!({"blueprint":{"kind":"Thing","metadata":{"name":"bp1","colonyname":f.colony},
                "spec":{"size":3}},"forcegeneration":false})
            },
            MEMBERS_OR_OWNER,
        ),
        api(
            "removeblueprintmsg",
            |f| json!({"namespace":f.colony,"name":"bp1"}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "getblueprinthistorymsg",
            |f| json!({"blueprintid":f.blueprint,"limit":5}),
            MEMBERS_OR_OWNER,
        ),
        api(
            "updateblueprintstatusmsg",
            |f| json!({"colonyname":f.colony,"blueprintname":"bp1","status":{"ok":true}}),
            MEMBERS,
        ),
        api(
            "reconcileblueprintmsg",
            |f| json!({"namespace":f.colony,"name":"bp1","force":false}),
            MEMBERS,
        ),
        // ColonyFS
        api(
            "addfilemsg",
            |f| {
                json!({"file":{"colonyname":f.colony,"label":"/m","name":"new","size":1,
                "ref":{"protocol":"s3","s3object":{"server":"s3","port":9000,"accesskey":"k",
                "secretkey":"s","object":"o","bucket":"b"}}}})
            },
            MEMBERS,
        ),
        api(
            "getfilemsg",
            |f| json!({"colonyname":f.colony,"fileid":"","label":"/m","name":"f","latest":true}),
            MEMBERS,
        ),
        api(
            "getfilesmsg",
            |f| json!({"colonyname":f.colony,"label":"/m"}),
            MEMBERS,
        ),
        api(
            "getfilelabelsmsg",
            |f| json!({"colonyname":f.colony,"name":"","exact":false}),
            MEMBERS,
        ),
        api(
            "removefilemsg",
            |f| json!({"colonyname":f.colony,"fileid":"","label":"/m","name":"f"}),
            MEMBERS,
        ),
        api(
            "createsnapshotmsg",
            |f| json!({"colonyname":f.colony,"label":"/m","name":format!("s{}", f.n)}),
            MEMBERS,
        ),
        api(
            "getsnapshotmsg",
            |f| json!({"colonyname":f.colony,"snapshotid":"","name":"snap"}),
            MEMBERS,
        ),
        api(
            "getsnapshotsmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS,
        ),
        api(
            "removesnapshotmsg",
            |f| json!({"colonyname":f.colony,"snapshotid":"","name":"snap"}),
            MEMBERS,
        ),
        api(
            "removeallsnapshotmsg",
            |f| json!({"colonyname":f.colony}),
            MEMBERS,
        ),
        // /pubsub
        Row {
            via: Via::PubSub,
            ..api(
                "subscribeprocessmsg",
                |f| {
                    json!({"processid":f.p,"executortype":"t","state":1,"timeout":5,
                "colonyname":f.colony})
                },
                MEMBERS,
            )
        },
        Row {
            // nothing new becomes WAITING during the 1 s window: an allowed subscriber waits and
            // times out (408, decisions.md), a refused one is refused at once (403)
            via: Via::PubSub,
            allowed_status: 408,
            ..api(
                "subscribeprocessesmsg",
                |f| json!({"colonyname":f.colony,"executortype":"t","state":0,"timeout":1}),
                &[ApprovedExecutor, AssignedExecutor],
            )
        },
        Row {
            via: Via::PubSub,
            ..api(
                "subscribechannelmsg",
                |f| json!({"processid":f.p,"name":"chat","afterseq":0,"timeout":5}),
                &[Submitter, AssignedExecutor],
            )
        },
    ]
}

/// Sends one cell's request; returns the status: the HTTP status for `/api`, the error
/// envelope's status (or 200 for a data frame, 408 for a subscription's timeout) on `/pubsub`.
fn send(c: &mut Client, addr: &str, via: Via, msg: &Value, key: &PrivateKey) -> (u16, String) {
    match via {
        Via::Api => {
            let (status, body) = c.post(&envelope(msg, key)).expect("transport");
            let (_, v) = colonyd::decode_reply(&body).expect("reply envelope");
            (
                status,
                v["message"].as_str().unwrap_or_default().to_string(),
            )
        }
        Via::PubSub => {
            use async_tungstenite::tungstenite::{client, Message};
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .expect("timeout");
            let (mut ws, _) = client(format!("ws://{addr}/pubsub"), stream).expect("handshake");
            let req = String::from_utf8(envelope(msg, key)).expect("utf8");
            ws.send(Message::text(req)).expect("send");
            loop {
                match ws.read().expect("a frame before the socket closes") {
                    Message::Text(t) => {
                        let (error, payload) =
                            colonyd::decode_reply(t.as_bytes()).expect("envelope");
                        if error {
                            let status = payload["status"].as_u64().unwrap_or(0) as u16;
                            return (status, payload["message"].as_str().unwrap_or("").into());
                        }
                        return (200, String::new());
                    }
                    Message::Close(_) => return (0, "closed without a frame".into()),
                    _ => continue,
                }
            }
        }
    }
}

#[test]
fn authorization_matrix() {
    let server = Colonyd::start();
    let addr = format!("127.0.0.1:{}", server.port);
    let rows = matrix();
    let cells: Vec<(usize, Role)> = (0..rows.len())
        .flat_map(|r| ROLES.iter().map(move |role| (r, *role)))
        .collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let checked = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut c = Client::connect(&addr).expect("connect");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(r, role)) = cells.get(i) else {
                        break;
                    };
                    let row = &rows[r];
                    let f = fixture(&mut c, i);
                    let mut msg = (row.request)(&f);
                    msg["msgtype"] = json!(row.payloadtype);
                    let (status, message) = send(&mut c, &addr, row.via, &msg, f.key(role));
                    let want = if row.allowed.contains(&role) {
                        row.allowed_status
                    } else {
                        row.refused_status
                            .iter()
                            .find(|(r, _)| *r == role)
                            .map_or(403, |(_, s)| *s)
                    };
                    if status != want {
                        failures.lock().unwrap().push(format!(
                            "{:<26} {:<20?} want {want} got {status}: {message}",
                            row.payloadtype, role
                        ));
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let n = checked.load(Ordering::Relaxed);
    println!(
        "authorization matrix: {} payload types x {} roles = {n} cells checked",
        rows.len(),
        ROLES.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {n} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The roles that may send a payload type according to its declaration in the request table
/// (`colonyd::Access`), in this fixture's terms: the named executor is the approved
/// executor (the owner of the fixture's function).
fn declared(access: Access) -> &'static [Role] {
    match access {
        Access::Unsigned => EVERYONE,
        Access::ServerOwner => &[ServerOwner],
        Access::ColonyOwner => &[ColonyOwner],
        Access::Member => MEMBERS,
        Access::AnyMember => MEMBERS0,
        Access::MemberOrOwner => MEMBERS_OR_OWNER,
        Access::Executor => &[ApprovedExecutor, AssignedExecutor],
        Access::NamedExecutor => &[ApprovedExecutor],
        Access::AssignedExecutor => &[AssignedExecutor],
        Access::ChannelParty => &[Submitter, AssignedExecutor],
        Access::OwnUser => &[User, Submitter],
        Access::OwnExecutor => &[
            ApprovedExecutor,
            PendingExecutor,
            RejectedExecutor,
            UnregisteredExecutor,
            AssignedExecutor,
        ],
    }
}

/// Every payload type has exactly one row, and the row allows exactly the roles its
/// declaration names: the table, the handlers (checked by `authorization_matrix`) and this
/// matrix cannot drift apart.
#[test]
fn matrix_covers_every_payload_type_as_declared() {
    let rows = matrix();
    for pt in PayloadType::ALL {
        let found: Vec<&Row> = rows.iter().filter(|r| r.payloadtype == pt.name()).collect();
        assert_eq!(
            found.len(),
            1,
            "{} has {} rows in the matrix",
            pt.name(),
            found.len()
        );
        let mut want: Vec<String> = declared(pt.access())
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        let mut got: Vec<String> = found[0].allowed.iter().map(|r| format!("{r:?}")).collect();
        want.sort();
        got.sort();
        assert_eq!(
            got,
            want,
            "{}: matrix row vs declared {:?}",
            pt.name(),
            pt.access()
        );
    }
    assert_eq!(
        rows.len(),
        PayloadType::ALL.len(),
        "a row for a payload type colonyd does not declare"
    );
}
