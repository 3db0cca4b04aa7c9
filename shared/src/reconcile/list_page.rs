//! One page of OFAuth's list, as every pass reads it (the new connections, the
//! expired ones, the sweep): the records and attempts it names are read in one
//! batch, the page is stopped by the breaker when an unusual share of our bound
//! connections on it shows another OnlyFans account, and each listed connection
//! of ours is decided ([`super::listed`]).

use tracing::Instrument;

use super::breaker::Trip;
use super::run::Run;
use crate::ids::{AttemptId, ConnectionId};
use crate::model::ConnectionRecord;
use crate::ofauth::ListedConnection;
use crate::store::StoreError;
use crate::telemetry;

impl Run<'_> {
    /// How many of the page's items were done (all, unless time ran out) and
    /// the ids of this deployment's records among them. `None`: the breaker
    /// stopped the page (a change in how OFAuth names accounts, or an incident,
    /// rather than a wave of swaps): nothing on it is changed and the run stops.
    pub(super) async fn handle_list_page(
        &mut self,
        list: &[ListedConnection],
    ) -> Result<Option<(usize, Vec<String>)>, StoreError> {
        let ids: Vec<ConnectionId> = list
            .iter()
            .filter_map(|c| ConnectionId::parse(&c.id))
            .collect();
        let refs: Vec<AttemptId> = list
            .iter()
            .filter_map(|c| c.client_reference_id.as_deref().and_then(AttemptId::parse))
            .collect();
        let known = self.svc.store.known(&ids, &refs).await?;
        // Only what is not known already: a record whose swap is recorded
        // (refused, invalidated, listed by OFAuth under the other account ever
        // after) is decided, and weighs nothing.
        let bound: Vec<(&ConnectionRecord, &ListedConnection)> = list
            .iter()
            .filter_map(|c| Some((known.records.get(c.id.as_str())?, c)))
            .filter(|(r, _)| r.is_bound_and_live() && !r.has_swap_mark())
            .collect();
        let swapped: Vec<&ConnectionId> = bound
            .iter()
            .filter(|(r, c)| r.shows_other_account(&c.user_data.clone().unwrap_or_default()))
            .map(|(r, _)| &r.id)
            .collect();
        if self.breaker_trips(swapped.len(), bound.len(), Trip::Swapped, &swapped) {
            return Ok(None);
        }
        let mut seen = Vec::new();
        for (i, listed) in list.iter().enumerate() {
            if !self.time_left() {
                return Ok(Some((i, seen)));
            }
            let Some(id) = ConnectionId::parse(&listed.id) else {
                continue;
            };
            if known.records.contains_key(id.as_str()) {
                seen.push(id.as_str().to_string());
            }
            let flow = listed
                .client_reference_id
                .as_deref()
                .and_then(AttemptId::parse);
            self.handle_listed(&id, listed, &known)
                .instrument(telemetry::flow_span(flow.as_ref()))
                .await;
        }
        Ok(Some((list.len(), seen)))
    }
}
