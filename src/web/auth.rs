//! Signing in and out. Attempts are throttled per username and address and,
//! more slowly, per username (`store::sign_in`); an unknown username costs
//! the same argon2 time as a wrong password. With a company directory
//! (`LDAP_URL`), its people sign in with their directory password and are
//! synced as they do; an administrator may require that of everyone but
//! administrators. Signing out ends every session of the person.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::{CsrfForm, NoFields};
use super::ctx::{Ctx, see_other};
use super::forms::FieldErrors;
use super::{AppError, AppState, render, render_status, safe_local_path};
use crate::db::models::User;
use crate::ldap::{self, sync::SignedIn};
use crate::password;
use crate::store::settings::{self, SignInPolicy};
use crate::store::{company, sign_in as throttle, users};

#[derive(Template)]
#[template(path = "sign_in.html")]
pub(super) struct SignInPage {
    pub ctx: Ctx,
    pub username: String,
    pub next: String,
    pub errors: FieldErrors,
    /// The OpenID provider's name, for its button, if there is one.
    pub oidc: Option<String>,
}

impl SignInPage {
    pub(super) fn new(
        ctx: Ctx,
        state: &AppState,
        username: String,
        next: String,
        errors: FieldErrors,
    ) -> SignInPage {
        SignInPage {
            ctx,
            username,
            next,
            errors,
            oidc: oidc_name(state),
        }
    }
}

/// What the sign-in page's "Sign in with …" button names, if anything.
pub(super) fn oidc_name(state: &AppState) -> Option<String> {
    state.oidc.as_ref().map(|p| p.config().name.clone())
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn sign_in_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if ctx.user.is_some() {
        return Ok(see_other(&safe_local_path(&query.next)));
    }
    let errors = FieldErrors::new(ctx.lang);
    render(&SignInPage::new(
        ctx,
        &state,
        String::new(),
        query.into_inner().next,
        errors,
    ))
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
    req: HttpRequest,
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
        let page = SignInPage::new(ctx, &state, username, form.next, errors);
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }

    // Not a username anyone could have (too long, odd characters): the
    // same answer as a wrong password, and nothing counted or stored.
    if crate::domain::Username::parse(&username).is_err() {
        errors.add("", "errors.sign_in_failed");
        let page = SignInPage::new(
            ctx,
            &state,
            username.chars().take(64).collect(),
            form.next,
            errors,
        );
        return render_status(StatusCode::UNAUTHORIZED, &page);
    }

    // The attempt is counted before the password is checked, so guesses
    // sent in parallel cannot all be checked while the count lags.
    let address = client_address(&req, state.config.trust_forwarded_for);
    let (name, from) = (username.clone(), address.clone());
    let allowed = state
        .db
        .write(move |c| throttle::begin(c, &name, &from))
        .await?;
    if !allowed {
        tracing::info!(user = %username, %address, "sign-in throttled");
        errors.add("", "errors.sign_in_throttled");
        let page = SignInPage::new(ctx, &state, username, form.next, errors);
        return render_status(StatusCode::TOO_MANY_REQUESTS, &page);
    }

    let name = username.clone();
    let (user, policy, admin) = state
        .db
        .read(move |c| {
            let user = users::find_by_username(c, &name)?;
            let admin = match &user {
                Some(u) => users::is_admin(c, u.id)?,
                None => false,
            };
            Ok((user, settings::sign_in_policy(c)?, admin))
        })
        .await?;
    // A person from the directory (or someone countersign does not know
    // yet, when there is a directory) signs in with their directory
    // password; everyone else with the one kept here.
    let company = user.as_ref().is_none_or(|u| u.origin != company::LOCAL);
    let checked = match (&state.directory, company) {
        (Some(directory), true) => {
            match ldap::sync::sign_in(&state.db, directory, &username, &form.password).await {
                Ok(SignedIn::Person(id)) => {
                    let user = state.db.read(move |c| users::find(c, id)).await?;
                    Checked::Yes(user)
                }
                Ok(SignedIn::Refused | SignedIn::Unusable) => Checked::No,
                Err(e) => {
                    tracing::warn!(user = %username, error = %e, "directory sign-in failed");
                    Checked::Unavailable
                }
            }
        }
        _ if user.is_some() && !company && policy == SignInPolicy::CompanyOnly && !admin => {
            // Decided before the password is looked at, so the answer
            // says nothing of whether it was right.
            let password = form.password;
            web::block(move || password::verify_unknown_user(&password))
                .await
                .map_err(|e| anyhow::anyhow!("password check failed: {e}"))?;
            Checked::CompanyOnly
        }
        _ => {
            let password = form.password;
            // A service account signs in nowhere: refused as an unknown
            // name is; so is someone from the company without a directory.
            let candidate =
                user.filter(|u| u.active && !u.service_account && u.origin == company::LOCAL);
            let (candidate, ok) = web::block(move || {
                let ok = match &candidate {
                    Some(u) => password::verify(&password, &u.password_hash),
                    None => password::verify_unknown_user(&password),
                };
                (candidate, ok)
            })
            .await
            .map_err(|e| anyhow::anyhow!("password check failed: {e}"))?;
            match candidate.filter(|_| ok) {
                Some(user) => Checked::Local(user),
                None => Checked::No,
            }
        }
    };
    let user = match checked {
        Checked::CompanyOnly => {
            tracing::info!(user = %username, "local sign-in refused: company sign-in required");
            errors.add("", "errors.sign_in_company_only");
            let page = SignInPage::new(ctx, &state, username, form.next, errors);
            return render_status(StatusCode::FORBIDDEN, &page);
        }
        Checked::Local(user) => user,
        Checked::Yes(user) if user.active && !user.service_account => user,
        Checked::Unavailable => {
            errors.add("", "errors.directory_unavailable");
            let page = SignInPage::new(ctx, &state, username, form.next, errors);
            return render_status(StatusCode::SERVICE_UNAVAILABLE, &page);
        }
        Checked::Yes(_) | Checked::No => {
            tracing::info!(user = %username, %address, "sign-in failed");
            errors.add("", "errors.sign_in_failed");
            let page = SignInPage::new(ctx, &state, username, form.next, errors);
            return render_status(StatusCode::UNAUTHORIZED, &page);
        }
    };

    let name = username.clone();
    let lang = user.language.as_deref().and_then(crate::i18n::Lang::parse);
    // Someone who never chose a language gets mail in the one their
    // browser asks for.
    let (id, used) = (user.id, lang.is_none().then_some(ctx.lang));
    state
        .db
        .write(move |c| {
            throttle::succeeded(c, &name, &address)?;
            used.map_or(Ok(()), |used| users::used_language(c, id, used))
        })
        .await?;
    let now = state.db.now().and_utc().timestamp();
    ctx.sign_in(user.id, user.session_epoch, now, lang)?;
    tracing::info!(user = %user.username, origin = %user.origin, "signed in");
    Ok(see_other(&safe_local_path(&form.next)))
}

/// What checking a password found.
enum Checked {
    /// A local password, right.
    Local(User),
    /// Someone who may not use a local password (company sign-in is
    /// required of everyone but administrators); it was not checked.
    CompanyOnly,
    /// The directory's password, right: the person as synced.
    Yes(User),
    /// Wrong, or nobody by that name.
    No,
    /// The directory could not be asked.
    Unavailable,
}

/// Where a request comes from, for throttling: the connection's address,
/// or behind a trusted proxy (`TRUST_FORWARDED_FOR`) the address the
/// proxy added last to `X-Forwarded-For` (earlier ones are the client's
/// own say).
fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    match forwarded {
        Some(address) => address.to_string(),
        None => req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
    }
}

/// Ends every session of the person, on every browser and device: a
/// session cookie copied before signing out no longer opens anything.
pub async fn sign_out(
    ctx: Ctx,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    if let Some(user) = &ctx.user {
        let id = user.id;
        state.db.write(move |c| users::end_sessions(c, id)).await?;
    }
    ctx.sign_out();
    Ok(see_other("/sign-in"))
}
