//! Which organizations and meters exist, cached: both only ever grow, so a
//! hit is always right and a miss is checked against the event store.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ledger::event::OrganizationCreated;
use ledger::money::Currency;
use ledger::{EventStore, LedgerEvent, OrgId, StoreError, StreamId};
use tokio::sync::RwLock;

#[derive(Debug, Default)]
pub struct Directory {
    orgs: RwLock<HashMap<OrgId, OrganizationCreated>>,
    meters: RwLock<HashSet<String>>,
}

impl Directory {
    /// The organization's registration, if it is registered.
    pub async fn org(
        &self,
        store: &dyn EventStore,
        org: &OrgId,
    ) -> Result<Option<OrganizationCreated>, StoreError> {
        if let Some(found) = self.orgs.read().await.get(org) {
            return Ok(Some(found.clone()));
        }
        let first = store
            .read_stream(&StreamId::organization(org), 1, 1)
            .await?;
        let created = match first.first().map(|e| e.decode()) {
            Some(Ok(LedgerEvent::OrganizationCreated(created))) => created,
            _ => return Ok(None),
        };
        self.orgs.write().await.insert(org.clone(), created.clone());
        Ok(Some(created))
    }

    /// The organization's billing anchor, without copying the rest of its
    /// registration (what each usage record is checked against).
    pub async fn billing_anchor(
        &self,
        store: &dyn EventStore,
        org: &OrgId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(found) = self.orgs.read().await.get(org) {
            return Ok(Some(found.billing_anchor));
        }
        Ok(self.org(store, org).await?.map(|o| o.billing_anchor))
    }

    pub async fn currency(
        &self,
        store: &dyn EventStore,
        org: &OrgId,
    ) -> Result<Option<Currency>, StoreError> {
        Ok(self.org(store, org).await?.map(|o| o.currency))
    }

    /// Whether the catalog has ever priced `meter`.
    pub async fn has_meter(&self, store: &dyn EventStore, meter: &str) -> Result<bool, StoreError> {
        if self.meters.read().await.contains(meter) {
            return Ok(true);
        }
        let catalog = catalog(store).await?;
        let mut meters = self.meters.write().await;
        meters.extend(catalog.into_iter().map(|p| p.meter));
        Ok(meters.contains(meter))
    }
}

/// Every catalog entry, in the order set.
pub async fn catalog(store: &dyn EventStore) -> Result<Vec<ledger::event::PriceSet>, StoreError> {
    let mut prices = Vec::new();
    let mut version = 1;
    loop {
        let page = store
            .read_stream(&StreamId::catalog(), version, 1_000)
            .await?;
        let Some(last) = page.last() else { break };
        version = last.stream_version + 1;
        for event in page {
            if let Ok(LedgerEvent::PriceSet(price)) = event.decode() {
                prices.push(price);
            }
        }
    }
    Ok(prices)
}
