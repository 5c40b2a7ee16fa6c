//! Tickets: submitting one (plan → node rows → assignments, one
//! transaction), starting nodes as earlier ones finish (with
//! de-duplication), and deciding — each action locking the ticket and node
//! rows it expects to change, so concurrent clicks decide a node once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::{self, Audit, Channel};
use super::directory::{DbDirectory, UserIds};
use super::links;
use super::request::Request;
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{
    ApplyId, ApproveId, ApproveUserId, BusinessId, ResourceId, ServiceId, UserId, VersionId,
};
use crate::db::models::{Apply, Approve, ApproveUser};
use crate::db::prepared;
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, grants, serial_counters as sc, users,
};
use crate::db::stamp::At;
use crate::flow::decision::{self, Outcome};
use crate::flow::form::Values;
use crate::flow::plan::{self, Plan, PlanInput};
use crate::flow::votes::{self, Seat};
use crate::flow::{
    FieldKind, Mode, NodeDef, NodeKind, NotifyEvent, OnReject, ProcessDef, ProcessKind, Recipient,
};
use crate::notify::notices;

pub mod status {
    pub const RUNNING: &str = "running";
    pub const FINISHED: &str = "finished";
    pub const REJECTED: &str = "rejected";
    pub const WITHDRAWN: &str = "withdrawn";
    pub const SENT_BACK: &str = "sent_back";
    // Nodes.
    pub const WAITING: &str = "waiting";
    pub const ACTIVE: &str = "active";
    pub const APPROVED: &str = "approved";
    pub const SKIPPED: &str = "skipped";
    pub const DONE: &str = "done";
    pub const CANCELLED: &str = "cancelled";
    // Assignments.
    pub const PENDING: &str = "pending";
    pub const DECIDED: &str = "decided";
    pub const TRANSFERRED: &str = "transferred";
}

/// Everything a submission needs, resolved by the caller.
pub struct Submission {
    pub service: ServiceId,
    pub service_name: String,
    pub version: VersionId,
    pub def: std::sync::Arc<ProcessDef>,
    pub applicant: UserId,
    pub applicant_username: String,
    pub business: Option<(BusinessId, String)>,
    pub values: Values,
    pub submit_token: String,
}

/// Plans a submission against the directory as it is now.
pub fn preview(conn: &mut DbConn, sub: &Submission) -> StoreResult<Plan> {
    Ok(plan_with_ids(conn, sub)?.0)
}

/// The plan, and the ids of the people the directory looked up for it.
fn plan_with_ids(conn: &mut DbConn, sub: &Submission) -> StoreResult<(Plan, UserIds)> {
    let dir = DbDirectory::new(conn, now());
    let input = PlanInput {
        def: &sub.def,
        applicant: &sub.applicant_username,
        business: sub.business.as_ref().map(|(_, name)| name.as_str()),
        values: &sub.values,
    };
    let plan = plan::plan(&input, &dir);
    let ids = dir.finish()?;
    Ok((plan, ids))
}

/// The next serial number of `kind` for today: CHG-20261121-0001. The
/// counter row is bumped in the caller's transaction (the update locks it on
/// PostgreSQL), so concurrent submissions never share a number. The first
/// ticket of a day inserts the row inside a savepoint; if another
/// transaction inserted it first, the update is simply retried.
fn next_serial(conn: &mut DbConn, kind: ProcessKind, at: NaiveDateTime) -> StoreResult<String> {
    let prefix = format!("{}-{}", kind.serial_prefix(), at.format("%Y%m%d"));
    let bump = |conn: &mut DbConn| -> StoreResult<usize> {
        Ok(crate::direct!(conn, |c| prepared::update(
            sc::table.find(&prefix),
            sc::last.eq(sc::last + 1),
        )
        .execute(c))?)
    };
    if bump(conn)? == 0 {
        let inserted = conn.transaction(|c| {
            diesel::insert_into(sc::table)
                .values((sc::prefix.eq(&prefix), sc::last.eq(1)))
                .execute(c)
        });
        match inserted {
            Ok(_) => {}
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                bump(conn)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let last: i32 = crate::direct!(conn, |c| sc::table.find(&prefix).select(sc::last).first(c))?;
    Ok(format!("{prefix}-{last:04}"))
}

/// A short title: the first text value of the form, else the service name.
fn title_of(def: &ProcessDef, values: &Values, service_name: &str) -> String {
    let first = def
        .nodes
        .first()
        .into_iter()
        .flat_map(|n| n.fields.iter())
        .find_map(|f| match f.kind {
            FieldKind::Text | FieldKind::Textarea => values
                .get(&f.key)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            _ => None,
        });
    let text = first
        .map(|t| t.lines().next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let text = if text.trim().is_empty() {
        service_name.to_string()
    } else {
        text
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

fn user_id(conn: &mut DbConn, username: &str) -> StoreResult<UserId> {
    Ok(crate::direct!(conn, |c| users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .first(c))?)
}

fn mode_json(mode: &Mode) -> String {
    serde_json::to_string(mode).unwrap_or_else(|_| "{\"mode\":\"any\"}".into())
}

fn ticket_event<'a>(
    actor: Option<UserId>,
    action: &'a str,
    apply: ApplyId,
    detail: serde_json::Value,
) -> Audit<'a> {
    Audit {
        actor,
        on_behalf_of: None,
        channel: if actor.is_some() {
            Channel::Web
        } else {
            Channel::System
        },
        action,
        subject_type: "apply",
        subject_id: Some(apply.0),
        apply_id: Some(apply.0),
        detail,
    }
}

/// A filed ticket, and whether this submission filed it or found it
/// filed already by the same form (a double click, Back and Submit again).
#[derive(Debug, Clone)]
pub struct Filed {
    pub id: ApplyId,
    pub serial: String,
    pub fresh: bool,
}

/// Files a ticket: one transaction writes it, its planned nodes and
/// assignments and the audit events, then starts the first node. The same
/// submit token again returns the ticket it made (a double-clicked submit).
pub fn submit(conn: &mut DbConn, sub: &Submission) -> StoreResult<Filed> {
    if let Some((id, serial)) = by_submit_token(conn, &sub.submit_token)? {
        return Ok(Filed {
            id,
            serial,
            fresh: false,
        });
    }
    let (plan, ids) = plan_with_ids(conn, sub)?;
    let at = now();
    let serial = next_serial(conn, sub.def.kind, at)?;
    let form = serde_json::to_string(&sub.values).map_err(|e| StoreError::Unexpected(e.into()))?;
    let ticket: Apply = crate::direct!(conn, |c| diesel::insert_into(a::table)
        .values((
            a::serial.eq(&serial),
            a::service_id.eq(sub.service),
            a::version_id.eq(sub.version),
            a::kind.eq(sub.def.kind.as_str()),
            a::title.eq(title_of(&sub.def, &sub.values, &sub.service_name)),
            a::applicant_id.eq(sub.applicant),
            a::business_id.eq(sub.business.as_ref().map(|(id, _)| *id)),
            a::status.eq(status::RUNNING),
            a::form.eq(form),
            a::submit_token.eq(&sub.submit_token),
            a::row_version.eq(1),
            a::created_at.eq(At(at)),
            a::updated_at.eq(At(at)),
        ))
        .returning(Apply::as_returning())
        .get_result(c))
    .map_err(|e| StoreError::unique_as(e, "", "errors.already_submitted"))?;
    let apply = ticket.id;
    audit::record(
        conn,
        ticket_event(
            Some(sub.applicant),
            "ticket.submitted",
            apply,
            serde_json::json!({ "serial": serial }),
        ),
    )?;

    insert_plan(conn, apply, &plan, &ids, &sub.def, 0)?;
    advance(conn, &ticket, &sub.def)?;
    Ok(Filed {
        id: apply,
        serial,
        fresh: true,
    })
}

/// The ticket a submit token made, if any, with its serial number.
pub fn by_submit_token(conn: &mut DbConn, token: &str) -> StoreResult<Option<(ApplyId, String)>> {
    Ok(crate::direct!(conn, |c| a::table
        .filter(a::submit_token.eq(token))
        .select((a::id, a::serial))
        .first(c))
    .optional()?)
}

/// Writes a plan's node rows (from position `offset` on) and assignments.
/// `ids` are people planning already looked up; others are looked up here.
fn insert_plan(
    conn: &mut DbConn,
    apply: ApplyId,
    plan: &Plan,
    ids: &UserIds,
    def: &ProcessDef,
    offset: i32,
) -> StoreResult<()> {
    let at = now();
    for (i, (planned, node)) in plan.nodes.iter().zip(&def.nodes).enumerate() {
        let position = offset + i as i32;
        let node_status = match (planned.kind, planned.included) {
            (NodeKind::Submit, _) => status::DONE,
            (_, true) => status::WAITING,
            (_, false) => status::SKIPPED,
        };
        let approve: ApproveId = crate::direct!(conn, |c| diesel::insert_into(n::table)
            .values((
                n::apply_id.eq(apply),
                n::position.eq(position),
                n::node_key.eq(&planned.key),
                n::name_en.eq(&node.name.en),
                n::name_zh.eq(&node.name.zh),
                n::kind.eq(planned.kind.as_str()),
                n::mode.eq(mode_json(&planned.mode)),
                n::status.eq(node_status),
                n::notes.eq(serde_json::to_string(&planned.notes).unwrap_or_else(|_| "[]".into())),
                n::row_version.eq(1),
                n::started_at.eq((planned.kind == NodeKind::Submit).then_some(At(at))),
                n::decided_at.eq((planned.kind == NodeKind::Submit).then_some(At(at))),
            ))
            .returning(n::id)
            .get_result(c))?;
        if !planned.included {
            audit::record(
                conn,
                ticket_event(
                    None,
                    "node.skipped",
                    apply,
                    serde_json::json!({ "node": planned.key, "notes": planned.notes }),
                ),
            )?;
        }
        for (i, assignee) in planned.assignees.iter().enumerate() {
            let user = match ids.get(&assignee.user) {
                Some(id) => *id,
                None => user_id(conn, &assignee.user)?,
            };
            let submit = planned.kind == NodeKind::Submit;
            crate::direct!(conn, |c| diesel::insert_into(au::table)
                .values((
                    au::approve_id.eq(approve),
                    au::apply_id.eq(apply),
                    au::position.eq(i as i32),
                    au::user_id.eq(user),
                    au::status.eq(if submit {
                        status::DECIDED
                    } else {
                        status::WAITING
                    }),
                    au::decision.eq(submit.then_some("submit")),
                    au::acted_by.eq(submit.then_some(user)),
                    au::channel.eq(submit.then_some(Channel::Web.as_str())),
                    au::decided_at.eq(submit.then_some(At(at))),
                    au::created_at.eq(At(at)),
                ))
                .execute(c))?;
        }
    }
    Ok(())
}

fn node_def<'d>(def: &'d ProcessDef, approve: &Approve) -> StoreResult<&'d NodeDef> {
    def.node(&approve.node_key).ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!("node {} not in version", approve.node_key))
    })
}

/// Starts the next waiting node, auto-approving people who already approved
/// an earlier node of this round when the node de-duplicates, and keeps
/// going while nodes decide themselves. With no node left the ticket is
/// finished. `ticket` is running; only its fixed fields (id, serial,
/// title, applicant, kind) are read.
pub fn advance(conn: &mut DbConn, ticket: &Apply, def: &ProcessDef) -> StoreResult<()> {
    let apply = ticket.id;
    loop {
        let next: Option<Approve> = crate::direct!(conn, |c| n::table
            .filter(n::apply_id.eq(apply))
            .filter(n::status.eq(status::WAITING))
            .order(n::position)
            .select(Approve::as_select())
            .first(c))
        .optional()?;
        let Some(node) = next else {
            return finish(conn, ticket, def);
        };
        let at = now();
        crate::direct!(conn, |c| prepared::update(
            n::table.find(node.id),
            (n::status.eq(status::ACTIVE), n::started_at.eq(At(at))),
        )
        .execute(c))?;
        audit::record(
            conn,
            ticket_event(
                None,
                "node.started",
                apply,
                serde_json::json!({ "node": node.node_key }),
            ),
        )?;
        let spec = node_def(def, &node)?;
        if spec.kind == NodeKind::Approval && spec.dedupe {
            auto_approve(conn, apply, &node, at)?;
        }
        match settle(conn, ticket, &node, spec, def, Moment::NodeStarts)? {
            Settled::Passed => {}
            Settled::Open { newly_pending } => {
                ask(conn, def, ticket, &node, &newly_pending)?;
                return Ok(());
            }
            Settled::Ended => return Ok(()),
        }
    }
}

/// Tells people a node now waits for them (with one-click links on
/// approvals).
fn ask(
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

/// Decides, as "auto", the assignments of a starting node whose people
/// approved an earlier node of the same round (since the ticket was last
/// submitted: approvals of a form that was sent back do not count).
fn auto_approve(
    conn: &mut DbConn,
    apply: ApplyId,
    node: &Approve,
    at: NaiveDateTime,
) -> StoreResult<()> {
    // Each round starts with a submit node, whose assignment is decided
    // as "submit": one statement finds both the rounds and the approvals.
    let earlier: Vec<(UserId, Option<String>, i32)> = crate::direct!(conn, |c| au::table
        .inner_join(n::table)
        .filter(au::apply_id.eq(apply))
        .filter(n::position.lt(node.position))
        .filter(
            au::decision
                .eq("approve")
                .or(au::decision.eq("auto"))
                .or(au::decision.eq("submit")),
        )
        .select((au::user_id, au::decision, n::position))
        .load(c))?;
    let round = earlier
        .iter()
        .filter(|(_, d, _)| d.as_deref() == Some("submit"))
        .map(|(_, _, p)| *p)
        .max()
        .unwrap_or(0);
    let approved: Vec<UserId> = earlier
        .iter()
        .filter(|(_, d, p)| *p > round && d.as_deref() != Some("submit"))
        .map(|(u, _, _)| *u)
        .collect();
    if approved.is_empty() {
        return Ok(());
    }
    let waiting: Vec<ApproveUser> = crate::direct!(conn, |c| au::table
        .filter(au::approve_id.eq(node.id))
        .filter(au::status.eq(status::WAITING))
        .select(ApproveUser::as_select())
        .load(c))?;
    for assignment in waiting
        .into_iter()
        .filter(|x| approved.contains(&x.user_id))
    {
        crate::direct!(conn, |c| prepared::update(
            au::table.find(assignment.id),
            (
                au::status.eq(status::DECIDED),
                au::decision.eq("auto"),
                au::acted_by.eq(assignment.user_id),
                au::channel.eq(Channel::System.as_str()),
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
                    "node.auto_approved",
                    apply,
                    serde_json::json!({ "node": node.node_key }),
                )
            },
        )?;
    }
    Ok(())
}

/// When `settle` runs: as the node starts (its people are still
/// waiting), or after a vote on the active node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    NodeStarts,
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
    },
    /// Approved or done: the ticket moves on.
    Passed,
    /// Rejected or sent back: the ticket has stopped.
    Ended,
}

/// A node's live assignments (in the people's order) as the vote count
/// sees them: each decided one's vote, cast at its decision's time.
fn seats(assignments: &[ApproveUser]) -> Vec<Seat<(Option<NaiveDateTime>, ApproveUserId)>> {
    assignments
        .iter()
        .map(|x| Seat {
            vote: (x.status == status::DECIDED).then(|| votes::vote_of(x.decision.as_deref())),
            cast: (x.decided_at, x.id),
        })
        .collect()
}

/// Decides the node from its votes if they suffice.
fn settle(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    spec: &NodeDef,
    def: &ProcessDef,
    moment: Moment,
) -> StoreResult<Settled> {
    let apply = ticket.id;
    let assignments: Vec<ApproveUser> = crate::direct!(conn, |c| au::table
        .filter(au::approve_id.eq(node.id))
        .filter(au::status.ne(status::CANCELLED))
        .filter(au::status.ne(status::TRANSFERRED))
        .order(au::position)
        .select(ApproveUser::as_select())
        .load(c))?;
    // One person completes a task or review.
    let mode = if spec.kind == NodeKind::Approval {
        spec.mode
    } else {
        Mode::Any
    };
    let votes = votes::votes(mode, &seats(&assignments));
    let outcome = if assignments.is_empty() {
        Outcome::Approved
    } else {
        decision::decide(mode, assignments.len(), &votes)
    };
    let at = now();
    match outcome {
        Outcome::Pending => {
            let newly_pending: Vec<(ApproveUserId, UserId)> = if mode == Mode::Sequence {
                // Only the next in line is asked; the rest wait their turn.
                match assignments
                    .iter()
                    .find(|x| x.status == status::WAITING || x.status == status::PENDING)
                {
                    Some(next) if next.status == status::WAITING => {
                        crate::direct!(conn, |c| prepared::update(
                            au::table
                                .find(next.id)
                                .filter(au::status.eq(status::WAITING)),
                            au::status.eq(status::PENDING),
                        )
                        .execute(c))?;
                        vec![(next.id, next.user_id)]
                    }
                    _ => Vec::new(),
                }
            } else if moment == Moment::NodeStarts {
                crate::direct!(conn, |c| prepared::update(
                    au::table
                        .filter(au::approve_id.eq(node.id))
                        .filter(au::status.eq(status::WAITING)),
                    au::status.eq(status::PENDING),
                )
                .execute(c))?;
                assignments
                    .iter()
                    .filter(|x| x.status == status::WAITING)
                    .map(|x| (x.id, x.user_id))
                    .collect()
            } else {
                Vec::new()
            };
            Ok(Settled::Open { newly_pending })
        }
        Outcome::Approved => {
            let done = if spec.kind == NodeKind::Approval {
                status::APPROVED
            } else {
                status::DONE
            };
            crate::direct!(conn, |c| prepared::update(
                n::table.find(node.id),
                (n::status.eq(done), n::decided_at.eq(At(at))),
            )
            .execute(c))?;
            cancel_pending(conn, node.id)?;
            audit::record(
                conn,
                ticket_event(
                    None,
                    "node.approved",
                    apply,
                    serde_json::json!({ "node": node.node_key }),
                ),
            )?;
            notify(
                conn,
                def,
                NotifyEvent::NodeDone,
                ticket,
                Some(node),
                "",
                &[],
            )?;
            Ok(Settled::Passed)
        }
        Outcome::Rejected => {
            crate::direct!(conn, |c| prepared::update(
                n::table.find(node.id),
                (n::status.eq(status::REJECTED), n::decided_at.eq(At(at))),
            )
            .execute(c))?;
            cancel_pending(conn, node.id)?;
            let decided = assignments.iter().filter(|x| x.status == status::DECIDED);
            let sent_back = decided
                .clone()
                .any(|x| x.decision.as_deref() == Some("send_back"))
                || spec.on_reject == OnReject::SendBack;
            let (ticket_status, action) = if sent_back {
                (status::SENT_BACK, "ticket.sent_back")
            } else {
                (status::REJECTED, "ticket.rejected")
            };
            end(conn, apply, ticket_status)?;
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
            let comment = decided
                .filter(|x| matches!(x.decision.as_deref(), Some("reject" | "send_back")))
                .max_by_key(|x| (x.decided_at, x.id))
                .map(|x| x.comment.clone())
                .unwrap_or_default();
            let event = if sent_back {
                NotifyEvent::SentBack
            } else {
                NotifyEvent::Rejected
            };
            notify(conn, def, event, ticket, Some(node), &comment, &[])?;
            Ok(Settled::Ended)
        }
    }
}

fn cancel_pending(conn: &mut DbConn, node: ApproveId) -> StoreResult<()> {
    crate::direct!(conn, |c| prepared::update(
        au::table.filter(au::approve_id.eq(node)).filter(
            au::status
                .eq(status::PENDING)
                .or(au::status.eq(status::WAITING)),
        ),
        au::status.eq(status::CANCELLED),
    )
    .execute(c))?;
    Ok(())
}

/// Closes a ticket that did not finish: later nodes and their people are cancelled.
fn end(conn: &mut DbConn, apply: ApplyId, ticket_status: &str) -> StoreResult<()> {
    let at = now();
    // Fixed alternatives are spelled out rather than `IN (…)`, which
    // diesel cannot keep prepared on SQLite.
    let open: Vec<ApproveId> = crate::direct!(conn, |c| n::table
        .filter(n::apply_id.eq(apply))
        .filter(
            n::status
                .eq(status::WAITING)
                .or(n::status.eq(status::ACTIVE)),
        )
        .select(n::id)
        .load(c))?;
    crate::direct!(conn, |c| prepared::update(
        n::table.filter(n::id.eq_any(&open)),
        n::status.eq(status::CANCELLED),
    )
    .execute(c))?;
    for node in open {
        cancel_pending(conn, node)?;
    }
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

/// Every node approved or done: the running ticket is finished, and an
/// access ticket grants the applicant what it asked for.
fn finish(conn: &mut DbConn, ticket: &Apply, def: &ProcessDef) -> StoreResult<()> {
    let at = now();
    let apply = ticket.id;
    crate::direct!(conn, |c| prepared::update(
        a::table.find(apply),
        (
            a::status.eq(status::FINISHED),
            a::finished_at.eq(At(at)),
            a::updated_at.eq(At(at)),
        ),
    )
    .execute(c))?;
    audit::record(
        conn,
        ticket_event(None, "ticket.finished", apply, serde_json::json!({})),
    )?;
    notify(conn, def, NotifyEvent::Finished, ticket, None, "", &[])?;
    if def.kind == ProcessKind::Access {
        // As it is now: the form may have grown since `ticket` was read.
        let form: String = crate::direct!(conn, |c| a::table.find(apply).select(a::form).first(c))?;
        let values: Values = serde_json::from_str(&form).unwrap_or_default();
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
                    "grant.recorded",
                    apply,
                    serde_json::json!({ "resources": wanted.iter().map(|r| r.0).collect::<Vec<_>>() }),
                ),
            )?;
        }
    }
    Ok(())
}

/// What a person does on an assignment.
#[derive(Debug, Clone)]
pub enum Action {
    Approve,
    Reject,
    /// Reject for now: the applicant corrects the form and resubmits.
    SendBack,
    /// Complete a task or review with its fields (and a review's outcome).
    Complete {
        values: Values,
        outcome: Option<String>,
    },
}

impl Action {
    fn decision(&self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::SendBack => "send_back",
            Action::Complete { .. } => "done",
        }
    }
}

/// Whether `actor` may act on an assignment of `assignee` for a process of
/// `kind`: it is theirs, or they stand in for the assignee right now.
pub fn acts_for(
    conn: &mut DbConn,
    actor: UserId,
    assignee: UserId,
    kind: ProcessKind,
) -> StoreResult<bool> {
    if actor == assignee {
        return Ok(true);
    }
    Ok(super::delegations::acting_for(conn, assignee, now(), kind)? == Some(actor))
}

/// Whether the applicant of `ticket` would be deciding an approval of
/// their own ticket for someone else (`actor` acting on `assignee`'s
/// assignment: as a stand-in, or having been handed it). Segregation of
/// duties holds whatever the node's self-approval policy, which is about
/// whom the plan asks: a delegation or hand-over may come after planning.
pub fn applicant_for_other(
    ticket: &Apply,
    actor: UserId,
    assignee: UserId,
    node: &NodeDef,
) -> bool {
    actor != assignee && actor == ticket.applicant_id && node.kind == NodeKind::Approval
}

/// Whether handing `assignment` to `to` would let the ticket's applicant
/// decide an approval of their own ticket.
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
        .first::<(UserId, String, UserId)>(conn)?;
    Ok(applicant == to && mine != to && node_kind == NodeKind::Approval.as_str())
}

/// An assignment on a ticket, with its ticket and node key: what deciding
/// it needs to know.
pub struct Target {
    pub assignment: ApproveUser,
    pub ticket: Apply,
    pub node_key: String,
    /// Whether the assignee may still act in countersign at all.
    pub assignee_active: bool,
}

/// The assignment `assignment` of ticket `apply`, if it is one of its own.
pub fn target(
    conn: &mut DbConn,
    apply: ApplyId,
    assignment: ApproveUserId,
) -> StoreResult<Option<Target>> {
    let found = crate::direct!(conn, |c| au::table
        .inner_join(n::table)
        .inner_join(a::table)
        .inner_join(users::table.on(users::id.eq(au::user_id)))
        .filter(au::id.eq(assignment))
        .filter(au::apply_id.eq(apply))
        .select((
            ApproveUser::as_select(),
            n::node_key,
            Apply::as_select(),
            users::active
        ))
        .first::<(ApproveUser, String, Apply, bool)>(c))
    .optional()?;
    Ok(
        found.map(|(assignment, node_key, ticket, assignee_active)| Target {
            assignment,
            ticket,
            node_key,
            assignee_active,
        }),
    )
}

/// Which of `people` are active. On PostgreSQL their rows stay share-locked
/// until the transaction ends, so a deactivation (which updates the row)
/// either waits for this action or this action sees it: someone being
/// deactivated at that very moment never decides, nor is handed a step.
/// Taken before the ticket's lock, in the order a deactivation takes its
/// locks (the person, then their tickets), so the two never deadlock.
fn still_active(conn: &mut DbConn, people: &[UserId]) -> StoreResult<Vec<UserId>> {
    let mut ids = people.to_vec();
    ids.sort();
    ids.dedup();
    let active = users::table
        .filter(users::id.eq_any(ids))
        .filter(users::active.eq(true))
        .select(users::id);
    Ok(match conn {
        DbConn::Pg(pg) => active.for_share().load(pg)?,
        DbConn::Sqlite(sqlite) => active.load(sqlite)?,
    })
}

/// What to say when an assignment may not be acted on: what happened to
/// the ticket or the assignment, else that it is someone else's.
pub fn refusal(target: &Target) -> &'static str {
    match (
        target.ticket.status.as_str(),
        target.assignment.status.as_str(),
    ) {
        (status::WITHDRAWN, _) => "errors.ticket_withdrawn",
        (_, status::DECIDED) => "errors.already_decided",
        (_, status::CANCELLED) => "errors.node_already_decided",
        (_, status::TRANSFERRED) => "errors.assignment_transferred",
        (ticket, _) if ticket != status::RUNNING => "errors.ticket_not_running",
        (_, status::WAITING) => "errors.not_your_turn",
        _ if !target.assignee_active => "errors.assignee_inactive",
        _ => "errors.not_your_assignment",
    }
}

/// Records one decision and moves the ticket on, in the caller's
/// transaction. Refused with a message when the assignment is not the
/// actor's, was decided already, the node is decided or the ticket no
/// longer runs — whoever got there first wins, exactly once.
pub fn act(
    conn: &mut DbConn,
    assignment: ApproveUserId,
    actor: UserId,
    action: Action,
    comment: &str,
    channel: Channel,
    def: &ProcessDef,
) -> StoreResult<ApplyId> {
    let apply: ApplyId = crate::direct!(conn, |c| au::table
        .find(assignment)
        .select(au::apply_id)
        .first(c))?;
    let target = target(conn, apply, assignment)?.ok_or(StoreError::NotFound)?;
    act_on(conn, &target, actor, action, comment, channel, def)
}

/// `act` on an assignment and its ticket the caller read in this same
/// transaction (`target`), so they are not read twice. This is where the
/// rules of who may decide hold for every way of deciding (the ticket
/// page, the inbox batch, a mailed link): the person whose assignment it
/// is, or their stand-in now, both still active; never the applicant for
/// someone else.
pub fn act_on(
    conn: &mut DbConn,
    target: &Target,
    actor: UserId,
    action: Action,
    comment: &str,
    channel: Channel,
    def: &ProcessDef,
) -> StoreResult<ApplyId> {
    let (mine, ticket) = (&target.assignment, &target.ticket);
    let kind = ProcessKind::parse(&ticket.kind).unwrap_or(ProcessKind::Request);
    // Whose it is comes first: someone else's assignment says nothing
    // more about itself. A stand-in is only found while active.
    if !acts_for(conn, actor, mine.user_id, kind)? {
        return Err(StoreError::rule("", "errors.not_your_assignment"));
    }
    // As read in this transaction: already decided, handed over, not yet
    // this person's turn, or its person no longer active.
    if mine.status != status::PENDING || !target.assignee_active {
        return Err(StoreError::rule("", refusal(target)));
    }
    // Both people are still active, and stay so until this commits.
    let active = still_active(conn, &[actor, mine.user_id])?;
    if !active.contains(&mine.user_id) {
        return Err(StoreError::rule("", "errors.assignee_inactive"));
    }
    if !active.contains(&actor) {
        return Err(StoreError::rule("", "errors.not_your_assignment"));
    }
    // Lock the ticket, then the node, in that order, checking their state.
    let running = crate::direct!(conn, |c| prepared::update(
        a::table
            .find(ticket.id)
            .filter(a::status.eq(status::RUNNING)),
        (
            a::row_version.eq(a::row_version + 1),
            a::updated_at.eq(At(now())),
        ),
    )
    .execute(c))?;
    if running == 0 {
        return Err(not_running(conn, ticket.id)?);
    }
    let Some(node) = crate::direct!(conn, |c| prepared::update(
        n::table
            .find(mine.approve_id)
            .filter(n::status.eq(status::ACTIVE)),
        n::row_version.eq(n::row_version + 1),
    )
    .returning(Approve::as_returning())
    .get_result::<Approve>(c))
    .optional()?
    else {
        return Err(StoreError::rule("", "errors.node_already_decided"));
    };
    let spec = node_def(def, &node)?;
    if applicant_for_other(ticket, actor, mine.user_id, spec) {
        return Err(StoreError::rule("", "errors.applicant_for_other"));
    }
    match (&action, spec.kind) {
        (Action::Approve | Action::Reject | Action::SendBack, NodeKind::Approval) => {}
        (Action::Complete { .. }, NodeKind::Task | NodeKind::Review) => {}
        _ => return Err(StoreError::rule("", "errors.wrong_action")),
    }
    // A review is completed with one of its outcomes; a task has none.
    if let Action::Complete { outcome, .. } = &action {
        let known = outcome
            .as_deref()
            .is_some_and(|o| crate::flow::REVIEW_OUTCOMES.contains(&o));
        match spec.kind {
            NodeKind::Review if !known => {
                return Err(StoreError::rule("outcome", "errors.outcome_required"));
            }
            NodeKind::Task if outcome.is_some() => {
                return Err(StoreError::rule("", "errors.wrong_action"));
            }
            _ => {}
        }
    }
    if matches!(action, Action::Reject | Action::SendBack) && comment.trim().is_empty() {
        return Err(StoreError::rule("comment", "errors.comment_required"));
    }
    if spec.kind == NodeKind::Approval && spec.mode == Mode::Sequence {
        let others: Vec<ApproveUser> = crate::direct!(conn, |c| au::table
            .filter(au::approve_id.eq(node.id))
            .filter(au::status.ne(status::CANCELLED))
            .filter(au::status.ne(status::TRANSFERRED))
            .order(au::position)
            .select(ApproveUser::as_select())
            .load(c))?;
        let index = others.iter().position(|x| x.id == mine.id).unwrap_or(0);
        let votes = votes::votes(spec.mode, &seats(&others));
        if !decision::may_vote(spec.mode, others.len(), &votes, index) {
            return Err(StoreError::rule("", "errors.not_your_turn"));
        }
    }
    let at = now();
    let decided = crate::direct!(conn, |c| prepared::update(
        au::table
            .find(mine.id)
            .filter(au::status.eq(status::PENDING)),
        (
            au::status.eq(status::DECIDED),
            au::decision.eq(action.decision()),
            au::acted_by.eq(actor),
            au::channel.eq(channel.as_str()),
            au::comment.eq(comment.trim()),
            au::decided_at.eq(At(at)),
        ),
    )
    .execute(c))?;
    if decided == 0 {
        return Err(StoreError::rule("", "errors.already_decided"));
    }
    if let Action::Complete { values, outcome } = &action {
        let mut form: Values = serde_json::from_str(&ticket.form).unwrap_or_default();
        form.extend(values.clone());
        let form = serde_json::to_string(&form).map_err(|e| StoreError::Unexpected(e.into()))?;
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
    let event = match action {
        Action::Approve => "assignment.approved",
        Action::Reject => "assignment.rejected",
        Action::SendBack => "assignment.sent_back",
        Action::Complete { .. } => "assignment.completed",
    };
    audit::record(
        conn,
        Audit {
            actor: Some(actor),
            on_behalf_of: (actor != mine.user_id).then_some(mine.user_id),
            channel,
            ..ticket_event(
                Some(actor),
                event,
                ticket.id,
                serde_json::json!({ "node": node.node_key, "comment": comment.trim() }),
            )
        },
    )?;
    after_vote(conn, ticket, &node, spec, def)?;
    Ok(ticket.id)
}

/// Moves the ticket on from a step whose votes changed: passed, the next
/// step starts; in a sequence, the next person is asked.
fn after_vote(
    conn: &mut DbConn,
    ticket: &Apply,
    node: &Approve,
    spec: &NodeDef,
    def: &ProcessDef,
) -> StoreResult<()> {
    match settle(conn, ticket, node, spec, def, Moment::AfterVote)? {
        Settled::Passed => advance(conn, ticket, def),
        // In a sequence, the next person's turn has come.
        Settled::Open { newly_pending } if !newly_pending.is_empty() => {
            ask(conn, def, ticket, node, &newly_pending)
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
        .filter(n::status.eq(status::ACTIVE))
        .select(Approve::as_select())
        .first::<Approve>(conn)
        .optional()?
    else {
        return Ok(());
    };
    let spec = node_def(def, &node)?;
    after_vote(conn, ticket, &node, spec, def)
}

/// Why a ticket that was expected to run does not: withdrawn, or
/// otherwise closed.
fn not_running(conn: &mut DbConn, apply: ApplyId) -> StoreResult<StoreError> {
    let now: String = a::table.find(apply).select(a::status).first(conn)?;
    Ok(if now == status::WITHDRAWN {
        StoreError::rule("", "errors.ticket_withdrawn")
    } else {
        StoreError::rule("", "errors.ticket_not_running")
    })
}

/// How long after urging the applicant may urge again.
pub const URGE_INTERVAL_MINUTES: i64 = 60;

/// The applicant withdraws a running ticket, saying why; everything still
/// open is cancelled, and the people it waited for are told the reason.
pub fn withdraw(conn: &mut DbConn, apply: ApplyId, actor: UserId, reason: &str) -> StoreResult<()> {
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)?;
    if ticket.applicant_id != actor {
        return Err(StoreError::rule("", "errors.not_applicant"));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::rule("comment", "errors.reason_required"));
    }
    if reason.chars().count() > 2000 {
        return Err(StoreError::rule("comment", "errors.too_long"));
    }
    let n = diesel::update(a::table.find(apply).filter(a::status.eq(status::RUNNING)))
        .set(a::row_version.eq(a::row_version + 1))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.ticket_not_running"));
    }
    let waiting: Vec<(ApproveUserId, UserId)> = au::table
        .filter(au::apply_id.eq(apply))
        .filter(au::status.eq(status::PENDING))
        .select((au::id, au::user_id))
        .load(conn)?;
    end(conn, apply, status::WITHDRAWN)?;
    audit::record(
        conn,
        ticket_event(
            Some(actor),
            "ticket.withdrawn",
            apply,
            serde_json::json!({ "comment": reason }),
        ),
    )?;
    let def = def_of(conn, &ticket)?;
    notify(
        conn,
        &def,
        NotifyEvent::Withdrawn,
        &ticket,
        None,
        reason,
        &waiting,
    )
}

/// The applicant reminds the current assignees; at most once an hour.
/// Returns who is reminded (for the notification).
pub fn urge(conn: &mut DbConn, apply: ApplyId, actor: UserId) -> StoreResult<Vec<UserId>> {
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)?;
    if ticket.applicant_id != actor {
        return Err(StoreError::rule("", "errors.not_applicant"));
    }
    if ticket.status != status::RUNNING {
        return Err(StoreError::rule("", "errors.ticket_not_running"));
    }
    let at = now();
    let earliest = at - chrono::Duration::minutes(URGE_INTERVAL_MINUTES);
    let n = diesel::update(
        a::table
            .find(apply)
            .filter(a::status.eq(status::RUNNING))
            .filter(
                a::last_urged_at
                    .is_null()
                    .or(a::last_urged_at.le(At(earliest))),
            ),
    )
    .set(a::last_urged_at.eq(At(at)))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.urged_recently"));
    }
    let waiting: Vec<(ApproveUserId, UserId)> = au::table
        .filter(au::apply_id.eq(apply))
        .filter(au::status.eq(status::PENDING))
        .select((au::id, au::user_id))
        .load(conn)?;
    let pending: Vec<UserId> = waiting.iter().map(|(_, u)| *u).collect();
    audit::record(
        conn,
        ticket_event(
            Some(actor),
            "ticket.urged",
            apply,
            serde_json::json!({ "reminded": pending.iter().map(|u| u.0).collect::<Vec<_>>() }),
        ),
    )?;
    let def = def_of(conn, &ticket)?;
    notify(conn, &def, NotifyEvent::Urged, &ticket, None, "", &waiting)?;
    Ok(pending)
}

/// A comment on the ticket's timeline.
pub fn comment(conn: &mut DbConn, apply: ApplyId, actor: UserId, text: &str) -> StoreResult<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(StoreError::rule("comment", "errors.required"));
    }
    if text.chars().count() > 2000 {
        return Err(StoreError::rule("comment", "errors.too_long"));
    }
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)?;
    // Whoever may not see the ticket may not comment on it: it is not there.
    let admin = super::users::is_admin(conn, actor)?;
    if !super::ticket_views::may_view(conn, &ticket, actor, admin)? {
        return Err(StoreError::NotFound);
    }
    audit::record(
        conn,
        ticket_event(
            Some(actor),
            "ticket.commented",
            apply,
            serde_json::json!({ "comment": text }),
        ),
    )
}

/// The applicant resubmits a sent-back ticket with corrected values: the
/// ticket keeps its serial and history, and the flow is planned again after
/// the nodes that ran before.
pub fn resubmit(
    conn: &mut DbConn,
    apply: ApplyId,
    actor: UserId,
    values: &Values,
    def: &ProcessDef,
) -> StoreResult<()> {
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)?;
    if ticket.applicant_id != actor {
        return Err(StoreError::rule("", "errors.not_applicant"));
    }
    // The submit form's values are replaced as a whole (a field the
    // applicant cleared is gone); what each changed field held before is
    // kept in the audit trail.
    let mut form: Values = serde_json::from_str(&ticket.form).unwrap_or_default();
    let mut changed = Vec::new();
    for field in def
        .nodes
        .first()
        .map(|n| n.fields.as_slice())
        .unwrap_or_default()
    {
        let before = form.remove(&field.key);
        let after = values.get(&field.key);
        if before.as_ref() != after {
            changed.push(serde_json::json!({
                "field": field.key,
                "before": before,
                "after": after,
            }));
        }
    }
    form.extend(values.clone());
    let json = serde_json::to_string(&form).map_err(|e| StoreError::Unexpected(e.into()))?;
    let n = diesel::update(a::table.find(apply).filter(a::status.eq(status::SENT_BACK)))
        .set((
            a::status.eq(status::RUNNING),
            a::form.eq(json),
            a::finished_at.eq(None::<At>),
            a::row_version.eq(a::row_version + 1),
            a::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.not_sent_back"));
    }
    let applicant: String = users::table
        .find(actor)
        .select(users::username)
        .first(conn)?;
    let business: Option<String> = match ticket.business_id {
        Some(b) => Some(
            crate::db::schema::businesses::table
                .find(b)
                .select(crate::db::schema::businesses::name)
                .first(conn)?,
        ),
        None => None,
    };
    let (plan, ids) = {
        let dir = DbDirectory::new(conn, now());
        let input = PlanInput {
            def,
            applicant: &applicant,
            business: business.as_deref(),
            values: &form,
        };
        let plan = plan::plan(&input, &dir);
        (plan, dir.finish()?)
    };
    let offset: Option<i32> = n::table
        .filter(n::apply_id.eq(apply))
        .select(diesel::dsl::max(n::position))
        .first(conn)?;
    insert_plan(conn, apply, &plan, &ids, def, offset.unwrap_or(0) + 1)?;
    audit::record(
        conn,
        ticket_event(
            Some(actor),
            "ticket.resubmitted",
            apply,
            serde_json::json!({ "changed": changed }),
        ),
    )?;
    advance(conn, &ticket, def)
}

/// Hands a pending assignment to someone else (转交). The new person takes
/// the same place in the node; the old assignment is kept as transferred.
pub fn transfer(
    conn: &mut DbConn,
    assignment: ApproveUserId,
    actor: UserId,
    to: UserId,
    comment: &str,
) -> StoreResult<ApplyId> {
    let mine: ApproveUser = au::table
        .find(assignment)
        .select(ApproveUser::as_select())
        .first(conn)?;
    let ticket: Apply = a::table
        .find(mine.apply_id)
        .select(Apply::as_select())
        .first(conn)?;
    let kind = ProcessKind::parse(&ticket.kind).unwrap_or(ProcessKind::Request);
    // Theirs, or their stand-in's; or, for an administrator, a step whose
    // person can no longer act (nobody could take it when they left).
    let active = still_active(conn, &[actor, mine.user_id, to])?;
    let stranded = !active.contains(&mine.user_id) && super::users::is_admin(conn, actor)?;
    if !active.contains(&actor) || !(stranded || acts_for(conn, actor, mine.user_id, kind)?) {
        return Err(StoreError::rule("", "errors.not_your_assignment"));
    }
    // Nor does an administrator pick who approves their own ticket.
    if stranded && actor == ticket.applicant_id {
        return Err(StoreError::rule("", "errors.applicant_hands_over"));
    }
    if !active.contains(&to) {
        return Err(StoreError::rule("to", "errors.unknown_user"));
    }
    if to == mine.user_id {
        return Err(StoreError::rule("to", "errors.transfer_to_self"));
    }
    let node_key: String = n::table
        .find(mine.approve_id)
        .select(n::node_key)
        .first(conn)?;
    let def = def_of(conn, &ticket)?;
    let spec = def
        .node(&node_key)
        .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("node {node_key} not in version")))?;
    if applicant_for_other(&ticket, actor, mine.user_id, spec) {
        return Err(StoreError::rule("", "errors.applicant_for_other"));
    }
    // Handing it to the applicant would let them decide their own ticket.
    if applicant_for_other(&ticket, to, mine.user_id, spec) {
        return Err(StoreError::rule("to", "errors.transfer_to_applicant"));
    }
    // Lock the ticket before looking at the node's people, so two
    // hand-overs to the same person cannot both pass the check.
    let running = diesel::update(
        a::table
            .find(ticket.id)
            .filter(a::status.eq(status::RUNNING)),
    )
    .set(a::row_version.eq(a::row_version + 1))
    .execute(conn)?;
    if running == 0 {
        return Err(not_running(conn, ticket.id)?);
    }
    // Anyone still to decide here, or who decided, is already on the node
    // (in a sequence, later people are waiting for their turn).
    let already: i64 = au::table
        .filter(au::approve_id.eq(mine.approve_id))
        .filter(au::user_id.eq(to))
        .filter(au::status.eq_any([status::PENDING, status::WAITING, status::DECIDED]))
        .count()
        .get_result(conn)?;
    if already > 0 {
        return Err(StoreError::rule("to", "errors.already_on_node"));
    }
    let at = now();
    let moved = diesel::update(
        au::table
            .find(mine.id)
            .filter(au::status.eq(status::PENDING)),
    )
    .set((
        au::status.eq(status::TRANSFERRED),
        au::acted_by.eq(actor),
        au::decided_at.eq(At(at)),
        au::comment.eq(comment.trim()),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(StoreError::rule("", "errors.already_decided"));
    }
    diesel::insert_into(au::table)
        .values((
            au::approve_id.eq(mine.approve_id),
            au::apply_id.eq(mine.apply_id),
            au::position.eq(mine.position),
            au::user_id.eq(to),
            au::status.eq(status::PENDING),
            au::created_at.eq(At(at)),
        ))
        .execute(conn)?;
    let target: String = users::table
        .find(to)
        .select(users::display_name)
        .first(conn)?;
    audit::record(
        conn,
        Audit {
            on_behalf_of: (actor != mine.user_id).then_some(mine.user_id),
            ..ticket_event(
                Some(actor),
                "assignment.transferred",
                ticket.id,
                serde_json::json!({ "node": node_key, "to": target, "comment": comment.trim() }),
            )
        },
    )?;
    Ok(ticket.id)
}

pub(crate) fn def_of(conn: &mut DbConn, ticket: &Apply) -> StoreResult<std::sync::Arc<ProcessDef>> {
    super::processes::definition(conn, ticket.version_id)
}

/// Writes the mail `event` causes, to whom the policy says. `people` are
/// the node's people for the "assignees" recipient; a waiting approval
/// gives each of them approve and reject links of their own.
fn notify(
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
