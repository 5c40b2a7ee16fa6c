//! A ticket moving on: starting the next node (approving by itself for
//! people who approved earlier in the round), settling a node from its
//! votes, and finishing the ticket — or ending it, rejected, sent back or
//! withdrawn. Pure counting lives in `flow::votes` and `flow::decision`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::audit::{self, Audit, Channel};
use super::super::{StoreResult, now};
use super::{copies, node_def, notices, ticket_event};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, ApproveUserId, ResourceId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::prepared;
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, delegations as d, grants, users,
};
use crate::db::stamp::At;
use crate::db::states::{
    AssignmentStatus, Decided, StepStatus, StoredForm, TicketEvent, TicketStatus,
};
use crate::flow::added::{self, Part, Placement};
use crate::flow::branches::{self, Next, Standing};
use crate::flow::decision::{self, Outcome};
use crate::flow::votes::{self, Seat};
use crate::flow::{
    FieldKind, Mode, NodeDef, NodeKind, NotifyEvent, OnReject, ProcessDef, ProcessKind,
};

// The nodes of a ticket as the subquery that finds the next one to start,
// and as the one that says whether its people are asked as it starts.
diesel::alias!(n as queued: Queued, n as starts: Starts);

/// Starts the next waiting node, approving by itself for people who
/// approved an earlier node of this round when the node de-duplicates, and
/// keeps going while nodes decide themselves. With no node left the
/// ticket is finished. `ticket` is running; only its fixed fields (id,
/// serial, title, applicant, kind) are read. `Round::Starts` when the
/// round has only just been submitted (filed, or resubmitted): no one has
/// approved anything in it yet, so there is nothing to carry over.
/// `closing` is the node that has just passed, closed in the statement
/// that starts the next.
pub(super) fn advance(
    conn: &mut DbConn,
    ticket: &Apply,
    def: &ProcessDef,
    round: Round,
    mut closing: Option<Closing>,
) -> StoreResult<()> {
    if def.has_parallel() {
        return advance_in_branches(conn, ticket, def, round, closing);
    }
    let apply = ticket.id;
    // The nodes whose people are all asked the moment they start (on
    // PostgreSQL by the statement that starts them): not a sequence, and
    // none that may approve by itself for people who approved before.
    let asked_as_started: Vec<String> = def
        .nodes
        .iter()
        .filter(|spec| {
            let approval = spec.kind == NodeKind::Approval;
            !(approval && (spec.mode == Mode::Sequence || (round == Round::Goes && spec.dedupe)))
        })
        .map(|spec| spec.key.clone())
        .collect();
    loop {
        let at = now();
        let starting = Starting {
            apply,
            at,
            kind: ticket.kind.as_str(),
            ask: &asked_as_started,
        };
        let Some(Started { node, asked }) = start_next(conn, starting, closing.take())? else {
            return finish(conn, ticket, def);
        };
        let known = asked.map(|(asked, reach)| Known::Asked(asked, reach));
        match run_started(conn, (ticket, def, round), &node, known, at)? {
            Ran::Passed(passed) => closing = Some(passed),
            Ran::Waits | Ran::Ended => return Ok(()),
        }
    }
}

/// What became of a node that has just started.
enum Ran {
    /// It decided itself: closed by whoever starts the next.
    Passed(Closing),
    /// Its people are asked (and told) and their votes awaited.
    Waits,
    /// It rejected or sent the ticket back: the ticket has stopped.
    Ended,
}

/// Runs a node that has just started (`at`): records it, approves by
/// itself for people who approved an earlier node of this round when it
/// de-duplicates, settles it and, when it waits for votes, asks its
/// people and starts its clock. `known`: its people as they were asked
/// with it, if they were.
fn run_started(
    conn: &mut DbConn,
    (ticket, def, round): (&Apply, &ProcessDef, Round),
    node: &Approve,
    known: Option<Known>,
    at: NaiveDateTime,
) -> StoreResult<Ran> {
    let apply = ticket.id;
    audit::record(
        conn,
        ticket_event(
            None,
            TicketEvent::StepStarted,
            apply,
            serde_json::json!({ "node": node.node_key }),
        ),
    )?;
    let spec = node_def(def, node)?;
    let approved_before = round == Round::Goes
        && spec.kind == NodeKind::Approval
        && spec.dedupe
        && auto_approve(conn, (apply, def), node, at)?;
    let moment = if approved_before {
        Moment::NodeStarts
    } else {
        Moment::NoVotesYet
    };
    Ok(
        match settle(conn, ticket, node, spec, def, moment, known)? {
            Settled::Passed(passed) => Ran::Passed(passed),
            Settled::Open {
                newly_pending,
                reach,
            } => {
                notices::ask(conn, def, ticket, node, &newly_pending, &reach)?;
                if spec.deadline.is_some() {
                    let since = node.started_at.unwrap_or(at);
                    super::super::timers::start(conn, (apply, node.id), def, spec, since)?;
                }
                Ran::Waits
            }
            Settled::Ended => Ran::Ended,
        },
    )
}

/// `advance` for a process whose branches run side by side: starts every
/// waiting node that may start now (`flow::branches::next`: the first of
/// each branch of a parallel gateway together, the node after it once
/// every branch is over), one at a time, and keeps going while nodes
/// decide themselves; with nothing running or waiting the ticket is
/// finished. The ticket is locked, so no other vote moves it meanwhile.
fn advance_in_branches(
    conn: &mut DbConn,
    ticket: &Apply,
    def: &ProcessDef,
    round: Round,
    closing: Option<Closing>,
) -> StoreResult<()> {
    let apply = ticket.id;
    if let Some(passed) = closing {
        close(conn, passed)?;
    }
    loop {
        let steps: Vec<(ApproveId, String, StepStatus)> = crate::direct!(conn, |c| n::table
            .filter(n::apply_id.eq(apply))
            .order(n::position)
            .select((n::id, n::node_key, n::status))
            .load(c))?;
        let standing: Vec<(&str, Standing)> = steps
            .iter()
            .map(|(_, key, status)| {
                let standing = match status {
                    StepStatus::Waiting => Standing::Waiting,
                    StepStatus::Active => Standing::Running,
                    _ => Standing::Over,
                };
                (key.as_str(), standing)
            })
            .collect();
        let at = match branches::next(def, &standing) {
            Next::Finish => return finish(conn, ticket, def),
            Next::Wait => return Ok(()),
            Next::Start(at) => at,
        };
        let started = now();
        let node: Approve = crate::direct!(conn, |c| prepared::update(
            n::table
                .find(steps[at].0)
                .filter(n::status.eq(StepStatus::Waiting)),
            (
                n::status.eq(StepStatus::Active),
                n::started_at.eq(At(started))
            ),
        )
        .returning(Approve::as_returning())
        .get_result(c))?;
        match run_started(conn, (ticket, def, round), &node, None, started)? {
            Ran::Passed(passed) => close(conn, passed)?,
            Ran::Waits => {}
            Ran::Ended => return Ok(()),
        }
    }
}

/// Closes a node that has passed, on its own.
fn close(conn: &mut DbConn, passed: Closing) -> StoreResult<()> {
    crate::direct!(conn, |c| prepared::update(
        n::table.find(passed.node),
        (n::status.eq(passed.status), n::decided_at.eq(At(passed.at))),
    )
    .execute(c))?;
    Ok(())
}

/// A node that has passed, to be closed (`status`, decided `at`) by the
/// statement that starts the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Closing {
    node: ApproveId,
    status: StepStatus,
    at: NaiveDateTime,
}

/// What starting a ticket's next node needs: the ticket, the moment, its
/// kind (for whoever stands in) and the nodes whose people are asked as
/// the node starts (by key).
struct Starting<'a> {
    apply: ApplyId,
    at: NaiveDateTime,
    kind: &'static str,
    ask: &'a [String],
}

/// A node just started, and, when it is one whose people are asked as it
/// starts and they were asked with it, them (as `ask_everyone` gives).
struct Started {
    node: Approve,
    asked: Option<(Vec<ApproveUser>, notices::Reach)>,
}

/// Starts the ticket's next waiting node and returns it, having closed
/// `closing` first; none left to start is `None`. On PostgreSQL one
/// statement closes the one, starts the other and, when its key is one of
/// `ask`'s, asks its people and reads how to reach them (`ctes`: each part
/// sees the nodes as they were, so all find the same next node; the
/// statement's reads see it and its people as they were, waiting). SQLite
/// starts it alone, and the people are asked as it settles.
fn start_next(
    conn: &mut DbConn,
    Starting {
        apply,
        at,
        kind,
        ask,
    }: Starting<'_>,
    closing: Option<Closing>,
) -> StoreResult<Option<Started>> {
    // The next node to start, as a subquery.
    let next = || {
        queued
            .filter(queued.field(n::apply_id).eq(apply))
            .filter(queued.field(n::status).eq(StepStatus::Waiting))
            .order(queued.field(n::position))
            .select(queued.field(n::id))
            .limit(1)
            .single_value()
    };
    let start = prepared::update(
        n::table.filter(n::id.nullable().eq(next())),
        (n::status.eq(StepStatus::Active), n::started_at.eq(At(at))),
    );
    let close = closing.map(|c| {
        prepared::update(
            n::table.find(c.node),
            (n::status.eq(c.status), n::decided_at.eq(At(c.at))),
        )
    });
    let DbConn::Pg(pg) = conn else {
        if let Some(close) = close {
            crate::direct!(conn, |c| close.execute(c))?;
        }
        let node = crate::direct!(conn, |c| start
            .returning(Approve::as_returning())
            .get_result(c))
        .optional()?;
        return Ok(node.map(|node| Started { node, asked: None }));
    };
    // The next node, when it is one whose people are asked as it starts.
    let asking = || {
        starts
            .filter(starts.field(n::id).nullable().eq(next()))
            .filter(starts.field(n::node_key).eq_any(ask))
            .select(starts.field(n::id))
    };
    let waiting = || {
        au::table
            .filter(au::approve_id.eq_any(asking()))
            .filter(au::status.eq(AssignmentStatus::Waiting))
    };
    let asked = prepared::update(waiting(), au::status.eq(AssignmentStatus::Pending));
    // Each delegation in effect from them for this kind of ticket.
    let standing_in = d::table.on(d::from_user_id
        .eq(au::user_id)
        .and(super::super::delegations::covering(At(at), kind)));
    let read = prepared::beside_each(
        n::table
            .filter(n::id.nullable().eq(next()))
            .select(n::all_columns),
        // Plain columns (an `ApproveUser`), to sit beside the node.
        waiting()
            .inner_join(users::table.on(users::id.eq(au::user_id)))
            .left_join(standing_in)
            .select((
                au::all_columns,
                (users::active, users::email),
                (d::to_user_id, d::starts_at).nullable(),
            )),
    );
    let rows: Vec<(Approve, Option<AskedRow>)> = match close {
        Some(close) => prepared::together(
            prepared::ctes(prepared::ctes(close, "started", start), "asked", asked),
            read,
        )
        .load(pg)?,
        None => prepared::together(prepared::ctes(start, "asked", asked), read).load(pg)?,
    };
    let (node, mut people) = prepared::taken_apart(rows);
    let Some(mut node) = node else {
        return Ok(None);
    };
    // As the statement left it.
    node.status = StepStatus::Active;
    node.started_at = Some(at);
    let asked = ask.contains(&node.node_key).then(|| {
        people.sort_by_key(|(x, _, _)| (x.position, x.id));
        asked_from(people)
    });
    Ok(Some(Started { node, asked }))
}

/// Where a ticket's round (from its last submission on) is as it moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Round {
    /// Just submitted: nothing decided in it yet.
    Starts,
    /// Under way: people may have approved earlier nodes.
    Goes,
}

/// Decides, as "auto", the assignments of a starting node whose people
/// approved an earlier node of the same round (since the ticket was last
/// submitted: approvals of a form that was sent back do not count).
/// Whether anyone's approval was carried over.
fn auto_approve(
    conn: &mut DbConn,
    (apply, def): (ApplyId, &ProcessDef),
    node: &Approve,
    at: NaiveDateTime,
) -> StoreResult<bool> {
    // Each round starts with a submit node, whose assignment is decided
    // as "submit"; a step an approval sent the ticket back to runs again
    // with every step after it. One statement finds the rounds, the steps
    // sent back to, and the approvals.
    type Earlier = (UserId, Option<Decided>, i32, Option<Channel>, bool, String);
    let earlier: Vec<Earlier> = crate::direct!(conn, |c| au::table
        .inner_join(n::table)
        .filter(au::apply_id.eq(apply))
        .filter(
            n::position
                .lt(node.position)
                .or(n::sent_back_from.is_not_null()),
        )
        .filter(
            au::decision
                .eq(Decided::Approve)
                .or(au::decision.eq(Decided::Auto))
                .or(au::decision.eq(Decided::Submit))
                .or(n::sent_back_from.is_not_null()),
        )
        .select((
            au::user_id,
            au::decision,
            n::position,
            au::channel,
            n::sent_back_from.is_not_null(),
            n::node_key,
        ))
        .load(c))?;
    let round = earlier
        .iter()
        .filter(|(_, d, ..)| *d == Some(Decided::Submit))
        .map(|(_, _, p, ..)| *p)
        .max()
        .unwrap_or(0);
    let place = |key: &str| def.nodes.iter().position(|n| n.key == key);
    // Each step sent back to: where it runs again, and its place in the
    // flow. An approval made before it, of it or a step after it, was
    // overtaken: that step is decided afresh.
    let again: Vec<(i32, Option<usize>)> = earlier
        .iter()
        .filter(|(.., sent_back_to, _)| *sent_back_to)
        .map(|(_, _, p, _, _, key)| (*p, place(key)))
        .collect();
    let overtaken = |p: i32, key: &str| {
        let at = place(key);
        again
            .iter()
            .any(|(from, target)| p < *from && at >= *target)
    };
    // An approval countersign's clock cast for someone (their deadline
    // passed) is not theirs to carry over.
    let approved: Vec<UserId> = earlier
        .iter()
        .filter(|(_, d, p, ch, _, key)| {
            *p > round
                && *p < node.position
                && matches!(d, Some(Decided::Approve | Decided::Auto))
                && *ch != Some(Channel::Timer)
                && !overtaken(*p, key)
                && !def.side_by_side(key, &node.node_key)
        })
        .map(|(u, ..)| *u)
        .collect();
    if approved.is_empty() {
        return Ok(false);
    }
    let waiting: Vec<ApproveUser> = crate::direct!(conn, |c| au::table
        .filter(au::approve_id.eq(node.id))
        .filter(au::status.eq(AssignmentStatus::Waiting))
        .select(ApproveUser::as_select())
        .load(c))?;
    let mut carried = false;
    for assignment in waiting
        .into_iter()
        .filter(|x| approved.contains(&x.user_id))
    {
        carried = true;
        crate::direct!(conn, |c| prepared::update(
            au::table.find(assignment.id),
            (
                au::status.eq(AssignmentStatus::Decided),
                au::decision.eq(Decided::Auto),
                au::acted_by.eq(assignment.user_id),
                au::channel.eq(Channel::System),
                au::decided_at.eq(At(at)),
            ),
        )
        .execute(c))?;
        audit::record(
            conn,
            Audit {
                on_behalf_of: Some(assignment.user_id),
                ..ticket_event(
                    None,
                    TicketEvent::AutoApproved,
                    apply,
                    serde_json::json!({ "node": node.node_key }),
                )
            },
        )?;
    }
    Ok(carried)
}

/// When `settle` runs: as the node starts (its people are still
/// waiting, some perhaps approved by themselves), as it starts with no
/// vote cast (none could have been), or after a vote on the active node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    NodeStarts,
    NoVotesYet,
    AfterVote,
}

/// What a node's votes came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    /// Still waiting for votes; `newly_pending` (assignment, person), in
    /// order, have just been asked: everyone as the node starts, or in a
    /// sequence the next person once the one before approved.
    Open {
        newly_pending: Vec<(ApproveUserId, UserId)>,
        /// How to reach them, when it was read as they were asked.
        reach: notices::Reach,
    },
    /// Approved or done: the ticket moves on, closing the node as it
    /// starts the next.
    Passed(Closing),
    /// Rejected or sent back: the ticket has stopped.
    Ended,
}

/// A node's live assignments (in the people's order) as the vote count
/// sees them: each decided one's vote, cast at its decision's time.
pub(super) fn seats(
    assignments: &[ApproveUser],
) -> Vec<Seat<(Option<NaiveDateTime>, ApproveUserId)>> {
    assignments
        .iter()
        .map(|x| Seat {
            vote: (x.status == AssignmentStatus::Decided)
                .then(|| votes::vote_of(x.decision.map(Decided::as_str))),
            cast: (x.decided_at, x.id),
        })
        .collect()
}

/// A step's live assignments (not cancelled, not handed over), in the
/// people's order: whose votes count.
pub(super) fn live_assignments(
    conn: &mut DbConn,
    node: ApproveId,
) -> StoreResult<Vec<ApproveUser>> {
    Ok(crate::direct!(conn, |c| live_of(node)
        .select(ApproveUser::as_select())
        .load(c))?)
}

/// The query of a step's live assignments, in the people's order
/// (`live_assignments`), for a caller that selects more beside them.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn live_of(node: ApproveId) -> _ {
    let (cancelled, transferred): (AssignmentStatus, AssignmentStatus) =
        (AssignmentStatus::Cancelled, AssignmentStatus::Transferred);
    au::table
        .filter(au::approve_id.eq(node))
        .filter(au::status.ne(cancelled))
        .filter(au::status.ne(transferred))
        .order((au::position, au::id))
}

/// A node's assignments, when the caller has read them already.
enum Known {
    /// Its live assignments as they are now.
    Live(Vec<ApproveUser>),
    /// Its people who were waiting, asked as it started, and how to
    /// reach them.
    Asked(Vec<ApproveUser>, notices::Reach),
}

/// Decides the node from its votes if they suffice; `known` are its
/// assignments when the caller has them.
fn settle(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    spec: &NodeDef,
    def: &ProcessDef,
    moment: Moment,
    known: Option<Known>,
) -> StoreResult<Settled> {
    let apply = ticket.id;
    // One person completes a task or review.
    let mode = if spec.kind == NodeKind::Approval {
        spec.mode
    } else {
        Mode::Any
    };
    // A node starting with no vote cast asks all its people at once (but
    // a sequence only its first): asked and read in one statement.
    let asked_all = moment == Moment::NoVotesYet && mode != Mode::Sequence;
    let mut reach = notices::Reach::new();
    let assignments = match known {
        Some(Known::Live(live)) => live,
        Some(Known::Asked(asked, known)) => {
            reach = known;
            asked
        }
        None if asked_all => {
            let (asked, known) = ask_everyone(conn, node.id, ticket.kind.as_str())?;
            reach = known;
            asked
        }
        None => live_assignments(conn, node.id)?,
    };
    // People added by hand before or after someone (加签) make a group
    // that votes as one seat.
    let parts = assignments
        .iter()
        .any(|x| x.added_for.is_some())
        .then(|| parts_of(&assignments));
    let (votes, count) = match &parts {
        Some(parts) => {
            let seats: Vec<_> = added::seats(parts).into_iter().map(|(_, s)| s).collect();
            (votes::votes(mode, &seats), seats.len())
        }
        None => (votes::votes(mode, &seats(&assignments)), assignments.len()),
    };
    let outcome = if assignments.is_empty() {
        Outcome::Approved
    } else {
        decision::decide(mode, count, &votes)
    };
    let at = now();
    match outcome {
        Outcome::Pending if parts.is_some() => {
            let parts = parts.unwrap_or_default();
            let newly_pending = ask_added(conn, mode, &assignments, &parts)?;
            Ok(Settled::Open {
                newly_pending,
                reach,
            })
        }
        Outcome::Pending => {
            let newly_pending: Vec<(ApproveUserId, UserId)> = if mode == Mode::Sequence {
                // Only the next in line is asked; the rest wait their turn.
                match assignments.iter().find(|x| {
                    x.status == AssignmentStatus::Waiting || x.status == AssignmentStatus::Pending
                }) {
                    Some(next) if next.status == AssignmentStatus::Waiting => {
                        crate::direct!(conn, |c| prepared::update(
                            au::table
                                .find(next.id)
                                .filter(au::status.eq(AssignmentStatus::Waiting)),
                            au::status.eq(AssignmentStatus::Pending),
                        )
                        .execute(c))?;
                        vec![(next.id, next.user_id)]
                    }
                    _ => Vec::new(),
                }
            } else if asked_all {
                assignments.iter().map(|x| (x.id, x.user_id)).collect()
            } else if moment != Moment::AfterVote
                || assignments
                    .iter()
                    .any(|x| x.status == AssignmentStatus::Waiting)
            {
                // After a vote someone is still waiting only when everyone
                // added before them by hand (加签) has dropped out: they
                // are asked now, or nobody would be.
                crate::direct!(conn, |c| prepared::update(
                    au::table
                        .filter(au::approve_id.eq(node.id))
                        .filter(au::status.eq(AssignmentStatus::Waiting)),
                    au::status.eq(AssignmentStatus::Pending),
                )
                .execute(c))?;
                assignments
                    .iter()
                    .filter(|x| x.status == AssignmentStatus::Waiting)
                    .map(|x| (x.id, x.user_id))
                    .collect()
            } else {
                Vec::new()
            };
            Ok(Settled::Open {
                newly_pending,
                reach,
            })
        }
        Outcome::Approved => {
            let done = if spec.kind == NodeKind::Approval {
                StepStatus::Approved
            } else {
                StepStatus::Done
            };
            cancel_open(conn, node.id, &assignments)?;
            if spec.deadline.is_some() {
                super::super::timers::stop_step(conn, node.id)?;
            }
            audit::record(
                conn,
                ticket_event(
                    None,
                    TicketEvent::StepPassed,
                    apply,
                    serde_json::json!({ "node": node.node_key }),
                ),
            )?;
            notices::notify(
                conn,
                def,
                NotifyEvent::NodeDone,
                ticket,
                Some(node),
                "",
                &[],
            )?;
            copies::by_rules(conn, ticket, def, &spec.cc, Some(&node.node_key))?;
            Ok(Settled::Passed(Closing {
                node: node.id,
                status: done,
                at,
            }))
        }
        Outcome::Rejected => {
            crate::direct!(conn, |c| prepared::update(
                n::table.find(node.id),
                (n::status.eq(StepStatus::Rejected), n::decided_at.eq(At(at))),
            )
            .execute(c))?;
            cancel_open(conn, node.id, &assignments)?;
            if spec.deadline.is_some() {
                super::super::timers::stop_step(conn, node.id)?;
            }
            let decided = assignments
                .iter()
                .filter(|x| x.status == AssignmentStatus::Decided);
            // The vote that rejected or sent it back, last cast.
            let deciding = decided
                .clone()
                .filter(|x| matches!(x.decision, Some(Decided::Reject | Decided::SendBack)))
                .max_by_key(|x| (x.decided_at, x.id));
            // Back to an earlier step, which runs again: the ticket goes on.
            if let Some(vote) = deciding.filter(|x| x.decision == Some(Decided::SendBack))
                && let Some(target) = &vote.send_back_to
            {
                let comment = vote.comment.clone();
                copies::by_rules(conn, ticket, def, &spec.cc, Some(&node.node_key))?;
                rewind(conn, ticket, def, node, target, &comment)?;
                return Ok(Settled::Ended);
            }
            // Sent back when the vote that decided it says so (or the
            // step's policy does), not because someone else once did.
            let sent_back = deciding.is_some_and(|x| x.decision == Some(Decided::SendBack))
                || spec.on_reject == OnReject::SendBack;
            let (ticket_status, action) = if sent_back {
                (TicketStatus::SentBack, TicketEvent::TicketSentBack)
            } else {
                (TicketStatus::Rejected, TicketEvent::TicketRejected)
            };
            end(conn, apply, ticket_status)?;
            // Sent back, it has not ended: its applicant may resubmit.
            if !sent_back {
                super::note_end(def, ticket_status);
            }
            // A rejected ticket's own clock stops; a ticket sent back to
            // its applicant keeps counting.
            if !sent_back && def.deadline.is_some() {
                super::super::timers::stop_ticket(conn, apply)?;
            }
            audit::record(
                conn,
                ticket_event(
                    None,
                    action,
                    apply,
                    serde_json::json!({ "node": node.node_key }),
                ),
            )?;
            // The reason of the vote that rejected or sent it back.
            let comment = deciding.map(|x| x.comment.clone()).unwrap_or_default();
            let event = if sent_back {
                NotifyEvent::SentBack
            } else {
                NotifyEvent::Rejected
            };
            notices::notify(conn, def, event, ticket, Some(node), &comment, &[])?;
            copies::by_rules(conn, ticket, def, &spec.cc, Some(&node.node_key))?;
            if !sent_back {
                copies::by_rules(conn, ticket, def, &def.cc, None)?;
            }
            Ok(Settled::Ended)
        }
    }
}

/// A step's assignments as parts of the count, each added person in the
/// group of whom they were added for (`flow::added`).
fn parts_of(assignments: &[ApproveUser]) -> Vec<Part<(Option<NaiveDateTime>, ApproveUserId)>> {
    assignments
        .iter()
        .zip(seats(assignments))
        .map(|(x, seat)| Part {
            seat,
            group: x.added_for.and_then(|whom| {
                let at = assignments.iter().position(|y| y.id == whom)?;
                let placement = x.placement.as_deref().and_then(Placement::parse)?;
                Some((at, placement))
            }),
        })
        .collect()
}

/// Asks whom a step with people added by hand waits for now: in each
/// open seat (in a sequence, the first), those added before it until
/// they approved, then the seat itself, then those added after it.
fn ask_added(
    conn: &mut DbConn,
    mode: Mode,
    assignments: &[ApproveUser],
    parts: &[Part<(Option<NaiveDateTime>, ApproveUserId)>],
) -> StoreResult<Vec<(ApproveUserId, UserId)>> {
    let open = added::seats(parts)
        .into_iter()
        .filter(|(_, s)| s.vote.is_none())
        .map(|(i, _)| i);
    let turn: Vec<usize> = if mode == Mode::Sequence {
        open.take(1).collect()
    } else {
        open.collect()
    };
    let mut asked = Vec::new();
    for seat in turn {
        for i in added::to_ask(parts, seat) {
            let x = &assignments[i];
            if x.status != AssignmentStatus::Waiting {
                continue;
            }
            crate::direct!(conn, |c| prepared::update(
                au::table
                    .find(x.id)
                    .filter(au::status.eq(AssignmentStatus::Waiting)),
                au::status.eq(AssignmentStatus::Pending),
            )
            .execute(c))?;
            asked.push((x.id, x.user_id));
        }
    }
    Ok(asked)
}

/// Asks everyone waiting on a starting node (they become pending) and
/// returns them, in the people's order, with how to reach them for a
/// ticket of `kind` where it was read with them: on PostgreSQL one
/// statement asks them and reads each with whether they are active, their
/// email and whoever stands in for them now (`WITH first AS (UPDATE …)
/// SELECT …`, which sees them as they were: waiting).
fn ask_everyone(
    conn: &mut DbConn,
    node: ApproveId,
    kind: &'static str,
) -> StoreResult<(Vec<ApproveUser>, notices::Reach)> {
    let waiting = au::table
        .filter(au::approve_id.eq(node))
        .filter(au::status.eq(AssignmentStatus::Waiting));
    let ask = prepared::update(waiting, au::status.eq(AssignmentStatus::Pending));
    let DbConn::Pg(pg) = conn else {
        let mut asked: Vec<ApproveUser> = crate::direct!(conn, |c| ask
            .returning(ApproveUser::as_returning())
            .get_results(c))?;
        asked.sort_unstable_by_key(|x| (x.position, x.id));
        return Ok((asked, notices::Reach::new()));
    };
    let at = At(now());
    // Each delegation in effect from them for this kind of ticket: a row
    // each, the latest to start taken below.
    let standing_in = d::table.on(d::from_user_id
        .eq(au::user_id)
        .and(super::super::delegations::covering(at, kind)));
    let rows: Vec<AskedRow> = prepared::together(
        ask.returning(au::id),
        waiting
            .inner_join(users::table.on(users::id.eq(au::user_id)))
            .left_join(standing_in)
            .order((au::position, au::id))
            .select((
                ApproveUser::as_select(),
                (users::active, users::email),
                (d::to_user_id, d::starts_at).nullable(),
            )),
    )
    .load(pg)?;
    Ok(asked_from(rows))
}

/// A person asked as a node starts, as they were (waiting), whether they
/// are active, their email, and a delegation from them in effect.
type AskedRow = (ApproveUser, (bool, String), Option<(UserId, NaiveDateTime)>);

/// The people asked (pending now), in the rows' order, and how to reach
/// each: their latest delegation in effect names whoever stands in.
fn asked_from(rows: Vec<AskedRow>) -> (Vec<ApproveUser>, notices::Reach) {
    let mut asked: Vec<ApproveUser> = Vec::with_capacity(rows.len());
    let mut reach = notices::Reach::new();
    for (mut x, (active, email), delegation) in rows {
        let known = reach.entry(x.user_id).or_insert_with(|| notices::Reached {
            active,
            email,
            stand_in: None,
        });
        if let Some((to, since)) = delegation
            && known.stand_in.is_none_or(|(_, latest)| since > latest)
        {
            known.stand_in = Some((to, since));
        }
        if asked.last().is_none_or(|last| last.id != x.id) {
            x.status = AssignmentStatus::Pending;
            asked.push(x);
        }
    }
    (asked, reach)
}

/// Cancels the people of a settled node still waiting or asked, if any
/// (`assignments`, its live ones as just read, says whether there are).
fn cancel_open(conn: &mut DbConn, node: ApproveId, assignments: &[ApproveUser]) -> StoreResult<()> {
    let open = assignments.iter().any(|x| {
        matches!(
            x.status,
            AssignmentStatus::Pending | AssignmentStatus::Waiting
        )
    });
    if open {
        cancel_pending(conn, node)?;
    }
    Ok(())
}

fn cancel_pending(conn: &mut DbConn, node: ApproveId) -> StoreResult<()> {
    crate::direct!(conn, |c| prepared::update(
        au::table.filter(au::approve_id.eq(node)).filter(
            au::status
                .eq(AssignmentStatus::Pending)
                .or(au::status.eq(AssignmentStatus::Waiting)),
        ),
        au::status.eq(AssignmentStatus::Cancelled),
    )
    .execute(c))?;
    Ok(())
}

/// Closes a ticket that did not finish: later nodes and their people are cancelled.
pub(super) fn end(
    conn: &mut DbConn,
    apply: ApplyId,
    ticket_status: TicketStatus,
) -> StoreResult<()> {
    let at = now();
    cancel_rest(conn, apply)?;
    crate::direct!(conn, |c| prepared::update(
        a::table.find(apply),
        (
            a::status.eq(ticket_status),
            a::finished_at.eq(At(at)),
            a::updated_at.eq(At(at)),
        ),
    )
    .execute(c))?;
    Ok(())
}

/// Cancels the ticket's steps that wait or run, and their open assignments.
fn cancel_rest(conn: &mut DbConn, apply: ApplyId) -> StoreResult<()> {
    // Fixed alternatives are spelled out rather than `IN (…)`, which
    // diesel cannot keep prepared on SQLite.
    let open: Vec<ApproveId> = crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply))
        .filter(
            n::status
                .eq(StepStatus::Waiting)
                .or(n::status.eq(StepStatus::Active)),
        )
        .select(n::id)
        .load(c))?;
    crate::direct!(conn, |c| prepared::update(
        n::table.filter(n::id.eq_any(&open)),
        n::status.eq(StepStatus::Cancelled),
    )
    .execute(c))?;
    for node in open {
        cancel_pending(conn, node)?;
    }
    Ok(())
}

/// The approval `from` sent the ticket back to the earlier step
/// `target` (its vote saying why, `comment`): the steps still to come
/// are cancelled, `target` and every step after it are planned afresh
/// from the form as it is now and appended after the rest (the rows
/// before are kept: history), and the ticket moves on from `target`,
/// whose people are asked again.
fn rewind(
    conn: &mut DbConn,
    ticket: &Apply,
    def: &ProcessDef,
    from: &Approve,
    target: &str,
    comment: &str,
) -> StoreResult<()> {
    let apply = ticket.id;
    cancel_rest(conn, apply)?;
    let (applicant, business) = super::applicant_and_business(conn, ticket)?;
    let form: StoredForm = crate::direct!(conn, |c| a::table.find(apply).select(a::form).first(c))?;
    let (plan, ids) = super::filing::plan_for(conn, def, &applicant, business.as_deref(), &form.0)?;
    let from_target: Vec<_> = plan
        .nodes
        .into_iter()
        .skip_while(|n| n.key != target)
        .collect();
    let last: Option<i32> = crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply))
        .select(diesel::dsl::max(n::position))
        .first(c))?;
    let offset = last.unwrap_or(0) + 1;
    super::filing::insert_plan(
        conn,
        apply,
        &crate::flow::plan::Plan { nodes: from_target },
        &ids,
        def,
        (offset, Channel::System),
    )?;
    crate::direct!(conn, |c| diesel::update(
        n::table
            .filter(n::apply_id.eq(apply))
            .filter(n::position.eq(offset)),
    )
    .set(n::sent_back_from.eq(&from.node_key))
    .execute(c))?;
    audit::record(
        conn,
        ticket_event(
            None,
            TicketEvent::Returned,
            apply,
            serde_json::json!({ "node": from.node_key, "to_step": target, "reason": comment }),
        ),
    )?;
    advance(conn, ticket, def, Round::Goes, None)
}

/// Every node approved or done: the running ticket is finished, and an
/// access ticket grants the applicant what it asked for.
fn finish(conn: &mut DbConn, ticket: &Apply, def: &ProcessDef) -> StoreResult<()> {
    let at = now();
    let apply = ticket.id;
    let finished = prepared::update(
        a::table.find(apply),
        (
            a::status.eq(TicketStatus::Finished),
            a::finished_at.eq(At(at)),
            a::updated_at.eq(At(at)),
        ),
    );
    // On PostgreSQL the applicant, whom the finish is usually told to, is
    // read in the same statement.
    let mut reach = notices::Reach::new();
    match conn {
        DbConn::Pg(pg) => {
            let applicant = users::table
                .find(ticket.applicant_id)
                .select((users::active, users::email));
            if let Some((active, email)) = prepared::together(finished, applicant)
                .get_result::<(bool, String)>(pg)
                .optional()?
            {
                let reached = notices::Reached {
                    active,
                    email,
                    stand_in: None,
                };
                reach.insert(ticket.applicant_id, reached);
            }
        }
        DbConn::Sqlite(sqlite) => {
            finished.execute(sqlite)?;
        }
    }
    if def.deadline.is_some() {
        super::super::timers::stop_ticket(conn, apply)?;
    }
    super::note_end(def, TicketStatus::Finished);
    audit::record(
        conn,
        ticket_event(None, TicketEvent::Finished, apply, serde_json::json!({})),
    )?;
    notices::notify_reaching(
        conn,
        (def, NotifyEvent::Finished, ticket),
        None,
        "",
        &[],
        &reach,
    )?;
    copies::by_rules(conn, ticket, def, &def.cc, None)?;
    if def.kind == ProcessKind::Access {
        // As it is now: the form may have grown since `ticket` was read.
        let values: StoredForm =
            crate::direct!(conn, |c| a::table.find(apply).select(a::form).first(c))?;
        let wanted: Vec<ResourceId> = def
            .fields()
            .filter(|(_, f)| f.kind == FieldKind::Resource)
            .filter_map(|(_, f)| values.get(&f.key).and_then(|v| v.as_array()).cloned())
            .flatten()
            .filter_map(|v| {
                v.as_i64()
                    .and_then(|id| i32::try_from(id).ok())
                    .map(ResourceId)
            })
            .collect();
        for resource in &wanted {
            crate::direct!(conn, |c| diesel::insert_into(grants::table)
                .values((
                    grants::user_id.eq(ticket.applicant_id),
                    grants::resource_id.eq(resource),
                    grants::apply_id.eq(apply),
                    grants::granted_at.eq(At(at)),
                ))
                .execute(c))?;
        }
        // One line in the timeline for all that was granted.
        if !wanted.is_empty() {
            audit::record(
                conn,
                ticket_event(
                    None,
                    TicketEvent::Granted,
                    apply,
                    serde_json::json!({ "resources": wanted.iter().map(|r| r.0).collect::<Vec<_>>() }),
                ),
            )?;
        }
    }
    Ok(())
}

/// Settles `node` after a vote (or after one of its people was dropped)
/// and moves the ticket on. `live` are the node's live assignments as
/// they are now, when the caller has them.
pub(super) fn after_vote(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    spec: &NodeDef,
    def: &ProcessDef,
    live: Option<Vec<ApproveUser>>,
) -> StoreResult<()> {
    match settle(
        conn,
        ticket,
        node,
        spec,
        def,
        Moment::AfterVote,
        live.map(Known::Live),
    )? {
        Settled::Passed(closing) => advance(conn, ticket, def, Round::Goes, Some(closing)),
        // In a sequence, the next person's turn has come.
        Settled::Open {
            newly_pending,
            reach,
        } if !newly_pending.is_empty() => {
            notices::ask(conn, def, ticket, node, &newly_pending, &reach)
        }
        Settled::Open { .. } | Settled::Ended => Ok(()),
    }
}

/// Settles an active step again after one of its people was dropped (a
/// deactivated person's place skipped): the votes it has may now decide
/// it. A step that has not started settles when it starts.
pub(crate) fn resettle(
    conn: &mut DbConn,
    ticket: &Apply,
    node: ApproveId,
    def: &ProcessDef,
) -> StoreResult<()> {
    let Some(node) = n::table
        .find(node)
        .filter(n::status.eq(StepStatus::Active))
        .select(Approve::as_select())
        .first::<Approve>(conn)
        .optional()?
    else {
        return Ok(());
    };
    let spec = node_def(def, &node)?;
    after_vote(conn, ticket, &node, spec, def, None)
}
