//! Whether two hosts are the same site, as browsers decide which cookies to
//! keep and send: the start cookie the API sets on the browser that starts an
//! attempt is a first-party cookie only when the API and the app are on one
//! site (`api.example.com` beside `app.example.com`; `localhost` beside
//! `localhost`). Browsers use the public suffix list; this checks the same
//! shape without it: the same host, or one is the other's subdomain, or both
//! are subdomains of a parent of at least two labels (so a deployment whose app
//! sits right under a two-label public suffix, `myapp.co.uk`, should say so
//! with `START_COOKIE`).

/// Whether `a` and `b` (host names, no ports) are one site.
pub fn same_site(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok() || h.starts_with('[');
    if is_ip(&a) || is_ip(&b) {
        return false;
    }
    let under = |child: &str, parent: &str| child.ends_with(&format!(".{parent}"));
    if under(&a, &b) || under(&b, &a) {
        return true;
    }
    // Under a common parent of at least two labels, one label up from either.
    let parent = |h: &str| {
        h.split_once('.')
            .map(|(_, p)| p.to_string())
            .filter(|p| p.contains('.'))
    };
    parent(&a).is_some_and(|p| b == p || under(&b, &p))
        || parent(&b).is_some_and(|p| a == p || under(&a, &p))
}

/// A URL's or a `Host` header's host name, without its port.
pub fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    a.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites() {
        for (a, b) in [
            ("app.example.com", "api.example.com"),
            ("example.com", "api.example.com"),
            ("app.example.co.uk", "api.example.co.uk"),
            ("localhost", "localhost"),
            ("App.Example.com", "api.example.COM"),
            ("x.app.example.com", "api.app.example.com"),
            ("x.y.example.com", "y.example.com"),
        ] {
            assert!(same_site(a, b), "{a} {b}");
            assert!(same_site(b, a), "{b} {a}");
        }
        for (a, b) in [
            (
                "app.example.com",
                "abc123.execute-api.us-east-1.amazonaws.com",
            ),
            ("app.example.com", "example.org"),
            ("localhost", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.2"),
            ("app.foo.co.uk", "api.bar.co.uk"),
            ("", "localhost"),
        ] {
            assert!(!same_site(a, b), "{a} {b}");
        }
        assert_eq!(host_of("localhost:9000"), "localhost");
        assert_eq!(host_of("api.example.com"), "api.example.com");
        assert_eq!(host_of("[::1]:9000"), "::1");
    }
}
