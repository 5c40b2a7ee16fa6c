//! The notices a ticket event causes, written to the outbox in the
//! event's transaction: to whom the process's policy says (or whoever
//! stands in for them now), with one-click link tokens for the people a
//! waiting approval asks. Only what the words need is written; the mail
//! worker composes them when it sends (`notify::notices`).

use diesel::prelude::*;

use super::super::outbox::{self, Notice};
use super::super::{StoreResult, delegations, links, now};
use super::def_of;
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::schema::{applies as a, approve_users as au, approves as n, users};
use crate::db::stamp::At;
use crate::db::states::AssignmentStatus;
use crate::flow::{NodeKind, NotifyEvent, ProcessDef, Recipient};

/// How to reach a person, as read where they were asked: whether they
/// are active, their email, and whoever stands in for them now (with
/// since when), if anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reached {
    pub active: bool,
    pub email: String,
    pub stand_in: Option<(UserId, chrono::NaiveDateTime)>,
}

/// People already read (`Reached`), by id: `send` asks no more about them.
pub(super) type Reach = std::collections::HashMap<UserId, Reached>;

/// Tells people a node now waits for them (with one-click links on
/// approvals). `reach` says how to reach those of them read already.
pub(super) fn ask(
    conn: &mut DbConn,
    def: &ProcessDef,
    ticket: &Apply,
    node: &Approve,
    people: &[(ApproveUserId, UserId)],
    reach: &Reach,
) -> StoreResult<()> {
    notify_reaching(
        conn,
        (def, NotifyEvent::Waiting, ticket),
        Some(node),
        "",
        people,
        reach,
    )
}

/// Writes the notices `event` causes, to whom the policy says. `people`
/// are the node's people for the "assignees" recipient; a waiting
/// approval gives each of them a one-click link of their own.
pub(super) fn notify(
    conn: &mut DbConn,
    def: &ProcessDef,
    event: NotifyEvent,
    ticket: &Apply,
    node: Option<&Approve>,
    comment: &str,
    people: &[(ApproveUserId, UserId)],
) -> StoreResult<()> {
    notify_reaching(
        conn,
        (def, event, ticket),
        node,
        comment,
        people,
        &Reach::new(),
    )
}

/// `notify`, knowing how to reach some people already (`reach`).
pub(super) fn notify_reaching(
    conn: &mut DbConn,
    (def, event, ticket): (&ProcessDef, NotifyEvent, &Apply),
    node: Option<&Approve>,
    comment: &str,
    people: &[(ApproveUserId, UserId)],
    reach: &Reach,
) -> StoreResult<()> {
    if !def.notifications.iter().any(|r| r.event == event) {
        return Ok(());
    }
    let ids: Vec<UserId> = people.iter().map(|(_, u)| *u).collect();
    let to = recipients(conn, def, event, ticket, &ids)?;
    let approval = node.is_some_and(|n| n.kind == NodeKind::Approval);
    for user in to {
        let assignment = match people.iter().find(|(_, u)| *u == user) {
            Some((assignment, _)) if event == NotifyEvent::Waiting && approval => Some(*assignment),
            _ => None,
        };
        send(
            conn,
            (event, ticket, node),
            comment,
            (user, reach.get(&user)),
            assignment,
        )?;
    }
    Ok(())
}

/// Whom the policy notifies of `event`, besides the node's people (whom
/// the caller passes, since only it knows them).
fn recipients(
    conn: &mut DbConn,
    def: &ProcessDef,
    event: NotifyEvent,
    ticket: &Apply,
    assignees: &[UserId],
) -> StoreResult<Vec<UserId>> {
    let mut out = Vec::new();
    for rule in def.notifications.iter().filter(|r| r.event == event) {
        match rule.to {
            Recipient::Assignees => out.extend_from_slice(assignees),
            Recipient::Applicant => out.push(ticket.applicant_id),
            Recipient::ApplicantManager => {
                if let Some(m) = crate::direct!(conn, |c| users::table
                    .find(ticket.applicant_id)
                    .select(users::manager_id)
                    .first::<Option<UserId>>(c))?
                {
                    out.push(m);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Writes one notice to `to` — or, when `to` is away and the notice asks
/// them to act, to whoever stands in for them now, unless that is the
/// applicant, who is not asked about their own ticket for someone else.
/// Nobody inactive is written to. `assignment` gets a one-click link,
/// bound to whoever receives it.
fn send(
    conn: &mut DbConn,
    (event, ticket, node): (NotifyEvent, &Apply, Option<&Approve>),
    comment: &str,
    (to, reached): (UserId, Option<&Reached>),
    assignment: Option<ApproveUserId>,
) -> StoreResult<()> {
    let kind = ticket.kind;
    let away = matches!(
        event,
        NotifyEvent::Waiting | NotifyEvent::Urged | NotifyEvent::Reminder | NotifyEvent::Overdue
    )
    .then_some(kind);
    // Read already, or one statement reads the person and, when it
    // matters, as a subselect, whoever stands in for them now.
    let (active, email, stand_in): (bool, String, Option<UserId>) = match (away, reached) {
        // Whoever stands in is asked only to act.
        (_, Some(r)) => (
            r.active,
            r.email.clone(),
            away.and(r.stand_in.map(|(s, _)| s)),
        ),
        (None, _) => crate::direct!(conn, |c| users::table
            .find(to)
            .select((users::active, users::email))
            .first::<(bool, String)>(c))
        .map(|(active, email)| (active, email, None))?,
        (Some(kind), None) => {
            let stand_in = delegations::stand_in(to, At(now()), kind.as_str()).single_value();
            crate::direct!(conn, |c| users::table
                .find(to)
                .select((users::active, users::email, stand_in))
                .first(c))?
        }
    };
    // An inactive person stands in for no one.
    let stand_in = match stand_in.filter(|s| *s != ticket.applicant_id) {
        Some(s) => crate::direct!(conn, |c| users::table
            .find(s)
            .filter(users::active.eq(true))
            .select(users::email)
            .first::<String>(c))
        .optional()?
        .map(|email| (s, email)),
        None => None,
    };
    let (recipient, email, for_user) = match stand_in {
        Some((s, email)) => (s, email, Some(to)),
        None if active => (to, email, None),
        None => return Ok(()),
    };
    let link_token = match assignment {
        Some(assignment) => Some(links::issue(conn, assignment, recipient)?),
        None => None,
    };
    outbox::enqueue_notice(
        conn,
        &Notice {
            to_user: recipient,
            to_email: &email,
            for_user,
            kind: event.as_str(),
            apply: ticket.id,
            node: node.map(|n| n.id),
            comment,
            link_token,
        },
    )
}

/// A step's clock reminds `people` (its pending assignments) that it
/// waits for them — before its deadline (`Reminder`) or after
/// (`Overdue`) — whatever the process's notification rules say, each
/// (or whoever stands in for them) with a fresh one-click link on an
/// approval, which replaces the one mailed before.
pub(super) fn remind(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    event: NotifyEvent,
    people: &[(ApproveUserId, UserId)],
) -> StoreResult<()> {
    let approval = node.kind == NodeKind::Approval;
    for (assignment, user) in people {
        send(
            conn,
            (event, ticket, Some(node)),
            "",
            (*user, None),
            approval.then_some(*assignment),
        )?;
    }
    Ok(())
}

/// Tells `manager` that the overdue step `node` waits for `person`, who
/// reports to them.
pub(super) fn escalated(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    manager: UserId,
    person: UserId,
) -> StoreResult<()> {
    let email: Option<String> = users::table
        .find(manager)
        .filter(users::active.eq(true))
        .select(users::email)
        .first(conn)
        .optional()?;
    let Some(email) = email else {
        return Ok(());
    };
    outbox::enqueue_notice(
        conn,
        &Notice {
            to_user: manager,
            to_email: &email,
            for_user: Some(person),
            kind: NotifyEvent::Escalated.as_str(),
            apply: ticket.id,
            node: Some(node.id),
            comment: "",
            link_token: None,
        },
    )
}

/// Tells `people` (the applicant, the people it waits for) that the
/// whole ticket has passed its deadline.
pub(super) fn ticket_overdue(
    conn: &mut DbConn,
    ticket: &Apply,
    people: &[UserId],
) -> StoreResult<()> {
    for person in people {
        send(
            conn,
            (NotifyEvent::TicketOverdue, ticket, None),
            "",
            (*person, None),
            None,
        )?;
    }
    Ok(())
}

/// Tells the applicant of change `apply` and everyone who approved it or
/// is asked to that a freeze made since now covers its window; `comment`
/// names the freeze.
pub(crate) fn frozen(
    conn: &mut DbConn,
    apply: crate::db::ids::ApplyId,
    comment: &str,
) -> StoreResult<()> {
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)?;
    let mut people: Vec<UserId> = au::table
        .inner_join(n::table)
        .filter(au::apply_id.eq(apply))
        .filter(n::kind.eq(NodeKind::Approval.as_str()))
        .filter(au::status.eq_any([AssignmentStatus::Pending, AssignmentStatus::Decided]))
        .select(au::user_id)
        .load(conn)?;
    people.insert(0, ticket.applicant_id);
    let mut seen = std::collections::HashSet::new();
    people.retain(|p| seen.insert(*p));
    for person in people {
        send(
            conn,
            (NotifyEvent::Frozen, &ticket, None),
            comment,
            (person, None),
            None,
        )?;
    }
    Ok(())
}

/// Tells `person` the ticket was copied to them, when `node` ended (or
/// the whole ticket, or by hand with `note`). They are told, not asked:
/// nobody stands in for them.
pub(super) fn copied(
    conn: &mut DbConn,
    ticket: &Apply,
    node: Option<&str>,
    note: &str,
    person: UserId,
) -> StoreResult<()> {
    let node: Option<Approve> = match node {
        Some(key) => n::table
            .filter(n::apply_id.eq(ticket.id))
            .filter(n::node_key.eq(key))
            .order(n::position.desc())
            .select(Approve::as_select())
            .first(conn)
            .optional()?,
        None => None,
    };
    send(
        conn,
        (NotifyEvent::Copied, ticket, node.as_ref()),
        note,
        (person, None),
        None,
    )
}

/// Writes a notice to the person an open assignment has just moved to (a
/// deactivated approver's work going to their manager), with a one-click
/// link of their own when the node is an approval. Only the new assignee
/// hears: the rest of the process's audience already heard about this node.
pub fn mail_new_assignee(conn: &mut DbConn, assignment: ApproveUserId) -> StoreResult<()> {
    let row: ApproveUser = au::table
        .find(assignment)
        .select(ApproveUser::as_select())
        .first(conn)?;
    if row.status != AssignmentStatus::Pending {
        return Ok(());
    }
    let ticket: Apply = a::table
        .find(row.apply_id)
        .select(Apply::as_select())
        .first(conn)?;
    let def = def_of(conn, &ticket)?;
    let assignees_hear = def
        .notifications
        .iter()
        .any(|r| r.event == NotifyEvent::Waiting && r.to == Recipient::Assignees);
    if !assignees_hear {
        return Ok(());
    }
    let node: Approve = n::table
        .find(row.approve_id)
        .select(Approve::as_select())
        .first(conn)?;
    let approval = node.kind == NodeKind::Approval;
    send(
        conn,
        (NotifyEvent::Waiting, &ticket, Some(&node)),
        "",
        (row.user_id, None),
        approval.then_some(assignment),
    )
}
