//! Admin: people — list and search, create, edit (email, manager, language),
//! reset a password, deactivate and reactivate.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::User;
use crate::domain::{Email, Name, NewPassword, Username};
use crate::i18n::Lang;
use crate::password;
use crate::store::StoreResult;
use crate::store::assignments::{self, AssignmentRow, Filter};
use crate::store::company;
use crate::store::users::{self, UserInput};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

pub struct UserListRow {
    pub user: User,
    pub manager_name: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    ctx: Ctx,
    rows: Vec<UserListRow>,
    q: String,
    show_inactive: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    inactive: String,
}

pub async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let ListQuery { q, inactive } = query.into_inner();
    let show_inactive = !inactive.is_empty();
    let search = q.clone();
    let rows = state
        .db
        .read(move |c| {
            let found = users::list(c, &search, show_inactive)?;
            let managers: Vec<UserId> = found.iter().filter_map(|u| u.manager_id).collect();
            let managers = users::people_by_id(c, &managers)?;
            Ok(found
                .into_iter()
                .map(|user| UserListRow {
                    manager_name: user
                        .manager_id
                        .and_then(|m| managers.get(&m))
                        .map(|p| p.display_name.clone()),
                    user,
                })
                .collect())
        })
        .await?;
    render(&UsersPage {
        ctx,
        rows,
        q,
        show_inactive,
    })
}

/// The user form as typed, kept whole so it can be shown again. The
/// manager is named by username.
#[derive(Debug, Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub manager: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub password: String,
    /// Ticked: a service account for a pipeline, with no password.
    #[serde(default)]
    pub service_account: Option<String>,
}

/// A user form that parsed; the manager's username is resolved inside the
/// transaction that stores it.
struct ParsedUser {
    display_name: Name,
    email: Email,
    manager: Option<Username>,
    language: Option<Lang>,
}

impl ParsedUser {
    fn resolve(self, c: &mut DbConn) -> StoreResult<UserInput> {
        let manager_id = match &self.manager {
            Some(m) => Some(users::resolve(c, "manager", m)?),
            None => None,
        };
        Ok(UserInput {
            display_name: self.display_name,
            email: self.email,
            manager_id,
            language: self.language,
        })
    }
}

impl UserForm {
    fn parse(&self, errors: &mut FieldErrors) -> Option<ParsedUser> {
        let display_name = errors.check("display_name", Name::parse(&self.display_name));
        let email = errors.check("email", Email::parse(&self.email));
        let manager = errors.check(
            "manager",
            match self.manager.trim() {
                "" => Ok(None),
                m => Username::parse_person(m).map(Some),
            },
        );
        let language = errors.check(
            "language",
            match self.language.trim() {
                "" => Ok(None),
                code => Lang::parse(code).map(Some).ok_or("errors.unknown_choice"),
            },
        );
        Some(ParsedUser {
            display_name: display_name?,
            email: email?,
            manager: manager?,
            language: language?,
        })
    }
}

/// What the edit page shows besides the form.
pub struct EditInfo {
    pub id: UserId,
    pub active: bool,
    pub roles: Vec<AssignmentRow>,
    pub password_errors: FieldErrors,
    /// From the company directory: no local password to reset.
    pub company: bool,
}

#[derive(Template)]
#[template(path = "admin/user_form.html")]
struct UserFormPage {
    ctx: Ctx,
    form: UserForm,
    errors: FieldErrors,
    editing: Option<EditInfo>,
}

impl UserFormPage {
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
}

pub async fn new_form(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let errors = FieldErrors::new(ctx.lang);
    render(&UserFormPage {
        ctx,
        form: UserForm::default(),
        errors,
        editing: None,
    })
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let username = errors.check("username", Username::parse(&form.username));
    let parsed = form.parse(&mut errors);
    // A service account has no password: it acts only through tokens.
    let service = form.service_account.is_some();
    let new_password = if service {
        None
    } else {
        errors.check("password", NewPassword::parse(&form.password))
    };
    if let (Some(username), Some(parsed), true) =
        (username, parsed, service || new_password.is_some())
    {
        let hash = match new_password {
            Some(p) => Some(hash_off_thread(p).await?),
            None => None,
        };
        let name = username.to_string();
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            match &hash {
                Some(hash) => users::create(c, &username, &input, hash, Some(actor)),
                None => users::create_service_account(c, &username, &input, Some(actor)),
            }
        };
        let written = state.db.write(write).await;
        if let Some(id) = errors.saved(written)? {
            ctx.flash(
                FlashKind::Success,
                ctx.tf("flash.user_created", &[("name", &name)]),
            );
            return Ok(see_other(&format!("/admin/users/{id}")));
        }
    }
    let form = UserForm {
        password: String::new(),
        ..form
    };
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &UserFormPage {
            ctx,
            form,
            errors,
            editing: None,
        },
    )
}

async fn hash_off_thread(password: NewPassword) -> Result<String, AppError> {
    Ok(web::block(move || password::hash(password.expose()))
        .await
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))??)
}

/// Loads the edit page for `id` with a fresh form; callers may replace parts.
async fn edit_page(ctx: Ctx, state: &AppState, id: UserId) -> Result<UserFormPage, AppError> {
    let lang = ctx.lang;
    let (user, manager, roles) = state
        .db
        .read(move |c| {
            let user = users::find(c, id)?;
            let manager = match user.manager_id {
                Some(m) => users::people_by_id(c, &[m])?.remove(&m).map(|p| p.username),
                None => None,
            };
            let roles = assignments::list(
                c,
                &Filter {
                    user: Some(id),
                    ..Filter::default()
                },
            )?;
            Ok((user, manager, roles))
        })
        .await?;
    let form = UserForm {
        username: user.username,
        display_name: user.display_name,
        email: user.email,
        manager: manager.unwrap_or_default(),
        language: user.language.unwrap_or_default(),
        password: String::new(),
        service_account: user.service_account.then(|| "on".to_string()),
    };
    Ok(UserFormPage {
        form,
        errors: FieldErrors::new(lang),
        editing: Some(EditInfo {
            id,
            active: user.active,
            roles,
            password_errors: FieldErrors::new(lang),
            company: user.origin != company::LOCAL,
        }),
        ctx,
    })
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    render(&edit_page(ctx, &state, UserId(path.into_inner())).await?)
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = UserId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            users::update(c, id, &input, actor)
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.saved", &format!("/admin/users/{id}")));
        }
    }
    let mut page = edit_page(ctx, &state, id).await?;
    // The username cannot change; show the stored one, and the rest as typed.
    page.form = UserForm {
        username: page.form.username.clone(),
        password: String::new(),
        ..form
    };
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new_password: String,
}

pub async fn reset_password(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = UserId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(new_password) = errors.check("new_password", NewPassword::parse(&form.new_password))
    {
        let hash = hash_off_thread(new_password).await?;
        let epoch = state
            .db
            .write(move |c| users::set_password(c, id, &hash, actor))
            .await?;
        // Every session of that person has ended; an administrator who
        // reset their own password keeps this one.
        if id == actor {
            ctx.keep_session(epoch)?;
        }
        ctx.flash(FlashKind::Success, ctx.t("flash.password_reset"));
        return Ok(see_other(&format!("/admin/users/{id}")));
    }
    let mut page = edit_page(ctx, &state, id).await?;
    if let Some(info) = page.editing.as_mut() {
        info.password_errors = errors;
    }
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn set_active(
    ctx: Ctx,
    state: &AppState,
    id: UserId,
    active: bool,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let outcome = state
        .db
        .write(move |c| users::set_active(c, id, active, actor))
        .await;
    let key = if active {
        "flash.user_activated"
    } else {
        "flash.user_deactivated"
    };
    ctx.flash_outcome(outcome, key)?;
    Ok(see_other(&format!("/admin/users/{id}")))
}

pub async fn deactivate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_active(ctx, &state, UserId(path.into_inner()), false).await
}

pub async fn activate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_active(ctx, &state, UserId(path.into_inner()), true).await
}
