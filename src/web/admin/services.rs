//! Admin: services — create, edit, bind to a version, retire.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::CatalogNodeId;
use crate::db::ids::{ServiceId, VersionId};
use crate::domain::{Name, parse_note};
use crate::store::services::{self, ServiceInput, ServiceRow};
use crate::store::{StoreError, StoreResult, catalog, processes, roles};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption, required_id};
use crate::web::{AppError, AppState, render, render_status};

#[derive(Template)]
#[template(path = "admin/services.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<ServiceRow>,
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = state.db.read(|c| services::list(c, true)).await?;
    render(&ListPage { ctx, rows })
}

/// The service form as typed. The bound version is picked among every
/// deployed version ("Process · v3"); the process follows from it.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceForm {
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    version_id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// A deployed version to bind, labelled "Process · vN".
pub struct VersionChoice {
    pub id: VersionId,
    pub label: String,
}

#[derive(Template)]
#[template(path = "admin/service_form.html")]
struct FormPage {
    ctx: Ctx,
    id: Option<ServiceId>,
    retired: bool,
    form: ServiceForm,
    errors: FieldErrors,
    versions: Vec<SelectOption>,
    roles: Vec<SelectOption>,
    /// For a saved service: the catalog folders showing it, and the
    /// others it can be added to.
    folders: Folders,
}

/// Where a service is in the catalog and where it could be added.
#[derive(Default)]
pub struct Folders {
    pub holding: Vec<String>,
    pub others: Vec<SelectOption>,
}

/// The catalog folders holding `service` (by name, the root as
/// "Catalog"), and the rest as choices indented by depth.
fn folders(c: &mut DbConn, lang: crate::i18n::Lang, service: ServiceId) -> StoreResult<Folders> {
    let mut out = Folders::default();
    for f in catalog::tree(c, true)? {
        let name = if f.node.parent_id.is_none() {
            lang.t("nav.catalog_admin").into_owned()
        } else {
            f.node.name(&lang).to_string()
        };
        if f.services.iter().any(|s| s.id == service) {
            out.holding.push(name);
        } else {
            let indent = "\u{a0}\u{a0}".repeat(f.depth);
            out.others
                .push(SelectOption::new(f.node.id, format!("{indent}{name}")));
        }
    }
    Ok(out)
}

impl FormPage {
    fn has_role(&self, code: &str) -> bool {
        self.form.roles.iter().any(|r| r == code)
    }
}

fn choices(
    c: &mut DbConn,
    lang: crate::i18n::Lang,
) -> StoreResult<(Vec<SelectOption>, Vec<SelectOption>)> {
    let mut versions = Vec::new();
    for row in processes::list(c)? {
        for v in processes::versions(c, row.process.id)? {
            versions.push(SelectOption::new(
                v.version.id,
                format!("{} · v{}", row.process.name_in(lang), v.version.number),
            ));
        }
    }
    let roles = roles::list(c)?
        .iter()
        .map(|r| SelectOption::new(&r.code, r.name(&lang)))
        .collect();
    Ok((versions, roles))
}

/// `?version_id=` from a process's "create a service for version N".
#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    version_id: String,
}

pub async fn new_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: Option<web::Query<NewQuery>>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let lang = ctx.lang;
    let asked = query
        .and_then(|q| q.version_id.trim().parse::<i32>().ok())
        .map(VersionId);
    let (versions, roles, process) = state
        .db
        .read(move |c| {
            let (versions, roles) = choices(c, lang)?;
            // The process of the version asked for names the service at first.
            let process = match asked {
                Some(v) => match processes::version_by_id(c, v) {
                    Ok(version) => Some(processes::find(c, version.process_id)?),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            Ok((versions, roles, process))
        })
        .await?;
    let errors = FieldErrors::new(lang);
    // The version asked for, else the newest version of the first process.
    let form = match (asked, process) {
        (Some(v), Some(process)) => ServiceForm {
            version_id: v.to_string(),
            name_en: process.name,
            name_zh: process.name_zh,
            ..ServiceForm::default()
        },
        _ => ServiceForm {
            version_id: versions
                .first()
                .map(|v| v.value.clone())
                .unwrap_or_default(),
            ..ServiceForm::default()
        },
    };
    render(&FormPage {
        ctx,
        id: None,
        retired: false,
        form,
        errors,
        versions,
        roles,
        folders: Folders::default(),
    })
}

impl ServiceForm {
    fn parse(
        &self,
        errors: &mut FieldErrors,
    ) -> Option<(Name, String, String, VersionId, Vec<String>)> {
        let name = errors.check("name_en", Name::parse(&self.name_en));
        let zh = if self.name_zh.trim().is_empty() {
            Some(String::new())
        } else {
            errors.check("name_zh", Name::parse(&self.name_zh).map(|n| n.to_string()))
        };
        let description = errors.check("description", parse_note(&self.description));
        let version = errors.check("version_id", required_id::<VersionId>(&self.version_id));
        let mut roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        roles.dedup();
        Some((name?, zh?, description?, version?, roles))
    }
}

async fn save(
    ctx: Ctx,
    state: &AppState,
    id: Option<ServiceId>,
    form: ServiceForm,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some((name_en, name_zh, description, version, roles)) = form.parse(&mut errors) {
        let write = move |c: &mut DbConn| {
            let process = processes::version_by_id(c, version)
                .map_err(|_| crate::store::StoreError::rule("version_id", "errors.unknown_choice"))?
                .process_id;
            let input = ServiceInput {
                name_en,
                name_zh,
                description,
                process,
                version,
                roles,
            };
            match id {
                Some(id) => services::update(c, id, &input, actor).map(|_| id),
                None => services::create(c, &input, actor),
            }
        };
        let written = state.db.write(write).await;
        if let Some(saved) = errors.saved(written)? {
            ctx.flash(FlashKind::Success, ctx.t("flash.saved"));
            return Ok(see_other(&format!("/admin/services/{saved}")));
        }
    }
    let lang = ctx.lang;
    let (versions, roles, folders) = state
        .db
        .read(move |c| {
            let (versions, roles) = choices(c, lang)?;
            let placed = match id {
                Some(id) => folders(c, lang, id)?,
                None => Folders::default(),
            };
            Ok((versions, roles, placed))
        })
        .await?;
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &FormPage {
            ctx,
            id,
            retired: false,
            form,
            errors,
            versions,
            roles,
            folders,
        },
    )
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Result<HttpResponse, AppError> {
    save(ctx, &state, None, form).await
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ServiceId(path.into_inner());
    let lang = ctx.lang;
    let (service, (versions, roles), folders) = state
        .db
        .read(move |c| {
            Ok((
                services::find(c, id)?,
                choices(c, lang)?,
                folders(c, lang, id)?,
            ))
        })
        .await?;
    let form = ServiceForm {
        name_en: service.name_en.clone(),
        name_zh: service.name_zh.clone(),
        description: service.description.clone(),
        version_id: service.version_id.to_string(),
        roles: service.roles(),
    };
    let errors = FieldErrors::new(lang);
    render(&FormPage {
        ctx,
        id: Some(id),
        retired: service.retired_at.is_some(),
        form,
        errors,
        versions,
        roles,
        folders,
    })
}

#[derive(Debug, Deserialize)]
pub struct FolderForm {
    #[serde(default)]
    folder_id: String,
}

/// Adds the service to a catalog folder from the service's own page.
pub async fn add_to_folder(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<FolderForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ServiceId(path.into_inner());
    let outcome = match required_id::<CatalogNodeId>(&form.folder_id) {
        Ok(folder) => {
            state
                .db
                .write(move |c| {
                    catalog::attach(c, folder, id, actor).map_err(|e| match e {
                        StoreError::NotFound => {
                            StoreError::rule("folder_id", "errors.unknown_choice")
                        }
                        other => other,
                    })
                })
                .await
        }
        Err(key) => Err(StoreError::rule("folder_id", key)),
    };
    ctx.flash_outcome(outcome, "flash.service_attached")?;
    Ok(see_other(&format!("/admin/services/{id}#folders")))
}

pub async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Result<HttpResponse, AppError> {
    save(ctx, &state, Some(ServiceId(path.into_inner())), form).await
}

async fn set_retired(
    ctx: Ctx,
    state: &AppState,
    id: ServiceId,
    retired: bool,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let outcome = state
        .db
        .write(move |c| services::set_retired(c, id, retired, actor))
        .await;
    ctx.flash_outcome(
        outcome,
        if retired {
            "flash.service_retired"
        } else {
            "flash.service_reinstated"
        },
    )?;
    Ok(see_other(&format!("/admin/services/{id}")))
}

pub async fn retire(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_retired(ctx, &state, ServiceId(path.into_inner()), true).await
}

pub async fn reinstate(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    set_retired(ctx, &state, ServiceId(path.into_inner()), false).await
}
