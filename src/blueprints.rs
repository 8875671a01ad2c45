//! Blueprints: declarative desired state (upstream `pkg/core/blueprint.go`,
//! `handlers/blueprint`). A definition names a kind, an optional schema its specs must satisfy
//! and the executor type and function that reconcile it; a blueprint of that kind carries a
//! spec, a status set by its reconciler, and a generation that counts spec changes.
//!
//! Every change is one writer operation: adding a blueprint stores it, records its history,
//! creates its location and its kind's reconcile cron if missing, and submits the first
//! reconcile process (through [`crate::lifecycle::submit`], the one path a process is created
//! by), all or nothing.
//!
//! Storage (`registry` keyspace; JSON text inside the record codec, since specs are free-form):
//! `b‖colony\0name` → [`BlueprintDefinition`], `B‖colony\0name` → [`Blueprint`],
//! `I‖blueprint-id` → `colony\0name`, `H‖blueprint-id‖i64be(time)` → [`BlueprintHistory`]
//! (newest `history_limit` kept per blueprint).

use crate::protocol::json::RawJson;
use crate::protocol::time::Timestamp;
use crate::protocol::types::{
    Blueprint, BlueprintDefinition, BlueprintHistory, Conditions, Cron, FunctionSpec, Location,
    Process,
};
use crate::protocol::ApiError;
use crate::store::writer::Txn;
use crate::store::{keys, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// The reconcile cron's interval (upstream hard-codes it; `reconcileInterval` is not used).
pub const RECONCILE_EVERY_SECS: i64 = 60;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
fn def_key(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"b",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}
fn bp_key(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"B",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}
fn id_key(id: &str) -> Vec<u8> {
    cat(&[b"I", id.as_bytes()])
}
fn history_prefix(id: &str) -> Vec<u8> {
    cat(&[b"H", id.as_bytes()])
}

fn read<T: DeserializeOwned>(store: &Store, key: &[u8]) -> Result<Option<T>, ApiError> {
    let text: Option<String> = store.get(&store.registry, key)?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| crate::store::Error::Damaged(format!("blueprint record: {e}")).into())
    })
    .transpose()
}

fn write<T: Serialize>(txn: &mut Txn<'_>, key: Vec<u8>, v: &T) -> Result<(), ApiError> {
    let text = crate::protocol::json::to_vec(v)?;
    let reg = txn.store.registry.clone();
    txn.put(&reg, key, &String::from_utf8_lossy(&text).into_owned())?;
    Ok(())
}

fn scan<T: DeserializeOwned>(store: &Store, prefix: &[u8]) -> Result<Vec<T>, ApiError> {
    let texts: Vec<String> = store.scan(&store.registry, prefix, usize::MAX)?;
    texts
        .iter()
        .map(|t| {
            serde_json::from_str(t)
                .map_err(|e| crate::store::Error::Damaged(format!("blueprint record: {e}")).into())
        })
        .collect()
}

/// Who asks: the signer's ID and name ("" for the colony owner).
pub struct Actor<'a> {
    /// Signer ID.
    pub id: &'a str,
    /// Executor or user name, "" for the colony owner.
    pub name: &'a str,
}

// --- definitions --------------------------------------------------------------------------

/// Stores a definition (ID already set); names are unique per colony.
pub fn add_definition(
    txn: &mut Txn<'_>,
    d: BlueprintDefinition,
) -> Result<BlueprintDefinition, ApiError> {
    let key = def_key(&d.metadata.colonyname, Some(&d.metadata.name));
    if txn.store.registry.get(&key)?.is_some() {
        return Err(ApiError::new(
            409,
            format!(
                "BlueprintDefinition with name <{}> already exists in colony <{}>",
                d.metadata.name, d.metadata.colonyname
            ),
        ));
    }
    write(txn, key, &d)?;
    Ok(d)
}

/// One definition.
pub fn definition(
    store: &Store,
    colony: &str,
    name: &str,
) -> Result<Option<BlueprintDefinition>, ApiError> {
    read(store, &def_key(colony, Some(name)))
}

/// A colony's definitions, in name order.
pub fn definitions(store: &Store, colony: &str) -> Result<Vec<BlueprintDefinition>, ApiError> {
    scan(store, &def_key(colony, None))
}

/// The colony's definition of `kind` (the first by name, as upstream).
pub fn definition_of_kind(
    store: &Store,
    colony: &str,
    kind: &str,
) -> Result<Option<BlueprintDefinition>, ApiError> {
    Ok(definitions(store, colony)?
        .into_iter()
        .find(|d| d.spec.names.kind == kind))
}

/// Removes a definition that no blueprint uses (404, 409 otherwise).
pub fn remove_definition(txn: &mut Txn<'_>, colony: &str, name: &str) -> Result<(), ApiError> {
    let d = definition(txn.store, colony, name)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "BlueprintDefinition '{name}' not found in namespace '{colony}'"
        ))
    })?;
    let kind = &d.spec.names.kind;
    let users = list(txn.store, colony, kind, "")?.len();
    if users > 0 {
        return Err(ApiError::new(
            409,
            format!(
                "cannot remove BlueprintDefinition '{name}': {users} blueprint(s) of kind '{kind}' still exist"
            ),
        ));
    }
    let reg = txn.store.registry.clone();
    txn.remove(&reg, def_key(colony, Some(name)));
    Ok(())
}

// --- schema -------------------------------------------------------------------------------

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn check_property(path: &str, v: &Value, prop: &Value) -> Result<(), String> {
    let ty = prop.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "string" => v.is_string(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true, // "integer" and the rest are not checked, as upstream
    };
    if !ok {
        return Err(format!("field '{path}' must be a {ty}, got {}", go_type(v)));
    }
    if let Some(allowed) = prop.get("enum").and_then(Value::as_array) {
        if !allowed.is_empty() && !allowed.iter().any(|a| json_eq(a, v)) {
            return Err(format!(
                "field '{path}' must be one of [{}], got {}",
                allowed.iter().map(go_value).collect::<Vec<_>>().join(" "),
                go_value(v)
            ));
        }
    }
    if let (Some(items), Some(arr)) = (prop.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check_property(&format!("{path}[{i}]"), item, items)?;
        }
    }
    if let (Some(props), Some(obj)) = (
        prop.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, p) in props {
            if let Some(child) = obj.get(k) {
                check_property(&format!("{path}.{k}"), child, p)?;
            }
        }
    }
    Ok(())
}

/// Checks a spec against a definition's schema as upstream's `ValidateBlueprintAgainstSchema`:
/// required keys, then the type and enum of every property present (nested objects and
/// array items too); unknown keys are allowed. 400 naming the field.
pub fn validate(schema: &Value, spec: &Value) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::bad_request(format!("blueprint validation failed: {m}"));
    let Some(schema) = schema.as_object().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let empty = serde_json::Map::new();
    let spec = spec.as_object().unwrap_or(&empty);
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !spec.contains_key(r) {
            return Err(bad(format!("required field '{r}' is missing")));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if let Some(v) = spec.get(k) {
                check_property(k, v, p).map_err(bad)?;
            }
        }
    }
    Ok(())
}

/// JSON equality with numbers compared as numbers (`3` equals `3.0`, as Go's float64 sees it).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        (Value::Null, Value::Object(m)) | (Value::Object(m), Value::Null) => m.is_empty(),
        _ => a == b,
    }
}

// --- blueprints ---------------------------------------------------------------------------

/// One blueprint.
pub fn get(store: &Store, colony: &str, name: &str) -> Result<Option<Blueprint>, ApiError> {
    read(store, &bp_key(colony, Some(name)))
}

/// The blueprint with this ID.
pub fn by_id(store: &Store, id: &str) -> Result<Option<Blueprint>, ApiError> {
    let Some(loc) = store.registry.get(id_key(id))? else {
        return Ok(None);
    };
    let loc = String::from_utf8_lossy(&loc).into_owned();
    let (colony, name) = loc.split_once('\0').unwrap_or((&loc, ""));
    get(store, colony, name)
}

/// A colony's blueprints in name order: all (`kind` ""), of a kind, or of a kind at a location
/// (compared without case, as upstream).
pub fn list(
    store: &Store,
    colony: &str,
    kind: &str,
    location: &str,
) -> Result<Vec<Blueprint>, ApiError> {
    let all: Vec<Blueprint> = scan(store, &bp_key(colony, None))?;
    Ok(all
        .into_iter()
        .filter(|b| kind.is_empty() || b.kind == kind)
        .filter(|b| {
            kind.is_empty()
                || location.is_empty()
                || b.metadata.locationname.eq_ignore_ascii_case(location)
        })
        .collect())
}

/// The checks add and update share: a kind, its definition, the schema.
fn checked_definition(store: &Store, b: &Blueprint) -> Result<BlueprintDefinition, ApiError> {
    if b.kind.is_empty() {
        return Err(ApiError::bad_request("blueprint kind is required"));
    }
    let colony = &b.metadata.colonyname;
    let d = definition_of_kind(store, colony, &b.kind)?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "BlueprintDefinition for kind '{}' not found in namespace '{colony}'",
            b.kind
        ))
    })?;
    validate(&d.spec.schema, &b.spec)?;
    Ok(d)
}

fn record_history(
    txn: &mut Txn<'_>,
    b: &Blueprint,
    actor: &Actor<'_>,
    change: &str,
    keep: usize,
) -> Result<(), ApiError> {
    let h = BlueprintHistory {
        historyid: crate::crypto::random_id(),
        blueprintid: b.blueprintid.clone(),
        kind: b.kind.clone(),
        namespace: b.metadata.colonyname.clone(),
        name: b.metadata.name.clone(),
        generation: b.metadata.generation,
        spec: b.spec.clone(),
        status: b.status.clone(),
        timestamp: Timestamp(txn.now),
        changedby: actor.id.to_string(),
        changetype: change.to_string(),
    };
    let mut key = history_prefix(&b.blueprintid);
    key.extend_from_slice(&keys::i64be(txn.now));
    write(txn, key, &h)?;
    // bounded: the oldest beyond `keep` (this one included) go
    let old = txn.store.keys(
        &txn.store.registry,
        &history_prefix(&b.blueprintid),
        usize::MAX,
    )?;
    let excess = (old.len() + 1).saturating_sub(keep.max(1));
    let reg = txn.store.registry.clone();
    for k in old.into_iter().take(excess) {
        txn.remove(&reg, k);
    }
    Ok(())
}

fn reconcile_spec(
    colony: &str,
    executortype: &str,
    funcname: &str,
    nodename: String,
    location: &str,
    kwargs: Value,
) -> Result<FunctionSpec, ApiError> {
    let mut spec = FunctionSpec {
        nodename,
        funcname: funcname.to_string(),
        args: Some(Vec::new()),
        kwargs: RawJson::from_text(&kwargs.to_string()).unwrap_or_default(),
        maxwaittime: 0,
        maxexectime: -1,
        maxretries: -1,
        conditions: Conditions {
            colonyname: colony.to_string(),
            executortype: executortype.to_string(),
            locationname: location.to_string(),
            ..Conditions::default()
        },
        ..FunctionSpec::default()
    };
    crate::lifecycle::normalize_spec(&mut spec)?;
    Ok(spec)
}

fn submit_reconcile(
    txn: &mut Txn<'_>,
    d: &BlueprintDefinition,
    b: &Blueprint,
    actor: &Actor<'_>,
    force: bool,
) -> Result<Process, ApiError> {
    let h = &d.spec.handler;
    let kwargs = if force {
        json!({"kind": b.kind, "blueprintName": b.metadata.name, "force": true})
    } else {
        json!({"kind": b.kind, "blueprintName": b.metadata.name})
    };
    let spec = reconcile_spec(
        &b.metadata.colonyname,
        &h.executor_type,
        &h.function_name,
        format!("{}-{}", h.executor_type, h.function_name),
        &b.metadata.locationname,
        kwargs,
    )?;
    crate::lifecycle::submit(txn, spec, actor.id, actor.name)
}

fn cron_name(kind: &str, location: &str) -> String {
    if location.is_empty() {
        format!("reconcile-{kind}")
    } else {
        format!("reconcile-{kind}-{location}")
    }
}

/// Adds a blueprint (ID already set): history, location, the kind's reconcile cron at its
/// location and the first reconcile, in this one operation.
pub fn add(
    txn: &mut Txn<'_>,
    b: Blueprint,
    actor: &Actor<'_>,
    history_limit: usize,
) -> Result<Blueprint, ApiError> {
    let d = checked_definition(txn.store, &b)?;
    let colony = b.metadata.colonyname.clone();
    let key = bp_key(&colony, Some(&b.metadata.name));
    if txn.store.registry.get(&key)?.is_some() {
        return Err(ApiError::new(
            409,
            format!(
                "blueprint with name '{}' already exists in colony '{colony}'",
                b.metadata.name
            ),
        ));
    }
    let reg = txn.store.registry.clone();
    let location = b.metadata.locationname.clone();
    if !location.is_empty() {
        let lkey = keys::location(&colony, Some(&location));
        if reg.get(&lkey)?.is_none() {
            let loc = Location {
                locationid: crate::crypto::random_id(),
                name: location.clone(),
                colonyname: colony.clone(),
                description: format!("Auto-created from blueprint {}", b.metadata.name),
                long: 0.0,
                lat: 0.0,
            };
            txn.put(&reg, lkey, &loc)?;
        }
    }
    write(txn, key, &b)?;
    let mut loc = colony.as_bytes().to_vec();
    loc.push(0);
    loc.extend_from_slice(b.metadata.name.as_bytes());
    txn.put_raw(&reg, id_key(&b.blueprintid), loc);
    record_history(txn, &b, actor, "create", history_limit)?;
    let h = &d.spec.handler;
    if !h.executor_type.is_empty() && !h.function_name.is_empty() {
        let name = cron_name(&b.kind, &location);
        if reg.get(keys::cron_name(&colony, Some(&name)))?.is_none() {
            let fs = reconcile_spec(
                &colony,
                &h.executor_type,
                &h.function_name,
                format!("{}-{}", h.executor_type, h.function_name),
                &location,
                json!({"kind": b.kind}),
            )?;
            let workflow = json!({"colonyname": colony, "functionspecs": [fs]}).to_string();
            crate::schedules::add_cron(
                txn,
                Cron {
                    cronid: crate::crypto::random_id(),
                    initiatorid: actor.id.to_string(),
                    initiatorname: actor.name.to_string(),
                    colonyname: colony.clone(),
                    name,
                    interval: RECONCILE_EVERY_SECS,
                    workflowspec: workflow,
                    waitforprevprocessgraph: true,
                    ..Cron::default()
                },
            )?;
        }
        submit_reconcile(txn, &d, &b, actor, false)?;
    }
    Ok(b)
}

/// Updates a blueprint: the whole record is replaced by what was sent (as upstream), keeping
/// its ID; the generation goes up by one when the spec changed (or `force`), and then the
/// change is recorded and a reconcile submitted.
pub fn update(
    txn: &mut Txn<'_>,
    mut b: Blueprint,
    force: bool,
    actor: &Actor<'_>,
    history_limit: usize,
) -> Result<Blueprint, ApiError> {
    let colony = b.metadata.colonyname.clone();
    let old = get(txn.store, &colony, &b.metadata.name)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "blueprint '{}' not found in namespace '{colony}'",
            b.metadata.name
        ))
    })?;
    let d = checked_definition(txn.store, &b)?;
    b.blueprintid = old.blueprintid.clone();
    let changed = !json_eq(&old.spec, &b.spec) || force;
    b.metadata.generation = if changed {
        old.metadata.generation.saturating_add(1)
    } else {
        old.metadata.generation
    };
    write(txn, bp_key(&colony, Some(&b.metadata.name)), &b)?;
    if changed {
        record_history(txn, &b, actor, "update", history_limit)?;
        let h = &d.spec.handler;
        if !h.executor_type.is_empty() && !h.function_name.is_empty() {
            submit_reconcile(txn, &d, &b, actor, false)?;
        }
    }
    Ok(b)
}

/// Drops a blueprint's ID index entry and its history.
fn forget_id(txn: &mut Txn<'_>, id: &str) -> Result<(), ApiError> {
    let reg = txn.store.registry.clone();
    txn.remove(&reg, id_key(id));
    for k in txn
        .store
        .keys(&txn.store.registry, &history_prefix(id), usize::MAX)?
    {
        txn.remove(&reg, k);
    }
    Ok(())
}

/// Removes a blueprint and its history; the kind's cron at its location goes with the last
/// blueprint there; a cleanup process is submitted for the reconciler (its location stays).
pub fn remove(
    txn: &mut Txn<'_>,
    colony: &str,
    name: &str,
    actor: &Actor<'_>,
) -> Result<(), ApiError> {
    let b =
        get(txn.store, colony, name)?.ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    let reg = txn.store.registry.clone();
    txn.remove(&reg, bp_key(colony, Some(name)));
    forget_id(txn, &b.blueprintid)?;
    let location = &b.metadata.locationname;
    let others = list(txn.store, colony, &b.kind, "")?
        .iter()
        .filter(|o| o.metadata.name != name && &o.metadata.locationname == location)
        .count();
    if others == 0 {
        let cron = keys::cron_name(colony, Some(&cron_name(&b.kind, location)));
        if let Some(id) = reg.get(&cron)? {
            crate::schedules::remove_cron(txn, &String::from_utf8_lossy(&id))?;
        }
    }
    if let Some(d) = definition_of_kind(txn.store, colony, &b.kind)? {
        let t = &d.spec.handler.executor_type;
        if !t.is_empty() {
            let spec = reconcile_spec(
                colony,
                t,
                "cleanup",
                format!("{t}-cleanup"),
                location,
                json!({"blueprintName": name, "kind": b.kind}),
            )?;
            crate::lifecycle::submit(txn, spec, actor.id, actor.name)?;
        }
    }
    Ok(())
}

/// A blueprint's history, newest first, at most `limit` (all when 0).
pub fn history(store: &Store, id: &str, limit: usize) -> Result<Vec<BlueprintHistory>, ApiError> {
    let mut all: Vec<BlueprintHistory> = scan(store, &history_prefix(id))?;
    all.reverse();
    if limit > 0 {
        all.truncate(limit);
    }
    Ok(all)
}

/// Replaces a blueprint's status (the reconciler's report); nothing else changes.
pub fn set_status(
    txn: &mut Txn<'_>,
    colony: &str,
    name: &str,
    status: Value,
) -> Result<(), ApiError> {
    let mut b =
        get(txn.store, colony, name)?.ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    b.status = status;
    write(txn, bp_key(colony, Some(name)), &b)
}

/// Submits a reconcile now (`force`: a new generation first, without a history entry, as
/// upstream). Returns the process.
pub fn reconcile(
    txn: &mut Txn<'_>,
    colony: &str,
    name: &str,
    force: bool,
    actor: &Actor<'_>,
) -> Result<Process, ApiError> {
    let mut b =
        get(txn.store, colony, name)?.ok_or_else(|| ApiError::not_found("Blueprint not found"))?;
    let d = definition_of_kind(txn.store, colony, &b.kind)?;
    let Some(d) = d.filter(|d| !d.spec.handler.executor_type.is_empty()) else {
        return Err(ApiError::bad_request(
            "Blueprint has no handler with executor type defined",
        ));
    };
    if d.spec.handler.function_name.is_empty() {
        return Err(ApiError::bad_request(
            "Blueprint has no handler with function name defined",
        ));
    }
    if force {
        b.metadata.generation = b.metadata.generation.saturating_add(1);
        write(txn, bp_key(colony, Some(name)), &b)?;
    }
    submit_reconcile(txn, &d, &b, actor, force)
}

/// Removes every definition, blueprint and history entry of a colony (its crons go with the
/// colony's schedules).
pub fn remove_colony(txn: &mut Txn<'_>, colony: &str) -> Result<(), ApiError> {
    let reg = txn.store.registry.clone();
    for b in list(txn.store, colony, "", "")? {
        forget_id(txn, &b.blueprintid)?;
    }
    for prefix in [bp_key(colony, None), def_key(colony, None)] {
        for k in txn.store.keys(&txn.store.registry, &prefix, usize::MAX)? {
            txn.remove(&reg, k);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_rules_and_texts_as_upstream() {
        let schema = json!({"type": "object", "required": ["replicas"],
            "properties": {"replicas": {"type": "number"}, "proto": {"type": "string", "enum": ["TCP", "UDP"]},
                           "ports": {"type": "array", "items": {"type": "number"}},
                           "net": {"type": "object", "properties": {"mtu": {"type": "number"}}},
                           "count": {"type": "integer"}}});
        let err = |spec: Value| validate(&schema, &spec).unwrap_err().message;
        assert_eq!(
            err(json!({})),
            "blueprint validation failed: required field 'replicas' is missing"
        );
        assert!(
            err(json!({"replicas": "3"})).contains("field 'replicas' must be a number, got string")
        );
        assert!(err(json!({"replicas": 3, "proto": "HTTP"}))
            .contains("must be one of [TCP UDP], got HTTP"));
        assert!(err(json!({"replicas": 3, "ports": [1, "x"]}))
            .contains("field 'ports[1]' must be a number"));
        assert!(err(json!({"replicas": 3, "net": {"mtu": true}}))
            .contains("field 'net.mtu' must be a number, got bool"));
        validate(
            &schema,
            &json!({"replicas": 3, "proto": "UDP", "count": "not checked", "extra": 1}),
        )
        .unwrap();
        validate(&Value::Null, &json!({"anything": 1})).unwrap();
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(json_eq(
            &json!({"a": 3, "b": [1.0]}),
            &json!({"b": [1], "a": 3.0})
        ));
        assert!(!json_eq(&json!({"a": 3}), &json!({"a": 4})));
        assert!(json_eq(&Value::Null, &json!({})));
    }
}
