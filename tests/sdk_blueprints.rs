//! Blueprints through the unmodified `colonyos` crate 1.0.5 (its 11 blueprint calls) against a
//! real colonyd, with a reconciler built on the crate: create, update spec, status reported,
//! delete → cleanup. The crate unwraps every reply, so a shape it cannot read fails the test.

// a test or benchmark that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod e2e;

use colonyos::core::{
    Blueprint, BlueprintDefinition, BlueprintDefinitionHandler, BlueprintDefinitionNames,
    BlueprintDefinitionSpec, BlueprintMetadata,
};
use e2e::{Colony, Colonyd, COLONY_PRVKEY};
use serde_json::{json, Value};
use std::collections::HashMap;

fn definition() -> BlueprintDefinition {
    let schema: HashMap<String, Value> = serde_json::from_value(json!({
        "type": "object", "required": ["replicas"],
        "properties": {"replicas": {"type": "number"}, "image": {"type": "string"}}
    }))
    .unwrap();
    BlueprintDefinition {
        kind: "Deployment".into(),
        metadata: BlueprintMetadata {
            name: "deployments".into(),
            colonyname: "dev".into(),
            ..Default::default()
        },
        spec: BlueprintDefinitionSpec {
            names: BlueprintDefinitionNames {
                kind: "Deployment".into(),
                singular: "deployment".into(),
                plural: "deployments".into(),
                ..Default::default()
            },
            handler: BlueprintDefinitionHandler {
                executor_type: "cli".into(),
                function_name: "reconcile".into(),
                reconcile_interval: 30,
            },
            schema: Some(schema),
        },
        ..Default::default()
    }
}

fn blueprint(replicas: i64) -> Blueprint {
    Blueprint {
        kind: "Deployment".into(),
        metadata: BlueprintMetadata {
            name: "web".into(),
            colonyname: "dev".into(),
            ..Default::default()
        },
        spec: serde_json::from_value(json!({"replicas": replicas, "image": "nginx"})).unwrap(),
        ..Default::default()
    }
}

/// One reconciler step: assign, read the blueprint the process names, report, close.
async fn reconcile_once(c: &Colony) -> (String, HashMap<String, Value>) {
    let p = colonyos::assign("dev", 10, &c.exec_prv).await.unwrap();
    let name = p.spec.kwargs["blueprintName"].as_str().unwrap().to_string();
    assert_eq!(p.spec.kwargs["kind"], json!("Deployment"));
    if p.spec.funcname == "reconcile" {
        let b = colonyos::get_blueprint("dev", &name, &c.exec_prv)
            .await
            .unwrap();
        let status: HashMap<String, Value> =
            serde_json::from_value(json!({"readyReplicas": b.spec["replicas"]})).unwrap();
        colonyos::update_blueprint_status("dev", &name, status, &c.exec_prv)
            .await
            .unwrap();
    }
    colonyos::close(&p.processid, &c.exec_prv).await.unwrap();
    (p.spec.funcname, p.spec.kwargs)
}

#[tokio::test]
async fn blueprint_lifecycle_with_a_reconciler_on_the_crate() {
    let _server = Colonyd::start();
    let c = Colony::bootstrap().await;
    let d = colonyos::add_blueprint_definition(&definition(), COLONY_PRVKEY)
        .await
        .unwrap();
    assert_eq!(d.blueprintdefinitionid.len(), 64);
    assert_eq!(d.spec.handler.function_name, "reconcile");
    let got = colonyos::get_blueprint_definition("dev", "deployments", &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(got.spec.names.kind, "Deployment");
    assert_eq!(
        colonyos::get_blueprint_definitions("dev", &c.exec_prv)
            .await
            .unwrap()
            .len(),
        1
    );

    // a spec without the required field is refused, naming it
    let mut bad = blueprint(1);
    bad.spec.remove("replicas");
    let e = colonyos::add_blueprint(&bad, &c.exec_prv)
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("replicas"), "{e:?}");

    let b = colonyos::add_blueprint(&blueprint(2), &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(b.blueprintid.len(), 64);
    let (f, _) = reconcile_once(&c).await;
    assert_eq!(f, "reconcile");
    let got = colonyos::get_blueprint("dev", "web", &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(got.status["readyReplicas"], json!(2));

    // a spec change is reconciled and reported
    colonyos::update_blueprint(&blueprint(5), false, &c.exec_prv)
        .await
        .unwrap();
    reconcile_once(&c).await;
    let got = colonyos::get_blueprint("dev", "web", &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(got.status["readyReplicas"], json!(5));
    let all = colonyos::get_blueprints("dev", "Deployment", "", &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);

    // on demand: the crate reads the process back (kwargs with "force": true included)
    let p = colonyos::reconcile_blueprint("dev", "web", true, &c.exec_prv)
        .await
        .unwrap();
    assert_eq!(p.spec.kwargs["force"], json!(true));
    reconcile_once(&c).await;

    // delete → the reconciler gets a cleanup naming the blueprint
    colonyos::remove_blueprint("dev", "web", &c.exec_prv)
        .await
        .unwrap();
    let (f, kwargs) = reconcile_once(&c).await;
    assert_eq!(f, "cleanup");
    assert_eq!(kwargs["blueprintName"], json!("web"));
    assert!(colonyos::get_blueprint("dev", "web", &c.exec_prv)
        .await
        .is_err());
    colonyos::remove_blueprint_definition("dev", "deployments", COLONY_PRVKEY)
        .await
        .unwrap();
    assert!(colonyos::get_blueprint_definitions("dev", &c.exec_prv)
        .await
        .unwrap()
        .is_empty());
}
