//! What a person's home page lists besides their inbox: the tickets they
//! filed that are still going, the roles they hold, and their delegations
//! in effect or still to come — on PostgreSQL read in one statement.

use diesel::prelude::*;

use super::assignments::{self, AssignmentRow, RowTuple};
use super::delegations::DelegationRow;
use super::users::Person;
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::{Apply, Delegation};
use crate::db::prepared::apart;
use crate::db::schema::{applies as a, delegations as d, role_assignments as ra};
use crate::db::schema::{roles, users};
use crate::db::stamp::At;
use crate::db::states::TicketStatus;

diesel::alias!(users as givers: Givers, users as takers: Takers);

/// The lists of a person's home page.
#[derive(Debug, Clone, Default)]
pub struct HomeLists {
    /// Tickets filed and still going (running or sent back), newest
    /// first, at most the page's limit.
    pub open: Vec<Apply>,
    pub roles: Vec<AssignmentRow>,
    /// Delegations from or to the person not yet over, latest start first.
    pub delegations: Vec<DelegationRow>,
}

/// A delegation with the person who gives it and the one who takes it.
type DelegationTuple = (Delegation, (String, String), (String, String));

/// The home page's lists for `me`, at most `limit` open tickets.
pub fn lists(conn: &mut DbConn, me: UserId, limit: i64) -> StoreResult<HomeLists> {
    let at = At(now());
    let open = a::table
        .filter(a::applicant_id.eq(me))
        .filter(a::status.eq_any([TicketStatus::Running, TicketStatus::SentBack]))
        .order(a::id.desc())
        .limit(limit)
        .select(crate::db::models::APPLY_COLUMNS);
    let roles = assignments::rows()
        .filter(ra::user_id.eq(me))
        .order((roles::id, ra::id));
    let delegations = d::table
        .inner_join(givers.on(givers.field(users::id).eq(d::from_user_id)))
        .inner_join(takers.on(takers.field(users::id).eq(d::to_user_id)))
        .filter(d::from_user_id.eq(me).or(d::to_user_id.eq(me)))
        .filter(d::ends_at.gt(at))
        .order((d::starts_at.desc(), d::id))
        .limit(1000)
        .select((
            d::all_columns,
            givers.fields((users::username, users::display_name)),
            takers.fields((users::username, users::display_name)),
        ));
    let mut out = HomeLists::default();
    let mut given = Vec::new();
    match conn {
        DbConn::Pg(pg) => {
            type Row = (
                Option<(Option<Apply>, Option<RowTuple>)>,
                Option<DelegationTuple>,
            );
            let rows: Vec<Row> = apart(apart(open, roles), delegations).load(pg)?;
            for (first, delegation) in rows {
                let (ticket, role) = first.unwrap_or_default();
                out.open.extend(ticket);
                out.roles.extend(role.map(assignments::row_of));
                given.extend(delegation);
            }
            // The orders each list was read in, which the join does not keep.
            out.open.sort_by_key(|t| std::cmp::Reverse(t.id));
            out.roles.sort_by_key(|r| (r.role_id, r.id));
            given.sort_by_key(|(d, _, _)| (std::cmp::Reverse(d.starts_at), d.id));
        }
        DbConn::Sqlite(sqlite) => {
            out.open = open.load(sqlite)?;
            out.roles = roles
                .load::<RowTuple>(sqlite)?
                .into_iter()
                .map(assignments::row_of)
                .collect();
            given = delegations.load(sqlite)?;
        }
    }
    let person = |(username, display_name)| Person {
        username,
        display_name,
    };
    out.delegations = given
        .into_iter()
        .map(|(delegation, from, to)| DelegationRow {
            delegation,
            from: person(from),
            to: person(to),
        })
        .collect();
    Ok(out)
}
