//! The environment as settings: each reader takes the variable's name, its
//! default and its check, and a failure names the variable. A value is trimmed;
//! an empty one is unset.

use std::time::Duration;

use url::Url;

use super::error::ConfigError;
use super::secret::{Secret, SecretSource};
use super::vars;

/// Which URL schemes a URL setting takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// `https`, or `http` only on loopback (so local development works while a
    /// deployed configuration cannot send secrets in clear).
    Https,
    /// `http` or `https` (an endpoint override).
    Any,
}

/// The environment as settings: each reader takes the variable's name, its
/// default and its check, and a failure names the variable. A value is trimmed;
/// an empty one is unset.
pub(super) struct Env<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.get(var)
            .ok_or_else(|| ConfigError::new(var, "is required"))
    }

    pub(super) fn text(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    /// An optional value that must pass `valid`.
    pub(super) fn checked(
        &self,
        var: &'static str,
        valid: fn(&str) -> bool,
        problem: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        match self.get(var) {
            Some(v) if !valid(&v) => Err(ConfigError::new(var, problem)),
            v => Ok(v),
        }
    }

    /// A value (or the default) that must pass `valid`.
    pub(super) fn checked_text(
        &self,
        var: &'static str,
        default: &str,
        valid: fn(&str) -> bool,
        problem: &'static str,
    ) -> Result<String, ConfigError> {
        let v = self.text(var, default);
        valid(&v)
            .then_some(v)
            .ok_or_else(|| ConfigError::new(var, problem))
    }

    pub(super) fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref() {
            None => Ok(default),
            Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ConfigError::new(var, "must be true or false")),
        }
    }

    /// One of a fixed set of words; the first is the default.
    pub(super) fn choice<T: Copy>(
        &self,
        var: &'static str,
        words: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(words[0].1);
        };
        words
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
                ConfigError::new(var, format!("must be {}", names.join(" or ")))
            })
    }

    pub(super) fn number<T: TryFrom<u64>>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    pub(super) fn secs(
        &self,
        var: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(var, default, range).map(Duration::from_secs)
    }

    pub(super) fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.get(var) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=60_000).contains(&n) => Ok(Duration::from_millis(n)),
                _ => Err(ConfigError::new(
                    var,
                    "must be a whole number of milliseconds, 1 to 60000",
                )),
            },
        }
    }

    /// An absolute URL with a host and no credentials, when set.
    pub(super) fn optional_url(
        &self,
        var: &'static str,
        scheme: Scheme,
    ) -> Result<Option<Url>, ConfigError> {
        self.get(var)
            .map(|v| parse_url(var, &v, scheme == Scheme::Https))
            .transpose()
    }

    /// An `https` URL (`http` on loopback), or the default.
    pub(super) fn url(&self, var: &'static str, default: &str) -> Result<Url, ConfigError> {
        parse_url(var, &self.text(var, default), true)
    }

    pub(super) fn required_url(&self, var: &'static str) -> Result<Url, ConfigError> {
        parse_url(var, &self.required(var)?, true)
    }

    /// A path on the app's origin, which a request can never change.
    pub(super) fn app_path(
        &self,
        var: &'static str,
        default: &str,
        app: &Url,
    ) -> Result<Url, ConfigError> {
        let path = self.text(var, default);
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(ConfigError::new(
                var,
                "must be a path starting with a single '/'",
            ));
        }
        let url = app
            .join(&path)
            .map_err(|e| ConfigError::new(var, format!("does not form a URL with APP_URL: {e}")))?;
        if url.origin() != app.origin() {
            return Err(ConfigError::new(var, "must stay on APP_URL's origin"));
        }
        Ok(url)
    }

    /// Bare origins, comma-separated (never `*`); by default the app's.
    pub(super) fn origins(&self, var: &'static str, app: &Url) -> Result<Vec<String>, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(vec![app.origin().ascii_serialization()]);
        };
        v.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let origin = parse_url(var, o, true)?.origin().ascii_serialization();
                if origin != o.trim_end_matches('/') {
                    return Err(ConfigError::new(
                        var,
                        format!(
                            "{o:?} is not a bare origin (scheme://host[:port]); '*' is not allowed"
                        ),
                    ));
                }
                Ok(origin)
            })
            .collect()
    }

    /// Host names, comma-separated, lower-cased.
    pub(super) fn hosts(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let hosts: Vec<String> = self
            .text(var, default)
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let name = |h: &String| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        if hosts.is_empty() || !hosts.iter().all(name) {
            return Err(ConfigError::new(
                var,
                "must be a comma-separated list of host names",
            ));
        }
        Ok(hosts)
    }

    /// A secret given as its value (local) or as a Secrets Manager id (AWS),
    /// never both.
    pub(super) fn secret(
        &self,
        value_var: &'static str,
        id_var: &'static str,
    ) -> Result<Option<SecretSource>, ConfigError> {
        match (self.get(value_var), self.get(id_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                value_var,
                format!("set either {value_var} (local) or {id_var} (AWS), not both"),
            )),
            (Some(v), None) => Ok(Some(SecretSource::Env(Secret(v)))),
            (None, Some(id)) => Ok(Some(SecretSource::SecretsManager(id))),
            (None, None) => Ok(None),
        }
    }

    /// The development identity switch trusts a header anyone can send: it must
    /// not be able to take effect in a deployment. A deployment uses DynamoDB
    /// itself; the switch is accepted only with DynamoDB Local on loopback.
    /// A build without the `dev-identity` feature (every deployed build) has no
    /// switch to turn on: asking for it stops the function at Init.
    pub(super) fn dev_trust_user_header(
        &self,
        dynamodb_endpoint: Option<&str>,
    ) -> Result<bool, ConfigError> {
        let on = self.flag(vars::DEV_TRUST_USER_HEADER, false)?;
        if on && !cfg!(feature = "dev-identity") {
            return Err(ConfigError::new(
                vars::DEV_TRUST_USER_HEADER,
                "this build has no development identity switch (it is compiled in only with the dev-identity feature, which make dev enables)",
            ));
        }
        let local_dynamodb = dynamodb_endpoint
            .and_then(|e| Url::parse(e).ok())
            .is_some_and(|u| is_loopback(&u));
        if on && !local_dynamodb {
            return Err(ConfigError::new(
                vars::DEV_TRUST_USER_HEADER,
                "is only for local development: it needs DYNAMODB_ENDPOINT on localhost (DynamoDB Local)",
            ));
        }
        Ok(on)
    }
}

/// A CloudWatch namespace: 1-255 of `[A-Za-z0-9.\-_/#: ]`, not in `AWS/`.
pub(super) fn is_metrics_namespace(v: &str) -> bool {
    (1..=255).contains(&v.len())
        && !v.starts_with("AWS/")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
}

/// `^app_[a-zA-Z0-9]+$`, OFAuth's client app id pattern.
pub(crate) fn is_client_app_id(v: &str) -> bool {
    v.strip_prefix("app_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Parses an absolute http(s) URL. `https` is required unless the host is loopback,
/// so local development works while a deployed config cannot send secrets in clear.
pub(super) fn parse_url(
    var: &'static str,
    v: &str,
    https_unless_local: bool,
) -> Result<Url, ConfigError> {
    let url = Url::parse(v).map_err(|e| ConfigError::new(var, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_unless_local || is_loopback(&url) => {}
        _ => {
            return Err(ConfigError::new(
                var,
                "must be an https URL (http only for localhost)",
            ))
        }
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(var, "must have a host and no credentials"));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
