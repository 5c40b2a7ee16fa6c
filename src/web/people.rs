//! The person picker's lookup: who matches what was typed so far, for the
//! small script that suggests people in person fields (each field also
//! takes a plain username without it).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::{AppError, AppState};
use crate::store::users;

/// At most how many people one lookup suggests.
const SUGGESTED: i64 = 8;

#[derive(Deserialize)]
pub struct Query {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct Suggestion {
    username: String,
    name: String,
    /// "He Jun (owner.manager)": what the list shows.
    label: String,
}

/// `GET /people?q=he`: active people whose username starts with, or whose
/// name contains, `q` — usernames and names only, as the pages show them.
pub async fn suggest(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    ctx.require_user()?;
    let q: String = query.q.chars().take(64).collect();
    let people = state
        .db
        .read(move |c| users::suggest(c, &q, SUGGESTED))
        .await?;
    let body: Vec<Suggestion> = people
        .into_iter()
        .map(|p| Suggestion {
            label: format!("{} ({})", p.display_name, p.username),
            username: p.username,
            name: p.display_name,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(body))
}
