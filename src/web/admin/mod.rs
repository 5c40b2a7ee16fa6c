//! Administration: people, businesses, roles, role assignments, delegations,
//! services, the catalog tree and the resource registry.
//! Every handler here starts with `ctx.require_admin()`; others get a 403.

pub mod assignments;
pub mod audit;
pub mod businesses;
pub mod calendars;
pub mod catalog;
pub mod delegations;
pub mod directory;
pub mod freezes;
pub mod outbox;
pub mod resources;
pub mod roles;
pub mod services;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod webhooks;

use actix_web::{HttpResponse, web};

use super::AppError;
use super::ctx::{Ctx, see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(index))
        .route("/admin/users", web::get().to(users::list))
        .route("/admin/users", web::post().to(users::create))
        .route("/admin/users/new", web::get().to(users::new_form))
        .route("/admin/users/{id}", web::get().to(users::edit_form))
        .route("/admin/users/{id}", web::post().to(users::update))
        .route(
            "/admin/users/{id}/password",
            web::post().to(users::reset_password),
        )
        .route(
            "/admin/users/{id}/deactivate",
            web::post().to(users::deactivate),
        )
        .route(
            "/admin/users/{id}/activate",
            web::post().to(users::activate),
        )
        .route("/admin/calendars", web::get().to(calendars::list))
        .route("/admin/calendars", web::post().to(calendars::save))
        .route("/admin/calendars/new", web::get().to(calendars::new_form))
        .route(
            "/admin/calendars/{code}",
            web::get().to(calendars::edit_form),
        )
        .route("/admin/calendars/{code}", web::post().to(calendars::save))
        .route("/admin/freezes", web::get().to(freezes::list))
        .route("/admin/freezes", web::post().to(freezes::create))
        .route("/admin/freezes/new", web::get().to(freezes::new_form))
        .route("/admin/freezes/{id}", web::get().to(freezes::edit_form))
        .route("/admin/freezes/{id}", web::post().to(freezes::update))
        .route(
            "/admin/freezes/{id}/delete",
            web::post().to(freezes::delete),
        )
        .route("/admin/overdue", web::get().to(tickets::overdue))
        .route("/admin/businesses", web::get().to(businesses::list))
        .route("/admin/businesses", web::post().to(businesses::create))
        .route(
            "/admin/businesses/{id}",
            web::get().to(businesses::edit_form),
        )
        .route("/admin/businesses/{id}", web::post().to(businesses::update))
        .route(
            "/admin/businesses/{id}/delete",
            web::post().to(businesses::delete),
        )
        .route("/admin/roles", web::get().to(roles::list))
        .route("/admin/roles", web::post().to(roles::create))
        .route("/admin/roles/{id}", web::get().to(roles::edit_form))
        .route("/admin/roles/{id}", web::post().to(roles::update))
        .route("/admin/roles/{id}/delete", web::post().to(roles::delete))
        .route("/admin/directory", web::get().to(directory::show))
        .route(
            "/admin/directory/policy",
            web::post().to(directory::set_policy),
        )
        .route(
            "/admin/directory/groups",
            web::post().to(directory::add_group),
        )
        .route(
            "/admin/directory/groups/{id}/delete",
            web::post().to(directory::remove_group),
        )
        .route("/admin/directory/sync", web::post().to(directory::sync_now))
        .route(
            "/admin/directory/syncs/{id}",
            web::get().to(directory::sync_report),
        )
        .route("/admin/assignments", web::get().to(assignments::list))
        .route("/admin/assignments", web::post().to(assignments::create))
        .route(
            "/admin/assignments/{id}/delete",
            web::post().to(assignments::delete),
        )
        .route("/admin/tokens", web::get().to(tokens::list))
        .route("/admin/tokens", web::post().to(tokens::create))
        .route("/admin/tokens/{id}/revoke", web::post().to(tokens::revoke))
        .route("/admin/webhooks", web::get().to(webhooks::list))
        .route("/admin/webhooks", web::post().to(webhooks::create))
        .route("/admin/webhooks/{id}", web::get().to(webhooks::show))
        .route("/admin/webhooks/{id}/test", web::post().to(webhooks::test))
        .route(
            "/admin/webhooks/{id}/active/{to}",
            web::post().to(webhooks::switch),
        )
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery}/again",
            web::post().to(webhooks::send_again),
        )
        .route("/admin/delegations", web::get().to(delegations::list))
        .route("/admin/delegations", web::post().to(delegations::create))
        .route(
            "/admin/delegations/{id}",
            web::get().to(delegations::edit_form),
        )
        .route(
            "/admin/delegations/{id}",
            web::post().to(delegations::update),
        )
        .route(
            "/admin/delegations/{id}/delete",
            web::post().to(delegations::delete),
        )
        .route("/admin/services", web::get().to(services::list))
        .route("/admin/services", web::post().to(services::create))
        .route("/admin/services/new", web::get().to(services::new_form))
        .route("/admin/services/{id}", web::get().to(services::edit_form))
        .route("/admin/services/{id}", web::post().to(services::update))
        .route(
            "/admin/services/{id}/folders",
            web::post().to(services::add_to_folder),
        )
        .route(
            "/admin/services/{id}/retire",
            web::post().to(services::retire),
        )
        .route(
            "/admin/services/{id}/reinstate",
            web::post().to(services::reinstate),
        )
        .route("/admin/catalog", web::get().to(catalog::show))
        .route("/admin/catalog", web::post().to(catalog::add_folder))
        .route(
            "/admin/catalog/{id}",
            web::post().to(catalog::folder_action),
        )
        .route(
            "/admin/catalog/{id}/services/{service}/detach",
            web::post().to(catalog::detach),
        )
        .route("/admin/resources", web::get().to(resources::list))
        .route("/admin/resources", web::post().to(resources::create))
        .route("/admin/resources/{id}", web::get().to(resources::edit_form))
        .route("/admin/resources/{id}", web::post().to(resources::update))
        .route(
            "/admin/resources/{id}/delete",
            web::post().to(resources::delete),
        )
        .route("/admin/tickets", web::get().to(tickets::list))
        .route("/admin/tickets.csv", web::get().to(tickets::csv))
        .route("/admin/audit", web::get().to(audit::page))
        .route("/admin/audit/verify", web::post().to(audit::verify))
        .route("/admin/audit/export.{format}", web::get().to(audit::export))
        .route("/admin/outbox", web::get().to(outbox::list))
        .route(
            "/admin/outbox/retry-failed",
            web::post().to(outbox::retry_failed),
        )
        .route("/admin/outbox/{id}/retry", web::post().to(outbox::retry));
}

async fn index(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    Ok(see_other("/admin/users"))
}
