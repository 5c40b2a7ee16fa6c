//! Admin: role assignments — who holds which role, globally or within one
//! business — with filters by person, role and scope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::{AssignmentId, BusinessId, RoleId, UserId};
use crate::domain::{Problem, Username};
use crate::i18n::Lang;
use crate::store::assignments::{self, AssignmentRow, Filter, Scope};
use crate::store::{StoreResult, businesses, roles, users};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, see_other};
use crate::web::forms::{FieldErrors, SelectOption, optional_id, required_id};
use crate::web::{AppError, AppState, render, render_status};

/// The filter and the create form share field names, so one struct serves both.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AssignmentForm {
    /// A username.
    #[serde(default)]
    user: String,
    #[serde(default)]
    role_id: String,
    /// "global", a business id, or "" (any, in the filter).
    #[serde(default)]
    business_id: String,
}

fn parse_scope(input: &str) -> Result<Option<Scope>, Problem> {
    match input.trim() {
        "" => Ok(None),
        "global" => Ok(Some(Scope::Global)),
        id => id
            .parse()
            .map(|b| Some(Scope::Business(BusinessId(b))))
            .map_err(|_| "errors.unknown_choice"),
    }
}

struct Choices {
    roles: Vec<SelectOption>,
    scopes: Vec<SelectOption>,
}

fn choices(c: &mut DbConn, lang: Lang) -> StoreResult<Choices> {
    let roles = roles::list(c)?
        .iter()
        .map(|r| SelectOption::new(r.id, r.name(&lang)))
        .collect();
    let mut scopes = vec![SelectOption::new("global", lang.t("assignments.global"))];
    scopes.extend(
        businesses::list(c)?
            .into_iter()
            .map(|b| SelectOption::new(b.id, b.name)),
    );
    Ok(Choices { roles, scopes })
}

#[derive(Template)]
#[template(path = "admin/assignments.html")]
struct AssignmentsPage {
    ctx: Ctx,
    rows: Vec<AssignmentRow>,
    filter: AssignmentForm,
    form: AssignmentForm,
    errors: FieldErrors,
    roles: Vec<SelectOption>,
    scopes: Vec<SelectOption>,
}

async fn page(
    ctx: Ctx,
    state: &AppState,
    filter: AssignmentForm,
    form: AssignmentForm,
    errors: FieldErrors,
) -> Result<AssignmentsPage, AppError> {
    let lang = ctx.lang;
    // An unparsable filter value simply filters nothing out; an unknown
    // person matches nobody.
    let user = Username::parse_person(&filter.user).ok();
    let role = optional_id::<RoleId>(&filter.role_id).ok().flatten();
    let scope = parse_scope(&filter.business_id).ok().flatten();
    let (rows, choices) = state
        .db
        .read(move |c| {
            // An unknown person matches nobody (id 0 is never used).
            let user = match user {
                Some(u) => Some(users::active_id(c, &u)?.unwrap_or(UserId(0))),
                None => None,
            };
            Ok((
                assignments::list(c, &Filter { user, role, scope })?,
                choices(c, lang)?,
            ))
        })
        .await?;
    Ok(AssignmentsPage {
        ctx,
        rows,
        filter,
        form,
        errors,
        roles: choices.roles,
        scopes: choices.scopes,
    })
}

pub async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<AssignmentForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let filter = query.into_inner();
    // Filtering by a person pre-selects them in the create form.
    let form = AssignmentForm {
        user: filter.user.clone(),
        ..AssignmentForm::default()
    };
    let errors = FieldErrors::new(ctx.lang);
    render(&page(ctx, &state, filter, form, errors).await?)
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<AssignmentForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let user = errors.check("user", Username::parse_person(&form.user));
    let role = errors.check("role_id", required_id::<RoleId>(&form.role_id));
    let scope = errors.check(
        "business_id",
        parse_scope(&form.business_id).and_then(|s| s.ok_or("errors.required")),
    );
    if let (Some(user), Some(role), Some(scope)) = (user, role, scope) {
        let write = move |c: &mut DbConn| {
            let id = users::resolve(c, "user", &user)?;
            assignments::create(c, id, role, scope, actor)?;
            Ok(user)
        };
        let written = state.db.write(write).await;
        if let Some(user) = errors.saved(written)? {
            let to = format!("/admin/assignments?user={user}");
            return Ok(ctx.saved("flash.assignment_created", &to));
        }
    }
    let filter = AssignmentForm::default();
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &page(ctx, &state, filter, form, errors).await?,
    )
}

pub async fn delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = AssignmentId(path.into_inner());
    let outcome = state
        .db
        .write(move |c| assignments::delete(c, id, actor))
        .await;
    ctx.flash_outcome(outcome, "flash.assignment_deleted")?;
    Ok(see_other("/admin/assignments"))
}
