//! Who may do what on a ticket, as pure functions of what was read: the
//! ticket page asks them which actions to offer, and the door asks them
//! again, of rows it has locked, before it acts — so a rule lives in one
//! place, whichever way someone acts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::{ApproveUserId, UserId};
use crate::db::models::{Apply, ApproveUser};
use crate::db::schema::{applies as a, approve_users as au, approves as n};
use crate::db::states::{AssignmentStatus, Decided, TicketStatus};
use crate::flow::NodeKind;
use crate::refusal::{Became, Refusal};

/// How long after urging the applicant may urge again.
pub const URGE_INTERVAL_MINUTES: i64 = 60;

/// The longest comment, reason or hand-over note, in characters.
pub const COMMENT_MAX_CHARS: usize = 2000;

/// What someone does on an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Approve,
    Reject,
    /// Reject for now: the applicant corrects the form and resubmits.
    SendBack,
    /// Complete a task or review.
    Complete,
    /// Hand it to someone else (转交).
    HandOver,
    /// Add approvers before, after or alongside oneself (加签), where the
    /// step allows it.
    AddApprovers,
}

impl Verb {
    /// As sent by a form's `intent` and stored as an assignment's decision.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Approve => "approve",
            Verb::Reject => "reject",
            Verb::SendBack => "send_back",
            Verb::Complete => "complete",
            Verb::HandOver => "transfer",
            Verb::AddApprovers => "add_approvers",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        [
            Verb::Approve,
            Verb::Reject,
            Verb::SendBack,
            Verb::Complete,
            Verb::HandOver,
            Verb::AddApprovers,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Whether it needs a comment saying why.
    pub fn needs_comment(self) -> bool {
        matches!(self, Verb::Reject | Verb::SendBack)
    }
}

/// What a step of `kind` offers the person whose turn it is.
pub fn offered(kind: NodeKind) -> &'static [Verb] {
    match kind {
        NodeKind::Approval => &[Verb::Approve, Verb::Reject, Verb::SendBack, Verb::HandOver],
        NodeKind::Task | NodeKind::Review => &[Verb::Complete, Verb::HandOver],
        NodeKind::Submit => &[],
    }
}

/// What acting on one assignment depends on, as read for the attempt.
#[derive(Debug, Clone, Copy)]
pub struct StepFacts<'a> {
    pub ticket: &'a Apply,
    pub assignment: &'a ApproveUser,
    pub node_kind: NodeKind,
    /// Whether the assignee may still act in countersign at all.
    pub assignee_active: bool,
    /// Whether the actor is the assignee, or stands in for them now.
    pub acts_for: bool,
    pub actor_active: bool,
}

/// Whether `actor` may decide, complete or hand over the step: it is
/// pending, it is theirs or they stand in for its person, both are
/// active, the ticket runs, and the applicant is not deciding an approval
/// of their own ticket for someone else.
pub fn may_act(actor: UserId, f: &StepFacts<'_>) -> Result<(), Refusal> {
    if f.assignment.status != AssignmentStatus::Pending || !f.acts_for || !f.assignee_active {
        return Err(standing(f));
    }
    if !f.actor_active {
        return Err(Refusal::NotYours);
    }
    if f.ticket.status != TicketStatus::Running {
        return Err(closed(f.ticket.status));
    }
    if applicant_for_other(
        f.ticket.applicant_id,
        actor,
        f.assignment.user_id,
        f.node_kind,
    ) {
        return Err(Refusal::ApplicantForOther);
    }
    Ok(())
}

/// Whether `actor` may hand the step over: as `may_act`, or, for an
/// administrator, a pending step whose person can no longer act (nobody
/// could take it when they left) — unless it is on their own ticket.
pub fn may_hand_over(actor: UserId, admin: bool, f: &StepFacts<'_>) -> Result<(), Refusal> {
    let stranded = !f.assignee_active && admin && f.actor_active;
    if !stranded {
        return may_act(actor, f);
    }
    if f.assignment.status != AssignmentStatus::Pending {
        return Err(standing(f));
    }
    if f.ticket.status != TicketStatus::Running {
        return Err(closed(f.ticket.status));
    }
    if actor == f.ticket.applicant_id {
        return Err(Refusal::ApplicantHandsOver);
    }
    Ok(())
}

/// Whom a hand-over may go to: someone active, not the assignee, and not
/// the applicant of an approval.
pub fn may_receive(to: UserId, to_active: bool, f: &StepFacts<'_>) -> Result<(), Refusal> {
    if !to_active {
        return Err(Refusal::UnknownUser);
    }
    if to == f.assignment.user_id {
        return Err(Refusal::TransferToSelf);
    }
    if applicant_for_other(f.ticket.applicant_id, to, f.assignment.user_id, f.node_kind) {
        return Err(Refusal::TransferToApplicant);
    }
    Ok(())
}

/// Why an assignment that is not open to the actor is not: what happened
/// to the ticket or the assignment, else that it is someone else's. Who
/// overtook it is filled in by the door, which can look it up.
fn standing(f: &StepFacts<'_>) -> Refusal {
    let x = f.assignment;
    match (f.ticket.status, x.status) {
        (TicketStatus::Withdrawn, _) => Refusal::Withdrawn,
        (_, AssignmentStatus::Decided) => Refusal::Overtaken(Became::Decided {
            by: x.acted_by.unwrap_or(x.user_id),
            decision: x.decision.unwrap_or(Decided::Approve),
            at: x.decided_at,
        }),
        (_, AssignmentStatus::Cancelled) => Refusal::Overtaken(Became::StepDecided {
            by: None,
            decision: None,
            at: None,
        }),
        (_, AssignmentStatus::Transferred) => Refusal::Overtaken(Became::HandedOver {
            to: None,
            at: x.decided_at,
        }),
        (ticket, _) if ticket != TicketStatus::Running => closed(ticket),
        (_, AssignmentStatus::Waiting) => Refusal::NotYourTurn,
        _ if !f.assignee_active => Refusal::AssigneeInactive,
        _ => Refusal::NotYours,
    }
}

/// Why a ticket with status `ticket_status` takes no more actions.
pub fn closed(ticket_status: TicketStatus) -> Refusal {
    if ticket_status == TicketStatus::Withdrawn {
        Refusal::Withdrawn
    } else {
        Refusal::NotRunning
    }
}

/// Whether the applicant of a ticket would be deciding an approval of
/// their own ticket for someone else (`actor` acting on `assignee`'s
/// assignment: as a stand-in, or having been handed it). Segregation of
/// duties holds whatever the node's self-approval policy, which is about
/// whom the plan asks: a delegation or hand-over may come after planning.
pub fn applicant_for_other(
    applicant: UserId,
    actor: UserId,
    assignee: UserId,
    kind: NodeKind,
) -> bool {
    actor != assignee && actor == applicant && kind == NodeKind::Approval
}

/// Whether handing `assignment` to `to` would let the ticket's applicant
/// decide an approval of their own ticket (the inbox leaves such items
/// out, as the door refuses them).
pub fn would_approve_own(
    conn: &mut DbConn,
    assignment: ApproveUserId,
    to: UserId,
) -> StoreResult<bool> {
    let (mine, node_kind, applicant) = au::table
        .inner_join(n::table)
        .inner_join(a::table)
        .filter(au::id.eq(assignment))
        .select((au::user_id, n::kind, a::applicant_id))
        .first::<(UserId, NodeKind, UserId)>(conn)?;
    Ok(applicant_for_other(applicant, to, mine, node_kind))
}

/// A comment, reason or note as given: trimmed, required when `required`,
/// and not longer than `COMMENT_MAX_CHARS`.
pub fn comment(text: &str, required: Refusal) -> Result<&str, Refusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(required);
    }
    note(text)
}

/// An optional note: trimmed, and not too long.
pub fn note(text: &str) -> Result<&str, Refusal> {
    let text = text.trim();
    if text.chars().count() > COMMENT_MAX_CHARS {
        return Err(Refusal::TooLong("comment"));
    }
    Ok(text)
}

/// The earlier steps the approval `at` may send its ticket back to (in
/// the definition's order): those before it, but the submit step (that
/// is the applicant, whom a plain send-back goes to), whose latest row
/// ran in this round and passed, and none in a parallel gateway's
/// branch: sending back runs everything after the step again, and a
/// branch cannot run again without the branches beside it. `rows` are
/// the ticket's steps as they stand: (node key, position, status), in
/// any order.
pub fn send_back_targets<'d>(
    def: &'d crate::flow::ProcessDef,
    at: &str,
    rows: &[(String, i32, crate::db::states::StepStatus)],
) -> Vec<&'d str> {
    use crate::db::states::StepStatus;
    let Some(submit) = def.nodes.first() else {
        return Vec::new();
    };
    let round = rows
        .iter()
        .filter(|(k, _, _)| *k == submit.key)
        .map(|(_, p, _)| *p)
        .max()
        .unwrap_or(0);
    let latest = |key: &str| {
        rows.iter()
            .filter(|(k, _, _)| k == key)
            .max_by_key(|(_, p, _)| *p)
    };
    def.nodes
        .iter()
        .skip(1)
        .take_while(|n| n.key != at)
        .filter(|n| def.parallel_branch(n).is_none())
        .filter(|n| {
            latest(&n.key).is_some_and(|(_, p, s)| {
                *p > round && matches!(s, StepStatus::Approved | StepStatus::Done)
            })
        })
        .map(|n| n.key.as_str())
        .collect()
}

/// Only the applicant withdraws, urges and resubmits.
pub fn applicant_only(actor: UserId, ticket: &Apply) -> Result<(), Refusal> {
    if ticket.applicant_id != actor {
        return Err(Refusal::NotApplicant);
    }
    Ok(())
}

/// Whether the applicant may withdraw: the ticket still runs.
pub fn may_withdraw(actor: UserId, ticket: &Apply) -> Result<(), Refusal> {
    applicant_only(actor, ticket)?;
    if ticket.status != TicketStatus::Running {
        return Err(closed(ticket.status));
    }
    Ok(())
}

/// Whether the applicant may remind the people a running ticket waits
/// for: at most once in `URGE_INTERVAL_MINUTES`.
pub fn may_urge(actor: UserId, ticket: &Apply, now: NaiveDateTime) -> Result<(), Refusal> {
    may_withdraw(actor, ticket)?;
    if ticket
        .last_urged_at
        .is_some_and(|at| at > urged_before(now))
    {
        return Err(Refusal::UrgedRecently);
    }
    Ok(())
}

/// The latest last reminder that allows another one at `now`.
pub fn urged_before(now: NaiveDateTime) -> NaiveDateTime {
    now - chrono::Duration::minutes(URGE_INTERVAL_MINUTES)
}

/// Whether the applicant may correct and resubmit: it was sent back.
pub fn may_resubmit(actor: UserId, ticket: &Apply) -> Result<(), Refusal> {
    applicant_only(actor, ticket)?;
    if ticket.status != TicketStatus::SentBack {
        return Err(Refusal::NotSentBack);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ids::{ApplyId, ApproveId, ApproveUserId, ServiceId, VersionId};

    const APPLICANT: UserId = UserId(1);
    const APPROVER: UserId = UserId(2);
    const STAND_IN: UserId = UserId(3);
    const ADMIN: UserId = UserId(4);

    fn ticket(status: TicketStatus) -> Apply {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        Apply {
            id: ApplyId(1),
            serial: "CHG-20261204-0001".into(),
            service_id: ServiceId(1),
            version_id: VersionId(1),
            kind: crate::flow::ProcessKind::Change,
            title: "t".into(),
            applicant_id: APPLICANT,
            business_id: None,
            status,
            form: Default::default(),
            outcome: None,
            submit_token: "token".into(),
            row_version: 1,
            last_urged_at: None,
            created_at: at,
            updated_at: at,
            finished_at: None,
            due_at: None,
            overdue_at: None,
            extra_nodes: None,
            copied: false,
            attached: false,
        }
    }

    fn assignment(status: AssignmentStatus, user: UserId) -> ApproveUser {
        ApproveUser {
            id: ApproveUserId(1),
            approve_id: ApproveId(1),
            apply_id: ApplyId(1),
            position: 0,
            user_id: user,
            status,
            decision: None,
            acted_by: None,
            channel: None,
            comment: String::new(),
            decided_at: None,
            email_token_hash: None,
            email_token_expires_at: None,
            created_at: chrono::NaiveDateTime::default(),
            email_token_to: None,
            send_back_to: None,
            added_for: None,
            placement: None,
        }
    }

    fn facts<'a>(t: &'a Apply, x: &'a ApproveUser, acts_for: bool) -> StepFacts<'a> {
        StepFacts {
            ticket: t,
            assignment: x,
            node_kind: NodeKind::Approval,
            assignee_active: true,
            acts_for,
            actor_active: true,
        }
    }

    #[test]
    fn the_assignee_and_their_stand_in_may_act_on_a_pending_step() {
        let t = ticket(TicketStatus::Running);
        let x = assignment(AssignmentStatus::Pending, APPROVER);
        assert_eq!(may_act(APPROVER, &facts(&t, &x, true)), Ok(()));
        assert_eq!(may_act(STAND_IN, &facts(&t, &x, true)), Ok(()));
        assert_eq!(
            may_act(STAND_IN, &facts(&t, &x, false)),
            Err(Refusal::NotYours)
        );
    }

    #[test]
    fn the_applicant_never_decides_their_own_approval_for_someone_else() {
        let t = ticket(TicketStatus::Running);
        let x = assignment(AssignmentStatus::Pending, APPROVER);
        assert_eq!(
            may_act(APPLICANT, &facts(&t, &x, true)),
            Err(Refusal::ApplicantForOther)
        );
        // A task is not an approval: the applicant may do it for someone.
        let task = StepFacts {
            node_kind: NodeKind::Task,
            ..facts(&t, &x, true)
        };
        assert_eq!(may_act(APPLICANT, &task), Ok(()));
        // Nor is the applicant handed an approval of their own.
        assert_eq!(
            may_receive(APPLICANT, true, &facts(&t, &x, true)),
            Err(Refusal::TransferToApplicant)
        );
    }

    #[test]
    fn a_step_someone_got_to_first_says_what_became_of_it() {
        let t = ticket(TicketStatus::Running);
        let mut x = assignment(AssignmentStatus::Decided, APPROVER);
        x.acted_by = Some(STAND_IN);
        x.decision = Some(Decided::Approve);
        match may_act(APPROVER, &facts(&t, &x, true)) {
            Err(Refusal::Overtaken(Became::Decided { by, decision, .. })) => {
                assert_eq!((by, decision), (STAND_IN, Decided::Approve));
            }
            other => panic!("{other:?}"),
        }
        let x = assignment(AssignmentStatus::Transferred, APPROVER);
        assert!(matches!(
            may_act(APPROVER, &facts(&t, &x, true)),
            Err(Refusal::Overtaken(Became::HandedOver { .. }))
        ));
        let x = assignment(AssignmentStatus::Waiting, APPROVER);
        assert_eq!(
            may_act(APPROVER, &facts(&t, &x, true)),
            Err(Refusal::NotYourTurn)
        );
        let w = ticket(TicketStatus::Withdrawn);
        let x = assignment(AssignmentStatus::Cancelled, APPROVER);
        assert_eq!(
            may_act(APPROVER, &facts(&w, &x, true)),
            Err(Refusal::Withdrawn)
        );
    }

    #[test]
    fn deactivated_people_neither_act_nor_are_acted_for() {
        let t = ticket(TicketStatus::Running);
        let x = assignment(AssignmentStatus::Pending, APPROVER);
        let gone = StepFacts {
            assignee_active: false,
            ..facts(&t, &x, true)
        };
        assert_eq!(may_act(STAND_IN, &gone), Err(Refusal::AssigneeInactive));
        let actor_gone = StepFacts {
            actor_active: false,
            ..facts(&t, &x, true)
        };
        assert_eq!(may_act(APPROVER, &actor_gone), Err(Refusal::NotYours));
        assert_eq!(
            may_receive(STAND_IN, false, &facts(&t, &x, true)),
            Err(Refusal::UnknownUser)
        );
    }

    #[test]
    fn an_administrator_hands_over_a_stranded_step_but_not_on_their_own_ticket() {
        let t = ticket(TicketStatus::Running);
        let x = assignment(AssignmentStatus::Pending, APPROVER);
        let stranded = StepFacts {
            assignee_active: false,
            ..facts(&t, &x, false)
        };
        assert_eq!(may_hand_over(ADMIN, true, &stranded), Ok(()));
        assert_eq!(
            may_hand_over(ADMIN, false, &stranded),
            Err(Refusal::AssigneeInactive)
        );
        let mut own = ticket(TicketStatus::Running);
        own.applicant_id = ADMIN;
        let stranded_own = StepFacts {
            ticket: &own,
            ..stranded
        };
        assert_eq!(
            may_hand_over(ADMIN, true, &stranded_own),
            Err(Refusal::ApplicantHandsOver)
        );
    }

    #[test]
    fn only_the_applicant_withdraws_urges_and_resubmits_and_only_when_it_fits() {
        let t = ticket(TicketStatus::Running);
        let now = t.created_at;
        assert_eq!(may_withdraw(APPLICANT, &t), Ok(()));
        assert_eq!(may_withdraw(APPROVER, &t), Err(Refusal::NotApplicant));
        assert_eq!(may_urge(APPLICANT, &t, now), Ok(()));
        let urged = Apply {
            last_urged_at: Some(now - chrono::Duration::minutes(10)),
            ..t.clone()
        };
        assert_eq!(
            may_urge(APPLICANT, &urged, now),
            Err(Refusal::UrgedRecently)
        );
        assert_eq!(
            may_urge(APPLICANT, &urged, now + chrono::Duration::minutes(51)),
            Ok(())
        );
        assert_eq!(may_resubmit(APPLICANT, &t), Err(Refusal::NotSentBack));
        assert_eq!(
            may_resubmit(APPLICANT, &ticket(TicketStatus::SentBack)),
            Ok(())
        );
        assert_eq!(
            may_withdraw(APPLICANT, &ticket(TicketStatus::Finished)),
            Err(Refusal::NotRunning)
        );
    }

    #[test]
    fn each_step_offers_what_fits_it_and_refusals_need_a_reason() {
        assert!(offered(NodeKind::Approval).contains(&Verb::SendBack));
        assert!(!offered(NodeKind::Review).contains(&Verb::Approve));
        assert_eq!(offered(NodeKind::Submit), &[]);
        assert!(Verb::Reject.needs_comment() && !Verb::Approve.needs_comment());
        assert_eq!(
            comment("  ", Refusal::CommentRequired),
            Err(Refusal::CommentRequired)
        );
        assert_eq!(comment(" why ", Refusal::CommentRequired), Ok("why"));
        assert_eq!(
            note(&"x".repeat(COMMENT_MAX_CHARS + 1)),
            Err(Refusal::TooLong("comment"))
        );
        for v in ["approve", "reject", "send_back", "complete", "transfer"] {
            assert_eq!(Verb::parse(v).map(Verb::as_str), Some(v));
        }
    }
}
