//! HTTP handlers grouped by area, plus the extractors and error policy they share.

pub mod access;
pub mod admin;
pub mod api_reference;
pub mod assets;
pub mod attachments;
pub mod auth;
pub mod calendar;
pub mod catalog;
pub mod change_view;
pub mod chart;
pub mod copies;
pub mod csrf;
pub mod ctx;
pub mod design;
pub mod email_link;
pub mod error;
pub mod feeds;
pub mod forms;
pub mod home;
pub mod ics;
pub mod insight;
pub mod lang;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod oidc;
pub mod people;
pub mod profile;
pub mod security;
pub mod ticket;
pub mod ticket_form;
pub mod tickets;
pub mod upload;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::config::Config;
use crate::db::Db;
pub use error::AppError;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The company directory, when `LDAP_URL` is set.
    pub directory: Option<crate::ldap::Directory>,
    /// The OpenID provider, when `OIDC_ISSUER` is set.
    pub oidc: Option<Arc<crate::oidc::Provider>>,
}

/// Renders a page with a status other than 200 (a form shown again with
/// its errors is 422, so tests and tools can tell it from success).
pub fn render_status(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

pub fn render(page: &impl Template) -> Result<HttpResponse, AppError> {
    render_status(StatusCode::OK, page)
}

/// Only absolute paths on this site are followed after sign-in or a
/// language switch, so a crafted link cannot send people elsewhere:
/// nothing starting `//` (another host), no backslash (which browsers
/// read as a slash) and no control character (a tab or newline, which
/// browsers drop, so `/\t/evil.example` becomes `//evil.example`; a
/// newline would also break the `Location` header). Anything else goes
/// home. Spaces and letters beyond ASCII are percent-encoded, as a
/// `Location` header carries visible ASCII only.
pub fn safe_local_path(next: &str) -> std::borrow::Cow<'_, str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c == '\\' || c.is_control());
    if !local {
        return "/".into();
    }
    if next.bytes().all(|b| b.is_ascii_graphic()) {
        return next.into();
    }
    let mut out = String::with_capacity(next.len() + 16);
    for b in next.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Matched in order, and each pattern with a `{}` is a regular
    // expression to try: the everyday work (inbox, ticket pages and their
    // actions, filing) comes first.
    cfg.route("/inbox", web::get().to(ticket::inbox))
        .route("/inbox", web::post().to(ticket::batch))
        .route("/", web::get().to(home::home))
        .route("/static/app.css", web::get().to(assets::css))
        .route("/static/app.js", web::get().to(assets::js))
        .route(
            "/tickets/{id}/assignments/{assignment}",
            web::post().to(ticket::act),
        )
        .route("/tickets/{id}", web::get().to(ticket::show))
        .route("/tickets/{id}", web::post().to(ticket::ticket_action))
        .route("/tickets/{id}/copy", web::post().to(ticket::copy))
        .route("/services/{id}", web::get().to(tickets::new_form))
        .route("/services/{id}", web::post().to(tickets::post))
        .route("/healthz", web::get().to(assets::health))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/sign-in", web::get().to(auth::sign_in_form))
        .route("/sign-in", web::post().to(auth::sign_in))
        .route("/sign-in/oidc", web::get().to(oidc::start))
        .route("/sign-in/oidc/callback", web::get().to(oidc::callback))
        .route("/sign-out", web::post().to(auth::sign_out))
        .route("/language", web::post().to(profile::switch_language))
        .route("/catalog", web::get().to(catalog::show))
        .route("/calendar", web::get().to(calendar::show))
        .route("/insight", web::get().to(insight::show))
        .route("/insight/{table}.csv", web::get().to(insight::csv))
        .route("/calendar/feeds", web::get().to(feeds::show))
        .route("/calendar/feeds/mine", web::post().to(feeds::mine))
        .route(
            "/calendar/feeds/business/{id}",
            web::post().to(feeds::business),
        )
        .route("/calendar/feeds/{token}.ics", web::get().to(feeds::feed))
        .route("/handled", web::get().to(ticket::handled))
        .route("/copied", web::get().to(copies::list))
        .route("/attachments/{id}", web::get().to(attachments::download))
        .route("/people", web::get().to(people::suggest))
        .route("/access", web::get().to(access::mine))
        .route("/tickets", web::get().to(ticket::mine))
        .route("/help/api", web::get().to(api_reference::show))
        .route("/profile", web::get().to(profile::show))
        .route("/profile", web::post().to(profile::update))
        .route(
            "/profile/password",
            web::post().to(profile::change_password),
        )
        .route(
            "/profile/sessions/end",
            web::post().to(profile::end_other_sessions),
        )
        .route("/email/{token}", web::get().to(email_link::confirm))
        .route("/email/{token}", web::head().to(email_link::confirm))
        .route("/email/{token}", web::post().to(email_link::decide))
        .route("/tickets/{id}/resubmit", web::post().to(ticket::resubmit))
        .route("/admin/grants", web::get().to(access::all))
        .route("/admin/grants/{id}/revoke", web::post().to(access::revoke))
        .route("/profile/tokens", web::post().to(profile::create_token))
        .route(
            "/profile/tokens/{id}/revoke",
            web::post().to(profile::revoke_token),
        )
        .route(
            "/profile/delegations",
            web::post().to(profile::add_delegation),
        )
        .route(
            "/profile/delegations/{id}/delete",
            web::post().to(profile::delete_delegation),
        )
        .configure(admin::routes)
        .configure(design::routes);
}

#[cfg(test)]
mod tests {
    use super::safe_local_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for (next, followed) in [
            ("/inbox", "/inbox"),
            ("/catalog?q=a b", "/catalog?q=a%20b"),
            ("/catalog?q=变更", "/catalog?q=%E5%8F%98%E6%9B%B4"),
            ("//evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/\\evil.example", "/"),
            ("/\r\nSet-Cookie: x=1", "/"),
            ("/\u{0b}/evil.example", "/"),
            ("/\u{0c}/evil.example", "/"),
            ("https://evil.example", "/"),
            ("evil.example", "/"),
            ("", "/"),
        ] {
            assert_eq!(safe_local_path(next), followed, "{next:?}");
        }
    }
}
