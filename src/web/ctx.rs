//! The request context every page needs: who is signed in, the language,
//! the CSRF token and the flash message. Extracted once per request.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::AppError;
use crate::db::ids::UserId;
use crate::i18n::Lang;
use crate::refusal::Refusal;
use crate::store::StoreError;
use crate::store::users::{self, SessionKey, SessionUser};

pub const SESSION_USER: &str = "uid";
/// The generation of the person's sessions this one was signed in at.
const SESSION_EPOCH: &str = "gen";
/// When the person signed in (seconds since 1970, on the app's clock).
const SESSION_SINCE: &str = "since";
/// When the session was last used, to the minute.
const SESSION_SEEN: &str = "seen";
pub const SESSION_LANG: &str = "lang";
/// Whether the person is an administrator, as last seen: only a hint for
/// the navigation of error pages, which read no database.
pub const SESSION_ADMIN: &str = "adm";
pub const SESSION_CSRF: &str = "csrf";
const SESSION_FLASH: &str = "flash";

/// How often a session in use records that it was: the cookie is written
/// again at most this often, not on every response.
const SEEN_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Success,
    Error,
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

impl Flash {
    pub fn css(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Error => "flash flash-error",
        }
    }
}

pub struct Ctx {
    pub lang: Lang,
    pub user: Option<SessionUser>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The request path, for marking the current navigation item.
    pub path: String,
    session: Session,
}

/// A random 128-bit token, hex encoded.
pub fn random_token() -> String {
    crate::token::random_hex::<16>()
}

/// What a request brings before the database is asked who is signed in.
struct Arrival {
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    /// Whom the session names, if it names anyone and has not expired.
    key: Option<SessionKey>,
    /// The session named someone but ran out (idle, or too old).
    expired: bool,
    /// Now, in seconds, when the session's last use should be recorded.
    seen_now: Option<i64>,
}

/// Whom a session names, if anyone, and whether it has expired: idle for
/// longer than the idle limit, or signed in longer ago than the lifetime.
/// The times are in the signed cookie and checked against the app's clock.
fn session_key(
    session: &Session,
    config: &crate::config::SessionConfig,
    now: i64,
) -> (Option<SessionKey>, bool, Option<i64>) {
    let get = |key: &str| session.get::<i64>(key).ok().flatten();
    let Some(user) = session.get::<i32>(SESSION_USER).ok().flatten() else {
        return (None, false, None);
    };
    let (Some(epoch), Some(since), Some(seen)) =
        (get(SESSION_EPOCH), get(SESSION_SINCE), get(SESSION_SEEN))
    else {
        // A session from before sessions carried these: it has ended.
        return (None, true, None);
    };
    if now - seen >= config.idle_secs || now - since >= config.lifetime_secs {
        return (None, true, None);
    }
    let key = SessionKey {
        user: UserId(user),
        epoch: i32::try_from(epoch).unwrap_or(-1),
    };
    (
        Some(key),
        false,
        (now - seen >= SEEN_EVERY_SECS).then_some(now),
    )
}

impl Arrival {
    fn of(req: &HttpRequest) -> Result<Arrival, AppError> {
        let session = req.get_session();
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("application state missing"))?;
        let now = state.db.now().and_utc().timestamp();
        let (key, expired, seen_now) = session_key(&session, &state.config.session, now);
        Ok(Arrival {
            req: req.clone(),
            session,
            state,
            key,
            expired,
            seen_now,
        })
    }

    /// Reads who is signed in and, for them, `f`, as one unit of work;
    /// then the context. No value when no one (active) is signed in.
    async fn read<T, F>(self, f: F) -> Result<(Ctx, Option<T>), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &SessionUser) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_with(move |c, key| match users::session_user(c, key)? {
            Some(user) => {
                let value = f(c, &user)?;
                Ok(Some((user, value)))
            }
            None => Ok(None),
        })
        .await
    }

    /// Like `read`, for a page that reads the person itself (beside what
    /// it shows): `f` gets whom the session names and gives the person
    /// with the value, or `None` when they are gone or deactivated or
    /// the session has ended.
    async fn read_with<T, F>(self, f: F) -> Result<(Ctx, Option<T>), AppError>
    where
        F: FnOnce(
                &mut crate::db::DbConn,
                SessionKey,
            ) -> Result<Option<(SessionUser, T)>, StoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let read = match self.key {
            Some(key) => self.state.db.read_short(move |c| f(c, key)).await?,
            None => None,
        };
        let (user, value) = read.map_or((None, None), |(user, value)| (Some(user), Some(value)));
        Ok((self.into_ctx(user)?, value))
    }

    /// The context, given who the session's person turned out to be.
    fn into_ctx(self, user: Option<SessionUser>) -> Result<Ctx, AppError> {
        let Arrival {
            req,
            session,
            key,
            expired,
            seen_now,
            ..
        } = self;
        if expired || (key.is_some() && user.is_none()) {
            // Ran out, ended elsewhere, or the person was deactivated or
            // deleted since signing in: the session is over.
            end_session(&session);
        } else if let Some(user) = &user {
            if let Some(now) = seen_now {
                put(&session, SESSION_SEEN, &now)?;
            }
            if session.get::<bool>(SESSION_ADMIN).ok().flatten() != Some(user.is_admin) {
                put(&session, SESSION_ADMIN, &user.is_admin)?;
            }
        }
        let lang = user
            .as_ref()
            .and_then(|u| u.language)
            .unwrap_or_else(|| super::lang::request_lang(&req));
        let csrf = match session.get::<String>(SESSION_CSRF).ok().flatten() {
            Some(token) => token,
            None => {
                let token = random_token();
                session
                    .insert(SESSION_CSRF, &token)
                    .map_err(|e| anyhow::anyhow!("session insert failed: {e}"))?;
                token
            }
        };
        // Removing marks the session changed (a new cookie on the
        // response), so only when there is a message to show.
        let has_flash = session.contains_key(SESSION_FLASH);
        let flash = has_flash
            .then(|| session.remove_as::<Flash>(SESSION_FLASH))
            .flatten()
            .and_then(Result::ok);
        if expired {
            // For the page the visitor is sent to: the sign-in page.
            put(
                &session,
                SESSION_FLASH,
                &Flash {
                    kind: FlashKind::Error,
                    text: lang.t("sign_in.session_expired").into_owned(),
                },
            )?;
        }
        Ok(Ctx {
            lang,
            user,
            csrf,
            flash,
            path: req.path().to_string(),
            session,
        })
    }
}

impl FromRequest for Ctx {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Ctx, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let arrival = Arrival::of(req);
        Box::pin(async move { Ok(arrival?.read(|_, _| Ok(())).await?.0) })
    }
}

/// A page for signed-in people that reads who they are and what it shows
/// in one unit of work: one turn at a connection and, on PostgreSQL, one
/// trip to a blocking thread instead of two. For the pages people open
/// most (the inbox, a ticket); others take `Ctx` and read afterwards.
pub struct SignedIn(Arrival);

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = std::future::Ready<Result<SignedIn, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Arrival::of(req).map(SignedIn))
    }
}

impl SignedIn {
    /// Whom the session names, if anyone (not yet checked against the
    /// database: for the uploads of a form read before its unit of work).
    pub fn user_id(&self) -> Option<crate::db::ids::UserId> {
        self.0.key.map(|k| k.user)
    }

    /// Reads the signed-in person and then `f` for them, as one unit; the
    /// sign-in page for a visitor who is not (or no longer) signed in.
    pub async fn read<T, F>(self, f: F) -> Result<(Ctx, T), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, &SessionUser) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        signed_in_or_not(self.0.read(f).await?)
    }

    /// Like `read`, for a page that reads the person itself beside what
    /// it shows (see `Arrival::read_with`).
    pub async fn read_with<T, F>(self, f: F) -> Result<(Ctx, T), AppError>
    where
        F: FnOnce(
                &mut crate::db::DbConn,
                SessionKey,
            ) -> Result<Option<(SessionUser, T)>, StoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        signed_in_or_not(self.0.read_with(f).await?)
    }
}

impl SignedIn {
    /// Acts as the session's person in one write unit, `f` checking the
    /// session at the door with the action (`tickets::perform_signed_in`:
    /// on PostgreSQL, with no round trip of its own), then gives the
    /// context with the action's value, or with its refusal — the
    /// context then read afresh, for the page that says why. The sign-in
    /// page when no one (active) is signed in.
    pub async fn act<T, F>(self, f: F) -> Result<(Ctx, Result<T, Refusal>), AppError>
    where
        F: FnOnce(&mut crate::db::DbConn, SessionKey) -> Result<(SessionUser, T), StoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let arrival = self.0;
        let Some(key) = arrival.key else {
            return Err(AppError::SignInRequired {
                next: arrival.into_ctx(None)?.path,
            });
        };
        match arrival.state.db.write(move |c| f(c, key)).await {
            Ok((user, value)) => Ok((arrival.into_ctx(Some(user))?, Ok(value))),
            Err(StoreError::Refused(refusal)) if *refusal == Refusal::SignedOut => {
                Err(AppError::SignInRequired {
                    next: arrival.into_ctx(None)?.path,
                })
            }
            Err(StoreError::Refused(refusal)) => {
                let (ctx, ()) = signed_in_or_not(arrival.read(|_, _| Ok(())).await?)?;
                Ok((ctx, Err(*refusal)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The page's value, or the sign-in page for a visitor who is not (or no
/// longer) signed in.
fn signed_in_or_not<T>(read: (Ctx, Option<T>)) -> Result<(Ctx, T), AppError> {
    match read {
        (ctx, Some(value)) => Ok((ctx, value)),
        (ctx, None) => Err(AppError::SignInRequired { next: ctx.path }),
    }
}

impl Ctx {
    pub fn t<'a>(&self, key: &'a str) -> Cow<'a, str> {
        self.lang.t(key)
    }

    pub fn tf(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.lang.tf(key, args)
    }

    /// The text for a count (`Lang::tn`).
    pub fn tn(&self, key: &str, n: usize) -> String {
        self.lang.tn(key, n)
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub fn require_user(&self) -> Result<&SessionUser, AppError> {
        self.user.as_ref().ok_or_else(|| AppError::SignInRequired {
            next: self.path.clone(),
        })
    }

    /// The signed-in administrator, or 403 for everyone else.
    pub fn require_admin(&self) -> Result<&SessionUser, AppError> {
        let user = self.require_user()?;
        if user.is_admin {
            Ok(user)
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }

    /// Whether the navigation item for `prefix` is the current page.
    pub fn nav_current(&self, prefix: &str) -> bool {
        if prefix == "/" {
            self.path == "/"
        } else {
            self.path.starts_with(prefix)
        }
    }

    /// After an action that has no form to show again: flash `success_key`,
    /// or the rule that refused it; other errors pass on.
    pub fn flash_outcome(
        &self,
        outcome: Result<(), StoreError>,
        success_key: &str,
    ) -> Result<(), AppError> {
        match outcome {
            Ok(()) => self.flash(FlashKind::Success, self.t(success_key)),
            Err(StoreError::Rule { key, .. }) => self.flash(FlashKind::Error, self.t(key)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// After a form's change was saved: a flash of `key`, and on to `to`.
    pub fn saved(&self, key: &str, to: &str) -> HttpResponse {
        self.flash(FlashKind::Success, self.t(key));
        see_other(to)
    }

    pub fn flash(&self, kind: FlashKind, text: impl Into<String>) {
        let _ = self.session.insert(
            SESSION_FLASH,
            Flash {
                kind,
                text: text.into(),
            },
        );
    }

    /// Starts a fresh session for `user` at generation `epoch` of their
    /// sessions (a new session and CSRF token), signed in `now` (seconds
    /// since 1970 on the app's clock).
    pub fn sign_in(
        &self,
        user: UserId,
        epoch: i32,
        now: i64,
        lang: Option<Lang>,
    ) -> Result<(), AppError> {
        self.session.renew();
        self.session.clear();
        put(&self.session, SESSION_USER, &user.0)?;
        put(&self.session, SESSION_EPOCH, &i64::from(epoch))?;
        put(&self.session, SESSION_SINCE, &now)?;
        put(&self.session, SESSION_SEEN, &now)?;
        put(&self.session, SESSION_CSRF, &random_token())?;
        if let Some(lang) = lang {
            put(&self.session, SESSION_LANG, lang.code())?;
        }
        Ok(())
    }

    /// Keeps this session going at generation `epoch` after the person's
    /// other sessions were ended (a password change, "sign out my other
    /// sessions"), with a new session and CSRF token.
    pub fn keep_session(&self, epoch: i32) -> Result<(), AppError> {
        self.session.renew();
        put(&self.session, SESSION_EPOCH, &i64::from(epoch))?;
        put(&self.session, SESSION_CSRF, &random_token())?;
        Ok(())
    }

    pub fn sign_out(&self) {
        self.session.purge();
    }

    /// Remembers the language in the session (also for signed-out visitors).
    pub fn remember_lang(&self, lang: Lang) {
        let _ = self.session.insert(SESSION_LANG, lang.code());
    }
}

/// Forgets who the session names, keeping only the language chosen.
fn end_session(session: &Session) {
    let lang = session.get::<String>(SESSION_LANG).ok().flatten();
    session.clear();
    session.renew();
    if let Some(lang) = lang {
        let _ = session.insert(SESSION_LANG, lang);
    }
}

impl Ctx {
    /// Keeps `value` in this browser's session (signed and encrypted in
    /// its cookie) until `take` — until signing in, at the latest.
    pub fn keep<T: Serialize>(&self, key: &str, value: &T) -> Result<(), AppError> {
        put(&self.session, key, value)
    }

    /// What `keep` kept, removed from the session: it can be taken once.
    pub fn take<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.session.remove_as::<T>(key).and_then(Result::ok)
    }
}

fn put<T: Serialize + ?Sized>(session: &Session, key: &str, value: &T) -> Result<(), AppError> {
    session
        .insert(key, value)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session insert failed: {e}")))
}

/// 303 See Other to `location`: the "Get" of Post/Redirect/Get.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}
