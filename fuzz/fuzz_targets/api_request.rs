//! `POST /api` bodies through the real dispatcher and handlers.
//!
//! Input: the first byte picks the mode. Below 0x80 the rest is the raw HTTP body (envelope
//! parsing, base64, signature recovery, payload type lookup). From 0x80 on, the low two bits
//! pick a signer (server owner, colony owner, executor, user) and the rest is
//! `payloadtype \n payload-JSON`: the harness base64-encodes and signs the payload, so mutations
//! reach every request message's decoding and validation.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(body) = common::input(data, |envelope| envelope) else {
        return;
    };
    let (status, reply) = common::node().node.request(&body);
    common::check_reply(status, &reply);
});
