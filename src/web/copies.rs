//! "Copied to me": the tickets copied to the signed-in person (抄送),
//! newest first, the unread marked.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::Ctx;
use super::{AppError, AppState, render};
use crate::store::tickets::copies::{self, CopyRow};

/// How many copies the list shows.
const SHOWN: i64 = 200;

#[derive(Template)]
#[template(path = "tickets/copied.html")]
struct CopiedPage {
    ctx: Ctx,
    rows: Vec<CopyRow>,
    unread: i64,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let (rows, unread) = state
        .db
        .read(move |c| copies::copied_to(c, me, SHOWN))
        .await?;
    render(&CopiedPage { ctx, rows, unread })
}
