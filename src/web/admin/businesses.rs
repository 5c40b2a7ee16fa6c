//! Admin: businesses — the scopes roles are held in.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::ids::BusinessId;
use crate::db::models::Business;
use crate::domain::{Name, parse_note};
use crate::store::businesses;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Deserialize)]
pub struct BusinessForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

impl BusinessForm {
    fn parse(&self, errors: &mut FieldErrors) -> Option<(Name, String)> {
        let name = errors.check("name", Name::parse(&self.name));
        let description = errors.check("description", parse_note(&self.description));
        Some((name?, description?))
    }
}

#[derive(Template)]
#[template(path = "admin/businesses.html")]
struct BusinessesPage {
    ctx: Ctx,
    businesses: Vec<Business>,
    form: BusinessForm,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin/business_edit.html")]
struct BusinessEditPage {
    ctx: Ctx,
    id: BusinessId,
    form: BusinessForm,
    errors: FieldErrors,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let businesses = state.db.read(businesses::list).await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&BusinessesPage {
        ctx,
        businesses,
        form: BusinessForm::default(),
        errors,
    })
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<BusinessForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some((name, description)) = form.parse(&mut errors) {
        let shown = name.to_string();
        let written = state
            .db
            .write(move |c| businesses::create(c, &name, &description, actor))
            .await;
        if errors.saved(written)?.is_some() {
            ctx.flash(
                FlashKind::Success,
                ctx.tf("flash.business_created", &[("name", &shown)]),
            );
            return Ok(see_other("/admin/businesses"));
        }
    }
    let businesses = state.db.read(businesses::list).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &BusinessesPage {
            ctx,
            businesses,
            form,
            errors,
        },
    )
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = BusinessId(path.into_inner());
    let b = state.db.read(move |c| businesses::find(c, id)).await?;
    let errors = FieldErrors::new(ctx.lang);
    let form = BusinessForm {
        name: b.name,
        description: b.description,
    };
    render(&BusinessEditPage {
        ctx,
        id,
        form,
        errors,
    })
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<BusinessForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = BusinessId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some((name, description)) = form.parse(&mut errors) {
        let written = state
            .db
            .write(move |c| businesses::update(c, id, &name, &description, actor))
            .await;
        if errors.saved(written)?.is_some() {
            return Ok(ctx.saved("flash.saved", "/admin/businesses"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &BusinessEditPage {
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
    let id = BusinessId(path.into_inner());
    let outcome = state
        .db
        .write(move |c| businesses::delete(c, id, actor))
        .await;
    ctx.flash_outcome(outcome, "flash.deleted")?;
    Ok(see_other("/admin/businesses"))
}
