//! Admin: delegations — A away, B acts for A in a window, optionally for
//! one kind of process. The delegation form is shared with the profile page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::DelegationId;
use crate::domain::{ProcessKind, Username, parse_note};
use crate::i18n::Lang;
use crate::store::delegations::{self, DelegationInput, DelegationRow};
use crate::store::{StoreResult, users};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption, datetime_local, to_datetime_local};
use crate::web::{AppError, AppState, render, render_status};

/// The delegation form as typed; people are named by username.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DelegationForm {
    #[serde(default)]
    pub from_user: String,
    #[serde(default)]
    pub to_user: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub process_kind: String,
    #[serde(default)]
    pub note: String,
}

/// A delegation form that parsed; the usernames are resolved to people
/// inside the transaction that stores it.
pub struct ParsedDelegation {
    from: Username,
    to: Username,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    kind: Option<ProcessKind>,
    note: String,
}

impl ParsedDelegation {
    pub fn resolve(self, c: &mut DbConn) -> StoreResult<DelegationInput> {
        Ok(DelegationInput {
            from: users::resolve(c, "from_user", &self.from)?,
            to: users::resolve(c, "to_user", &self.to)?,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            kind: self.kind,
            note: self.note,
        })
    }
}

impl DelegationForm {
    /// An empty form for `from`, with a window from `now` to a week ahead.
    pub fn starting_now(from: &str, now: chrono::NaiveDateTime) -> DelegationForm {
        DelegationForm {
            from_user: from.to_string(),
            starts_at: to_datetime_local(now),
            ends_at: to_datetime_local(now + Duration::days(7)),
            ..DelegationForm::default()
        }
    }

    fn from_row(row: &DelegationRow) -> DelegationForm {
        let d = &row.delegation;
        DelegationForm {
            from_user: row.from.username.clone(),
            to_user: row.to.username.clone(),
            starts_at: to_datetime_local(d.starts_at),
            ends_at: to_datetime_local(d.ends_at),
            process_kind: d.process_kind.clone().unwrap_or_default(),
            note: d.note.clone(),
        }
    }

    pub fn parse(&self, errors: &mut FieldErrors) -> Option<ParsedDelegation> {
        let from = errors.check("from_user", Username::parse_person(&self.from_user));
        let to = errors.check("to_user", Username::parse_person(&self.to_user));
        let starts_at = errors.check("starts_at", datetime_local(&self.starts_at));
        let ends_at = errors.check("ends_at", datetime_local(&self.ends_at));
        let kind = errors.check(
            "process_kind",
            match self.process_kind.trim() {
                "" => Ok(None),
                k => ProcessKind::parse(k).map(Some),
            },
        );
        let note = errors.check("note", parse_note(&self.note));
        Some(ParsedDelegation {
            from: from?,
            to: to?,
            starts_at: starts_at?,
            ends_at: ends_at?,
            kind: kind?,
            note: note?,
        })
    }
}

/// "Any process" plus each kind, for the kind select.
pub fn kind_options(lang: &Lang) -> Vec<SelectOption> {
    let mut options = vec![SelectOption::new("", lang.t("delegations.any_kind"))];
    options.extend(
        ProcessKind::ALL
            .iter()
            .map(|k| SelectOption::new(k.as_str(), lang.t(k.label_key()))),
    );
    options
}

#[derive(Template)]
#[template(path = "admin/delegations.html")]
struct DelegationsPage {
    ctx: Ctx,
    rows: Vec<DelegationRow>,
    form: DelegationForm,
    errors: FieldErrors,
    now: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "admin/delegation_edit.html")]
struct DelegationEditPage {
    ctx: Ctx,
    id: DelegationId,
    form: DelegationForm,
    errors: FieldErrors,
}

async fn list_page(
    ctx: Ctx,
    state: &AppState,
    form: DelegationForm,
    errors: FieldErrors,
) -> Result<DelegationsPage, AppError> {
    let rows = state.db.read(|c| delegations::list(c, None)).await?;
    Ok(DelegationsPage {
        ctx,
        rows,
        form,
        errors,
        now: state.db.now(),
    })
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let form = DelegationForm::starting_now("", state.db.now());
    let errors = FieldErrors::new(ctx.lang);
    render(&list_page(ctx, &state, form, errors).await?)
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<DelegationForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            let id = delegations::create(c, &input, actor)?;
            crate::notify::delegation::stand_in_asked(c, id, actor)
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.delegation_saved", "/admin/delegations"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &list_page(ctx, &state, form, errors).await?,
    )
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = DelegationId(path.into_inner());
    let row = state.db.read(move |c| delegations::row(c, id)).await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&DelegationEditPage {
        ctx,
        id,
        form: DelegationForm::from_row(&row),
        errors,
    })
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<DelegationForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = DelegationId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            let before = delegations::find(c, id)?.to_user_id;
            delegations::update(c, id, &input, actor)?;
            // Someone newly asked to stand in is told what they take on.
            if before != input.to {
                crate::notify::delegation::stand_in_asked(c, id, actor)?;
            }
            Ok(())
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.delegation_saved", "/admin/delegations"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &DelegationEditPage {
            ctx,
            id,
            form,
            errors,
        },
    )
}

pub async fn delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = DelegationId(path.into_inner());
    state
        .db
        .write(move |c| delegations::delete(c, id, None, actor))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.delegation_deleted"));
    Ok(see_other("/admin/delegations"))
}
