//! Admin: freeze windows — when changes are refused (hard) or need one
//! more approval (soft), once or every week or year, everywhere or for
//! some businesses and items.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::flow::LocalText;
use crate::flow::change::normalise_item;
use crate::flow::freeze::{FreezeTime, Repeat, Strength};
use crate::store::freezes::{self, Freeze, FreezeInput};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Deserialize)]
pub struct FreezeForm {
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub reason_en: String,
    #[serde(default)]
    pub reason_zh: String,
    /// Local wall time, as a `datetime-local` input sends it.
    #[serde(default)]
    pub starts: String,
    #[serde(default)]
    pub ends: String,
    #[serde(default)]
    pub repeat: String,
    #[serde(default)]
    pub tz: String,
    #[serde(default)]
    pub strength: String,
    #[serde(default)]
    pub role: String,
    /// Businesses it covers (ids), ticked.
    #[serde(default)]
    pub scope_business: Vec<String>,
    /// Hosts, `#7` resources or `item:x` choices it covers, one a line.
    #[serde(default)]
    pub scope_items: String,
}

fn local(input: &str) -> Option<NaiveDateTime> {
    let input = input.trim();
    NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(input, "%Y-%m-%d %H:%M"))
        .ok()
}

impl FreezeForm {
    fn from_freeze(f: &Freeze) -> FreezeForm {
        let (businesses, items): (Vec<&String>, Vec<&String>) =
            f.scope.iter().partition(|s| s.starts_with("business:"));
        FreezeForm {
            name_en: f.name.en.clone(),
            name_zh: f.name.zh.clone(),
            reason_en: f.reason.en.clone(),
            reason_zh: f.reason.zh.clone(),
            starts: f.time.starts.format("%Y-%m-%dT%H:%M").to_string(),
            ends: f.time.ends.format("%Y-%m-%dT%H:%M").to_string(),
            repeat: f.time.repeat.as_str().into(),
            tz: f.time.zone.name().into(),
            strength: f.strength.as_str().into(),
            role: f.role.clone().unwrap_or_default(),
            scope_business: businesses
                .into_iter()
                .filter_map(|b| b.strip_prefix("business:"))
                .map(str::to_string)
                .collect(),
            scope_items: items
                .into_iter()
                .map(|i| match i.strip_prefix("resource:") {
                    Some(id) => format!("#{id}"),
                    None => i.strip_prefix("host:").unwrap_or(i).to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    pub fn has_business(&self, id: &str) -> bool {
        self.scope_business.iter().any(|b| b == id)
    }

    fn parse(&self, errors: &mut FieldErrors, roles: &[SelectOption]) -> Option<FreezeInput> {
        let text = |s: &str| s.trim().to_string();
        let name_en = errors.check(
            "name_en",
            crate::domain::Name::parse(&self.name_en).map(|n| n.to_string()),
        );
        let starts = errors.check(
            "starts",
            local(&self.starts).ok_or("errors.datetime_format"),
        );
        let ends = errors.check("ends", local(&self.ends).ok_or("errors.datetime_format"));
        let repeat = errors.check(
            "repeat",
            Repeat::parse(self.repeat.trim()).ok_or("errors.unknown_choice"),
        );
        let zone = errors.check(
            "tz",
            self.tz
                .trim()
                .parse::<chrono_tz::Tz>()
                .map_err(|_| "calendars.bad_tz"),
        );
        let strength = errors.check(
            "strength",
            Strength::parse(self.strength.trim()).ok_or("errors.unknown_choice"),
        );
        let role = match self.role.trim() {
            "" => Some(None),
            code if roles.iter().any(|r| r.value == code) => Some(Some(code.to_string())),
            _ => errors.check("role", Err("errors.unknown_choice")),
        };
        if strength == Some(Strength::Soft) && role == Some(None) {
            errors.add("role", "freezes.role_required");
        }
        let mut scope: Vec<String> = self
            .scope_business
            .iter()
            .filter_map(|b| b.trim().parse::<i32>().ok())
            .map(|b| format!("business:{b}"))
            .collect();
        for line in self.scope_items.lines().filter(|l| !l.trim().is_empty()) {
            let line = line.trim();
            let item = match line.strip_prefix('#') {
                Some(id) => normalise_item(&format!("resource:{id}")),
                None => normalise_item(line),
            };
            match item {
                Some(item) => scope.push(item),
                None => {
                    errors.add("scope_items", "freezes.bad_item");
                }
            }
        }
        scope.sort();
        scope.dedup();
        let time = match (starts, ends, repeat, zone) {
            (Some(starts), Some(ends), Some(repeat), Some(zone)) => {
                let time = FreezeTime {
                    starts,
                    ends,
                    repeat,
                    zone,
                };
                match time.check() {
                    Ok(()) => Some(time),
                    Err(e) => {
                        errors.add("ends", e.key());
                        None
                    }
                }
            }
            _ => None,
        };
        if !errors.is_empty() {
            return None;
        }
        Some(FreezeInput {
            name: LocalText {
                en: name_en?,
                zh: text(&self.name_zh),
            },
            reason: LocalText {
                en: text(&self.reason_en),
                zh: text(&self.reason_zh),
            },
            time: time?,
            strength: strength?,
            role: role?,
            scope,
        })
    }
}

/// A freeze in the list.
pub struct FreezeRowView {
    pub id: i32,
    pub name: String,
    pub strength: String,
    pub hard: bool,
    pub when: String,
    pub scope: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin/freezes.html")]
struct ListPage {
    ctx: Ctx,
    freezes: Vec<FreezeRowView>,
}

#[derive(Template)]
#[template(path = "admin/freeze_edit.html")]
struct EditPage {
    ctx: Ctx,
    editing: Option<i32>,
    form: FreezeForm,
    errors: FieldErrors,
    roles: Vec<SelectOption>,
    repeats: Vec<SelectOption>,
    strengths: Vec<SelectOption>,
    businesses: Vec<SelectOption>,
}

/// What the form offers: roles, repeats, strengths and businesses.
struct Choices {
    roles: Vec<SelectOption>,
    repeats: Vec<SelectOption>,
    strengths: Vec<SelectOption>,
    businesses: Vec<SelectOption>,
}

async fn choices(ctx: &Ctx, state: &AppState) -> Result<Choices, AppError> {
    let (roles, businesses) = state
        .db
        .read(|c| {
            Ok((
                crate::store::roles::names(c)?,
                crate::store::businesses::names(c)?,
            ))
        })
        .await?;
    let role_options =
        crate::web::forms::role_options(ctx.lang, &roles, ctx.t("freezes.no_role").into_owned());
    Ok(Choices {
        roles: role_options,
        repeats: Repeat::ALL
            .iter()
            .map(|r| {
                SelectOption::new(r.as_str(), ctx.t(&format!("freezes.repeat.{}", r.as_str())))
            })
            .collect(),
        strengths: Strength::ALL
            .iter()
            .map(|s| {
                SelectOption::new(
                    s.as_str(),
                    ctx.t(&format!("freezes.strength.{}", s.as_str())),
                )
            })
            .collect(),
        businesses: businesses
            .iter()
            .map(|(id, name)| SelectOption::new(id.0, name.clone()))
            .collect(),
    })
}

fn edit_page(
    ctx: Ctx,
    editing: Option<i32>,
    form: FreezeForm,
    errors: FieldErrors,
    c: Choices,
) -> EditPage {
    EditPage {
        ctx,
        editing,
        form,
        errors,
        roles: c.roles,
        repeats: c.repeats,
        strengths: c.strengths,
        businesses: c.businesses,
    }
}

/// After a committed change, pages read the freezes afresh.
async fn forget_shown(state: &AppState) -> Result<(), AppError> {
    state
        .db
        .read(|_| {
            freezes::forget_shown();
            Ok(())
        })
        .await?;
    Ok(())
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (rows, labels) = state
        .db
        .read(|c| {
            let rows = freezes::list(c)?;
            let items: Vec<&str> = rows
                .iter()
                .flat_map(|f| f.scope.iter().map(String::as_str))
                .collect();
            let labels = crate::store::changes::labels(c, &items)?;
            Ok((rows, labels))
        })
        .await?;
    let zh = ctx.lang == crate::i18n::Lang::ZhCn;
    let everywhere = ctx.t("freezes.everywhere").into_owned();
    let freezes = rows
        .iter()
        .map(|f| FreezeRowView {
            id: f.id,
            name: f.name.text(zh).to_string(),
            strength: ctx
                .t(&format!("freezes.strength.{}", f.strength.as_str()))
                .into_owned(),
            hard: f.strength == Strength::Hard,
            when: format!(
                "{} – {} {} · {}",
                f.time.starts.format("%Y-%m-%d %H:%M"),
                f.time.ends.format("%Y-%m-%d %H:%M"),
                f.time.zone.name(),
                ctx.t(&format!("freezes.repeat.{}", f.time.repeat.as_str()))
            ),
            scope: if f.scope.is_empty() {
                everywhere.clone()
            } else {
                f.scope
                    .iter()
                    .map(|s| labels.get(s).cloned().unwrap_or_else(|| s.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            reason: f.reason.text(zh).to_string(),
        })
        .collect();
    render(&ListPage { ctx, freezes })
}

pub async fn new_form(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let c = choices(&ctx, &state).await?;
    let form = FreezeForm {
        repeat: "once".into(),
        strength: "hard".into(),
        tz: "UTC".into(),
        ..FreezeForm::default()
    };
    let errors = FieldErrors::new(ctx.lang);
    render(&edit_page(ctx, None, form, errors, c))
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = path.into_inner();
    let freeze = state.db.read(move |c| freezes::find(c, id)).await?;
    let c = choices(&ctx, &state).await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&edit_page(
        ctx,
        Some(id),
        FreezeForm::from_freeze(&freeze),
        errors,
        c,
    ))
}

/// Saves a new freeze (no id) or changes to one; the changes already
/// approved whose windows it now touches are flagged to their people.
pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    form: CsrfForm<FreezeForm>,
) -> Result<HttpResponse, AppError> {
    save(ctx, state, None, form).await
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: CsrfForm<FreezeForm>,
) -> Result<HttpResponse, AppError> {
    save(ctx, state, Some(path.into_inner()), form).await
}

async fn save(
    ctx: Ctx,
    state: web::Data<AppState>,
    id: Option<i32>,
    CsrfForm(form): CsrfForm<FreezeForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let c = choices(&ctx, &state).await?;
    let mut errors = FieldErrors::new(ctx.lang);
    let Some(input) = form.parse(&mut errors, &c.roles) else {
        let page = edit_page(ctx, id, form, errors, c);
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let flagged = state
        .db
        .write(move |conn| {
            // Only a new freeze, or one whose time, scope or strength
            // changed, is news to the changes it covers.
            let before = match id {
                Some(id) => Some(freezes::find(conn, id)?),
                None => None,
            };
            let saved = freezes::save(conn, id, &input, me)?;
            let news = before.is_none_or(|b| {
                b.time != input.time || b.scope != input.scope || b.strength != input.strength
            });
            if news {
                crate::store::changes::flag_frozen(conn, saved, me)
            } else {
                Ok(0)
            }
        })
        .await?;
    forget_shown(&state).await?;
    ctx.flash(
        FlashKind::Success,
        ctx.tf("freezes.saved", &[("n", &flagged.to_string())]),
    );
    Ok(see_other("/admin/freezes"))
}

pub async fn delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = path.into_inner();
    state.db.write(move |c| freezes::delete(c, id)).await?;
    forget_shown(&state).await?;
    ctx.flash(FlashKind::Success, ctx.t("freezes.deleted"));
    Ok(see_other("/admin/freezes"))
}
