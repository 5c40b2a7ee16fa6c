//! What ticket pages read: the inbox (mine and theirs I stand in for), my
//! tickets, and one ticket with its nodes, people and timeline. Queries go
//! through indexes on the asking person, not through all tickets.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::users::{
    Person, SessionFacts, SessionKey, SessionUser, people_by_id, session_select, session_user_of,
};
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, BusinessId, ServiceId, UserId, VersionId};
use crate::db::models::{Apply, Approve, ApproveUser, AuditEvent};
use crate::db::prepared::beside_each;
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, audit_events as ev, businesses as b,
    delegations as d, services as sv, users,
};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, Decided, TicketStatus};
use crate::store::names::Names;
use crate::store::request::Request;

/// One pending assignment in someone's inbox.
#[derive(Debug, Clone)]
pub struct InboxRow {
    pub assignment: ApproveUserId,
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub kind: String,
    pub node_en: String,
    pub node_zh: String,
    pub node_kind: String,
    pub applicant: Person,
    /// Set when the assignment is someone else's and I stand in for them.
    pub for_person: Option<Person>,
    pub since: Option<NaiveDateTime>,
    /// The step's deadline, and when it was found overdue.
    pub due: Option<NaiveDateTime>,
    pub overdue: Option<NaiveDateTime>,
    /// What is being decided (service, business, the fields the step may
    /// read), filled in by `with_requests`.
    pub request: Option<Request>,
    /// As read, for `with_requests`: the version, the form and the node.
    version: VersionId,
    /// The steps the ticket gained on filing (stored JSON), if any.
    extra_nodes: Option<String>,
    form: String,
    node_key: String,
    service: (String, String),
    business: Option<String>,
}

impl InboxRow {
    /// Whole days the step has waited at `now`: 0 on its first day.
    pub fn days_waiting(&self, now: NaiveDateTime) -> Option<i64> {
        self.since.map(|s| (now - s).num_days().max(0))
    }

    /// Whether two rows, as read (before `with_requests`), are of the
    /// same service and business.
    pub fn same_place(&self, other: &InboxRow) -> bool {
        self.service == other.service && self.business == other.business
    }
}

/// The people who delegate to `me` now, with the kind each delegation is limited to.
fn delegators(conn: &mut DbConn, me: UserId) -> StoreResult<Vec<(UserId, Option<String>)>> {
    let at = now();
    Ok(crate::direct!(conn, |c| d::table
        .filter(d::to_user_id.eq(me))
        .filter(d::starts_at.le(At(at)))
        .filter(d::ends_at.gt(At(at)))
        .select((d::from_user_id, d::process_kind))
        .load(c))?)
}

diesel::alias!(
    users as applicants: Applicants,
    users as assignees: Assignees,
    users as actors: Actors,
    users as behalf: Behalf
);

/// An inbox row as read: assignment, assignee, ticket, node, the
/// applicant's and assignee's usernames and names, and the request (the
/// ticket's version and form, the node's key, the service's names and
/// the business).
type InboxTuple = (
    (ApproveUserId, UserId, Option<NaiveDateTime>),
    (Option<NaiveDateTime>, Option<NaiveDateTime>, Option<String>),
    (ApplyId, String, String, String),
    (String, String, String),
    (String, String),
    (String, String),
    (VersionId, String, String, String, String, Option<String>),
);

/// What an inbox is narrowed to: one service, one business, only the
/// items of people I stand in for. The default narrows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub service: Option<ServiceId>,
    pub business: Option<BusinessId>,
    /// Only what waits for someone I stand in for, not for me.
    pub others_only: bool,
    /// Soonest deadline first (those without one last), one long page.
    pub by_due: bool,
}

impl InboxFilter {
    pub fn is_empty(&self) -> bool {
        *self == InboxFilter::default()
    }
}

/// The services and businesses an inbox can be narrowed to: all of
/// them (a scan of what waits would cost more than the page).
#[derive(Debug, Clone, Default)]
pub struct InboxChoices {
    pub services: std::sync::Arc<super::services::ServiceNames>,
    pub businesses: std::sync::Arc<Vec<(BusinessId, String)>>,
}

impl InboxChoices {
    pub fn read(conn: &mut DbConn) -> StoreResult<InboxChoices> {
        Ok(InboxChoices {
            services: super::services::names(conn)?,
            businesses: super::businesses::names(conn)?,
        })
    }
}

/// One page of an inbox, and where the next (older) page starts.
#[derive(Debug, Clone, Default)]
pub struct InboxPage {
    pub rows: Vec<InboxRow>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub older: Option<ApproveUserId>,
}

/// The pending assignments `whose` (a filter on `au::user_id`) picks,
/// older than `before`, newest first, at most `limit` and one more (to
/// tell whether there is an older page), joined to their ticket, node,
/// applicant and assignee (`InboxTuple`s). One person's (`eq`) go through
/// the index on (user, status, id), which hands over exactly the page.
/// The first page is the one before the largest id (`i32::MAX`, the
/// column's limit), so both are one statement, prepared once and found
/// in the cache by type. A macro, as the query's type is too long to name.
macro_rules! inbox_query {
    ($whose:expr, $before:expr, $limit:expr) => {{
        let (before, limit): (Option<ApproveUserId>, i64) = ($before, $limit);
        au::table
            .inner_join(a::table)
            .inner_join(n::table)
            .inner_join(applicants.on(applicants.field(users::id).eq(a::applicant_id)))
            .inner_join(assignees.on(assignees.field(users::id).eq(au::user_id)))
            .inner_join(sv::table.on(sv::id.eq(a::service_id)))
            .left_join(b::table.on(b::id.nullable().eq(a::business_id)))
            .filter(au::status.eq(AssignmentStatus::Pending))
            .filter($whose)
            .filter(au::id.lt(before.unwrap_or(ApproveUserId(i32::MAX))))
            .order(au::id.desc())
            .limit(limit + 1)
            .select((
                (au::id, au::user_id, n::started_at),
                (n::due_at, n::overdue_at, a::extra_nodes),
                (a::id, a::serial, a::title, a::kind),
                (n::name_en, n::name_zh, n::kind),
                applicants.fields((users::username, users::display_name)),
                assignees.fields((users::username, users::display_name)),
                (
                    a::version_id,
                    a::form,
                    n::node_key,
                    sv::name_en,
                    sv::name_zh,
                    b::name.nullable(),
                ),
            ))
    }};
}

/// Pending assignments for `me` and, when `stands_in` (the session read
/// says whether anyone delegates to me now), for those I stand in for,
/// newest first, at most `limit` of them older than `before`. With no
/// one to stand in for, the index on (user, status, id) hands over
/// exactly the page, so its cost does not grow with the inbox, let alone
/// the tickets; the page and its people are one statement (on
/// PostgreSQL, one round trip).
pub fn inbox(
    conn: &mut DbConn,
    me: UserId,
    stands_in: bool,
    filter: &InboxFilter,
    before: Option<ApproveUserId>,
    limit: i64,
) -> StoreResult<InboxPage> {
    let stand_in = if stands_in {
        delegators(conn, me)?
    } else {
        Vec::new()
    };
    let mut whom: Vec<UserId> = stand_in.iter().map(|(u, _)| *u).collect();
    whom.push(me);
    let rows: Vec<InboxTuple> = if filter.is_empty() {
        crate::direct!(conn, |c| match whom.as_slice() {
            [only] => inbox_query!(au::user_id.eq(*only), before, limit).load(c),
            all => inbox_query!(au::user_id.eq_any(all.to_vec()), before, limit).load(c),
        })?
    } else {
        // Narrowed, the rarer page: the same statement, boxed to take
        // the filters it is given.
        crate::direct!(conn, |c| {
            let mut q = inbox_query!(au::user_id.eq_any(whom.clone()), before, limit).into_boxed();
            if let Some(service) = filter.service {
                q = q.filter(a::service_id.eq(service));
            }
            if let Some(business) = filter.business {
                q = q.filter(a::business_id.eq(business));
            }
            if filter.others_only {
                q = q.filter(au::user_id.ne(me));
            }
            if filter.by_due {
                q = q
                    .order((n::due_at.is_null(), n::due_at, au::id))
                    .limit(BY_DUE_ROWS);
            }
            q.load(c)
        })?
    };
    // Someone else's approvals on a ticket I filed, which I may not decide
    // for them, are not mine to do (`tickets::applicant_for_other`).
    let mut barred = Vec::new();
    for ((assignment, user, _), ..) in &rows {
        if *user != me && super::tickets::would_approve_own(conn, *assignment, me)? {
            barred.push(*assignment);
        }
    }
    let mut page = if filter.by_due {
        page_of(rows, me, &stand_in, BY_DUE_ROWS)
    } else {
        page_of(rows, me, &stand_in, limit)
    };
    page.rows.retain(|row| !barred.contains(&row.assignment));
    Ok(page)
}

/// How many items an inbox sorted by deadline lists (on one page).
pub const BY_DUE_ROWS: i64 = 200;

/// Who is signed in (`users::session_user`) and their inbox page. On
/// PostgreSQL one statement: one round trip instead of two, an eighth
/// more pages a second. The page is asked for as if they stood in for no one,
/// as nearly everyone does at any time; when the session row says they
/// do, it is read again with the people they stand in for. SQLite, which
/// has no round trips to save, runs the two statements: joined, they
/// cost it a tenth more. `None` for someone gone or deactivated.
pub fn session_and_inbox(
    conn: &mut DbConn,
    key: SessionKey,
    before: Option<ApproveUserId>,
    limit: i64,
) -> StoreResult<Option<(SessionUser, InboxPage)>> {
    let me = key.user;
    let DbConn::Pg(pg) = conn else {
        let Some(user) = super::users::session_user(conn, key)? else {
            return Ok(None);
        };
        let page = inbox(
            conn,
            me,
            user.stands_in,
            &InboxFilter::default(),
            before,
            limit,
        )?;
        return Ok(Some((user, page)));
    };
    let at = At(now());
    let rows: Vec<(SessionFacts, Option<InboxTuple>)> = beside_each(
        session_select!(key, at),
        inbox_query!(au::user_id.eq(me), before, limit),
    )
    .load(pg)?;
    let Some((facts, _)) = rows.first() else {
        return Ok(None);
    };
    let user = session_user_of(conn, facts.clone())?;
    if user.stands_in {
        let page = inbox(conn, me, true, &InboxFilter::default(), before, limit)?;
        return Ok(Some((user, page)));
    }
    let mut rows: Vec<InboxTuple> = rows.into_iter().filter_map(|(_, row)| row).collect();
    rows.sort_unstable_by_key(|row| std::cmp::Reverse(row.0.0));
    Ok(Some((user, page_of(rows, me, &[], limit))))
}

/// The inbox page `rows` (as many as `limit` and one more, to tell
/// whether there is an older page) make for `me`, standing in for
/// `stand_in` (people, and the kind each delegation is limited to).
fn page_of(
    mut rows: Vec<InboxTuple>,
    me: UserId,
    stand_in: &[(UserId, Option<String>)],
    limit: i64,
) -> InboxPage {
    let older = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.0.0)
    } else {
        None
    };
    let person = |(username, display_name)| Person {
        username,
        display_name,
    };
    // A delegation limited to one kind covers only tickets of that kind.
    let rows = rows
        .into_iter()
        .filter(|((_, user, _), _, (_, _, _, kind), ..)| {
            *user == me
                || stand_in
                    .iter()
                    .any(|(from, only)| from == user && only.as_deref().is_none_or(|k| k == kind))
        })
        .map(
            |(
                (assignment, user, since),
                (due, overdue, extra_nodes),
                (apply, serial, title, kind),
                node,
                applicant,
                assignee,
                (version, form, node_key, service_en, service_zh, business),
            )| {
                InboxRow {
                    assignment,
                    for_person: (user != me).then(|| person(assignee)),
                    apply,
                    serial,
                    title,
                    kind,
                    applicant: person(applicant),
                    node_en: node.0,
                    node_zh: node.1,
                    node_kind: node.2,
                    since,
                    due,
                    overdue,
                    request: None,
                    version,
                    extra_nodes,
                    form,
                    node_key,
                    service: (service_en, service_zh),
                    business,
                }
            },
        )
        .collect();
    InboxPage { rows, older }
}

/// Fills in each row's request (what is being decided), reading the
/// processes' definitions (cached) and, in one go for the page, the
/// resources and people the forms name.
pub fn with_requests(conn: &mut DbConn, mut page: InboxPage) -> StoreResult<InboxPage> {
    let mut parsed = Vec::with_capacity(page.rows.len());
    for row in &page.rows {
        let def = super::tickets::def_with(conn, row.version, row.extra_nodes.as_deref())?;
        // A form that does not parse is an error, never an empty request.
        let values: crate::flow::form::Values =
            serde_json::from_str(&row.form).map_err(|e| super::StoreError::Unexpected(e.into()))?;
        parsed.push((def, values));
    }
    let forms: Vec<(&crate::flow::ProcessDef, &crate::flow::form::Values)> =
        parsed.iter().map(|(d, v)| (d.as_ref(), v)).collect();
    let names = std::sync::Arc::new(Names::for_forms(conn, &forms)?);
    for (row, (def, values)) in page.rows.iter_mut().zip(parsed) {
        row.request = Some(Request::from_parts(
            def,
            std::mem::take(&mut row.node_key),
            values,
            names.clone(),
            std::mem::take(&mut row.service),
            row.business.take(),
        ));
    }
    Ok(page)
}

/// How many assignments of the people I stand in for now wait, counted
/// up to `INBOX_COUNT_CAP` like the rest of the menu count: not those on
/// tickets I filed that I may not decide for them (as the inbox).
pub fn inbox_count_for_others(conn: &mut DbConn, me: UserId) -> StoreResult<i64> {
    let mut total = 0;
    for (from, kind) in delegators(conn, me)? {
        let waiting = || {
            let mut q = au::table
                .inner_join(a::table)
                .filter(au::user_id.eq(from))
                .filter(au::status.eq(AssignmentStatus::Pending))
                .into_boxed();
            if let Some(kind) = &kind {
                q = q.filter(a::kind.eq(kind.clone()));
            }
            q
        };
        let others: i64 = crate::db::prepared::count_of(
            waiting()
                .filter(a::applicant_id.ne(me))
                .select(au::id)
                .limit(super::users::INBOX_COUNT_CAP - total),
        )
        .get_result(conn)?;
        total += others;
        let on_mine: Vec<ApproveUserId> = waiting()
            .filter(a::applicant_id.eq(me))
            .select(au::id)
            .limit(super::users::INBOX_COUNT_CAP)
            .load(conn)?;
        for assignment in on_mine {
            if !super::tickets::would_approve_own(conn, assignment, me)? {
                total += 1;
            }
        }
        if total >= super::users::INBOX_COUNT_CAP {
            break;
        }
    }
    Ok(total)
}

/// One thing waiting for someone: the ticket and the step.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub node_en: String,
    pub node_zh: String,
}

/// What waits for `whom` of `kind` (any kind when `None`) that `stand_in`
/// could decide for them — not on tickets `stand_in` filed — oldest
/// first, at most `limit`, and how many there are in all.
pub fn waiting_for(
    conn: &mut DbConn,
    whom: UserId,
    kind: Option<&str>,
    stand_in: UserId,
    limit: i64,
) -> StoreResult<(Vec<Waiting>, i64)> {
    let pending = || {
        let mut q = au::table
            .inner_join(a::table)
            .inner_join(n::table)
            .filter(au::user_id.eq(whom))
            .filter(au::status.eq(AssignmentStatus::Pending))
            .filter(a::applicant_id.ne(stand_in))
            .into_boxed();
        if let Some(kind) = kind {
            q = q.filter(a::kind.eq(kind.to_string()));
        }
        q
    };
    let total: i64 = pending().count().get_result(conn)?;
    let rows: Vec<(ApplyId, String, String, String, String)> = pending()
        .order(au::id.asc())
        .limit(limit)
        .select((a::id, a::serial, a::title, n::name_en, n::name_zh))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|(apply, serial, title, node_en, node_zh)| Waiting {
            apply,
            serial,
            title,
            node_en,
            node_zh,
        })
        .collect();
    Ok((items, total))
}

/// The pending assignments of a ticket whose people can no longer act.
pub fn inactive_assignees(conn: &mut DbConn, id: ApplyId) -> StoreResult<Vec<ApproveUserId>> {
    Ok(au::table
        .inner_join(users::table.on(users::id.eq(au::user_id)))
        .filter(au::apply_id.eq(id))
        .filter(au::status.eq(AssignmentStatus::Pending))
        .filter(users::active.eq(false))
        .select(au::id)
        .load(conn)?)
}

/// The serial numbers of the tickets some assignments belong to (for
/// saying which ones a batch could not decide).
pub fn serials_of(
    conn: &mut DbConn,
    assignments: &[ApproveUserId],
) -> StoreResult<HashMap<ApproveUserId, String>> {
    Ok(au::table
        .inner_join(a::table)
        .filter(au::id.eq_any(assignments.to_vec()))
        .select((au::id, a::serial))
        .load::<(ApproveUserId, String)>(conn)?
        .into_iter()
        .collect())
}

/// Tickets `me` filed that are still going (pending or sent back to
/// them), newest first, at most `limit`.
pub fn open_mine(conn: &mut DbConn, me: UserId, limit: i64) -> StoreResult<Vec<Apply>> {
    Ok(a::table
        .filter(a::applicant_id.eq(me))
        .filter(a::status.eq_any([TicketStatus::Running, TicketStatus::SentBack]))
        .order(a::id.desc())
        .limit(limit)
        .select(crate::db::models::APPLY_COLUMNS)
        .load(conn)?)
}

/// Tickets `me` filed, newest first, older than `before` when given.
pub fn mine(
    conn: &mut DbConn,
    me: UserId,
    before: Option<ApplyId>,
    limit: i64,
) -> StoreResult<Vec<Apply>> {
    let mut q = a::table.filter(a::applicant_id.eq(me)).into_boxed();
    if let Some(before) = before {
        q = q.filter(a::id.lt(before));
    }
    Ok(q.order(a::id.desc())
        .limit(limit)
        .select(crate::db::models::APPLY_COLUMNS)
        .load(conn)?)
}

/// A node of a ticket with its people.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub node: Approve,
    pub people: Vec<(ApproveUser, Person, Option<Person>)>,
}

/// One ticket with everything its page shows.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub apply: Apply,
    pub applicant: Person,
    /// The service (English and Chinese) and the business it was filed in.
    pub filed: ((String, String), Option<String>),
    pub nodes: Vec<NodeView>,
    pub events: Vec<(AuditEvent, Option<Person>, Option<Person>)>,
    /// Its window and items on the change calendar, if it is a change.
    pub change: Option<crate::flow::change::ChangeFacts>,
    /// Its monitoring silence, once the Alertmanager sync has looked at it.
    pub silence: Option<super::silences::SilenceRow>,
    /// The people it is copied to (抄送), in the order they were first told.
    pub copies: Vec<Copied>,
}

/// Someone a ticket is copied to, and whether they have read it since
/// they were last told.
#[derive(Debug, Clone)]
pub struct Copied {
    pub user_id: UserId,
    pub person: Person,
    pub told_at: NaiveDateTime,
    pub read: bool,
}

/// The people ticket `id` is copied to.
fn copies_of(conn: &mut DbConn, id: ApplyId) -> StoreResult<Vec<Copied>> {
    use crate::db::schema::copies as cc;
    let rows: Vec<(UserId, String, String, NaiveDateTime, Option<NaiveDateTime>)> =
        crate::direct!(conn, |c| cc::table
            .inner_join(users::table.on(users::id.eq(cc::user_id)))
            .filter(cc::apply_id.eq(id))
            .order(cc::id)
            .select((
                cc::user_id,
                users::username,
                users::display_name,
                cc::told_at,
                cc::read_at
            ))
            .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(user_id, username, display_name, told, read)| Copied {
            user_id,
            person: Person {
                username,
                display_name,
            },
            told_at: told,
            read: read.is_some(),
        })
        .collect())
}

/// A person joined in under an alias, as read: absent when the join found
/// no one (no such column value).
fn person_of(pair: Option<(String, String)>) -> Option<Person> {
    pair.map(|(username, display_name)| Person {
        username,
        display_name,
    })
}

/// A ticket's head: the ticket with its applicant, service (English and
/// Chinese) and business, through its primary key. A macro, as the
/// query's type is too long to name.
macro_rules! ticket_head {
    ($id:expr) => {
        a::table
            .inner_join(applicants.on(applicants.field(users::id).eq(a::applicant_id)))
            .inner_join(sv::table.on(sv::id.eq(a::service_id)))
            .left_join(b::table.on(b::id.nullable().eq(a::business_id)))
            .left_join(
                crate::db::schema::changes::table
                    .on(crate::db::schema::changes::apply_id.eq(a::id)),
            )
            .left_join(
                crate::db::schema::silences::table
                    .on(crate::db::schema::silences::apply_id.eq(a::id)),
            )
            .filter(a::id.eq($id))
            .select((
                // Plain columns (an `Apply` in table order), so the head
                // can sit beside the session read (`beside_each`).
                crate::db::models::APPLY_COLUMNS,
                applicants.fields((users::username, users::display_name)),
                (sv::name_en, sv::name_zh),
                b::name.nullable(),
                (
                    crate::db::schema::changes::starts_at,
                    crate::db::schema::changes::ends_at,
                    crate::db::schema::changes::emergency,
                    crate::db::schema::changes::items,
                )
                    .nullable(),
                (
                    crate::db::schema::silences::silence_id,
                    crate::db::schema::silences::starts_at,
                    crate::db::schema::silences::ends_at,
                    crate::db::schema::silences::matchers,
                    crate::db::schema::silences::synced_version,
                    crate::db::schema::silences::last_error,
                    crate::db::schema::silences::updated_at,
                )
                    .nullable(),
            ))
    };
}

/// A row of `ticket_head!`: the ticket, its applicant, service and
/// business, and its place on the change calendar (window, emergency,
/// items as JSON) if it is a change.
type Head = (
    Apply,
    (String, String),
    (String, String),
    Option<String>,
    Option<(NaiveDateTime, NaiveDateTime, bool, String)>,
    Option<SilenceColumns>,
);

/// A ticket's monitoring silence as `ticket_head!` reads it.
type SilenceColumns = (
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    String,
    i32,
    Option<String>,
    NaiveDateTime,
);

/// The select of a ticket's nodes with their people (and who acted for
/// them), a row for each node and person, by node and the people's
/// order. Plain columns (an `Approve` and an `ApproveUser`, in their
/// fields' order), so that it can sit beside the ticket's head.
macro_rules! node_rows {
    ($id:expr) => {
        n::table
            .left_join(au::table.on(au::approve_id.eq(n::id)))
            .left_join(assignees.on(assignees.field(users::id).eq(au::user_id)))
            .left_join(actors.on(actors.field(users::id).nullable().eq(au::acted_by)))
            .filter(n::apply_id.eq($id))
            .order((n::position, au::position, au::id))
            .select((
                n::all_columns,
                au::all_columns.nullable(),
                assignees
                    .fields((users::username, users::display_name))
                    .nullable(),
                actors
                    .fields((users::username, users::display_name))
                    .nullable(),
            ))
    };
}

/// A row of `node_rows!`.
type NodeRow = (
    Approve,
    Option<ApproveUser>,
    Option<(String, String)>,
    Option<(String, String)>,
);

/// A ticket with everything its page shows, in three statements: the
/// ticket with its applicant, service and business; its nodes with their
/// people (and who acted for them); its timeline with who did each thing
/// and for whom. Each goes through the ticket's index.
pub fn ticket(conn: &mut DbConn, id: ApplyId) -> StoreResult<TicketView> {
    let head: Head = crate::direct!(conn, |c| ticket_head!(id).first(c))?;
    let rows: Vec<NodeRow> = crate::direct!(conn, |c| node_rows!(id).load(c))?;
    ticket_from(conn, head, rows)
}

/// Who is signed in (`users::session_user`) and the ticket `id` (`None`
/// when there is no such ticket). On PostgreSQL the session and the
/// ticket's head and its nodes are one statement (`beside_each`), so the
/// page takes two round trips; SQLite runs them apart. `None` for someone gone or
/// deactivated.
pub fn session_and_ticket(
    conn: &mut DbConn,
    key: SessionKey,
    id: ApplyId,
) -> StoreResult<Option<(SessionUser, Option<TicketView>)>> {
    let DbConn::Pg(pg) = conn else {
        let Some(user) = super::users::session_user(conn, key)? else {
            return Ok(None);
        };
        return match ticket(conn, id) {
            Ok(view) => Ok(Some((user, Some(view)))),
            Err(super::StoreError::NotFound) => Ok(Some((user, None))),
            Err(e) => Err(e),
        };
    };
    let at = At(now());
    type Row = ((Head, Option<SessionFacts>), Option<NodeRow>);
    let rows: Vec<Row> = beside_each(
        beside_each(ticket_head!(id), session_select!(key, at)),
        node_rows!(id),
    )
    .load(pg)?;
    let (first, mut nodes) = crate::db::prepared::taken_apart(rows);
    // In the order `node_rows!` gives, which the join does not promise.
    nodes.sort_by_key(|(node, x, _, _)| (node.position, x.as_ref().map(|x| (x.position, x.id))));
    match first {
        // No such ticket: who is asking, for the page that says so.
        None => Ok(super::users::session_user(conn, key)?.map(|user| (user, None))),
        Some((_, None)) => Ok(None),
        Some((head, Some(facts))) => {
            let user = session_user_of(conn, facts)?;
            Ok(Some((user, Some(ticket_from(conn, head, nodes)?))))
        }
    }
}

/// The rest of a ticket's page, once its head and its nodes (`rows`, in
/// `node_rows!`'s order) are read.
fn ticket_from(conn: &mut DbConn, head: Head, rows: Vec<NodeRow>) -> StoreResult<TicketView> {
    let (apply, applicant, service, business, change, silence) = head;
    let silence = match silence {
        Some((silence_id, starts, ends, matchers, synced_version, last_error, updated_at)) => {
            Some(super::silences::SilenceRow {
                apply: apply.id,
                silence_id,
                window: starts.zip(ends),
                matchers: serde_json::from_str(&matchers).unwrap_or_default(),
                synced_version,
                last_error,
                updated_at,
            })
        }
        None => None,
    };
    let change = match change {
        Some((starts, ends, emergency, items)) => Some(crate::flow::change::ChangeFacts {
            window: (starts, ends),
            items: serde_json::from_str(&items)
                .map_err(|e| super::StoreError::Unexpected(e.into()))?,
            emergency,
        }),
        None => None,
    };
    let id = apply.id;
    type EventRow = (
        AuditEvent,
        Option<(String, String)>,
        Option<(String, String)>,
    );
    let events: Vec<EventRow> = crate::direct!(conn, |c| ev::table
        .left_join(actors.on(actors.field(users::id).nullable().eq(ev::actor_id)))
        .left_join(behalf.on(behalf.field(users::id).nullable().eq(ev::on_behalf_of_id)))
        .filter(ev::apply_id.eq(id.0))
        .order(ev::id)
        .select((
            AuditEvent::as_select(),
            actors
                .fields((users::username, users::display_name))
                .nullable(),
            behalf
                .fields((users::username, users::display_name))
                .nullable(),
        ))
        .load(c))?;
    let mut nodes: Vec<NodeView> = Vec::new();
    for (node, assignment, who, acted) in rows {
        if nodes.last().is_none_or(|last| last.node.id != node.id) {
            nodes.push(NodeView {
                node,
                people: Vec::new(),
            });
        }
        if let (Some(x), Some(last)) = (assignment, nodes.last_mut()) {
            let acted = person_of(acted).filter(|_| x.acted_by.is_some_and(|by| by != x.user_id));
            last.people
                .push((x, person_of(who).unwrap_or_default(), acted));
        }
    }
    let copies = if apply.copied {
        copies_of(conn, id)?
    } else {
        Vec::new()
    };
    Ok(TicketView {
        copies,
        applicant: person_of(Some(applicant)).unwrap_or_default(),
        filed: (service, business),
        nodes,
        events: events
            .into_iter()
            .map(|(e, actor, for_whom)| {
                let actor = e.actor_id.and(person_of(actor).or(Some(Person::default())));
                let for_whom = e
                    .on_behalf_of_id
                    .and(person_of(for_whom).or(Some(Person::default())));
                (e, actor, for_whom)
            })
            .collect(),
        apply,
        change,
        silence,
    })
}

/// Whom `me` stands in for now on a ticket of `kind`: only those whose
/// delegation covers that kind of ticket.
fn standing_in_on(conn: &mut DbConn, me: UserId, kind: &str) -> StoreResult<Vec<UserId>> {
    Ok(delegators(conn, me)?
        .into_iter()
        .filter(|(_, only)| only.as_deref().is_none_or(|k| k == kind))
        .map(|(u, _)| u)
        .collect())
}

impl TicketView {
    /// Whether `me` may see this ticket (`may_view`), from what the view
    /// holds: the ticket's people are all in it, so only someone who is
    /// none of them is asked whom they stand in for.
    pub fn may_be_seen_by(
        &self,
        conn: &mut DbConn,
        me: UserId,
        is_admin: bool,
    ) -> StoreResult<bool> {
        if is_admin || self.apply.applicant_id == me {
            return Ok(true);
        }
        let people = || {
            self.nodes
                .iter()
                .flat_map(|n| n.people.iter().map(|p| &p.0))
        };
        if people().any(|x| x.user_id == me || x.acted_by == Some(me))
            || self.copies.iter().any(|c| c.user_id == me)
        {
            return Ok(true);
        }
        let whom = standing_in_on(conn, me, self.apply.kind.as_str())?;
        Ok(people().any(|x| whom.contains(&x.user_id)))
    }
}

/// Whether the ticket `id` is there for `me` to see (`may_view`); a
/// ticket that does not exist is not.
pub fn may_see(conn: &mut DbConn, id: ApplyId, me: UserId, is_admin: bool) -> StoreResult<bool> {
    let Some(apply) = a::table
        .find(id)
        .select(crate::db::models::APPLY_COLUMNS)
        .first::<Apply>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    may_view(conn, &apply, me, is_admin)
}

/// Whether `me` may see a ticket: its applicant, an administrator, one of
/// its people, someone it is copied to, or someone standing in for one of them now for this kind
/// of ticket.
pub fn may_view(conn: &mut DbConn, apply: &Apply, me: UserId, is_admin: bool) -> StoreResult<bool> {
    if is_admin || apply.applicant_id == me {
        return Ok(true);
    }
    let mine: i64 = crate::direct!(conn, |c| au::table
        .filter(au::apply_id.eq(apply.id))
        .filter(au::user_id.eq(me).or(au::acted_by.eq(me)))
        .count()
        .get_result(c))?;
    if mine > 0 {
        return Ok(true);
    }
    let copied: i64 = if !apply.copied {
        0
    } else {
        use crate::db::schema::copies as cc;
        crate::direct!(conn, |c| cc::table
            .filter(cc::apply_id.eq(apply.id))
            .filter(cc::user_id.eq(me))
            .count()
            .get_result(c))?
    };
    if copied > 0 {
        return Ok(true);
    }
    stands_in_on(conn, apply, me)
}

/// Whether `me` stands in now for one of the people of ticket `apply`
/// (a delegation covering its kind of ticket).
pub fn stands_in_on(conn: &mut DbConn, apply: &Apply, me: UserId) -> StoreResult<bool> {
    let whom = standing_in_on(conn, me, apply.kind.as_str())?;
    if whom.is_empty() {
        return Ok(false);
    }
    let theirs: i64 = crate::direct!(conn, |c| au::table
        .filter(au::apply_id.eq(apply.id))
        .filter(au::user_id.eq_any(&whom))
        .count()
        .get_result(c))?;
    Ok(theirs > 0)
}

/// Filters of the admins' ticket list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub service: Option<crate::db::ids::ServiceId>,
    pub status: Option<String>,
    pub business: Option<crate::db::ids::BusinessId>,
    pub applicant: Option<UserId>,
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Only tickets older than this one (the next page of a list).
    pub before: Option<ApplyId>,
}

/// A ticket in the admins' list.
#[derive(Debug, Clone)]
pub struct ListedTicket {
    pub apply: Apply,
    /// The service's name in English and Chinese.
    pub service: (String, String),
    pub applicant: Person,
    pub business: Option<String>,
}

impl ListedTicket {
    /// The service's name in the reader's language.
    pub fn service_in(&self, lang: crate::i18n::Lang) -> &str {
        let (en, zh) = &self.service;
        if lang == crate::i18n::Lang::ZhCn && !zh.trim().is_empty() {
            zh
        } else {
            en
        }
    }
}

/// Tickets matching `search`, newest first, at most `limit`.
pub fn search(conn: &mut DbConn, search: &Search, limit: i64) -> StoreResult<Vec<ListedTicket>> {
    use crate::db::schema::{businesses as b, services as s};
    let mut q = a::table
        .inner_join(s::table)
        .left_join(b::table.on(a::business_id.eq(b::id.nullable())))
        .order(a::id.desc())
        .select((
            crate::db::models::APPLY_COLUMNS,
            (s::name_en, s::name_zh),
            b::name.nullable(),
        ))
        .into_boxed();
    if let Some(v) = search.service {
        q = q.filter(a::service_id.eq(v));
    }
    if let Some(v) = &search.status {
        q = q.filter(a::status.eq(v.clone()));
    }
    if let Some(v) = search.business {
        q = q.filter(a::business_id.eq(v));
    }
    if let Some(v) = search.applicant {
        q = q.filter(a::applicant_id.eq(v));
    }
    if let Some(v) = search.from {
        q = q.filter(a::created_at.ge(At(v)));
    }
    if let Some(v) = search.until {
        q = q.filter(a::created_at.lt(At(v)));
    }
    if let Some(v) = search.before {
        q = q.filter(a::id.lt(v));
    }
    let rows: Vec<(Apply, (String, String), Option<String>)> = q.limit(limit).load(conn)?;
    let ids: Vec<UserId> = rows.iter().map(|r| r.0.applicant_id).collect();
    let people = people_by_id(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(apply, service, business)| ListedTicket {
            applicant: people.get(&apply.applicant_id).cloned().unwrap_or_default(),
            apply,
            service,
            business,
        })
        .collect())
}

/// One decision `me` took (for myself or for someone I stood in for).
#[derive(Debug, Clone)]
pub struct HandledRow {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub node_en: String,
    pub node_zh: String,
    pub decision: String,
    pub for_person: Option<Person>,
    pub at: Option<NaiveDateTime>,
}

type HandledTuple = (
    ApplyId,
    String,
    String,
    String,
    String,
    Option<String>,
    UserId,
    Option<NaiveDateTime>,
);

/// What `me` decided, newest first ("handled by me").
pub fn handled(conn: &mut DbConn, me: UserId, limit: i64) -> StoreResult<Vec<HandledRow>> {
    let rows: Vec<HandledTuple> = au::table
        .inner_join(a::table)
        .inner_join(n::table)
        .filter(au::acted_by.eq(me))
        .filter(au::decision.ne_all([Decided::Submit, Decided::Auto]))
        .order(au::decided_at.desc())
        .limit(limit)
        .select((
            a::id,
            a::serial,
            a::title,
            n::name_en,
            n::name_zh,
            au::decision,
            au::user_id,
            au::decided_at,
        ))
        .load(conn)?;
    let ids: Vec<UserId> = rows.iter().map(|r| r.6).collect();
    let people = people_by_id(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| HandledRow {
            apply: r.0,
            serial: r.1,
            title: r.2,
            node_en: r.3,
            node_zh: r.4,
            decision: r.5.unwrap_or_default(),
            for_person: (r.6 != me).then(|| people.get(&r.6).cloned().unwrap_or_default()),
            at: r.7,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use diesel::query_builder::QueryId;

    use super::*;

    fn found_by_type<Q: QueryId>(_: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }

    #[test]
    fn the_inbox_statements_are_found_in_the_statement_cache_by_type() {
        let (me, at) = (UserId(7), At(now()));
        assert!(found_by_type(&inbox_query!(
            au::user_id.eq(me),
            Some(ApproveUserId(9)),
            25
        )));
        let key = SessionKey { user: me, epoch: 0 };
        assert!(found_by_type(&beside_each(
            session_select!(key, at),
            inbox_query!(au::user_id.eq(me), None, 25)
        )));
    }
}
