//! Step 3: every connection OFAuth lists as `expired` (the list's documented
//! `status` filter), each page as the sweep reads one: a lost expiry of ours is
//! caught in the next run, however deep in the whole list the connection is
//! and however far the sweep is from it. (A lost disconnect waits for the
//! sweep: a disconnected connection leaves the list.)

use super::run::Run;
use super::service::EXPIRED_MAX_PAGES;
use crate::model::ConnectionStatus;
use crate::store::StoreError;

impl Run<'_> {
    pub(super) async fn expired(&mut self) -> Result<(), StoreError> {
        let mut offset = 0u32;
        while self.counts.expired_pages < EXPIRED_MAX_PAGES && self.time_left() {
            let Some(page) = self
                .read_list_page(
                    Some(ConnectionStatus::Expired.as_str()),
                    offset,
                    "OFAuth's expired connections",
                )
                .await
            else {
                return Ok(());
            };
            self.counts.expired_pages += 1;
            let Some((done, _)) = self.handle_list_page(&page.list).await? else {
                return Ok(()); // the breaker
            };
            if done < page.list.len() || !page.has_more || page.list.is_empty() {
                return Ok(());
            }
            offset += u32::try_from(page.list.len()).unwrap_or(u32::MAX);
        }
        Ok(())
    }
}
