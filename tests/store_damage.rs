//! A store that lost something it recorded (a power cut on a filesystem that did not keep a
//! directory entry, a deleted directory) is refused at open with an error naming what is
//! missing, never opened as if it were whole. Complements `tests/python/test_powercut.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use colonyd::{Embedded, PrivateKey};
use node::{s, Node};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A store directory with a colony, a process and one channel entry (so one segment).
fn populated() -> (tempfile::TempDir, PrivateKey) {
    let mut n = Node::new();
    let c = n.colony("dev");
    let mut spec = c.spec("p");
    spec["channels"] = json!(["chat"]);
    let pid = s(
        &n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":spec}),
            c.worker(),
        ),
        "processid",
    );
    n.ok(
        json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1}),
        c.worker(),
    );
    n.ok(
        json!({"msgtype":"channelappendmsg","processid":pid,"name":"chat","sequence":1,
               "payload":STANDARD.encode("x"),"payloadtype":""}),
        c.worker(),
    );
    n.stop();
    let dir = tempfile::tempdir().unwrap();
    copy(n.dir(), dir.path());
    (dir, n.owner.clone())
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn keyspaces(dir: &Path) -> PathBuf {
    dir.join("store").join("keyspaces")
}

fn open_error(dir: &Path, owner: &PrivateKey) -> String {
    match Embedded::open(dir, &owner.id()) {
        Ok(_) => panic!("a damaged store opened"),
        Err(e) => e,
    }
}

#[test]
fn an_intact_copy_opens() {
    let (dir, owner) = populated();
    Embedded::open(dir.path(), &owner.id()).expect("the copy is whole");
}

#[test]
fn a_missing_segment_keyspace_is_named() {
    let (dir, owner) = populated();
    // the channel segment is the keyspace created last
    let newest = std::fs::read_dir(keyspaces(dir.path()))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .unwrap();
    std::fs::remove_dir_all(keyspaces(dir.path()).join(newest.to_string())).unwrap();
    let e = open_error(dir.path(), &owner);
    assert!(e.contains("damaged") && e.contains("seg-"), "{e}");
    assert!(e.contains("colonyd restore"), "says what to do: {e}");
}

#[test]
fn a_missing_engine_metadata_directory_is_named() {
    let (dir, owner) = populated();
    std::fs::remove_dir_all(keyspaces(dir.path()).join("0")).unwrap();
    let e = open_error(dir.path(), &owner);
    assert!(e.contains("damaged") && e.contains("keyspaces/0"), "{e}");
    // and nothing was deleted or recreated by trying
    assert!(!keyspaces(dir.path()).join("0").exists());
}

#[test]
fn a_missing_fixed_keyspace_is_named() {
    let (dir, owner) = populated();
    // keyspace 1 is the first colonyd creates ("channels")
    std::fs::remove_dir_all(keyspaces(dir.path()).join("1")).unwrap();
    let e = open_error(dir.path(), &owner);
    assert!(e.contains("damaged") && e.contains("keyspace"), "{e}");
}
