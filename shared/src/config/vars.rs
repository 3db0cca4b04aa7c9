//! The environment variables the functions read: each written once in the
//! table below, which gives both its name (`vars::TABLE_NAME`) and the list of
//! them all ([`ALL`], for the template and docs tests). Which part of the
//! configuration reads each is in `parts.rs`.

/// Declares each variable as a constant holding its own name, and [`ALL`].
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        $($(#[$doc])* pub const $name: &str = stringify!($name);)*
        /// Every variable the functions read, for the template/code consistency test.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

settings! {
    /// The table (the store).
    TABLE_NAME,
    /// A DynamoDB endpoint override (DynamoDB Local).
    DYNAMODB_ENDPOINT,
    DYNAMODB_TIMEOUT_MS,
    /// OFAuth's API: where, with which key, how long a call may take.
    OFAUTH_BASE_URL,
    OFAUTH_API_KEY,
    OFAUTH_API_KEY_SECRET_ID,
    OFAUTH_CONNECT_TIMEOUT_MS,
    OFAUTH_TIMEOUT_MS,
    /// The client app sessions are created for (init-session).
    OFAUTH_CLIENT_APP_ID,
    /// The callback URL sent to OFAuth (init-session); unset: derived from API
    /// Gateway's domain.
    CALLBACK_URL,
    /// The app's pages the callback sends the browser to.
    APP_URL,
    APP_SUCCESS_PATH,
    APP_CANCEL_PATH,
    APP_ERROR_PATH,
    /// The origins CORS allows (the JSON routes).
    ALLOWED_ORIGINS,
    /// Who the caller is: the JWT claim, and the local development switch.
    USER_ID_CLAIM,
    DEV_TRUST_USER_HEADER,
    /// How long an attempt is kept after its session expired (DynamoDB TTL).
    ATTEMPT_RETENTION_SECS,
    /// The webhook's signing secret.
    OFAUTH_WEBHOOK_SECRET,
    OFAUTH_WEBHOOK_SECRET_ID,
    /// Open the downstream connections during Init.
    WARM_CONNECTIONS,
    /// A PEM bundle trusted in addition to the compiled-in roots (see `tls`).
    EXTRA_CA_CERTS,
    /// The connections list search that attests provenance: items per page,
    /// pages at most (the return leg; the reconciler's page size too).
    OFAUTH_LIST_PAGE_SIZE,
    OFAUTH_LIST_MAX_PAGES,
    /// How long a completion code is valid (it never outlives its attempt).
    COMPLETION_CODE_TTL_SECS,
    /// A return without the start cookie of the browser that started the
    /// attempt: `required` (no code), `logged` (the code, with a security log
    /// line and a metric), or `auto` (required where the app and the callback
    /// are on one site).
    START_COOKIE,
    /// The hosts OFAuth's hosted Link URLs may point at.
    LINK_HOSTS,
    /// Sessions a user may start per window, and the window.
    SESSION_RATE_LIMIT,
    SESSION_RATE_WINDOW_SECS,
    /// Completions (`POST /link/complete`) a user may ask for per window, and
    /// the window.
    COMPLETE_RATE_LIMIT,
    COMPLETE_RATE_WINDOW_SECS,
    /// Apply sandbox webhook events (`live: false`), for a deployment on a sandbox key.
    WEBHOOK_ACCEPT_SANDBOX,
    /// The reconciler: what it does with an unbound connection of this
    /// deployment's (`disconnect` or `report`), after how long, and how many
    /// pages (OFAuth's list and the table) one run reads at most.
    RECONCILE_UNBOUND,
    RECONCILE_UNBOUND_GRACE_SECS,
    RECONCILE_MAX_PAGES,
    /// The share (percent) of a table page's live records OFAuth may call
    /// unknown before the reconciler's breaker stops it (100: no breaker).
    RECONCILE_BREAKER_PERCENT,
    /// The OFAuth account the API key must belong to (`GET /v2/account/whoami`'s
    /// `id`); unset: the account the reconciler's first run saw.
    OFAUTH_ACCOUNT_ID,
    /// The CloudWatch namespace of the functions' metrics (EMF); unset: no metrics.
    METRICS_NAMESPACE,
    /// Days a disconnected or expired connection keeps the account's personal
    /// fields (0: kept until erased).
    PERSONAL_DATA_RETENTION_DAYS,
    /// The publisher: the EventBridge bus and the events' `source`, and an
    /// endpoint override (the local stand-in).
    EVENT_BUS_NAME,
    EVENT_SOURCE,
    EVENTBRIDGE_ENDPOINT,
    /// How long after an erasure completed its `User Data Erased` goes out
    /// (milliseconds); a `PutEvents` call times out in a quarter of it.
    EVENT_ERASURE_GRACE_MS,
    /// With the edge on (`EnableEdge`): the value CloudFront sends in
    /// `x-link-origin-verify`; a request to the Link routes without it is
    /// refused (403) before any work. Unset: no check.
    EDGE_ORIGIN_SECRET,
}
