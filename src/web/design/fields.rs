//! Step 2, fields: add a field to a node, edit its options, reorder and
//! remove it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::nodes::{NewFieldForm, NodePage, RevisionOnly, parse_key, shift};
use super::{Draft, Outcome, edit, load, revision};
use crate::db::ids::ProcessId;
use crate::domain::Name;
use crate::flow::validate::field_problems;
use crate::flow::{Choice, FieldDef, FieldKind, LocalText, ProcessDef};
use crate::store::StoreError;
use crate::web::csrf::CsrfForm;
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

fn text_or_empty(errors: &mut FieldErrors, field: &'static str, input: &str) -> Option<String> {
    if input.trim().is_empty() {
        Some(String::new())
    } else {
        errors.check(field, Name::parse(input).map(|n| n.to_string()))
    }
}

pub async fn add(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    CsrfForm(form): CsrfForm<NewFieldForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key) = path.into_inner();
    let id = ProcessId(id);
    let mut errors = FieldErrors::new(ctx.lang);
    let field_key = errors.check("key", parse_key(&form.key));
    let label = errors.check("label_en", Name::parse(&form.label_en));
    let zh = text_or_empty(&mut errors, "label_zh", &form.label_zh);
    let kind = errors.check(
        "kind",
        FieldKind::parse(&form.kind).ok_or("errors.unknown_choice"),
    );
    if let (Some(field_key), Some(label), Some(zh), Some(kind)) = (field_key, label, zh, kind) {
        let node_key = key.clone();
        let new_key = field_key.clone();
        let change = move |def: &mut ProcessDef| {
            if def.field(&field_key).is_some() {
                return Err(StoreError::rule("key", "errors.code_taken"));
            }
            let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
            node.fields.push(FieldDef::new(
                &field_key,
                LocalText {
                    en: label.to_string(),
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
                "flash.field_added",
                &format!("/admin/processes/{id}/nodes/{key}/fields/{new_key}"),
                &format!("/admin/processes/{id}/nodes/{key}"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    let mut page = NodePage::load(ctx, &state, id, &key).await?;
    page.field = form;
    page.field_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// The field editor as typed. Choices are one per line: `value = English / 中文`.
#[derive(Debug, Default, Deserialize)]
pub struct FieldForm {
    #[serde(default)]
    label_en: String,
    #[serde(default)]
    label_zh: String,
    #[serde(default)]
    help_en: String,
    #[serde(default)]
    help_zh: String,
    #[serde(default)]
    required: Option<String>,
    #[serde(default)]
    default: String,
    #[serde(default)]
    choices: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    max_length: String,
    #[serde(default)]
    pattern: String,
    /// A file field: how many, how large (MiB), which endings.
    #[serde(default)]
    max_files: String,
    #[serde(default)]
    max_mb: String,
    #[serde(default)]
    accept: String,
    #[serde(default)]
    revision: String,
}

fn number_text(n: Option<f64>) -> String {
    n.map(|v| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            v.to_string()
        }
    })
    .unwrap_or_default()
}

impl FieldForm {
    fn from_field(f: &FieldDef, revision: i32) -> FieldForm {
        FieldForm {
            label_en: f.label.en.clone(),
            label_zh: f.label.zh.clone(),
            help_en: f.help.en.clone(),
            help_zh: f.help.zh.clone(),
            required: f.required.then(|| "on".into()),
            default: f.default.clone().unwrap_or_default(),
            choices: f
                .choices
                .iter()
                .map(|c| {
                    if c.label.zh.is_empty() {
                        format!("{} = {}", c.value, c.label.en)
                    } else {
                        format!("{} = {} / {}", c.value, c.label.en, c.label.zh)
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            min: number_text(f.min),
            max: number_text(f.max),
            max_length: f.max_length.map(|n| n.to_string()).unwrap_or_default(),
            pattern: f.pattern.clone().unwrap_or_default(),
            max_files: f.max_files.map(|n| n.to_string()).unwrap_or_default(),
            max_mb: f.max_mb.map(|n| n.to_string()).unwrap_or_default(),
            accept: f.accept.join(", "),
            revision: revision.to_string(),
        }
    }

    /// Applies the form to `field`, collecting every problem beside its input.
    fn apply(&self, field: &mut FieldDef, errors: &mut FieldErrors, lang: crate::i18n::Lang) {
        if let Some(label) = errors.check("label_en", Name::parse(&self.label_en)) {
            field.label.en = label.to_string();
        }
        if let Some(zh) = text_or_empty(errors, "label_zh", &self.label_zh) {
            field.label.zh = zh;
        }
        field.help = LocalText::new(self.help_en.trim(), self.help_zh.trim());
        field.required = self.required.is_some();
        field.default = Some(self.default.trim().to_string()).filter(|d| !d.is_empty());
        let number = |errors: &mut FieldErrors, name: &'static str, input: &str| match input.trim()
        {
            "" => Some(None),
            s => errors.check(
                name,
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Some)
                    .ok_or("errors.not_a_number"),
            ),
        };
        if let Some(min) = number(errors, "min", &self.min) {
            field.min = min;
        }
        if let Some(max) = number(errors, "max", &self.max) {
            field.max = max;
        }
        match self.max_length.trim() {
            "" => field.max_length = None,
            s => match s.parse::<u32>() {
                Ok(n) => field.max_length = Some(n),
                Err(_) => errors.add("max_length", "errors.not_a_number"),
            },
        }
        field.pattern = Some(self.pattern.trim().to_string()).filter(|p| !p.is_empty());
        let count = |errors: &mut FieldErrors, name: &'static str, input: &str| match input.trim() {
            "" => Some(None),
            s => errors.check(
                name,
                s.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or("errors.not_a_number"),
            ),
        };
        if let Some(n) = count(errors, "max_files", &self.max_files) {
            field.max_files = n;
        }
        if let Some(n) = count(errors, "max_mb", &self.max_mb) {
            field.max_mb = n;
        }
        field.accept = self
            .accept
            .split([',', ' ', ';', '\n'])
            .map(|a| a.trim().trim_start_matches('.').to_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        match parse_choices(&self.choices) {
            Ok(choices) => field.choices = choices,
            Err((key, args)) => {
                let args: Vec<(&str, &str)> = args.iter().map(|(n, v)| (*n, v.as_str())).collect();
                errors.add_message("choices", lang.tf(key, &args));
            }
        }
        // Design rules on the whole field, placed beside the input they concern.
        for problem in field_problems(field) {
            let input = match problem.key {
                "design.problem.no_choices"
                | "design.problem.choice_duplicate"
                | "design.problem.choice_empty" => "choices",
                "design.problem.min_over_max" => "max",
                "design.problem.max_length_zero" => "max_length",
                "design.problem.bad_pattern" => "pattern",
                "design.problem.bad_default" => "default",
                "design.problem.field_label_required" => "label_en",
                _ => "",
            };
            if !errors.has(input) {
                errors.add_message(input, super::problem_message(lang, &problem));
            }
        }
    }
}

/// A message key and its arguments.
type LineProblem = (&'static str, Vec<(&'static str, String)>);

/// The options box, one `value = English / Chinese` per line (blank lines
/// skipped); the first line that is not one is refused, quoted with its
/// number, and so is a value given twice.
fn parse_choices(input: &str) -> Result<Vec<Choice>, LineProblem> {
    let mut choices: Vec<Choice> = Vec::new();
    for (at, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let quoted = || {
            vec![
                ("n", (at + 1).to_string()),
                ("line", line.trim().to_string()),
            ]
        };
        let (value, labels) = line.split_once('=').unwrap_or((line, line));
        let (en, zh) = labels.split_once('/').unwrap_or((labels, ""));
        let (value, en, zh) = (value.trim(), en.trim(), zh.trim());
        if value.is_empty() || en.is_empty() || labels.contains('=') || zh.contains('/') {
            return Err(("design.problem.choice_line", quoted()));
        }
        if choices.iter().any(|c| c.value == value) {
            let mut args = quoted();
            args.push(("value", value.to_string()));
            return Err(("design.problem.choice_line_repeats", args));
        }
        choices.push(Choice {
            value: value.to_string(),
            label: LocalText::new(en, zh),
        });
    }
    Ok(choices)
}

#[derive(Template)]
#[template(path = "design/field.html")]
struct FieldPage {
    ctx: Ctx,
    draft: Draft,
    node_key: String,
    node_name: String,
    field: FieldDef,
    form: FieldForm,
    errors: FieldErrors,
}

async fn page(
    ctx: Ctx,
    state: &AppState,
    id: ProcessId,
    key: &str,
    field_key: &str,
) -> Result<FieldPage, AppError> {
    let draft = load(&ctx, state, id).await?;
    let node = draft.def.node(key).ok_or(AppError::NotFound)?;
    let field = node
        .fields
        .iter()
        .find(|f| f.key == field_key)
        .ok_or(AppError::NotFound)?
        .clone();
    let node_name = node
        .name
        .text(ctx.lang == crate::i18n::Lang::ZhCn)
        .to_string();
    let form = FieldForm::from_field(&field, draft.process.revision);
    let errors = FieldErrors::new(ctx.lang);
    Ok(FieldPage {
        ctx,
        node_key: key.to_string(),
        node_name,
        field,
        form,
        errors,
        draft,
    })
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, String)>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, field) = path.into_inner();
    render(&page(ctx, &state, ProcessId(id), &key, &field).await?)
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, String)>,
    CsrfForm(form): CsrfForm<FieldForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, field_key) = path.into_inner();
    let id = ProcessId(id);
    let mut page = page(ctx, &state, id, &key, &field_key).await?;
    let mut errors = FieldErrors::new(page.ctx.lang);
    let mut field = page.field.clone();
    form.apply(&mut field, &mut errors, page.ctx.lang);
    if errors.is_empty() {
        let (node_key, fk) = (key.clone(), field_key.clone());
        let change = move |def: &mut ProcessDef| {
            let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
            let slot = node
                .fields
                .iter_mut()
                .find(|f| f.key == fk)
                .ok_or(StoreError::NotFound)?;
            *slot = field;
            Ok(())
        };
        match edit(&page.ctx, &state, id, revision(&form.revision), change)
            .await?
            .answer(
                &page.ctx,
                "flash.saved",
                &format!("/admin/processes/{id}/nodes/{key}#fields"),
                &format!("/admin/processes/{id}/nodes/{key}/fields/{field_key}"),
            ) {
            Ok(done) => return Ok(done),
            Err(e) => errors = e,
        }
    }
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct MoveFieldForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    revision: String,
}

pub async fn move_field(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, String)>,
    CsrfForm(form): CsrfForm<MoveFieldForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, field_key) = path.into_inner();
    let id = ProcessId(id);
    let up = form.direction == "up";
    let node_key = key.clone();
    let change = move |def: &mut ProcessDef| {
        let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
        let i = node
            .fields
            .iter()
            .position(|f| f.key == field_key)
            .ok_or(StoreError::NotFound)?;
        shift(&mut node.fields, i, up, 0);
        Ok(())
    };
    edit(&ctx, &state, id, revision(&form.revision), change).await?;
    Ok(see_other(&format!(
        "/admin/processes/{id}/nodes/{key}#fields"
    )))
}

pub async fn remove(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String, String)>,
    CsrfForm(form): CsrfForm<RevisionOnly>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, key, field_key) = path.into_inner();
    let id = ProcessId(id);
    let node_key = key.clone();
    let change = move |def: &mut ProcessDef| {
        let node = def.node_mut(&node_key).ok_or(StoreError::NotFound)?;
        let before = node.fields.len();
        node.fields.retain(|f| f.key != field_key);
        if node.fields.len() == before {
            return Err(StoreError::NotFound);
        }
        // Other nodes' access settings for the field go with it.
        for n in &mut def.nodes {
            n.field_access.remove(&field_key);
        }
        Ok(())
    };
    if let Outcome::Saved = edit(&ctx, &state, id, revision(&form.revision), change).await? {
        ctx.flash(FlashKind::Success, ctx.t("flash.field_removed"));
    }
    Ok(see_other(&format!(
        "/admin/processes/{id}/nodes/{key}#fields"
    )))
}

#[cfg(test)]
mod tests {
    use super::parse_choices;

    #[test]
    fn options_are_read_one_per_line_with_both_labels() {
        let choices = parse_choices("low = Low / 低\n\nhigh=High\nmid\n").unwrap();
        let read: Vec<(&str, &str, &str)> = choices
            .iter()
            .map(|c| (c.value.as_str(), c.label.en.as_str(), c.label.zh.as_str()))
            .collect();
        assert_eq!(
            read,
            [
                ("low", "Low", "低"),
                ("high", "High", ""),
                ("mid", "mid", "")
            ]
        );
    }

    #[test]
    fn a_bad_options_line_is_refused_with_its_number_and_text() {
        for (input, line) in [
            ("a = A\n= Nameless", "2"),
            ("a = A = B", "1"),
            ("a = A / 甲 / 乙", "1"),
            ("x = \t/ 中文", "1"),
        ] {
            let (key, args) = parse_choices(input).unwrap_err();
            assert_eq!(key, "design.problem.choice_line", "{input}");
            assert_eq!(args[0], ("n", line.to_string()), "{input}");
        }
        let (key, args) = parse_choices("a = A\nb = B\na = Again").unwrap_err();
        assert_eq!(key, "design.problem.choice_line_repeats");
        assert_eq!(args[1], ("line", "a = Again".to_string()));
    }
}
