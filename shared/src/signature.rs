//! Webhook signature verification, on the raw body, before anything else.
//!
//! Two schemes, chosen by which headers are present:
//! - OFAuth's documented one: `OFAuth-Signature: t=<unix seconds>,v1=<hex>`,
//!   HMAC-SHA256 over `"<t>.<raw body>"` keyed with the signing secret as given.
//! - The SDKs' Svix-style one: `svix-id`, `svix-timestamp`, `svix-signature`
//!   (`v1,<base64>` entries, space separated), HMAC-SHA256 over
//!   `"<id>.<timestamp>.<raw body>"` keyed with the base64-decoded secret after `whsec_`.
//!
//! Both reject timestamps more than five minutes from now. The work per delivery is
//! bounded before any hashing: at most [`MAX_CANDIDATES`] signatures (the Svix
//! scheme allows several for key rotation), and the body is size-checked by the
//! caller; the HMAC is then computed once and compared in constant time with each
//! candidate.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use lambda_http::http::HeaderMap;
use std::cell::Cell;

/// Largest clock difference accepted, either way.
pub(crate) const TOLERANCE_SECS: i64 = 300;

/// The headers a delivery's signature may come in (the SDKs' Svix form,
/// OFAuth's own): a request with neither is refused unread, and the edge's web
/// ACL drops it before the API (edge/web-acl.yaml).
pub const SIGNATURE_HEADERS: [&str; 2] = [SVIX_SIGNATURE, OFAUTH_SIGNATURE];
const SVIX_SIGNATURE: &str = "svix-signature";
const OFAUTH_SIGNATURE: &str = "ofauth-signature";

/// Most signatures one delivery may carry (a rotation needs two).
pub(crate) const MAX_CANDIDATES: usize = 5;

thread_local! {
    static HMACS: Cell<u64> = const { Cell::new(0) };
}

/// How many HMACs this thread has computed: the work a delivery cost, for tests.
pub fn hmacs_computed() -> u64 {
    HMACS.with(Cell::get)
}

/// The one HMAC of a delivery, compared in constant time with each candidate.
fn matches_any(key: &hmac::Key, signed: &[u8], candidates: &[Vec<u8>]) -> bool {
    HMACS.with(|n| n.set(n.get() + 1));
    let tag = hmac::sign(key, signed);
    candidates.iter().fold(false, |found, c| {
        found | aws_lc_rs::constant_time::verify_slices_are_equal(tag.as_ref(), c).is_ok()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    OfAuth,
    Svix,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OfAuth => "ofauth",
            Self::Svix => "svix",
        }
    }
}

/// Which check failed. Logged; never the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature headers")]
    Missing,
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("timestamp outside the {TOLERANCE_SECS} s tolerance ({age_secs} s off)")]
    Stale { age_secs: i64 },
    #[error("signature does not match")]
    Mismatch,
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub scheme: Scheme,
    /// The delivery's id (`svix-id`), when the scheme carries one.
    pub delivery_id: Option<String>,
    /// The signed timestamp (Unix seconds).
    pub timestamp: i64,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Verifies a delivery's signature on its raw body.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<Verified, SignatureError> {
    if let Some(sig) = header(headers, SVIX_SIGNATURE) {
        let id = header(headers, "svix-id").ok_or(SignatureError::Malformed("svix-id missing"))?;
        let ts = header(headers, "svix-timestamp")
            .ok_or(SignatureError::Malformed("svix-timestamp missing"))?;
        let timestamp: i64 = ts
            .parse()
            .map_err(|_| SignatureError::Malformed("svix-timestamp"))?;
        check_age(timestamp, now)?;
        let entries: Vec<&str> = sig.split_whitespace().collect();
        if entries.len() > MAX_CANDIDATES {
            return Err(SignatureError::Malformed("too many signatures"));
        }
        let candidates: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::Malformed(
                "no v1 signature in svix-signature",
            ));
        }
        let key_bytes = BASE64
            .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
            .map_err(|_| {
                SignatureError::Malformed("the configured secret is not whsec_<base64>")
            })?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
        let mut signed = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(ts.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        if matches_any(&key, &signed, &candidates) {
            return Ok(Verified {
                scheme: Scheme::Svix,
                delivery_id: Some(id.to_string()),
                timestamp,
            });
        }
        return Err(SignatureError::Mismatch);
    }
    if let Some(sig) = header(headers, OFAUTH_SIGNATURE) {
        let mut t = None;
        let mut v1 = Vec::new();
        if sig.split(',').count() > MAX_CANDIDATES + 1 {
            return Err(SignatureError::Malformed("too many signatures"));
        }
        for part in sig.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = Some(v.trim()),
                Some(("v1", v)) => v1.push(decode_hex(v.trim())?),
                _ => {}
            }
        }
        let ts = t.ok_or(SignatureError::Malformed("t missing"))?;
        let timestamp: i64 = ts.parse().map_err(|_| SignatureError::Malformed("t"))?;
        if v1.is_empty() {
            return Err(SignatureError::Malformed("v1 missing"));
        }
        check_age(timestamp, now)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let mut signed = Vec::with_capacity(ts.len() + body.len() + 1);
        signed.extend_from_slice(ts.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        if matches_any(&key, &signed, &v1) {
            return Ok(Verified {
                scheme: Scheme::OfAuth,
                delivery_id: None,
                timestamp,
            });
        }
        return Err(SignatureError::Mismatch);
    }
    Err(SignatureError::Missing)
}

/// Overflow-safe: any `i64` a header can carry (`t=-9223372036854775808`).
fn check_age(timestamp: i64, now: i64) -> Result<(), SignatureError> {
    if now.abs_diff(timestamp) > TOLERANCE_SECS as u64 {
        return Err(SignatureError::Stale {
            age_secs: now.saturating_sub(timestamp),
        });
    }
    Ok(())
}

/// A `v1=` signature: hex, at most 128 bytes (an HMAC-SHA256 is 32).
fn decode_hex(v: &str) -> Result<Vec<u8>, SignatureError> {
    if v.len() > 256 {
        return Err(SignatureError::Malformed("v1 is too long"));
    }
    hex::decode(v).map_err(|_| SignatureError::Malformed("v1 is not hex"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    const BODY: &[u8] = br#"{"type":"connection.created"}"#;

    /// Headers signed by the simulator, the project's one webhook signer.
    fn headers(pairs: Vec<(String, String)>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                lambda_http::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        h
    }

    fn ofauth_headers(t: i64, body: &[u8], secret: &str) -> HeaderMap {
        headers(ofauth_sim::sign_headers(
            secret,
            ofauth_sim::SignatureScheme::Ofauth,
            "",
            t,
            body,
        ))
    }

    /// Two candidates, the first a decoy: a rotated key's entry must not hide the good one.
    fn svix_headers(id: &str, t: i64, body: &[u8], secret: &str) -> HeaderMap {
        let mut h = headers(ofauth_sim::sign_headers(
            secret,
            ofauth_sim::SignatureScheme::Svix,
            id,
            t,
            body,
        ));
        let sig = h["svix-signature"].to_str().unwrap().to_string();
        h.insert(
            "svix-signature",
            HeaderValue::from_str(&format!("v1,AAAA {sig}")).unwrap(),
        );
        h
    }

    #[test]
    fn ofauth_scheme() {
        let now = 1_800_000_000;
        let h = ofauth_headers(now - 10, BODY, SECRET);
        assert_eq!(
            verify(&h, BODY, SECRET, now).unwrap().scheme,
            Scheme::OfAuth
        );
        assert_eq!(
            verify(&h, b"{}", SECRET, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, BODY, "whsec_other", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, BODY, SECRET, now + 400),
            Err(SignatureError::Stale { age_secs: 410 })
        );
        let h = ofauth_headers(now + 301, BODY, SECRET);
        assert!(matches!(
            verify(&h, BODY, SECRET, now),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn svix_scheme() {
        let now = 1_800_000_000;
        let h = svix_headers("msg_1", now, BODY, SECRET);
        let v = verify(&h, BODY, SECRET, now).unwrap();
        assert_eq!(v.scheme, Scheme::Svix);
        assert_eq!(v.delivery_id.as_deref(), Some("msg_1"));
        assert_eq!(
            verify(&h, b"{ }", SECRET, now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify(&h, BODY, SECRET, now - 301),
            Err(SignatureError::Stale { .. })
        ));
        // The id is signed: changing it breaks the signature.
        let mut h2 = h.clone();
        h2.insert("svix-id", HeaderValue::from_static("msg_2"));
        assert_eq!(
            verify(&h2, BODY, SECRET, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let now = 1_800_000_000;
        for t in [i64::MIN, i64::MAX, -1, 0] {
            let h = ofauth_headers(t, BODY, SECRET);
            assert!(matches!(
                verify(&h, BODY, SECRET, now),
                Err(SignatureError::Stale { .. })
            ));
        }
    }

    /// The flood case: a 10 KB header of ~1,700 candidates on a 256 KiB body.
    /// Refused before any hashing; a valid delivery costs one HMAC however many
    /// candidates (up to the cap) it carries.
    #[test]
    fn candidates_are_capped_before_hashing_and_hashed_once() {
        let now = 1_800_000_000;
        let body = vec![b'x'; 256 * 1024];
        let good = svix_headers("msg_1", now, &body, SECRET);
        // The good entry alone (the helper puts a decoy before it).
        let sig = good["svix-signature"]
            .to_str()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_string();
        let mut flood = good.clone();
        flood.insert(
            "svix-signature",
            HeaderValue::from_str(&format!("{}{sig}", "v1,AAAA ".repeat(1_700))).unwrap(),
        );
        let before = hmacs_computed();
        assert_eq!(
            verify(&flood, &body, SECRET, now),
            Err(SignatureError::Malformed("too many signatures"))
        );
        assert_eq!(hmacs_computed(), before, "no HMAC for a refused header");
        let mut h = HeaderMap::new();
        let many = (0..1_700).map(|_| "v1=00").collect::<Vec<_>>().join(",");
        h.insert(
            "ofauth-signature",
            HeaderValue::from_str(&format!("t={now},{many}")).unwrap(),
        );
        assert_eq!(
            verify(&h, &body, SECRET, now),
            Err(SignatureError::Malformed("too many signatures"))
        );
        assert_eq!(hmacs_computed(), before);
        // Four decoys and the good one: accepted, one HMAC.
        let mut five = good.clone();
        five.insert(
            "svix-signature",
            HeaderValue::from_str(&format!("v1,AAAA v1,AAAA v1,AAAA v1,AAAA {sig}")).unwrap(),
        );
        assert!(verify(&five, &body, SECRET, now).is_ok());
        assert_eq!(hmacs_computed(), before + 1);
        let h = ofauth_headers(now, &body, SECRET);
        let one = h["ofauth-signature"].to_str().unwrap().to_string();
        let mut h5 = HeaderMap::new();
        h5.insert(
            "ofauth-signature",
            HeaderValue::from_str(&format!("{one},v1=00,v1=00,v1=00,v1=00")).unwrap(),
        );
        assert!(verify(&h5, &body, SECRET, now).is_ok());
        assert_eq!(hmacs_computed(), before + 2);
    }

    #[test]
    fn malformed_and_missing() {
        let now = 1_800_000_000;
        assert_eq!(
            verify(&HeaderMap::new(), BODY, SECRET, now),
            Err(SignatureError::Missing)
        );
        for v in [
            "v1=abcd",
            "t=x,v1=abcd",
            &format!("t={now}"),
            &format!("t={now},v1=zz"),
        ] {
            let mut h = HeaderMap::new();
            h.insert("ofauth-signature", HeaderValue::from_str(v).unwrap());
            assert!(
                matches!(
                    verify(&h, BODY, SECRET, now),
                    Err(SignatureError::Malformed(_))
                ),
                "{v}"
            );
        }
        let mut h = svix_headers("msg_1", now, BODY, SECRET);
        h.remove("svix-id");
        assert!(matches!(
            verify(&h, BODY, SECRET, now),
            Err(SignatureError::Malformed(_))
        ));
        let mut h = svix_headers("msg_1", now, BODY, SECRET);
        h.insert("svix-signature", HeaderValue::from_static("v2,abc"));
        assert!(matches!(
            verify(&h, BODY, SECRET, now),
            Err(SignatureError::Malformed(_))
        ));
    }
}
