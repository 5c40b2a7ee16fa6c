//! Admin: role assignments — who holds which role, globally or within one
//! business — with filters by person, role and scope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::{AssignmentId, BusinessId, RoleId, UserId};
use crate::domain::Problem;
use crate::i18n::Lang;
use crate::store::assignments::{self, AssignmentRow, Filter, Scope};
use crate::store::{StoreError, StoreResult, businesses, roles, users};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption, optional_id, required_id};
use crate::web::{AppError, AppState, render, render_status};

/// The filter and the create form share field names, so one struct serves both.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AssignmentForm {
    #[serde(default)]
    user_id: String,
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
    people: Vec<SelectOption>,
    roles: Vec<SelectOption>,
    scopes: Vec<SelectOption>,
}

fn choices(c: &mut DbConn, lang: Lang) -> StoreResult<Choices> {
    let people = users::active_choices(c)?
        .into_iter()
        .map(|(id, username, name)| SelectOption::new(id, format!("{name} ({username})")))
        .collect();
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
    Ok(Choices {
        people,
        roles,
        scopes,
    })
}

#[derive(Template)]
#[template(path = "admin/assignments.html")]
struct AssignmentsPage {
    ctx: Ctx,
    rows: Vec<AssignmentRow>,
    filter: AssignmentForm,
    form: AssignmentForm,
    errors: FieldErrors,
    people: Vec<SelectOption>,
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
    // An unparsable filter value simply filters nothing out.
    let parsed = Filter {
        user: optional_id::<UserId>(&filter.user_id).ok().flatten(),
        role: optional_id::<RoleId>(&filter.role_id).ok().flatten(),
        scope: parse_scope(&filter.business_id).ok().flatten(),
    };
    let (rows, choices) = state
        .db
        .read(move |c| Ok((assignments::list(c, &parsed)?, choices(c, lang)?)))
        .await?;
    Ok(AssignmentsPage {
        ctx,
        rows,
        filter,
        form,
        errors,
        people: choices.people,
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
        user_id: filter.user_id.clone(),
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
    let user = errors.check("user_id", required_id::<UserId>(&form.user_id));
    let role = errors.check("role_id", required_id::<RoleId>(&form.role_id));
    let scope = errors.check(
        "business_id",
        parse_scope(&form.business_id).and_then(|s| s.ok_or("errors.required")),
    );
    if let (Some(user), Some(role), Some(scope)) = (user, role, scope) {
        match state
            .db
            .write(move |c| assignments::create(c, user, role, scope, actor))
            .await
        {
            Ok(_) => {
                ctx.flash(FlashKind::Success, ctx.t("flash.assignment_created"));
                return Ok(see_other(&format!("/admin/assignments?user_id={user}")));
            }
            Err(e) => errors.absorb(e)?,
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
    match state
        .db
        .write(move |c| assignments::delete(c, id, actor))
        .await
    {
        Ok(()) => ctx.flash(FlashKind::Success, ctx.t("flash.assignment_deleted")),
        Err(StoreError::Rule { key, .. }) => ctx.flash(FlashKind::Error, ctx.t(key)),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/admin/assignments"))
}
