//! What pycolonies 1.0.25 has no call for — generator pack and resolve, locations, cluster
//! info — driven through colonyd's own client with exactly the JSON upstream's Go client sends
//! (`pkg/client/generator_client.go`, `location_client.go`, `internal/cli/cluster.go`; the Go
//! client marshals whole structs, so every key is present) against a real colonyd process.

// a test that cannot go on should stop loudly: panics are its failure report
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod e2e;

use colonyd::{Client, PrivateKey};
use e2e::{Colonyd, COLONY_PRVKEY, SERVER_PRVKEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ZERO: &str = "0001-01-01T00:00:00Z";

struct Fixture {
    _server: Colonyd,
    c: Client,
    exec: PrivateKey,
}

fn fixture() -> Fixture {
    let server = Colonyd::start();
    let mut c = Client::connect(&format!("127.0.0.1:{}", server.port)).unwrap();
    let so = PrivateKey::from_hex(SERVER_PRVKEY).unwrap();
    let co = PrivateKey::from_hex(COLONY_PRVKEY).unwrap();
    let exec = PrivateKey::generate();
    c.call(
        json!({"colony":{"colonyid":co.id(),"name":"dev"},"msgtype":"addcolonymsg"}),
        &so,
    )
    .unwrap();
    c.call(
        json!({"executor":{"executorid":exec.id(),"executortype":"cli","executorname":"go",
            "colonyname":"dev"},"msgtype":"addexecutormsg"}),
        &co,
    )
    .unwrap();
    c.call(
        json!({"colonyname":"dev","executorname":"go","msgtype":"approveexecutormsg"}),
        &co,
    )
    .unwrap();
    Fixture {
        _server: server,
        c,
        exec,
    }
}

/// The FunctionSpec the Go client marshals (every key present).
fn go_spec(nodename: &str, deps: &[&str]) -> Value {
    json!({"nodename":nodename,"funcname":"echo","args":null,"kwargs":null,"priority":0,
        "maxwaittime":-1,"maxexectime":-1,"maxretries":0,
        "conditions":{"colonyname":"dev","executornames":null,"executortype":"cli",
            "locationname":"","dependencies":deps,"nodes":0,"cpu":"","processes":0,
            "processespernode":0,"mem":"","storage":"","gpu":{"name":"","mem":"","count":0,
            "nodecount":0},"walltime":0},
        "label":"","fs":{"mount":"","snapshots":null,"dirs":null},"env":{},"channels":null})
}

/// `colonies generator add --spec F --name N --trigger T --timeout S`.
fn add_generator(f: &mut Fixture, name: &str, trigger: i64, timeout: i64) -> Value {
    let spec = json!({"colonyname":"dev","functionspecs":[go_spec("gen", &[]), go_spec("after", &["gen"])]});
    f.c.call(
        json!({"generator":{"generatorid":"","initiatorid":"","initiatorname":"",
            "colonyname":"dev","name":name,"workflowspec":spec.to_string(),"trigger":trigger,
            "timeout":timeout,"firstpack":ZERO,"lastrun":ZERO,"queuesize":0,"checkerperiod":0},
            "msgtype":"addgeneratormsg"}),
        &f.exec,
    )
    .unwrap()
}

fn pack(f: &mut Fixture, id: &str, arg: &str) {
    let r =
        f.c.call(
            json!({"generatorid":id,"arg":arg,"msgtype":"packgeneratormsg"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(r, json!({}));
}

/// Root processes of graphs submitted so far (waiting for an executor: nobody assigns).
fn root_args(f: &mut Fixture) -> Vec<Vec<String>> {
    let list =
        f.c.call(
            json!({"colonyname":"dev","count":100,"state":0,"executortype":"cli",
            "msgtype":"getprocessesmsg"}),
            &f.exec,
        )
        .unwrap();
    let mut out: Vec<Vec<String>> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["spec"]["nodename"] == "gen")
        .map(|p| {
            p["spec"]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    out.sort();
    out
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn generator_pack_fires_at_the_trigger_count_and_resolve_finds_it() {
    let mut f = fixture();
    let g = add_generator(&mut f, "batch", 3, -1);
    let id = g["generatorid"].as_str().unwrap().to_string();
    let r =
        f.c.call(
            json!({"colonyname":"dev","generatorname":"batch","msgtype":"resolvegeneratormsg"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(r["generatorid"], json!(id));
    assert_eq!(r["trigger"], json!(3));
    for a in ["a", "b"] {
        pack(&mut f, &id, a);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        root_args(&mut f).is_empty(),
        "fired below the trigger count"
    );
    pack(&mut f, &id, "c");
    wait_until(|| root_args(&mut f).len() == 1);
    assert_eq!(root_args(&mut f), vec![vec!["a", "b", "c"]]);
    let got =
        f.c.call(
            json!({"generatorid":id,"msgtype":"getgeneratormsg"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(got["queuesize"], json!(0));
    assert_ne!(got["lastrun"], json!(ZERO));
    // `colonies generator remove` sends "all":false
    f.c.call(
        json!({"generatorid":id,"msgtype":"removegeneratormsg","all":false}),
        &f.exec,
    )
    .unwrap();
    let e =
        f.c.call(
            json!({"colonyname":"dev","generatorname":"batch","msgtype":"resolvegeneratormsg"}),
            &f.exec,
        )
        .unwrap_err();
    assert!(e.to_string().contains("generator is nil"), "{e}");
}

#[test]
fn generator_fires_at_the_timeout_with_what_was_packed() {
    let mut f = fixture();
    let g = add_generator(&mut f, "slow", 10, 1);
    let id = g["generatorid"].as_str().unwrap().to_string();
    pack(&mut f, &id, "only");
    let t = Instant::now();
    wait_until(|| root_args(&mut f).len() == 1);
    // strictly more than one whole second after the first pack, as upstream
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(root_args(&mut f), vec![vec!["only"]]);
}

#[test]
fn locations_and_cluster_info_as_the_go_cli_sends_them() {
    let mut f = fixture();
    let co = PrivateKey::from_hex(COLONY_PRVKEY).unwrap();
    let so = PrivateKey::from_hex(SERVER_PRVKEY).unwrap();
    let loc = json!({"locationid":colonyd::random_id(),"name":"lab","colonyname":"dev",
        "description":"bench","long":18.0686,"lat":59.3293});
    let added =
        f.c.call(json!({"location":loc,"msgtype":"addlocationmsg"}), &co)
            .unwrap();
    assert_eq!(added, loc);
    // `location ls` / `location get` sign with the executor's key
    let all =
        f.c.call(
            json!({"msgtype":"getlocationsmsg","colonyname":"dev"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(all, json!([loc]));
    let one =
        f.c.call(
            json!({"msgtype":"getlocationmsg","colonyname":"dev","name":"lab"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(one, loc);
    f.c.call(
        json!({"colonyname":"dev","name":"lab","msgtype":"removelocationmsg"}),
        &co,
    )
    .unwrap();
    let none =
        f.c.call(
            json!({"msgtype":"getlocationsmsg","colonyname":"dev"}),
            &f.exec,
        )
        .unwrap();
    assert_eq!(none, Value::Null);

    // `colonies cluster info`: one node, and it is the leader
    let cl = f.c.call(json!({"msgtype":"getclustermsg"}), &so).unwrap();
    let nodes = cl["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(cl["leader"]["name"], nodes[0]["name"]);
    assert_eq!(nodes[0]["apiport"], json!(f._server.port));
    let e =
        f.c.call(json!({"msgtype":"getclustermsg"}), &f.exec)
            .unwrap_err();
    assert!(e.to_string().contains("not server owner"), "{e}");
}
