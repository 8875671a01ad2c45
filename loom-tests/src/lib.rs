//! Compiles the production fan-out ring on its own, so that `--cfg loom` swaps its atomics for
//! loom's. Nothing else from colonyd (and nothing smol-based) is in this build.

#[path = "../../src/fanout/ring.rs"]
pub mod ring;
