//! The ticket page — fields so far, the flow with each node's status and
//! people, the timeline — and the actions its viewer may take now; plus the
//! inbox and "my tickets".

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::ctx::{Ctx, FlashKind, SignedIn, see_other};
use super::ticket_form::{FieldView, raw_map, views};
use super::{AppError, AppState, render, render_status};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveUserId, BusinessId, ServiceId, UserId};
use crate::db::models::{Apply, Resource};
use crate::db::states::{AssignmentStatus, StepStatus, TicketEvent};
use crate::flow::added::Placement;
use crate::flow::diagram::{NodeState, NodeStatus};
use crate::flow::form::{FieldError, Values};
use crate::flow::{FieldDef, FieldKind, NodeKind, ProcessDef};
use crate::i18n::Lang;
use crate::refusal::Refusal;
use crate::store::audit::Channel;
use crate::store::names::Names;
use crate::store::ticket_views::{self, InboxChoices, InboxFilter, InboxRow, TicketView};
use crate::store::tickets::rules::Verb;
use crate::store::tickets::{self, Act, Action, Allowed, Decision};
use crate::store::{StoreError, StoreResult, resources};

/// One filled field, for display.
pub struct ShownField {
    pub node: String,
    pub label: String,
    pub value: String,
    /// A file field's files: (id, name, size in words).
    pub files: Vec<(i32, String, String)>,
}

/// Something the viewer may do now on one of the ticket's assignments.
pub struct ActionView {
    pub assignment: ApproveUserId,
    pub node: String,
    pub kind: &'static str,
    /// What the door accepts on this step, in the order the buttons show.
    pub verbs: &'static [Verb],
    /// The assignee, when the viewer acts for someone else.
    pub for_person: Option<String>,
    pub fields: Vec<FieldView>,
    pub comment: String,
    pub outcome: String,
    pub error: Option<String>,
    /// The earlier steps the viewer may send the ticket back to (key,
    /// name), besides the applicant; the one chosen, and why it was not
    /// taken.
    pub send_back_targets: Vec<(String, String)>,
    pub send_back_to: String,
    pub send_back_error: Option<String>,
    /// Adding approvers (加签): whether the viewer may, what was typed,
    /// and why it was not taken.
    pub adds: bool,
    pub add: AddForm,
}

/// The form that adds approvers to a step (加签).
#[derive(Clone, Default)]
pub struct AddForm {
    pub people: String,
    pub placement: String,
    pub reason: String,
    pub error: Option<String>,
}

impl ActionView {
    /// The step's buttons: (intent, extra class, label key). Handing over
    /// has its own part of the form.
    pub fn buttons(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        self.verbs
            .iter()
            .filter_map(|v| match v {
                Verb::Approve => Some((v.as_str(), " primary", "tickets.approve")),
                Verb::Reject => Some((v.as_str(), " danger", "tickets.reject")),
                Verb::SendBack => Some((v.as_str(), "", "tickets.send_back")),
                Verb::Complete => Some((v.as_str(), " primary", "tickets.complete")),
                Verb::HandOver | Verb::AddApprovers => None,
            })
            .collect()
    }

    pub fn hands_over(&self) -> bool {
        self.verbs.contains(&Verb::HandOver)
    }
}

/// An action form shown again after a refusal: the field errors, the
/// message, and what was typed.
#[derive(Clone, Default)]
pub struct ShownAgain {
    pub errors: BTreeMap<String, FieldError>,
    pub message: Option<String>,
    pub raw: HashMap<String, Vec<String>>,
    pub comment: String,
    pub outcome: String,
    pub send_back_to: String,
    /// Why the step chosen to send back to was not taken.
    pub send_back_error: Option<String>,
    /// The approvers-added form as sent.
    pub add: AddForm,
}

/// One line of the timeline.
pub struct EventLine {
    pub at: String,
    pub text: String,
    pub comment: String,
    /// Files sent with a comment: (id, name, size in words).
    pub files: Vec<(i32, String, String)>,
}

/// The files of `ids` among `files`, for a page: (id, name, size).
fn files_of(
    files: &[crate::store::attachments::Attachment],
    ids: &[crate::db::ids::AttachmentId],
) -> Vec<(i32, String, String)> {
    ids.iter()
        .filter_map(|id| files.iter().find(|f| f.id == *id))
        .map(|f| {
            (
                f.id.0,
                f.name.clone(),
                crate::store::names::size_words(f.size),
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "tickets/show.html")]
struct TicketPage {
    ctx: Ctx,
    view: TicketView,
    /// The submit form again, for the applicant of a sent-back ticket.
    resubmit: Vec<FieldView>,
    /// The header's facts: service, business, the step it is at and whom
    /// it waits for, the change window; (id, label, value).
    head: Vec<(&'static str, String, String)>,
    /// The fields filled so far, grouped by the node that asked for them.
    field_groups: Vec<(String, Vec<ShownField>)>,
    /// Whether the ticket waits for someone other than its applicant (so
    /// reminding them makes sense).
    waits_on_others: bool,
    /// Whether the viewer may withdraw it (and so remind, see below).
    can_withdraw: bool,
    /// Why reminding is not possible just now (reminded a moment ago),
    /// with when it is again.
    urged_note: Option<String>,
    diagram: String,
    actions: Vec<ActionView>,
    /// Steps of people who can no longer act, for an administrator to hand over.
    stranded: Vec<StrandedView>,
    timeline: Vec<EventLine>,
    /// Each step with a deadline: when it was due and how it stands.
    deadlines: Vec<DeadlineView>,
    /// An action someone else's got ahead of: what happened, and the
    /// comment the viewer typed, which was not sent.
    overtaken: Option<(String, String)>,
    /// The change's window, the freezes it touches, the changes it overlaps.
    change: Option<super::change_view::ChangePanel>,
    /// The form that copies the ticket to people (抄送), when the viewer
    /// may: what was typed and why it was refused, when it was.
    copy: Option<CopyForm>,
    /// A comment refused for its files: what was typed, and why.
    comment_again: Option<(String, String)>,
}

/// The copy form (抄送): usernames, a note, and why it was refused.
#[derive(Clone, Default)]
pub struct CopyForm {
    pub to: String,
    pub note: String,
    pub error: Option<String>,
}

/// A step's deadline on the ticket page.
pub struct DeadlineView {
    pub node: String,
    pub due: String,
    /// `due`, `overdue`, `met` or `missed` (the row's class).
    pub state: &'static str,
    /// How it stands, in words, with the reminders sent.
    pub text: String,
}

/// The deadlines of a ticket's steps, in their order, then the whole
/// ticket's.
fn deadlines_of(lang: Lang, view: &TicketView) -> Vec<DeadlineView> {
    let format = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    let a = &view.apply;
    let whole = a.due_at.map(|due| {
        let (state, key, at) = match (a.overdue_at, a.finished_at) {
            (Some(since), None) => ("overdue", "deadline.overdue", since),
            (_, Some(done)) if done <= due => ("met", "deadline.met", done),
            (_, Some(done)) => ("missed", "deadline.missed", done),
            (None, None) => ("due", "deadline.due", due),
        };
        DeadlineView {
            node: lang.t("deadline.whole_ticket").into_owned(),
            due: format(due),
            state,
            text: lang.tf(key, &[("at", &format(at))]),
        }
    });
    let mut steps: Vec<DeadlineView> = view
        .nodes
        .iter()
        .filter_map(|n| {
            let due = n.node.due_at?;
            // A step that will not run (withdrawn, rejected before it) has
            // no deadline left to speak of.
            if matches!(n.node.status, StepStatus::Cancelled | StepStatus::Skipped) {
                return None;
            }
            let reminded = view
                .events
                .iter()
                .filter(|(e, _, _)| e.action == TicketEvent::Reminded.as_str())
                .filter(|(e, _, _)| {
                    serde_json::from_str::<serde_json::Value>(&e.detail)
                        .ok()
                        .and_then(|d| d.get("node")?.as_str().map(|k| k == n.node.node_key))
                        .unwrap_or(false)
                })
                .count();
            let (state, key, at) = match (n.node.status, n.node.overdue_at, n.node.decided_at) {
                (StepStatus::Active, Some(since), _) => ("overdue", "deadline.overdue", since),
                (StepStatus::Active, None, _) => ("due", "deadline.due", due),
                (_, _, Some(done)) if done <= due => ("met", "deadline.met", done),
                (_, _, Some(done)) => ("missed", "deadline.missed", done),
                _ => ("due", "deadline.due", due),
            };
            let mut text = lang.tf(key, &[("at", &format(at))]);
            if reminded > 0 {
                text = format!("{text} · {}", lang.tn("deadline.reminded", reminded));
            }
            Some(DeadlineView {
                node: n.node.name(&lang).to_string(),
                due: format(due),
                state,
                text,
            })
        })
        .collect();
    steps.extend(whole);
    steps
}

/// A step whose person can no longer act, which an administrator may hand over.
pub struct StrandedView {
    pub assignment: ApproveUserId,
    pub node: String,
    pub person: String,
    pub error: Option<String>,
}

impl TicketPage {
    fn status_label(&self) -> String {
        self.ctx
            .t(&format!("ticket_status.{}", self.view.apply.status))
            .into_owned()
    }
}

struct Loaded {
    view: TicketView,
    def: std::sync::Arc<ProcessDef>,
    resources: Vec<Resource>,
    /// What the viewer may do now, by the rules the door enforces.
    allowed: Allowed,
    /// Names of the resources and people the ticket's values refer to.
    names: Names,
    /// Role names by code, for the diagram's rules.
    roles: std::sync::Arc<crate::store::roles::RoleNames>,
    /// The service (English and Chinese) and the business it was filed in.
    filed: ((String, String), Option<String>),
    /// What the calendar says of it now, with its items' names.
    change: Option<(crate::store::changes::Check, HashMap<String, String>)>,
    /// When it was read, on the database's clock.
    now: chrono::NaiveDateTime,
    /// The files on it (read only when it holds any).
    files: Vec<crate::store::attachments::Attachment>,
}

impl Loaded {
    /// The display name of an assignment's person.
    fn person_of(&self, assignment: ApproveUserId) -> String {
        self.view
            .nodes
            .iter()
            .flat_map(|n| n.people.iter())
            .find(|(a, _, _)| a.id == assignment)
            .map(|(_, p, _)| p.display_name.clone())
            .unwrap_or_default()
    }

    /// Whether the page has a form for this assignment.
    fn offers(&self, assignment: ApproveUserId) -> bool {
        let a = &self.allowed;
        a.steps
            .iter()
            .chain(&a.stranded)
            .any(|s| s.assignment == assignment)
    }
}

fn load(c: &mut DbConn, id: ApplyId, me: UserId, is_admin: bool) -> StoreResult<Option<Loaded>> {
    match ticket_views::ticket(c, id) {
        Ok(view) => loaded(c, view, me, is_admin),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the ticket page shows of `view` to `me`; `None` when they may
/// not see it.
fn loaded(
    c: &mut DbConn,
    view: TicketView,
    me: UserId,
    is_admin: bool,
) -> StoreResult<Option<Loaded>> {
    if !view.may_be_seen_by(c, me, is_admin)? {
        return Ok(None);
    }
    let def = tickets::def_of(c, &view.apply)?;
    let change = match &view.change {
        Some(facts) => {
            let check = crate::store::changes::check_filed(
                c,
                view.apply.id,
                facts,
                view.apply.business_id,
            )?;
            let labels = crate::store::changes::item_labels(c, &check)?;
            Some((check, labels))
        }
        None => None,
    };
    let allowed = tickets::allowed(c, &view, &def, me, is_admin, crate::store::now())?;
    let resources = if def.fields().any(|(_, f)| f.kind == FieldKind::Resource) {
        resources::list(c)?
            .into_iter()
            .map(|r| r.resource)
            .collect()
    } else {
        Vec::new()
    };
    let values: Values = view.apply.form.0.clone();
    let names = Names::for_values(c, &def, &values)?;
    let roles = crate::store::roles::names(c)?;
    let filed = view.filed.clone();
    let files = if view.apply.attached {
        crate::store::attachments::of_ticket(c, view.apply.id)?
    } else {
        Vec::new()
    };
    Ok(Some(Loaded {
        files,
        view,
        def,
        resources,
        allowed,
        names,
        roles,
        filed,
        change,
        now: crate::store::now(),
    }))
}

fn node_status(status: StepStatus) -> NodeStatus {
    match status {
        StepStatus::Active => NodeStatus::Active,
        StepStatus::Approved => NodeStatus::Approved,
        StepStatus::Rejected => NodeStatus::Rejected,
        StepStatus::Skipped | StepStatus::Cancelled => NodeStatus::Skipped,
        StepStatus::Done => NodeStatus::Done,
        StepStatus::Waiting => NodeStatus::Pending,
    }
}

fn event_text(
    lang: Lang,
    def: &ProcessDef,
    names: &Names,
    e: &crate::db::models::AuditEvent,
    actor: Option<&str>,
    behalf: Option<&str>,
) -> String {
    let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
    // What was granted, by name (one resource each in older events).
    let granted: Vec<String> = match (detail.get("resources"), detail.get("resource")) {
        (Some(serde_json::Value::Array(ids)), _) => ids.iter().filter_map(|v| v.as_i64()).collect(),
        (_, Some(id)) => id.as_i64().into_iter().collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|id| names.resource(id, lang).unwrap_or_else(|| format!("#{id}")))
    .collect();
    let granted = granted.join(if lang == Lang::ZhCn { "、" } else { ", " });
    let node = detail
        .get("node")
        .and_then(|n| n.as_str())
        .and_then(|k| def.node(k))
        .map(|n| n.name.text(lang == Lang::ZhCn).to_string())
        .unwrap_or_default();
    let system = lang.t("timeline.system");
    let who = match (actor, behalf) {
        (Some(a), Some(b)) => lang.tf("timeline.for", &[("actor", a), ("for", b)]),
        (Some(a), None) => a.to_string(),
        // countersign's clock acting on someone's part of a step.
        (None, Some(b)) if e.channel == Channel::Timer => {
            lang.tf("timeline.for", &[("actor", &system), ("for", b)])
        }
        (None, Some(b)) => b.to_string(),
        (None, None) => system.into_owned(),
    };
    let channel = match e.channel {
        Channel::EmailLink => format!(" · {}", lang.t("timeline.by_email")),
        Channel::Batch => format!(" · {}", lang.t("timeline.in_batch")),
        Channel::Timer => format!(" · {}", lang.t("timeline.by_timer")),
        _ => String::new(),
    };
    let policy = detail
        .get("policy")
        .and_then(|p| p.as_str())
        .map(|p| lang.t(&format!("escalation_done.{p}")).into_owned())
        .unwrap_or_default();
    let text = |key: &str| detail.get(key).and_then(|t| t.as_str()).unwrap_or_default();
    // The earlier step a ticket was sent back to, by name.
    let step = detail
        .get("to_step")
        .and_then(|n| n.as_str())
        .and_then(|k| def.node(k))
        .map(|n| n.name.text(lang == Lang::ZhCn).to_string());
    let key = match &step {
        Some(_) if e.action == TicketEvent::SentBack.as_str() => {
            "timeline.assignment_sent_back_to_step".to_string()
        }
        _ => format!("timeline.{}", e.action.replace('.', "_")),
    };
    let step = step.unwrap_or_default();
    let placement = detail
        .get("placement")
        .and_then(|p| p.as_str())
        .map(|p| lang.t(&format!("placement_done.{p}")).into_owned())
        .unwrap_or_default();
    format!(
        "{}{channel}",
        lang.tf(
            &key,
            &[
                ("who", &who),
                ("node", &node),
                ("to", text("to")),
                ("from", text("from")),
                ("granted", &granted),
                ("policy", &policy),
                ("step", &step),
                ("placement", &placement),
                (
                    "freeze",
                    text(if lang == Lang::ZhCn {
                        "freeze_zh"
                    } else {
                        "freeze_en"
                    })
                ),
                (
                    "strength",
                    &detail
                        .get("strength")
                        .and_then(|s| s.as_str())
                        .map(|s| lang.t(&format!("freezes.strength.{s}")).into_owned())
                        .unwrap_or_default()
                )
            ]
        )
    )
}

/// What a resubmission changed, field by field: "Scope: “db” → “app”".
fn changes_text(
    lang: Lang,
    def: &ProcessDef,
    names: &Names,
    changed: &serde_json::Value,
) -> String {
    let zh = lang == Lang::ZhCn;
    let none = lang.t("timeline.no_value");
    changed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|change| {
            let field = def.field(change.get("field")?.as_str()?)?;
            let shown = |key| match change.get(key) {
                Some(serde_json::Value::Null) | None => none.to_string(),
                Some(v) => format!("“{}”", names.show(lang, field, v)),
            };
            Some(format!(
                "{}: {} → {}",
                field.label.text(zh),
                shown("before"),
                shown("after")
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The header's facts — service, business, the step it is at and whom it
/// waits for, the change window — and whether it waits on someone other
/// than its applicant.
fn head_of(lang: Lang, l: &Loaded, values: &Values) -> (Vec<(&'static str, String, String)>, bool) {
    let zh = lang == Lang::ZhCn;
    let ((service_en, service_zh), business) = &l.filed;
    let service = if zh && !service_zh.trim().is_empty() {
        service_zh
    } else {
        service_en
    };
    let mut head = vec![(
        "head-service",
        lang.t("tickets.service").into_owned(),
        service.clone(),
    )];
    if let Some(business) = business {
        head.push((
            "head-business",
            lang.t("tickets.business").into_owned(),
            business.clone(),
        ));
    }
    let mut waiting_for = Vec::new();
    let mut steps = Vec::new();
    for n in l
        .view
        .nodes
        .iter()
        .filter(|n| n.node.status == StepStatus::Active)
    {
        steps.push(n.node.name(&lang).to_string());
        waiting_for.extend(
            n.people
                .iter()
                .filter(|(a, _, _)| a.status == AssignmentStatus::Pending)
                .map(|(a, p, _)| (a.user_id, p.display_name.clone())),
        );
    }
    let separator = if zh { "、" } else { ", " };
    if !steps.is_empty() {
        head.push((
            "head-step",
            lang.t("tickets.current_step").into_owned(),
            steps.join(separator),
        ));
        let names: Vec<String> = waiting_for.iter().map(|(_, n)| n.clone()).collect();
        head.push((
            "head-waiting",
            lang.t("tickets.waiting_for").into_owned(),
            names.join(separator),
        ));
    }
    // The change window: the first date-time range the form filled.
    if let Some((field, value)) = l
        .def
        .nodes
        .first()
        .into_iter()
        .flat_map(|n| n.fields.iter())
        .filter(|f| f.kind == FieldKind::DatetimeRange)
        .find_map(|f| values.get(&f.key).map(|v| (f, v)))
    {
        head.push((
            "head-window",
            field.label.text(zh).to_string(),
            l.names.show(lang, field, value),
        ));
    }
    let waits_on_others = waiting_for
        .iter()
        .any(|(user, _)| *user != l.view.apply.applicant_id);
    (head, waits_on_others)
}

fn page(ctx: Ctx, l: Loaded, errors: HashMap<ApproveUserId, ShownAgain>) -> TicketPage {
    page_with(ctx, l, errors, None)
}

/// The resubmit form as sent, with its errors.
type ResubmitAgain = (BTreeMap<String, FieldError>, HashMap<String, Vec<String>>);

fn page_with(
    ctx: Ctx,
    l: Loaded,
    errors: HashMap<ApproveUserId, ShownAgain>,
    resubmit_again: Option<ResubmitAgain>,
) -> TicketPage {
    let lang = ctx.lang;
    let zh = lang == Lang::ZhCn;
    let values: Values = l.view.apply.form.0.clone();
    let mut field_groups: Vec<(String, Vec<ShownField>)> = Vec::new();
    for node in &l.def.nodes {
        let shown: Vec<ShownField> = node
            .fields
            .iter()
            .filter_map(|f| {
                values.get(&f.key).map(|v| ShownField {
                    node: node.name.text(zh).to_string(),
                    label: f.label.text(zh).to_string(),
                    value: l.names.show(lang, f, v),
                    files: if f.kind == FieldKind::File {
                        files_of(&l.files, &crate::store::attachments::ids_in(v))
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect();
        if !shown.is_empty() {
            field_groups.push((node.name.text(zh).to_string(), shown));
        }
    }
    let (head, waits_on_others) = head_of(lang, &l, &values);
    let states: HashMap<String, NodeState> = l
        .view
        .nodes
        .iter()
        .map(|n| {
            let people = n
                .people
                .iter()
                .map(|(a, p, acted)| match acted {
                    Some(by) => lang.tf(
                        "plan.acting",
                        &[("user", &p.display_name), ("delegate", &by.display_name)],
                    ),
                    None if a.status == AssignmentStatus::Cancelled => {
                        format!("({})", p.display_name)
                    }
                    None => p.display_name.clone(),
                })
                .collect();
            (
                n.node.node_key.clone(),
                NodeState {
                    status: node_status(n.node.status),
                    people,
                },
            )
        })
        .collect();
    let diagram = super::design::draw(lang, &l.def, &l.roles, Some(&states));
    let me = ctx.user.as_ref().map(|u| u.id);
    let rows: Vec<(String, i32, StepStatus)> = l
        .view
        .nodes
        .iter()
        .map(|n| (n.node.node_key.clone(), n.node.position, n.node.status))
        .collect();
    let actions = l
        .allowed
        .steps
        .iter()
        .filter_map(|step| {
            let assignment = &step.assignment;
            let node = l.def.node(&step.node_key)?;
            let own: Vec<&FieldDef> = node.fields.iter().collect();
            let ShownAgain {
                errors: errs,
                message: error,
                raw,
                comment,
                outcome,
                send_back_to,
                send_back_error,
                add,
            } = errors.get(assignment).cloned().unwrap_or_default();
            let send_back_targets: Vec<(String, String)> = if node.send_back_to_earlier {
                tickets::rules::send_back_targets(&l.def, &node.key, &rows)
                    .into_iter()
                    .filter_map(|k| l.def.node(k))
                    .map(|n| (n.key.clone(), n.name.text(zh).to_string()))
                    .collect()
            } else {
                Vec::new()
            };

            Some(ActionView {
                assignment: *assignment,
                node: node.name.text(zh).to_string(),
                kind: node.kind.as_str(),
                verbs: step.verbs,
                for_person: (Some(step.assignee) != me).then(|| l.person_of(*assignment)),
                fields: if node.kind == NodeKind::Approval {
                    Vec::new()
                } else {
                    views(lang, &own, &raw, &errs, &l.resources)
                },
                comment,
                outcome,
                error,
                send_back_targets,
                send_back_to,
                send_back_error,
                adds: step.adds,
                add,
            })
        })
        .collect();
    // Each thing once: a step "completed" right after the vote that
    // completed it says nothing new.
    let mut last_vote: Option<String> = None;
    let timeline = l
        .view
        .events
        .iter()
        .filter(|(e, _, _)| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            let node = detail
                .get("node")
                .and_then(|n| n.as_str())
                .map(str::to_string);
            let event = TicketEvent::parse(&e.action);
            let repeat =
                event == Some(TicketEvent::StepPassed) && node.is_some() && node == last_vote;
            last_vote = matches!(
                event,
                Some(TicketEvent::Approved | TicketEvent::Completed | TicketEvent::AutoApproved)
            )
            .then_some(node)
            .flatten();
            !repeat
        })
        .map(|(e, actor, behalf)| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            EventLine {
                at: e.at.format("%Y-%m-%d %H:%M").to_string(),
                text: event_text(
                    lang,
                    &l.def,
                    &l.names,
                    e,
                    actor.as_ref().map(|p| p.display_name.as_str()),
                    behalf.as_ref().map(|p| p.display_name.as_str()),
                ),
                files: detail
                    .get("attachments")
                    .map(|ids| files_of(&l.files, &crate::store::attachments::ids_in(ids)))
                    .unwrap_or_default(),
                comment: match detail.get("changed") {
                    Some(changed) => changes_text(lang, &l.def, &l.names, changed),
                    None => detail
                        .get("comment")
                        .and_then(|c| c.as_str())
                        .unwrap_or_default()
                        .to_string(),
                },
            }
        })
        .collect();
    let resubmit = if l.allowed.resubmit {
        let submit: Vec<&FieldDef> = l
            .def
            .nodes
            .first()
            .map(|n| n.fields.iter().collect())
            .unwrap_or_default();
        let (errors, raw) = resubmit_again.unwrap_or_else(|| {
            let raw = crate::flow::form::raw_from_values(&submit, &values);
            (BTreeMap::new(), raw)
        });
        views(lang, &submit, &raw, &errors, &l.resources)
    } else {
        Vec::new()
    };
    let stranded = l
        .allowed
        .stranded
        .iter()
        .map(|step| StrandedView {
            assignment: step.assignment,
            node: l
                .def
                .node(&step.node_key)
                .map(|n| n.name.text(zh).to_string())
                .unwrap_or_default(),
            person: l.person_of(step.assignment),
            error: errors.get(&step.assignment).and_then(|e| e.message.clone()),
        })
        .collect();
    // Reminded a moment ago: when, and from when again.
    let urged_note = match (&l.allowed.urge, l.view.apply.last_urged_at) {
        (Some(Err(Refusal::UrgedRecently)), Some(at)) => {
            let next = at + chrono::Duration::minutes(tickets::URGE_INTERVAL_MINUTES);
            Some(lang.tf(
                "tickets.urged_at",
                &[
                    ("at", &at.format("%H:%M").to_string()),
                    ("next", &next.format("%H:%M").to_string()),
                ],
            ))
        }
        _ => None,
    };
    let deadlines = deadlines_of(lang, &l.view);
    let change = l
        .change
        .as_ref()
        .and_then(|(check, labels)| super::change_view::panel(lang, check, labels))
        .map(|mut panel| {
            panel.silence = l.view.silence.as_ref().map(|row| {
                super::change_view::silence_text(lang, row, l.view.apply.row_version, l.now)
            });
            panel
        });
    TicketPage {
        ctx,
        deadlines,
        change,
        view: l.view,
        resubmit,
        head,
        field_groups,
        waits_on_others,
        can_withdraw: l.allowed.withdraw,
        urged_note,
        diagram,
        actions,
        stranded,
        timeline,
        overtaken: None,
        copy: l.allowed.copy.then(CopyForm::default),
        comment_again: None,
    }
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let id = ApplyId(path.into_inner());
    // The person and the ticket's head are read together (on PostgreSQL
    // one statement).
    let (ctx, loaded) = signed_in
        .read_with(move |c, key| {
            let Some((me, view)) = ticket_views::session_and_ticket(c, key, id)? else {
                return Ok(None);
            };
            let page = match view {
                Some(view) => loaded(c, view, me.id, me.is_admin)?,
                None => None,
            };
            Ok(Some((me, page)))
        })
        .await?;
    let loaded = loaded.ok_or(AppError::NotFound)?;
    // Someone it was copied to has now read it.
    if let Some(me) = ctx.user.as_ref().map(|u| u.id)
        && loaded
            .view
            .copies
            .iter()
            .any(|c| c.user_id == me && !c.read)
    {
        state
            .db
            .write(move |c| tickets::copies::read(c, id, me))
            .await?;
    }
    render(&page(ctx, loaded, HashMap::new()))
}

fn pick<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Approve, reject, send back, complete a task or review, or hand over,
/// on one assignment: the form is read into a request for the door, and
/// its refusal shown where it belongs — beside the form (422), as the
/// page of a step someone got to first (409), or as a flash.
pub async fn act(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(i32, i32)>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (id, assignment) = path.into_inner();
    let (id, assignment) = (ApplyId(id), ApproveUserId(assignment));
    let uploader = signed_in
        .user_id()
        .ok_or_else(|| AppError::SignInRequired {
            next: format!("/tickets/{id}"),
        })?;
    let super::upload::Sent { pairs, refused, .. } =
        super::upload::read(&req, body, &state, uploader).await?;
    let intent = pick(&pairs, "intent").to_string();
    let comment = pick(&pairs, "comment").to_string();
    let outcome = pick(&pairs, "outcome").to_string();
    let raw = raw_map(&pairs);
    let Some(verb) = Verb::parse(&intent) else {
        // A hand-made request; about a ticket the person may not see, it
        // says nothing.
        let (_, seen) = signed_in
            .read(move |c, user| ticket_views::may_see(c, id, user.id, user.is_admin))
            .await?;
        return Err(if seen {
            AppError::BadRequest(format!("action {intent}"))
        } else {
            AppError::NotFound
        });
    };
    let decide = |decision| Action::Decide {
        assignment,
        decision,
        comment: comment.clone(),
    };
    let action = match verb {
        Verb::Approve => decide(Decision::Approve),
        Verb::Reject => decide(Decision::Reject),
        Verb::SendBack => decide(Decision::SendBack {
            to: Some(pick(&pairs, "send_back_to").to_string()).filter(|s| !s.is_empty()),
        }),
        Verb::Complete => decide(Decision::Complete {
            fields: raw.clone(),
            outcome: (!outcome.is_empty()).then(|| outcome.clone()),
        }),
        Verb::HandOver => Action::HandOver {
            assignment,
            to: pick(&pairs, "to").to_string(),
            comment: comment.clone(),
        },
        Verb::AddApprovers => Action::AddApprovers {
            assignment,
            people: vec![pick(&pairs, "people").to_string()],
            placement: Placement::parse(pick(&pairs, "placement"))
                .ok_or_else(|| AppError::BadRequest("placement".into()))?,
            reason: pick(&pairs, "reason").to_string(),
        },
    };
    // A file not kept as it arrived: the form again, said beside its field.
    let acted_on = if refused.is_empty() {
        None
    } else {
        Some(Refusal::Fields(refused.into_iter().collect()))
    };
    // The session is checked at the door, with the action.
    let (ctx, acted) = signed_in
        .act(move |c, key| {
            if let Some(refusal) = acted_on {
                return Err(refusal.into());
            }
            let act = Act {
                ticket: id,
                actor: key.user,
                channel: Channel::Web,
                action,
            };
            tickets::perform_signed_in(c, key, act)
        })
        .await?;
    let refusal = match acted {
        Ok(_) => {
            let key = match verb {
                Verb::Approve => "flash.approved",
                Verb::Reject => "flash.rejected",
                Verb::SendBack => "flash.sent_back",
                Verb::Complete => "flash.completed",
                Verb::HandOver => "flash.transferred",
                Verb::AddApprovers => "flash.approvers_added",
            };
            ctx.flash(FlashKind::Success, ctx.t(key));
            return Ok(see_other(&format!("/tickets/{id}")));
        }
        Err(refusal) => refusal,
    };
    let user = ctx.require_user()?;
    let (me, admin) = (user.id, user.is_admin);
    // Field errors stand beside their fields, and a step to send back
    // to that was not taken beside its select.
    let beside_select = refusal.field() == "send_back_to";
    // Adding approvers: the message stands in its own part of the form.
    let adding = verb == Verb::AddApprovers;
    let again = ShownAgain {
        errors: refusal.field_errors().cloned().unwrap_or_default(),
        message: (!matches!(refusal, Refusal::Fields(_)) && !beside_select && !adding)
            .then(|| refusal.words(ctx.lang)),
        raw,
        comment: comment.clone(),
        outcome,
        send_back_to: pick(&pairs, "send_back_to").to_string(),
        send_back_error: beside_select.then(|| ctx.t(refusal.key()).into_owned()),
        add: AddForm {
            people: pick(&pairs, "people").to_string(),
            placement: pick(&pairs, "placement").to_string(),
            reason: pick(&pairs, "reason").to_string(),
            error: adding.then(|| refusal.words(ctx.lang)),
        },
    };
    match refusal {
        Refusal::NotFound => Err(AppError::NotFound),
        // An intent that does not fit the step: a hand-made request.
        Refusal::WrongAction => Err(AppError::BadRequest(format!("{intent} on this step"))),
        // Someone got there first (a tab left open): say who did what and
        // when, and keep what was typed, which was not sent.
        Refusal::Overtaken(became) if !comment.trim().is_empty() => {
            let lang = ctx.lang;
            let (loaded, said) = state
                .db
                .read(move |c| {
                    let Some(loaded) = load(c, id, me, admin)? else {
                        return Ok(None);
                    };
                    let said = super::email_link::became_text(c, lang, &became, me)?;
                    Ok(Some((loaded, said)))
                })
                .await?
                .ok_or(AppError::NotFound)?;
            let mut page = page(ctx, loaded, HashMap::new());
            page.overtaken = Some((said, comment));
            render_status(StatusCode::CONFLICT, &page)
        }
        // What the step stands at says it all: a flash on the page as it is now.
        Refusal::Overtaken(_)
        | Refusal::NotYours
        | Refusal::NotYourTurn
        | Refusal::AssigneeInactive
        | Refusal::Withdrawn
        | Refusal::NotRunning => {
            ctx.flash(FlashKind::Error, ctx.t(refusal.key()));
            Ok(see_other(&format!("/tickets/{id}")))
        }
        // The form needs correcting: shown again with what was typed.
        _ => {
            let loaded = state
                .db
                .read(move |c| load(c, id, me, admin))
                .await?
                .ok_or(AppError::NotFound)?;
            if !loaded.offers(assignment) {
                ctx.flash(FlashKind::Error, ctx.t(refusal.key()));
                return Ok(see_other(&format!("/tickets/{id}")));
            }
            show_again(ctx, loaded, assignment, again)
        }
    }
}

/// The ticket page again (422), with one assignment's form as it was sent.
fn show_again(
    ctx: Ctx,
    loaded: Loaded,
    assignment: ApproveUserId,
    again: ShownAgain,
) -> Result<HttpResponse, AppError> {
    let errors = HashMap::from([(assignment, again)]);
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(ctx, loaded, errors))
}

/// An inbox filter as query parameters (`&`-separated, with a leading
/// `&`, or empty).
fn query_of(filter: &InboxFilter) -> String {
    let mut q = String::new();
    if let Some(s) = filter.service {
        q.push_str(&format!("&service={s}"));
    }
    if let Some(b) = filter.business {
        q.push_str(&format!("&business={b}"));
    }
    if filter.others_only {
        q.push_str("&for=others");
    }
    if filter.by_due {
        q.push_str("&sort=due");
    }
    q
}

/// A deadline this close is marked as coming soon in the inbox.
pub const DUE_SOON_HOURS: i64 = 4;

/// How many assignments one inbox page lists.
pub const INBOX_PAGE: i64 = 25;

#[derive(Template)]
#[template(path = "tickets/inbox.html")]
struct InboxPage {
    ctx: Ctx,
    rows: Vec<InboxRow>,
    /// Where the next, older page starts.
    older: Option<ApproveUserId>,
    /// Whether this is a later page (so there is a way back to the newest).
    paged: bool,
    /// What the inbox is narrowed to, and what it could be narrowed to.
    filter: InboxFilter,
    choices: InboxChoices,
    /// Whether anyone delegates to the reader now.
    stands_in: bool,
    now: chrono::NaiveDateTime,
}

impl InboxPage {
    /// Only approvals can be decided in a batch.
    fn batchable(&self) -> bool {
        self.rows.iter().any(|r| r.node_kind == "approval")
    }

    /// The filter as query parameters, to keep it across pages
    /// (`&`-separated, with a leading `&`, or empty).
    fn filter_query(&self) -> String {
        query_of(&self.filter)
    }

    /// The inbox as it is narrowed, sorted by deadline or not.
    fn sort_link(&self, by_due: bool) -> String {
        let mut filter = self.filter.clone();
        filter.by_due = by_due;
        let query = query_of(&filter);
        match query.strip_prefix('&') {
            Some(q) => format!("/inbox?{q}"),
            None => "/inbox".to_string(),
        }
    }

    /// Whether any item has a deadline (so the column is worth showing).
    fn any_due(&self) -> bool {
        self.filter.by_due || self.rows.iter().any(|r| r.due.is_some())
    }

    /// A row's deadline: its class (`overdue`, `due-soon` within
    /// `DUE_SOON_HOURS`, or `due`) and its words.
    fn due(&self, row: &InboxRow) -> (&'static str, String) {
        let Some(due) = row.due else {
            return ("", String::new());
        };
        let at = due.format("%Y-%m-%d %H:%M").to_string();
        if row.overdue.is_some() || due <= self.now {
            (
                "overdue",
                self.ctx.tf("deadline.overdue_short", &[("at", &at)]),
            )
        } else if due - self.now <= chrono::Duration::hours(DUE_SOON_HOURS) {
            ("due-soon", self.ctx.tf("deadline.due_soon", &[("at", &at)]))
        } else {
            ("due", at)
        }
    }

    /// The newest page, narrowed as this one is.
    fn newest_link(&self) -> String {
        let query = self.filter_query();
        match query.strip_prefix('&') {
            Some(q) => format!("/inbox?{q}"),
            None => "/inbox".to_string(),
        }
    }

    /// Whether there is anything to narrow: more than one service or
    /// business waiting, someone stood in for, or a filter already set.
    fn narrowable(&self) -> bool {
        !self.filter.is_empty()
            || self.stands_in
            || self.choices.services.len() > 1
            || self.choices.businesses.len() > 1
    }

    /// "today", "1 day", "3 days" (a table cell's words).
    fn waiting(&self, row: &InboxRow) -> String {
        match row.days_waiting(self.now) {
            None => String::new(),
            Some(0) => self.ctx.t("tickets.waiting_today").into_owned(),
            Some(1) => self.ctx.t("tickets.waiting_one_day").into_owned(),
            Some(n) => self
                .ctx
                .tf("tickets.waiting_days", &[("n", &n.to_string())]),
        }
    }
}

#[derive(Deserialize)]
pub struct InboxQuery {
    /// An assignment id: the page lists older ones. Anything else is the first page.
    before: Option<String>,
    /// A service id, a business id: only its items. Anything else narrows nothing.
    service: Option<String>,
    business: Option<String>,
    /// `others`: only the items of people I stand in for.
    #[serde(rename = "for")]
    for_whom: Option<String>,
    /// `due`: soonest deadline first.
    sort: Option<String>,
}

impl InboxQuery {
    fn filter(&self) -> InboxFilter {
        let id = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<i32>().ok());
        InboxFilter {
            service: id(&self.service).map(ServiceId),
            business: id(&self.business).map(BusinessId),
            others_only: self.for_whom.as_deref() == Some("others"),
            by_due: self.sort.as_deref() == Some("due"),
        }
    }
}

pub async fn inbox(
    signed_in: SignedIn,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, AppError> {
    let before = query
        .before
        .as_deref()
        .and_then(|b| b.parse().ok())
        .map(ApproveUserId);
    let filter = query.filter();
    let wanted = filter.clone();
    let (ctx, (page, choices, stands_in, now)) = signed_in
        .read_with(move |c, me| {
            // The plain inbox, the page people open all day, is read with
            // the session in one go; a narrowed one reads the session first.
            let found = if wanted.is_empty() {
                ticket_views::session_and_inbox(c, me, before, INBOX_PAGE)?
            } else {
                match crate::store::users::session_user(c, me)? {
                    Some(user) => {
                        let page = ticket_views::inbox(
                            c,
                            me.user,
                            user.stands_in,
                            &wanted,
                            before,
                            INBOX_PAGE,
                        )?;
                        Some((user, page))
                    }
                    None => None,
                }
            };
            let Some((user, page)) = found else {
                return Ok(None);
            };
            // What to narrow by is worth reading only when there is
            // more than a page, or more than one kind of thing, waiting.
            let varied = page.older.is_some()
                || before.is_some()
                || !wanted.is_empty()
                || page.rows.windows(2).any(|w| !w[0].same_place(&w[1]));
            let choices = if varied || user.stands_in {
                InboxChoices::read(c)?
            } else {
                InboxChoices::default()
            };
            let stands_in = user.stands_in;
            let page = ticket_views::with_requests(c, page)?;
            Ok(Some((
                user,
                (page, choices, stands_in, crate::store::now()),
            )))
        })
        .await?;
    render(&InboxPage {
        ctx,
        rows: page.rows,
        older: page.older,
        paged: before.is_some(),
        filter,
        choices,
        stands_in,
        now,
    })
}

#[derive(Template)]
#[template(path = "tickets/mine.html")]
struct MinePage {
    ctx: Ctx,
    rows: Vec<Apply>,
}

pub async fn mine(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let rows = state
        .db
        .read(move |c| ticket_views::mine(c, me, None, 200))
        .await?;
    render(&MinePage { ctx, rows })
}

/// Approves or rejects every ticked assignment of the inbox, each in its
/// own transaction, recorded with channel "batch". What could not be
/// decided (already decided, not one's turn) is counted, not hidden.
pub async fn batch(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let intent = pick(&pairs, "intent").to_string();
    let comment = pick(&pairs, "comment").to_string();
    let chosen: Vec<ApproveUserId> = pairs
        .iter()
        .filter(|(k, _)| k == "assignment")
        .filter_map(|(_, v)| v.parse().ok().map(ApproveUserId))
        .collect();
    if chosen.is_empty() {
        ctx.flash(FlashKind::Error, ctx.t("errors.choose_some"));
        return Ok(see_other("/inbox"));
    }
    let decision = match intent.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return Err(AppError::BadRequest("batch intent".into())),
    };
    let mut done = 0;
    // What could not be decided, and why, by the ticket's serial number.
    let mut refused: Vec<(ApproveUserId, &'static str)> = Vec::new();
    for assignment in chosen {
        let action = Action::Decide {
            assignment,
            decision: decision.clone(),
            comment: comment.clone(),
        };
        let result = state
            .db
            .write(move |c| {
                let act = Act {
                    ticket: tickets::ticket_of(c, assignment)?,
                    actor: me,
                    channel: Channel::Batch,
                    action,
                };
                tickets::perform(c, act)
            })
            .await;
        match result {
            Ok(_) => done += 1,
            // Rejecting says why: nothing was decided, the inbox says so once.
            Err(StoreError::Refused(r)) if *r == Refusal::CommentRequired => {
                ctx.flash(FlashKind::Error, ctx.t(r.key()));
                return Ok(see_other("/inbox"));
            }
            // Someone else's says nothing about itself.
            Err(StoreError::Refused(r)) if *r == Refusal::NotFound => {
                refused.push((assignment, Refusal::NotYours.key()))
            }
            Err(StoreError::Refused(r)) => refused.push((assignment, r.key())),
            Err(e) => return Err(e.into()),
        }
    }
    let key = if intent == "approve" {
        "flash.batch_approved"
    } else {
        "flash.batch_rejected"
    };
    let mut text = ctx.tf(key, &[("n", &done.to_string())]);
    if !refused.is_empty() {
        let ids: Vec<ApproveUserId> = refused.iter().map(|(a, _)| *a).collect();
        let serials = state
            .db
            .read(move |c| ticket_views::serials_of(c, &ids))
            .await?;
        // A ticket is named only where the item was the person's own:
        // someone else's says nothing about it.
        let why: Vec<String> = refused
            .iter()
            .map(|(assignment, key)| match serials.get(assignment) {
                Some(serial) if *key != "errors.not_your_assignment" => {
                    format!("{serial}: {}", ctx.t(key))
                }
                _ => ctx.t(key).into_owned(),
            })
            .collect();
        text.push(' ');
        text.push_str(&ctx.tf(
            "flash.batch_refused",
            &[("n", &refused.len().to_string()), ("why", &why.join(" "))],
        ));
    }
    ctx.flash(
        if !refused.is_empty() {
            FlashKind::Error
        } else {
            FlashKind::Success
        },
        text,
    );
    Ok(see_other("/inbox"))
}

/// Withdraw, urge or comment: the ticket-level actions (`intent`).
pub async fn ticket_action(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let id = ApplyId(path.into_inner());
    // A comment may carry files; one not kept is said beside them, with
    // the comment as typed, and nothing is sent.
    let super::upload::Sent { pairs, refused, .. } =
        super::upload::read(&req, body, &state, me).await?;
    if let Some((_, error)) = refused.first() {
        let said = super::ticket_form::error_text(ctx.lang, error);
        let admin = ctx.require_user()?.is_admin;
        let loaded = state
            .db
            .read(move |c| load(c, id, me, admin))
            .await?
            .ok_or(AppError::NotFound)?;
        let typed = pick(&pairs, "comment").to_string();
        let mut page = page(ctx, loaded, HashMap::new());
        page.comment_again = Some((typed, said));
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let intent = pick(&pairs, "intent");
    let text = pick(&pairs, "comment").to_string();
    let (action, key) = match intent {
        "withdraw" => (Action::Withdraw { reason: text }, "flash.withdrawn"),
        "urge" => (Action::Urge, "flash.urged"),
        "comment" => (
            Action::Comment {
                text,
                files: pairs
                    .iter()
                    .filter(|(k, _)| k == "files")
                    .filter_map(|(_, v)| v.parse().ok())
                    .map(crate::db::ids::AttachmentId)
                    .collect(),
            },
            "flash.commented",
        ),
        _ => return Err(AppError::BadRequest(format!("ticket action {intent}"))),
    };
    let act = Act {
        ticket: id,
        actor: me,
        channel: Channel::Web,
        action,
    };
    let outcome = state.db.write(move |c| tickets::perform(c, act)).await;
    flash_refusal(&ctx, outcome, key)?;
    Ok(see_other(&format!("/tickets/{id}")))
}

/// Copies the ticket to people (抄送) with a note. A refusal about whom
/// to copy comes back beside the field, with what was typed (422).
pub async fn copy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let user = ctx.require_user()?;
    let (me, admin) = (user.id, user.is_admin);
    let id = ApplyId(path.into_inner());
    let to = pick(&pairs, "to").to_string();
    let note = pick(&pairs, "note").to_string();
    let act = Act {
        ticket: id,
        actor: me,
        channel: Channel::Web,
        action: Action::Copy {
            to: vec![to.clone()],
            note: note.clone(),
        },
    };
    let refusal = match state.db.write(move |c| tickets::perform(c, act)).await {
        Ok(_) => {
            ctx.flash(FlashKind::Success, ctx.t("flash.copied"));
            return Ok(see_other(&format!("/tickets/{id}")));
        }
        Err(StoreError::Refused(r)) if *r == Refusal::NotFound => return Err(AppError::NotFound),
        Err(StoreError::Refused(r)) => *r,
        Err(e) => return Err(e.into()),
    };
    let loaded = state
        .db
        .read(move |c| load(c, id, me, admin))
        .await?
        .ok_or(AppError::NotFound)?;
    let error = Some(refusal.words(ctx.lang));
    let mut page = page(ctx, loaded, HashMap::new());
    page.copy = Some(CopyForm { to, note, error });
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// After an action whose refusal has no form to show again: flash
/// `success_key`, or why it was refused. A ticket the person may not see
/// is not there.
fn flash_refusal(
    ctx: &Ctx,
    outcome: StoreResult<tickets::Done>,
    success_key: &str,
) -> Result<(), AppError> {
    match outcome {
        Ok(_) => ctx.flash(FlashKind::Success, ctx.t(success_key)),
        Err(StoreError::Refused(r)) if *r == Refusal::NotFound => return Err(AppError::NotFound),
        Err(StoreError::Refused(r)) => ctx.flash(FlashKind::Error, ctx.t(r.key())),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The applicant sends a sent-back ticket again with corrected values.
pub async fn resubmit(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let user = ctx.require_user()?;
    let (me, admin) = (user.id, user.is_admin);
    let id = ApplyId(path.into_inner());
    let super::upload::Sent { pairs, refused, .. } =
        super::upload::read(&req, body, &state, me).await?;
    let raw = raw_map(&pairs);
    let act = Act {
        ticket: id,
        actor: me,
        channel: Channel::Web,
        action: Action::Resubmit {
            fields: raw.clone(),
        },
    };
    let outcome = if refused.is_empty() {
        state.db.write(move |c| tickets::perform(c, act)).await
    } else {
        Err(Refusal::Fields(refused.into_iter().collect()).into())
    };
    let outcome = match outcome {
        Err(StoreError::Refused(r)) => match *r {
            // The form again, as typed, with each error beside its field.
            Refusal::Fields(errors) => {
                let loaded = state
                    .db
                    .read(move |c| load(c, id, me, admin))
                    .await?
                    .ok_or(AppError::NotFound)?;
                let again = Some((errors, raw));
                return render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &page_with(ctx, loaded, HashMap::new(), again),
                );
            }
            other => Err(other.into()),
        },
        outcome => outcome,
    };
    flash_refusal(&ctx, outcome, "flash.resubmitted")?;
    Ok(see_other(&format!("/tickets/{id}")))
}

#[derive(Template)]
#[template(path = "tickets/handled.html")]
struct HandledPage {
    ctx: Ctx,
    rows: Vec<ticket_views::HandledRow>,
}

pub async fn handled(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let rows = state
        .db
        .read(move |c| ticket_views::handled(c, me, 200))
        .await?;
    render(&HandledPage { ctx, rows })
}
