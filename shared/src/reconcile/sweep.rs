//! Step 4: the sweep, resumed run after run from a cursor in the table
//! (`RECONCILE#cursor`), within `RECONCILE_MAX_PAGES` pages a run:
//! 1. OFAuth's whole list, page by page ([`super::list_page`]); which of our
//!    records each page showed is kept (`RECONCILE#seen#…`).
//! 2. The table, page by page ([`super::table`]): a record the list did not
//!    show is asked about on its own. Absence from a list page alone is never
//!    taken as proof: offsets shift while a sweep pages.

use std::time::SystemTime;

use super::run::Run;
use crate::store::{Cursor, Phase, StoreError};

/// Whether the sweep goes on in this run after a page.
enum Next {
    Continue,
    Stop,
}

impl Run<'_> {
    /// Pages through the sweep until it is done or the run's budget is spent,
    /// keeping `cursor` at the first thing not done.
    pub(super) async fn sweep(&mut self, cursor: &mut Cursor) -> Result<(), StoreError> {
        while self.budget_left() {
            let next = match cursor.phase.clone() {
                Phase::Listing { offset, chunks } => {
                    self.sweep_list_page(cursor, offset, chunks).await?
                }
                Phase::Table { after, chunks } => {
                    self.sweep_table_page(cursor, after, chunks).await?
                }
                Phase::Done => Next::Stop,
            };
            if let Next::Stop = next {
                break;
            }
        }
        Ok(())
    }

    /// One page of OFAuth's list at `offset`: handled, the ids of ours it
    /// showed kept, and the cursor moved past what was done.
    async fn sweep_list_page(
        &mut self,
        cursor: &mut Cursor,
        offset: u32,
        chunks: u32,
    ) -> Result<Next, StoreError> {
        let Some(page) = self
            .read_list_page(
                None,
                offset,
                "OFAuth's connections list (the next run resumes here)",
            )
            .await
        else {
            return Ok(Next::Stop);
        };
        let Some((done, seen)) = self.handle_list_page(&page.list).await? else {
            return Ok(Next::Stop); // the breaker: nothing on the page changed
        };
        self.svc
            .store
            .put_seen(cursor.sweep, chunks, &seen, SystemTime::now())
            .await?;
        let offset = offset + u32::try_from(done).unwrap_or(u32::MAX);
        cursor.phase = if done < page.list.len() || (page.has_more && !page.list.is_empty()) {
            Phase::Listing {
                offset,
                chunks: chunks + 1,
            }
        } else {
            Phase::Table {
                after: None,
                chunks: chunks + 1,
            }
        };
        Ok(Next::Continue)
    }

    /// One page of the table after `after`: its records checked and changed
    /// ([`Run::handle_table_page`]), the cursor moved on, or the sweep done.
    async fn sweep_table_page(
        &mut self,
        cursor: &mut Cursor,
        after: Option<String>,
        chunks: u32,
    ) -> Result<Next, StoreError> {
        if self.seen.is_none() {
            self.seen = Some(self.svc.store.load_seen(cursor.sweep, chunks).await?);
        }
        let (records, next) = self
            .svc
            .store
            .scan_connections(after.as_deref(), super::service::TABLE_PAGE_ITEMS)
            .await?;
        self.counts.pages += 1;
        if !self.handle_table_page(&records, cursor.sweep).await {
            // Out of time, or the breaker: the page is read again next run.
            return Ok(Next::Stop);
        }
        let Some(k) = next else {
            cursor.phase = Phase::Done;
            return Ok(Next::Stop);
        };
        cursor.phase = Phase::Table {
            after: Some(k),
            chunks,
        };
        Ok(Next::Continue)
    }
}
