//! Store records and keys fed corrupted bytes: every record type the store decodes, and the
//! key parsers. Decoding must fail cleanly (a 500 to the client) or give a value whose encoding
//! decodes and encodes again to the same bytes (bytes, not values: NaN != NaN).
#![no_main]

use colonyd::internals::{ChannelMeta, Entry};
use colonyd::internals::{Attribute, Colony, Executor, Function, Log, Process, User};
use colonyd::internals::{decode, encode, keys};
use colonyd::internals::{Cron, File, GeneratorRecord, GraphRecord, Location, Snapshot};
use libfuzzer_sys::fuzz_target;

fn roundtrip<T>(bytes: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    if let Ok(v) = decode::<T>(bytes) {
        let first = encode(&v).expect("a decoded record encodes");
        let again: T = decode(&first).expect("a re-encoded record decodes");
        assert_eq!(encode(&again).expect("encodes"), first);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 17 {
        0 => roundtrip::<Colony>(rest),
        1 => roundtrip::<Executor>(rest),
        2 => roundtrip::<User>(rest),
        3 => roundtrip::<Process>(rest),
        4 => roundtrip::<GraphRecord>(rest),
        5 => roundtrip::<Function>(rest),
        6 => roundtrip::<Log>(rest),
        7 => roundtrip::<Attribute>(rest),
        8 => roundtrip::<ChannelMeta>(rest),
        9 => roundtrip::<Entry>(rest),
        11 => roundtrip::<Cron>(rest),
        12 => roundtrip::<GeneratorRecord>(rest),
        13 => roundtrip::<Location>(rest),
        14 => roundtrip::<File>(rest),
        15 => roundtrip::<Snapshot>(rest),
        10 => {
            let _ = keys::parse_cron_run(rest);
            let _ = keys::parse_deadline(rest);
            let _ = keys::trailing_pid(rest);
            let _ = keys::from_i64be(rest);
        }
        _ => {
            // a record cut short anywhere (a torn write) decodes to an error, never a panic
            for cut in 0..rest.len().min(64) {
                let _ = decode::<Process>(&rest[..cut]);
            }
        }
    }
});
