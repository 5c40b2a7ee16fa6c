//! Admin: roles — the built-in ones of both stories and any the admin adds.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::ids::RoleId;
use crate::db::models::Role;
use crate::domain::{Name, RoleCode, parse_note};
use crate::store::roles::{self, RoleInput};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    description: String,
}

impl RoleForm {
    fn input(&self, errors: &mut FieldErrors) -> Option<RoleInput> {
        let name_en = errors.check("name_en", Name::parse(&self.name_en));
        let name_zh = errors.check("name_zh", Name::parse(&self.name_zh));
        let description = errors.check("description", parse_note(&self.description));
        Some(RoleInput {
            name_en: name_en?,
            name_zh: name_zh?,
            description: description?,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct RolesPage {
    ctx: Ctx,
    roles: Vec<Role>,
    form: RoleForm,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin/role_edit.html")]
struct RoleEditPage {
    ctx: Ctx,
    role: Role,
    form: RoleForm,
    errors: FieldErrors,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let roles = state.db.read(roles::list).await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&RolesPage {
        ctx,
        roles,
        form: RoleForm::default(),
        errors,
    })
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let code = errors.check("code", RoleCode::parse(&form.code));
    if let (Some(code), Some(input)) = (code, form.input(&mut errors)) {
        let shown = code.to_string();
        let written = state
            .db
            .write(move |c| roles::create(c, &code, &input, actor))
            .await;
        if errors.saved(written)?.is_some() {
            ctx.flash(
                FlashKind::Success,
                ctx.tf("flash.role_created", &[("name", &shown)]),
            );
            return Ok(see_other("/admin/roles"));
        }
    }
    let roles = state.db.read(roles::list).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RolesPage {
            ctx,
            roles,
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
    let id = RoleId(path.into_inner());
    let role = state.db.read(move |c| roles::find(c, id)).await?;
    let form = RoleForm {
        code: role.code.clone(),
        name_en: role.name_en.clone(),
        name_zh: role.name_zh.clone(),
        description: role.description.clone(),
    };
    let errors = FieldErrors::new(ctx.lang);
    render(&RoleEditPage {
        ctx,
        role,
        form,
        errors,
    })
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = RoleId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(input) = form.input(&mut errors) {
        let written = state
            .db
            .write(move |c| roles::update(c, id, &input, actor))
            .await;
        if errors.saved(written)?.is_some() {
            return Ok(ctx.saved("flash.saved", "/admin/roles"));
        }
    }
    let role = state.db.read(move |c| roles::find(c, id)).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RoleEditPage {
            ctx,
            role,
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
    let id = RoleId(path.into_inner());
    let outcome = state.db.write(move |c| roles::delete(c, id, actor)).await;
    ctx.flash_outcome(outcome, "flash.deleted")?;
    Ok(see_other("/admin/roles"))
}
