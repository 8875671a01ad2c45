//! Moving a server's configuration to another ColonyOS server: the export document and its
//! replay.
//!
//! [`export`] asks a colonyd for its configuration state (`colonydexportmsg`, server owner):
//! colonies with their executors (and approval), users, functions, locations, blueprint
//! definitions, blueprints, crons and generators, in the entities' wire shapes. [`import`]
//! replays such a document into any ColonyOS server with upstream's own `add…` messages, each
//! signed by the key that message needs, found in a [`KeyRing`] by the ID the item names:
//!
//! | item | message | signed by |
//! |---|---|---|
//! | colony | `addcolonymsg` | the target server's owner (`server` in the keys file) |
//! | executor | `addexecutormsg`, then `approveexecutormsg` / `rejectexecutormsg` | the colony owner (the colony's `colonyid`) |
//! | user, location, blueprint definition, blueprint | `addusermsg`, `addlocationmsg`, `addblueprintdefinitionmsg`, `addblueprintmsg` | the colony owner |
//! | function | `addfunctionmsg` | the executor that registered it (its `executorid`) |
//! | cron, generator | `addcronmsg`, `addgeneratormsg` | its initiator if its key is there, else a member: a user of the colony, else an approved executor |
//!
//! Every item ends as one [`Outcome`]: created, already present (the server answered that it
//! exists, or, for functions, lists it), or refused with the server's message or the key that
//! was missing. Nothing here writes except through those messages; the import never deletes.

// documents and replies are serde_json::Value, whose `v["key"]` never panics (a missing key or
// a non-object reads as null); nothing else here indexes
#![allow(clippy::indexing_slicing)]

use crate::client::{CallError, Client, Target};
use crate::crypto::PrivateKey;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The `format` field of an export document.
pub const FORMAT: &str = "colonyd-export";
/// The document version this build writes and reads.
pub const VERSION: u64 = 1;

/// Asks the server for its configuration state, signed by its owner.
pub fn export(target: &Target, owner: &PrivateKey) -> Result<Value, CallError> {
    let mut c = Client::open(target)?;
    c.call(json!({"msgtype": "colonydexportmsg"}), owner)
}

/// Private keys for an import, by the ID each one signs as.
#[derive(Default)]
pub struct KeyRing {
    server: Option<PrivateKey>,
    by_id: BTreeMap<String, PrivateKey>,
}

impl KeyRing {
    /// Parses a keys file: one private key (64 hex digits) per line, optionally after a label;
    /// the label `server` marks the target server owner's key; `#` starts a comment.
    pub fn parse(text: &str) -> Result<KeyRing, String> {
        let mut ring = KeyRing::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let (label, hex) = match words.as_slice() {
                [hex] => ("", *hex),
                [label, hex] => (label.trim_end_matches([':', '=']), *hex),
                [label, "=", hex] | [label, ":", hex] => (*label, *hex),
                _ => return Err(format!("line {}: expected [label] <private key>", n + 1)),
            };
            let key = PrivateKey::from_hex(hex)
                .map_err(|_| format!("line {}: not a private key (64 hex digits)", n + 1))?;
            if label == "server" {
                ring.server = Some(key.clone());
            }
            ring.by_id.insert(key.id(), key);
        }
        Ok(ring)
    }

    /// Sets the server owner's key (when the file has none).
    pub fn set_server(&mut self, key: PrivateKey) {
        if self.server.is_none() {
            self.by_id.insert(key.id(), key.clone());
            self.server = Some(key);
        }
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn get(&self, id: &str) -> Option<&PrivateKey> {
        self.by_id.get(id)
    }
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted it.
    Created,
    /// The server already had it.
    Present,
    /// Not sent or not accepted; why.
    Refused(String),
    /// `--dry-run`: would be sent, signed by this ID.
    WouldSend,
}

/// One line of the import report.
#[derive(Debug, Clone)]
pub struct Item {
    /// colony, executor, user, function, location, blueprintdefinition, blueprint, cron,
    /// generator (an executor's approval is part of the executor).
    pub kind: &'static str,
    /// `colony/name` (a colony: its name; a function: `colony/executor/funcname`).
    pub name: String,
    /// The ID of the key the message needs.
    pub signer: String,
    /// What happened.
    pub outcome: Outcome,
}

impl Item {
    /// The report as JSON (`colonyd import --json`).
    pub fn to_json(&self) -> Value {
        let (outcome, message) = match &self.outcome {
            Outcome::Created => ("created", ""),
            Outcome::Present => ("present", ""),
            Outcome::Refused(m) => ("refused", m.as_str()),
            Outcome::WouldSend => ("would-send", ""),
        };
        json!({"kind": self.kind, "name": self.name, "signer": self.signer,
               "outcome": outcome, "message": message})
    }
}

/// Checks an export document's format and version.
pub fn check_document(doc: &Value) -> Result<(), String> {
    if doc["format"] != FORMAT {
        return Err(format!(
            "not a colonyd export (\"format\" is not \"{FORMAT}\")"
        ));
    }
    match doc["version"].as_u64() {
        Some(VERSION) => Ok(()),
        v => Err(format!(
            "export version {} is not supported (this colonyd reads version {VERSION})",
            v.map_or("?".to_string(), |v| v.to_string())
        )),
    }
}

/// Fields of an executor the target server sets itself.
const EXECUTOR_RUNTIME: [&str; 4] = [
    "state",
    "commissiontime",
    "lastheardfromtime",
    "allocations",
];

fn without(v: &Value, fields: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for f in fields {
            o.remove(*f);
        }
    }
    v
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Sends one item's message signed by `key` (dry run: `client` is `None`).
fn send(
    client: &mut Option<Client>,
    kind: &'static str,
    name: String,
    signer_id: &str,
    key: Option<&PrivateKey>,
    needs: &str,
    msg: Value,
) -> Item {
    let outcome = match (key, client.as_mut()) {
        (None, _) => Outcome::Refused(format!(
            "needs the key of {needs} (ID {signer_id}), not in the keys file"
        )),
        (Some(_), None) => Outcome::WouldSend,
        (Some(k), Some(c)) => match c.call(msg, k) {
            Ok(_) => Outcome::Created,
            Err(e) if e.message.to_lowercase().contains("already exist") => Outcome::Present,
            Err(e) => Outcome::Refused(e.to_string()),
        },
    };
    Item {
        kind,
        name,
        signer: signer_id.to_string(),
        outcome,
    }
}

/// Replays `doc` into the server at `target`; `progress` sees each item as it is done.
pub fn import(
    target: &Target,
    doc: &Value,
    keys: &KeyRing,
    dry_run: bool,
    progress: &mut dyn FnMut(&Item),
) -> Result<Vec<Item>, String> {
    check_document(doc)?;
    let mut client = if dry_run {
        None
    } else {
        Some(Client::open(target).map_err(|e| format!("cannot reach {}: {e}", target.addr()))?)
    };
    let mut report = Vec::new();
    let mut done = |item: Item, report: &mut Vec<Item>| {
        progress(&item);
        report.push(item);
    };
    let server_id = keys.server.as_ref().map(PrivateKey::id).unwrap_or_default();
    for c in list(&doc["colonies"]) {
        let colony = &c["colony"];
        let cname = text(&colony["name"]).to_string();
        let owner_id = text(&colony["colonyid"]).to_string();
        let owner = keys.get(&owner_id);
        let item = send(
            &mut client,
            "colony",
            cname.clone(),
            &server_id,
            keys.server.as_ref(),
            "the server owner (a `server` line)",
            json!({"msgtype": "addcolonymsg", "colony": {"colonyid": owner_id, "name": cname}}),
        );
        done(item, &mut report);
        for e in list(&c["executors"]) {
            let ename = text(&e["executorname"]).to_string();
            let mut item = send(
                &mut client,
                "executor",
                format!("{cname}/{ename}"),
                &owner_id,
                owner,
                &format!("colony {cname}'s owner"),
                json!({"msgtype": "addexecutormsg", "executor": without(e, &EXECUTOR_RUNTIME)}),
            );
            // approval (1) or rejection (2) is part of the executor; pending (0) is the default
            let verdict = match e["state"].as_i64() {
                Some(1) => Some("approveexecutormsg"),
                Some(2) => Some("rejectexecutormsg"),
                _ => None,
            };
            if let (Some(msgtype), Outcome::Created | Outcome::Present) = (verdict, &item.outcome) {
                let msg = json!({"msgtype": msgtype, "colonyname": cname, "executorname": ename});
                let v = send(
                    &mut client,
                    "executor",
                    String::new(),
                    &owner_id,
                    owner,
                    "",
                    msg,
                );
                if let Outcome::Refused(m) = v.outcome {
                    item.outcome = Outcome::Refused(format!("added, but {msgtype}: {m}"));
                }
            }
            done(item, &mut report);
        }
        // signed by the colony owner; locations before the blueprints that name them
        for (kind, field, msgtype) in [
            ("user", "users", "addusermsg"),
            ("location", "locations", "addlocationmsg"),
            (
                "blueprintdefinition",
                "blueprintdefinitions",
                "addblueprintdefinitionmsg",
            ),
            ("blueprint", "blueprints", "addblueprintmsg"),
        ] {
            for o in list(&c[field]) {
                // users and locations carry their name at the top, blueprints in metadata
                let name = o["name"]
                    .as_str()
                    .unwrap_or_else(|| text(&o["metadata"]["name"]));
                let item = send(
                    &mut client,
                    kind,
                    format!("{cname}/{name}"),
                    &owner_id,
                    owner,
                    &format!("colony {cname}'s owner"),
                    json!({"msgtype": msgtype, (kind): o}),
                );
                done(item, &mut report);
            }
        }
        // functions, signed by their executor; an executor's existing functions are listed
        // first (adding one twice is not an error upstream, it would count twice)
        let mut existing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in list(&c["functions"]) {
            let ename = text(&f["executorname"]).to_string();
            let fname = text(&f["funcname"]).to_string();
            let exec_id = list(&c["executors"])
                .iter()
                .find(|e| e["executorname"] == f["executorname"])
                .map(|e| text(&e["executorid"]).to_string())
                .unwrap_or_default();
            let key = keys.get(&exec_id);
            let name = format!("{cname}/{ename}/{fname}");
            if let (Some(k), Some(cl)) = (key, client.as_mut()) {
                if !existing.contains_key(&ename) {
                    let have = cl
                        .call(
                            json!({"msgtype": "getfunctionsmsg", "colonyname": cname,
                                   "executorname": ename}),
                            k,
                        )
                        .map(|v| {
                            list(&v)
                                .iter()
                                .map(|f| text(&f["funcname"]).to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    existing.insert(ename.clone(), have);
                }
                if existing.get(&ename).is_some_and(|h| h.contains(&fname)) {
                    done(
                        Item {
                            kind: "function",
                            name,
                            signer: exec_id,
                            outcome: Outcome::Present,
                        },
                        &mut report,
                    );
                    continue;
                }
            }
            let fun = without(f, &["functionid"]);
            let item = send(
                &mut client,
                "function",
                name,
                &exec_id,
                key,
                &format!("executor {cname}/{ename}"),
                json!({"msgtype": "addfunctionmsg", "fun": fun}),
            );
            done(item, &mut report);
        }
        // crons and generators: signed by their initiator when its key is there (the target
        // records the signer as the initiator), else by any member: a user first (its rights
        // do not depend on an approval), else an approved executor
        let member = list(&c["users"])
            .iter()
            .map(|u| text(&u["userid"]))
            .chain(
                list(&c["executors"])
                    .iter()
                    .filter(|e| e["state"].as_i64() == Some(1))
                    .map(|e| text(&e["executorid"])),
            )
            .find_map(|id| keys.get(id).map(|k| (id.to_string(), k)));
        for (kind, field, msgtype) in [
            ("cron", "crons", "addcronmsg"),
            ("generator", "generators", "addgeneratormsg"),
        ] {
            for g in list(&c[field]) {
                let initiator = text(&g["initiatorid"]);
                let (signer_id, key) = match keys.get(initiator) {
                    Some(k) => (initiator.to_string(), Some(k)),
                    None => match &member {
                        Some((id, k)) => (id.clone(), Some(*k)),
                        None => (initiator.to_string(), None),
                    },
                };
                let item = send(
                    &mut client,
                    kind,
                    format!("{cname}/{}", text(&g["name"])),
                    &signer_id,
                    key,
                    &format!(
                        "its initiator or another user or approved executor of colony {cname}"
                    ),
                    json!({"msgtype": msgtype, (kind): g}),
                );
                done(item, &mut report);
            }
        }
    }
    Ok(report)
}
