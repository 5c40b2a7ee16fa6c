//! Acting on a whole ticket through the door: a comment on its timeline,
//! and the applicant's own actions — withdraw, urge, resubmit.

use diesel::prelude::*;

use super::super::audit::{self, Channel};
use super::super::directory::DbLookup;
use super::super::{StoreError, StoreResult, now};
use super::door::{Done, Raw};
use super::rules;
use super::{acted, def_of, filing, notices, progress};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, UserId};
use crate::db::models::Apply;
use crate::db::schema::{applies as a, approve_users as au, approves as n, users};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, StoredForm, TicketEvent, TicketStatus};
use crate::flow::NotifyEvent;
use crate::flow::form::{Values, parse_form};
use crate::refusal::Refusal;

/// The ticket, for someone who acts on it: nobody acts on a ticket they
/// may not see (it is not there for them), nor once deactivated.
pub(super) fn visible(conn: &mut DbConn, apply: ApplyId, actor: UserId) -> StoreResult<Apply> {
    let ticket: Apply = a::table
        .find(apply)
        .select(Apply::as_select())
        .first(conn)
        .optional()?
        .ok_or(Refusal::NotFound)?;
    if ticket.applicant_id != actor {
        let admin = super::super::users::is_admin(conn, actor)?;
        if !super::super::ticket_views::may_view(conn, &ticket, actor, admin)? {
            return Err(Refusal::NotFound.into());
        }
    }
    let active: bool = users::table
        .find(actor)
        .select(users::active)
        .first(conn)
        .optional()?
        .unwrap_or(false);
    if !active {
        return Err(Refusal::NotYours.into());
    }
    Ok(ticket)
}

/// A comment on the ticket's timeline, by anyone who may see it.
pub(super) fn comment(
    conn: &mut DbConn,
    apply: ApplyId,
    (actor, channel): (UserId, Channel),
    text: &str,
    files: &[crate::db::ids::AttachmentId],
) -> StoreResult<Done> {
    // Files may speak for themselves; words alone must be there.
    let text = if files.is_empty() {
        rules::comment(text, Refusal::EmptyComment)?
    } else {
        rules::note(text)?
    };
    visible(conn, apply, actor)?;
    let mut detail = serde_json::json!({ "comment": text });
    if !files.is_empty() {
        // Only the commenter's own uploads, on no ticket yet.
        if !super::super::attachments::attach(conn, apply, None, files, actor)? {
            return Err(Refusal::UnknownAttachment.into());
        }
        detail["attachments"] = files.iter().map(|f| f.0).collect::<Vec<_>>().into();
    }
    audit::record(
        conn,
        acted(
            (actor, actor, channel),
            TicketEvent::Commented,
            apply,
            detail,
        ),
    )?;
    Ok(Done::Commented)
}

/// The people an open ticket waits for now: (assignment, person).
fn waiting(conn: &mut DbConn, apply: ApplyId) -> StoreResult<Vec<(ApproveUserId, UserId)>> {
    Ok(au::table
        .filter(au::apply_id.eq(apply))
        .filter(au::status.eq(AssignmentStatus::Pending))
        .select((au::id, au::user_id))
        .load(conn)?)
}

/// The applicant withdraws a running ticket, saying why; everything still
/// open is cancelled, and the people it waited for are told the reason.
pub(super) fn withdraw(
    conn: &mut DbConn,
    apply: ApplyId,
    actor: UserId,
    channel: Channel,
    reason: &str,
) -> StoreResult<Done> {
    let ticket = visible(conn, apply, actor)?;
    rules::applicant_only(actor, &ticket)?;
    let reason = rules::comment(reason, Refusal::ReasonRequired)?;
    // Locked and checked as it is now, not as it was read.
    let n = diesel::update(
        a::table
            .find(apply)
            .filter(a::status.eq(TicketStatus::Running)),
    )
    .set(a::row_version.eq(a::row_version + 1))
    .execute(conn)?;
    if n == 0 {
        return Err(super::not_running(conn, apply)?);
    }
    let waiting = waiting(conn, apply)?;
    progress::end(conn, apply, TicketStatus::Withdrawn)?;
    audit::record(
        conn,
        acted(
            (actor, actor, channel),
            TicketEvent::Withdrawn,
            apply,
            serde_json::json!({ "comment": reason }),
        ),
    )?;
    let def = def_of(conn, &ticket)?;
    super::note_end(&def, TicketStatus::Withdrawn);
    if def.timed() {
        super::super::timers::stop_ticket(conn, apply)?;
    }
    notices::notify(
        conn,
        &def,
        NotifyEvent::Withdrawn,
        &ticket,
        None,
        reason,
        &waiting,
    )?;
    super::copies::by_rules(conn, &ticket, &def, &def.cc, None)?;
    Ok(Done::Withdrawn)
}

/// The applicant reminds the current assignees; at most once in
/// `URGE_INTERVAL_MINUTES`.
pub(super) fn urge(
    conn: &mut DbConn,
    apply: ApplyId,
    actor: UserId,
    channel: Channel,
) -> StoreResult<Done> {
    let ticket = visible(conn, apply, actor)?;
    let at = now();
    rules::may_urge(actor, &ticket, at)?;
    // The interval is checked again as the row is updated: two reminders
    // at once send one.
    let n = diesel::update(
        a::table
            .find(apply)
            .filter(a::status.eq(TicketStatus::Running))
            .filter(
                a::last_urged_at
                    .is_null()
                    .or(a::last_urged_at.le(At(rules::urged_before(at)))),
            ),
    )
    .set(a::last_urged_at.eq(At(at)))
    .execute(conn)?;
    if n == 0 {
        return Err(Refusal::UrgedRecently.into());
    }
    let waiting = waiting(conn, apply)?;
    let pending: Vec<UserId> = waiting.iter().map(|(_, u)| *u).collect();
    audit::record(
        conn,
        acted(
            (actor, actor, channel),
            TicketEvent::Urged,
            apply,
            serde_json::json!({ "reminded": pending.iter().map(|u| u.0).collect::<Vec<_>>() }),
        ),
    )?;
    let def = def_of(conn, &ticket)?;
    notices::notify(conn, &def, NotifyEvent::Urged, &ticket, None, "", &waiting)?;
    Ok(Done::Urged(pending))
}

/// The applicant resubmits a sent-back ticket with corrected values: the
/// ticket keeps its serial and history, and the flow is planned again after
/// the nodes that ran before.
pub(super) fn resubmit(
    conn: &mut DbConn,
    apply: ApplyId,
    actor: UserId,
    channel: Channel,
    fields: &Raw,
) -> StoreResult<Done> {
    let ticket = visible(conn, apply, actor)?;
    rules::may_resubmit(actor, &ticket)?;
    let def = def_of(conn, &ticket)?;
    let submit = def
        .nodes
        .first()
        .map(|n| n.fields.as_slice())
        .unwrap_or_default();
    let values = {
        let refs: Vec<_> = submit.iter().collect();
        let lookup = DbLookup::new(conn).with_files(actor, Some(apply));
        parse_form(&refs, fields, &lookup).map_err(Refusal::Fields)?
    };
    // The submit form's values are replaced as a whole (a field the
    // applicant cleared is gone); what each changed field held before is
    // kept in the audit trail.
    let mut form: Values = ticket.form.0.clone();
    let mut changed = Vec::new();
    for field in submit {
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
    {
        let refs: Vec<_> = submit.iter().collect();
        filing::attach_files(conn, apply, &refs, &values, actor)?;
    }
    form.extend(values);
    // The window may have moved: the calendar is asked again, a hard
    // freeze refuses as on filing, and steps a freeze or conflict now
    // adds join those the ticket gained before (none is dropped).
    let (def, extra_nodes, stale) = refiled(conn, &ticket, &form)?;
    let n = diesel::update(
        a::table
            .find(apply)
            .filter(a::status.eq(TicketStatus::SentBack)),
    )
    .set((
        a::status.eq(TicketStatus::Running),
        a::form.eq(StoredForm(form.clone())),
        a::extra_nodes.eq(&extra_nodes),
        a::finished_at.eq(None::<At>),
        a::row_version.eq(a::row_version + 1),
        a::updated_at.eq(At(now())),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(Refusal::NotSentBack.into());
    }
    let (applicant, business) = super::applicant_and_business(conn, &ticket)?;
    let (mut plan, ids) = filing::plan_for(conn, &def, &applicant, business.as_deref(), &form)?;
    // A step a freeze or conflict added before, which the new window no
    // longer calls for, is left out of this round (kept in the
    // definition for the rounds it ran in).
    for node in plan.nodes.iter_mut().filter(|n| stale.contains(&n.key)) {
        node.included = false;
        node.skip = Some(crate::flow::plan::Skip::Condition);
        node.assignees.clear();
        node.notes = vec![crate::flow::plan::Note::ConditionFalse];
    }
    let offset: Option<i32> = n::table
        .filter(n::apply_id.eq(apply))
        .select(diesel::dsl::max(n::position))
        .first(conn)?;
    filing::insert_plan(
        conn,
        apply,
        &plan,
        &ids,
        &def,
        (offset.unwrap_or(0) + 1, channel),
    )?;
    audit::record(
        conn,
        acted(
            (actor, actor, channel),
            TicketEvent::Resubmitted,
            apply,
            serde_json::json!({ "changed": changed }),
        ),
    )?;
    progress::advance(conn, &ticket, &def, progress::Round::Starts, None)?;
    Ok(Done::Resubmitted)
}

/// A resubmitted change on the calendar: refused by a hard freeze its new
/// window touches, its calendar rows written again, and the definition it
/// runs on from now with the steps it gained (stored JSON), and the keys
/// of those the new window no longer calls for.
fn refiled(
    conn: &mut DbConn,
    ticket: &Apply,
    form: &Values,
) -> StoreResult<(
    std::sync::Arc<crate::flow::ProcessDef>,
    Option<String>,
    Vec<String>,
)> {
    let version = super::super::processes::definition(conn, ticket.version_id)?;
    if version.change.is_none() {
        return Ok((
            def_of(conn, ticket)?,
            ticket.extra_nodes.clone(),
            Vec::new(),
        ));
    }
    let check =
        super::super::changes::check(conn, &version, form, ticket.business_id, Some(ticket.id))?;
    if let Some(refusal) = filing::frozen(&version, &check) {
        return Err(refusal.into());
    }
    let mut extra: Vec<crate::flow::NodeDef> = match &ticket.extra_nodes {
        Some(stored) => {
            serde_json::from_str(stored).map_err(|e| StoreError::Unexpected(e.into()))?
        }
        None => Vec::new(),
    };
    let wanted = check.extra_nodes(&version);
    let stale: Vec<String> = extra
        .iter()
        .filter(|n| !wanted.iter().any(|w| w.key == n.key))
        .map(|n| n.key.clone())
        .collect();
    for node in wanted {
        if !extra.iter().any(|n| n.key == node.key) {
            extra.push(node);
        }
    }
    match &check.facts {
        Some(facts) => super::super::changes::record(
            conn,
            ticket.id,
            ticket.service_id,
            ticket.business_id,
            facts,
            false,
        )?,
        None => super::super::changes::forget(conn, ticket.id)?,
    }
    if extra.is_empty() {
        return Ok((version, None, stale));
    }
    let stored = serde_json::to_string(&extra).map_err(|e| StoreError::Unexpected(e.into()))?;
    let def = std::sync::Arc::new(crate::flow::change::with_extra(&version, &extra));
    Ok((def, Some(stored), stale))
}
