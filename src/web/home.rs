//! The home page: who you are here — your roles, and who stands in for whom.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::Ctx;
use super::{AppError, AppState, render};
use crate::store::assignments::{self, AssignmentRow, Filter};
use crate::store::delegations::{self, DelegationRow};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: Ctx,
    roles: Vec<AssignmentRow>,
    delegations: Vec<DelegationRow>,
    now: chrono::NaiveDateTime,
}

pub async fn home(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let (roles, delegations) = state
        .db
        .read(move |c| {
            let roles = assignments::list(
                c,
                &Filter {
                    user: Some(me),
                    ..Filter::default()
                },
            )?;
            let now = crate::store::now();
            let current = delegations::list(c, Some(me))?
                .into_iter()
                .filter(|d| d.delegation.ends_at > now)
                .collect();
            Ok((roles, current))
        })
        .await?;
    render(&HomePage {
        ctx,
        roles,
        delegations,
        now: crate::store::now(),
    })
}
