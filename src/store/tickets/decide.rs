//! Acting on one assignment through the door: deciding or completing it,
//! and handing it over. Each locks what it expects to change — the
//! people, the ticket, then the step — checks the rules against what it
//! locked, and moves the ticket on; whoever gets there first wins, once.

use diesel::prelude::*;

use super::super::audit::{self, Channel};
use super::super::directory::DbLookup;
use super::super::users::{
    SessionFacts, SessionKey, SessionUser, session_select, session_user, session_user_of,
};
use super::super::{StoreResult, now};
use super::door::{Decision, Done};
use super::rules::{self, StepFacts};
use super::{acted, node_def, not_running, overtaken, progress};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, UserId};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::prepared;
use crate::db::schema::{applies as a, approve_users as au, approves as n, users};
use crate::db::stamp::At;
use crate::db::states::{
    AssignmentStatus, Decided, ReviewOutcome, StepStatus, StoredForm, TicketEvent, TicketStatus,
};
use crate::flow::form::{Values, parse_form};
use crate::flow::votes;
use crate::flow::{FieldDef, Mode, NodeKind, ProcessKind, decision};
use crate::refusal::Refusal;

/// Whether `actor` may act on an assignment of `assignee` for a process of
/// `kind`: it is theirs, or they stand in for the assignee right now.
pub(crate) fn acts_for(
    conn: &mut DbConn,
    actor: UserId,
    assignee: UserId,
    kind: ProcessKind,
) -> StoreResult<bool> {
    if actor == assignee {
        return Ok(true);
    }
    Ok(super::super::delegations::acting_for(conn, assignee, now(), kind)? == Some(actor))
}

/// An assignment on a ticket, with its ticket and step: what acting on
/// it needs to know.
pub(super) struct Target {
    pub(super) assignment: ApproveUser,
    pub(super) ticket: Apply,
    pub(super) node_key: String,
    pub(super) node_kind: NodeKind,
    /// Whether the assignee may still act in countersign at all.
    pub(super) assignee_active: bool,
}

/// The select of the assignment `$assignment` of ticket `$apply` with
/// its step, its ticket and whether its person is active (a macro: what
/// it returns is read per backend).
macro_rules! target_select {
    ($apply:expr, $assignment:expr) => {
        au::table
            .inner_join(n::table)
            .inner_join(a::table)
            .inner_join(users::table.on(users::id.eq(au::user_id)))
            .filter(au::id.eq($assignment))
            .filter(au::apply_id.eq($apply))
            // Plain columns (an `ApproveUser`, an `Apply`, each in its
            // fields' order), so that it can sit beside another read.
            .select((
                au::all_columns,
                n::node_key,
                n::kind,
                crate::db::models::APPLY_COLUMNS,
                users::active,
            ))
    };
}

/// A row of `target_select`.
type TargetRow = (ApproveUser, String, NodeKind, Apply, bool);

impl Target {
    fn of((assignment, node_key, node_kind, ticket, assignee_active): TargetRow) -> Target {
        Target {
            assignment,
            ticket,
            node_key,
            node_kind,
            assignee_active,
        }
    }
}

/// The assignment `assignment` of ticket `apply`, if it is one of its own.
pub(super) fn target(
    conn: &mut DbConn,
    apply: ApplyId,
    assignment: ApproveUserId,
) -> StoreResult<Target> {
    let found = crate::direct!(conn, |c| target_select!(apply, assignment)
        .first::<TargetRow>(c))
    .optional()?;
    Ok(Target::of(found.ok_or(Refusal::NotFound)?))
}

/// The assignment `assignment` of ticket `apply` (if it is one of its
/// own), and which of `actor` and its person are active, locked as
/// `still_active` locks them. On PostgreSQL one statement: the people's
/// rows are share-locked beside the read of the assignment, which locks
/// nothing (so the order of the locks is still the people's, then the
/// ticket's). Acting through a web session (`session`), its person is
/// read in the same statement: refused as `SignedOut` when the session
/// has ended or its person was deactivated (an assignment that is not
/// there is `NotFound` first, on both backends).
fn target_and_active(
    conn: &mut DbConn,
    apply: ApplyId,
    assignment: ApproveUserId,
    (actor, session): (UserId, Option<SessionKey>),
) -> StoreResult<(Target, Vec<UserId>, Option<SessionUser>)> {
    let DbConn::Pg(pg) = conn else {
        let target = target(conn, apply, assignment)?;
        let user = match session {
            Some(key) => Some(session_user(conn, key)?.ok_or(Refusal::SignedOut)?),
            None => None,
        };
        let active = still_active(conn, &[actor, target.assignment.user_id])?;
        return Ok((target, active, user));
    };
    let assignee = au::table
        .find(assignment)
        .select(au::user_id)
        .single_value();
    let people = users::table
        .filter(users::id.eq(actor).or(users::id.nullable().eq(assignee)))
        .filter(users::active.eq(true))
        .for_share();
    let Some(key) = session else {
        let rows: Vec<(TargetRow, Option<UserId>)> =
            prepared::beside_each(target_select!(apply, assignment), people.select(users::id))
                .load(pg)?;
        let (row, active) = prepared::taken_apart(rows);
        return Ok((Target::of(row.ok_or(Refusal::NotFound)?), active, None));
    };
    // The session's person beside the step: no round trip of its own.
    // The session's generation is checked on the actor's locked row too:
    // a sign-out elsewhere that commits while this waits for the lock
    // is seen there, where the unlocked read beside it would miss it.
    let at = At(now());
    type Row = ((TargetRow, Option<SessionFacts>), Option<(UserId, i32)>);
    let rows: Vec<Row> = prepared::beside_each(
        prepared::beside_each(target_select!(apply, assignment), session_select!(key, at)),
        people.select((users::id, users::session_epoch)),
    )
    .load(pg)?;
    let (first, locked) = prepared::taken_apart(rows);
    let (row, facts) = first.ok_or(Refusal::NotFound)?;
    let signed_out = locked
        .iter()
        .any(|(id, epoch)| *id == actor && *epoch != key.epoch);
    let facts = facts.filter(|_| !signed_out).ok_or(Refusal::SignedOut)?;
    let user = session_user_of(conn, facts)?;
    let active = locked.into_iter().map(|(id, _)| id).collect();
    Ok((Target::of(row), active, Some(user)))
}

/// Which of `people` are active. On PostgreSQL their rows stay share-locked
/// until the transaction ends, so a deactivation (which updates the row)
/// either waits for this action or this action sees it: someone being
/// deactivated at that very moment never decides, nor is handed a step.
/// Taken before the ticket's lock, in the order a deactivation takes its
/// locks (the person, then their tickets), so the two never deadlock.
pub(super) fn still_active(conn: &mut DbConn, people: &[UserId]) -> StoreResult<Vec<UserId>> {
    let mut ids = people.to_vec();
    ids.sort();
    ids.dedup();
    let active = users::table
        .filter(crate::db::one_of::one_of(users::id, ids))
        .filter(users::active.eq(true))
        .select(users::id);
    Ok(match conn {
        DbConn::Pg(pg) => active.for_share().load(pg)?,
        DbConn::Sqlite(sqlite) => active.load(sqlite)?,
    })
}

/// Checks `rule` for `actor` on `t` (`acts_for`: theirs, or their
/// stand-in's now), with the people's activity as locked when `active`
/// is given. Refused, it says no more than the actor may know: a step of
/// someone else's on a ticket they may not see is simply not there, and
/// one someone got to first says who and when.
pub(super) fn check(
    conn: &mut DbConn,
    t: &Target,
    (actor, acts_for): (UserId, bool),
    rule: impl Fn(&StepFacts<'_>) -> Result<(), Refusal>,
    active: Option<&[UserId]>,
) -> StoreResult<()> {
    let facts = StepFacts {
        ticket: &t.ticket,
        assignment: &t.assignment,
        node_kind: t.node_kind,
        assignee_active: active.map_or(t.assignee_active, |a| a.contains(&t.assignment.user_id)),
        acts_for,
        actor_active: active.is_none_or(|a| a.contains(&actor)),
    };
    let Err(refusal) = rule(&facts) else {
        return Ok(());
    };
    if !acts_for || t.assignment.status != AssignmentStatus::Pending {
        let admin = super::super::users::is_admin(conn, actor)?;
        if !super::super::ticket_views::may_view(conn, &t.ticket, actor, admin)? {
            return Err(Refusal::NotFound.into());
        }
    }
    Err(explained(conn, &t.assignment, refusal)?.into())
}

/// A refusal that someone got there first, with who and when looked up.
fn explained(
    conn: &mut DbConn,
    assignment: &ApproveUser,
    refusal: Refusal,
) -> StoreResult<Refusal> {
    Ok(match refusal {
        Refusal::Overtaken(_) => Refusal::Overtaken(overtaken::became(conn, assignment)?),
        other => other,
    })
}

/// The assignment as it is now, after a conditional update found it
/// changed: what became of it.
pub(super) fn overtaken_now(conn: &mut DbConn, assignment: ApproveUserId) -> StoreResult<Refusal> {
    let now: ApproveUser = au::table
        .find(assignment)
        .select(ApproveUser::as_select())
        .first(conn)?;
    Ok(Refusal::Overtaken(overtaken::became(conn, &now)?))
}

/// `$then` with `$lock`, the update that locks the running ticket
/// `$apply` (its row version moves on), writing a completed step's form
/// (and a review's outcome) `$form` with it: one statement for both. A
/// macro: each form of it is a statement of its own type.
macro_rules! ticket_lock {
    ($apply:expr, $form:expr, |$lock:ident| $then:expr) => {{
        let target = a::table
            .find($apply)
            .filter(a::status.eq(TicketStatus::Running));
        let moved = (
            a::row_version.eq(a::row_version + 1),
            a::updated_at.eq(At(now())),
        );
        match $form {
            None => {
                let $lock = prepared::update(target, moved);
                $then
            }
            Some((form, None)) => {
                let $lock = prepared::update(target, (moved, a::form.eq(form)));
                $then
            }
            Some((form, Some(outcome))) => {
                let $lock =
                    prepared::update(target, (moved, a::form.eq(form), a::outcome.eq(*outcome)));
                $then
            }
        }
    }};
}

/// Locks the running ticket (its row version moves on), or says why it
/// no longer runs.
pub(super) fn lock_running(conn: &mut DbConn, apply: ApplyId) -> StoreResult<()> {
    lock_writing(conn, apply, None)
}

/// Locks the running ticket as `lock_running` does, writing a completed
/// step's form (and a review's outcome) with it: one statement for both.
fn lock_writing(
    conn: &mut DbConn,
    apply: ApplyId,
    form: Option<&(StoredForm, Option<ReviewOutcome>)>,
) -> StoreResult<()> {
    // Where the ticket's audit chain ends comes back with the lock, so its
    // events follow on without reading it again (`held::known_head`).
    let head: Option<(i32, Option<String>)> =
        ticket_lock!(apply, form, |lock| crate::direct!(conn, |c| lock
            .returning((a::audit_seq, a::audit_hash))
            .get_result(c)
            .optional()))?;
    let Some((seq, hash)) = head else {
        return Err(not_running(conn, apply)?);
    };
    super::super::held::known_head(apply.0, super::super::chain::Head { seq, hash });
    Ok(())
}

/// Locks the running ticket as `lock_writing` does (writing a completed
/// step's form with it), then the active step of `mine`, which is
/// returned; or says which of them was no longer as expected. On
/// PostgreSQL one statement: `WITH first AS (UPDATE applies … RETURNING
/// id) UPDATE approves … AND EXISTS (SELECT 1 FROM first) RETURNING …`,
/// which locks the ticket before the step, as two statements would.
fn lock_ticket_and_step(
    conn: &mut DbConn,
    mine: &ApproveUser,
    form: Option<&(StoredForm, Option<ReviewOutcome>)>,
) -> StoreResult<Approve> {
    let apply = mine.apply_id;
    let DbConn::Pg(pg) = conn else {
        lock_writing(conn, apply, form)?;
        return crate::direct!(conn, |c| prepared::update(
            n::table
                .find(mine.approve_id)
                .filter(n::status.eq(StepStatus::Active)),
            n::row_version.eq(n::row_version + 1),
        )
        .returning(Approve::as_returning())
        .get_result::<Approve>(c))
        .optional()?
        .map_or_else(|| Err(overtaken_now(conn, mine.id)?.into()), Ok);
    };
    // The step comes back with where the ticket's audit chain ends, read
    // from the ticket's row as locked: its events follow on without
    // another statement (`held::known_head`).
    let step = prepared::update(
        n::table
            .find(mine.approve_id)
            .filter(n::status.eq(StepStatus::Active))
            .filter(prepared::first_changed()),
        n::row_version.eq(n::row_version + 1),
    )
    .returning((
        Approve::as_returning(),
        prepared::of_first(a::audit_seq),
        prepared::of_first(a::audit_hash),
    ));
    let locked: Option<(Approve, i32, Option<String>)> =
        ticket_lock!(apply, form, |lock| prepared::together(
            lock.returning((a::id, a::audit_seq, a::audit_hash)),
            step
        )
        .get_result(pg))
        .optional()?;
    if let Some((node, seq, hash)) = locked {
        super::super::held::known_head(apply.0, super::super::chain::Head { seq, hash });
        return Ok(node);
    }
    // The ticket no longer runs, or (it runs) the step was settled first.
    let now: TicketStatus = a::table.find(apply).select(a::status).first(pg)?;
    if now != TicketStatus::Running {
        return Err(rules::closed(now).into());
    }
    Err(overtaken_now(conn, mine.id)?.into())
}

/// What completing a step writes on its ticket — the form with the step's
/// fields, and a review's outcome — when the request is one the step
/// takes as it is (as read, before the locks). Anything else is `None`,
/// and the checks after the locks say what is wrong with it.
fn completed_form(
    conn: &mut DbConn,
    (target, actor): (&Target, UserId),
    def: &crate::flow::ProcessDef,
    decision: &Decision,
) -> Option<(StoredForm, Option<ReviewOutcome>)> {
    let Decision::Complete { fields, outcome } = decision else {
        return None;
    };
    // Where branches run side by side another step may write the form
    // meanwhile: the step's values go into the form as it is once locked.
    if def.has_parallel() {
        return None;
    }
    let spec = def.node(&target.node_key)?;
    if !rules::offered(spec.kind).contains(&decision.verb()) {
        return None;
    }
    let (values, outcome) =
        completion(conn, spec, fields, outcome, (actor, target.ticket.id)).ok()?;
    let mut form = target.ticket.form.clone();
    form.0.extend(values);
    Some((form, outcome))
}

/// A completed step's values and a review's outcome (a review is
/// completed with one of its outcomes; a task has none), or why the step
/// does not take them.
fn completion(
    conn: &mut DbConn,
    spec: &crate::flow::NodeDef,
    fields: &super::door::Raw,
    outcome: &Option<String>,
    (actor, apply): (UserId, ApplyId),
) -> Result<(Values, Option<ReviewOutcome>), Refusal> {
    let parsed = {
        let refs: Vec<&FieldDef> = spec.fields.iter().collect();
        parse_form(
            &refs,
            fields,
            &DbLookup::new(conn).with_files(actor, Some(apply)),
        )
    };
    let outcome = outcome.as_deref().filter(|o| !o.is_empty());
    let known = outcome.and_then(ReviewOutcome::parse);
    match spec.kind {
        NodeKind::Review if known.is_none() => {
            return Err(Refusal::OutcomeRequired(parsed.err().unwrap_or_default()));
        }
        NodeKind::Task if outcome.is_some() => return Err(Refusal::WrongAction),
        _ => {}
    }
    Ok((parsed.map_err(Refusal::Fields)?, known))
}

/// Records one decision and moves the ticket on.
pub(super) fn decide(
    conn: &mut DbConn,
    (apply, assignment): (ApplyId, ApproveUserId),
    (actor, session): (UserId, Option<SessionKey>),
    channel: Channel,
    decision: Decision,
    comment: &str,
) -> StoreResult<(Done, Option<SessionUser>)> {
    // The step as read, with both people still active (and staying so
    // until this commits), and the session acted through, if any.
    let (target, active, user) = target_and_active(conn, apply, assignment, (actor, session))?;
    let (mine, ticket) = (&target.assignment, &target.ticket);
    let who = (actor, acts_for(conn, actor, mine.user_id, ticket.kind)?);
    // Theirs (or their stand-in's), open, and the ticket running.
    check(
        conn,
        &target,
        who,
        |f| rules::may_act(actor, f),
        Some(&active),
    )?;
    // Lock the ticket, then the step, in that order, checking their state.
    // A completed step's form is written with the ticket's lock; should
    // anything below refuse, the action rolls back with it.
    let def = super::def_of(conn, ticket)?;
    let form = completed_form(conn, (&target, actor), &def, &decision);
    let node = lock_ticket_and_step(conn, mine, form.as_ref())?;
    let spec = node_def(&def, &node)?;
    let verb = decision.verb();
    if !rules::offered(spec.kind).contains(&verb) {
        return Err(Refusal::WrongAction.into());
    }
    let comment = if verb.needs_comment() {
        rules::comment(comment, Refusal::CommentRequired)?
    } else {
        rules::note(comment)?
    };
    // Sent back to an earlier step: one the approval may send it to.
    let back_to = match &decision {
        Decision::SendBack { to: Some(target) } => {
            if !spec.send_back_to_earlier {
                return Err(Refusal::SendBackNotAllowed.into());
            }
            let rows = step_rows(conn, ticket.id)?;
            if !rules::send_back_targets(&def, &node.node_key, &rows).contains(&target.as_str()) {
                return Err(Refusal::SendBackTarget.into());
            }
            Some(target.clone())
        }
        _ => None,
    };
    // Not taken as it was read before the locks: why not (or, should a
    // person or resource it names have come back meanwhile, taken now).
    let late = match &decision {
        Decision::Complete { fields, outcome } if form.is_none() => {
            Some(completion(conn, spec, fields, outcome, (actor, ticket.id))?)
        }
        _ => None,
    };
    // In a sequence, only the one whose turn it is votes.
    let read_before = if spec.kind == NodeKind::Approval && spec.mode == Mode::Sequence {
        let others = progress::live_assignments(conn, node.id)?;
        // With people added by hand (加签) the step asks whose turn it
        // is (they are pending), as `progress` counts it.
        let added = others.iter().any(|x| x.added_for.is_some());
        let index = others.iter().position(|x| x.id == mine.id).unwrap_or(0);
        let votes = votes::votes(spec.mode, &progress::seats(&others));
        if !added && !decision::may_vote(spec.mode, others.len(), &votes, index) {
            return Err(Refusal::NotYourTurn.into());
        }
        Some(others)
    } else {
        None
    };
    let at = now();
    let vote = Vote {
        decision: decision.stored(),
        actor,
        channel,
        comment,
        at,
    };
    // The step's live assignments with this vote in them, for settling.
    let mut live = record_vote(conn, mine, &node, &vote, read_before)?;
    super::note_vote(channel, vote.decision);
    // Files the step's form carries are now the ticket's.
    if spec
        .fields
        .iter()
        .any(|f| f.kind == crate::flow::FieldKind::File)
    {
        let values = match (&form, &late) {
            (Some((form, _)), _) => Some(&form.0),
            (None, Some((values, _))) => Some(values),
            _ => None,
        };
        if let Some(values) = values {
            let refs: Vec<&FieldDef> = spec.fields.iter().collect();
            super::filing::attach_files(conn, ticket.id, &refs, values, actor)?;
        }
    }
    if let Some(target) = &back_to {
        crate::direct!(conn, |c| diesel::update(au::table.find(mine.id))
            .set(au::send_back_to.eq(target))
            .execute(c))?;
        for x in live.iter_mut().filter(|x| x.id == mine.id) {
            x.send_back_to = Some(target.clone());
        }
    }
    if let Some((values, outcome)) = late {
        // As it is now, under the ticket's lock: a step beside this one
        // may have written its fields since it was read.
        let mut form: StoredForm =
            crate::direct!(conn, |c| a::table.find(ticket.id).select(a::form).first(c))?;
        form.0.extend(values);
        match outcome {
            Some(outcome) => crate::direct!(conn, |c| prepared::update(
                a::table.find(ticket.id),
                (a::form.eq(form), a::outcome.eq(outcome)),
            )
            .execute(c))?,
            None => crate::direct!(conn, |c| prepared::update(
                a::table.find(ticket.id),
                a::form.eq(form),
            )
            .execute(c))?,
        };
    }
    let event = match decision {
        Decision::Approve => TicketEvent::Approved,
        Decision::Reject => TicketEvent::Rejected,
        Decision::SendBack { .. } => TicketEvent::SentBack,
        Decision::Complete { .. } => TicketEvent::Completed,
    };
    audit::record(
        conn,
        acted(
            (actor, mine.user_id, channel),
            event,
            ticket.id,
            match &back_to {
                Some(step) => {
                    serde_json::json!({ "node": node.node_key, "comment": comment, "to_step": step })
                }
                None => serde_json::json!({ "node": node.node_key, "comment": comment }),
            },
        ),
    )?;
    progress::after_vote(conn, ticket, &node, spec, &def, Some(live))?;
    Ok((Done::Decided, user))
}

/// Refuses (`AlreadyOnNode`) when any of `people` is already on step
/// `node`: still to decide there, or decided (in a sequence, later people
/// are waiting for their turn). The caller has locked the ticket, so two
/// actions naming the same person cannot both pass.
pub(super) fn not_on_step(
    conn: &mut DbConn,
    node: crate::db::ids::ApproveId,
    people: &[UserId],
) -> StoreResult<()> {
    let already: i64 = au::table
        .filter(au::approve_id.eq(node))
        .filter(au::user_id.eq_any(people))
        .filter(au::status.eq_any([
            AssignmentStatus::Pending,
            AssignmentStatus::Waiting,
            AssignmentStatus::Decided,
        ]))
        .count()
        .get_result(conn)?;
    if already > 0 {
        return Err(Refusal::AlreadyOnNode.into());
    }
    Ok(())
}

/// The ticket's steps as they stand: (node key, position, status).
fn step_rows(
    conn: &mut DbConn,
    apply: ApplyId,
) -> StoreResult<Vec<(String, i32, crate::db::states::StepStatus)>> {
    Ok(crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply))
        .select((n::node_key, n::position, n::status))
        .load(c))?)
}

/// A vote on an assignment, as it is recorded.
struct Vote<'c> {
    decision: Decided,
    actor: UserId,
    channel: Channel,
    comment: &'c str,
    at: chrono::NaiveDateTime,
}

impl Vote<'_> {
    /// `x` as this vote leaves it.
    fn on(&self, mut x: ApproveUser) -> ApproveUser {
        x.status = AssignmentStatus::Decided;
        x.decision = Some(self.decision);
        x.acted_by = Some(self.actor);
        x.channel = Some(self.channel);
        x.comment = self.comment.to_string();
        x.decided_at = Some(self.at);
        x
    }
}

/// Records `vote` on the pending assignment `mine` of the locked `node`
/// and returns the node's live assignments with the vote in them (the
/// node's lock keeps them as read): `read_before`, when the caller read
/// them already, or read beside the vote — on PostgreSQL in its
/// statement (`WITH first AS (UPDATE … RETURNING id) SELECT …`, which
/// sees them as they were before it and says whether the update
/// happened). Someone who got there first makes it `Overtaken`.
fn record_vote(
    conn: &mut DbConn,
    mine: &ApproveUser,
    node: &Approve,
    vote: &Vote<'_>,
    read_before: Option<Vec<ApproveUser>>,
) -> StoreResult<Vec<ApproveUser>> {
    let pending = au::table
        .find(mine.id)
        .filter(au::status.eq(AssignmentStatus::Pending));
    let changes = (
        au::status.eq(AssignmentStatus::Decided),
        au::decision.eq(vote.decision),
        au::acted_by.eq(vote.actor),
        au::channel.eq(vote.channel),
        au::comment.eq(vote.comment),
        au::decided_at.eq(At(vote.at)),
    );
    let before = match (&mut *conn, read_before) {
        (DbConn::Pg(pg), None) => {
            let rows: Vec<(ApproveUser, bool)> = prepared::together(
                prepared::update(pending, changes).returning(au::id),
                progress::live_of(node.id)
                    .select((ApproveUser::as_select(), prepared::first_changed())),
            )
            .load(pg)?;
            if !rows.first().is_some_and(|(_, changed)| *changed) {
                return Err(overtaken_now(conn, mine.id)?.into());
            }
            rows.into_iter().map(|(x, _)| x).collect()
        }
        (conn, read_before) => {
            let decided = crate::direct!(conn, |c| prepared::update(pending, changes).execute(c))?;
            if decided == 0 {
                return Err(overtaken_now(conn, mine.id)?.into());
            }
            match read_before {
                Some(live) => live,
                None => progress::live_assignments(conn, node.id)?,
            }
        }
    };
    Ok(before
        .into_iter()
        .map(|x| if x.id == mine.id { vote.on(x) } else { x })
        .collect())
}

/// Hands a pending assignment to someone else (转交). The new person takes
/// the same place in the step; the old assignment is kept as transferred.
pub(super) fn hand_over(
    conn: &mut DbConn,
    (apply, assignment): (ApplyId, ApproveUserId),
    actor: UserId,
    channel: Channel,
    to: &str,
    comment: &str,
) -> StoreResult<Done> {
    let target = target(conn, apply, assignment)?;
    let (mine, ticket) = (&target.assignment, &target.ticket);
    let who = (actor, acts_for(conn, actor, mine.user_id, ticket.kind)?);
    // As read, before anything about the request is answered: someone
    // who may not hand it over learns nothing from a bad name or note.
    let admin = !target.assignee_active && super::super::users::is_admin(conn, actor)?;
    check(
        conn,
        &target,
        who,
        |f| rules::may_hand_over(actor, admin, f),
        None,
    )?;
    let comment = rules::note(comment)?;
    let to = crate::domain::Username::parse_person(to)
        .ok()
        .map(|u| super::super::users::active_id(conn, &u))
        .transpose()?
        .flatten()
        .ok_or(Refusal::UnknownUser)?;
    // Theirs, their stand-in's, or a stranded step's, with everyone
    // involved active until this commits.
    let active = still_active(conn, &[actor, mine.user_id, to])?;
    // An administrator may take over a step whose person can no longer act.
    let admin = !active.contains(&mine.user_id) && super::super::users::is_admin(conn, actor)?;
    check(
        conn,
        &target,
        who,
        |f| rules::may_hand_over(actor, admin, f),
        Some(&active),
    )?;
    let facts = StepFacts {
        ticket,
        assignment: mine,
        node_kind: target.node_kind,
        assignee_active: active.contains(&mine.user_id),
        acts_for: true,
        actor_active: true,
    };
    rules::may_receive(to, active.contains(&to), &facts)?;
    // Lock the ticket before looking at the step's people, so two
    // hand-overs to the same person cannot both pass the check.
    lock_running(conn, ticket.id)?;
    not_on_step(conn, mine.approve_id, &[to])?;
    let at = now();
    let moved = diesel::update(
        au::table
            .find(mine.id)
            .filter(au::status.eq(AssignmentStatus::Pending)),
    )
    .set((
        au::status.eq(AssignmentStatus::Transferred),
        au::acted_by.eq(actor),
        au::channel.eq(channel),
        au::decided_at.eq(At(at)),
        au::comment.eq(comment),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(overtaken_now(conn, mine.id)?.into());
    }
    let taken: ApproveUserId = diesel::insert_into(au::table)
        .values((
            au::approve_id.eq(mine.approve_id),
            au::apply_id.eq(mine.apply_id),
            au::position.eq(mine.position),
            au::user_id.eq(to),
            au::status.eq(AssignmentStatus::Pending),
            au::created_at.eq(At(at)),
        ))
        .returning(au::id)
        .get_result(conn)?;
    super::took_place(conn, mine, taken)?;
    let target_name: String = users::table
        .find(to)
        .select(users::display_name)
        .first(conn)?;
    // The step's clock starts again for the person it was handed to.
    let def = super::def_of(conn, ticket)?;
    let spec = def.node(&target.node_key);
    if let Some(spec) = spec.filter(|s| s.deadline.is_some()) {
        let node = (ticket.id, mine.approve_id);
        super::super::timers::restart(conn, node, &def, spec, at)?;
    }
    audit::record(
        conn,
        acted(
            (actor, mine.user_id, channel),
            TicketEvent::HandedOver,
            ticket.id,
            serde_json::json!({ "node": target.node_key, "to": target_name, "comment": comment }),
        ),
    )?;
    Ok(Done::HandedOver)
}
