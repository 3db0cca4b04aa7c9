//! What the return leg needs, built once per process from its part of the
//! configuration.

use crate::config::{Config, ReturnLegSettings};
use crate::http::Cors;
use crate::identity::IdentityRules;
use crate::ofauth::OfAuthClient;
use crate::store::Store;

use super::provenance::Provenance;

/// The callback function's service: the callback and the completion.
#[derive(Debug, Clone)]
pub struct ReturnLeg {
    pub(super) store: Store,
    pub(super) provenance: Provenance,
    /// Where the callback sends the browser, how long a code is valid.
    pub(super) settings: ReturnLegSettings,
    pub(super) identity: IdentityRules,
    pub(super) cors: Cors,
}

impl ReturnLeg {
    pub fn new(config: &Config, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            provenance: Provenance::new(config.list_search, store.clone(), ofauth),
            store,
            settings: config.return_leg.clone(),
            identity: IdentityRules::new(&config.identity),
            cors: Cors::for_config(config, "POST, OPTIONS"),
        }
    }
}
