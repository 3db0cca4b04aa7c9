//! Identifiers: link attempt ids, connection ids and the short tokens OFAuth sends back.
//!
//! Everything here is checked before it reaches DynamoDB, OFAuth or a redirect.

use std::fmt;

/// Bytes of randomness in an attempt id (160 bits; the minimum asked for is 128).
const ATTEMPT_ID_BYTES: usize = 20;

/// The opaque id of one Link attempt, sent to OFAuth as `clientReferenceId`.
/// Random, unguessable, and free of personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AttemptId(String);

impl AttemptId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; ATTEMPT_ID_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("la_{}", hex::encode(bytes))))
    }

    /// Accepts only the exact shape `generate` produces, so a forged or mangled
    /// value is refused without a database read.
    pub fn parse(v: &str) -> Option<Self> {
        let rest = v.strip_prefix("la_")?;
        (rest.len() == ATTEMPT_ID_BYTES * 2
            && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Self(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form fit for logs: enough to correlate, not enough to use.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttemptId({})", mask(&self.0))
    }
}

/// Bytes of secret in a completion code (160 bits).
const CODE_SECRET_BYTES: usize = 20;

/// The one-time code the callback gives the browser that came back from OFAuth,
/// and that the signed-in return page sends to `POST /link/complete`:
/// `lc_<attempt id hex><secret hex>`. Only its SHA-256 is stored; it is
/// single-use and short-lived.
#[derive(Clone, PartialEq, Eq)]
pub struct CompletionCode {
    attempt: AttemptId,
    secret: String,
}

impl CompletionCode {
    /// A fresh code for an attempt, from the operating system's CSPRNG.
    pub fn generate(attempt: &AttemptId) -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; CODE_SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self {
            attempt: attempt.clone(),
            secret: hex::encode(bytes),
        })
    }

    /// Accepts only the exact shape `generate` produces.
    pub fn parse(v: &str) -> Option<Self> {
        let rest = v.strip_prefix("lc_")?;
        let hex_only = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if rest.len() != (ATTEMPT_ID_BYTES + CODE_SECRET_BYTES) * 2 || !hex_only(rest) {
            return None;
        }
        let (attempt, secret) = rest.split_at(ATTEMPT_ID_BYTES * 2);
        Some(Self {
            attempt: AttemptId::parse(&format!("la_{attempt}"))?,
            secret: secret.to_string(),
        })
    }

    pub fn attempt(&self) -> &AttemptId {
        &self.attempt
    }

    /// The code as the browser receives it.
    pub fn reveal(&self) -> String {
        format!(
            "lc_{}{}",
            self.attempt.as_str().trim_start_matches("la_"),
            self.secret
        )
    }

    /// SHA-256 of the secret, hex: what is stored.
    pub fn hash(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            self.secret.as_bytes(),
        ))
    }

    /// Whether this code's hash is `stored`, compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.hash().as_bytes(), stored.as_bytes())
            .is_ok()
    }
}

impl fmt::Debug for CompletionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompletionCode({:?}, <redacted>)", self.attempt)
    }
}

/// An OFAuth connection id (`conn_…`). OFAuth documents no exact format, so this
/// accepts a conservative alphabet and length that cannot break a key or a URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn parse(v: &str) -> Option<Self> {
        (!v.is_empty()
            && v.len() <= 128
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        .then(|| Self(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form fit for logs: enough to correlate, not enough to use.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.masked())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes of secret in a browser binding (128 bits).
const BROWSER_SECRET_BYTES: usize = 16;

/// The two cookies that bind a Link attempt to a browser, both HttpOnly
/// `__Host-` cookies on the API's own host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCookie {
    /// Set by `POST /link/session` on the browser that starts an attempt: the
    /// callback hands a completion code only to a browser that carries it.
    Start,
    /// Set by the callback on the browser that first comes back: a reload of the
    /// callback gets a new code only in that browser.
    Return,
}

impl BrowserCookie {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Start => "__Host-ofauth-link-start",
            Self::Return => "__Host-ofauth-link-return",
        }
    }
}

/// The secret a [`BrowserCookie`] carries; only its SHA-256 is stored on the
/// attempt. A replayed callback URL in another browser carries neither.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserSecret(String);

impl BrowserSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; BROWSER_SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The secret `cookie` carries in a `Cookie` header's value, when it has
    /// the exact shape [`Self::generate`] produces.
    pub fn from_cookies(header: &str, cookie: BrowserCookie) -> Option<Self> {
        header.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == cookie.name()
                && value.len() == BROWSER_SECRET_BYTES * 2
                && value
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(value.to_string()))
        })
    }

    /// SHA-256 of the secret, hex: what is stored.
    pub fn hash(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            self.0.as_bytes(),
        ))
    }

    /// Whether this secret's hash is `stored`, compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.hash().as_bytes(), stored.as_bytes())
            .is_ok()
    }

    /// The `Set-Cookie` value of `cookie` carrying it: only for this site's
    /// HTTPS pages (`__Host-`: Secure, `Path=/`, no `Domain`), not readable by
    /// scripts, sent on the top-level navigation back from OFAuth
    /// (`SameSite=Lax`), for an hour (a Link session's life).
    pub fn set_cookie(&self, cookie: BrowserCookie) -> String {
        format!(
            "{}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600",
            cookie.name(),
            self.0
        )
    }
}

impl fmt::Debug for BrowserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserSecret(<redacted>)")
    }
}

/// A short lower-case token such as a cancel `step` or an `error_code`: OFAuth's
/// lists are open ("etc."), so unknown values are kept, but only in this alphabet,
/// which is safe to store, log and put in a redirect.
pub(crate) fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Keeps the first 8 characters of an identifier for logs.
pub fn mask(v: &str) -> String {
    let head: String = v.chars().take(8).collect();
    if v.chars().count() > 8 {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_secrets_are_read_only_from_their_cookie() {
        let b = BrowserSecret::generate().unwrap();
        let cookie = b.set_cookie(BrowserCookie::Return);
        assert!(cookie.starts_with("__Host-ofauth-link-return="));
        for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let value = cookie.split(';').next().unwrap();
        let header = format!("theme=dark; {value}; other=1");
        let read = BrowserSecret::from_cookies(&header, BrowserCookie::Return).unwrap();
        assert!(read.matches(&b.hash()));
        // Each cookie reads only its own name.
        assert!(BrowserSecret::from_cookies(&header, BrowserCookie::Start).is_none());
        let start = b.set_cookie(BrowserCookie::Start);
        assert!(start.starts_with("__Host-ofauth-link-start="));
        let both = format!("{value}; {}", start.split(';').next().unwrap());
        assert!(BrowserSecret::from_cookies(&both, BrowserCookie::Start).is_some());
        assert!(!BrowserSecret::generate().unwrap().matches(&b.hash()));
        for bad in [
            "__Host-ofauth-link-return=short",
            "__Host-ofauth-link-return=0123456789ABCDEF0123456789abcdef",
            "ofauth-link-return=0123456789abcdef0123456789abcdef",
            "",
        ] {
            assert!(
                BrowserSecret::from_cookies(bad, BrowserCookie::Return).is_none(),
                "{bad}"
            );
        }
        assert!(!format!("{b:?}").contains(&b.0));
    }

    #[test]
    fn attempt_ids_are_unique_and_round_trip() {
        let a = AttemptId::generate().unwrap();
        let b = AttemptId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 3 + 40);
        assert_eq!(AttemptId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn forged_attempt_ids_are_refused() {
        for v in [
            "",
            "la_",
            "user_123",
            "la_0123",
            "LA_0123456789abcdef0123456789abcdef01234567",
            "la_0123456789ABCDEF0123456789abcdef01234567",
            "la_0123456789abcdef0123456789abcdef0123456g",
            "la_0123456789abcdef0123456789abcdef012345678",
        ] {
            assert!(AttemptId::parse(v).is_none(), "{v}");
        }
        assert!(AttemptId::parse("la_0123456789abcdef0123456789abcdef01234567").is_some());
    }

    #[test]
    fn completion_codes() {
        let a = AttemptId::generate().unwrap();
        let code = CompletionCode::generate(&a).unwrap();
        let text = code.reveal();
        assert_eq!(text.len(), 3 + 80);
        let back = CompletionCode::parse(&text).unwrap();
        assert_eq!(back.attempt(), &a);
        assert!(back.matches(&code.hash()));
        let other = CompletionCode::generate(&a).unwrap();
        assert!(!other.matches(&code.hash()));
        assert_ne!(code.hash(), code.secret, "only the hash is stored");
        for bad in [
            "",
            "lc_",
            &text[..text.len() - 1],
            &text.to_uppercase(),
            &format!("{text}0"),
        ] {
            assert!(CompletionCode::parse(bad).is_none(), "{bad}");
        }
        assert!(!format!("{code:?}").contains(&code.secret));
    }

    #[test]
    fn connection_ids() {
        assert!(ConnectionId::parse("conn_abc123").is_some());
        assert!(ConnectionId::parse("").is_none());
        assert!(ConnectionId::parse("conn abc").is_none());
        assert!(ConnectionId::parse("conn/../x").is_none());
        assert!(ConnectionId::parse(&"a".repeat(129)).is_none());
        assert_eq!(
            ConnectionId::parse("conn_abcdef123").unwrap().masked(),
            "conn_abc…"
        );
        assert!(
            !format!("{:?}", ConnectionId::parse("conn_abcdef123").unwrap()).contains("def123")
        );
    }

    #[test]
    fn tokens() {
        assert!(is_token("2fa"));
        assert!(is_token("pre-login"));
        assert!(is_token("invalid_credentials"));
        assert!(!is_token("Bad"));
        assert!(!is_token("a b"));
        assert!(!is_token("https://evil"));
        assert!(!is_token(&"a".repeat(65)));
    }
}
