//! Step 2 of the wizard: the nodes in order, and each node's editor —
//! name, mode and policies, handler rules, condition, earlier fields' access.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Draft, Outcome, edit, handler_label, kind_label, load, mode_label, revision};
use crate::db::ids::ProcessId;
use crate::domain::{Name, Username};
use crate::flow::{
    Comparison, Condition, Deadline, EmptyPolicy, Escalation, FieldAccess, FieldDef, HandlerRule,
    LocalText, Mode, NodeDef, NodeKind, OnReject, Predicate, ProcessDef, SelfPolicy,
};
use crate::i18n::Lang;
use crate::store::roles::RoleNames;
use crate::store::{StoreError, roles, users};
use crate::web::csrf::CsrfForm;
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

fn key_of(input: &str) -> Result<String, &'static str> {
    let key = input.trim();
    if key.is_empty() {
        return Err("errors.required");
    }
    let ok = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(key.to_string())
    } else {
        Err("errors.code_format")
    }
}

pub(super) fn parse_key(input: &str) -> Result<String, &'static str> {
    key_of(input)
}

fn optional_zh(errors: &mut FieldErrors, field: &'static str, input: &str) -> Option<String> {
    if input.trim().is_empty() {
        Some(String::new())
    } else {
        errors.check(field, Name::parse(input).map(|n| n.to_string()))
    }
}

// ---------------------------------------------------------------- step 2

#[derive(Debug, Default, Deserialize)]
pub struct AddNodeForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    revision: String,
}

#[derive(Template)]
#[template(path = "design/nodes.html")]
struct StepPage {
    ctx: Ctx,
    draft: Draft,
    form: AddNodeForm,
    errors: FieldErrors,
    /// The form that adds whom the process copies when a ticket ends.
    copy: HandlerForm,
    copy_errors: FieldErrors,
    /// The roles, for the copy form.
    draft_roles: Vec<SelectOption>,
}

/// The roles, for a rule's select.
async fn role_options(ctx: &Ctx, state: &AppState) -> Result<Vec<SelectOption>, AppError> {
    let lang = ctx.lang;
    Ok(state
        .db
        .read(roles::list)
        .await?
        .iter()
        .map(|r| SelectOption::new(&r.code, format!("{} ({})", r.name(&lang), r.code)))
        .collect())
}

/// Copy rules, numbered, in words.
fn copy_texts(lang: Lang, rules: &[HandlerRule], draft: &Draft) -> Vec<(usize, String)> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| (i, handler_label(lang, r, &draft.def, &draft.roles)))
        .collect()
}

impl StepPage {
    fn new(ctx: Ctx, draft: Draft) -> StepPage {
        let lang = ctx.lang;
        let revision = draft.process.revision.to_string();
        StepPage {
            ctx,
            draft,
            form: AddNodeForm {
                kind: "approval".into(),
                ..AddNodeForm::default()
            },
            errors: FieldErrors::new(lang),
            copy: HandlerForm {
                rule: "role".into(),
                revision,
                ..HandlerForm::default()
            },
            copy_errors: FieldErrors::new(lang),
            draft_roles: Vec::new(),
        }
    }

    fn copy_texts(&self) -> Vec<(usize, String)> {
        copy_texts(self.ctx.lang, &self.draft.def.cc, &self.draft)
    }

    fn copy_options(&self) -> Vec<SelectOption> {
        COPY_RULES
            .iter()
            .map(|v| SelectOption::new(v, self.ctx.t(&format!("handler.{v}"))))
            .collect()
    }

    fn copy_inputs(&self) -> Inputs {
        inputs_of(&self.copy.rule)
    }

    /// Every field of the process, for a rule that reads one.
    fn all_fields(&self) -> Vec<SelectOption> {
        let zh = self.ctx.lang == Lang::ZhCn;
        self.draft
            .def
            .fields()
            .map(|(_, f)| SelectOption::new(&f.key, format!("{} ({})", f.label.text(zh), f.key)))
            .collect()
    }

    fn kinds(&self) -> Vec<SelectOption> {
        [NodeKind::Approval, NodeKind::Task, NodeKind::Review]
            .iter()
            .map(|k| SelectOption::new(k.as_str(), kind_label(self.ctx.lang, *k)))
            .collect()
    }

    fn summary(&self, node: &NodeDef) -> String {
        summary(self.ctx.lang, node, &self.draft.def, &self.draft.roles)
    }
}

/// One line about a node: kind, mode and who handles it.
pub fn summary(lang: Lang, node: &NodeDef, def: &ProcessDef, roles: &RoleNames) -> String {
    let mut parts = vec![kind_label(lang, node.kind)];
    // Only approvals weigh several people's votes; a task or review is
    // completed by one of its handlers.
    if node.kind == NodeKind::Approval {
        parts.push(mode_label(lang, &node.mode));
    }
    if node.kind == NodeKind::Review {
        let outcomes: Vec<String> = crate::flow::REVIEW_OUTCOMES
            .iter()
            .map(|o| lang.t(&format!("outcome.{o}")).into_owned())
            .collect();
        parts.push(lang.tf(
            "design.outcomes_are",
            &[("outcomes", &outcomes.join(" / "))],
        ));
    }
    if node.kind != NodeKind::Submit {
        parts.extend(
            node.handlers
                .iter()
                .map(|h| handler_label(lang, h, def, roles)),
        );
    }
    parts.join(" · ")
}

pub async fn step(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let draft = load(&ctx, &state, ProcessId(path.into_inner())).await?;
    let roles = role_options(&ctx, &state).await?;
    let mut page = StepPage::new(ctx, draft);
    page.draft_roles = roles;
    render(&page)
}

pub async fn add(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<AddNodeForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    let key = errors.check("key", key_of(&form.key));
    let name = errors.check("name_en", Name::parse(&form.name_en));
    let zh = optional_zh(&mut errors, "name_zh", &form.name_zh);
    let kind = errors.check(
        "kind",
        NodeKind::parse(&form.kind)
            .filter(|k| *k != NodeKind::Submit)
            .ok_or("errors.unknown_choice"),
    );
    if let (Some(key), Some(name), Some(zh), Some(kind)) = (key, name, zh, kind) {
        let node_key = key.clone();
        let change = move |def: &mut crate::flow::ProcessDef| {
            if def.node(&key).is_some() {
                return Err(StoreError::rule("key", "errors.code_taken"));
            }
            def.nodes.push(NodeDef::new(
                &key,
                LocalText {
                    en: name.to_string(),
                    zh,
                },
                kind,
            ));
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.node_added",
                &format!("/admin/processes/{id}/nodes/{node_key}"),
                &format!("/admin/processes/{id}/nodes"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let draft = load(&ctx, &state, id).await?;
    let roles = role_options(&ctx, &state).await?;
    let mut page = StepPage::new(ctx, draft);
    page.draft_roles = roles;
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    revision: String,
}

/// Moves an item one place up or down in a list; the first item of a list
/// of nodes (submit) stays first.
pub(super) fn shift<T>(items: &mut [T], index: usize, up: bool, floor: usize) {
    let target = if up {
        index.checked_sub(1)
    } else {
        Some(index + 1)
    };
    if let Some(t) = target.filter(|t| *t >= floor && *t < items.len())
        && index >= floor
    {
        items.swap(index, t);
    }
}

pub async fn move_node(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let up = form.direction == "up";
    let change = move |def: &mut crate::flow::ProcessDef| {
        let i = def
            .nodes
            .iter()
            .position(|n| n.key == key)
            .ok_or(StoreError::NotFound)?;
        shift(&mut def.nodes, i, up, 1);
        Ok(())
    };
    if let Outcome::Refused(e) = edit(&ctx, &state, id, revision(&form.revision), change).await? {
        return Err(AppError::BadRequest(format!("{e:?}")));
    }
    Ok(see_other(&format!("/admin/processes/{id}/nodes")))
}

#[derive(Deserialize)]
pub struct RevisionOnly {
    #[serde(default)]
    pub(super) revision: String,
}

pub async fn remove(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let change = move |def: &mut crate::flow::ProcessDef| {
        let i = def
            .nodes
            .iter()
            .position(|n| n.key == key)
            .ok_or(StoreError::NotFound)?;
        if def.nodes[i].kind == NodeKind::Submit {
            return Err(StoreError::rule("", "errors.submit_node_fixed"));
        }
        def.nodes.remove(i);
        Ok(())
    };
    match edit(&ctx, &state, id, revision(&form.revision), change).await? {
        Outcome::Saved => ctx.flash(FlashKind::Success, ctx.t("flash.node_removed")),
        Outcome::Stale => {}
        Outcome::Refused(e) => {
            ctx.flash(FlashKind::Error, e.form().unwrap_or_default().to_string())
        }
    }
    Ok(see_other(&format!("/admin/processes/{id}/nodes")))
}

// ---------------------------------------------------------- node editor

#[derive(Debug, Default, Deserialize)]
pub struct NodeForm {
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    quorum_count: String,
    #[serde(default)]
    quorum_percent: String,
    #[serde(default)]
    empty_assignees: String,
    #[serde(default)]
    self_approval: String,
    #[serde(default)]
    dedupe: Option<String>,
    /// An approval may send the ticket back to an earlier step.
    #[serde(default)]
    send_back_to_earlier: Option<String>,
    /// An approval's people may add approvers (加签).
    #[serde(default)]
    add_approvers: Option<String>,
    #[serde(default)]
    on_reject: String,
    /// The response deadline in hours; empty: none.
    #[serde(default)]
    deadline_hours: String,
    #[serde(default)]
    deadline_working: Option<String>,
    /// Percentages of the time, comma-separated ("50, 90").
    #[serde(default)]
    remind_at: String,
    #[serde(default)]
    repeat_hours: String,
    #[serde(default)]
    on_breach: String,
    #[serde(default)]
    revision: String,
}

impl NodeForm {
    fn from_node(node: &NodeDef, revision: i32) -> NodeForm {
        let d = node.deadline.as_ref();
        let (count, percent) = match node.mode {
            Mode::Quorum { count, percent } => (count, percent),
            _ => (None, None),
        };
        NodeForm {
            name_en: node.name.en.clone(),
            name_zh: node.name.zh.clone(),
            mode: node.mode.as_str().to_string(),
            quorum_count: count.map(|c| c.to_string()).unwrap_or_default(),
            quorum_percent: percent.map(|p| p.to_string()).unwrap_or_default(),
            empty_assignees: serde_plain(&node.empty_assignees),
            self_approval: serde_plain(&node.self_approval),
            dedupe: node.dedupe.then(|| "on".into()),
            send_back_to_earlier: node.send_back_to_earlier.then(|| "on".into()),
            add_approvers: node.add_approvers.then(|| "on".into()),
            on_reject: serde_plain(&node.on_reject),
            deadline_hours: d.map(|d| d.hours.to_string()).unwrap_or_default(),
            deadline_working: d.filter(|d| d.working).map(|_| "on".into()),
            remind_at: d
                .map(|d| {
                    d.remind_at
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            repeat_hours: d
                .and_then(|d| d.repeat_hours)
                .map(|h| h.to_string())
                .unwrap_or_default(),
            on_breach: d
                .map(|d| d.on_breach)
                .unwrap_or_default()
                .as_str()
                .to_string(),
            revision: revision.to_string(),
        }
    }
}

/// The deadline the node form asks for (`None`: none), each input's
/// problem beside it; what is entered but means nothing is refused.
fn parse_deadline(errors: &mut FieldErrors, form: &NodeForm) -> Option<Option<Deadline>> {
    let hours = form.deadline_hours.trim();
    if hours.is_empty() {
        let extra = !form.remind_at.trim().is_empty() || !form.repeat_hours.trim().is_empty();
        if extra {
            errors.add("deadline_hours", "design.problem.deadline_hours");
            return None;
        }
        return Some(None);
    }
    let hours = errors.check(
        "deadline_hours",
        hours
            .parse::<u32>()
            .map_err(|_| "design.problem.deadline_hours"),
    );
    let remind_at = errors.check(
        "remind_at",
        form.remind_at
            .split([',', '，', ' '])
            .map(|p| p.trim().trim_end_matches('%'))
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<u8>()
                    .map_err(|_| "design.problem.remind_after_deadline")
            })
            .collect::<Result<Vec<u8>, _>>(),
    );
    let repeat = errors.check(
        "repeat_hours",
        optional_number::<u32>(&form.repeat_hours).map_err(|_| "design.problem.repeat_hours"),
    );
    let on_breach = errors.check(
        "on_breach",
        Escalation::parse(&form.on_breach).ok_or("errors.unknown_choice"),
    );
    let deadline = Deadline {
        hours: hours?,
        working: form.deadline_working.is_some(),
        remind_at: remind_at?,
        repeat_hours: repeat?,
        on_breach: on_breach?,
    };
    // What the node's kind allows is checked as the node is changed.
    let problems =
        crate::flow::validate::deadline_problems(NodeKind::Approval, Mode::Any, &deadline);
    for (field, key) in &problems {
        errors.add(field, key);
    }
    problems.is_empty().then_some(Some(deadline))
}

/// The snake_case name serde gives a unit enum variant.
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn from_plain<T: serde::de::DeserializeOwned>(input: &str) -> Result<T, &'static str> {
    serde_json::from_value(serde_json::Value::String(input.trim().to_string()))
        .map_err(|_| "errors.unknown_choice")
}

fn optional_number<T: std::str::FromStr>(input: &str) -> Result<Option<T>, &'static str> {
    match input.trim() {
        "" => Ok(None),
        s => s.parse().map(Some).map_err(|_| "errors.not_a_number"),
    }
}

/// Which inputs of the handler form each rule takes.
const HANDLER_INPUTS: &[(&str, &str)] = &[
    ("role", "role"),
    ("role_in_business", "role"),
    ("users", "usernames"),
    ("manager_chain", "levels"),
    ("member_field", "field"),
    ("resource_owners_managers", "field"),
];

/// Which inputs of the condition form each test takes.
const PREDICATE_INPUTS: &[(&str, &str)] = &[
    ("field_equals", "field"),
    ("field_equals", "value"),
    ("field_not_empty", "field"),
    ("resource_managed", "field"),
    ("applicant_has_role", "role"),
    ("compare", "field"),
    ("compare", "op"),
    ("compare", "value"),
    ("between", "field"),
    ("between", "low"),
    ("between", "high"),
    ("contains", "field"),
    ("contains", "value"),
    ("applicant_in_business", "business"),
];

/// One list of a condition's predicates as the node page shows it: its
/// heading, its class, and each predicate's place and text.
pub type ConditionList = (String, &'static str, Vec<(usize, String)>);

/// The tests the condition form offers, in order.
pub const PREDICATE_TESTS: [&str; 8] = [
    "field_equals",
    "field_not_empty",
    "resource_managed",
    "applicant_has_role",
    "compare",
    "between",
    "contains",
    "applicant_in_business",
];

/// The choices (space-separated, for the page's script) that take `input`.
fn choices_taking(table: &[(&'static str, &'static str)], input: &str) -> String {
    table
        .iter()
        .filter(|(_, i)| *i == input)
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The handler rules that take `input` (for the script that shows it).
pub fn rules_taking_input(input: &str) -> String {
    choices_taking(HANDLER_INPUTS, input)
}

/// The inputs a handler rule takes.
pub struct Inputs(Vec<&'static str>);

impl Inputs {
    pub fn has(&self, input: &str) -> bool {
        self.0.contains(&input)
    }
}

fn inputs_of(rule: &str) -> Inputs {
    Inputs(
        HANDLER_INPUTS
            .iter()
            .filter(|(c, _)| *c == rule)
            .map(|(_, i)| *i)
            .collect(),
    )
}

/// The rules a copy (抄送) may name: a handler's, but the applicant.
const COPY_RULES: [&str; 7] = [
    "role",
    "role_in_business",
    "users",
    "applicant_manager",
    "manager_chain",
    "member_field",
    "resource_owners_managers",
];

/// Whether `choice` takes `input`.
fn takes(table: &[(&'static str, &'static str)], choice: &str, input: &str) -> bool {
    table.iter().any(|(c, i)| *c == choice && *i == input)
}

#[derive(Debug, Default, Deserialize)]
pub struct HandlerForm {
    // The form is shared by a node's handlers and the copy (抄送) lists.
    /// "choose" when the rule was picked without the page's script: the
    /// page comes back with that rule's inputs, saving nothing.
    #[serde(default)]
    intent: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    usernames: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    levels: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    revision: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PredicateForm {
    /// As for `HandlerForm`: a test picked, its inputs wanted.
    #[serde(default)]
    intent: String,
    #[serde(default)]
    test: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    low: String,
    #[serde(default)]
    high: String,
    #[serde(default)]
    business: String,
    /// `all`, `any:<group>` or `any:new`.
    #[serde(default)]
    join: String,
    #[serde(default)]
    revision: String,
}

/// The form that adds a field to the node (its details are edited after).
#[derive(Debug, Default, Deserialize)]
pub struct NewFieldForm {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub label_en: String,
    #[serde(default)]
    pub label_zh: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub revision: String,
}

/// One earlier field and how this node shows it.
pub struct AccessRow {
    pub key: String,
    pub label: String,
    pub access: &'static str,
}

#[derive(Template)]
#[template(path = "design/node.html")]
pub struct NodePage {
    pub ctx: Ctx,
    pub draft: Draft,
    pub node: NodeDef,
    pub position: usize,
    pub form: NodeForm,
    pub errors: FieldErrors,
    pub handler: HandlerForm,
    pub handler_errors: FieldErrors,
    /// The form that adds whom the node copies when it ends.
    pub copy: HandlerForm,
    pub copy_errors: FieldErrors,
    pub predicate: PredicateForm,
    pub predicate_errors: FieldErrors,
    pub field: NewFieldForm,
    pub field_errors: FieldErrors,
    pub access: Vec<AccessRow>,
    pub roles: Vec<SelectOption>,
    pub businesses: Vec<SelectOption>,
}

impl NodePage {
    pub async fn load(
        ctx: Ctx,
        state: &AppState,
        id: ProcessId,
        key: &str,
    ) -> Result<NodePage, AppError> {
        let draft = load(&ctx, state, id).await?;
        let position = draft
            .def
            .nodes
            .iter()
            .position(|n| n.key == key)
            .ok_or(AppError::NotFound)?;
        let node = draft.def.nodes[position].clone();
        let lang = ctx.lang;
        let zh = lang == Lang::ZhCn;
        let access = draft
            .def
            .fields_before(key)
            .into_iter()
            .map(|f| AccessRow {
                key: f.key.clone(),
                label: f.label.text(zh).to_string(),
                access: match node.access(&f.key) {
                    FieldAccess::Editable => "editable",
                    FieldAccess::ReadOnly => "read_only",
                    FieldAccess::Hidden => "hidden",
                },
            })
            .collect();
        let roles = role_options(&ctx, state).await?;
        let businesses = state
            .db
            .read(crate::store::businesses::names)
            .await?
            .iter()
            .map(|(_, name)| SelectOption::new(name, name.clone()))
            .collect();
        let rev = draft.process.revision.to_string();
        Ok(NodePage {
            form: NodeForm::from_node(&node, draft.process.revision),
            errors: FieldErrors::new(lang),
            handler: HandlerForm {
                rule: "role".into(),
                revision: rev.clone(),
                ..HandlerForm::default()
            },
            handler_errors: FieldErrors::new(lang),
            copy: HandlerForm {
                rule: "role".into(),
                revision: rev.clone(),
                ..HandlerForm::default()
            },
            copy_errors: FieldErrors::new(lang),
            predicate: PredicateForm {
                test: "field_equals".into(),
                revision: rev.clone(),
                ..PredicateForm::default()
            },
            predicate_errors: FieldErrors::new(lang),
            field: NewFieldForm {
                kind: "text".into(),
                revision: rev,
                ..NewFieldForm::default()
            },
            field_errors: FieldErrors::new(lang),
            access,
            roles,
            businesses,
            position: position + 1,
            node,
            draft,
            ctx,
        })
    }

    fn lang(&self) -> Lang {
        self.ctx.lang
    }

    pub fn handler_text(&self, rule: &HandlerRule) -> String {
        handler_label(self.lang(), rule, &self.draft.def, &self.draft.roles)
    }

    pub fn predicate_text(&self, p: &Predicate) -> String {
        let lang = self.lang();
        match p {
            Predicate::FieldEquals { field, value } => lang.tf(
                "predicate.field_equals_of",
                &[("field", field), ("value", value)],
            ),
            Predicate::FieldNotEmpty { field } => {
                lang.tf("predicate.field_not_empty_of", &[("field", field)])
            }
            Predicate::ApplicantHasRole { role } => {
                lang.tf("predicate.applicant_has_role_of", &[("role", role)])
            }
            Predicate::ResourceManaged { field } => {
                lang.tf("predicate.resource_managed_of", &[("field", field)])
            }
            Predicate::Compare { field, op, value } => lang.tf(
                "predicate.compare_of",
                &[
                    ("field", field),
                    ("op", &lang.t(&format!("comparison.{}", op.as_str()))),
                    ("value", value),
                ],
            ),
            Predicate::Between { field, low, high } => lang.tf(
                "predicate.between_of",
                &[("field", field), ("low", low), ("high", high)],
            ),
            Predicate::Contains { field, value } => lang.tf(
                "predicate.contains_of",
                &[("field", field), ("value", value)],
            ),
            Predicate::ApplicantInBusiness { business } => lang.tf(
                "predicate.applicant_in_business_of",
                &[("business", business)],
            ),
        }
    }

    /// The predicates that must all hold, each with its place in
    /// [`Condition::predicates`] (which removing names).
    pub fn all_rows(&self) -> Vec<(usize, String)> {
        self.node
            .condition
            .iter()
            .flat_map(|c| c.all.iter())
            .enumerate()
            .map(|(i, p)| (i, self.predicate_text(p)))
            .collect()
    }

    /// Each group of which one predicate must hold, numbered on from the
    /// predicates that must all hold.
    pub fn any_rows(&self) -> Vec<Vec<(usize, String)>> {
        let Some(condition) = &self.node.condition else {
            return Vec::new();
        };
        let mut at = condition.all.len();
        condition
            .any
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|p| {
                        at += 1;
                        (at - 1, self.predicate_text(p))
                    })
                    .collect()
            })
            .collect()
    }

    /// The condition's lists as the page shows them: its heading, its
    /// class, and its predicates numbered as removing names them.
    pub fn condition_lists(&self) -> Vec<ConditionList> {
        let mut lists = Vec::new();
        let all = self.all_rows();
        if !all.is_empty() {
            lists.push((
                self.ctx.t("design.condition_all").to_string(),
                "condition-all",
                all,
            ));
        }
        for group in self.any_rows() {
            lists.push((
                self.ctx.t("design.condition_any").to_string(),
                "condition-any",
                group,
            ));
        }
        lists
    }

    /// Where a new predicate may go: with those that must all hold, into
    /// an "at least one of" group, or a new group.
    pub fn join_options(&self) -> Vec<SelectOption> {
        let groups = self.node.condition.as_ref().map_or(0, |c| c.any.len());
        let mut options = vec![SelectOption::new("all", self.ctx.t("design.join_all"))];
        options.extend((0..groups).map(|g| {
            SelectOption::new(
                format!("any:{g}"),
                self.lang()
                    .tf("design.join_group", &[("n", &(g + 1).to_string())]),
            )
        }));
        options.push(SelectOption::new("any:new", self.ctx.t("design.join_new")));
        options
    }

    pub fn comparisons(&self) -> Vec<SelectOption> {
        Comparison::ALL
            .iter()
            .map(|c| {
                SelectOption::new(
                    c.as_str(),
                    self.ctx.t(&format!("comparison.{}", c.as_str())),
                )
            })
            .collect()
    }

    pub fn options(&self, group: &str, values: &[&str]) -> Vec<SelectOption> {
        values
            .iter()
            .map(|v| SelectOption::new(v, self.ctx.t(&format!("{group}.{v}"))))
            .collect()
    }

    /// Fields a handler rule may read: those of earlier nodes and this one.
    pub fn handler_fields(&self) -> Vec<SelectOption> {
        let zh = self.lang() == Lang::ZhCn;
        let mut fields = self.draft.def.fields_before(&self.node.key);
        fields.extend(self.node.fields.iter());
        fields
            .iter()
            .map(|f| SelectOption::new(&f.key, format!("{} ({})", f.label.text(zh), f.key)))
            .collect()
    }

    /// Fields a condition may read: those filled before this node.
    pub fn condition_fields(&self) -> Vec<SelectOption> {
        let zh = self.lang() == Lang::ZhCn;
        self.draft
            .def
            .fields_before(&self.node.key)
            .iter()
            .map(|f| SelectOption::new(&f.key, format!("{} ({})", f.label.text(zh), f.key)))
            .collect()
    }

    pub fn field_kinds(&self) -> Vec<SelectOption> {
        crate::flow::FieldKind::ALL
            .iter()
            .map(|k| {
                SelectOption::new(
                    k.as_str(),
                    self.ctx.t(&format!("field_kind.{}", k.as_str())),
                )
            })
            .collect()
    }

    pub fn field_summary(&self, f: &FieldDef) -> String {
        let mut s = self
            .ctx
            .t(&format!("field_kind.{}", f.kind.as_str()))
            .into_owned();
        if f.required {
            s.push_str(" · ");
            s.push_str(&self.ctx.t("design.required"));
        }
        s
    }

    pub fn is_submit(&self) -> bool {
        self.node.kind == NodeKind::Submit
    }

    /// Whether the handler form shows `input` for the rule chosen.
    pub fn handler_takes(&self, input: &str) -> bool {
        takes(HANDLER_INPUTS, &self.handler.rule, input)
    }

    /// The rules that take `input` (for the script that shows it).
    pub fn rules_taking(&self, input: &str) -> String {
        choices_taking(HANDLER_INPUTS, input)
    }

    /// The node's copy rules, numbered, in words.
    pub fn copy_texts(&self) -> Vec<(usize, String)> {
        copy_texts(self.lang(), &self.node.cc, &self.draft)
    }

    pub fn copy_options(&self) -> Vec<SelectOption> {
        self.options("handler", &COPY_RULES)
    }

    /// The inputs the copy form's chosen rule takes.
    pub fn copy_inputs(&self) -> Inputs {
        inputs_of(&self.copy.rule)
    }

    /// Whether the condition form shows `input` for the test chosen.
    pub fn predicate_takes(&self, input: &str) -> bool {
        takes(PREDICATE_INPUTS, &self.predicate.test, input)
    }

    /// The tests that take `input`.
    pub fn tests_taking(&self, input: &str) -> String {
        choices_taking(PREDICATE_INPUTS, input)
    }

    /// The escalation policies this node may have (those that vote only
    /// on an approval).
    pub fn breach_options(&self) -> Vec<SelectOption> {
        Escalation::ALL
            .into_iter()
            .filter(|e| self.node.kind == crate::flow::NodeKind::Approval || !e.approval_only())
            .map(|e| {
                SelectOption::new(
                    e.as_str(),
                    self.ctx.t(&format!("escalation.{}", e.as_str())),
                )
            })
            .collect()
    }

    pub fn is_review(&self) -> bool {
        self.node.kind == NodeKind::Review
    }

    pub fn is_approval(&self) -> bool {
        self.node.kind == NodeKind::Approval
    }
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    render(&NodePage::load(ctx, &state, ProcessId(id), &key).await?)
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<NodeForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    let name = errors.check("name_en", Name::parse(&form.name_en));
    let zh = optional_zh(&mut errors, "name_zh", &form.name_zh);
    let count = errors.check("quorum_count", optional_number::<u32>(&form.quorum_count));
    let percent = errors.check(
        "quorum_percent",
        optional_number::<u8>(&form.quorum_percent),
    );
    let mode = match form.mode.as_str() {
        "any" => Some(Mode::Any),
        "all" => Some(Mode::All),
        "sequence" => Some(Mode::Sequence),
        "quorum" => match (count.flatten(), percent.flatten()) {
            (Some(c), None) if c > 0 => Some(Mode::Quorum {
                count: Some(c),
                percent: None,
            }),
            (None, Some(p)) if (1..=100).contains(&p) => Some(Mode::Quorum {
                count: None,
                percent: Some(p),
            }),
            _ => {
                errors.add("quorum_count", "design.problem.quorum_needs_one");
                None
            }
        },
        _ => errors.check("mode", Err("errors.unknown_choice")),
    };
    let empty = errors.check(
        "empty_assignees",
        from_plain::<EmptyPolicy>(&form.empty_assignees),
    );
    let selfp = errors.check(
        "self_approval",
        from_plain::<SelfPolicy>(&form.self_approval),
    );
    let on_reject = errors.check("on_reject", from_plain::<OnReject>(&form.on_reject));
    let deadline = parse_deadline(&mut errors, &form);
    if let (
        Some(name),
        Some(zh),
        Some(mode),
        Some(empty),
        Some(selfp),
        Some(on_reject),
        Some(deadline),
    ) = (name, zh, mode, empty, selfp, on_reject, deadline)
    {
        let dedupe = form.dedupe.is_some();
        let send_back_to_earlier = form.send_back_to_earlier.is_some();
        let add_approvers = form.add_approvers.is_some();
        let node_key = key.clone();
        let change = move |def: &mut crate::flow::ProcessDef| {
            let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
            node.name = LocalText {
                en: name.to_string(),
                zh,
            };
            node.mode = mode;
            node.empty_assignees = empty;
            node.self_approval = selfp;
            node.dedupe = dedupe;
            node.send_back_to_earlier = send_back_to_earlier && node.kind == NodeKind::Approval;
            node.add_approvers = add_approvers && node.kind == NodeKind::Approval;
            node.on_reject = on_reject;
            if let Some(d) = &deadline
                && let Some((field, key)) =
                    crate::flow::validate::deadline_problems(node.kind, node.mode, d).first()
            {
                return Err(StoreError::rule(field, key));
            }
            node.deadline = deadline;
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.saved",
                &format!("/admin/processes/{id}/nodes/{key}"),
                &format!("/admin/processes/{id}/nodes/{key}"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Parses the handler form into a rule, checking names and roles exist.
async fn parse_handler(
    state: &AppState,
    form: &HandlerForm,
    errors: &mut FieldErrors,
) -> Result<Option<HandlerRule>, AppError> {
    let rule = match form.rule.as_str() {
        "users" => {
            // Comma-, semicolon- or line-separated; an entry the picker
            // wrote as "He Jun (owner.manager)" is one person, anything
            // else may be several usernames apart by spaces.
            let names: Vec<&str> = form
                .usernames
                .split([',', '\n', '\r', ';'])
                .flat_map(|part| {
                    let part = part.trim();
                    if part.ends_with(')') {
                        vec![part]
                    } else {
                        part.split_whitespace().collect()
                    }
                })
                .filter(|s| !s.is_empty())
                .collect();
            if names.is_empty() {
                errors.add("usernames", "errors.required");
                return Ok(None);
            }
            let mut parsed = Vec::new();
            for n in names {
                match Username::parse_person(n) {
                    Ok(u) => parsed.push(u),
                    Err(k) => {
                        errors.add("usernames", k);
                        return Ok(None);
                    }
                }
            }
            let check = parsed.clone();
            let missing = state
                .db
                .read(move |c| {
                    for u in &check {
                        if users::active_id(c, u)?.is_none() {
                            return Ok(Some(u.to_string()));
                        }
                    }
                    Ok(None)
                })
                .await?;
            if missing.is_some() {
                errors.add("usernames", "errors.unknown_user");
                return Ok(None);
            }
            HandlerRule::Users {
                usernames: parsed.iter().map(|u| u.to_string()).collect(),
            }
        }
        "role" | "role_in_business" => {
            let code = form.role.trim().to_string();
            let lookup = code.clone();
            let exists = state
                .db
                .read(move |c| Ok(roles::find_by_code(c, &lookup).is_ok()))
                .await?;
            if !exists {
                errors.add("role", "errors.unknown_role");
                return Ok(None);
            }
            HandlerRule::Role {
                role: code,
                in_business: form.rule == "role_in_business",
            }
        }
        "applicant" => HandlerRule::Applicant,
        "applicant_manager" => HandlerRule::ApplicantManager,
        "manager_chain" => match form.levels.trim().parse::<u8>() {
            Ok(levels) if (1..=10).contains(&levels) => HandlerRule::ManagerChain { levels },
            _ => {
                errors.add("levels", "design.problem.chain_levels");
                return Ok(None);
            }
        },
        "member_field" | "resource_owners_managers" => {
            let field = form.field.trim().to_string();
            if field.is_empty() {
                errors.add("field", "errors.required");
                return Ok(None);
            }
            if form.rule == "member_field" {
                HandlerRule::MemberField { field }
            } else {
                HandlerRule::ResourceOwnersManagers { field }
            }
        }
        _ => {
            errors.add("rule", "errors.unknown_choice");
            return Ok(None);
        }
    };
    Ok(Some(rule))
}

/// A list of people rules the designer edits: a node's handlers, whom
/// a node copies when it ends, or whom the process copies when a ticket
/// ends (抄送).
#[derive(Debug, Clone)]
pub(super) enum RuleList {
    Handlers(String),
    NodeCopies(String),
    ProcessCopies,
}

impl RuleList {
    /// The list in `def`.
    fn of<'d>(&self, def: &'d mut ProcessDef) -> Result<&'d mut Vec<HandlerRule>, StoreError> {
        match self {
            RuleList::Handlers(key) => {
                Ok(&mut def.node_mut(key).ok_or(StoreError::NotFound)?.handlers)
            }
            RuleList::NodeCopies(key) => Ok(&mut def.node_mut(key).ok_or(StoreError::NotFound)?.cc),
            RuleList::ProcessCopies => Ok(&mut def.cc),
        }
    }

    /// Where the list is on its page.
    fn page(&self, id: ProcessId) -> String {
        match self {
            RuleList::Handlers(key) => format!("/admin/processes/{id}/nodes/{key}#handlers"),
            RuleList::NodeCopies(key) => format!("/admin/processes/{id}/nodes/{key}#cc"),
            RuleList::ProcessCopies => format!("/admin/processes/{id}/nodes#cc"),
        }
    }

    fn copies(&self) -> bool {
        !matches!(self, RuleList::Handlers(_))
    }
}

/// Adds a rule to `list`, or says beside the form why not (`Err` with
/// the form's errors, the draft unchanged).
pub(super) async fn add_rule(
    ctx: &Ctx,
    state: &AppState,
    id: ProcessId,
    list: RuleList,
    form: &HandlerForm,
) -> Result<Result<HttpResponse, FieldErrors>, AppError> {
    let mut errors = FieldErrors::new(ctx.lang);
    let Some(rule) = parse_handler(state, form, &mut errors).await? else {
        return Ok(Err(errors));
    };
    if list.copies() && rule == HandlerRule::Applicant {
        errors.add("rule", "errors.unknown_choice");
        return Ok(Err(errors));
    }
    let target = list.clone();
    let change = move |def: &mut crate::flow::ProcessDef| {
        let known: Vec<String> = def.fields().map(|(_, f)| f.key.clone()).collect();
        if let HandlerRule::MemberField { field } | HandlerRule::ResourceOwnersManagers { field } =
            &rule
            && !known.contains(field)
        {
            return Err(StoreError::rule("field", "errors.unknown_choice"));
        }
        let rules = target.of(def)?;
        if rules.contains(&rule) {
            return Err(StoreError::rule("rule", "errors.handler_exists"));
        }
        rules.push(rule);
        Ok(())
    };
    let flash = if list.copies() {
        "flash.copy_rule_added"
    } else {
        "flash.handler_added"
    };
    let back = list.page(id);
    let form_page = back.split('#').next().unwrap_or_default().to_string();
    Ok(edit(ctx, state, id, revision(&form.revision), change)
        .await?
        .answer(ctx, flash, &back, &form_page))
}

/// A rule added from `form` (the answer), or the form's page to show
/// again: its status and errors ("choose": a rule picked without the
/// script, shown with its inputs and nothing saved).
async fn added(
    ctx: &Ctx,
    state: &AppState,
    id: ProcessId,
    list: RuleList,
    form: &HandlerForm,
) -> Result<Result<HttpResponse, (StatusCode, FieldErrors)>, AppError> {
    if form.intent == "choose" {
        return Ok(Err((StatusCode::OK, FieldErrors::new(ctx.lang))));
    }
    Ok(add_rule(ctx, state, id, list, form)
        .await?
        .map_err(|errors| (StatusCode::UNPROCESSABLE_ENTITY, errors)))
}

/// Removes rule `i` of `list`.
pub(super) async fn remove_rule(
    ctx: &Ctx,
    state: &AppState,
    id: ProcessId,
    list: RuleList,
    (i, form): (usize, &RevisionOnly),
) -> Result<HttpResponse, AppError> {
    let target = list.clone();
    let change = move |def: &mut crate::flow::ProcessDef| {
        let rules = target.of(def)?;
        if i >= rules.len() {
            return Err(StoreError::NotFound);
        }
        rules.remove(i);
        Ok(())
    };
    if let Outcome::Saved = edit(ctx, state, id, revision(&form.revision), change).await? {
        let flash = if list.copies() {
            "flash.copy_rule_removed"
        } else {
            "flash.handler_removed"
        };
        ctx.flash(FlashKind::Success, ctx.t(flash));
    }
    Ok(see_other(&list.page(id)))
}

pub async fn add_handler(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<HandlerForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let (status, errors) =
        match added(&ctx, &state, id, RuleList::Handlers(key.clone()), &form).await? {
            Ok(done) => return Ok(done),
            Err(again) => again,
        };
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.handler = form;
    page.handler_errors = errors;
    render_status(status, &page)
}

pub async fn remove_handler(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, i) = path.into_inner();
    remove_rule(
        &ctx,
        &state,
        ProcessId(id),
        RuleList::Handlers(key),
        (i, &form),
    )
    .await
}

/// Whom a node copies when it ends (抄送): a rule added.
pub async fn add_copy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<HandlerForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let (status, errors) =
        match added(&ctx, &state, id, RuleList::NodeCopies(key.clone()), &form).await? {
            Ok(done) => return Ok(done),
            Err(again) => again,
        };
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.copy = form;
    page.copy_errors = errors;
    render_status(status, &page)
}

pub async fn remove_copy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, i) = path.into_inner();
    remove_rule(
        &ctx,
        &state,
        ProcessId(id),
        RuleList::NodeCopies(key),
        (i, &form),
    )
    .await
}

/// Whom the process copies when a ticket ends (抄送): a rule added.
pub async fn add_process_copy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<HandlerForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let (status, errors) = match added(&ctx, &state, id, RuleList::ProcessCopies, &form).await? {
        Ok(done) => return Ok(done),
        Err(again) => again,
    };
    let draft = load(&ctx, &state, id).await?;
    let roles = role_options(&ctx, &state).await?;
    let mut page = StepPage::new(ctx, draft);
    page.draft_roles = roles;
    page.copy = form;
    page.copy_errors = errors;
    render_status(status, &page)
}

pub async fn remove_process_copy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, i) = path.into_inner();
    remove_rule(
        &ctx,
        &state,
        ProcessId(id),
        RuleList::ProcessCopies,
        (i, &form),
    )
    .await
}

pub async fn add_predicate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<PredicateForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    if form.intent == "choose" {
        let mut page = NodePage::load(ctx, &state, id, &key).await?;
        page.predicate = form;
        return render(&page);
    }
    let field = form.field.trim().to_string();
    let predicate = match form.test.as_str() {
        "field_equals" if form.value.trim().is_empty() => {
            errors.add("value", "errors.required");
            None
        }
        "field_equals" => Some(Predicate::FieldEquals {
            field: field.clone(),
            value: form.value.trim().to_string(),
        }),
        "field_not_empty" => Some(Predicate::FieldNotEmpty {
            field: field.clone(),
        }),
        "resource_managed" => Some(Predicate::ResourceManaged {
            field: field.clone(),
        }),
        "applicant_has_role" => Some(Predicate::ApplicantHasRole {
            role: form.role.trim().to_string(),
        }),
        "compare" => match Comparison::parse(form.op.trim()) {
            None => errors.check("op", Err("errors.unknown_choice")),
            Some(_) if form.value.trim().is_empty() => {
                errors.add("value", "errors.required");
                None
            }
            Some(op) => Some(Predicate::Compare {
                field: field.clone(),
                op,
                value: form.value.trim().to_string(),
            }),
        },
        "between" => {
            for (name, value) in [("low", &form.low), ("high", &form.high)] {
                if value.trim().is_empty() {
                    errors.add(name, "errors.required");
                }
            }
            errors.is_empty().then(|| Predicate::Between {
                field: field.clone(),
                low: form.low.trim().to_string(),
                high: form.high.trim().to_string(),
            })
        }
        "contains" if form.value.trim().is_empty() => {
            errors.add("value", "errors.required");
            None
        }
        "contains" => Some(Predicate::Contains {
            field: field.clone(),
            value: form.value.trim().to_string(),
        }),
        "applicant_in_business" if form.business.trim().is_empty() => {
            errors.add("business", "errors.required");
            None
        }
        "applicant_in_business" => Some(Predicate::ApplicantInBusiness {
            business: form.business.trim().to_string(),
        }),
        _ => errors.check("test", Err("errors.unknown_choice")),
    };
    let join = match form.join.trim() {
        "" | "all" => Some(None),
        "any:new" => Some(Some(usize::MAX)),
        other => other
            .strip_prefix("any:")
            .and_then(|g| g.parse::<usize>().ok())
            .map(Some),
    };
    let Some(join) = join else {
        errors.add("join", "errors.unknown_choice");
        let mut page = NodePage::load(ctx, &state, id, &key).await?;
        page.predicate = form;
        page.predicate_errors = errors;
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if let Some(predicate) = predicate {
        let node_key = key.clone();
        let change = move |def: &mut crate::flow::ProcessDef| {
            let earlier: Vec<String> = def
                .fields_before(&node_key)
                .iter()
                .map(|f| f.key.clone())
                .collect();
            if let Some(f) = predicate.field()
                && !earlier.iter().any(|k| k == f)
            {
                return Err(StoreError::rule("field", "errors.unknown_choice"));
            }
            let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
            if node.kind == NodeKind::Submit {
                return Err(StoreError::rule("", "design.problem.submit_condition"));
            }
            let condition = node.condition.get_or_insert_with(Condition::default);
            match join {
                None => condition.all.push(predicate),
                Some(group) if group < condition.any.len() => condition.any[group].push(predicate),
                Some(usize::MAX) => condition.any.push(vec![predicate]),
                // A group that is no longer there (the draft moved on).
                Some(_) => return Err(StoreError::rule("join", "errors.unknown_choice")),
            }
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.condition_added",
                &format!("/admin/processes/{id}/nodes/{key}#condition"),
                &format!("/admin/processes/{id}/nodes/{key}"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.predicate = form;
    page.predicate_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn remove_predicate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, i) = path.into_inner();
    let id = ProcessId(id);
    let node_key = key.clone();
    let change = move |def: &mut crate::flow::ProcessDef| {
        let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
        let condition = node.condition.as_mut().ok_or(StoreError::NotFound)?;
        if i < condition.all.len() {
            condition.all.remove(i);
        } else {
            let mut at = i - condition.all.len();
            let group = condition
                .any
                .iter()
                .position(|g| {
                    let here = at < g.len();
                    if !here {
                        at -= g.len();
                    }
                    here
                })
                .ok_or(StoreError::NotFound)?;
            condition.any[group].remove(at);
            condition.any.retain(|g| !g.is_empty());
        }
        if condition.is_empty() {
            node.condition = None;
        }
        Ok(())
    };
    if let Outcome::Saved = edit(&ctx, &state, id, revision(&form.revision), change).await? {
        ctx.flash(FlashKind::Success, ctx.t("flash.condition_removed"));
    }
    Ok(see_other(&format!(
        "/admin/processes/{id}/nodes/{key}#condition"
    )))
}

/// Sets how the node shows every earlier field (`access.<field>` = editable,
/// read_only or hidden).
pub async fn set_access(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<BTreeMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let rev = revision(form.get("revision").map(String::as_str).unwrap_or_default());
    let mut access = BTreeMap::new();
    for (name, value) in &form {
        if let Some(field) = name.strip_prefix("access.") {
            let level = from_plain::<FieldAccess>(value)
                .map_err(|_| AppError::BadRequest("access level".into()))?;
            if level != FieldAccess::ReadOnly {
                access.insert(field.to_string(), level);
            }
        }
    }
    let node_key = key.clone();
    let change = move |def: &mut crate::flow::ProcessDef| {
        let earlier: Vec<String> = def
            .fields_before(&node_key)
            .iter()
            .map(|f| f.key.clone())
            .collect();
        if access.keys().any(|k| !earlier.contains(k)) {
            return Err(StoreError::rule("", "errors.unknown_choice"));
        }
        def.node_mut(&node_key)
            .ok_or(StoreError::NotFound)?
            .field_access = access;
        Ok(())
    };
    match edit(&ctx, &state, id, rev, change).await? {
        Outcome::Saved => ctx.flash(FlashKind::Success, ctx.t("flash.saved")),
        Outcome::Stale => {}
        Outcome::Refused(e) => {
            ctx.flash(FlashKind::Error, e.form().unwrap_or_default().to_string())
        }
    }
    Ok(see_other(&format!(
        "/admin/processes/{id}/nodes/{key}#access"
    )))
}
