//! Delegations: A is away and B acts for A during a window, optionally only
//! for one kind of process.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{DelegationId, UserId};
use crate::db::models::Delegation;
use crate::db::schema::{delegations as d, users};
use crate::db::stamp::At;
use crate::domain::ProcessKind;
use crate::store::users::{Person, people_by_id};

/// The validated fields of a delegation form.
#[derive(Debug, Clone)]
pub struct DelegationInput {
    pub from: UserId,
    pub to: UserId,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub kind: Option<ProcessKind>,
    pub note: String,
}

/// A delegation with both people, for lists.
#[derive(Debug, Clone)]
pub struct DelegationRow {
    pub delegation: Delegation,
    pub from: Person,
    pub to: Person,
}

impl DelegationRow {
    /// Whether the window includes `at`.
    pub fn is_current(&self, at: NaiveDateTime) -> bool {
        self.delegation.starts_at <= at && at < self.delegation.ends_at
    }

    /// Whether the window is yet to begin at `at`.
    pub fn is_scheduled(&self, at: NaiveDateTime) -> bool {
        at < self.delegation.starts_at
    }
}

/// Delegations by or to `user` (all of them when `None`), newest window first.
pub fn list(conn: &mut DbConn, user: Option<UserId>) -> StoreResult<Vec<DelegationRow>> {
    let mut q = d::table
        .select(Delegation::as_select())
        .order(d::starts_at.desc())
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(d::from_user_id.eq(u).or(d::to_user_id.eq(u)));
    }
    let rows: Vec<Delegation> = q.limit(1000).load(conn)?;
    with_people(conn, rows)
}

/// Attaches both people to each delegation, reading only those people.
fn with_people(conn: &mut DbConn, rows: Vec<Delegation>) -> StoreResult<Vec<DelegationRow>> {
    let ids: Vec<UserId> = rows
        .iter()
        .flat_map(|d| [d.from_user_id, d.to_user_id])
        .collect();
    let people = people_by_id(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|delegation| DelegationRow {
            from: people
                .get(&delegation.from_user_id)
                .cloned()
                .unwrap_or_default(),
            to: people
                .get(&delegation.to_user_id)
                .cloned()
                .unwrap_or_default(),
            delegation,
        })
        .collect())
}

/// One delegation with both people.
pub fn row(conn: &mut DbConn, id: DelegationId) -> StoreResult<DelegationRow> {
    let delegation = find(conn, id)?;
    with_people(conn, vec![delegation])?
        .pop()
        .ok_or(StoreError::NotFound)
}

pub fn find(conn: &mut DbConn, id: DelegationId) -> StoreResult<Delegation> {
    Ok(d::table
        .find(id)
        .select(Delegation::as_select())
        .first(conn)?)
}

fn check(
    conn: &mut DbConn,
    input: &DelegationInput,
    except: Option<DelegationId>,
) -> StoreResult<()> {
    for (field, id) in [("from_user", input.from), ("to_user", input.to)] {
        let active: i64 = users::table
            .find(id)
            .filter(users::active.eq(true))
            .count()
            .get_result(conn)?;
        if active == 0 {
            return Err(StoreError::rule(field, "errors.unknown_user"));
        }
    }
    if input.from == input.to {
        return Err(StoreError::rule("to_user", "errors.delegate_self"));
    }
    if input.ends_at <= input.starts_at {
        return Err(StoreError::rule("ends_at", "errors.window_order"));
    }
    // Two windows of the same person that overlap for the same kind would
    // make "who acts for A now" ambiguous.
    let mut overlapping = d::table
        .filter(d::from_user_id.eq(input.from))
        .filter(d::starts_at.lt(At(input.ends_at)))
        .filter(d::ends_at.gt(At(input.starts_at)))
        .select(Delegation::as_select())
        .into_boxed();
    if let Some(id) = except {
        overlapping = overlapping.filter(d::id.ne(id));
    }
    let clash = overlapping.load(conn)?.into_iter().any(|other| {
        match (other.process_kind.as_deref(), input.kind) {
            (Some(a), Some(b)) => a == b.as_str(),
            _ => true,
        }
    });
    if clash {
        return Err(StoreError::rule("starts_at", "errors.delegation_overlap"));
    }
    Ok(())
}

pub fn create(
    conn: &mut DbConn,
    input: &DelegationInput,
    actor: UserId,
) -> StoreResult<DelegationId> {
    check(conn, input, None)?;
    let id: DelegationId = diesel::insert_into(d::table)
        .values((
            d::from_user_id.eq(input.from),
            d::to_user_id.eq(input.to),
            d::starts_at.eq(At(input.starts_at)),
            d::ends_at.eq(At(input.ends_at)),
            d::process_kind.eq(input.kind.map(ProcessKind::as_str)),
            d::note.eq(&input.note),
            d::created_by.eq(actor),
            d::created_at.eq(At(now())),
        ))
        .returning(d::id)
        .get_result(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "delegation.created", "delegation", id.0).with_detail(
            serde_json::json!({
                "from": input.from.0, "to": input.to.0,
                "starts_at": input.starts_at.to_string(), "ends_at": input.ends_at.to_string(),
                "kind": input.kind.map(ProcessKind::as_str),
            }),
        ),
    )?;
    Ok(id)
}

pub fn update(
    conn: &mut DbConn,
    id: DelegationId,
    input: &DelegationInput,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, id)?;
    check(conn, input, Some(id))?;
    diesel::update(d::table.find(id))
        .set((
            d::from_user_id.eq(input.from),
            d::to_user_id.eq(input.to),
            d::starts_at.eq(At(input.starts_at)),
            d::ends_at.eq(At(input.ends_at)),
            d::process_kind.eq(input.kind.map(ProcessKind::as_str)),
            d::note.eq(&input.note),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "delegation.updated", "delegation", id.0),
    )
}

/// Deletes a delegation. `only_from` limits it to the delegating person's own.
pub fn delete(
    conn: &mut DbConn,
    id: DelegationId,
    only_from: Option<UserId>,
    actor: UserId,
) -> StoreResult<()> {
    let existing = find(conn, id)?;
    if only_from.is_some_and(|u| u != existing.from_user_id) {
        return Err(StoreError::NotFound);
    }
    diesel::delete(d::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "delegation.deleted", "delegation", id.0),
    )
}

/// The query for whoever acts for `from` at `at` for a process of `kind`
/// (the latest-started delegation in effect): the stand-in's id. Also read
/// as a subselect where a notice reads its people. It may name someone
/// since deactivated: `acting_for` and the notice leave them out.
#[diesel::dsl::auto_type(no_type_alias)]
pub fn stand_in(from: UserId, at: At, kind: &'static str) -> _ {
    let covers: covering = covering(at, kind);
    d::table
        .filter(d::from_user_id.eq(from))
        .filter(covers)
        .order(d::starts_at.desc())
        .select(d::to_user_id)
}

/// Whether a delegation is in effect at `at` for a process of `kind`.
#[diesel::dsl::auto_type]
pub fn covering(at: At, kind: &'static str) -> _ {
    d::starts_at
        .le(at)
        .and(d::ends_at.gt(at))
        .and(d::process_kind.is_null().or(d::process_kind.eq(kind)))
}

/// Ends the delegations by and to `user` (who is being deactivated): one
/// in effect ends now, one not yet begun is removed.
pub fn end_for(conn: &mut DbConn, user: UserId, actor: Option<UserId>) -> StoreResult<()> {
    let at = now();
    let theirs = || d::from_user_id.eq(user).or(d::to_user_id.eq(user));
    let affected: Vec<DelegationId> = d::table
        .filter(theirs())
        .filter(d::ends_at.gt(At(at)))
        .select(d::id)
        .load(conn)?;
    if affected.is_empty() {
        return Ok(());
    }
    diesel::delete(d::table.filter(theirs()).filter(d::starts_at.gt(At(at)))).execute(conn)?;
    diesel::update(d::table.filter(theirs()).filter(d::ends_at.gt(At(at))))
        .set(d::ends_at.eq(At(at)))
        .execute(conn)?;
    for id in affected {
        audit::record(
            conn,
            Audit::by(actor, "delegation.ended", "delegation", id.0)
                .with_detail(serde_json::json!({ "deactivated": user.0 })),
        )?;
    }
    Ok(())
}

/// Who acts for `from` at `at` for a process of `kind`, if anyone. An
/// inactive person is never a stand-in, whatever delegations name them.
pub fn acting_for(
    conn: &mut DbConn,
    from: UserId,
    at: NaiveDateTime,
    kind: ProcessKind,
) -> StoreResult<Option<UserId>> {
    let Some(to) = crate::direct!(conn, |c| stand_in(from, At(at), kind.as_str())
        .first::<UserId>(c))
    .optional()?
    else {
        return Ok(None);
    };
    let active: bool = crate::direct!(conn, |c| users::table
        .find(to)
        .select(users::active)
        .first(c))?;
    Ok(active.then_some(to))
}
