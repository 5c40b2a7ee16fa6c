//! Step 2 of the wizard: the nodes in order, and each node's editor —
//! name, mode and policies, handler rules, condition, earlier fields' access.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::gateways::{
    AddGatewayForm, GatewayRow, gateway_kind_options, gateway_rows, place_label,
};
use super::{Draft, Outcome, edit, handler_label, kind_label, load, mode_label, revision};
use crate::db::ids::ProcessId;
use crate::domain::{Name, Username};
use crate::flow::{
    Comparison, Condition, Deadline, EmptyPolicy, Escalation, FieldAccess, FieldDef, HandlerRule,
    LocalText, Mode, NodeDef, NodeKind, OnReject, Predicate, ProcessDef, SelfPolicy,
};
use crate::i18n::Lang;
use crate::store::roles::RoleNames;
use crate::store::{StoreError, StoreResult, roles, users};
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
pub(super) struct StepPage {
    ctx: Ctx,
    draft: Draft,
    form: AddNodeForm,
    errors: FieldErrors,
    /// The form that adds whom the process copies when a ticket ends.
    copy: HandlerForm,
    copy_errors: FieldErrors,
    /// The roles, for the copy form.
    draft_roles: Vec<SelectOption>,
    /// The form that adds a gateway.
    pub(super) gateway: AddGatewayForm,
    pub(super) gateway_errors: FieldErrors,
}

/// The roles, for a rule's or a condition's select.
pub(super) async fn role_options(
    ctx: &Ctx,
    state: &AppState,
) -> Result<Vec<SelectOption>, AppError> {
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
            gateway: AddGatewayForm {
                kind: "parallel".into(),
                ..AddGatewayForm::default()
            },
            gateway_errors: FieldErrors::new(lang),
        }
    }

    /// The kinds of gateway the form offers.
    fn gateway_kinds(&self) -> Vec<SelectOption> {
        gateway_kind_options(self.ctx.lang)
    }

    /// The process's gateways as the steps page lists them.
    fn gateway_rows(&self) -> Vec<GatewayRow> {
        gateway_rows(self.ctx.lang, &self.draft.def)
    }

    /// Where a node runs, when in a gateway's branch ("Reviews: Security").
    fn branch_badge(&self, node: &NodeDef) -> Option<String> {
        node.branch
            .as_ref()
            .map(|at| place_label(self.ctx.lang, &self.draft.def, at))
    }

    /// The default name of branch `n` (1-based), in the reader's language.
    fn branch_placeholder(&self, n: usize) -> String {
        self.ctx
            .tf("design.gateways.branch_n", &[("n", &n.to_string())])
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

/// The steps page of draft `id`, its forms empty.
pub(super) async fn step_page(
    ctx: Ctx,
    state: &AppState,
    id: ProcessId,
) -> Result<StepPage, AppError> {
    let draft = load(&ctx, state, id).await?;
    let roles = role_options(&ctx, state).await?;
    let mut page = StepPage::new(ctx, draft);
    page.draft_roles = roles;
    Ok(page)
}

pub async fn step(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    render(&step_page(ctx, &state, ProcessId(path.into_inner())).await?)
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
            if def.node(&key).is_some() || def.gateway(&key).is_some() {
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
        move_past(def, i, up);
        def.tidy_branches();
        Ok(())
    };
    if let Outcome::Refused(e) = edit(&ctx, &state, id, revision(&form.revision), change).await? {
        return Err(AppError::BadRequest(format!("{e:?}")));
    }
    Ok(see_other(&format!("/admin/processes/{id}/nodes")))
}

/// Moves node `i` one place up or down; next to another gateway's nodes,
/// past all of them at once (the gateway's nodes stand together). A node
/// in a gateway stays in it: "Runs in" moves it out.
fn move_past(def: &mut ProcessDef, i: usize, up: bool) {
    let gateway_at = |def: &ProcessDef, at: usize| {
        def.nodes
            .get(at)
            .and_then(|n| n.branch.as_ref())
            .map(|b| b.gateway.clone())
    };
    let mine = gateway_at(def, i);
    let neighbour = if up { i.checked_sub(1) } else { Some(i + 1) };
    let other = neighbour
        .filter(|t| *t >= 1)
        .and_then(|t| gateway_at(def, t))
        .filter(|g| Some(g) != mine.as_ref());
    let Some(other) = other else {
        shift(&mut def.nodes, i, up, 1);
        return;
    };
    let block: Vec<usize> = (0..def.nodes.len())
        .filter(|at| gateway_at(def, *at).as_ref() == Some(&other))
        .collect();
    let (Some(&first), Some(&last)) = (block.first(), block.last()) else {
        return;
    };
    if up && first < 1 {
        return;
    }
    let node = def.nodes.remove(i);
    // Down, the block moved up one place as the node left it.
    def.nodes.insert(if up { first } else { last }, node);
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
    pub(super) intent: String,
    #[serde(default)]
    pub(super) test: String,
    #[serde(default)]
    pub(super) field: String,
    #[serde(default)]
    pub(super) value: String,
    #[serde(default)]
    pub(super) role: String,
    #[serde(default)]
    pub(super) op: String,
    #[serde(default)]
    pub(super) low: String,
    #[serde(default)]
    pub(super) high: String,
    #[serde(default)]
    pub(super) business: String,
    /// `all`, `any:<group>` or `any:new`.
    #[serde(default)]
    pub(super) join: String,
    #[serde(default)]
    pub(super) revision: String,
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
    /// The form that says which gateway branch the node runs in.
    pub branch: BranchForm,
    pub branch_errors: FieldErrors,
}

/// Where a node runs: `""` the main line, `<gateway>:<branch>` (the
/// branch's index) a gateway's branch.
#[derive(Debug, Default, Deserialize)]
pub struct BranchForm {
    #[serde(default)]
    pub branch: String,
    #[serde(default)]
    pub revision: String,
}

impl BranchForm {
    fn of(node: &NodeDef, revision: i32) -> BranchForm {
        BranchForm {
            branch: node
                .branch
                .as_ref()
                .map(|at| format!("{}:{}", at.gateway, at.branch))
                .unwrap_or_default(),
            revision: revision.to_string(),
        }
    }
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
        let businesses = business_options(state).await?;
        let rev = draft.process.revision.to_string();
        Ok(NodePage {
            branch: BranchForm::of(&node, draft.process.revision),
            branch_errors: FieldErrors::new(lang),
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

    /// The condition's lists as the page shows them.
    pub fn condition_lists(&self) -> Vec<ConditionList> {
        condition_lists(self.lang(), self.node.condition.as_ref())
    }

    /// Where a new predicate may go.
    pub fn join_options(&self) -> Vec<SelectOption> {
        join_options(self.lang(), self.node.condition.as_ref())
    }

    pub fn comparisons(&self) -> Vec<SelectOption> {
        comparison_options(self.lang())
    }

    pub fn tests(&self) -> Vec<SelectOption> {
        test_options(self.lang())
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
        field_options(self.lang(), &self.draft.def.fields_before(&self.node.key))
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

    /// The inputs the condition form's chosen test takes.
    pub fn predicate_inputs(&self) -> Inputs {
        predicate_inputs(&self.predicate.test)
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

    /// Where the node may run: the main line, or any gateway's branch.
    pub fn branch_options(&self) -> Vec<SelectOption> {
        let lang = self.lang();
        let def = &self.draft.def;
        let mut options = vec![SelectOption::new("", lang.t("design.gateways.main_line"))];
        for g in &def.gateways {
            options.extend((0..g.branches.len()).map(|b| {
                let at = crate::flow::BranchRef {
                    gateway: g.key.clone(),
                    branch: b,
                };
                SelectOption::new(format!("{}:{b}", g.key), place_label(lang, def, &at))
            }));
        }
        options
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

/// The predicate the condition form asks for, each input's problem beside
/// it. Shared by a node's condition and an exclusive gateway's branches'.
pub(super) fn parse_predicate(form: &PredicateForm, errors: &mut FieldErrors) -> Option<Predicate> {
    let field = form.field.trim().to_string();
    match form.test.as_str() {
        "field_equals" if form.value.trim().is_empty() => {
            errors.add("value", "errors.required");
            None
        }
        "field_equals" => Some(Predicate::FieldEquals {
            field,
            value: form.value.trim().to_string(),
        }),
        "field_not_empty" => Some(Predicate::FieldNotEmpty { field }),
        "resource_managed" => Some(Predicate::ResourceManaged { field }),
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
                field,
                op,
                value: form.value.trim().to_string(),
            }),
        },
        "between" => {
            let mut missing = false;
            for (name, value) in [("low", &form.low), ("high", &form.high)] {
                if value.trim().is_empty() {
                    errors.add(name, "errors.required");
                    missing = true;
                }
            }
            (!missing).then(|| Predicate::Between {
                field,
                low: form.low.trim().to_string(),
                high: form.high.trim().to_string(),
            })
        }
        "contains" if form.value.trim().is_empty() => {
            errors.add("value", "errors.required");
            None
        }
        "contains" => Some(Predicate::Contains {
            field,
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
    }
}

/// Where the condition form puts a predicate: `Some(None)` with those
/// that must all hold, `Some(Some(g))` into either-or group `g`
/// (`usize::MAX`: a new group); `None` when the choice means nothing.
pub(super) fn parse_join(form: &PredicateForm) -> Option<Option<usize>> {
    match form.join.trim() {
        "" | "all" => Some(None),
        "any:new" => Some(Some(usize::MAX)),
        other => other
            .strip_prefix("any:")
            .and_then(|g| g.parse::<usize>().ok())
            .map(Some),
    }
}

/// Refuses a predicate on a field that is not among `known` (the fields
/// filled before the condition is weighed).
pub(super) fn check_predicate_field(predicate: &Predicate, known: &[String]) -> StoreResult<()> {
    match predicate.field() {
        Some(f) if !known.iter().any(|k| k == f) => {
            Err(StoreError::rule("field", "errors.unknown_choice"))
        }
        _ => Ok(()),
    }
}

/// Adds `predicate` to `condition` where `join` says (see [`parse_join`]).
pub(super) fn join_predicate(
    condition: &mut Option<Condition>,
    predicate: Predicate,
    join: Option<usize>,
) -> StoreResult<()> {
    let condition = condition.get_or_insert_with(Condition::default);
    match join {
        None => condition.all.push(predicate),
        Some(group) if group < condition.any.len() => condition.any[group].push(predicate),
        Some(usize::MAX) => condition.any.push(vec![predicate]),
        // A group that is no longer there (the draft moved on).
        Some(_) => return Err(StoreError::rule("join", "errors.unknown_choice")),
    }
    Ok(())
}

/// Removes predicate `i` of `condition` (numbered as
/// [`Condition::predicates`] numbers them), dropping a group it empties
/// and the condition when nothing is left.
pub(super) fn remove_predicate_at(condition: &mut Option<Condition>, i: usize) -> StoreResult<()> {
    let c = condition.as_mut().ok_or(StoreError::NotFound)?;
    if i < c.all.len() {
        c.all.remove(i);
    } else {
        let mut at = i - c.all.len();
        let group = c
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
        c.any[group].remove(at);
        c.any.retain(|g| !g.is_empty());
    }
    if c.is_empty() {
        *condition = None;
    }
    Ok(())
}

/// A predicate in words.
pub fn predicate_text(lang: Lang, p: &Predicate) -> String {
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

/// A condition's lists as a page shows them: its heading, its class, and
/// its predicates numbered as removing names them — first those that must
/// all hold, then each either-or group, numbered on.
pub fn condition_lists(lang: Lang, condition: Option<&Condition>) -> Vec<ConditionList> {
    let Some(condition) = condition else {
        return Vec::new();
    };
    let mut lists = Vec::new();
    let all: Vec<(usize, String)> = condition
        .all
        .iter()
        .enumerate()
        .map(|(i, p)| (i, predicate_text(lang, p)))
        .collect();
    if !all.is_empty() {
        lists.push((
            lang.t("design.condition_all").into_owned(),
            "condition-all",
            all,
        ));
    }
    let mut at = condition.all.len();
    for group in &condition.any {
        let rows = group
            .iter()
            .map(|p| {
                at += 1;
                (at - 1, predicate_text(lang, p))
            })
            .collect();
        lists.push((
            lang.t("design.condition_any").into_owned(),
            "condition-any",
            rows,
        ));
    }
    lists
}

/// Where a new predicate may go: with those that must all hold, into an
/// "at least one of" group, or a new group.
pub fn join_options(lang: Lang, condition: Option<&Condition>) -> Vec<SelectOption> {
    let groups = condition.map_or(0, |c| c.any.len());
    let mut options = vec![SelectOption::new("all", lang.t("design.join_all"))];
    options.extend((0..groups).map(|g| {
        SelectOption::new(
            format!("any:{g}"),
            lang.tf("design.join_group", &[("n", &(g + 1).to_string())]),
        )
    }));
    options.push(SelectOption::new("any:new", lang.t("design.join_new")));
    options
}

/// The comparisons the condition form offers.
pub fn comparison_options(lang: Lang) -> Vec<SelectOption> {
    Comparison::ALL
        .iter()
        .map(|c| SelectOption::new(c.as_str(), lang.t(&format!("comparison.{}", c.as_str()))))
        .collect()
}

/// The tests the condition form offers.
pub fn test_options(lang: Lang) -> Vec<SelectOption> {
    PREDICATE_TESTS
        .iter()
        .map(|v| SelectOption::new(v, lang.t(&format!("predicate.{v}"))))
        .collect()
}

/// The tests that take `input` (for the script that shows it).
pub fn tests_taking_input(input: &str) -> String {
    choices_taking(PREDICATE_INPUTS, input)
}

/// The inputs a condition test takes.
pub fn predicate_inputs(test: &str) -> Inputs {
    Inputs(
        PREDICATE_INPUTS
            .iter()
            .filter(|(c, _)| *c == test)
            .map(|(_, i)| *i)
            .collect(),
    )
}

/// Fields a condition may read, as a select offers them.
pub fn field_options(lang: Lang, fields: &[&FieldDef]) -> Vec<SelectOption> {
    let zh = lang == Lang::ZhCn;
    fields
        .iter()
        .map(|f| SelectOption::new(&f.key, format!("{} ({})", f.label.text(zh), f.key)))
        .collect()
}

/// The businesses by name, for a condition's select.
pub(super) async fn business_options(state: &AppState) -> Result<Vec<SelectOption>, AppError> {
    Ok(state
        .db
        .read(crate::store::businesses::names)
        .await?
        .iter()
        .map(|(_, name)| SelectOption::new(name, name.clone()))
        .collect())
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
    let predicate = parse_predicate(&form, &mut errors);
    let Some(join) = parse_join(&form) else {
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
            check_predicate_field(&predicate, &earlier)?;
            let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
            if node.kind == NodeKind::Submit {
                return Err(StoreError::rule("", "design.problem.submit_condition"));
            }
            join_predicate(&mut node.condition, predicate, join)
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
        remove_predicate_at(&mut node.condition, i)
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

/// Which gateway branch a node runs in, or the main line; the nodes are
/// then tidied so each gateway's stand together, branch by branch.
pub async fn set_branch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<BranchForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    let place = match form.branch.trim() {
        "" => Some(None),
        other => errors.check(
            "branch",
            other
                .rsplit_once(':')
                .and_then(|(g, b)| {
                    Some(crate::flow::BranchRef {
                        gateway: g.to_string(),
                        branch: b.parse().ok()?,
                    })
                })
                .map(Some)
                .ok_or("errors.unknown_choice"),
        ),
    };
    if let Some(place) = place {
        let node_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            if let Some(at) = &place
                && def
                    .gateway(&at.gateway)
                    .is_none_or(|g| at.branch >= g.branches.len())
            {
                return Err(StoreError::rule("branch", "errors.unknown_choice"));
            }
            let node = def.node(&node_key).ok_or(StoreError::NotFound)?;
            if node.kind == NodeKind::Submit && place.is_some() {
                return Err(StoreError::rule("branch", "design.gateways.submit_stays"));
            }
            def.place_in_branch(&node_key, place);
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.saved",
                &format!("/admin/processes/{id}/nodes/{key}#runs-in"),
                &format!("/admin/processes/{id}/nodes/{key}"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.branch = form;
    page.branch_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
