//! Assign: an executor's request waits (long-polls) until a process it can run is submitted,
//! each process goes to exactly one executor, an idle wait ends in 404, and a paused colony
//! holds assigners back until it is resumed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod node;

use node::{s, Node, RUNNING};
use serde_json::json;
use std::collections::HashSet;

#[test]
fn a_waiting_assign_gets_the_process_submitted_meanwhile() {
    let n = Node::with_long_poll(30);
    let c = n.colony("dev");
    let (got, submitted) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            n.ok(
                json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":30}),
                c.worker(),
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        let submitted = n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":c.spec("late")}),
            c.worker(),
        );
        (waiter.join().expect("assigner"), submitted)
    });
    assert_eq!(s(&got, "processid"), s(&submitted, "processid"));
    assert_eq!(got["state"], json!(RUNNING));
    assert_eq!(s(&got, "assignedexecutorid"), c.worker().id());
}

#[test]
fn every_process_goes_to_exactly_one_of_many_waiting_executors() {
    let n = Node::with_long_poll(30);
    let c = n.colony("dev");
    let workers: Vec<_> = (0..4).map(|i| n.executor(&c, &format!("w{i}"))).collect();
    let (assigned, submitted) = std::thread::scope(|scope| {
        let waiters: Vec<_> = workers
            .iter()
            .map(|w| {
                scope.spawn(|| {
                    n.ok(
                        json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":30}),
                        w,
                    )
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let submitted: HashSet<String> = (0..4)
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
        let assigned: Vec<(String, String)> = waiters
            .into_iter()
            .map(|w| {
                let p = w.join().expect("assigner");
                (s(&p, "processid"), s(&p, "assignedexecutorid"))
            })
            .collect();
        (assigned, submitted)
    });
    let pids: HashSet<String> = assigned.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(pids, submitted, "each process assigned once, none lost");
    let execs: HashSet<String> = assigned.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(execs.len(), 4, "each executor got its own process");
}

#[test]
fn an_idle_wait_ends_in_404_and_zero_is_not_a_timeout() {
    let n = Node::new();
    let c = n.colony("dev");
    let idle = n
        .call(
            json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":1}),
            c.worker(),
        )
        .expect_err("nothing to assign");
    assert_eq!(
        (idle.status, idle.message.as_str()),
        (404, "No process available for assignment")
    );
    let zero = n
        .call(
            json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":0}),
            c.worker(),
        )
        .expect_err("timeout 0");
    assert_eq!(
        (zero.status, zero.message.as_str()),
        (400, "Invalid timeout value, timeout cannot be zero")
    );
}

#[test]
fn a_paused_colony_holds_assigners_until_resumed() {
    let n = Node::new();
    let c = n.colony("dev");
    let pid = s(
        &n.ok(
            json!({"msgtype":"submitfuncspecmsg","spec":c.spec("held")}),
            c.worker(),
        ),
        "processid",
    );
    n.ok(
        json!({"msgtype":"pauseassignmentsmsg","colonyname":"dev"}),
        &c.owner,
    );
    let waited = n
        .call(
            json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":1}),
            c.worker(),
        )
        .expect_err("paused, long-poll");
    assert_eq!(waited.status, 408, "{}", waited.message);
    let once = n
        .call(
            json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1}),
            c.worker(),
        )
        .expect_err("paused, single attempt");
    assert_eq!(once.status, 503, "{}", once.message);
    n.ok(
        json!({"msgtype":"resumeassignmentsmsg","colonyname":"dev"}),
        &c.owner,
    );
    let got = n.ok(
        json!({"msgtype":"assignprocessmsg","colonyname":"dev","timeout":-1}),
        c.worker(),
    );
    assert_eq!(s(&got, "processid"), pid);
}
