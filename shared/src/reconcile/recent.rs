//! Step 2: what is new. OFAuth's list from its newest connection back to where
//! the last such pass began (less [`RECENT_SKEW_MS`] for the clocks), whatever
//! the sweep's cursor. This is where a user who finished while the callback's
//! own search could not see their connection (too many others connected in
//! between), and whose webhook was lost, gets it: the list names the attempt
//! (`clientReferenceId`), the same attestation the webhook and the callback's
//! search give ([`super::listed`]). Its cost grows with the connect rate, not
//! the account: every connection is read once by it.

use super::run::Run;
use super::service::{RECENT_FIRST_LOOKBACK_MS, RECENT_MAX_PAGES, RECENT_SKEW_MS};
use crate::store::{Lease, StoreError};
use crate::time::parse_rfc3339_ms;

impl Run<'_> {
    /// Reads the list back to the last pass's mark, each page as the sweep reads
    /// one. `true`: it got there (and the mark moved to this run's start).
    pub(super) async fn recent(
        &mut self,
        lease: &Lease,
        started_ms: i64,
    ) -> Result<bool, StoreError> {
        let back_to = lease
            .recent_since
            .map_or(started_ms - RECENT_FIRST_LOOKBACK_MS, |m| {
                m - RECENT_SKEW_MS
            });
        let mut offset = 0u32;
        let mut read = 0u32;
        loop {
            if read >= RECENT_MAX_PAGES || !self.time_left() {
                tracing::warn!(outcome = "recent_incomplete", pages = read, "the pass over new connections did not reach its mark; the next run reads from the newest again");
                return Ok(false);
            }
            let Some(page) = self
                .read_list_page(None, offset, "OFAuth's newest connections")
                .await
            else {
                return Ok(false);
            };
            read += 1;
            self.counts.recent_pages += 1;
            let Some((done, _)) = self.handle_list_page(&page.list).await? else {
                return Ok(false); // the breaker
            };
            if done < page.list.len() {
                return Ok(false); // out of time within the page
            }
            let reached = page.list.iter().any(|c| {
                c.created_at
                    .as_deref()
                    .and_then(parse_rfc3339_ms)
                    .is_some_and(|ms| ms < back_to)
            });
            if reached || !page.has_more || page.list.is_empty() {
                self.svc.store.save_recent_mark(lease, started_ms).await?;
                return Ok(true);
            }
            offset += u32::try_from(page.list.len()).unwrap_or(u32::MAX);
        }
    }
}
