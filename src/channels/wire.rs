//! Channel entries on the wire (spec §5.10) and the WebSocket frames that carry them.

use super::log::Entry;
use crate::protocol::time::Timestamp;
use crate::protocol::{json, ApiError, Reply};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// MsgEntry as emitted: `inreplyto` omitted when 0, `type` when empty, payload always base64.
#[derive(Serialize)]
pub struct EntryJson {
    sequence: i64,
    #[serde(skip_serializing_if = "is_zero")]
    inreplyto: i64,
    timestamp: String,
    senderid: String,
    payload: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    kind: String,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl From<&Entry> for EntryJson {
    fn from(e: &Entry) -> EntryJson {
        EntryJson {
            sequence: e.sequence,
            inreplyto: e.inreplyto,
            timestamp: Timestamp(e.timestamp).to_rfc3339(),
            senderid: e.senderid.clone(),
            payload: STANDARD.encode(&e.payload),
            kind: e.kind.clone(),
        }
    }
}

/// JSON array of entries (a `channelreadmsg` reply, or the payload of a subscription frame).
pub fn entries_json<'a>(entries: impl Iterator<Item = &'a Entry>) -> Result<Vec<u8>, ApiError> {
    let v: Vec<EntryJson> = entries.map(EntryJson::from).collect();
    json::to_vec(&v)
}

/// A `subscribechannelmsg` frame carrying `entries` (text of a reply envelope).
pub fn subscription_frame<'a>(
    entries: impl Iterator<Item = &'a Entry>,
) -> Result<Vec<u8>, ApiError> {
    Ok(Reply::ok("subscribechannelmsg", &entries_json(entries)?).to_json())
}

/// The `[]` frame that ends every channel subscription.
pub fn end_frame() -> Vec<u8> {
    Reply::ok("subscribechannelmsg", b"[]").to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_json_omits_zero_inreplyto_and_empty_type() {
        let e = Entry {
            sequence: 1,
            payload: b"hi".to_vec(),
            ..Entry::default()
        };
        let j = String::from_utf8(entries_json([e].iter()).unwrap()).unwrap();
        assert!(!j.contains("inreplyto") && !j.contains("\"type\""), "{j}");
        assert!(j.contains("\"payload\":\"aGk=\""));
        assert_eq!(
            String::from_utf8(end_frame()).unwrap(),
            r#"{"payloadtype":"subscribechannelmsg","payload":"W10=","error":false}"#
        );
    }
}
