//! Who the dashboards name: the approvers in the response-time tables,
//! with their roles, and the steps that have waited longest for someone.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Scope, Viewer};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, BusinessId, ServiceId, UserId};
use crate::db::one_of::{is, one_of};
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, role_assignments as ra, roles, users,
};
use crate::db::states::{ActiveStep, AssignmentStatus, TicketStatus};
use crate::store::StoreResult;

/// Reads ids in chunks small enough for any backend's bound parameters.
const CHUNK: usize = 5_000;

/// A person's name and the roles they hold (English, Chinese), for the
/// approvers' table: roles within the businesses `viewer` sees, or held
/// everywhere.
#[derive(Debug, Clone)]
pub struct Approver {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<(String, String)>,
}

/// The people `ids` name, with their roles.
pub fn approvers(conn: &mut DbConn, viewer: &Viewer, ids: &[UserId]) -> StoreResult<Vec<Approver>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let people: Vec<(UserId, String, String)> = crate::direct!(conn, |c| users::table
            .filter(one_of(users::id, chunk.iter().copied()))
            .select((users::id, users::username, users::display_name))
            .load(c))?;
        let held: Vec<(UserId, Option<BusinessId>, String, String)> =
            crate::direct!(conn, |c| ra::table
                .inner_join(roles::table)
                .filter(one_of(ra::user_id, chunk.iter().copied()))
                .select((ra::user_id, ra::business_id, roles::name_en, roles::name_zh))
                .load(c))?;
        for (id, username, display_name) in people {
            let mut roles: Vec<(String, String)> = held
                .iter()
                .filter(|(u, b, ..)| *u == id && b.is_none_or(|b| viewer.may_see(b)))
                .map(|(_, _, en, zh)| (en.clone(), zh.clone()))
                .collect();
            roles.sort();
            roles.dedup();
            out.push(Approver {
                id,
                username,
                display_name,
                roles,
            });
        }
    }
    Ok(out)
}

/// A step waiting now for someone.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub node_en: String,
    pub node_zh: String,
    pub username: String,
    pub display_name: String,
    pub since: Option<NaiveDateTime>,
}

/// Active steps read at a time, oldest first.
const PAGE: i64 = 200;

/// The `limit` steps that have waited longest for someone, of running
/// tickets `viewer` may read and `filter` keeps, oldest first (each
/// person a step waits for on a line of their own). Walks the active
/// steps from the oldest, a page at a time, until `limit` are found: a
/// reader of one business may need a few pages, nobody needs every
/// running ticket read and sorted.
pub fn oldest_waiting(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: &super::Filter,
    limit: i64,
) -> StoreResult<Vec<Waiting>> {
    let scope = Scope::of(conn, viewer, filter)?;
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut out = Vec::new();
    if scope.businesses.as_ref().is_some_and(Vec::is_empty) {
        return Ok(out);
    }
    let mut offset = 0;
    while out.len() < limit {
        let steps: Vec<(ApproveId, ApplyId, String, String, Option<NaiveDateTime>)> = n::table
            .filter(is::<ActiveStep, _>(n::status))
            .order((n::started_at.asc(), n::id.asc()))
            .limit(PAGE)
            .offset(offset)
            .select((n::id, n::apply_id, n::name_en, n::name_zh, n::started_at))
            .load(conn)?;
        offset += PAGE;
        if steps.is_empty() {
            break;
        }
        let tickets: Vec<(
            ApplyId,
            String,
            String,
            TicketStatus,
            Option<BusinessId>,
            ServiceId,
        )> = crate::direct!(conn, |c| a::table
            .filter(one_of(a::id, steps.iter().map(|s| s.1)))
            .select((
                a::id,
                a::serial,
                a::title,
                a::status,
                a::business_id,
                a::service_id
            ))
            .load(c))?;
        let people: Vec<(ApproveId, i32, String, String)> = crate::direct!(conn, |c| au::table
            .inner_join(users::table.on(users::id.eq(au::user_id)))
            .filter(one_of(au::approve_id, steps.iter().map(|s| s.0)))
            .filter(au::status.eq(AssignmentStatus::Pending))
            .select((au::approve_id, au::id, users::username, users::display_name))
            .load(c))?;
        let shown: HashMap<ApplyId, (&String, &String)> = tickets
            .iter()
            .filter(|t| t.3 == TicketStatus::Running && scope.keeps(t.4.map_or(0, |b| b.0), t.5.0))
            .map(|t| (t.0, (&t.1, &t.2)))
            .collect();
        let mut found: Vec<(Option<NaiveDateTime>, i32, Waiting)> = Vec::new();
        for (step, apply, node_en, node_zh, since) in &steps {
            let Some((serial, title)) = shown.get(apply) else {
                continue;
            };
            for (_, id, username, display_name) in people.iter().filter(|p| p.0 == *step) {
                found.push((
                    *since,
                    *id,
                    Waiting {
                        apply: *apply,
                        serial: (*serial).clone(),
                        title: (*title).clone(),
                        node_en: node_en.clone(),
                        node_zh: node_zh.clone(),
                        username: username.clone(),
                        display_name: display_name.clone(),
                        since: *since,
                    },
                ));
            }
        }
        found.sort_by_key(|(since, id, _)| (*since, *id));
        out.extend(found.into_iter().map(|(.., w)| w).take(limit - out.len()));
    }
    Ok(out)
}
