//! Access grants recorded when access tickets finish: who may use which
//! resource since when, by which ticket; admins revoke them with a reason.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::{self, Audit};
use super::users::{Person, people_by_id};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, GrantId, UserId};
use crate::db::models::Grant;
use crate::db::schema::{applies as a, grants as g, resources as r};
use crate::db::stamp::At;

/// A grant with the names a page shows.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub grant: Grant,
    pub resource: String,
    pub resource_kind: String,
    pub serial: String,
    pub holder: Person,
}

impl GrantRow {
    pub fn revoked(&self) -> Option<NaiveDateTime> {
        self.grant.revoked_at
    }
}

fn rows(
    conn: &mut DbConn,
    found: Vec<(Grant, String, String, String)>,
) -> StoreResult<Vec<GrantRow>> {
    let ids: Vec<UserId> = found.iter().map(|x| x.0.user_id).collect();
    let people = people_by_id(conn, &ids)?;
    Ok(found
        .into_iter()
        .map(|(grant, resource, resource_kind, serial)| GrantRow {
            holder: people.get(&grant.user_id).cloned().unwrap_or_default(),
            grant,
            resource,
            resource_kind,
            serial,
        })
        .collect())
}

/// Grants of one person (`None`: everyone's), newest first; revoked ones
/// only when asked for.
pub fn list(
    conn: &mut DbConn,
    user: Option<UserId>,
    include_revoked: bool,
) -> StoreResult<Vec<GrantRow>> {
    let mut q = g::table
        .inner_join(r::table)
        .inner_join(a::table.on(a::id.eq(g::apply_id)))
        .order(g::id.desc())
        .select((Grant::as_select(), r::name, r::kind, a::serial))
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(g::user_id.eq(u));
    }
    if !include_revoked {
        q = q.filter(g::revoked_at.is_null());
    }
    let found = q.limit(1000).load(conn)?;
    rows(conn, found)
}

/// Revokes a live grant; a revoked one stays revoked (refused with a message).
pub fn revoke(conn: &mut DbConn, id: GrantId, reason: &str, actor: UserId) -> StoreResult<ApplyId> {
    let grant: Grant = g::table.find(id).select(Grant::as_select()).first(conn)?;
    if reason.trim().is_empty() {
        return Err(StoreError::rule("reason", "errors.reason_required"));
    }
    let n = diesel::update(g::table.find(id).filter(g::revoked_at.is_null()))
        .set((
            g::revoked_at.eq(At(now())),
            g::revoked_by.eq(actor),
            g::revoke_reason.eq(reason.trim()),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.already_revoked"));
    }
    audit::record(
        conn,
        Audit {
            apply_id: Some(grant.apply_id.0),
            ..Audit::web(actor, "grant.revoked", "apply", grant.apply_id.0)
        }
        .with_detail(
            serde_json::json!({ "resource": grant.resource_id.0, "comment": reason.trim() }),
        ),
    )?;
    Ok(grant.apply_id)
}
