//! Admin: delegations — A away, B acts for A in a window, optionally for
//! one kind of process. The delegation form is shared with the profile page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Duration;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::{DelegationId, UserId};
use crate::db::models::Delegation;
use crate::domain::{ProcessKind, parse_note};
use crate::i18n::Lang;
use crate::store::delegations::{self, DelegationInput, DelegationRow};
use crate::store::{StoreResult, users};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{
    FieldErrors, SelectOption, datetime_local, required_id, to_datetime_local,
};
use crate::web::{AppError, AppState, render, render_status};

/// The delegation form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DelegationForm {
    #[serde(default)]
    pub from_user_id: String,
    #[serde(default)]
    pub to_user_id: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub process_kind: String,
    #[serde(default)]
    pub note: String,
}

impl DelegationForm {
    /// An empty form for `from`, with a window from now to a week ahead.
    pub fn starting_now(from: UserId) -> DelegationForm {
        let now = crate::store::now();
        DelegationForm {
            from_user_id: from.to_string(),
            starts_at: to_datetime_local(now),
            ends_at: to_datetime_local(now + Duration::days(7)),
            ..DelegationForm::default()
        }
    }

    fn from_delegation(d: &Delegation) -> DelegationForm {
        DelegationForm {
            from_user_id: d.from_user_id.to_string(),
            to_user_id: d.to_user_id.to_string(),
            starts_at: to_datetime_local(d.starts_at),
            ends_at: to_datetime_local(d.ends_at),
            process_kind: d.process_kind.clone().unwrap_or_default(),
            note: d.note.clone(),
        }
    }

    pub fn parse(&self, errors: &mut FieldErrors) -> Option<DelegationInput> {
        let from = errors.check("from_user_id", required_id::<UserId>(&self.from_user_id));
        let to = errors.check("to_user_id", required_id::<UserId>(&self.to_user_id));
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
        Some(DelegationInput {
            from: from?,
            to: to?,
            starts_at: starts_at?,
            ends_at: ends_at?,
            kind: kind?,
            note: note?,
        })
    }
}

/// Active people for the from/to selects, with an empty first choice.
pub fn user_options(c: &mut DbConn) -> StoreResult<Vec<SelectOption>> {
    let mut options = vec![SelectOption::new("", "—")];
    options.extend(
        users::active_choices(c)?
            .into_iter()
            .map(|(id, username, name)| SelectOption::new(id, format!("{name} ({username})"))),
    );
    Ok(options)
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
    people: Vec<SelectOption>,
    now: chrono::NaiveDateTime,
}

#[derive(Template)]
#[template(path = "admin/delegation_edit.html")]
struct DelegationEditPage {
    ctx: Ctx,
    id: DelegationId,
    form: DelegationForm,
    errors: FieldErrors,
    people: Vec<SelectOption>,
}

async fn list_page(
    ctx: Ctx,
    state: &AppState,
    form: DelegationForm,
    errors: FieldErrors,
) -> Result<DelegationsPage, AppError> {
    let (rows, people) = state
        .db
        .read(|c| Ok((delegations::list(c, None)?, user_options(c)?)))
        .await?;
    Ok(DelegationsPage {
        ctx,
        rows,
        form,
        errors,
        people,
        now: crate::store::now(),
    })
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let mut form = DelegationForm::starting_now(me);
    form.from_user_id.clear();
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
    if let Some(input) = form.parse(&mut errors) {
        match state
            .db
            .write(move |c| delegations::create(c, &input, actor))
            .await
        {
            Ok(_) => {
                ctx.flash(FlashKind::Success, ctx.t("flash.delegation_saved"));
                return Ok(see_other("/admin/delegations"));
            }
            Err(e) => errors.absorb(e)?,
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
    let (d, people) = state
        .db
        .read(move |c| Ok((delegations::find(c, id)?, user_options(c)?)))
        .await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&DelegationEditPage {
        ctx,
        id,
        form: DelegationForm::from_delegation(&d),
        errors,
        people,
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
    if let Some(input) = form.parse(&mut errors) {
        match state
            .db
            .write(move |c| delegations::update(c, id, &input, actor))
            .await
        {
            Ok(()) => {
                ctx.flash(FlashKind::Success, ctx.t("flash.delegation_saved"));
                return Ok(see_other("/admin/delegations"));
            }
            Err(e) => errors.absorb(e)?,
        }
    }
    let people = state.db.read(user_options).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &DelegationEditPage {
            ctx,
            id,
            form,
            errors,
            people,
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
