//! Step 2, branches: the gateways that split a flow into branches — a
//! parallel gateway runs them all at once, an exclusive one takes the
//! first whose condition holds, or else its last, the default. Gateways
//! are added on the steps page and edited each on its own page; which
//! branch a step runs in is chosen on the step's page ("Runs in").
//!
//! Whatever changes where steps stand tidies the list
//! ([`ProcessDef::tidy_branches`]) so a gateway's steps stand together,
//! branch by branch. Steps of a branch or gateway that is removed go back
//! to the main line, where they stood: nothing the admin entered is lost.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::nodes::{
    self, ConditionList, Inputs, PredicateForm, RevisionOnly, check_predicate_field,
    join_predicate, parse_join, parse_key, parse_predicate, remove_predicate_at,
};
use super::{Draft, Outcome, edit, load, revision};
use crate::db::ids::ProcessId;
use crate::domain::Name;
use crate::flow::{BranchDef, BranchRef, FieldDef, GatewayDef, GatewayKind, LocalText, ProcessDef};
use crate::i18n::Lang;
use crate::store::{StoreError, StoreResult};
use crate::web::csrf::CsrfForm;
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

// ------------------------------------------------------------- in words

/// A gateway's kind in a word ("parallel").
pub fn kind_label(lang: Lang, kind: GatewayKind) -> String {
    lang.t(&format!("design.gateways.{}", kind.as_str()))
        .into_owned()
}

/// The kinds of gateway the add form offers, each with what it does.
pub fn gateway_kind_options(lang: Lang) -> Vec<SelectOption> {
    [GatewayKind::Parallel, GatewayKind::Exclusive]
        .iter()
        .map(|k| {
            SelectOption::new(
                k.as_str(),
                lang.t(&format!("design.gateways.kind_{}", k.as_str())),
            )
        })
        .collect()
}

/// A gateway's name in the reader's language, or its key if it has none.
pub fn gateway_name(lang: Lang, gateway: &GatewayDef) -> String {
    let name = gateway.name.text(lang == Lang::ZhCn).trim();
    if name.is_empty() {
        gateway.key.clone()
    } else {
        name.to_string()
    }
}

/// Branch `i`'s name in the reader's language, or "Branch n" where it
/// has none.
pub fn branch_name(lang: Lang, gateway: &GatewayDef, i: usize) -> String {
    gateway
        .branches
        .get(i)
        .map(|b| b.name.text(lang == Lang::ZhCn).trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| default_branch_name(lang, i + 1))
}

/// "Branch n" (1-based) in `lang`.
fn default_branch_name(lang: Lang, n: usize) -> String {
    lang.tf("design.gateways.branch_n", &[("n", &n.to_string())])
}

/// Where a node runs, in words: "Reviews: Security".
pub fn place_label(lang: Lang, def: &ProcessDef, at: &BranchRef) -> String {
    match def.gateway(&at.gateway) {
        Some(g) => lang.tf(
            "design.gateways.in_branch",
            &[
                ("gateway", &gateway_name(lang, g)),
                ("branch", &branch_name(lang, g, at.branch)),
            ],
        ),
        None => at.gateway.clone(),
    }
}

/// Whether `node` runs in gateway `key`.
/// A gateway as the steps page lists it.
pub struct GatewayRow {
    pub key: String,
    pub name: String,
    pub kind: String,
    /// Each branch's name, and whether it is the default.
    pub branches: Vec<(String, bool)>,
    /// How many steps run in it, in words.
    pub steps: String,
}

pub fn gateway_rows(lang: Lang, def: &ProcessDef) -> Vec<GatewayRow> {
    def.gateways
        .iter()
        .map(|g| GatewayRow {
            key: g.key.clone(),
            name: gateway_name(lang, g),
            kind: kind_label(lang, g.kind),
            branches: (0..g.branches.len())
                .map(|i| (branch_name(lang, g, i), is_default(g, i)))
                .collect(),
            steps: lang.tn(
                "design.gateways.steps_count",
                def.nodes.iter().filter(|n| n.in_gateway(&g.key)).count(),
            ),
        })
        .collect()
}

/// Whether branch `i` is the default of an exclusive gateway: its last.
fn is_default(gateway: &GatewayDef, i: usize) -> bool {
    gateway.kind == GatewayKind::Exclusive && i + 1 == gateway.branches.len()
}

/// The fields a branch condition may read: those filled before the
/// gateway's first step; before it has any, every field.
fn fields_before_gateway<'d>(def: &'d ProcessDef, key: &str) -> Vec<&'d FieldDef> {
    match def.nodes.iter().find(|n| n.in_gateway(key)) {
        Some(first) => def.fields_before(&first.key),
        None => def.fields().map(|(_, f)| f).collect(),
    }
}

fn text_or_empty(errors: &mut FieldErrors, field: &'static str, input: &str) -> Option<String> {
    if input.trim().is_empty() {
        Some(String::new())
    } else {
        errors.check(field, Name::parse(input).map(|n| n.to_string()))
    }
}

/// A name in both languages from its inputs: English required, Chinese
/// optional.
fn local_name(
    errors: &mut FieldErrors,
    (en_field, zh_field): (&'static str, &'static str),
    en: &str,
    zh: &str,
) -> Option<LocalText> {
    let en = errors.check(en_field, Name::parse(en));
    let zh = text_or_empty(errors, zh_field, zh);
    Some(LocalText {
        en: en?.to_string(),
        zh: zh?,
    })
}

// ------------------------------------------------- adding (steps page)

/// The steps page's form that adds a gateway with its first two branches.
#[derive(Debug, Default, Deserialize)]
pub struct AddGatewayForm {
    #[serde(default)]
    pub(super) key: String,
    #[serde(default)]
    pub(super) name_en: String,
    #[serde(default)]
    pub(super) name_zh: String,
    #[serde(default)]
    pub(super) kind: String,
    /// The branches' names; empty, "Branch 1" and "Branch 2".
    #[serde(default)]
    pub(super) branch1_en: String,
    #[serde(default)]
    pub(super) branch1_zh: String,
    #[serde(default)]
    pub(super) branch2_en: String,
    #[serde(default)]
    pub(super) branch2_zh: String,
    #[serde(default)]
    pub(super) revision: String,
}

/// Branch `n` (1-based) of a new gateway, named as entered, or "Branch n"
/// in both languages when left empty.
fn new_branch(
    errors: &mut FieldErrors,
    fields: (&'static str, &'static str),
    (en, zh): (&str, &str),
    n: usize,
) -> Option<BranchDef> {
    let name = if en.trim().is_empty() && zh.trim().is_empty() {
        LocalText {
            en: default_branch_name(Lang::En, n),
            zh: default_branch_name(Lang::ZhCn, n),
        }
    } else {
        local_name(errors, fields, en, zh)?
    };
    Some(BranchDef {
        name,
        condition: None,
    })
}

pub async fn add(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<AddGatewayForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    let key = errors.check("key", parse_key(&form.key));
    let name = local_name(
        &mut errors,
        ("name_en", "name_zh"),
        &form.name_en,
        &form.name_zh,
    );
    let kind = errors.check(
        "kind",
        GatewayKind::parse(form.kind.trim()).ok_or("errors.unknown_choice"),
    );
    let first = new_branch(
        &mut errors,
        ("branch1_en", "branch1_zh"),
        (&form.branch1_en, &form.branch1_zh),
        1,
    );
    let second = new_branch(
        &mut errors,
        ("branch2_en", "branch2_zh"),
        (&form.branch2_en, &form.branch2_zh),
        2,
    );
    if let (Some(key), Some(name), Some(kind), Some(first), Some(second)) =
        (key, name, kind, first, second)
    {
        let gateway_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            if def.node(&key).is_some() || def.gateway(&key).is_some() {
                return Err(StoreError::rule("key", "errors.code_taken"));
            }
            def.gateways.push(GatewayDef {
                key,
                name,
                kind,
                branches: vec![first, second],
            });
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.gateway_added",
                &format!("/admin/processes/{id}/gateways/{gateway_key}"),
                &format!("/admin/processes/{id}/nodes"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = nodes::step_page(ctx, &state, id).await?;
    page.gateway = form;
    page.gateway_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --------------------------------------------------------- gateway page

/// A name in both languages, as the gateway page's forms enter it: the
/// gateway's, a new branch's, a branch's.
#[derive(Debug, Default, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub revision: String,
}

impl NameForm {
    fn of(name: &LocalText, revision: i32) -> NameForm {
        NameForm {
            name_en: name.en.clone(),
            name_zh: name.zh.clone(),
            revision: revision.to_string(),
        }
    }
}

/// One branch as the gateway page shows it.
pub struct BranchView {
    pub index: usize,
    /// Its number, 1-based, as people count.
    pub number: usize,
    pub name: String,
    /// Whether it has a name of its own, not "Branch 2" (given or left).
    pub named: bool,
    /// The default of an exclusive gateway (its last branch).
    pub is_default: bool,
    /// Its steps, in order: key and name.
    pub steps: Vec<(String, String)>,
    /// Its condition's lists, as removing numbers them.
    pub lists: Vec<ConditionList>,
    /// The form that renames it.
    pub form: NameForm,
    pub errors: FieldErrors,
}

/// Which branch's condition the page edits.
#[derive(Debug, Default, Deserialize)]
pub struct BranchQuery {
    #[serde(default)]
    branch: Option<usize>,
}

#[derive(Template)]
#[template(path = "design/gateway.html")]
pub struct GatewayPage {
    pub ctx: Ctx,
    pub draft: Draft,
    pub gateway: GatewayDef,
    pub name: String,
    pub kind: String,
    /// The form that renames the gateway.
    pub form: NameForm,
    pub errors: FieldErrors,
    pub branches: Vec<BranchView>,
    /// The form that adds a branch.
    pub new_branch: NameForm,
    pub new_branch_errors: FieldErrors,
    /// The branch whose condition the condition form adds to.
    pub chosen: usize,
    pub predicate: PredicateForm,
    pub predicate_errors: FieldErrors,
    pub fields: Vec<SelectOption>,
    pub roles: Vec<SelectOption>,
    pub businesses: Vec<SelectOption>,
}

impl GatewayPage {
    pub async fn load(
        ctx: Ctx,
        state: &AppState,
        id: ProcessId,
        key: &str,
        chosen: Option<usize>,
    ) -> Result<GatewayPage, AppError> {
        let draft = load(&ctx, state, id).await?;
        let gateway = draft.def.gateway(key).ok_or(AppError::NotFound)?.clone();
        let lang = ctx.lang;
        let zh = lang == Lang::ZhCn;
        let rev = draft.process.revision;
        let branches = gateway
            .branches
            .iter()
            .enumerate()
            .map(|(i, b)| BranchView {
                index: i,
                number: i + 1,
                name: branch_name(lang, &gateway, i),
                named: branch_name(lang, &gateway, i) != default_branch_name(lang, i + 1),
                is_default: is_default(&gateway, i),
                steps: draft
                    .def
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.branch
                            .as_ref()
                            .is_some_and(|at| at.gateway == gateway.key && at.branch == i)
                    })
                    .map(|n| (n.key.clone(), n.name.text(zh).to_string()))
                    .collect(),
                lists: nodes::condition_lists(lang, b.condition.as_ref()),
                form: NameForm::of(&b.name, rev),
                errors: FieldErrors::new(lang),
            })
            .collect();
        // The condition form edits a branch that may have one: any but
        // the default.
        let last = gateway.branches.len().saturating_sub(1);
        let chosen = chosen.filter(|b| *b < last).unwrap_or(0);
        let fields = nodes::field_options(lang, &fields_before_gateway(&draft.def, key));
        let roles = nodes::role_options(&ctx, state).await?;
        let businesses = nodes::business_options(state).await?;
        Ok(GatewayPage {
            name: gateway_name(lang, &gateway),
            kind: kind_label(lang, gateway.kind),
            form: NameForm::of(&gateway.name, rev),
            errors: FieldErrors::new(lang),
            branches,
            new_branch: NameForm {
                revision: rev.to_string(),
                ..NameForm::default()
            },
            new_branch_errors: FieldErrors::new(lang),
            chosen,
            predicate: PredicateForm {
                test: "field_equals".into(),
                revision: rev.to_string(),
                ..PredicateForm::default()
            },
            predicate_errors: FieldErrors::new(lang),
            fields,
            roles,
            businesses,
            gateway,
            draft,
            ctx,
        })
    }

    pub fn is_exclusive(&self) -> bool {
        self.gateway.kind == GatewayKind::Exclusive
    }

    /// Where this page is.
    pub fn path(&self) -> String {
        format!(
            "/admin/processes/{}/gateways/{}",
            self.draft.id(),
            self.gateway.key
        )
    }

    /// Whether branch `i` is the one the condition form adds to.
    pub fn is_chosen(&self, i: &usize) -> bool {
        self.is_exclusive() && *i == self.chosen && !is_default(&self.gateway, *i)
    }

    /// Where a new predicate of the chosen branch may go.
    pub fn join_options(&self) -> Vec<SelectOption> {
        nodes::join_options(
            self.ctx.lang,
            self.gateway
                .branches
                .get(self.chosen)
                .and_then(|b| b.condition.as_ref()),
        )
    }

    pub fn tests(&self) -> Vec<SelectOption> {
        nodes::test_options(self.ctx.lang)
    }

    pub fn comparisons(&self) -> Vec<SelectOption> {
        nodes::comparison_options(self.ctx.lang)
    }

    pub fn predicate_inputs(&self) -> Inputs {
        nodes::predicate_inputs(&self.predicate.test)
    }
}

pub async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    query: web::Query<BranchQuery>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    render(&GatewayPage::load(ctx, &state, ProcessId(id), &key, query.branch).await?)
}

/// The gateway page's address, with the branch the condition form edits
/// and where on the page to land.
fn page_of(id: ProcessId, key: &str, branch: Option<usize>, anchor: &str) -> String {
    let mut path = format!("/admin/processes/{id}/gateways/{key}");
    if let Some(b) = branch {
        path.push_str(&format!("?branch={b}"));
    }
    if !anchor.is_empty() {
        path.push('#');
        path.push_str(anchor);
    }
    path
}

/// Applies `change` to gateway `key` of the draft.
fn gateway_of<'d>(def: &'d mut ProcessDef, key: &str) -> StoreResult<&'d mut GatewayDef> {
    def.gateway_mut(key).ok_or(StoreError::NotFound)
}

pub async fn rename(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(name) = local_name(
        &mut errors,
        ("name_en", "name_zh"),
        &form.name_en,
        &form.name_zh,
    ) {
        let gateway_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            gateway_of(def, &gateway_key)?.name = name;
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.saved",
                &page_of(id, &key, None, ""),
                &page_of(id, &key, None, ""),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = GatewayPage::load(ctx, &state, id, &key, None).await?;
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Removes the gateway; its steps go back to the main line where they
/// stand.
pub async fn remove(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let gateway_key = key.clone();
    let change = move |def: &mut ProcessDef| {
        let at = def
            .gateways
            .iter()
            .position(|g| g.key == gateway_key)
            .ok_or(StoreError::NotFound)?;
        def.gateways.remove(at);
        // Its steps' places name no gateway now: tidying forgets them.
        def.tidy_branches();
        Ok(())
    };
    match edit(&ctx, &state, id, revision(&form.revision), change).await? {
        Outcome::Saved => {
            ctx.flash(FlashKind::Success, ctx.t("flash.gateway_removed"));
            Ok(see_other(&format!("/admin/processes/{id}/nodes#gateways")))
        }
        Outcome::Stale => Ok(see_other(&page_of(id, &key, None, ""))),
        Outcome::Refused(e) => {
            ctx.flash(FlashKind::Error, e.form().unwrap_or_default().to_string());
            Ok(see_other(&page_of(id, &key, None, "")))
        }
    }
}

pub async fn add_branch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(name) = local_name(
        &mut errors,
        ("name_en", "name_zh"),
        &form.name_en,
        &form.name_zh,
    ) {
        let gateway_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            let g = gateway_of(def, &gateway_key)?;
            // An exclusive gateway's default stays last: the new branch
            // goes before it, and the default's steps follow it along.
            let at = match g.kind {
                GatewayKind::Exclusive if !g.branches.is_empty() => g.branches.len() - 1,
                _ => g.branches.len(),
            };
            let branch = BranchDef {
                name,
                condition: None,
            };
            def.insert_branch(&gateway_key, at, branch);
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.branch_added",
                &page_of(id, &key, None, "branches"),
                &page_of(id, &key, None, ""),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = GatewayPage::load(ctx, &state, id, &key, None).await?;
    page.new_branch = form;
    page.new_branch_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn rename_branch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, i) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(name) = local_name(
        &mut errors,
        ("name_en", "name_zh"),
        &form.name_en,
        &form.name_zh,
    ) {
        let gateway_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            gateway_of(def, &gateway_key)?
                .branches
                .get_mut(i)
                .ok_or(StoreError::NotFound)?
                .name = name;
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.saved",
                &page_of(id, &key, None, &format!("branch-{}", i + 1)),
                &page_of(id, &key, None, ""),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = GatewayPage::load(ctx, &state, id, &key, None).await?;
    let view = page.branches.get_mut(i).ok_or(AppError::NotFound)?;
    view.form = form;
    view.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Removes branch `i`: its steps go back to the main line (next to the
/// gateway, where they stood), later branches' steps keep theirs. A
/// gateway keeps two branches at least.
pub async fn remove_branch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, i) = path.into_inner();
    let id = ProcessId(id);
    let gateway_key = key.clone();
    let change = move |def: &mut ProcessDef| {
        let g = gateway_of(def, &gateway_key)?;
        if i >= g.branches.len() {
            return Err(StoreError::NotFound);
        }
        if g.branches.len() <= 2 {
            return Err(StoreError::rule("", "design.gateways.keep_two"));
        }
        if g.kind == GatewayKind::Exclusive && i + 1 == g.branches.len() {
            return Err(StoreError::rule("", "design.gateways.default_stays"));
        }
        def.remove_branch(&gateway_key, i);
        Ok(())
    };
    match edit(&ctx, &state, id, revision(&form.revision), change).await? {
        Outcome::Saved => ctx.flash(FlashKind::Success, ctx.t("flash.branch_removed")),
        Outcome::Stale => {}
        Outcome::Refused(e) => {
            ctx.flash(FlashKind::Error, e.form().unwrap_or_default().to_string())
        }
    }
    Ok(see_other(&page_of(id, &key, None, "branches")))
}

/// Adds a predicate to the condition of branch `b` of an exclusive
/// gateway (not its default, the last), as a node's condition editor does.
pub async fn add_predicate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize)>,
    CsrfForm(form): CsrfForm<PredicateForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, b) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    if form.intent == "choose" {
        let mut page = GatewayPage::load(ctx, &state, id, &key, Some(b)).await?;
        page.predicate = form;
        return render(&page);
    }
    let predicate = parse_predicate(&form, &mut errors);
    let join = parse_join(&form);
    if join.is_none() {
        errors.add("join", "errors.unknown_choice");
    }
    if let (Some(predicate), Some(join)) = (predicate, join) {
        let gateway_key = key.clone();
        let change = move |def: &mut ProcessDef| {
            let known: Vec<String> = fields_before_gateway(def, &gateway_key)
                .iter()
                .map(|f| f.key.clone())
                .collect();
            check_predicate_field(&predicate, &known)?;
            let g = gateway_of(def, &gateway_key)?;
            if g.kind != GatewayKind::Exclusive || b >= g.branches.len() {
                return Err(StoreError::NotFound);
            }
            if is_default(g, b) {
                return Err(StoreError::rule("", "design.gateways.default_no_condition"));
            }
            join_predicate(&mut g.branches[b].condition, predicate, join)
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.condition_added",
                &page_of(
                    id,
                    &key,
                    Some(b),
                    &format!("branch-{}", b.saturating_add(1)),
                ),
                &page_of(id, &key, Some(b), ""),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = GatewayPage::load(ctx, &state, id, &key, Some(b)).await?;
    page.predicate = form;
    page.predicate_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn remove_predicate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, usize, usize)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, b, i) = path.into_inner();
    let id = ProcessId(id);
    let gateway_key = key.clone();
    let change = move |def: &mut ProcessDef| {
        let branch = gateway_of(def, &gateway_key)?
            .branches
            .get_mut(b)
            .ok_or(StoreError::NotFound)?;
        remove_predicate_at(&mut branch.condition, i)
    };
    if let Outcome::Saved = edit(&ctx, &state, id, revision(&form.revision), change).await? {
        ctx.flash(FlashKind::Success, ctx.t("flash.condition_removed"));
    }
    Ok(see_other(&page_of(
        id,
        &key,
        Some(b),
        &format!("branch-{}", b.saturating_add(1)),
    )))
}
