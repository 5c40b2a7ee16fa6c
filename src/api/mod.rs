//! The JSON API under `/api/v1`: bearer tokens only (no session cookies,
//! so no CSRF), each request acting as its token's person with exactly
//! their rights; every error an `application/problem+json` document
//! (RFC 9457) in the reader's language.

pub mod actions;
pub mod attachments;
pub mod bearer;
pub mod body;
pub mod filing;
pub mod gate;
pub mod lists;
pub mod openapi;
pub mod problem;
pub mod services;
pub mod tickets;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use self::bearer::Bearer;
use self::problem::Problem;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(only("/openapi.json", Method::GET, openapi::serve))
            .service(only("/me", Method::GET, me))
            .service(only("/me/inbox", Method::GET, lists::inbox))
            .service(only("/me/tickets", Method::GET, lists::mine))
            .service(only("/tickets", Method::GET, lists::all))
            .service(only("/services", Method::GET, services::list))
            .service(only("/changes/{serial}/gate", Method::GET, gate::check))
            .service(only("/services/{id}/tickets", Method::POST, filing::file))
            .service(only(
                "/services/{id}/preview",
                Method::POST,
                filing::preview,
            ))
            .service(only("/tickets/{id}", Method::GET, tickets::show))
            .service(only("/tickets/{id}/actions", Method::POST, actions::act))
            .service(only("/attachments", Method::POST, attachments::upload))
            .service(only(
                "/attachments/{id}",
                Method::GET,
                attachments::download,
            ))
            .default_service(web::to(problem::not_found)),
    );
}

/// `path` answering `method` with `handler`; any other method is a 405
/// problem naming the one it takes.
fn only<F, Args>(path: &str, method: Method, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let allowed = if method == Method::POST {
        "POST"
    } else {
        "GET"
    };
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move |req: actix_web::HttpRequest| {
            problem::method_not_allowed(req, allowed)
        }))
}

/// A person as the API names them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Serialize, utoipa::ToSchema)]
struct Me {
    id: i32,
    username: String,
    display_name: String,
    email: String,
    token: TokenAbout,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenAbout {
    id: i32,
    name: String,
    scope: &'static str,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "me",
    tag = "people",
    summary = "Who the token acts as",
    description = "The token's person and the token itself.",
    responses(
        (status = 200, description = "The person and the token", body = Me),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
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
            expires_at: token.expires_at.and_utc(),
        },
    }))
}
