//! A channel is a durable append-only log: every acknowledged append is there after a restart,
//! in arrival order, with its sender, and positions keep counting where they stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use node::{s, Node};
use serde_json::{json, Value};

/// A running process with channel "chat": (node, colony, submitter, its process ID).
fn running_chat(n: &Node) -> (node::Colony, colonyd::PrivateKey, String) {
    let c = n.colony("dev");
    let submitter = n.executor(&c, "submitter");
    let mut spec = c.spec("chat");
    spec["channels"] = json!(["chat"]);
    let pid = s(
        &n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":spec}),
            &submitter,
        ),
        "processid",
    );
    let got = n.ok(
        json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1}),
        c.worker(),
    );
    assert_eq!(s(&got, "processid"), pid);
    (c, submitter, pid)
}

fn append(n: &Node, pid: &str, seq: i64, text: &str, key: &colonyd::PrivateKey) {
    n.ok(
        json!({"msgtype":"channelappendmsg","processid":pid,"name":"chat","sequence":seq,
               "payload":STANDARD.encode(text),"payloadtype":""}),
        key,
    );
}

fn read(n: &Node, pid: &str, after: i64, limit: i64, key: &colonyd::PrivateKey) -> Vec<Value> {
    n.ok(
        json!({"msgtype":"channelreadmsg","processid":pid,"name":"chat","afterseq":after,
               "limit":limit}),
        key,
    )
    .as_array()
    .expect("entries array")
    .clone()
}

fn text(e: &Value) -> String {
    String::from_utf8(STANDARD.decode(s(e, "payload")).expect("base64")).expect("utf-8")
}

#[test]
fn acknowledged_appends_survive_a_restart_in_order() {
    let mut n = Node::new();
    let (c, submitter, pid) = running_chat(&n);
    for i in 1..=40 {
        let key = if i % 2 == 0 { &submitter } else { c.worker() };
        append(&n, &pid, i, &format!("entry {i}"), key);
    }
    n.restart();

    let all = read(&n, &pid, 0, 0, &submitter);
    assert_eq!(all.len(), 40);
    for (i, e) in (1..=40).zip(&all) {
        assert_eq!(e["sequence"], json!(i));
        assert_eq!(text(e), format!("entry {i}"));
        let sender = if i % 2 == 0 {
            submitter.id()
        } else {
            c.worker().id()
        };
        assert_eq!(s(e, "senderid"), sender, "entry {i}");
    }

    // positions continue after the restart; a cursor resumes exactly
    append(&n, &pid, 41, "after restart", c.worker());
    let tail = read(&n, &pid, 40, 0, c.worker());
    assert_eq!(tail.len(), 1);
    assert_eq!(text(&tail[0]), "after restart");
    let page = read(&n, &pid, 10, 5, &submitter);
    let seqs: Vec<i64> = page
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![11, 12, 13, 14, 15]);
}

#[test]
fn arrival_order_is_kept_even_when_sequences_are_not() {
    let n = Node::new();
    let (c, _submitter, pid) = running_chat(&n);
    for seq in [3, 1, 2] {
        append(&n, &pid, seq, &format!("seq {seq}"), c.worker());
    }
    let got: Vec<String> = read(&n, &pid, 0, 0, c.worker()).iter().map(text).collect();
    assert_eq!(got, vec!["seq 3", "seq 1", "seq 2"]);
}

#[test]
fn closing_the_process_closes_its_channels_for_good() {
    // upstream deletes a process's channels when it closes: late readers and writers get 404
    let mut n = Node::new();
    let (c, submitter, pid) = running_chat(&n);
    append(&n, &pid, 1, "last words", c.worker());
    assert_eq!(read(&n, &pid, 0, 0, &submitter).len(), 1);
    n.ok(
        json!({"msgtype":"closesuccessfulmsg","processid":pid,"out":[]}),
        c.worker(),
    );
    n.restart();
    let append_refused = n
        .call(
            json!({"msgtype":"channelappendmsg","processid":pid,"name":"chat","sequence":2,
                   "payload":STANDARD.encode("too late"),"payloadtype":""}),
            &submitter,
        )
        .expect_err("append to a finished process's channel");
    let read_refused = n
        .call(
            json!({"msgtype":"channelreadmsg","processid":pid,"name":"chat","afterseq":0,
                   "limit":0}),
            &submitter,
        )
        .expect_err("read of a finished process's channel");
    for r in [append_refused, read_refused] {
        assert_eq!((r.status, r.message.as_str()), (404, "Channel not found"));
    }
}

#[test]
fn only_the_submitter_and_the_assigned_executor_use_the_channel() {
    let n = Node::new();
    let (c, _submitter, pid) = running_chat(&n);
    let other = n.executor(&c, "bystander");
    let refused = n
        .call(
            json!({"msgtype":"channelappendmsg","processid":pid,"name":"chat","sequence":1,
                   "payload":STANDARD.encode("hi"),"payloadtype":""}),
            &other,
        )
        .expect_err("a bystander appends");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.message, "Not authorized to write to channel");
    let refused = n
        .call(
            json!({"msgtype":"channelappendmsg","processid":pid,"name":"nope","sequence":1,
                   "payload":STANDARD.encode("hi"),"payloadtype":""}),
            c.worker(),
        )
        .expect_err("an undeclared channel");
    assert_eq!(
        (refused.status, refused.message.as_str()),
        (404, "Channel not found")
    );
}
