//! The home page: what waits for you and what you filed that is still
//! going, then who you are here — your roles, and who stands in for whom.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::{Ctx, SignedIn};
use super::{AppError, AppState, render};
use crate::db::models::Apply;
use crate::store::assignments::AssignmentRow;
use crate::store::delegations::DelegationRow;
use crate::store::ticket_views::{self, InboxRow};

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

pub async fn home(
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    // Who is signed in and what waits for them are read together, then
    // their open tickets, roles and delegations together (on PostgreSQL
    // two statements in all), in one unit of work.
    let (ctx, (waiting, lists)) = signed_in
        .read_with(move |c, key| {
            let Some((user, waiting)) = ticket_views::session_and_inbox(c, key, None, HOME_LIST)?
            else {
                return Ok(None);
            };
            let lists = crate::store::home::lists(c, user.id, HOME_LIST)?;
            Ok(Some((user, (waiting, lists))))
        })
        .await?;
    render(&HomePage {
        ctx,
        more_waiting: waiting.older.is_some(),
        waiting: waiting.rows,
        open: lists.open,
        roles: lists.roles,
        delegations: lists.delegations,
        now: state.db.now(),
    })
}
