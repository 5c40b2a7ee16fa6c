//! The JSON API under `/api/v1`: bearer tokens only (no session cookies,
//! so no CSRF), each request acting as its token's person with exactly
//! their rights; every error an `application/problem+json` document
//! (RFC 9457) in the reader's language.

pub mod actions;
pub mod bearer;
pub mod body;
pub mod filing;
pub mod gate;
pub mod lists;
pub mod problem;
pub mod services;
pub mod tickets;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use self::bearer::Bearer;
use self::problem::Problem;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/me", web::get().to(me))
            .route("/me/inbox", web::get().to(lists::inbox))
            .route("/me/tickets", web::get().to(lists::mine))
            .route("/tickets", web::get().to(lists::all))
            .route("/services", web::get().to(services::list))
            .route("/changes/{serial}/gate", web::get().to(gate::check))
            .route("/services/{id}/tickets", web::post().to(filing::file))
            .route("/tickets/{id}", web::get().to(tickets::show))
            .route("/tickets/{id}/actions", web::post().to(actions::act))
            .default_service(web::to(problem::not_found)),
    );
}

/// A person as the API names them.
#[derive(Debug, Serialize)]
pub struct PersonOut {
    pub username: String,
    pub display_name: String,
}

impl From<crate::store::users::Person> for PersonOut {
    fn from(p: crate::store::users::Person) -> PersonOut {
        PersonOut {
            username: p.username,
            display_name: p.display_name,
        }
    }
}

/// Who the token acts as, and what it may do.
#[derive(Serialize)]
struct Me {
    id: i32,
    username: String,
    display_name: String,
    email: String,
    token: TokenAbout,
}

#[derive(Serialize)]
struct TokenAbout {
    id: i32,
    name: String,
    scope: &'static str,
    expires_at: chrono::NaiveDateTime,
}

/// `GET /api/v1/me`: the token's person and the token itself.
async fn me(bearer: Bearer, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let (user, token) = state
        .db
        .read(move |c| {
            Ok((
                crate::store::users::find(c, bearer.user)?,
                crate::store::api_tokens::find(c, bearer.token)?,
            ))
        })
        .await
        .map_err(|e| Problem::from_store(e, bearer.lang))?;
    Ok(HttpResponse::Ok().json(Me {
        id: user.id.0,
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        token: TokenAbout {
            id: token.id.0,
            name: token.name,
            scope: bearer.scope.as_str(),
            expires_at: token.expires_at,
        },
    }))
}
