//! Key layout of every keyspace. Keys are bytes; components are joined as written below.
//! `‖` is concatenation, `\0` a zero byte (names never contain one: requests with `\0` in a
//! name are refused), `i64be` an i64 with its sign bit flipped, big-endian, so that byte order
//! equals numeric order.
//!
//! | keyspace | key | value |
//! |---|---|---|
//! | `meta` | `server-id` | owner ID (ASCII hex) |
//! | `meta` | `format` | store format version (u8) |
//! | `registry` | `c‖colony` | [`Colony`](crate::protocol::types::Colony) |
//! | `registry` | `e‖colony\0executor-name` | [`Executor`](crate::protocol::types::Executor) |
//! | `registry` | `E‖executor-id` | `colony\0executor-name` (executor IDs are global) |
//! | `registry` | `u‖colony\0user-name` | [`User`](crate::protocol::types::User) |
//! | `registry` | `U‖colony\0user-id` | user name |
//! | `registry` | `f‖function-id` | [`Function`](crate::protocol::types::Function) |
//! | `registry` | `F‖colony\0executor-name\0function-id` | empty |
//! | `registry` | `P‖colony` | empty: assignments paused |
//! | `registry` | `a‖attribute-id` | process ID the attribute lives in |
//! | `registry` | `l‖colony\0location-name` | [`Location`](crate::protocol::types::Location) |
//! | `registry` | `R‖colony\0cron-name` | cron ID (names are unique per colony; listings in name order) |
//! | `registry` | `N‖colony\0generator-name` | generator ID (same) |
//! | `registry` | `A‖generator-id‖u64be(seq)` | one packed argument (UTF-8), first in, first out |
//! | `registry` | `x‖file-id` | [`File`](crate::protocol::types::File): one ColonyFS file revision |
//! | `registry` | `X‖colony\0label\0name\0‖u64be(seq)` | file-id: revisions in sequence order, grouped by label and name |
//! | `registry` | `y‖snapshot-id` | [`Snapshot`](crate::protocol::types::Snapshot) |
//! | `registry` | `Y‖colony\0snapshot-name` | snapshot-id |
//! | `meta` | `file-seq` | u64be: the last file sequence number (server-wide) |
//! | `processes` | `p‖process-id` | [`Process`](crate::protocol::types::Process) |
//! | `processes` | `r‖cron-id` | [`Cron`](crate::protocol::types::Cron) (`checkerperiod` 0) |
//! | `processes` | `G‖generator-id` | generator record: the [`Generator`](crate::protocol::types::Generator) and its argument queue's head and tail sequence numbers |
//! | `index` | `q‖colony\0executortype\0‖target\0‖i64be(prioritytime)‖pid` | empty: assign queue (WAITING, not waiting for parents); `target` is `""` for any executor of the type, else one key per name in `conditions.executornames`, so an executor reads only its own and the open queue |
//! | `index` | `s‖colony\0‖state(u8)‖i64be(order)‖pid` | empty: listings by state; order = prioritytime (WAITING), starttime (RUNNING), −endtime (final) |
//! | `index` | `h‖colony\0‖i64be(submissiontime)‖pid` | empty: history by submission time |
//! | `index` | `d‖i64be(deadline)‖kind(u8)‖pid` | empty: wait (`w`) and execution (`x`) deadlines |
//! | `index` | `n‖i64be(nextrun)‖cron-id` | empty: when each cron runs next |
//! | `logs` | `p‖pid‖i64be(ts)` | [`Log`](crate::protocol::types::Log); `ts` is unique server-wide |
//! | `logs` | `e‖colony\0executor-name\0‖i64be(ts)` | key of the `p‖` entry |
//! | `logs` | `c‖colony\0‖i64be(ts)` | key of the `p‖` entry |
//!
//! Everything a process owns is reachable from the process record: its index keys are a pure
//! function of the record ([`process_index_keys`]), its logs share the `p‖pid` prefix.

use crate::protocol::types::{state, Process};

/// Order-preserving encoding of an i64.
pub fn i64be(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`i64be`].
pub fn from_i64be(b: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = b.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1 << 63)) as i64)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `c‖colony`
pub fn colony(name: &str) -> Vec<u8> {
    cat(&[b"c", name.as_bytes()])
}
/// `e‖colony\0` (prefix of all executors of a colony)
pub fn executors_of(colony: &str) -> Vec<u8> {
    cat(&[b"e", colony.as_bytes(), b"\0"])
}
/// `e‖colony\0name`
pub fn executor(colony: &str, name: &str) -> Vec<u8> {
    cat(&[b"e", colony.as_bytes(), b"\0", name.as_bytes()])
}
/// `E‖id`
pub fn executor_id(id: &str) -> Vec<u8> {
    cat(&[b"E", id.as_bytes()])
}
/// `u‖colony\0`
pub fn users_of(colony: &str) -> Vec<u8> {
    cat(&[b"u", colony.as_bytes(), b"\0"])
}
/// `u‖colony\0name`
pub fn user(colony: &str, name: &str) -> Vec<u8> {
    cat(&[b"u", colony.as_bytes(), b"\0", name.as_bytes()])
}
/// `U‖colony\0id`
pub fn user_id(colony: &str, id: &str) -> Vec<u8> {
    cat(&[b"U", colony.as_bytes(), b"\0", id.as_bytes()])
}
/// `f‖id`
pub fn function(id: &str) -> Vec<u8> {
    cat(&[b"f", id.as_bytes()])
}
/// `F‖colony\0` or `F‖colony\0executor\0`
pub fn functions_of(colony: &str, executor: Option<&str>) -> Vec<u8> {
    match executor {
        Some(e) => cat(&[b"F", colony.as_bytes(), b"\0", e.as_bytes(), b"\0"]),
        None => cat(&[b"F", colony.as_bytes(), b"\0"]),
    }
}
/// `F‖colony\0executor\0id`
pub fn function_ref(colony: &str, executor: &str, id: &str) -> Vec<u8> {
    cat(&[
        functions_of(colony, Some(executor)).as_slice(),
        id.as_bytes(),
    ])
}
/// `P‖colony`
pub fn paused(colony: &str) -> Vec<u8> {
    cat(&[b"P", colony.as_bytes()])
}
/// `a‖attribute-id`
pub fn attribute(id: &str) -> Vec<u8> {
    cat(&[b"a", id.as_bytes()])
}
/// `p‖pid`
pub fn process(pid: &str) -> Vec<u8> {
    cat(&[b"p", pid.as_bytes()])
}
/// `w‖pid` in the `channels` keyspace: who may write to the process's channels (see
/// [`channel_writers_value`]); kept only for processes that declare channels.
pub fn channel_writers(pid: &str) -> Vec<u8> {
    cat(&[b"w", pid.as_bytes()])
}
/// `initiatorid\0assignedexecutorid` (the executor part empty while unassigned): everything
/// the channel write check needs, so the writer compares bytes instead of decoding a process.
pub fn channel_writers_value(p: &Process) -> Vec<u8> {
    let executor = if p.isassigned {
        p.assignedexecutorid.as_str()
    } else {
        ""
    };
    cat(&[p.initiatorid.as_bytes(), b"\0", executor.as_bytes()])
}
/// Whether `signer` may write to channels according to a [`channel_writers_value`].
pub fn may_write_channels(value: &[u8], signer: &str) -> bool {
    let mut parts = value.splitn(2, |b| *b == 0);
    let initiator = parts.next().unwrap_or_default();
    let executor = parts.next().unwrap_or_default();
    !signer.is_empty() && (initiator == signer.as_bytes() || executor == signer.as_bytes())
}
/// `q‖colony\0executortype\0‖target\0`: the queue of processes for executor `target` of
/// that type (`""`: for any executor of the type)
pub fn queue_of(colony: &str, executortype: &str, target: &str) -> Vec<u8> {
    cat(&[
        b"q",
        colony.as_bytes(),
        b"\0",
        executortype.as_bytes(),
        b"\0",
        target.as_bytes(),
        b"\0",
    ])
}
/// Whether an index key is an assign-queue key (`q‖…`, see [`queue_of`]).
pub fn is_queue_key(key: &[u8]) -> bool {
    key.first() == Some(&b'q')
}
/// `s‖colony\0‖state`
pub fn by_state(colony: &str, st: i32) -> Vec<u8> {
    cat(&[b"s", colony.as_bytes(), b"\0", &[state_byte(st)]])
}
/// `s‖colony\0` (all states)
pub fn by_state_all(colony: &str) -> Vec<u8> {
    cat(&[b"s", colony.as_bytes(), b"\0"])
}
/// `h‖colony\0`
pub fn history_of(colony: &str) -> Vec<u8> {
    cat(&[b"h", colony.as_bytes(), b"\0"])
}
/// `d` (all deadlines)
pub const DEADLINES: &[u8] = b"d";
/// Deadline kind: maxwaittime.
pub const DEADLINE_WAIT: u8 = b'w';
/// Deadline kind: maxexectime.
pub const DEADLINE_EXEC: u8 = b'x';
/// `d‖i64be(at)‖kind‖pid`
pub fn deadline(at: i64, kind: u8, pid: &str) -> Vec<u8> {
    cat(&[DEADLINES, &i64be(at), &[kind], pid.as_bytes()])
}
/// Splits a deadline key into (at, kind, pid).
pub fn parse_deadline(key: &[u8]) -> Option<(i64, u8, String)> {
    let rest = key.strip_prefix(DEADLINES)?;
    let at = from_i64be(rest.get(..8)?)?;
    let kind = *rest.get(8)?;
    let pid = std::str::from_utf8(rest.get(9..)?).ok()?.to_string();
    Some((at, kind, pid))
}
/// The pid at the end of an index key whose last component is a 64-char process ID.
pub fn trailing_pid(key: &[u8]) -> Option<String> {
    let start = key.len().checked_sub(64)?;
    std::str::from_utf8(key.get(start..)?)
        .ok()
        .map(str::to_string)
}
/// `p‖pid` prefix of a process's logs
pub fn logs_of_process(pid: &str) -> Vec<u8> {
    cat(&[b"p", pid.as_bytes()])
}
/// `p‖pid‖ts`
pub fn log(pid: &str, ts: i64) -> Vec<u8> {
    cat(&[b"p", pid.as_bytes(), &i64be(ts)])
}
/// `e‖colony\0executor\0`
pub fn logs_of_executor(colony: &str, executor: &str) -> Vec<u8> {
    cat(&[b"e", colony.as_bytes(), b"\0", executor.as_bytes(), b"\0"])
}
/// `c‖colony\0`
pub fn logs_of_colony(colony: &str) -> Vec<u8> {
    cat(&[b"c", colony.as_bytes(), b"\0"])
}

/// `l‖colony\0` (all locations of a colony) or `l‖colony\0name`
pub fn location(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"l",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}
/// `r‖id`
pub fn cron(id: &str) -> Vec<u8> {
    cat(&[b"r", id.as_bytes()])
}
/// `R‖colony\0` (all crons of a colony) or `R‖colony\0name`
pub fn cron_name(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"R",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}
/// `n` (all next-run keys)
pub const CRON_RUNS: &[u8] = b"n";
/// `n‖i64be(at)‖id`
pub fn cron_run(at: i64, id: &str) -> Vec<u8> {
    cat(&[CRON_RUNS, &i64be(at), id.as_bytes()])
}
/// Splits a next-run key into (at, cron ID).
pub fn parse_cron_run(key: &[u8]) -> Option<(i64, String)> {
    let rest = key.strip_prefix(CRON_RUNS)?;
    let at = from_i64be(rest.get(..8)?)?;
    let id = std::str::from_utf8(rest.get(8..)?).ok()?.to_string();
    Some((at, id))
}
/// `G` (all generators)
pub const GENERATORS: &[u8] = b"G";
/// `G‖id`
pub fn generator(id: &str) -> Vec<u8> {
    cat(&[GENERATORS, id.as_bytes()])
}
/// `N‖colony\0` or `N‖colony\0name`
pub fn generator_name(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"N",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}
/// `A‖generator-id‖u64be(seq)`
pub fn generator_arg(id: &str, seq: u64) -> Vec<u8> {
    cat(&[b"A", id.as_bytes(), &seq.to_be_bytes()])
}

/// `x‖id`
pub fn file(id: &str) -> Vec<u8> {
    cat(&[b"x", id.as_bytes()])
}
/// `X‖colony\0label\0` (the names of a label) or `X‖colony\0label\0name\0` (the
/// revisions of a name)
pub fn file_revisions(colony: &str, label: &str, name: Option<&str>) -> Vec<u8> {
    let mut k = cat(&[b"X", colony.as_bytes(), b"\0", label.as_bytes(), b"\0"]);
    if let Some(n) = name {
        k.extend_from_slice(n.as_bytes());
        k.push(0);
    }
    k
}
/// `X‖colony\0label\0name\0‖u64be(seq)`
pub fn file_revision(colony: &str, label: &str, name: &str, seq: u64) -> Vec<u8> {
    let mut k = file_revisions(colony, label, Some(name));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}
/// `y‖id`
pub fn snapshot(id: &str) -> Vec<u8> {
    cat(&[b"y", id.as_bytes()])
}
/// `Y‖colony\0` or `Y‖colony\0name`
pub fn snapshot_name(colony: &str, name: Option<&str>) -> Vec<u8> {
    cat(&[
        b"Y",
        colony.as_bytes(),
        b"\0",
        name.unwrap_or("").as_bytes(),
    ])
}

fn state_byte(st: i32) -> u8 {
    u8::try_from(st).unwrap_or(u8::MAX)
}

/// Every `index` key a process record implies. Writing a process removes the keys of its old
/// version that are not in this set and inserts the new ones, so indexes can never drift from
/// the records.
pub fn process_index_keys(p: &Process) -> Vec<Vec<u8>> {
    let colony = p.colony();
    let pid = p.processid.as_bytes();
    let order = match p.state {
        state::WAITING => p.prioritytime,
        state::RUNNING => p.starttime.0,
        _ => i64::MAX - p.endtime.0,
    };
    let mut keys = vec![
        cat(&[&by_state(colony, p.state), &i64be(order), pid]),
        cat(&[&history_of(colony), &i64be(p.submissiontime.0), pid]),
    ];
    if p.state == state::WAITING && !p.waitforparents {
        let etype = &p.spec.conditions.executortype;
        let targets: Vec<&str> = match &p.spec.conditions.executornames {
            Some(names) if !names.is_empty() && !names.iter().any(|n| n == "*") => {
                let mut t: Vec<&str> = names.iter().map(String::as_str).collect();
                t.sort_unstable();
                t.dedup();
                t
            }
            _ => vec![""],
        };
        for t in targets {
            keys.push(cat(&[
                &queue_of(colony, etype, t),
                &i64be(p.prioritytime),
                pid,
            ]));
        }
    }
    if p.state == state::WAITING && !p.waitdeadline.is_zero() {
        keys.push(deadline(p.waitdeadline.0, DEADLINE_WAIT, &p.processid));
    }
    if p.state == state::RUNNING && !p.execdeadline.is_zero() {
        keys.push(deadline(p.execdeadline.0, DEADLINE_EXEC, &p.processid));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_writers_are_the_submitter_and_the_assigned_executor() {
        let mut p = Process {
            initiatorid: "sub".into(),
            assignedexecutorid: "exe".into(),
            ..Process::default()
        };
        let v = channel_writers_value(&p);
        assert!(may_write_channels(&v, "sub"));
        assert!(!may_write_channels(&v, "exe"), "not assigned (any more)");
        p.isassigned = true;
        let v = channel_writers_value(&p);
        assert!(may_write_channels(&v, "sub"));
        assert!(may_write_channels(&v, "exe"));
        assert!(!may_write_channels(&v, "other"));
        assert!(!may_write_channels(&v, ""));
        assert!(!may_write_channels(b"", ""));
    }

    #[test]
    fn i64be_orders_like_numbers() {
        let vals = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64be(w[0]) < i64be(w[1]));
            assert_eq!(from_i64be(&i64be(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn deadline_keys_round_trip() {
        let pid = "a".repeat(64);
        let k = deadline(12345, DEADLINE_EXEC, &pid);
        assert_eq!(
            parse_deadline(&k),
            Some((12345, DEADLINE_EXEC, pid.clone()))
        );
        assert_eq!(trailing_pid(&k), Some(pid));
        assert_eq!(parse_deadline(b"d"), None);
    }
}
