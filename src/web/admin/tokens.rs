//! Admin: everyone's API tokens — whose, what for, used when, until when —
//! and revoking any of them; making tokens for service accounts.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::ids::ApiTokenId;
use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::store::api_tokens::{self, ApiToken};
use crate::store::users;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::profile::TokenForm;
use crate::web::{AppError, AppState, render, render_status};

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    ctx: Ctx,
    /// Each token with its person's username and name, newest first.
    rows: Vec<(ApiToken, String, String)>,
    now: chrono::NaiveDateTime,
    /// The service accounts a token can be made for (username, name).
    accounts: Vec<(String, String)>,
    form: ServiceTokenForm,
    errors: FieldErrors,
    /// A token just made: whose, its name and its secret, shown this once.
    made: Option<(String, String, String)>,
}

impl TokensPage {
    async fn load(ctx: Ctx, state: &AppState) -> Result<TokensPage, AppError> {
        let (rows, accounts) = state
            .db
            .read(|c| Ok((api_tokens::all(c)?, users::service_accounts(c)?)))
            .await?;
        let errors = FieldErrors::new(ctx.lang);
        Ok(TokensPage {
            ctx,
            rows,
            now: state.db.now(),
            accounts,
            form: ServiceTokenForm::default(),
            errors,
            made: None,
        })
    }

    fn account_options(&self) -> Vec<SelectOption> {
        self.accounts
            .iter()
            .map(|(username, name)| SelectOption::new(username, format!("{name} ({username})")))
            .collect()
    }

    fn scopes(&self) -> Vec<SelectOption> {
        crate::web::forms::scope_options(self.ctx.lang)
    }
}

/// A token for a service account, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceTokenForm {
    #[serde(default)]
    account: String,
    #[serde(flatten)]
    token: TokenForm,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    render(&TokensPage::load(ctx, &state).await?)
}

/// Makes a token for a service account (only those: a person makes their
/// own on their profile); the page shows its secret this once.
pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ServiceTokenForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let new = form.token.parse(&mut errors);
    let account = form.account.trim().to_string();
    if let Some(new) = new {
        let now = state.db.now();
        let name = account.clone();
        let made = state
            .db
            .write(move |c| {
                let Some(user) =
                    users::find_by_username(c, &name)?.filter(|u| u.active && u.service_account)
                else {
                    return Ok(None);
                };
                api_tokens::create(c, user.id, &new, me, now).map(Some)
            })
            .await?;
        match made {
            Some((token, secret)) => {
                let mut page = TokensPage::load(ctx, &state).await?;
                page.made = Some((account, token.name, secret));
                return render(&page);
            }
            None => errors.add("account", "errors.unknown_choice"),
        }
    }
    let mut page = TokensPage::load(ctx, &state).await?;
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn revoke(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let id = ApiTokenId(path.into_inner());
    let now = state.db.now();
    state
        .db
        .write(move |c| api_tokens::revoke(c, id, me, true, now))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("flash.token_revoked"));
    Ok(see_other("/admin/tokens"))
}
