//! What every API POST shares: a JSON body (415 for any other type, 400
//! for JSON that does not parse or does not fit), an `Idempotency-Key`
//! and the one way a keyed request is answered once — the action and the
//! answer kept in one transaction, a retry given the kept answer.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use std::sync::{Arc, OnceLock};

use super::bearer::{Bearer, Presented};
use super::problem::Problem;
use crate::db::DbConn;
use crate::i18n::Lang;
use crate::store::api_tokens::Scope;
use crate::store::idempotency::{self, Kept};
use crate::store::{StoreError, StoreResult};
use crate::web::AppState;

/// The most characters of an `Idempotency-Key`.
const IDEMPOTENCY_KEY_MAX: usize = 200;

/// The body as `T`, if it was sent as JSON and parses.
pub fn json<T: DeserializeOwned>(req: &HttpRequest, body: &[u8], lang: Lang) -> Result<T, Problem> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            lang,
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "bad_json", lang).with_detail(e.to_string())
    })
}

/// The `Idempotency-Key` header, if sent: visible ASCII, not too long.
pub fn idempotency_key(req: &HttpRequest, lang: Lang) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= IDEMPOTENCY_KEY_MAX
                && key.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key",
            lang,
        )),
    }
}

/// What identifies a request for its key: method, path and body.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut seen = Vec::with_capacity(body.len() + 64);
    seen.extend_from_slice(req.method().as_str().as_bytes());
    seen.push(b' ');
    seen.extend_from_slice(req.path().as_bytes());
    seen.push(b'\n');
    seen.extend_from_slice(body);
    crate::token::hash_bytes(&seen)
}

/// Why a keyed request was not answered: a problem already worded, or
/// the action's own error for its caller to word.
pub enum Failed {
    Problem(Problem),
    /// The action's error, and whom the token was admitted as (if it was).
    Store(StoreError, Option<crate::db::ids::UserId>),
}

/// A successful answer: its status and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Answer {
        Answer {
            status,
            body: serde_json::to_string(value).unwrap_or_default(),
        }
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body.clone())
    }
}

/// Runs `act` in one write transaction as the presented token's person:
/// the token is checked (and its scope against `needed`) in that same
/// transaction, first. With an `Idempotency-Key`, an answer already kept
/// for it is given instead (and nothing is done), the same key with a
/// different request is a 422, and a fresh answer is kept in `act`'s
/// transaction — so a retry racing the first request finds the first's
/// answer once it commits. `act`'s own error (a refusal) is handed back
/// for the caller to word, with the person it was refused to.
pub async fn once<A>(
    state: &AppState,
    presented: &Presented,
    needed: Scope,
    req: &HttpRequest,
    body: &[u8],
    act: A,
) -> Result<HttpResponse, Failed>
where
    A: FnOnce(&mut DbConn, &Bearer) -> StoreResult<Answer> + Send + 'static,
{
    let lang = presented.lang;
    let key = idempotency_key(req, lang).map_err(Failed::Problem)?;
    let now = presented.now;
    let print = fingerprint(req, body);
    let replay = |kept: Kept, print: &str| -> Result<HttpResponse, Problem> {
        if kept.request_hash != print {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                lang,
            ));
        }
        let answer = Answer {
            status: StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK),
            body: kept.body,
        };
        let mut res = answer.response();
        res.headers_mut().insert(
            header::HeaderName::from_static("idempotent-replayed"),
            header::HeaderValue::from_static("true"),
        );
        Ok(res)
    };
    // Whom the token was admitted as, known after the transaction even
    // when the action was refused.
    let admitted: Arc<OnceLock<(Bearer, bool)>> = Arc::default();
    let (k, p, token, seen) = (
        key.clone(),
        print.clone(),
        presented.clone(),
        admitted.clone(),
    );
    let done = state
        .db
        .write(move |c| {
            let (bearer, due) = match token.admit(c)? {
                Ok(admitted) => admitted,
                Err(problem) => return Ok(Err(Err(problem))),
            };
            let _ = seen.set((bearer, due));
            if let Err(problem) = bearer.require(needed) {
                return Ok(Err(Err(problem)));
            }
            let me = bearer.user;
            if let Some(k) = &k
                && let Some(kept) = idempotency::find(c, me, k)?
            {
                return Ok(Err(Ok(kept)));
            }
            let answer = act(c, &bearer)?;
            let kept = Kept {
                request_hash: p,
                status: answer.status.as_u16(),
                body: answer.body,
            };
            if let Some(k) = &k {
                idempotency::keep(c, me, k, &kept, now)?;
            }
            Ok(Ok(kept))
        })
        .await;
    if let Some((bearer, due)) = admitted.get() {
        presented.record_use(state, bearer, *due).await;
    }
    match done {
        Ok(Ok(kept)) => Ok(Answer {
            status: StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK),
            body: kept.body,
        }
        .response()),
        Ok(Err(Ok(kept))) => replay(kept, &print).map_err(Failed::Problem),
        Ok(Err(Err(problem))) => Err(Failed::Problem(problem)),
        // Refused, or beaten to keeping the key: when another request
        // with this key committed first (and this one then found the
        // ticket moved on, or the key taken), its answer is this one's.
        Err(e) => {
            let me = admitted.get().map(|(b, _)| b.user);
            let (Some(key), Some(me)) = (key, me) else {
                return Err(Failed::Store(e, me));
            };
            let kept = state
                .db
                .read(move |c| idempotency::find(c, me, &key))
                .await
                .map_err(|e| Failed::Problem(Problem::from_store(e, lang)))?;
            match kept {
                Some(kept) => replay(kept, &print).map_err(Failed::Problem),
                None => Err(Failed::Store(e, Some(me))),
            }
        }
    }
}
