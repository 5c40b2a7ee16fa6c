//! Signing in with the OpenID provider: `/sign-in/oidc` sends the browser
//! there with a fresh state, nonce and PKCE verifier kept in its session;
//! `/sign-in/oidc/callback` takes them back out (so a callback works once,
//! and only in the browser that started it), has `oidc::Provider` check
//! the answer, creates or updates the person and signs them in. Every
//! refusal is the sign-in page with what happened, never an error page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::auth::SignInPage;
use super::ctx::{Ctx, see_other};
use super::forms::FieldErrors;
use super::{AppError, AppState, render_status, safe_local_path};
use crate::oidc::Pending;
use crate::store::company::{self, Report};
use crate::store::users;

/// Where the session keeps a sign-in under way.
const PENDING: &str = "oidc_pending";

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: String,
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/sign-in/oidc/callback", state.config.base_url)
}

/// The sign-in page with `key` beside the form.
fn refused(
    ctx: Ctx,
    state: &AppState,
    status: StatusCode,
    key: &'static str,
    next: String,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::new(ctx.lang);
    errors.add("", key);
    let page = SignInPage::new(ctx, state, String::new(), next, errors);
    render_status(status, &page)
}

pub async fn start(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(provider) = state.oidc.clone() else {
        return Err(AppError::NotFound);
    };
    // Kept in the session cookie, which has room for an address, not a book.
    let next = match safe_local_path(&query.next) {
        next if next.len() <= 512 => next.into_owned(),
        _ => "/".to_string(),
    };
    match provider.begin(&redirect_uri(&state), &next).await {
        Ok((url, pending)) => {
            ctx.keep(PENDING, &pending)?;
            Ok(see_other(&url))
        }
        Err(e) => {
            tracing::warn!(error = %e, "the OpenID provider could not be asked");
            refused(
                ctx,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "errors.oidc_unavailable",
                next,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

pub async fn callback(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(provider) = state.oidc.clone() else {
        return Err(AppError::NotFound);
    };
    // Taken out whatever happens next: a state works once.
    let pending: Option<Pending> = ctx.take(PENDING);
    let Some(pending) = pending.filter(|p| {
        !query.state.is_empty() && bool::from(p.state.as_bytes().ct_eq(query.state.as_bytes()))
    }) else {
        tracing::info!("an OpenID callback with a state this browser did not send");
        return refused(
            ctx,
            &state,
            StatusCode::BAD_REQUEST,
            "errors.oidc_state",
            String::new(),
        );
    };
    let next = pending.next.clone();
    if !query.error.is_empty() || query.code.is_empty() {
        tracing::info!(error = %query.error, "the OpenID provider did not sign someone in");
        return refused(
            ctx,
            &state,
            StatusCode::UNAUTHORIZED,
            "errors.oidc_denied",
            next,
        );
    }
    let now = state.db.now().and_utc().timestamp();
    let person = match provider
        .finish(&pending, &query.code, &redirect_uri(&state), now)
        .await
    {
        Ok(Ok(person)) => person,
        Ok(Err(why)) => {
            tracing::info!(?why, "an OpenID sign-in was refused");
            return refused(ctx, &state, StatusCode::UNAUTHORIZED, why.key(), next);
        }
        Err(e) => {
            tracing::warn!(error = %e, "the OpenID provider could not be asked");
            return refused(
                ctx,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "errors.oidc_unavailable",
                next,
            );
        }
    };
    let id = state
        .db
        .write(move |c| {
            let mut report = Report::default();
            let id = company::apply_one(c, &person, &mut report)?;
            if !report.skipped.is_empty() {
                tracing::info!(skipped = ?report.skipped, "an OpenID sign-in could not be applied");
            }
            id.map(|id| users::find(c, id)).transpose()
        })
        .await?;
    let Some(user) = id.filter(|u| u.active && !u.service_account) else {
        return refused(
            ctx,
            &state,
            StatusCode::FORBIDDEN,
            "errors.oidc_unusable",
            next,
        );
    };
    let lang = user.language.as_deref().and_then(crate::i18n::Lang::parse);
    ctx.sign_in(user.id, user.session_epoch, now, lang)?;
    tracing::info!(user = %user.username, origin = %user.origin, "signed in");
    Ok(see_other(&safe_local_path(&next)))
}
