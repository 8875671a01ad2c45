//! Identity and signatures (spec §2): secp256k1 keys, SHA3-256 digests, recoverable
//! ECDSA signatures over the *base64 text* of a payload, and ColonyOS IDs.
//!
//! An ID is `hex(SHA3-256(ascii(lowercase_hex(04‖X‖Y))))`: the hash of the 130-character hex
//! string of the uncompressed public key, not of its bytes. A signature is 65 bytes
//! `r ‖ s ‖ v` (hex on the wire); `v` is the recovery id. High-s signatures are refused, as the
//! Go server refuses them.
//!
//! The curve arithmetic is libsecp256k1 (the `secp256k1` crate, its bundled C sources built by
//! `cc`): it recovers a public key 3–5 times faster than k256 on the boards colonyd targets
//! (ARCHITECTURE.md, "Departures from the design card"). libsecp256k1's recovery accepts high-s
//! signatures, so [`recover_id`] checks s ≤ n/2 itself before recovering.
//!
//! ```
//! let key = colonyd::PrivateKey::generate();
//! let sig = key.sign(b"eyJhIjoxfQ==");
//! assert_eq!(colonyd::internals::recover_id(b"eyJhIjoxfQ==", &sig).unwrap(), key.id());
//! ```

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use sha3::{Digest, Sha3_256};
use std::fmt;
use std::sync::OnceLock;

/// The one libsecp256k1 context (creating one costs far more than a recovery), randomized
/// once against side channels while signing.
fn context() -> &'static Secp256k1<All> {
    static CONTEXT: OnceLock<Secp256k1<All>> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let mut ctx = Secp256k1::new();
        let mut seed = [0u8; 32];
        fill_random(&mut seed);
        ctx.seeded_randomize(&seed);
        ctx
    })
}

/// Why a signature or key was refused. The text is what the client sees (status 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The signature is not hex.
    SignatureNotHex,
    /// The signature does not have 65 bytes.
    SignatureLength(usize),
    /// The recovery id byte is not 0–3 (4–7 are mapped to 0–3 as Go does).
    RecoveryId(u8),
    /// r or s out of range, high s, or no key recovers from it.
    InvalidSignature,
    /// A private key that is not 32 bytes of hex or not in (0, n).
    InvalidPrivateKey,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::SignatureNotHex => write!(f, "Invalid signature, not hex encoded"),
            CryptoError::SignatureLength(_) => write!(f, "Invalid signature length"),
            CryptoError::RecoveryId(v) => write!(f, "Invalid signature recovery id {v}"),
            CryptoError::InvalidSignature => write!(f, "Invalid signature"),
            CryptoError::InvalidPrivateKey => write!(f, "Invalid private key"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// SHA3-256 of `data`.
pub fn sha3(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

/// The ColonyOS ID of a public key.
fn id_of(key: &PublicKey) -> String {
    hex::encode(sha3(hex::encode(key.serialize_uncompressed()).as_bytes()))
}

/// A fresh random 64-hex-character identifier (process, graph, log, function, attribute IDs).
pub fn random_id() -> String {
    let mut seed = [0u8; 32];
    fill_random(&mut seed);
    hex::encode(sha3(&seed))
}

fn fill_random(buf: &mut [u8]) {
    // getrandom only fails when the OS has no entropy source at all; there is no safe way to
    // continue then (every ID and key would be predictable).
    if let Err(e) = getrandom::getrandom(buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
}

/// A secp256k1 private key.
#[derive(Clone)]
pub struct PrivateKey(SecretKey);

impl PrivateKey {
    /// A new random key.
    pub fn generate() -> PrivateKey {
        loop {
            let mut bytes = [0u8; 32];
            fill_random(&mut bytes);
            if let Ok(k) = SecretKey::from_byte_array(bytes) {
                return PrivateKey(k);
            }
        }
    }

    /// Parses 64 hex characters (any case).
    pub fn from_hex(s: &str) -> Result<PrivateKey, CryptoError> {
        let bytes = hex::decode(s.trim()).map_err(|_| CryptoError::InvalidPrivateKey)?;
        let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            return Err(CryptoError::InvalidPrivateKey);
        };
        SecretKey::from_byte_array(bytes)
            .map(PrivateKey)
            .map_err(|_| CryptoError::InvalidPrivateKey)
    }

    /// Lowercase hex of the 32-byte scalar.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.secret_bytes())
    }

    /// This key's ColonyOS ID.
    pub fn id(&self) -> String {
        id_of(&PublicKey::from_secret_key(context(), &self.0))
    }

    /// Signs `SHA3-256(data)` as a prehash (RFC 6979 nonce, low s); returns the 130-character
    /// hex signature `r ‖ s ‖ v`.
    pub fn sign(&self, data: &[u8]) -> String {
        let msg = Message::from_digest(sha3(data));
        let (rid, rs) = context()
            .sign_ecdsa_recoverable(msg, &self.0)
            .serialize_compact();
        let mut out = Vec::with_capacity(65);
        out.extend_from_slice(&rs);
        // a recovery id is 0..=3
        out.push(u8::try_from(i32::from(rid)).unwrap_or(0));
        hex::encode(out)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(id={})", self.id())
    }
}

/// Recovers the signer's ID from `data` (the base64 payload text as sent) and the hex
/// signature. Any valid signature yields an ID; authorization decides what it may do.
pub fn recover_id(data: &[u8], signature_hex: &str) -> Result<String, CryptoError> {
    recover_id_from_digest(&sha3(data), signature_hex)
}

fn recover_id_from_digest(digest: &[u8; 32], signature_hex: &str) -> Result<String, CryptoError> {
    let raw = hex::decode(signature_hex).map_err(|_| CryptoError::SignatureNotHex)?;
    let Ok(raw) = <[u8; 65]>::try_from(raw.as_slice()) else {
        return Err(CryptoError::SignatureLength(raw.len()));
    };
    let (rs, v) = raw.split_at(64);
    let v = v.first().copied().unwrap_or(0);
    let v = if (4..8).contains(&v) { v - 4 } else { v };
    let rid = RecoveryId::try_from(i32::from(v)).map_err(|_| CryptoError::RecoveryId(v))?;
    // r or s ≥ n is refused here (r = 0 or s = 0 by the recovery below)
    let sig =
        RecoverableSignature::from_compact(rs, rid).map_err(|_| CryptoError::InvalidSignature)?;
    let standard = sig.to_standard();
    let mut low = standard;
    low.normalize_s();
    if low != standard {
        // high s: malleable twin of a valid signature; Go refuses it, so do we (libsecp256k1's
        // recovery would accept it and recover the same key)
        return Err(CryptoError::InvalidSignature);
    }
    let key = context()
        .recover_ecdsa(Message::from_digest(*digest), &sig)
        .map_err(|_| CryptoError::InvalidSignature)?;
    Ok(id_of(&key))
}

/// A bounded cache of verified (payload, signature) → signer. Signatures are deterministic,
/// so polling clients send the same signed request again and again; a hit skips the public
/// key recovery (the most expensive step of a request). Only verified pairs are stored; the
/// key binds the payload's digest to the exact signature text.
pub struct SignerCache {
    inner: std::sync::Mutex<CacheEntries>,
    capacity: usize,
}

/// Cached signers and their insertion order (oldest first, for eviction).
type CacheEntries = (
    std::collections::HashMap<[u8; 32], String>,
    std::collections::VecDeque<[u8; 32]>,
);

impl SignerCache {
    /// A cache of at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> SignerCache {
        SignerCache {
            inner: std::sync::Mutex::new(Default::default()),
            capacity,
        }
    }

    /// Like [`recover_id`], answering repeated requests from the cache.
    pub fn recover(&self, data: &[u8], signature_hex: &str) -> Result<String, CryptoError> {
        let digest = sha3(data);
        if self.capacity == 0 {
            return recover_id_from_digest(&digest, signature_hex);
        }
        let mut k = Vec::with_capacity(32 + signature_hex.len());
        k.extend_from_slice(&digest);
        k.extend_from_slice(signature_hex.as_bytes());
        let key = sha3(&k);
        let lock = || {
            self.inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(id) = lock().0.get(&key) {
            return Ok(id.clone());
        }
        let id = recover_id_from_digest(&digest, signature_hex)?;
        let mut g = lock();
        if g.0.insert(key, id.clone()).is_none() {
            g.1.push_back(key);
            while g.1.len() > self.capacity {
                if let Some(old) = g.1.pop_front() {
                    g.0.remove(&old);
                }
            }
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vector {
        prv: &'static str,
        id: &'static str,
        b64: &'static str,
        sha3: &'static str,
        sig: &'static str,
    }

    const V: [Vector; 3] = [
        Vector {
            prv: "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d",
            id: "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103",
            b64: "eyJtc2d0eXBlIjogImdldGNvbG9uaWVzbXNnIn0=",
            sha3: "eadda7cf07edf81c2803ef44e180181d037cc68dfce136f18b91891f1e39be17",
            sig: "82a2287f7fa7aad2f7a476c2b91743d67792c4f1f580f7cad92ecc6c3504bc6f2f542e984ed0d7d8b5a90a6fc1a381bb18e29dceabb6e97600395d37706732af01",
        },
        Vector {
            prv: "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514",
            id: "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4",
            b64: "eyJtc2d0eXBlIjogImdldGNvbG9ueW1zZyIsICJjb2xvbnluYW1lIjogImRldiJ9",
            sha3: "de30083d05c544adc44be53d27ceeaed6f4dbd85d37714f0d6514c3f8a81ad7d",
            sig: "48e1b60739f4083b83b180e1a5fab1b428fd31a8111f116128d4801a42cf944c54bdd59d1d58f2f2e39d97f6ddd74fc1ed7b164e897f42d523b5c026d761fa9800",
        },
        Vector {
            prv: "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05",
            id: "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac",
            b64: "eyJtc2d0eXBlIjogImFzc2lnbnByb2Nlc3Ntc2ciLCAidGltZW91dCI6IDEwLCAiY29sb255bmFtZSI6ICJkZXYifQ==",
            sha3: "7ab9e36989e50a3082c82699b23e3c7df0b3196419ad301bccb42eca70c40042",
            sig: "7c844a85504dc3c3f29b0de240aa6fe0c68a3e949cf611b4a2309e3a3fc7cb4743388ac8ec17967b1b678ae1f1e2be76e04f3e00b2682bdfd35ede3d4f45d1d000",
        },
    ];

    #[test]
    fn vectors_v1_to_v3_byte_for_byte() {
        for v in &V {
            let key = PrivateKey::from_hex(v.prv).unwrap();
            assert_eq!(key.id(), v.id);
            assert_eq!(hex::encode(sha3(v.b64.as_bytes())), v.sha3);
            assert_eq!(key.sign(v.b64.as_bytes()), v.sig);
            assert_eq!(recover_id(v.b64.as_bytes(), v.sig).unwrap(), v.id);
        }
    }

    #[test]
    fn public_key_of_v1() {
        let key = PrivateKey::from_hex(V[0].prv).unwrap();
        let point = PublicKey::from_secret_key(context(), &key.0).serialize_uncompressed();
        assert_eq!(
            hex::encode(point),
            "0426aa26fe2d354aeb42265141eb7b42dc74b092c3809d2288ae1cb73feae7aafc906b4252aee3855676941423a2df8f83aada0c3e1dbb19c263c9bef53471964b"
        );
    }

    #[test]
    fn hello_vector() {
        let key = PrivateKey::from_hex(V[2].prv).unwrap();
        assert_eq!(
            key.sign(b"hello"),
            "887d6a2291487951e99ea07c3a15a37e29971856c85ff732d8d6cd087c525a5a1019ef841dc4880f8a592e5d45cbddfcd94b3ca2c9651b4c990f2b959793adc701"
        );
    }

    #[test]
    fn high_s_twin_is_rejected() {
        let high = "7c844a85504dc3c3f29b0de240aa6fe0c68a3e949cf611b4a2309e3a3fc7cb47bcc7753713e86984e498751e0e1d4187da5f9ee5fce0745bec73804f80f06f7101";
        assert_eq!(
            recover_id(V[2].b64.as_bytes(), high),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn malformed_signatures_are_errors() {
        assert_eq!(recover_id(b"x", "zz"), Err(CryptoError::SignatureNotHex));
        assert_eq!(recover_id(b"x", "00"), Err(CryptoError::SignatureLength(1)));
        let mut bad_v = V[0].sig.to_string();
        bad_v.replace_range(128..130, "09");
        assert_eq!(
            recover_id(V[0].b64.as_bytes(), &bad_v),
            Err(CryptoError::RecoveryId(9))
        );
        let zeros = "0".repeat(130);
        assert_eq!(recover_id(b"x", &zeros), Err(CryptoError::InvalidSignature));
        // r ≥ n and s ≥ n are refused, not reduced
        let mut r_over = V[0].sig.to_string();
        r_over.replace_range(0..64, &"f".repeat(64));
        assert_eq!(
            recover_id(V[0].b64.as_bytes(), &r_over),
            Err(CryptoError::InvalidSignature)
        );
        let mut s_over = V[0].sig.to_string();
        s_over.replace_range(64..128, &"f".repeat(64));
        assert_eq!(
            recover_id(V[0].b64.as_bytes(), &s_over),
            Err(CryptoError::InvalidSignature)
        );
        // v in 4..8 aliases 0..4 as in Go
        let mut alias = V[0].sig.to_string();
        alias.replace_range(128..130, "05");
        assert_eq!(recover_id(V[0].b64.as_bytes(), &alias).unwrap(), V[0].id);
    }

    #[test]
    fn signer_cache_hits_only_the_exact_pair_and_stays_bounded() {
        let cache = SignerCache::new(2);
        let v = &V[0];
        assert_eq!(cache.recover(v.b64.as_bytes(), v.sig).unwrap(), v.id);
        assert_eq!(cache.recover(v.b64.as_bytes(), v.sig).unwrap(), v.id);
        // same signature, other payload: not a hit, and not valid for that payload's signer
        let other = cache.recover(b"other payload", v.sig);
        assert!(other.map_or(true, |id| id != v.id));
        for w in &V {
            assert_eq!(cache.recover(w.b64.as_bytes(), w.sig).unwrap(), w.id);
        }
        assert!(cache.inner.lock().unwrap().0.len() <= 2);
        let high = "7c844a85504dc3c3f29b0de240aa6fe0c68a3e949cf611b4a2309e3a3fc7cb47bcc7753713e86984e498751e0e1d4187da5f9ee5fce0745bec73804f80f06f7101";
        assert!(cache.recover(V[2].b64.as_bytes(), high).is_err());
    }

    #[test]
    fn bad_private_keys() {
        assert!(PrivateKey::from_hex("00").is_err());
        assert!(PrivateKey::from_hex(&"0".repeat(64)).is_err());
        assert!(PrivateKey::from_hex("not hex").is_err());
        let k = PrivateKey::generate();
        assert_eq!(PrivateKey::from_hex(&k.to_hex()).unwrap().id(), k.id());
        assert_eq!(random_id().len(), 64);
    }
}
