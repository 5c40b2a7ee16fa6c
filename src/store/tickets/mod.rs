//! Tickets, the engine side. Every action on a ticket — a decision, a task
//! or review completed, a hand-over, a comment, withdraw, urge, resubmit —
//! comes in through one door (`door::perform`), which checks the rules
//! (`rules`, pure) against rows it has locked and either changes the
//! ticket in the caller's transaction or refuses with a typed `Refusal`.
//!
//! - `filing`: submitting (plan → node rows → assignments) and serials;
//! - `progress`: starting nodes, settling their votes, finishing or ending;
//! - `door`: the requests, the one entry point, and what a viewer may do;
//! - `decide` and `applicant`: the actions on an assignment, and the
//!   applicant's own;
//! - `overtaken`: what became of an assignment someone got to first;
//! - `adding`: approvers added by hand to a waiting approval (加签);
//! - `copies`: copying a ticket to people (抄送);
//! - `notices`: the mail an event causes.

mod adding;
mod applicant;
pub mod copies;
mod decide;
pub mod door;
pub mod filing;
mod notices;
pub mod overtaken;
mod progress;
pub mod rules;
mod timed;

use diesel::prelude::*;

pub(crate) use adding::took_place;
pub(crate) use decide::acts_for;
pub use door::{
    Act, Action, Allowed, Decision, Done, Raw, StepAllowed, allowed, fire_timer, perform,
    perform_signed_in, ticket_of,
};
pub use filing::{Filed, Submission, by_submit_token, preview, submit};
pub(crate) use notices::frozen as tell_frozen;
pub use notices::mail_new_assignee;
pub use overtaken::became;
pub(crate) use progress::resettle;
pub use rules::{URGE_INTERVAL_MINUTES, would_approve_own};
pub use timed::Fired;

use super::audit::{Audit, Channel};
use super::{StoreError, StoreResult};
use crate::db::DbConn;
use crate::db::ids::ApplyId;
use crate::db::ids::UserId;
use crate::db::models::{Apply, Approve};
use crate::db::schema::applies as a;
use crate::db::states::{TicketEvent, TicketStatus};
use crate::flow::{NodeDef, ProcessDef};

/// An event on a ticket's timeline, by `actor` (on the web) or by
/// countersign itself.
pub(crate) fn ticket_event(
    actor: Option<UserId>,
    event: TicketEvent,
    apply: ApplyId,
    detail: serde_json::Value,
) -> Audit<'static> {
    Audit {
        actor,
        on_behalf_of: None,
        channel: if actor.is_some() {
            Channel::Web
        } else {
            Channel::System
        },
        action: event.as_str(),
        subject_type: "apply",
        subject_id: Some(apply.0),
        apply_id: Some(apply.0),
        detail,
    }
}

/// An event on the ticket by `actor`, acting on `assignee`'s behalf when
/// that is someone else, through `channel`.
fn acted(
    (actor, assignee, channel): (UserId, UserId, Channel),
    event: TicketEvent,
    apply: ApplyId,
    detail: serde_json::Value,
) -> Audit<'static> {
    Audit {
        on_behalf_of: (actor != assignee).then_some(assignee),
        channel,
        ..ticket_event(Some(actor), event, apply, detail)
    }
}

/// A process as `/metrics` labels it: its kind and its name (English,
/// else Chinese) as the ticket's version names it.
fn process_labels(def: &ProcessDef) -> (&'static str, String) {
    let name = if def.name.en.trim().is_empty() {
        &def.name.zh
    } else {
        &def.name.en
    };
    (def.kind.as_str(), name.clone())
}

/// Notes for `/metrics` that a ticket of `def` ended as `status` (counted
/// once this unit of work commits).
fn note_end(def: &ProcessDef, status: TicketStatus) {
    let (kind, process) = process_labels(def);
    crate::metrics::note(crate::metrics::Noted::Ended {
        kind,
        process,
        outcome: status.as_str(),
    });
}

/// Notes for `/metrics` a vote cast through `channel` (counted once this
/// unit of work commits).
fn note_vote(channel: Channel, decision: crate::db::states::Decided) {
    crate::metrics::note(crate::metrics::Noted::Decided {
        channel: channel.as_str(),
        decision: decision.as_str(),
    });
}

fn node_def<'d>(def: &'d ProcessDef, approve: &Approve) -> StoreResult<&'d NodeDef> {
    def.node(&approve.node_key).ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!("node {} not in version", approve.node_key))
    })
}

/// The process version a ticket was filed under, with the approval
/// steps it gained on filing (a soft freeze's, a conflict's).
pub(crate) fn def_of(conn: &mut DbConn, ticket: &Apply) -> StoreResult<std::sync::Arc<ProcessDef>> {
    def_with(conn, ticket.version_id, ticket.extra_nodes.as_deref())
}

/// Version `version`'s definition with `extra` steps (stored JSON) after
/// its submit step.
pub(crate) fn def_with(
    conn: &mut DbConn,
    version: crate::db::ids::VersionId,
    extra: Option<&str>,
) -> StoreResult<std::sync::Arc<ProcessDef>> {
    let def = super::processes::definition(conn, version)?;
    let Some(extra) = extra else {
        return Ok(def);
    };
    let nodes: Vec<NodeDef> =
        serde_json::from_str(extra).map_err(|e| StoreError::Unexpected(e.into()))?;
    Ok(std::sync::Arc::new(crate::flow::change::with_extra(
        &def, &nodes,
    )))
}

/// Whom planning asks about for `ticket`: its applicant's username and
/// its business's name, if it names one.
fn applicant_and_business(
    conn: &mut DbConn,
    ticket: &Apply,
) -> StoreResult<(String, Option<String>)> {
    use crate::db::schema::{businesses, users};
    let applicant: String = crate::direct!(conn, |c| users::table
        .find(ticket.applicant_id)
        .select(users::username)
        .first(c))?;
    let business = match ticket.business_id {
        Some(b) => Some(crate::direct!(conn, |c| businesses::table
            .find(b)
            .select(businesses::name)
            .first::<String>(c))?),
        None => None,
    };
    Ok((applicant, business))
}

/// Why a ticket that was expected to run does not: withdrawn, or
/// otherwise closed.
fn not_running(conn: &mut DbConn, apply: ApplyId) -> StoreResult<StoreError> {
    let now: TicketStatus = a::table.find(apply).select(a::status).first(conn)?;
    Ok(rules::closed(now).into())
}
