//! "My access" — the grants access tickets gave me — and the admins' list
//! of live grants with revocation.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::ctx::{Ctx, see_other};
use super::{AppError, AppState, render};
use crate::db::ids::GrantId;
use crate::store::grants::{self, GrantRow};

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    ctx: Ctx,
    rows: Vec<GrantRow>,
    admin_view: bool,
}

pub async fn mine(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let rows = state
        .db
        .read(move |c| grants::list(c, Some(me), true))
        .await?;
    render(&AccessPage {
        ctx,
        rows,
        admin_view: false,
    })
}

pub async fn all(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(|c| grants::list(c, None, false)).await?;
    render(&AccessPage {
        ctx,
        rows,
        admin_view: true,
    })
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
}

pub async fn revoke(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = GrantId(path.into_inner());
    let outcome = state
        .db
        .write(move |c| grants::revoke(c, id, &form.reason, actor).map(|_| ()))
        .await;
    ctx.flash_outcome(outcome, "flash.grant_revoked")?;
    Ok(see_other("/admin/grants"))
}
