//! Copying a ticket to people (抄送): by the process, when a step or the
//! whole ticket ends, or by hand — its applicant or one of its people
//! copying someone with a note. The copied may read the ticket and
//! decide nothing; each is told by mail and finds it, unread, under
//! "Copied to me". One row per ticket and person: being told again
//! makes it unread again, and the timeline keeps every time.

use diesel::prelude::*;

use super::super::audit::{self, Channel};
use super::super::directory::DbDirectory;
use super::super::{StoreResult, now};
use super::door::Done;
use super::{acted, notices, rules, ticket_event};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, UserId};
use crate::db::models::Apply;
use crate::db::schema::{applies as a, approve_users as au, copies as cc, users};
use crate::db::stamp::At;
use crate::db::states::TicketEvent;
use crate::flow::plan::{self, PlanInput};
use crate::flow::{HandlerRule, ProcessDef};
use crate::refusal::Refusal;

/// How many people one hand-made copy may name.
pub const MAX_BY_HAND: usize = 20;

/// Copies the ticket to whom `rules` find (a step's when `node` is
/// given, else the process's), as countersign. Nothing is read when
/// there are no rules.
pub(super) fn by_rules(
    conn: &mut DbConn,
    ticket: &Apply,
    def: &ProcessDef,
    rules: &[HandlerRule],
    node: Option<&str>,
) -> StoreResult<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let (applicant, business) = super::applicant_and_business(conn, ticket)?;
    // The form as it is now: later steps may have added to it.
    let form: crate::db::states::StoredForm =
        a::table.find(ticket.id).select(a::form).first(conn)?;
    let dir = DbDirectory::new(conn, now());
    let input = PlanInput {
        def,
        applicant: &applicant,
        business: business.as_deref(),
        values: &form.0,
    };
    let names = plan::copied_to(&input, rules, &dir);
    let ids = dir.finish()?;
    let people: Vec<(UserId, String)> = names
        .into_iter()
        .filter_map(|n| ids.get(&n).map(|id| (*id, n)))
        .collect();
    tell(conn, ticket, &people, None, node, "")
}

/// `actor` copies the ticket to the people named (usernames) with a
/// note. Its applicant, anyone who is or was one of its people, someone
/// standing in for one of them, or an administrator may; whoever is
/// copied must be active, and is neither the actor nor the applicant.
pub(super) fn by_hand(
    conn: &mut DbConn,
    apply: ApplyId,
    actor: UserId,
    channel: Channel,
    to: &[String],
    note: &str,
) -> StoreResult<Done> {
    let note = rules::note(note)?;
    let ticket = super::applicant::visible(conn, apply, actor)?;
    let admin = super::super::users::is_admin(conn, actor)?;
    if ticket.applicant_id != actor && !admin {
        let involved: i64 = au::table
            .filter(au::apply_id.eq(apply))
            .filter(au::user_id.eq(actor).or(au::acted_by.eq(actor)))
            .count()
            .get_result(conn)?;
        if involved == 0 && !super::super::ticket_views::stands_in_on(conn, &ticket, actor)? {
            return Err(Refusal::NotInvolved.into());
        }
    }
    let mut names: Vec<String> = to
        .iter()
        .flat_map(|t| t.split([',', '，', ';', ' ', '\n']))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(Refusal::CopyToNobody.into());
    }
    if names.len() > MAX_BY_HAND {
        return Err(Refusal::TooLong("to").into());
    }
    let found: Vec<(UserId, String)> = users::table
        .filter(users::username.eq_any(&names))
        .filter(users::active.eq(true))
        .select((users::id, users::username))
        .load(conn)?;
    let mut people = Vec::with_capacity(names.len());
    for name in &names {
        let Some((id, name)) = found.iter().find(|(_, n)| n == name) else {
            return Err(Refusal::UnknownPerson(name.clone()).into());
        };
        if *id == actor || *id == ticket.applicant_id {
            return Err(Refusal::CopyToSelf.into());
        }
        if !people.iter().any(|(p, _)| p == id) {
            people.push((*id, name.clone()));
        }
    }
    tell(conn, &ticket, &people, Some((actor, channel)), None, note)?;
    Ok(Done::Copied)
}

/// Marks `people` copied on the ticket (unread again if they were
/// before), records it on the timeline and mails each.
fn tell(
    conn: &mut DbConn,
    ticket: &Apply,
    people: &[(UserId, String)],
    by: Option<(UserId, Channel)>,
    node: Option<&str>,
    note: &str,
) -> StoreResult<()> {
    if people.is_empty() {
        return Ok(());
    }
    let at = At(now());
    let by_whom = by.map(|(actor, _)| actor);
    for (person, _) in people {
        let row = (
            cc::apply_id.eq(ticket.id),
            cc::user_id.eq(*person),
            cc::added_by.eq(by_whom),
            cc::node_key.eq(node),
            cc::note.eq(note),
            cc::told_at.eq(at),
            cc::read_at.eq(None::<At>),
        );
        let again = (
            cc::added_by.eq(by_whom),
            cc::node_key.eq(node),
            cc::note.eq(note),
            cc::told_at.eq(at),
            cc::read_at.eq(None::<At>),
        );
        crate::direct!(conn, |c| diesel::insert_into(cc::table)
            .values(row)
            .on_conflict((cc::apply_id, cc::user_id))
            .do_update()
            .set(again)
            .execute(c))?;
    }
    if !ticket.copied {
        crate::direct!(conn, |c| diesel::update(a::table.find(ticket.id))
            .set(a::copied.eq(true))
            .execute(c))?;
    }
    let names: Vec<&str> = people.iter().map(|(_, n)| n.as_str()).collect();
    let mut detail = serde_json::json!({ "to": names.join(", ") });
    if let Some(node) = node {
        detail["node"] = node.into();
    }
    if !note.is_empty() {
        detail["comment"] = note.into();
    }
    let event = match by {
        Some((actor, channel)) => acted(
            (actor, actor, channel),
            TicketEvent::Copied,
            ticket.id,
            detail,
        ),
        None => ticket_event(None, TicketEvent::Copied, ticket.id, detail),
    };
    audit::record(conn, event)?;
    for (person, _) in people {
        notices::copied(conn, ticket, node, note, *person)?;
    }
    Ok(())
}

/// The copied person `me` has read ticket `apply` now (nothing when
/// they were not copied, or read it already).
pub fn read(conn: &mut DbConn, apply: ApplyId, me: UserId) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::update(
        cc::table
            .filter(cc::apply_id.eq(apply))
            .filter(cc::user_id.eq(me))
            .filter(cc::read_at.is_null()),
    )
    .set(cc::read_at.eq(At(now())))
    .execute(c))?;
    Ok(())
}

/// A ticket copied to someone, in their "Copied to me" list.
#[derive(Debug, Clone)]
pub struct CopyRow {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub status: crate::db::states::TicketStatus,
    pub applicant: String,
    /// Who copied it by hand, last (none: the process did).
    pub by: Option<String>,
    pub note: String,
    pub told_at: chrono::NaiveDateTime,
    pub read: bool,
}

/// The tickets copied to `me`, newest first, at most `limit`; and how
/// many of all of them are unread.
pub fn copied_to(conn: &mut DbConn, me: UserId, limit: i64) -> StoreResult<(Vec<CopyRow>, i64)> {
    diesel::alias!(users as applicants: Applicants, users as copiers: Copiers);
    type Row = (
        ApplyId,
        String,
        String,
        crate::db::states::TicketStatus,
        String,
        Option<String>,
        String,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    );
    let rows: Vec<Row> = crate::direct!(conn, |c| cc::table
        .inner_join(a::table)
        .inner_join(applicants.on(applicants.field(users::id).eq(a::applicant_id)))
        .left_join(copiers.on(copiers.field(users::id).nullable().eq(cc::added_by)))
        .filter(cc::user_id.eq(me))
        .order((cc::told_at.desc(), cc::id.desc()))
        .limit(limit)
        .select((
            a::id,
            a::serial,
            a::title,
            a::status,
            applicants.field(users::display_name),
            copiers.field(users::display_name).nullable(),
            cc::note,
            cc::told_at,
            cc::read_at,
        ))
        .load(c))?;
    let unread: i64 = crate::direct!(conn, |c| cc::table
        .filter(cc::user_id.eq(me))
        .filter(cc::read_at.is_null())
        .count()
        .get_result(c))?;
    let rows = rows
        .into_iter()
        .map(
            |(apply, serial, title, status, applicant, by, note, told, read)| CopyRow {
                apply,
                serial,
                title,
                status,
                applicant,
                by,
                note,
                told_at: told,
                read: read.is_some(),
            },
        )
        .collect();
    Ok((rows, unread))
}
