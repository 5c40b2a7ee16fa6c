//! Signing in and out. Failed attempts are throttled per username, and an
//! unknown username costs the same argon2 time as a wrong password.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::{CsrfForm, NoFields};
use super::ctx::{Ctx, see_other};
use super::forms::FieldErrors;
use super::{AppError, AppState, render, render_status, safe_local_path};
use crate::password;
use crate::store::{sign_in as throttle, users};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    ctx: Ctx,
    username: String,
    next: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn sign_in_form(
    ctx: Ctx,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if ctx.user.is_some() {
        return Ok(see_other(safe_local_path(&query.next)));
    }
    let errors = FieldErrors::new(ctx.lang);
    render(&SignInPage {
        ctx,
        username: String::new(),
        next: query.into_inner().next,
        errors,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Result<HttpResponse, AppError> {
    let username = form.username.trim().to_lowercase();
    let mut errors = FieldErrors::new(ctx.lang);
    if username.is_empty() || form.password.is_empty() {
        if username.is_empty() {
            errors.add("username", "errors.required");
        }
        if form.password.is_empty() {
            errors.add("password", "errors.required");
        }
        let page = SignInPage {
            ctx,
            username,
            next: form.next,
            errors,
        };
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }

    let name = username.clone();
    let throttled = state
        .db
        .read(move |c| throttle::is_throttled(c, &name))
        .await?;
    if throttled {
        errors.add("", "errors.sign_in_throttled");
        let page = SignInPage {
            ctx,
            username,
            next: form.next,
            errors,
        };
        return render_status(StatusCode::TOO_MANY_REQUESTS, &page);
    }

    let name = username.clone();
    let user = state
        .db
        .read(move |c| users::find_by_username(c, &name))
        .await?;
    let password = form.password;
    let candidate = user.filter(|u| u.active);
    let (candidate, ok) = web::block(move || {
        let ok = match &candidate {
            Some(u) => password::verify(&password, &u.password_hash),
            None => password::verify_unknown_user(&password),
        };
        (candidate, ok)
    })
    .await
    .map_err(|e| anyhow::anyhow!("password check failed: {e}"))?;

    let name = username.clone();
    match candidate.filter(|_| ok) {
        Some(user) => {
            state.db.write(move |c| throttle::clear(c, &name)).await?;
            let lang = user.language.as_deref().and_then(crate::i18n::Lang::parse);
            ctx.sign_in(user.id, lang)?;
            tracing::info!(user = %user.username, "signed in");
            Ok(see_other(safe_local_path(&form.next)))
        }
        None => {
            state
                .db
                .write(move |c| throttle::record_failure(c, &name))
                .await?;
            tracing::info!(user = %username, "sign-in failed");
            errors.add("", "errors.sign_in_failed");
            let page = SignInPage {
                ctx,
                username,
                next: form.next,
                errors,
            };
            render_status(StatusCode::UNAUTHORIZED, &page)
        }
    }
}

pub async fn sign_out(ctx: Ctx, _form: CsrfForm<NoFields>) -> HttpResponse {
    ctx.sign_out();
    see_other("/sign-in")
}
