//! Filing a ticket: planning it against the directory as it is, its
//! serial number, and writing the ticket, its nodes and assignments in
//! one transaction before the first node starts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::audit::{self, Audit, Channel};
use super::super::changes;
use super::super::directory::{DbDirectory, UserIds};
use super::super::{StoreError, StoreResult, now};
use super::{progress, ticket_event};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, BusinessId, ServiceId, UserId, VersionId};
use crate::db::models::Apply;
use crate::db::prepared;
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, serial_counters as sc, users,
};
use crate::db::stamp::At;
use crate::db::states::{
    AssignmentStatus, Decided, StepStatus, StoredForm, TicketEvent, TicketStatus,
};
use crate::flow::form::{FieldError, Values};
use crate::flow::plan::{self, Plan, PlanInput};
use crate::flow::{FieldKind, Mode, NodeKind, ProcessDef, ProcessKind};
use crate::refusal::Refusal;
use std::sync::Arc;

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
    /// Which way it was filed: the form (`web`) or the API (`api`).
    pub channel: Channel,
}

/// A submission planned but not filed: who will be asked, under the
/// definition it would run on (with any step the calendar adds), and
/// what the calendar says of it.
pub struct Previewed {
    pub plan: Plan,
    pub def: Arc<ProcessDef>,
    pub check: changes::Check,
}

/// Plans a submission against the directory and the calendar as they are
/// now. A hard freeze that would refuse it is in `check`, not an error.
pub fn preview(conn: &mut DbConn, sub: &Submission) -> StoreResult<Previewed> {
    let (check, def, _) = calendar_check(conn, sub, None)?;
    let plan = plan_with_ids(conn, sub, &def)?.0;
    Ok(Previewed { plan, def, check })
}

/// What the calendar says of a submission (`except`: the ticket itself,
/// refiled), the definition it runs on, and its added steps as stored.
pub(super) fn calendar_check(
    conn: &mut DbConn,
    sub: &Submission,
    except: Option<ApplyId>,
) -> StoreResult<(changes::Check, Arc<ProcessDef>, Option<String>)> {
    if sub.def.change.is_none() {
        return Ok((changes::Check::default(), sub.def.clone(), None));
    }
    let business = sub.business.as_ref().map(|(id, _)| *id);
    let check = changes::check(conn, &sub.def, &sub.values, business, except)?;
    let extra = check.extra_nodes(&sub.def);
    if extra.is_empty() {
        return Ok((check, sub.def.clone(), None));
    }
    let stored = serde_json::to_string(&extra).map_err(|e| StoreError::Unexpected(e.into()))?;
    let def = Arc::new(crate::flow::change::with_extra(&sub.def, &extra));
    Ok((check, def, Some(stored)))
}

/// The refusal of a change whose window touches a hard freeze (and that
/// is not an emergency): beside the window field, naming the freeze, its
/// time in its own zone and its reason in both languages; or of a window
/// longer than a year.
pub fn frozen(def: &ProcessDef, check: &changes::Check) -> Option<Refusal> {
    let window = def.change.as_ref()?.window.clone();
    // Longer than a year is no change window (and the calendar looks for
    // long windows only a year back).
    if check.facts.as_ref().is_some_and(|f| {
        f.window.1 - f.window.0 > chrono::Duration::days(crate::flow::change::LONGEST_WINDOW_DAYS)
    }) {
        let error = FieldError {
            key: "form.window_too_long",
            args: Vec::new(),
        };
        return Some(Refusal::Fields([(window, error)].into_iter().collect()));
    }
    let hit = check.refused_by()?;
    let f = &hit.freeze;
    let reason = |label: &str, text: &str| match text.trim() {
        "" => String::new(),
        text => format!(" {label}{text}"),
    };
    let key = if def.change.as_ref().is_some_and(|c| c.emergency.is_some()) {
        "form.frozen"
    } else {
        "form.frozen_no_emergency"
    };
    let error = FieldError {
        key,
        args: vec![
            ("freeze_en", f.name.en.clone()),
            ("freeze_zh", f.name.text(true).to_string()),
            ("from", f.local(hit.occurrence.0)),
            ("to", f.local(hit.occurrence.1)),
            ("zone", f.time.zone.name().to_string()),
            ("reason_en", reason("Reason: ", &f.reason.en)),
            ("reason_zh", reason("原因：", f.reason.text(true))),
        ],
    };
    Some(Refusal::Fields([(window, error)].into_iter().collect()))
}

/// The plan under `def`, and the ids of the people the directory looked
/// up for it.
fn plan_with_ids(
    conn: &mut DbConn,
    sub: &Submission,
    def: &ProcessDef,
) -> StoreResult<(Plan, UserIds)> {
    let business = sub.business.as_ref().map(|(_, name)| name.as_str());
    plan_for(conn, def, &sub.applicant_username, business, &sub.values)
}

/// Plans `values` for `applicant` (filing in `business`) against the
/// directory as it is now: on filing, and again on resubmitting.
pub(super) fn plan_for(
    conn: &mut DbConn,
    def: &ProcessDef,
    applicant: &str,
    business: Option<&str>,
    values: &Values,
) -> StoreResult<(Plan, UserIds)> {
    let dir = DbDirectory::new(conn, now());
    dir.read_ahead(def, applicant, business)?;
    let input = PlanInput {
        def,
        applicant,
        business,
        values,
    };
    let plan = plan::plan(&input, &dir);
    let ids = dir.finish()?;
    Ok((plan, ids))
}

/// The next serial number of `kind` for today: CHG-20261121-0001. The
/// counter row is bumped in the caller's transaction (the update locks it on
/// PostgreSQL), so concurrent submissions never share a number.
fn next_serial(conn: &mut DbConn, kind: ProcessKind, at: NaiveDateTime) -> StoreResult<String> {
    let prefix = serial_prefix(kind, at);
    let last = on_counter(conn, &prefix, |conn| {
        Ok(crate::direct!(conn, |c| prepared::update(
            sc::table.find(&prefix),
            sc::last.eq(sc::last + 1),
        )
        .returning(sc::last)
        .get_result::<i32>(c))
        .optional()?)
    })?;
    Ok(format!("{prefix}-{last:04}"))
}

/// What a day's serial numbers of `kind` begin with: CHG-20261121.
fn serial_prefix(kind: ProcessKind, at: NaiveDateTime) -> String {
    format!("{}-{}", kind.serial_prefix(), at.format("%Y%m%d"))
}

/// `ask` of the day's counter row `prefix`, which answers `None` when
/// there is no such row yet: the first ticket of a day inserts it (at 0)
/// inside a savepoint and asks again — as does a filing that another
/// transaction beat to inserting it.
fn on_counter<T>(
    conn: &mut DbConn,
    prefix: &str,
    mut ask: impl FnMut(&mut DbConn) -> StoreResult<Option<T>>,
) -> StoreResult<T> {
    if let Some(answer) = ask(conn)? {
        return Ok(answer);
    }
    let made = conn.transaction(|c| {
        diesel::insert_into(sc::table)
            .values((sc::prefix.eq(prefix), sc::last.eq(0)))
            .execute(c)
    });
    match made {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {}
        Err(e) => return Err(e.into()),
    }
    ask(conn)?.ok_or(StoreError::NotFound)
}

/// The serial number of ticket `apply`, filed at `at`, taken and set in
/// one statement as the last thing filing does before its commit on
/// PostgreSQL. Every filing of the day bumps the same counter row, whose
/// lock is held until the commit: taken last, it is held for this
/// statement and the commit, not for the whole of filing, so filings
/// queue on it far less.
fn number_last(
    conn: &mut DbConn,
    kind: ProcessKind,
    at: NaiveDateTime,
    apply: ApplyId,
) -> StoreResult<String> {
    #[derive(diesel::QueryableByName)]
    struct Numbered {
        #[diesel(sql_type = diesel::sql_types::Text)]
        serial: String,
    }
    let prefix = serial_prefix(kind, at);
    on_counter(conn, &prefix, |conn| {
        let DbConn::Pg(pg) = conn else {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "a ticket is numbered last on PostgreSQL only"
            )));
        };
        // Formatted as `next_serial` formats it: at least four digits.
        Ok(diesel::sql_query(
            "WITH first AS (UPDATE serial_counters SET last = last + 1 \
             WHERE prefix = $1 RETURNING last) \
             UPDATE applies SET serial = $1 || '-' || (SELECT CASE WHEN last < 10000 \
             THEN lpad(last::text, 4, '0') ELSE last::text END FROM first) \
             WHERE id = $2 AND EXISTS (SELECT 1 FROM first) RETURNING serial",
        )
        .bind::<diesel::sql_types::Text, _>(&prefix)
        .bind::<diesel::sql_types::Integer, _>(apply.0)
        .get_result::<Numbered>(pg)
        .optional()?
        .map(|n| n.serial))
    })
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
/// submit token again (a double-clicked submit, Back and Submit) is
/// refused as `errors.already_submitted`; `by_submit_token` finds the
/// ticket it made.
pub fn submit(conn: &mut DbConn, sub: &Submission) -> StoreResult<Filed> {
    // The filing's events and mail are written together, once it has
    // succeeded.
    let events = super::super::held::Held::begin();
    let filed = file(conn, sub)?;
    events.write(conn)?;
    let (kind, process) = super::process_labels(&sub.def);
    crate::metrics::note(crate::metrics::Noted::Filed { kind, process });
    Ok(filed)
}

fn file(conn: &mut DbConn, sub: &Submission) -> StoreResult<Filed> {
    // A submit token filed before is found by the unique index on it, as
    // the ticket is written: `errors.already_submitted`, and everything
    // this transaction did is rolled back (no statement asks beforehand).
    let (check, def, extra_nodes) = calendar_check(conn, sub, None)?;
    if let Some(refusal) = frozen(&sub.def, &check) {
        return Err(refusal.into());
    }
    let (plan, ids) = plan_with_ids(conn, sub, &def)?;
    let at = now();
    // On PostgreSQL the ticket is numbered just before the commit (see
    // `number_last`); until then it carries its submit token, unique too.
    let late = matches!(conn, DbConn::Pg(_));
    let serial = if late {
        format!("~{}", sub.submit_token)
    } else {
        next_serial(conn, sub.def.kind, at)?
    };
    let ticket: Apply = crate::direct!(conn, |c| diesel::insert_into(a::table)
        .values((
            a::serial.eq(&serial),
            a::service_id.eq(sub.service),
            a::version_id.eq(sub.version),
            a::kind.eq(sub.def.kind.as_str()),
            a::title.eq(title_of(&sub.def, &sub.values, &sub.service_name)),
            a::applicant_id.eq(sub.applicant),
            a::business_id.eq(sub.business.as_ref().map(|(id, _)| *id)),
            a::status.eq(TicketStatus::Running),
            a::form.eq(StoredForm(sub.values.clone())),
            a::submit_token.eq(&sub.submit_token),
            a::row_version.eq(1),
            a::created_at.eq(At(at)),
            a::updated_at.eq(At(at)),
            a::extra_nodes.eq(&extra_nodes),
        ))
        .returning(Apply::as_returning())
        .get_result(c))
    .map_err(|e| StoreError::unique_as(e, "", "errors.already_submitted"))?;
    let apply = ticket.id;
    attach_files(
        conn,
        apply,
        &sub.def.submit_fields(),
        &sub.values,
        sub.applicant,
    )?;
    // A ticket filed in this transaction has no events yet: its chain
    // starts here, with nothing to read or lock.
    super::super::held::known_head(apply.0, super::super::chain::Head::empty());
    let filed_event = super::super::held::events_held();
    audit::record(
        conn,
        Audit {
            channel: sub.channel,
            ..ticket_event(
                Some(sub.applicant),
                TicketEvent::Filed,
                apply,
                serde_json::json!({ "serial": serial }),
            )
        },
    )?;

    if let Some(facts) = &check.facts {
        let business = sub.business.as_ref().map(|(id, _)| *id);
        changes::record(conn, apply, sub.service, business, facts, true)?;
    }
    insert_plan(conn, apply, &plan, &ids, &def, (0, sub.channel))?;
    super::super::timers::start_ticket(conn, apply, &def, at)?;
    progress::advance(conn, &ticket, &def, progress::Round::Starts, None)?;
    let serial = if late {
        let serial = number_last(conn, sub.def.kind, at, apply)?;
        // The filing's event, held until the commit, names it.
        let named = filed_event.is_some_and(|index| {
            super::super::held::amend_event(index, |row| {
                row.detail = serde_json::json!({ "serial": serial }).to_string();
            })
        });
        if !named {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "filing outside a hold of its events"
            )));
        }
        serial
    } else {
        serial
    };
    Ok(Filed {
        id: apply,
        serial,
        fresh: true,
    })
}

/// Puts the files `values` name in `fields` on ticket `apply`: each must
/// be `uploader`'s and on no ticket yet, or already this one's — else
/// the field says so and nothing is filed.
pub(super) fn attach_files(
    conn: &mut DbConn,
    apply: crate::db::ids::ApplyId,
    fields: &[&crate::flow::FieldDef],
    values: &Values,
    uploader: crate::db::ids::UserId,
) -> StoreResult<()> {
    for field in fields.iter().filter(|f| f.kind == FieldKind::File) {
        let Some(value) = values.get(&field.key) else {
            continue;
        };
        let ids = super::super::attachments::ids_in(value);
        if !super::super::attachments::attach(conn, apply, Some(&field.key), &ids, uploader)? {
            let errors = std::collections::BTreeMap::from([(
                field.key.clone(),
                crate::flow::form::FieldError {
                    key: "form.unknown_attachment",
                    args: Vec::new(),
                },
            )]);
            return Err(Refusal::Fields(errors).into());
        }
    }
    Ok(())
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
pub(super) fn insert_plan(
    conn: &mut DbConn,
    apply: ApplyId,
    plan: &Plan,
    ids: &UserIds,
    def: &ProcessDef,
    (offset, channel): (i32, Channel),
) -> StoreResult<()> {
    let at = now();
    let submit_at = |kind: NodeKind| (kind == NodeKind::Submit).then_some(At(at));
    // The nodes in one statement, the people in another.
    let specs = plan
        .nodes
        .iter()
        .map(|planned| {
            def.node(&planned.key)
                .map(|node| (planned, node))
                .ok_or_else(|| {
                    StoreError::Unexpected(anyhow::anyhow!("node {} not in version", planned.key))
                })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let nodes: Vec<_> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (planned, node))| {
            let node_status = match (planned.kind, planned.included) {
                (NodeKind::Submit, _) => StepStatus::Done,
                (_, true) => StepStatus::Waiting,
                (_, false) => StepStatus::Skipped,
            };
            (
                n::apply_id.eq(apply),
                n::position.eq(offset + i as i32),
                n::node_key.eq(&planned.key),
                n::name_en.eq(&node.name.en),
                n::name_zh.eq(&node.name.zh),
                n::kind.eq(planned.kind.as_str()),
                n::mode.eq(mode_json(&planned.mode)),
                n::status.eq(node_status),
                n::notes.eq(serde_json::to_string(&planned.notes).unwrap_or_else(|_| "[]".into())),
                n::row_version.eq(1),
                n::started_at.eq(submit_at(planned.kind)),
                n::decided_at.eq(submit_at(planned.kind)),
            )
        })
        .collect();
    if nodes.is_empty() {
        return Ok(());
    }
    // On PostgreSQL in chunks, each under its limit on a statement's
    // values; SQLite, with no round trips to save, a row at a time (a
    // one-row insert stays prepared, one of many rows is prepared afresh).
    let mut made: Vec<(i32, ApproveId)> = Vec::with_capacity(nodes.len());
    match &mut *conn {
        DbConn::Pg(pg) => {
            for chunk in nodes.chunks(super::super::held::CHUNK) {
                made.extend(
                    diesel::insert_into(n::table)
                        .values(chunk)
                        .returning((n::position, n::id))
                        .get_results::<(i32, ApproveId)>(pg)?,
                );
            }
        }
        DbConn::Sqlite(sqlite) => {
            for node in nodes {
                made.push(
                    diesel::insert_into(n::table)
                        .values(node)
                        .returning((n::position, n::id))
                        .get_result::<(i32, ApproveId)>(sqlite)?,
                );
            }
        }
    }
    let node_at = |position: i32| made.iter().find(|(p, _)| *p == position).map(|(_, id)| *id);
    let mut people = Vec::new();
    for (i, planned) in plan.nodes.iter().enumerate() {
        let approve = node_at(offset + i as i32).ok_or(StoreError::NotFound)?;
        if !planned.included {
            audit::record(
                conn,
                ticket_event(
                    None,
                    TicketEvent::StepSkipped,
                    apply,
                    serde_json::json!({ "node": planned.key, "notes": planned.notes }),
                ),
            )?;
        }
        let submit = planned.kind == NodeKind::Submit;
        for (i, assignee) in planned.assignees.iter().enumerate() {
            let user = match ids.get(&assignee.user) {
                Some(id) => *id,
                None => user_id(conn, &assignee.user)?,
            };
            people.push((
                au::approve_id.eq(approve),
                au::apply_id.eq(apply),
                au::position.eq(i as i32),
                au::user_id.eq(user),
                au::status.eq(if submit {
                    AssignmentStatus::Decided
                } else {
                    AssignmentStatus::Waiting
                }),
                au::decision.eq(submit.then_some(Decided::Submit)),
                au::acted_by.eq(submit.then_some(user)),
                au::channel.eq(submit.then_some(channel)),
                au::decided_at.eq(submit.then_some(At(at))),
                au::created_at.eq(At(at)),
            ));
        }
    }
    match conn {
        DbConn::Pg(pg) => {
            for chunk in people.chunks(super::super::held::CHUNK) {
                diesel::insert_into(au::table).values(chunk).execute(pg)?;
            }
        }
        DbConn::Sqlite(sqlite) => {
            for person in people {
                diesel::insert_into(au::table)
                    .values(person)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}
