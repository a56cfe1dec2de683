//! Custom domains: every write of a domain, and the lookups of a request's host.
//!
//! A domain is two items written, verified and deleted together: the record under its
//! tenant (`{t}#DOMAINS` / `DOMAIN#{id}`, listed by the routes) and a guard under its name
//! (`DOMAIN#{name}` / `DOMAIN`) holding the tenant and whether the domain is verified,
//! which makes the name unique across the service and is the one item a request's `Host`
//! reads. A third item, the tenant's domain counts (`{t}#DOMAINS` / `COUNTS`), moves in the
//! same transactions: the number of domains (conditioned on the cap) and the id of the
//! primary one (conditioned on what was read, so two requests cannot both set one).
//!
//! Every domain write lives in this module, so that an audit entry can join each
//! transaction in one place.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::accounts::Action;
use crate::keys;
use crate::{from_item, s, to_item, AuditEntry, Conflict, Store, StoreError};
use crm_domain::domains::CustomDomain;
use crm_domain::tenant::TenantId;

const TENANT_ID: &str = "tenant_id";
const VERIFIED: &str = "verified";
const DOMAIN_ID: &str = "domain_id";
const COUNT: &str = "domain_count";
const PRIMARY: &str = "primary_domain";

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// What a request's host can be found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainGuard {
    pub tenant: TenantId,
    pub verified: bool,
}

fn update(update: aws_sdk_dynamodb::types::builders::UpdateBuilder, guard: Conflict) -> Action {
    (
        TransactWriteItem::builder()
            .update(
                update
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build(),
        Some(guard),
    )
}

impl Store {
    fn domain_update(
        &self,
        domain: &CustomDomain,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(
                keys::custom_domain(domain.tenant_id, domain.id).item_key(),
            ))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", n(domain.version))
            .expression_attribute_values(":one", n(1))
    }

    fn guard_update(
        &self,
        domain: &CustomDomain,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::domain_guard(&domain.domain).item_key()))
            .condition_expression("#t = :me")
            .expression_attribute_names("#t", TENANT_ID)
            .expression_attribute_values(":me", s(domain.tenant_id.to_string()))
    }

    fn counts_update(&self, tenant: TenantId) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::custom_domain_counts(tenant).item_key()))
    }

    /// Registers a domain: its record, its name's guard (`Conflict::Name` when the name is
    /// registered already, by any tenant) and the tenant's count (`Conflict::PlanLimit`
    /// when the tenant has `max` domains already), in one transaction.
    pub async fn create_custom_domain(
        &self,
        domain: &CustomDomain,
        max: u64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let absent = Some("attribute_not_exists(PK)");
        let mut record = to_item(domain);
        record.extend(keys::custom_domain(domain.tenant_id, domain.id).item_key());
        let mut guard = keys::domain_guard(&domain.domain).item_key();
        guard.insert(TENANT_ID.into(), s(domain.tenant_id.to_string()));
        guard.insert(DOMAIN_ID.into(), s(domain.id.to_string()));
        guard.insert(VERIFIED.into(), AttributeValue::Bool(false));
        let count = self
            .counts_update(domain.tenant_id)
            .update_expression("ADD #n :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max));
        self.transact(vec![
            self.put_action(record, absent, Conflict::Exists),
            self.put_action(guard, absent, Conflict::Name),
            update(count, Conflict::PlanLimit),
            (self.audit_put(domain.tenant_id, audit), None),
        ])
        .await
    }

    pub async fn get_custom_domain(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<CustomDomain>, StoreError> {
        let found: Option<CustomDomain> = self
            .get(&keys::custom_domain(tenant, id))
            .await?
            .map(from_item)
            .transpose()?;
        Ok(found.filter(|d| d.tenant_id == tenant))
    }

    /// A tenant's domains in id order, after the sort key `after`, and whether more follow.
    pub async fn list_custom_domains(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, CustomDomain)>, bool), StoreError> {
        self.query_prefix(
            keys::custom_domains(tenant),
            keys::CUSTOM_DOMAIN_PREFIX,
            after,
            limit,
        )
        .await
    }

    /// The id of the tenant's primary domain, if it has one.
    pub async fn primary_domain_id(&self, tenant: TenantId) -> Result<Option<Uuid>, StoreError> {
        Ok(self
            .get(&keys::custom_domain_counts(tenant))
            .await?
            .and_then(|item| item.get(PRIMARY).and_then(|v| v.as_s().ok()).cloned())
            .and_then(|id| Uuid::parse_str(&id).ok()))
    }

    /// Marks a domain read as `domain` verified at `at`, its record and its guard together
    /// (`Conflict::Version` when it changed or went meanwhile).
    pub async fn verify_custom_domain(
        &self,
        domain: &CustomDomain,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let record = self
            .domain_update(domain)
            .update_expression("SET verified_at = :at, updated_at = :at, version = version + :one")
            .expression_attribute_values(":at", s(at.to_rfc3339()));
        let guard = self
            .guard_update(domain)
            .update_expression("SET #v = :yes")
            .expression_attribute_names("#v", VERIFIED)
            .expression_attribute_values(":yes", AttributeValue::Bool(true));
        self.transact(vec![
            update(record, Conflict::Version),
            update(guard, Conflict::Version),
            (self.audit_put(domain.tenant_id, audit), None),
        ])
        .await
    }

    /// Makes `domain` (verified) the tenant's primary domain in place of `previous`, or
    /// (`primary` false) stops it being the primary one. Each record is conditioned on
    /// the version read and the counts on the primary read (`Conflict::Version` when
    /// anything moved meanwhile).
    pub async fn set_primary_domain(
        &self,
        domain: &CustomDomain,
        previous: Option<&CustomDomain>,
        primary: bool,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let set = |d: &CustomDomain, value: bool| {
            let mut record = self
                .domain_update(d)
                .update_expression(
                    "SET is_primary = :p, updated_at = :at, version = version + :one",
                )
                .expression_attribute_values(":p", AttributeValue::Bool(value))
                .expression_attribute_values(":at", s(at.to_rfc3339()));
            if value {
                record = record
                    .condition_expression("version = :seen AND attribute_exists(verified_at)");
            }
            update(record, Conflict::Version)
        };
        let mut actions = vec![set(domain, primary)];
        let counts = self
            .counts_update(domain.tenant_id)
            .expression_attribute_names("#p", PRIMARY);
        let counts = match (primary, previous) {
            (true, Some(before)) => {
                actions.push(set(before, false));
                counts
                    .update_expression("SET #p = :id")
                    .condition_expression("#p = :before")
                    .expression_attribute_values(":before", s(before.id.to_string()))
            }
            (true, None) => counts
                .update_expression("SET #p = :id")
                .condition_expression("attribute_exists(#n) AND attribute_not_exists(#p)")
                .expression_attribute_names("#n", COUNT),
            (false, _) => counts
                .update_expression("REMOVE #p")
                .condition_expression("#p = :id"),
        };
        let counts = counts.expression_attribute_values(":id", s(domain.id.to_string()));
        actions.push(update(counts, Conflict::Version));
        actions.push((self.audit_put(domain.tenant_id, audit), None));
        self.transact(actions).await
    }

    /// Deletes a domain read as `domain`: its record, its guard (which frees the name) and
    /// its place in the counts, together (`Conflict::Version` when it changed meanwhile).
    pub async fn delete_custom_domain(
        &self,
        domain: &CustomDomain,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let record = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(
                keys::custom_domain(domain.tenant_id, domain.id).item_key(),
            ))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", n(domain.version))
            .build()
            .expect("delete has table and key");
        let guard = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::domain_guard(&domain.domain).item_key()))
            .condition_expression("#t = :me")
            .expression_attribute_names("#t", TENANT_ID)
            .expression_attribute_values(":me", s(domain.tenant_id.to_string()))
            .build()
            .expect("delete has table and key");
        let mut counts = self
            .counts_update(domain.tenant_id)
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":minus", n(-1));
        counts = if domain.is_primary {
            counts
                .update_expression("ADD #n :minus REMOVE #p")
                .condition_expression("#p = :id")
                .expression_attribute_names("#p", PRIMARY)
                .expression_attribute_values(":id", s(domain.id.to_string()))
        } else {
            counts
                .update_expression("ADD #n :minus")
                .condition_expression("attribute_exists(#n)")
        };
        self.transact(vec![
            (
                TransactWriteItem::builder().delete(record).build(),
                Some(Conflict::Version),
            ),
            (
                TransactWriteItem::builder().delete(guard).build(),
                Some(Conflict::Version),
            ),
            update(counts, Conflict::Version),
            (self.audit_put(domain.tenant_id, audit), None),
        ])
        .await
    }

    /// The guard of a domain name (normalised): who registered it, and whether verified.
    pub async fn domain_guard(&self, name: &str) -> Result<Option<DomainGuard>, StoreError> {
        let Some(item) = self.get(&keys::domain_guard(name)).await? else {
            return Ok(None);
        };
        let tenant = item
            .get(TENANT_ID)
            .and_then(|v| v.as_s().ok())
            .and_then(|id| Uuid::parse_str(id).ok())
            .map(TenantId::from_uuid);
        let verified = matches!(item.get(VERIFIED), Some(AttributeValue::Bool(true)));
        Ok(tenant.map(|tenant| DomainGuard { tenant, verified }))
    }

    /// The tenant holding a slug (the registry the tenants' writes keep).
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantId>, StoreError> {
        Ok(self
            .get(&keys::slug(slug))
            .await?
            .and_then(|item| item.get(TENANT_ID).and_then(|v| v.as_s().ok()).cloned())
            .and_then(|id| Uuid::parse_str(&id).ok())
            .map(TenantId::from_uuid))
    }
}
