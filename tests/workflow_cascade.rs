//! Workflows: a child waits for its parents, is released with their outputs when they all
//! succeed, and fails with the whole rest of the graph when one of them fails. Releases and
//! cascades are durable: a restart in the middle changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use node::{s, Colony, Node, FAILED, RUNNING, SUCCESS, WAITING};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Submits `a → b → c` plus `a → d`; returns the graph ID and the process ID of each node.
fn submit_diamond(n: &Node, c: &Colony) -> (String, HashMap<String, String>) {
    let node = |name: &str, deps: &[&str]| {
        let mut spec = c.spec(name);
        spec["conditions"]["dependencies"] = json!(deps);
        spec
    };
    let graph = n.ok(
        json!({"msgtype":"submitworkflowspecmsg","spec":{"colonyname":c.name,
               "functionspecs":[node("a", &[]), node("b", &["a"]), node("c", &["b"]),
                                node("d", &["a"])]}}),
        c.worker(),
    );
    let gid = s(&graph, "processgraphid");
    let mut pids = HashMap::new();
    for pid in graph["processids"].as_array().expect("processids") {
        let pid = pid.as_str().unwrap();
        let p = n.process(pid, c.worker());
        pids.insert(s(&p["spec"], "nodename"), pid.to_string());
    }
    assert_eq!(pids.len(), 4, "{graph}");
    (gid, pids)
}

fn assign(n: &Node, c: &Colony) -> Option<Value> {
    match n.call(
        json!({"msgtype":"assignprocessmsg","colonyname":c.name,"timeout":-1}),
        c.worker(),
    ) {
        Ok(p) => Some(p),
        Err(e) if e.status == 404 => None,
        Err(e) => panic!("assign: {} {}", e.status, e.message),
    }
}

fn state(n: &Node, c: &Colony, pid: &str) -> i64 {
    n.process(pid, c.worker())["state"].as_i64().unwrap()
}

fn graph_state(n: &Node, c: &Colony, gid: &str) -> i64 {
    n.ok(
        json!({"msgtype":"getprocessgraphmsg","processgraphid":gid}),
        c.worker(),
    )["state"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_failed_parent_fails_every_descendant_and_the_graph() {
    let n = Node::new();
    let c = n.colony("dev");
    let (gid, pids) = submit_diamond(&n, &c);
    let a = assign(&n, &c).expect("the root is assignable");
    assert_eq!(s(&a, "processid"), pids["a"]);
    assert!(assign(&n, &c).is_none(), "children wait for their parent");

    n.ok(
        json!({"msgtype":"closefailedmsg","processid":pids["a"],"errors":["boom"]}),
        c.worker(),
    );
    for node in ["a", "b", "c", "d"] {
        assert_eq!(state(&n, &c, &pids[node]), FAILED, "node {node}");
    }
    assert_eq!(graph_state(&n, &c, &gid), FAILED);
    assert!(assign(&n, &c).is_none(), "nothing of a failed graph runs");
}

#[test]
fn children_are_released_with_their_parents_output_and_the_graph_succeeds() {
    let n = Node::new();
    let c = n.colony("dev");
    let (gid, pids) = submit_diamond(&n, &c);
    assign(&n, &c).expect("root");
    n.ok(
        json!({"msgtype":"closesuccessfulmsg","processid":pids["a"],"out":["from a"]}),
        c.worker(),
    );
    assert_eq!(state(&n, &c, &pids["a"]), SUCCESS);
    let mut released = Vec::new();
    for _ in 0..2 {
        let p = assign(&n, &c).expect("b and d are released");
        assert_eq!(p["in"], json!(["from a"]), "{p}");
        released.push(s(&p["spec"], "nodename"));
    }
    released.sort();
    assert_eq!(released, vec!["b", "d"]);
    assert_eq!(state(&n, &c, &pids["c"]), WAITING);
    assert!(assign(&n, &c).is_none(), "c waits for b");
    assert_eq!(graph_state(&n, &c, &gid), RUNNING);

    for node in ["b", "d"] {
        n.ok(
            json!({"msgtype":"closesuccessfulmsg","processid":pids[node],"out":[node]}),
            c.worker(),
        );
    }
    let last = assign(&n, &c).expect("c is released");
    assert_eq!(s(&last, "processid"), pids["c"]);
    assert_eq!(last["in"], json!(["b"]));
    n.ok(
        json!({"msgtype":"closesuccessfulmsg","processid":pids["c"],"out":[]}),
        c.worker(),
    );
    assert_eq!(graph_state(&n, &c, &gid), SUCCESS);
}

#[test]
fn a_release_and_a_cascade_survive_a_restart() {
    let mut n = Node::new();
    let c = n.colony("dev");
    let (gid, pids) = submit_diamond(&n, &c);
    assign(&n, &c).expect("root");
    n.ok(
        json!({"msgtype":"closesuccessfulmsg","processid":pids["a"],"out":[]}),
        c.worker(),
    );
    n.restart();
    let b_or_d = assign(&n, &c).expect("released before the restart");
    let first = s(&b_or_d, "processid");
    assert!(first == pids["b"] || first == pids["d"]);
    if first == pids["d"] {
        assign(&n, &c).expect("b");
    }
    n.ok(
        json!({"msgtype":"closefailedmsg","processid":pids["b"],"errors":["no"]}),
        c.worker(),
    );
    n.restart();
    assert_eq!(state(&n, &c, &pids["c"]), FAILED, "the cascade is durable");
    assert_eq!(graph_state(&n, &c, &gid), FAILED);
    assert!(assign(&n, &c).is_none());
}
