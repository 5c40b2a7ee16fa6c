//! The home page: what waits for you and what you filed that is still
//! going, then who you are here — your roles, and who stands in for whom.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::{Ctx, SignedIn};
use super::{AppError, AppState, render};
use crate::db::models::Apply;
use crate::store::assignments::{self, AssignmentRow, Filter};
use crate::store::delegations::{self, DelegationRow};
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
    // Who is signed in and what waits for them are read together (on
    // PostgreSQL one statement), then their open tickets, roles and
    // delegations, all in one unit of work.
    let (ctx, (waiting, open, roles, delegations)) = signed_in
        .read_with(move |c, key| {
            let Some((user, waiting)) = ticket_views::session_and_inbox(c, key, None, HOME_LIST)?
            else {
                return Ok(None);
            };
            let me = user.id;
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
            Ok(Some((user, (waiting, open, roles, current))))
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
