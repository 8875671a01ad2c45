//! `/pubsub` sessions. Input: a mode byte, then either (below 0x80) the raw byte stream a
//! client sends after the upgrade (WebSocket frames, masked or not, any opcode, any length),
//! or (from 0x80) `payloadtype \n payload` that the harness signs (signer = low two bits) and
//! sends as one masked text frame, so subscription requests reach their handlers. Then the
//! client hangs up: the session must end without panicking, within its bounded output.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(stream) = common::input(data, |envelope| common::ws_text_frame(&envelope)) else {
        return;
    };
    let out = common::node().node.websocket(&stream);
    assert!(out.len() < 16 << 20, "session wrote {} bytes", out.len());
});
