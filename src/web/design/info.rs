//! Step 1 of the wizard (information), the list of processes, and clone,
//! export and import.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Draft, edit, load, problem_text, revision};
use crate::db::ids::ProcessId;
use crate::domain::Name;
use crate::flow::{ChangeDef, FieldKind, LocalText, ProcessDef, ProcessKind, TicketDeadline};
use crate::store::processes::{self, ProcessRow};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

#[derive(Template)]
#[template(path = "design/list.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<ProcessRow>,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(processes::list).await?;
    render(&ListPage { ctx, rows })
}

/// The information form (step 1) as typed.
#[derive(Debug, Default, Deserialize)]
pub struct InfoForm {
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    business_required: Option<String>,
    #[serde(default)]
    description: String,
    /// The calendar's code; empty: the default calendar.
    #[serde(default)]
    calendar: String,
    /// The whole ticket's deadline in hours; empty: none.
    #[serde(default)]
    deadline_hours: String,
    #[serde(default)]
    deadline_working: Option<String>,
    /// The change window's field; empty: not on the change calendar.
    #[serde(default)]
    change_window: String,
    /// The affected items' fields (and `@business`), ticked.
    #[serde(default)]
    change_items: Vec<String>,
    /// The emergency checkbox field; empty: no emergency path.
    #[serde(default)]
    change_emergency: String,
    /// The role that approves a conflict; empty: conflicts are only shown.
    #[serde(default)]
    conflict_role: String,
    #[serde(default)]
    revision: String,
}

struct Info {
    name: LocalText,
    kind: ProcessKind,
    business_required: bool,
    description: String,
    calendar: Option<String>,
    deadline: Option<TicketDeadline>,
    /// `None` on a new process (it has no fields yet: left as it is).
    change: Option<Option<ChangeDef>>,
}

/// What the change marks may name, from a draft's submit form.
pub struct ChangeChoices {
    pub windows: Vec<SelectOption>,
    /// (value, label) of each field that may hold affected items.
    pub items: Vec<SelectOption>,
    pub emergencies: Vec<SelectOption>,
    pub roles: Vec<SelectOption>,
}

impl ChangeChoices {
    fn of(ctx: &Ctx, def: &ProcessDef, roles: &crate::store::roles::RoleNames) -> ChangeChoices {
        let zh = ctx.lang == crate::i18n::Lang::ZhCn;
        let submit = def.submit_fields();
        let pick = |kinds: &[FieldKind]| -> Vec<SelectOption> {
            submit
                .iter()
                .filter(|f| kinds.contains(&f.kind))
                .map(|f| SelectOption::new(&f.key, f.label.text(zh).to_string()))
                .collect()
        };
        let none = |key: &str| SelectOption::new("", ctx.t(key));
        let mut windows = vec![none("design.change_not_on_calendar")];
        windows.extend(pick(&[FieldKind::DatetimeRange]));
        let mut items = pick(&[
            FieldKind::Resource,
            FieldKind::Text,
            FieldKind::Textarea,
            FieldKind::Select,
            FieldKind::Radio,
            FieldKind::MultiSelect,
        ]);
        if def.business_required {
            items.push(SelectOption::new(
                ChangeDef::BUSINESS,
                ctx.t("design.change_items_business"),
            ));
        }
        let mut emergencies = vec![none("design.change_no_emergency")];
        emergencies.extend(pick(&[FieldKind::Checkbox]));
        let role_options = crate::web::forms::role_options(
            ctx.lang,
            roles,
            ctx.t("design.conflict_shown_only").into_owned(),
        );
        ChangeChoices {
            windows,
            items,
            emergencies,
            roles: role_options,
        }
    }
}

impl InfoForm {
    fn from_def(def: &ProcessDef, revision: i32) -> InfoForm {
        InfoForm {
            name_en: def.name.en.clone(),
            name_zh: def.name.zh.clone(),
            kind: def.kind.as_str().to_string(),
            business_required: def.business_required.then(|| "on".to_string()),
            description: def.description.clone(),
            calendar: def.calendar.clone().unwrap_or_default(),
            deadline_hours: def
                .deadline
                .map(|d| d.hours.to_string())
                .unwrap_or_default(),
            deadline_working: def.deadline.filter(|d| d.working).map(|_| "on".into()),
            change_window: def
                .change
                .as_ref()
                .map(|c| c.window.clone())
                .unwrap_or_default(),
            change_items: def
                .change
                .as_ref()
                .map(|c| c.items.clone())
                .unwrap_or_default(),
            change_emergency: def
                .change
                .as_ref()
                .and_then(|c| c.emergency.clone())
                .unwrap_or_default(),
            conflict_role: def
                .change
                .as_ref()
                .and_then(|c| c.conflict_role.clone())
                .unwrap_or_default(),
            revision: revision.to_string(),
        }
    }

    /// Whether the affected-items box `value` is ticked.
    pub fn has_item(&self, value: &str) -> bool {
        self.change_items.iter().any(|i| i == value)
    }

    /// The change marks as typed, each checked against `choices`.
    fn parse_change(
        &self,
        errors: &mut FieldErrors,
        choices: &ChangeChoices,
    ) -> Option<Option<ChangeDef>> {
        let known =
            |options: &[SelectOption], value: &str| options.iter().any(|o| o.value == value);
        let window = self.change_window.trim();
        if !known(&choices.windows, window) {
            return errors.check("change_window", Err("errors.unknown_choice"));
        }
        let items: Vec<String> = self
            .change_items
            .iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect();
        if items.iter().any(|i| !known(&choices.items, i)) {
            return errors.check("change_items", Err("errors.unknown_choice"));
        }
        let emergency = self.change_emergency.trim();
        if !known(&choices.emergencies, emergency) {
            return errors.check("change_emergency", Err("errors.unknown_choice"));
        }
        let role = self.conflict_role.trim();
        if !known(&choices.roles, role) {
            return errors.check("conflict_role", Err("errors.unknown_choice"));
        }
        let filled = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some((!window.is_empty()).then(|| ChangeDef {
            window: window.to_string(),
            items,
            emergency: filled(emergency),
            conflict_role: filled(role),
        }))
    }

    /// The form as typed; `calendars` are the codes that exist, `change`
    /// what the change marks may name (`None` for a new process).
    fn parse(
        &self,
        errors: &mut FieldErrors,
        calendars: &[SelectOption],
        change: Option<&ChangeChoices>,
    ) -> Option<Info> {
        let marks = change.map(|choices| self.parse_change(errors, choices));
        let calendar = match self.calendar.trim() {
            "" => Some(None),
            code if calendars.iter().any(|c| c.value == code) => Some(Some(code.to_string())),
            _ => errors.check("calendar", Err("errors.unknown_choice")),
        };
        let max = crate::flow::validate::MAX_DEADLINE_HOURS;
        let deadline = match self.deadline_hours.trim() {
            "" => Some(None),
            hours => errors.check(
                "deadline_hours",
                hours
                    .parse::<u32>()
                    .ok()
                    .filter(|h| (1..=max).contains(h))
                    .map(|hours| {
                        Some(TicketDeadline {
                            hours,
                            working: self.deadline_working.is_some(),
                        })
                    })
                    .ok_or("design.problem.deadline_hours"),
            ),
        };
        let name = errors.check("name_en", Name::parse(&self.name_en));
        let zh = if self.name_zh.trim().is_empty() {
            Some(String::new())
        } else {
            errors.check("name_zh", Name::parse(&self.name_zh).map(|n| n.to_string()))
        };
        let kind = errors.check("kind", ProcessKind::parse(&self.kind));
        let description = errors.check("description", crate::domain::parse_note(&self.description));
        Some(Info {
            name: LocalText {
                en: name?.to_string(),
                zh: zh?,
            },
            kind: kind?,
            business_required: self.business_required.is_some(),
            description: description?,
            calendar: calendar?,
            deadline: deadline?,
            change: match marks {
                Some(marks) => Some(marks?),
                None => None,
            },
        })
    }
}

pub fn kind_options(ctx: &Ctx) -> Vec<SelectOption> {
    ProcessKind::ALL
        .iter()
        .map(|k| SelectOption::new(k.as_str(), ctx.t(k.label_key())))
        .collect()
}

#[derive(Template)]
#[template(path = "design/info.html")]
struct InfoPage {
    ctx: Ctx,
    draft: Option<Draft>,
    form: InfoForm,
    errors: FieldErrors,
    /// The calendars a process may count its deadlines in (the default first).
    calendars: Vec<SelectOption>,
    /// What the change marks may name; `None` for a new process.
    change: Option<ChangeChoices>,
}

/// The calendars to choose from: the default one (empty), then each.
async fn calendar_options(ctx: &Ctx, state: &AppState) -> Result<Vec<SelectOption>, AppError> {
    let rows = state.db.read(crate::store::calendars::list).await?;
    let zh = ctx.lang == crate::i18n::Lang::ZhCn;
    let mut out = vec![SelectOption::new("", ctx.t("calendars.process_default"))];
    out.extend(rows.into_iter().map(|r| {
        let name = if zh && !r.name_zh.trim().is_empty() {
            r.name_zh
        } else {
            r.name_en
        };
        SelectOption::new(&r.code, std::borrow::Cow::Owned(name))
    }));
    Ok(out)
}

impl InfoPage {
    fn kinds(&self) -> Vec<SelectOption> {
        kind_options(&self.ctx)
    }
}

pub async fn new_form(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let calendars = calendar_options(&ctx, &state).await?;
    let errors = FieldErrors::new(ctx.lang);
    let form = InfoForm {
        kind: "change".into(),
        ..InfoForm::default()
    };
    render(&InfoPage {
        ctx,
        draft: None,
        form,
        errors,
        calendars,
        change: None,
    })
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<InfoForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let calendars = calendar_options(&ctx, &state).await?;
    if let Some(info) = form.parse(&mut errors, &calendars, None) {
        let mut def = ProcessDef::new(info.name, info.kind);
        def.business_required = info.business_required;
        def.description = info.description;
        def.calendar = info.calendar;
        def.deadline = info.deadline;
        let id = state
            .db
            .write(move |c| processes::create(c, &def, actor))
            .await?;
        ctx.flash(FlashKind::Success, ctx.t("flash.process_created"));
        return Ok(see_other(&format!("/admin/processes/{id}/nodes")));
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &InfoPage {
            ctx,
            draft: None,
            form,
            errors,
            calendars,
            change: None,
        },
    )
}

pub async fn show(ctx: Ctx, path: web::Path<i32>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    Ok(see_other(&format!(
        "/admin/processes/{}/nodes",
        path.into_inner()
    )))
}

pub async fn info_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let draft = load(&ctx, &state, ProcessId(path.into_inner())).await?;
    let form = InfoForm::from_def(&draft.def, draft.process.revision);
    let errors = FieldErrors::new(ctx.lang);
    let calendars = calendar_options(&ctx, &state).await?;
    let roles = state.db.read(crate::store::roles::names).await?;
    let change = Some(ChangeChoices::of(&ctx, &draft.def, &roles));
    render(&InfoPage {
        ctx,
        draft: Some(draft),
        form,
        errors,
        calendars,
        change,
    })
}

pub async fn update_info(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<InfoForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    let calendars = calendar_options(&ctx, &state).await?;
    let roles = state.db.read(crate::store::roles::names).await?;
    let draft = load(&ctx, &state, id).await?;
    let choices = ChangeChoices::of(&ctx, &draft.def, &roles);
    if let Some(info) = form.parse(&mut errors, &calendars, Some(&choices)) {
        let change = move |def: &mut ProcessDef| {
            def.name = info.name;
            def.kind = info.kind;
            def.business_required = info.business_required;
            def.description = info.description;
            def.calendar = info.calendar;
            def.deadline = info.deadline;
            if let Some(marks) = info.change {
                def.change = marks;
            }
            Ok(())
        };
        match edit(&ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &ctx,
                "flash.saved",
                &format!("/admin/processes/{id}/nodes"),
                &format!("/admin/processes/{id}/info"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let draft = load(&ctx, &state, id).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &InfoPage {
            ctx,
            draft: Some(draft),
            form,
            errors,
            calendars,
            change: Some(choices),
        },
    )
}

pub async fn clone(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ProcessId(path.into_inner());
    let new = state
        .db
        .write(move |c| processes::clone(c, id, actor))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.process_cloned"));
    Ok(see_other(&format!("/admin/processes/{new}/nodes")))
}

/// The draft as a JSON file, for another countersign to import.
pub async fn export(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let (_, def) = state.db.read(move |c| processes::find_draft(c, id)).await?;
    let body = serde_json::to_string_pretty(&def).map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"process-{id}.json\""),
        ))
        .body(body))
}

#[derive(Template)]
#[template(path = "design/import.html")]
struct ImportPage {
    ctx: Ctx,
    json: String,
    problems: Vec<String>,
}

pub async fn import_form(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    render(&ImportPage {
        ctx,
        json: String::new(),
        problems: Vec::new(),
    })
}

#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    json: String,
}

/// Imports a process file as a new draft. A file that is not JSON, does not
/// describe a process, or describes one with problems is refused with every
/// reason, and the pasted text is kept.
pub async fn import(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ImportForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let lang = ctx.lang;
    let problems = match serde_json::from_str::<ProcessDef>(&form.json) {
        Err(e) if form.json.trim().is_empty() => {
            vec![ctx.t("design.import_empty").into_owned(), e.to_string()]
                .into_iter()
                .take(1)
                .collect()
        }
        Err(e) => vec![ctx.tf(
            "design.import_not_a_process",
            &[
                ("line", &e.line().to_string()),
                ("column", &e.column().to_string()),
                ("why", &e.to_string()),
            ],
        )],
        Ok(def) => {
            let outcome = state
                .db
                .write(move |c| {
                    let found = processes::problems(c, &def)?;
                    if !found.is_empty() {
                        return Ok(Err(found
                            .iter()
                            .map(|p| problem_text(lang, &def, p))
                            .collect::<Vec<_>>()));
                    }
                    Ok(Ok(processes::create(c, &def, actor)?))
                })
                .await?;
            match outcome {
                Ok(id) => {
                    ctx.flash(FlashKind::Success, ctx.t("flash.process_imported"));
                    return Ok(see_other(&format!("/admin/processes/{id}/nodes")));
                }
                Err(problems) => problems,
            }
        }
    };
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ImportPage {
            ctx,
            json: form.json,
            problems,
        },
    )
}
