//! The reader's language for a request before anyone is looked up: error
//! pages, and the request context until it knows the signed-in person.

use actix_session::SessionExt;
use actix_web::http::header;

use crate::i18n::Lang;

/// The language for a request without a database lookup: the one kept in
/// the session at sign-in or switch, else the browser's.
pub fn request_lang(req: &actix_web::HttpRequest) -> Lang {
    let from_session = req
        .get_session()
        .get::<String>(super::ctx::SESSION_LANG)
        .ok()
        .flatten()
        .and_then(|l| Lang::parse(&l));
    from_session
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}
