//! Notes in the store: note items with their index entries (the tenant's notes and each
//! lead's, newest first). Reads and writes are the versioned records' (`versioned.rs`).

use uuid::Uuid;

use crate::keys::{self, Key, LeadIndex};
use crate::versioned::Versioned;
use crm_domain::notes::Note;
use crm_domain::tenant::TenantId;

impl Versioned for Note {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::Note;

    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::note(tenant, id)
    }

    fn indexes(&self) -> Vec<(LeadIndex, String, String)> {
        let t = self.tenant_id;
        let by_time = keys::time_sort_key(self.created_at, self.id);
        vec![
            (
                LeadIndex::Timeline,
                keys::notes_partition(t),
                by_time.clone(),
            ),
            (
                LeadIndex::OwnerTimeline,
                keys::lead_notes_partition(t, self.lead),
                by_time,
            ),
        ]
    }

    fn lead(&self) -> Option<Uuid> {
        Some(self.lead)
    }
}
