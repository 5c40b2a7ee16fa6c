//! The change gate a deploy pipeline asks before it deploys: open only
//! while the change is approved and now lies inside its change window
//! (the first date-time range its form fills, stored in UTC); otherwise
//! shut, saying why.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::{ApplyId, UserId};
use crate::db::models::Apply;
use crate::db::schema::{applies as a, approves as n};
use crate::db::states::{StepStatus, TicketStatus};
use crate::flow::NodeKind;

/// Why the gate is shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shut {
    /// Still waiting for an approval (or none was given).
    NotApproved,
    Rejected,
    Withdrawn,
    /// Sent back to its applicant to correct.
    SentBack,
    /// Its form has no change window.
    NoWindow,
    BeforeWindow,
    AfterWindow,
    /// Inside a hard freeze that covers it (and it is no emergency), even
    /// though approved and inside its window.
    Frozen,
}

impl Shut {
    pub fn code(self) -> &'static str {
        match self {
            Shut::NotApproved => "not_approved",
            Shut::Rejected => "rejected",
            Shut::Withdrawn => "withdrawn",
            Shut::SentBack => "sent_back",
            Shut::NoWindow => "no_window",
            Shut::BeforeWindow => "before_window",
            Shut::AfterWindow => "after_window",
            Shut::Frozen => "frozen",
        }
    }
}

/// What the gate says of one change.
#[derive(Debug, Clone)]
pub struct Gate {
    pub apply: ApplyId,
    pub serial: String,
    pub status: TicketStatus,
    pub window: Option<(NaiveDateTime, NaiveDateTime)>,
    /// Open, or shut and why.
    pub verdict: Result<(), Shut>,
    /// The hard freeze that shuts it, and the occurrence it is in.
    pub freeze: Option<super::freezes::Hit>,
}

/// Whether a ticket whose steps are `steps` (kind and status, in their
/// order) is approved: in its latest round — the steps after its last
/// submit step, as a resubmission starts a round after the one that sent
/// it back — every approval step is approved or skipped, and one at least
/// approved.
pub fn approved(steps: &[(NodeKind, StepStatus)]) -> bool {
    let round = steps
        .iter()
        .rposition(|(kind, _)| *kind == NodeKind::Submit)
        .map_or(steps, |submit| &steps[submit + 1..]);
    let approvals: Vec<StepStatus> = round
        .iter()
        .filter(|(kind, _)| *kind == NodeKind::Approval)
        .map(|(_, status)| *status)
        .collect();
    approvals
        .iter()
        .all(|s| matches!(s, StepStatus::Approved | StepStatus::Skipped))
        && approvals.contains(&StepStatus::Approved)
}

/// The gate of the change `serial` at `now`, for `reader`; `None` when
/// there is no such change or the reader may not see it.
pub fn gate(
    conn: &mut DbConn,
    serial: &str,
    reader: UserId,
    admin: bool,
    now: NaiveDateTime,
) -> StoreResult<Option<Gate>> {
    let apply: Option<Apply> = crate::direct!(conn, |c| a::table
        .filter(a::serial.eq(serial))
        .select(Apply::as_select())
        .first(c)
        .optional())?;
    let Some(apply) = apply else {
        return Ok(None);
    };
    if !super::ticket_views::may_view(conn, &apply, reader, admin)? {
        return Ok(None);
    }
    let steps: Vec<(NodeKind, StepStatus)> = crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply.id))
        .order((n::position, n::id))
        .select((n::kind, n::status))
        .load(c))?;
    let def = super::tickets::def_of(conn, &apply)?;
    // A change on the calendar opens in the window its process marks (the
    // one freezes were checked against); any other, its first range.
    let facts = match def.change {
        Some(_) => super::changes::of_ticket(conn, apply.id)?,
        None => None,
    };
    let window = match &facts {
        Some(facts) => Some(facts.window),
        None => crate::flow::form::first_range(&def.submit_fields(), &apply.form),
    };
    let approved = approved(&steps);
    let verdict = match apply.status {
        TicketStatus::Withdrawn => Err(Shut::Withdrawn),
        TicketStatus::Rejected => Err(Shut::Rejected),
        TicketStatus::SentBack => Err(Shut::SentBack),
        _ if !approved => Err(Shut::NotApproved),
        _ => match window {
            None => Err(Shut::NoWindow),
            Some((start, _)) if now < start => Err(Shut::BeforeWindow),
            Some((_, end)) if now >= end => Err(Shut::AfterWindow),
            Some(_) => Ok(()),
        },
    };
    // Approved and inside its window: a hard freeze covering it now still
    // shuts the gate, unless it was filed as an emergency.
    let mut freeze = None;
    if verdict.is_ok()
        && let Some(facts) = facts
        && !facts.emergency
    {
        let at_now = crate::flow::change::ChangeFacts {
            window: (now, now + chrono::Duration::seconds(1)),
            ..facts
        };
        let all = super::freezes::list(conn)?;
        freeze = super::freezes::touching(&all, &at_now, apply.business_id.map(|b| b.0))
            .into_iter()
            .find(|h| h.freeze.strength == crate::flow::freeze::Strength::Hard);
    }
    let verdict = if freeze.is_some() {
        Err(Shut::Frozen)
    } else {
        verdict
    };
    Ok(Some(Gate {
        apply: apply.id,
        serial: apply.serial,
        status: apply.status,
        window,
        verdict,
        freeze,
    }))
}
