//! Harness for the behaviour tests (`tests/channel_append_recovery.rs`,
//! `tests/workflow_cascade.rs`, …): an in-process colonyd ([`colonyd::Embedded`]: the real
//! store, writer and handlers, no sockets) on a temporary directory, driven with signed
//! envelopes exactly as a client sends them, and reopened on the same directory to restart it.

// a test that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// each test file uses part of the harness
#![allow(dead_code)]

use colonyd::{decode_reply, envelope, Embedded, EmbeddedOptions, PrivateKey};
use serde_json::{json, Value};

/// The server owner key (spec vector V1).
pub const SERVER_PRVKEY: &str = "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d";

/// Process states (spec §5.5).
pub const WAITING: i64 = 0;
/// Running.
pub const RUNNING: i64 = 1;
/// Successful.
pub const SUCCESS: i64 = 2;
/// Failed.
pub const FAILED: i64 = 3;

/// An in-process server on its own temporary directory.
pub struct Node {
    dir: tempfile::TempDir,
    options: EmbeddedOptions,
    node: Option<Embedded>,
    /// The server owner.
    pub owner: PrivateKey,
}

/// A refused request: the HTTP status and the error message.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// The reply's `message`.
    pub message: String,
}

impl Node {
    /// A fresh server whose assigns long-poll for at most a second.
    pub fn new() -> Node {
        Node::with_long_poll(1)
    }

    /// A fresh server whose assigns long-poll for at most `secs`.
    pub fn with_long_poll(secs: u64) -> Node {
        Node::with_options(EmbeddedOptions {
            max_long_poll_secs: secs,
            ..EmbeddedOptions::default()
        })
    }

    /// A fresh server that syncs every group commit, as `--sync always`.
    pub fn synced() -> Node {
        Node::with_options(EmbeddedOptions {
            sync: true,
            ..EmbeddedOptions::default()
        })
    }

    fn with_options(options: EmbeddedOptions) -> Node {
        let mut n = Node {
            dir: tempfile::tempdir().expect("temp dir"),
            options,
            node: None,
            owner: PrivateKey::from_hex(SERVER_PRVKEY).expect("server key"),
        };
        n.start();
        n
    }

    fn start(&mut self) {
        self.node = Some(
            Embedded::open_with(self.dir.path(), &self.owner.id(), &self.options)
                .expect("open embedded server"),
        );
    }

    /// Stops the server (the writer drains, the store closes) and opens the same directory
    /// again: everything acknowledged must be there.
    pub fn restart(&mut self) {
        self.node = None;
        self.start();
    }

    /// Stops the server (the writer drains, the store closes); [`Node::restart`] starts it.
    pub fn stop(&mut self) {
        self.node = None;
    }

    /// Writes every memtable to table files.
    pub fn flush_tables(&self) {
        self.node
            .as_ref()
            .expect("running")
            .flush_tables()
            .expect("flush");
    }

    /// The data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn embedded(&self) -> &Embedded {
        self.node.as_ref().expect("server running")
    }

    /// Sends `msg` signed by `key`; the reply payload, or the refusal.
    pub fn call(&self, msg: Value, key: &PrivateKey) -> Result<Value, Refused> {
        let (status, body) = self.embedded().request(&envelope(&msg, key));
        let (error, payload) = decode_reply(&body).expect("reply envelope");
        if status == 200 && !error {
            Ok(payload)
        } else {
            Err(Refused {
                status,
                message: payload["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }

    /// [`Node::call`] that must succeed.
    pub fn ok(&self, msg: Value, key: &PrivateKey) -> Value {
        let what = msg["msgtype"].clone();
        self.call(msg, key)
            .unwrap_or_else(|e| panic!("{what} refused: {} {}", e.status, e.message))
    }

    /// Applies the deadlines due now, as the server's timer does.
    pub fn expire_due(&self) -> usize {
        self.embedded().expire_due().expect("apply deadlines")
    }

    /// A process as `key` reads it.
    pub fn process(&self, pid: &str, key: &PrivateKey) -> Value {
        self.ok(json!({"msgtype":"getprocessmsg","processid":pid}), key)
    }

    /// Adds colony `name` owned by a new key and one approved executor of type `t`.
    pub fn colony(&self, name: &str) -> Colony {
        let owner = PrivateKey::generate();
        self.ok(
            json!({"msgtype":"addcolonymsg","colony":{"colonyid":owner.id(),"name":name}}),
            &self.owner,
        );
        let c = Colony {
            name: name.to_string(),
            owner,
            executors: Vec::new(),
        };
        let e = self.executor(&c, "worker-1");
        Colony {
            executors: vec![e],
            ..c
        }
    }

    /// Adds and approves executor `name` (type `t`) in `c`; its key.
    pub fn executor(&self, c: &Colony, name: &str) -> PrivateKey {
        let key = PrivateKey::generate();
        self.ok(
            json!({"msgtype":"addexecutormsg","executor":{"executorid":key.id(),
                "executorname":name,"executortype":"t","colonyname":c.name}}),
            &c.owner,
        );
        self.ok(
            json!({"msgtype":"approveexecutormsg","colonyname":c.name,"executorname":name}),
            &c.owner,
        );
        key
    }
}

/// A colony with its owner and approved executors.
pub struct Colony {
    /// Colony name.
    pub name: String,
    /// The colony owner.
    pub owner: PrivateKey,
    /// Approved executors of type `t`.
    pub executors: Vec<PrivateKey>,
}

impl Colony {
    /// The first executor.
    pub fn worker(&self) -> &PrivateKey {
        &self.executors[0]
    }

    /// A function spec for this colony's executors.
    pub fn spec(&self, nodename: &str) -> Value {
        json!({"nodename": nodename, "funcname": "work", "args": [], "maxexectime": -1,
               "maxretries": 0, "conditions": {"colonyname": self.name, "executortype": "t",
               "dependencies": []}, "channels": [], "label": ""})
    }
}

/// The string field `k` of `v`.
pub fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
        .to_string()
}
