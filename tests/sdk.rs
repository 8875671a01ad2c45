//! End-to-end tests with the unmodified `colonyos` crate 1.0.5 against a real colonyd.
//! One server per test at a time: the crate's server URL is process-global (see `e2e`).

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod e2e;

use colonyos::core::{self, FunctionSpec};
use e2e::{Colony, Colonyd, COLONY_PRVKEY, SERVER_PRVKEY};

fn spec(name: &str) -> FunctionSpec {
    let mut s = FunctionSpec::new(name, "cli", "dev");
    s.args = vec!["hello".into()];
    s.maxexectime = 120;
    s
}

#[tokio::test]
async fn bootstrap_submit_assign_close() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let colonies = colonyos::get_colonies(SERVER_PRVKEY).await.unwrap();
    assert_eq!(colonies.len(), 1);
    let execs = colonyos::get_executors("dev", &c.exec_prv).await.unwrap();
    assert_eq!(execs[0].state, core::APPROVED);
    assert_eq!(
        colonyos::get_colony("dev", &c.exec_prv).await.unwrap().name,
        "dev"
    );

    let p = colonyos::submit(&spec("echo"), &c.exec_prv).await.unwrap();
    assert_eq!(p.state, core::WAITING);
    assert_eq!(p.spec.args, vec!["hello".to_string()]);
    let a = colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    assert_eq!(a.processid, p.processid);
    assert_eq!(a.assignedexecutorid, c.exec_id);
    colonyos::set_output(&a.processid, vec!["result".into()], &c.exec_prv)
        .await
        .unwrap();
    let log = core::Log {
        processid: a.processid.clone(),
        colonyname: "dev".into(),
        executorname: "worker-1".into(),
        message: "step 1".into(),
        timestamp: 0,
    };
    colonyos::add_log(&log, &c.exec_prv).await.unwrap();
    colonyos::close(&a.processid, &c.exec_prv).await.unwrap();

    let done = colonyos::get_process(&p.processid, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(done.state, core::SUCCESS);
    assert_eq!(done.output, vec!["result".to_string()]);
    let logs = colonyos::get_logs("dev", &p.processid, "", 100, 0, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "step 1");
    let listed = colonyos::get_processes("dev", 10, core::SUCCESS, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn maxexectime_zero_from_function_spec_new_does_not_expire() {
    // FunctionSpec::new defaults maxexectime to 0: upstream expires such a process after ~1 s,
    // colonyd treats it as "no deadline" (decisions.md)
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let p = colonyos::submit(&FunctionSpec::new("slow", "cli", "dev"), &c.exec_prv)
        .await
        .unwrap();
    colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let q = colonyos::get_process(&p.processid, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(q.state, core::RUNNING);
    colonyos::close(&p.processid, &c.exec_prv).await.unwrap();
}

#[tokio::test]
async fn fail_idle_assign_and_errors_are_errors() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let err = colonyos::assign("dev", 1, &c.exec_prv).await.unwrap_err();
    assert!(err.to_string().contains("No process available"), "{err}");
    let p = colonyos::submit(&spec("boom"), &c.exec_prv).await.unwrap();
    colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    colonyos::fail(&p.processid, &c.exec_prv).await.unwrap();
    let q = colonyos::get_process(&p.processid, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(q.state, core::FAILED);
    assert!(q.errors.is_empty());
    // the colony owner is not a member
    let err = colonyos::submit(&spec("x"), COLONY_PRVKEY)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a member"), "{err}");
    let stranger = colonyos::crypto::gen_prvkey();
    assert!(colonyos::get_process(&p.processid, &stranger)
        .await
        .is_err());
    let stats = colonyos::get_statistics("dev", &c.exec_prv).await.unwrap();
    assert_eq!(stats.failedprocesses, 1);
}

#[tokio::test]
async fn state_survives_kill9_restart() {
    let mut server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let done = colonyos::submit(&spec("a"), &c.exec_prv).await.unwrap();
    colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    colonyos::set_output(&done.processid, vec!["kept".into()], &c.exec_prv)
        .await
        .unwrap();
    colonyos::close(&done.processid, &c.exec_prv).await.unwrap();
    let waiting = colonyos::submit(&spec("b"), &c.exec_prv).await.unwrap();

    server.restart_after_kill();
    let d = colonyos::get_process(&done.processid, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(d.state, core::SUCCESS);
    assert_eq!(d.output, vec!["kept".to_string()]);
    let a = colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    assert_eq!(a.processid, waiting.processid);
    colonyos::remove_all_processes("dev", -1, COLONY_PRVKEY)
        .await
        .unwrap();
    colonyos::close(&a.processid, &c.exec_prv).await.unwrap();
    colonyos::remove_process(&a.processid, &c.exec_prv)
        .await
        .unwrap();
    assert!(colonyos::get_process(&a.processid, &c.exec_prv)
        .await
        .is_err());
    colonyos::remove_executor("dev", "worker-1", COLONY_PRVKEY)
        .await
        .unwrap();
    colonyos::remove_colony("dev", SERVER_PRVKEY).await.unwrap();
    assert!(colonyos::get_colonies(SERVER_PRVKEY)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn channel_chat_between_client_and_executor() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    // the executor submits to itself and both ends use the crate (seeds 001/002)
    let mut s = spec("chat");
    s.channels = vec!["chat".into()];
    let p = colonyos::submit(&s, &c.exec_prv).await.unwrap();
    let a = colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
    assert_eq!(a.processid, p.processid);
    colonyos::channel_append(&p.processid, "chat", 1, "hello", "", 0, &c.exec_prv)
        .await
        .unwrap();
    colonyos::channel_append(&p.processid, "chat", 2, "world", "", 1, &c.exec_prv)
        .await
        .unwrap();
    colonyos::channel_append(&p.processid, "chat", 3, "", "end", 0, &c.exec_prv)
        .await
        .unwrap();
    let entries = colonyos::channel_read(&p.processid, "chat", 0, 0, &c.exec_prv)
        .await
        .unwrap();
    let got: Vec<(i64, String, String, i64)> = entries
        .iter()
        .map(|e| {
            (
                e.sequence,
                e.payload_as_string(),
                e.msgtype.clone(),
                e.inreplyto,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "hello".to_string(), "data".to_string(), 0),
            (2, "world".to_string(), "data".to_string(), 1),
            (3, String::new(), "end".to_string(), 0),
        ]
    );
    assert_eq!(entries[0].senderid, c.exec_id);
    let page = colonyos::channel_read(&p.processid, "chat", 1, 1, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].payload_as_string(), "world");
    // a stranger is refused; an undeclared channel is not found
    let stranger = colonyos::crypto::gen_prvkey();
    assert!(
        colonyos::channel_read(&p.processid, "chat", 0, 0, &stranger)
            .await
            .is_err()
    );
    let err = colonyos::channel_append(&p.processid, "other", 1, "x", "", 0, &c.exec_prv)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Channel not found"), "{err}");
    colonyos::close(&p.processid, &c.exec_prv).await.unwrap();
    let err = colonyos::channel_read(&p.processid, "chat", 0, 0, &c.exec_prv)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Channel not found"), "{err}");
}

#[tokio::test]
async fn workflow_diamond_with_the_crate() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let node = |name: &str, deps: &[&str]| {
        let mut s = spec(name);
        s.nodename = name.to_string();
        s.conditions.dependencies = deps.iter().map(|d| d.to_string()).collect();
        s
    };
    let wf = core::WorkflowSpec {
        colonyname: "dev".into(),
        functionspecs: vec![
            node("A", &[]),
            node("B", &["A"]),
            node("C", &["A"]),
            node("D", &["B", "C"]),
        ],
    };
    let g = colonyos::submit_workflow(&wf, &c.exec_prv).await.unwrap();
    assert_eq!(g.processids.len(), 4);
    assert_eq!(g.rootprocessids.len(), 1);
    let mut order = Vec::new();
    for _ in 0..4 {
        let p = colonyos::assign("dev", 5, &c.exec_prv).await.unwrap();
        colonyos::set_output(
            &p.processid,
            vec![format!("out-{}", p.spec.nodename)],
            &c.exec_prv,
        )
        .await
        .unwrap();
        colonyos::close(&p.processid, &c.exec_prv).await.unwrap();
        order.push((p.spec.nodename.clone(), p.input.clone()));
    }
    assert_eq!(order[0].0, "A");
    assert_eq!(order[3].0, "D");
    let mut d_input = order[3].1.clone();
    d_input.sort();
    assert_eq!(d_input, vec!["out-B".to_string(), "out-C".to_string()]);
    let g = colonyos::get_processgraph(&g.processgraphid, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(g.state, core::SUCCESS);
    let graphs = colonyos::get_processgraphs("dev", 10, core::SUCCESS, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(graphs.len(), 1);
    colonyos::remove_processgraph(&g.processgraphid, &c.exec_prv)
        .await
        .unwrap();
    assert!(colonyos::get_processgraph(&g.processgraphid, &c.exec_prv)
        .await
        .is_err());
}
