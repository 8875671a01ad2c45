//! Request and reply envelopes (spec §1.2, §1.3).
//!
//! The signature covers the base64 text of `payload` exactly as sent, so the envelope keeps
//! it verbatim and decodes it only after the signer is known.

use super::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// `RPCMsg`: one signed request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestEnvelope {
    /// 130 hex characters: `r ‖ s ‖ v`.
    pub signature: String,
    /// Message kind, e.g. `submitfuncspecmsg`.
    pub payloadtype: String,
    /// Standard base64 of the JSON message.
    pub payload: String,
}

impl RequestEnvelope {
    /// Parses the envelope JSON (step 1 of spec §1.2).
    pub fn parse(body: &[u8]) -> Result<RequestEnvelope, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "empty request body: expected a JSON envelope {\"payloadtype\",\"payload\",\"signature\"}",
            ));
        }
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "invalid request envelope: expected a JSON object {\"payloadtype\",\"payload\",\"signature\"}",
            ));
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid request envelope: {e}")))
    }

    /// Base64-decodes the payload.
    pub fn decode_payload(&self) -> Result<Vec<u8>, ApiError> {
        STANDARD.decode(self.payload.as_bytes()).map_err(|e| {
            ApiError::bad_request(format!("invalid payload: not standard padded base64 ({e})"))
        })
    }
}

/// `RPCReplyMsg` as emitted: key order `payloadtype`, `payload`, `error`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    /// The request's payload type on success, `error` on failure.
    pub payloadtype: String,
    /// Standard base64 of the reply JSON.
    pub payload: String,
    /// Whether this is an error reply.
    pub error: bool,
}

impl Reply {
    /// A success reply carrying `json` (already serialized).
    pub fn ok(payloadtype: &str, json: &[u8]) -> Reply {
        Reply {
            payloadtype: payloadtype.to_string(),
            payload: STANDARD.encode(json),
            error: false,
        }
    }

    /// An error reply (`{"status":…,"message":…}`).
    pub fn error(err: &ApiError) -> Reply {
        #[derive(Serialize)]
        struct Failure<'a> {
            status: u16,
            message: &'a str,
        }
        let json = match serde_json::to_vec(&Failure {
            status: err.status,
            message: &err.message,
        }) {
            Ok(json) => json,
            // two plain fields always encode; never answer an empty payload
            Err(_) => return Reply::unencodable(),
        };
        Reply {
            payloadtype: "error".to_string(),
            payload: STANDARD.encode(json),
            error: true,
        }
    }

    /// Serialized envelope bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // three plain fields always encode; never an empty body
        serde_json::to_vec(self).unwrap_or_else(|e| {
            debug_assert!(false, "reply envelope not encodable: {e}");
            UNENCODABLE.to_vec()
        })
    }

    fn unencodable() -> Reply {
        debug_assert!(false, "error payload not encodable");
        Reply {
            payloadtype: "error".to_string(),
            payload: UNENCODABLE_PAYLOAD.to_string(),
            error: true,
        }
    }
}

/// `{"status":500,"message":"failed to encode the reply"}` in base64.
const UNENCODABLE_PAYLOAD: &str =
    "eyJzdGF0dXMiOjUwMCwibWVzc2FnZSI6ImZhaWxlZCB0byBlbmNvZGUgdGhlIHJlcGx5In0=";
/// The envelope answered if a reply could not be encoded (cannot happen; debug builds assert).
const UNENCODABLE: &[u8] =
    b"{\"payloadtype\":\"error\",\"payload\":\"eyJzdGF0dXMiOjUwMCwibWVzc2FnZSI6ImZhaWxlZCB0byBlbmNvZGUgdGhlIHJlcGx5In0=\",\"error\":true}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_envelope_is_a_well_formed_500() {
        let v: serde_json::Value = serde_json::from_slice(UNENCODABLE).unwrap();
        assert_eq!(v["error"], true);
        let payload = STANDARD.decode(v["payload"].as_str().unwrap()).unwrap();
        let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(p["status"], 500);
    }

    #[test]
    fn error_reply_matches_spec_example() {
        let r = Reply::error(&ApiError::forbidden("Access denied, not server owner"));
        assert_eq!(
            r.payload,
            "eyJzdGF0dXMiOjQwMywibWVzc2FnZSI6IkFjY2VzcyBkZW5pZWQsIG5vdCBzZXJ2ZXIgb3duZXIifQ=="
        );
        assert_eq!(
            String::from_utf8(r.to_json()).unwrap(),
            format!(
                "{{\"payloadtype\":\"error\",\"payload\":\"{}\",\"error\":true}}",
                r.payload
            )
        );
    }

    #[test]
    fn empty_success_is_e30() {
        assert_eq!(Reply::ok("approveexecutormsg", b"{}").payload, "e30=");
    }

    #[test]
    fn bad_envelopes_are_400() {
        for body in [&b""[..], b"   ", b"{", b"[]", b"{\"payload\":5}", b"null"] {
            assert_eq!(
                RequestEnvelope::parse(body).unwrap_err().status,
                400,
                "{body:?}"
            );
        }
        let e = RequestEnvelope::parse(br#"{"payloadtype":"x","payload":"!!","signature":""}"#)
            .unwrap();
        assert_eq!(e.decode_payload().unwrap_err().status, 400);
    }
}
