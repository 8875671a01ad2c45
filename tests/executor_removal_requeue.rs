//! Removing an executor never loses its work: every process it was running goes back to the
//! queue, unassigned, for another executor; the removed executor is marked unregistered and can
//! no longer assign.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use node::{s, Node, WAITING};
use serde_json::json;

#[test]
fn a_removed_executors_processes_go_back_to_the_queue() {
    let mut n = Node::new();
    let c = n.colony("dev");
    let leaving = n.executor(&c, "leaving");
    let pids: Vec<String> = (0..3)
        .map(|i| {
            s(
                &n.ok(
                    json!({"msgtype":"submitfuncspecmsg","spec":c.spec(&format!("p{i}"))}),
                    c.worker(),
                ),
                "processid",
            )
        })
        .collect();
    let assign = json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1});
    for _ in 0..2 {
        n.ok(assign.clone(), &leaving);
    }
    n.ok(
        json!({"msgtype":"removeexecutormsg","colonyname":"dev","executorname":"leaving"}),
        &c.owner,
    );
    n.restart();
    for pid in &pids {
        let p = n.process(pid, c.worker());
        assert_eq!(p["state"], json!(WAITING), "{p}");
        assert_eq!(p["assignedexecutorid"], json!(""), "{p}");
    }
    let mut taken: Vec<String> = (0..3)
        .map(|_| s(&n.ok(assign.clone(), c.worker()), "processid"))
        .collect();
    taken.sort();
    let mut want = pids.clone();
    want.sort();
    assert_eq!(taken, want, "the remaining executor gets all three");
    let e = n.ok(
        json!({"msgtype":"getexecutormsg","colonyname":"dev","executorname":"leaving"}),
        c.worker(),
    );
    assert_eq!(e["state"], json!(3), "unregistered: {e}");
    let refused = n
        .call(assign, &leaving)
        .expect_err("a removed executor assigns");
    assert_eq!(refused.status, 403, "{}", refused.message);
}
