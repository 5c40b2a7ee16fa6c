//! The mail a ticket event causes: to whom the process's policy says,
//! with one-click links for the people a waiting approval asks.

use diesel::prelude::*;

use super::super::StoreResult;
use super::super::links;
use super::super::request::Request;
use super::{def_of, status};
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::schema::{applies as a, approve_users as au, approves as n};
use crate::flow::{NodeKind, NotifyEvent, ProcessDef, Recipient};
use crate::notify::notices;

/// Tells people a node now waits for them (with one-click links on
/// approvals).
pub(super) fn ask(
    conn: &mut DbConn,
    def: &ProcessDef,
    ticket: &Apply,
    node: &Approve,
    people: &[(ApproveUserId, UserId)],
) -> StoreResult<()> {
    notify(
        conn,
        def,
        NotifyEvent::Waiting,
        ticket,
        Some(node),
        "",
        people,
    )
}

/// Writes the mail `event` causes, to whom the policy says. `people` are
/// the node's people for the "assignees" recipient; a waiting approval
/// gives each of them approve and reject links of their own.
pub(super) fn notify(
    conn: &mut DbConn,
    def: &ProcessDef,
    event: NotifyEvent,
    ticket: &Apply,
    node: Option<&Approve>,
    comment: &str,
    people: &[(ApproveUserId, UserId)],
) -> StoreResult<()> {
    if !def.notifications.iter().any(|r| r.event == event) {
        return Ok(());
    }
    let ids: Vec<UserId> = people.iter().map(|(_, u)| *u).collect();
    let to = notices::recipients(conn, def, event, ticket, &ids)?;
    let names = node.map(|n| (n.name_en.as_str(), n.name_zh.as_str()));
    let approval = node.is_some_and(|n| n.kind == NodeKind::Approval.as_str());
    // Someone asked to decide sees what they decide on.
    let request = match node {
        Some(n) if approval && event == NotifyEvent::Waiting => {
            Some(Request::read(conn, ticket, &n.node_key)?)
        }
        _ => None,
    };
    for user in to {
        let assignment = match people.iter().find(|(_, u)| *u == user) {
            Some((assignment, _)) if event == NotifyEvent::Waiting && approval => Some(*assignment),
            _ => None,
        };
        let e = notices::Event {
            kind: event,
            ticket,
            node: names,
            comment,
            request: request.as_ref(),
        };
        notices::send(conn, &e, user, |c, recipient| match assignment {
            Some(assignment) => links::approval_links(c, assignment, recipient),
            None => Ok(Vec::new()),
        })?;
    }
    Ok(())
}

/// Mails the person an open assignment has just moved to (a deactivated
/// approver's work going to their manager), with one-click links of their
/// own when the node is an approval. Only the new assignee is mailed: the
/// rest of the process's audience already heard about this node.
pub fn mail_new_assignee(conn: &mut DbConn, assignment: ApproveUserId) -> StoreResult<()> {
    let row: ApproveUser = au::table
        .find(assignment)
        .select(ApproveUser::as_select())
        .first(conn)?;
    if row.status != status::PENDING {
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
    let approval = node.kind == NodeKind::Approval.as_str();
    let request = if approval {
        Some(Request::read(conn, &ticket, &node.node_key)?)
    } else {
        None
    };
    let event = notices::Event {
        kind: NotifyEvent::Waiting,
        ticket: &ticket,
        node: Some((node.name_en.as_str(), node.name_zh.as_str())),
        comment: "",
        request: request.as_ref(),
    };
    notices::send(conn, &event, row.user_id, |c, recipient| {
        if approval {
            links::approval_links(c, assignment, recipient)
        } else {
            Ok(Vec::new())
        }
    })
}
