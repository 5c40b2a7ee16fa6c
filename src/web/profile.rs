//! The profile page: display name, language, password, the person's own
//! out-of-office delegation and their API tokens. Also the language switch
//! in the footer.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::admin::delegations::DelegationForm;
use super::csrf::{CsrfForm, NoFields};
use super::ctx::{Ctx, FlashKind, see_other};
use super::forms::{FieldErrors, SelectOption};
use super::{AppError, AppState, render, render_status, safe_local_path};
use crate::db::DbConn;
use crate::db::ids::{ApiTokenId, DelegationId};
use crate::domain::{Name, NewPassword};
use crate::i18n::Lang;
use crate::password;
use crate::store::api_tokens::{self, ApiToken, NewToken, Scope};
use crate::store::delegations::{self, DelegationRow};
use crate::store::users;

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    ctx: Ctx,
    username: String,
    email: String,
    display_name: String,
    language: String,
    errors: FieldErrors,
    password_errors: FieldErrors,
    delegation: DelegationForm,
    delegation_errors: FieldErrors,
    delegations: Vec<DelegationRow>,
    tokens: Vec<ApiToken>,
    token: TokenForm,
    token_errors: FieldErrors,
    /// A token just made: its name and its secret, shown this once.
    made: Option<(String, String)>,
    now: chrono::NaiveDateTime,
    /// From the company directory: their password is the directory's.
    company: bool,
}

impl ProfilePage {
    /// Builds the page with fresh forms from the database; callers then
    /// replace the one form that is being shown again with errors.
    async fn load(ctx: Ctx, state: &AppState) -> Result<ProfilePage, AppError> {
        let me = ctx.require_user()?.id;
        let (user, delegations, tokens) = state
            .db
            .read(move |c| {
                Ok((
                    users::find(c, me)?,
                    delegations::list(c, Some(me))?,
                    api_tokens::of_person(c, me)?,
                ))
            })
            .await?;
        let lang = ctx.lang;
        Ok(ProfilePage {
            company: user.origin != crate::store::company::LOCAL,
            delegation: DelegationForm::starting_now(&user.username, state.db.now()),
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            language: user.language.unwrap_or_default(),
            errors: FieldErrors::new(lang),
            password_errors: FieldErrors::new(lang),
            delegation_errors: FieldErrors::new(lang),
            delegations,
            tokens,
            token: TokenForm::default(),
            token_errors: FieldErrors::new(lang),
            made: None,
            now: state.db.now(),
            ctx,
        })
    }

    fn languages(&self) -> Vec<SelectOption> {
        let mut options = vec![SelectOption::new(
            "",
            self.ctx.t("profile.language_browser"),
        )];
        options.extend(
            Lang::ALL
                .iter()
                .map(|l| SelectOption::new(l.code(), l.native_name())),
        );
        options
    }

    fn scopes(&self) -> Vec<SelectOption> {
        super::forms::scope_options(self.ctx.lang)
    }
}

pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render(&ProfilePage::load(ctx, &state).await?)
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    language: String,
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let name = errors.check("display_name", Name::parse(&form.display_name));
    let language = match form.language.trim() {
        "" => Some(None),
        code => errors
            .check("language", Lang::parse(code).ok_or("errors.unknown_choice"))
            .map(Some),
    };
    if let (Some(name), Some(language)) = (name, language) {
        state
            .db
            .write(move |c| users::update_profile(c, me, &name, language))
            .await?;
        let lang = language.unwrap_or(ctx.lang);
        ctx.remember_lang(lang);
        ctx.flash(FlashKind::Success, lang.t("flash.profile_saved"));
        return Ok(see_other("/profile"));
    }
    let mut page = ProfilePage::load(ctx, &state).await?;
    page.display_name = form.display_name;
    page.language = form.language;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let new = errors.check("new_password", NewPassword::parse(&form.new_password));
    if new.is_some() && form.new_password != form.confirm {
        errors.add("confirm", "errors.password_mismatch");
    }
    let stored = state
        .db
        .read(move |c| Ok(users::find(c, me)?.password_hash))
        .await?;
    let current = form.current;
    let current_ok = web::block(move || password::verify(&current, &stored))
        .await
        .map_err(|e| anyhow::anyhow!("password check failed: {e}"))?;
    if !current_ok {
        errors.add("current", "errors.password_wrong");
    }
    if let (Some(new), true) = (new, errors.is_empty()) {
        let hash = web::block(move || password::hash(new.expose()))
            .await
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))??;
        // Every other session signed in with the old password ends.
        let epoch = state
            .db
            .write(move |c| users::set_password(c, me, &hash, me))
            .await?;
        ctx.keep_session(epoch)?;
        ctx.flash(FlashKind::Success, ctx.t("flash.password_changed"));
        return Ok(see_other("/profile"));
    }
    let mut page = ProfilePage::load(ctx, &state).await?;
    page.password_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Signs the person out of every other browser and device; this session
/// carries on.
pub async fn end_other_sessions(
    ctx: Ctx,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let epoch = state
        .db
        .write(move |c| users::end_other_sessions(c, me))
        .await?;
    ctx.keep_session(epoch)?;
    ctx.flash(FlashKind::Success, ctx.t("flash.other_sessions_ended"));
    Ok(see_other("/profile"))
}

pub async fn add_delegation(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(mut form): CsrfForm<DelegationForm>,
) -> Result<HttpResponse, AppError> {
    let user = ctx.require_user()?;
    let me = user.id;
    // People set up their own absence only; the admin page covers others.
    form.from_user = user.username.clone();
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            let id = delegations::create(c, &input, me)?;
            crate::notify::delegation::stand_in_asked(c, id, me)
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.delegation_saved", "/profile"));
        }
    }
    let mut page = ProfilePage::load(ctx, &state).await?;
    page.delegation = form;
    page.delegation_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn delete_delegation(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let id = DelegationId(path.into_inner());
    state
        .db
        .write(move |c| delegations::delete(c, id, Some(me), me))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.delegation_deleted"));
    Ok(see_other("/profile"))
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    back: String,
}

/// Switches the language; kept on the account when signed in.
pub async fn switch_language(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LanguageForm>,
) -> Result<HttpResponse, AppError> {
    let lang =
        Lang::parse(&form.lang).ok_or_else(|| AppError::BadRequest("unknown language".into()))?;
    ctx.remember_lang(lang);
    if let Some(user) = &ctx.user {
        let id = user.id;
        state
            .db
            .write(move |c| users::set_language(c, id, lang))
            .await?;
    }
    Ok(see_other(&safe_local_path(&form.back)))
}

/// The form for a new API token, as typed.
#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub days: String,
}

impl TokenForm {
    /// The token asked for, or `None` with each bad field's error noted.
    pub fn parse(&self, errors: &mut FieldErrors) -> Option<NewToken> {
        let name = errors.check("name", Name::parse(&self.name));
        let scope = errors.check(
            "scope",
            Scope::parse(self.scope.trim()).ok_or("errors.unknown_choice"),
        );
        let days = errors.check("days", api_tokens::parse_days(&self.days));
        Some(NewToken {
            name: name?,
            scope: scope?,
            days: days?,
        })
    }
}

/// Makes an API token for the signed-in person; the page shows its secret
/// this once (it is not kept), or the form again beside its errors.
pub async fn create_token(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(new) = form.parse(&mut errors) {
        let now = state.db.now();
        let (token, secret) = state
            .db
            .write(move |c| api_tokens::create(c, me, &new, me, now))
            .await?;
        let mut page = ProfilePage::load(ctx, &state).await?;
        page.made = Some((token.name, secret));
        return render(&page);
    }
    let mut page = ProfilePage::load(ctx, &state).await?;
    page.token = form;
    page.token_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Revokes one of the signed-in person's API tokens.
pub async fn revoke_token(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let id = ApiTokenId(path.into_inner());
    let now = state.db.now();
    state
        .db
        .write(move |c| api_tokens::revoke(c, id, me, false, now))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.token_revoked"));
    Ok(see_other("/profile#tokens"))
}
