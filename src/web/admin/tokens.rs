//! Admin: everyone's API tokens — whose, what for, used when, until when —
//! and revoking any of them.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::ids::ApiTokenId;
use crate::store::api_tokens::{self, ApiToken};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::{AppError, AppState, render};

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    ctx: Ctx,
    /// Each token with its person's username and name, newest first.
    rows: Vec<(ApiToken, String, String)>,
    now: chrono::NaiveDateTime,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(api_tokens::all).await?;
    render(&TokensPage {
        ctx,
        rows,
        now: state.db.now(),
    })
}

pub async fn revoke(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let id = ApiTokenId(path.into_inner());
    let now = state.db.now();
    state
        .db
        .write(move |c| api_tokens::revoke(c, id, me, true, now))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.token_revoked"));
    Ok(see_other("/admin/tokens"))
}
