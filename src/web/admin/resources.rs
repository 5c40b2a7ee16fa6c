//! Admin: the resource registry (tables, dashboards…) with owners and the
//! managed flag that adds the owners' managers to access requests.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::ResourceId;
use crate::domain::{Name, Username, parse_note};
use crate::store::resources::{self, ResourceInput, ResourceRow};
use crate::store::users;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Deserialize)]
pub struct ResourceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    managed: Option<String>,
    #[serde(default)]
    description: String,
}

struct Parsed {
    name: Name,
    kind: Name,
    owner: Option<Username>,
    managed: bool,
    description: String,
}

impl ResourceForm {
    fn parse(&self, errors: &mut FieldErrors) -> Option<Parsed> {
        let name = errors.check("name", Name::parse(&self.name));
        let kind = errors.check("kind", Name::parse(&self.kind));
        let owner = errors.check(
            "owner",
            match self.owner.trim() {
                "" => Ok(None),
                o => Username::parse_person(o).map(Some),
            },
        );
        let description = errors.check("description", parse_note(&self.description));
        Some(Parsed {
            name: name?,
            kind: kind?,
            owner: owner?,
            managed: self.managed.is_some(),
            description: description?,
        })
    }
}

impl Parsed {
    fn resolve(self, c: &mut DbConn) -> crate::store::StoreResult<ResourceInput> {
        let owner = match &self.owner {
            Some(u) => Some(users::resolve(c, "owner", u)?),
            None => None,
        };
        Ok(ResourceInput {
            name: self.name,
            kind: self.kind,
            owner,
            managed: self.managed,
            description: self.description,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/resources.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<ResourceRow>,
    form: ResourceForm,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin/resource_edit.html")]
struct EditPage {
    ctx: Ctx,
    id: ResourceId,
    form: ResourceForm,
    errors: FieldErrors,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(resources::list).await?;
    let errors = FieldErrors::new(ctx.lang);
    let form = ResourceForm {
        kind: "table".into(),
        ..ResourceForm::default()
    };
    render(&ListPage {
        ctx,
        rows,
        form,
        errors,
    })
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ResourceForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            resources::create(c, &input, actor)
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.saved", "/admin/resources"));
        }
    }
    let rows = state.db.read(resources::list).await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ListPage {
            ctx,
            rows,
            form,
            errors,
        },
    )
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ResourceId(path.into_inner());
    let (r, owner) = state
        .db
        .read(move |c| {
            let r = resources::find(c, id)?;
            let owner = match r.owner_id {
                Some(o) => users::people_by_id(c, &[o])?.remove(&o).map(|p| p.username),
                None => None,
            };
            Ok((r, owner))
        })
        .await?;
    let form = ResourceForm {
        name: r.name,
        kind: r.kind,
        owner: owner.unwrap_or_default(),
        managed: r.managed.then(|| "on".into()),
        description: r.description,
    };
    let errors = FieldErrors::new(ctx.lang);
    render(&EditPage {
        ctx,
        id,
        form,
        errors,
    })
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<ResourceForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ResourceId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(parsed) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let input = parsed.resolve(c)?;
            resources::update(c, id, &input, actor)
        };
        if errors.saved(state.db.write(write).await)?.is_some() {
            return Ok(ctx.saved("flash.saved", "/admin/resources"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &EditPage {
            ctx,
            id,
            form,
            errors,
        },
    )
}

pub async fn delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ResourceId(path.into_inner());
    let outcome = state
        .db
        .write(move |c| resources::delete(c, id, actor))
        .await;
    ctx.flash_outcome(outcome, "flash.deleted")?;
    Ok(see_other("/admin/resources"))
}
