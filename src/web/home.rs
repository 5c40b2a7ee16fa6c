//! The home page: what waits for you and what you filed that is still
//! going, then who you are here — your roles, and who stands in for whom.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::Ctx;
use super::{AppError, AppState, render};
use crate::db::models::Apply;
use crate::store::assignments::{self, AssignmentRow, Filter};
use crate::store::delegations::{self, DelegationRow};
use crate::store::ticket_views::{self, InboxFilter, InboxRow};

/// How many items each list of the home page shows; the inbox and "my
/// tickets" have the rest.
const HOME_LIST: i64 = 5;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: Ctx,
    waiting: Vec<InboxRow>,
    /// Whether more waits than `waiting` shows.
    more_waiting: bool,
    open: Vec<Apply>,
    roles: Vec<AssignmentRow>,
    delegations: Vec<DelegationRow>,
    now: chrono::NaiveDateTime,
}

pub async fn home(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let user = ctx.require_user()?;
    let (me, stands_in) = (user.id, user.stands_in);
    let (waiting, open, roles, delegations) = state
        .db
        .read(move |c| {
            let waiting =
                ticket_views::inbox(c, me, stands_in, &InboxFilter::default(), None, HOME_LIST)?;
            let open = ticket_views::open_mine(c, me, HOME_LIST)?;
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
            Ok((waiting, open, roles, current))
        })
        .await?;
    render(&HomePage {
        ctx,
        more_waiting: waiting.older.is_some(),
        waiting: waiting.rows,
        open,
        roles,
        delegations,
        now: state.db.now(),
    })
}
