//! Execution deadlines: a process that runs past `maxexectime` goes back to the queue while it
//! has retries left (`retries` counts them) and fails with upstream's text when it has none;
//! a wait deadline fails a process nobody picked up. Deadlines are durable: they fire after a
//! restart too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use node::{s, Node, FAILED, RUNNING, WAITING};
use serde_json::json;
use std::time::Duration;

/// Sleeps past a one-second deadline.
fn past_deadline() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_timed_out_process_is_retried_then_failed() {
    let mut n = Node::new();
    let c = n.colony("dev");
    let mut spec = c.spec("slow");
    spec["maxexectime"] = json!(1);
    spec["maxretries"] = json!(1);
    let pid = s(
        &n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":spec}),
            c.worker(),
        ),
        "processid",
    );
    let assign = json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1});
    assert_eq!(s(&n.ok(assign.clone(), c.worker()), "processid"), pid);
    assert_eq!(n.expire_due(), 0, "not due yet");
    past_deadline();
    // the deadline is stored with the process: it fires after a restart as well
    n.restart();
    assert!(n.expire_due() >= 1);
    let p = n.process(&pid, c.worker());
    assert_eq!(p["state"], json!(WAITING), "{p}");
    assert_eq!(p["retries"], json!(1));
    assert_eq!(p["isassigned"], json!(false));

    assert_eq!(s(&n.ok(assign, c.worker()), "processid"), pid);
    assert_eq!(n.process(&pid, c.worker())["state"], json!(RUNNING));
    past_deadline();
    assert!(n.expire_due() >= 1);
    let p = n.process(&pid, c.worker());
    assert_eq!(p["state"], json!(FAILED), "{p}");
    assert_eq!(
        p["errors"],
        json!(["Maximum execution time limit exceeded"])
    );
    // the executor that lost it cannot close it any more
    let late = n
        .call(
            json!({"msgtype":"closesuccessfulmsg","processid":pid,"out":[]}),
            c.worker(),
        )
        .expect_err("close after the deadline failed it");
    assert!(late.status >= 400, "{}", late.message);
}

#[test]
fn a_process_nobody_picks_up_fails_at_its_wait_deadline() {
    let n = Node::new();
    let c = n.colony("dev");
    let mut spec = c.spec("unwanted");
    spec["maxwaittime"] = json!(1);
    let pid = s(
        &n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":spec}),
            c.worker(),
        ),
        "processid",
    );
    past_deadline();
    assert!(n.expire_due() >= 1);
    let p = n.process(&pid, c.worker());
    assert_eq!(p["state"], json!(FAILED), "{p}");
    assert_eq!(p["errors"], json!(["Maximum waiting time limit exceeded"]));
    let idle = n
        .call(
            json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1}),
            c.worker(),
        )
        .expect_err("a failed process is not assignable");
    assert_eq!(idle.status, 404);
}
