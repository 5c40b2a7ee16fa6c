//! Admin: mail not yet sent — pending (with its attempts and last error)
//! and failed — with a button to try again now.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::ids::OutboxId;
use crate::db::models::OutboxMessage;
use crate::store::outbox;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, see_other};
use crate::web::{AppError, AppState, render};

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    ctx: Ctx,
    rows: Vec<OutboxMessage>,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(|c| outbox::unsent(c, 500)).await?;
    render(&OutboxPage { ctx, rows })
}

pub async fn retry(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = OutboxId(path.into_inner());
    let outcome = state.db.write(move |c| outbox::retry(c, id)).await;
    ctx.flash_outcome(outcome, "flash.mail_retry")?;
    Ok(see_other("/admin/outbox"))
}
