//! The bearer token every API request carries: checked at the one place
//! an API request enters (this extractor), against the token's hash, its
//! expiry, its revocation and its person's being active — a deactivated
//! person's tokens stop at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::{Problem, lang_of};
use crate::db::ids::{ApiTokenId, UserId};
use crate::i18n::Lang;
use crate::store::api_tokens::{self, Scope, Unusable};
use crate::web::AppState;

/// Whom an API request acts as, through which token, with what scope, and
/// the reader's language.
#[derive(Debug, Clone, Copy)]
pub struct Bearer {
    pub token: ApiTokenId,
    pub user: UserId,
    pub scope: Scope,
    pub lang: Lang,
}

impl Bearer {
    /// The request may go on only if its token's scope allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), Problem> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "token_scope",
                self.lang,
            ))
        }
    }
}

/// The secret of an `Authorization: Bearer …` header.
fn secret_of(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl FromRequest for Bearer {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Bearer, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = lang_of(req);
        let secret = secret_of(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let unauthorized = |code| Problem::new(StatusCode::UNAUTHORIZED, code, lang);
            let Some(secret) = secret else {
                return Err(unauthorized("token_missing"));
            };
            let Some(state) = state else {
                return Err(Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR, lang));
            };
            let now = state.db.now();
            let (verdict, record) = state
                .db
                .read(move |c| api_tokens::check(c, &secret, now))
                .await
                .map_err(|e| Problem::from_store(e, lang))?;
            let bearer = verdict.map_err(|why| {
                unauthorized(match why {
                    Unusable::Unknown => "token_unknown",
                    Unusable::Expired => "token_expired",
                    Unusable::Revoked => "token_revoked",
                    Unusable::OwnerInactive => "token_owner_inactive",
                })
            })?;
            if record {
                let id = bearer.token;
                state
                    .db
                    .write(move |c| api_tokens::record_use(c, id, now))
                    .await
                    .map_err(|e| Problem::from_store(e, lang))?;
            }
            Ok(Bearer {
                token: bearer.token,
                user: bearer.user,
                scope: bearer.scope,
                lang,
            })
        })
    }
}
