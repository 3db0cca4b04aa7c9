//! Who is calling: the API Gateway JWT authorizer's claims in production, or a
//! trusted header when local development explicitly enables it.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// How the caller is identified.
#[derive(Debug, Clone)]
pub struct IdentityRules {
    /// The JWT claim that holds the user id (`sub` by default).
    pub claim: String,
    /// Local development only: trust `x-user-id`.
    #[cfg_attr(not(feature = "dev-identity"), allow(dead_code))]
    pub(crate) trust_dev_header: bool,
}

impl IdentityRules {
    pub fn new(settings: &crate::config::IdentitySettings) -> Self {
        Self {
            claim: settings.user_id_claim.clone(),
            trust_dev_header: settings.dev_trust_user_header,
        }
    }
}

/// The authenticated user's id, or `None` when the request carries no identity.
/// The body is never consulted.
pub fn caller(req: &Request, rules: &IdentityRules) -> Option<String> {
    let from_jwt = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get(&rules.claim))
            .cloned(),
        _ => None,
    };
    let id = from_jwt.or_else(|| dev_header(req, rules))?;
    valid_user_id(&id).then_some(id)
}

/// The development header's user, when local development trusts it.
#[cfg(feature = "dev-identity")]
fn dev_header(req: &Request, rules: &IdentityRules) -> Option<String> {
    rules
        .trust_dev_header
        .then(|| {
            req.headers()
                .get(crate::config::DEV_USER_HEADER)?
                .to_str()
                .ok()
                .map(str::to_string)
        })
        .flatten()
}

/// Without the `dev-identity` feature (every deployed build) no header ever
/// identifies a user.
#[cfg(not(feature = "dev-identity"))]
fn dev_header(_: &Request, _: &IdentityRules) -> Option<String> {
    None
}

/// User ids become DynamoDB key parts: bounded length, printable, no separators.
pub(crate) fn valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 256 && id.chars().all(|c| !c.is_control() && c != '#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(valid_user_id("auth0|abc"));
        assert!(valid_user_id("4f1c-…"));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("a#b"));
        assert!(!valid_user_id("a\nb"));
        assert!(!valid_user_id(&"a".repeat(257)));
    }
}
