//! The bearer token every API request carries, checked against the
//! token's hash, its expiry, its revocation and its person's being active
//! — a deactivated person's tokens stop at once. `Bearer` checks it as the
//! request comes in (a read of its own); `Presented` carries it to the
//! handler's own unit of work, whose first statement checks it
//! (`Presented::admit`): the hot paths — a ticket read, an action — pay
//! one unit of work, not two, and an action is taken by a token checked
//! in the action's transaction.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::{Problem, lang_of};
use crate::db::DbConn;
use crate::db::ids::{ApiTokenId, UserId};
use crate::i18n::Lang;
use crate::store::StoreResult;
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

/// A token as presented, not yet checked: its secret, and the request's
/// language and time.
#[derive(Debug, Clone)]
pub struct Presented {
    secret: Option<String>,
    pub lang: Lang,
    pub now: chrono::NaiveDateTime,
}

impl Presented {
    /// The bearer, checked in the caller's unit of work: the token as it
    /// is now (a refusal is the 401 naming why), and whether its last use
    /// is due to be recorded (`record_use`, after).
    pub fn admit(&self, c: &mut DbConn) -> StoreResult<Result<(Bearer, bool), Problem>> {
        let unauthorized = |code| Problem::new(StatusCode::UNAUTHORIZED, code, self.lang);
        let Some(secret) = &self.secret else {
            return Ok(Err(unauthorized("token_missing")));
        };
        let (verdict, record) = api_tokens::check(c, secret, self.now)?;
        Ok(match verdict {
            Ok(b) => Ok((
                Bearer {
                    token: b.token,
                    user: b.user,
                    scope: b.scope,
                    lang: self.lang,
                },
                record,
            )),
            Err(why) => Err(unauthorized(unusable_code(why))),
        })
    }

    /// Records the token's use when `admit` said it was due.
    pub async fn record_use(&self, state: &AppState, bearer: &Bearer, due: bool) {
        if due {
            let (id, now) = (bearer.token, self.now);
            if let Err(e) = state
                .db
                .write(move |c| api_tokens::record_use(c, id, now))
                .await
            {
                tracing::warn!(error = %e, "recording a token's use failed");
            }
        }
    }
}

fn unusable_code(why: Unusable) -> &'static str {
    match why {
        Unusable::Unknown => "token_unknown",
        Unusable::Expired => "token_expired",
        Unusable::Revoked => "token_revoked",
        Unusable::OwnerInactive => "token_owner_inactive",
    }
}

impl FromRequest for Presented {
    type Error = Problem;
    type Future = std::future::Ready<Result<Presented, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let now = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.db.now())
            .unwrap_or_else(|| chrono::Utc::now().naive_utc());
        std::future::ready(Ok(Presented {
            secret: secret_of(req),
            lang: lang_of(req),
            now,
        }))
    }
}

impl FromRequest for Bearer {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Bearer, Problem>>>>;

    /// The presented token, checked in a read of its own.
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let presented = Presented::from_request(req, payload).into_inner();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let presented = presented?;
            let lang = presented.lang;
            let Some(state) = state else {
                return Err(Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR, lang));
            };
            let token = presented.clone();
            let (bearer, due) = state
                .db
                .read(move |c| token.admit(c))
                .await
                .map_err(|e| Problem::from_store(e, lang))??;
            presented.record_use(&state, &bearer, due).await;
            Ok(bearer)
        })
    }
}
