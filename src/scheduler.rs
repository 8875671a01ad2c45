//! Scheduling (spec §6.2): which waiting process an executor gets.
//!
//! Candidates are read from the assign queue of (colony, executor type), which is ordered by
//! `prioritytime` (higher priority first, FIFO within a priority). The first candidate whose
//! conditions the executor satisfies wins. Selection runs inside a writer operation, so the
//! select-and-assign is atomic: two executors racing can never get the same process.

use crate::protocol::types::{Executor, Process};
use crate::protocol::ApiError;
use crate::store::{keys, Store};

/// How many queue entries one assign attempt inspects at most. Bounds the work of an assign
/// when many waiting processes target other executors.
pub const MAX_SCAN: usize = 10_000;

/// Parses a CPU quantity: `"<n>m"` millicores; anything else counts as 0 (as upstream).
pub fn parse_cpu(s: &str) -> i64 {
    s.trim()
        .strip_suffix('m')
        .and_then(|n| n.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(0)
}

/// Parses a memory/storage quantity `<int><unit>` into bytes. `""` is 0. A missing or unknown
/// unit is an error (400 at submit).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        format!("invalid quantity {s:?}: a unit is required (e.g. 512Mi, 2Gi, 1G)")
    })?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid quantity {s:?}: expected <integer><unit>"))?;
    let mult: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid quantity {s:?}: unknown unit {other:?} (use Ki Mi Gi Ti or K M G T)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid quantity {s:?}: too large"))
}

/// What an executor offers in one assign request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offer {
    /// Available millicores; None = unlimited.
    pub cpu: Option<i64>,
    /// Available memory bytes; None = unlimited.
    pub mem: Option<i64>,
}

impl Offer {
    /// Parses the assign request's `availablecpu` / `availablemem` ("" = unlimited).
    pub fn parse(cpu: &str, mem: &str) -> Result<Offer, ApiError> {
        let cpu = if cpu.trim().is_empty() {
            None
        } else {
            Some(parse_cpu(cpu))
        };
        let mem = if mem.trim().is_empty() {
            None
        } else {
            Some(parse_bytes(mem).map_err(ApiError::bad_request)?)
        };
        Ok(Offer { cpu, mem })
    }
}

/// Whether `executor` may run `p` given `offer` (type and colony are matched by the queue).
pub fn matches(p: &Process, executor: &Executor, offer: Offer) -> bool {
    let c = &p.spec.conditions;
    if let Some(names) = &c.executornames {
        let any = names.is_empty() || names.iter().any(|n| n == "*");
        if !any && !names.contains(&executor.executorname) {
            return false;
        }
    }
    if !c.locationname.is_empty() && !c.locationname.eq_ignore_ascii_case(&executor.locationname) {
        return false;
    }
    if c.nodes > 127 || c.processes > 127 || c.processespernode > 127 {
        return false;
    }
    if let Some(cpu) = offer.cpu {
        if parse_cpu(&c.cpu) > cpu {
            return false;
        }
    }
    if let Some(mem) = offer.mem {
        if parse_bytes(&c.mem).unwrap_or(0) > mem {
            return false;
        }
    }
    true
}

/// The first waiting process `executor` may run, in priority order.
pub fn select(
    store: &Store,
    executor: &Executor,
    offer: Offer,
) -> Result<Option<Process>, ApiError> {
    // two queues in priority order: processes for any executor of the type, and processes
    // naming this executor; merged by their (prioritytime, pid) suffix
    let open = keys::queue_of(&executor.colonyname, &executor.executortype, "");
    let mine = keys::queue_of(
        &executor.colonyname,
        &executor.executortype,
        &executor.executorname,
    );
    // each queue is read from its floor (store::floors), not from the tombstones before it
    let mut a = open_queue(store, open)?;
    let mut b = if executor.executorname.is_empty() {
        None
    } else {
        Some(open_queue(store, mine)?)
    };
    for _ in 0..MAX_SCAN {
        let ka = a.peek()?;
        let kb = match b.as_mut() {
            Some(b) => b.peek()?,
            None => None,
        };
        let from_a = match (&ka, &kb) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x <= y,
        };
        let suffix = if from_a {
            a.next()
        } else {
            b.as_mut().and_then(SuffixIter::next)
        };
        let Some(suffix) = suffix else {
            return Ok(None);
        };
        let Some(pid) = keys::trailing_pid(&suffix) else {
            continue;
        };
        let Some(p) = store.process(&pid)? else {
            continue;
        };
        if matches(&p, executor, offer) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The keys of the assign queue `prefix` from its floor on (prefix cut off); raises the floor
/// to the queue's first live key.
fn open_queue(store: &Store, prefix: Vec<u8>) -> Result<SuffixIter, ApiError> {
    let start = store.floors.start(&prefix);
    let mut keys = SuffixIter {
        inner: store.index.range(start.from.clone()..prefix_end(&prefix)),
        skip: prefix.len(),
        head: None,
        primed: false,
    };
    let first = keys
        .peek()?
        .map(|suffix| [prefix.as_slice(), &suffix].concat());
    store.floors.raise(&prefix, &start, first.as_deref());
    Ok(keys)
}

/// The first key after every key that starts with `prefix` (prefixes here end with `\0`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// Keys of a range iterator with the prefix cut off, with one key of look-ahead.
struct SuffixIter {
    inner: fjall::Iter,
    skip: usize,
    head: Option<Vec<u8>>,
    primed: bool,
}

impl SuffixIter {
    fn peek(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        if !self.primed {
            self.primed = true;
            self.head = match self.inner.next() {
                Some(g) => Some(g.key()?.get(self.skip..).unwrap_or_default().to_vec()),
                None => None,
            };
        }
        Ok(self.head.clone())
    }

    fn next(&mut self) -> Option<Vec<u8>> {
        if !self.primed {
            let _ = self.peek();
        }
        self.primed = false;
        self.head.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_open_queues_merge_in_priority_order() {
        use crate::store::writer::{NoSink, SyncMode, Writer};
        use crate::store::StoreConfig;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&StoreConfig::new(dir.path())).unwrap());
        let (w, h) = Writer::start(store.clone(), Arc::new(NoSink), SyncMode::Never).unwrap();
        let submit = |names: Option<Vec<&str>>, priority: i32| {
            let mut spec = crate::protocol::types::FunctionSpec::default();
            spec.conditions.colonyname = "dev".into();
            spec.conditions.executortype = "cli".into();
            spec.conditions.executornames =
                names.map(|n| n.into_iter().map(String::from).collect());
            spec.priority = priority;
            // a waiting process as the lifecycle writes it: priority days ahead in the queue
            let p = Process {
                processid: crate::crypto::random_id(),
                prioritytime: -i64::from(priority) * 86_400_000_000_000,
                spec,
                ..Process::default()
            };
            futures_lite::future::block_on(w.run(move |txn| {
                txn.put_process(None, &p)?;
                Ok(p.processid)
            }))
            .unwrap()
        };
        let open_low = submit(None, 0);
        let for_w1_high = submit(Some(vec!["w1", "w2"]), 5);
        let for_w2 = submit(Some(vec!["w2"]), 9);
        let star = submit(Some(vec!["*"]), 1);
        let exec = |name: &str| Executor {
            executorname: name.into(),
            executortype: "cli".into(),
            colonyname: "dev".into(),
            ..Executor::default()
        };
        let pick = |e: &Executor| {
            select(&store, e, Offer::default())
                .unwrap()
                .map(|p| p.processid)
        };
        assert_eq!(pick(&exec("w1")), Some(for_w1_high.clone()));
        assert_eq!(pick(&exec("w2")), Some(for_w2));
        assert_eq!(
            pick(&exec("w3")),
            Some(star),
            "\"*\" is open to every executor"
        );
        let _ = open_low;
        w.close();
        h.join().unwrap();
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_cpu("500m"), 500);
        assert_eq!(parse_cpu("2"), 0);
        assert_eq!(parse_cpu(""), 0);
        assert_eq!(parse_bytes("").unwrap(), 0);
        assert_eq!(parse_bytes("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("8gib").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("2M").unwrap(), 2_000_000);
        assert!(parse_bytes("1024").is_err());
        assert!(parse_bytes("1Xb").is_err());
        assert!(parse_bytes("99999999999999999999Gi").is_err());
        assert!(parse_bytes("9999999999999Ti").is_err());
    }

    #[test]
    fn matching_rules() {
        let mut p = Process::default();
        let e = Executor {
            executorname: "w1".into(),
            locationname: "Lab".into(),
            ..Executor::default()
        };
        assert!(matches(&p, &e, Offer::default()));
        p.spec.conditions.executornames = Some(vec!["w2".into()]);
        assert!(!matches(&p, &e, Offer::default()));
        p.spec.conditions.executornames = Some(vec!["*".into()]);
        assert!(matches(&p, &e, Offer::default()));
        p.spec.conditions.locationname = "lab".into();
        assert!(matches(&p, &e, Offer::default()));
        p.spec.conditions.locationname = "other".into();
        assert!(!matches(&p, &e, Offer::default()));
        p.spec.conditions.locationname.clear();
        p.spec.conditions.cpu = "1000m".into();
        p.spec.conditions.mem = "1Gi".into();
        assert!(!matches(
            &p,
            &e,
            Offer {
                cpu: Some(500),
                mem: None
            }
        ));
        assert!(matches(
            &p,
            &e,
            Offer {
                cpu: Some(1000),
                mem: Some(1 << 30)
            }
        ));
        assert!(!matches(
            &p,
            &e,
            Offer {
                cpu: None,
                mem: Some(1 << 20)
            }
        ));
    }
}
