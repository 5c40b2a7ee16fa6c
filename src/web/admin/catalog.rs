//! Admin: the service catalog tree — folders (add, rename, move, reorder,
//! delete when empty) and the services placed in them.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::ids::{CatalogNodeId, ServiceId};
use crate::domain::Name;
use crate::store::catalog::{self, Folder};
use crate::store::services;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, see_other};
use crate::web::forms::{FieldErrors, SelectOption, required_id};
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Deserialize)]
pub struct FolderForm {
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
}

#[derive(Template)]
#[template(path = "admin/catalog.html")]
struct CatalogPage {
    ctx: Ctx,
    folders: Vec<Folder>,
    services: Vec<SelectOption>,
    form: FolderForm,
    errors: FieldErrors,
}

impl CatalogPage {
    fn parents(&self) -> Vec<SelectOption> {
        self.folders
            .iter()
            .map(|f| {
                SelectOption::new(
                    f.node.id,
                    format!("{}{}", "— ".repeat(f.depth), f.node.name(&self.ctx.lang)),
                )
            })
            .collect()
    }

    fn indent(&self, folder: &Folder) -> String {
        format!("depth-{}", folder.depth.min(6))
    }
}

async fn page(
    ctx: Ctx,
    state: &AppState,
    form: FolderForm,
    errors: FieldErrors,
) -> Result<CatalogPage, AppError> {
    let lang = ctx.lang;
    let (folders, services) = state
        .db
        .read(move |c| {
            let folders = catalog::tree(c, true)?;
            let services = services::list(c, false)?
                .into_iter()
                .map(|row| SelectOption::new(row.service.id, row.service.name(&lang)))
                .collect();
            Ok((folders, services))
        })
        .await?;
    Ok(CatalogPage {
        ctx,
        folders,
        services,
        form,
        errors,
    })
}

pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let errors = FieldErrors::new(ctx.lang);
    render(&page(ctx, &state, FolderForm::default(), errors).await?)
}

pub async fn add_folder(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<FolderForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    let parent = errors.check("parent_id", required_id::<CatalogNodeId>(&form.parent_id));
    let name = errors.check("name_en", Name::parse(&form.name_en));
    if let (Some(parent), Some(name)) = (parent, name) {
        let zh = form.name_zh.trim().to_string();
        let written = state
            .db
            .write(move |c| catalog::add_folder(c, parent, &name, &zh, actor))
            .await;
        if errors.saved(written)?.is_some() {
            return Ok(ctx.saved("flash.folder_added", "/admin/catalog"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &page(ctx, &state, form, errors).await?,
    )
}

/// Rename, move, reorder, delete, attach and detach all land here, told
/// apart by the button pressed (`action`).
#[derive(Debug, Default, Deserialize)]
pub struct FolderAction {
    #[serde(default)]
    action: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    service_id: String,
}

pub async fn folder_action(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<FolderAction>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = CatalogNodeId(path.into_inner());
    let bad = |key: &'static str| crate::store::StoreError::rule("", key);
    let outcome = match form.action.as_str() {
        "rename" => match Name::parse(&form.name_en) {
            Ok(name) => {
                let zh = form.name_zh.trim().to_string();
                state
                    .db
                    .write(move |c| catalog::rename(c, id, &name, &zh, actor))
                    .await
            }
            Err(k) => Err(bad(k)),
        },
        "move" => match required_id::<CatalogNodeId>(&form.parent_id) {
            Ok(parent) => {
                state
                    .db
                    .write(move |c| catalog::move_to(c, id, parent, actor))
                    .await
            }
            Err(k) => Err(bad(k)),
        },
        "up" | "down" => {
            let up = form.action == "up";
            state
                .db
                .write(move |c| catalog::reorder(c, id, up, actor))
                .await
        }
        "delete" => state.db.write(move |c| catalog::delete(c, id, actor)).await,
        "attach" => match required_id::<ServiceId>(&form.service_id) {
            Ok(service) => {
                state
                    .db
                    .write(move |c| catalog::attach(c, id, service, actor))
                    .await
            }
            Err(k) => Err(bad(k)),
        },
        _ => return Err(AppError::BadRequest("unknown catalog action".into())),
    };
    let key = match form.action.as_str() {
        "delete" => "flash.folder_deleted",
        "attach" => "flash.service_attached",
        _ => "flash.saved",
    };
    ctx.flash_outcome(outcome, key)?;
    Ok(see_other("/admin/catalog"))
}

pub async fn detach(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, i32)>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let (node, service) = path.into_inner();
    let outcome = state
        .db
        .write(move |c| catalog::detach(c, CatalogNodeId(node), ServiceId(service), actor))
        .await;
    ctx.flash_outcome(outcome, "flash.service_detached")?;
    Ok(see_other("/admin/catalog"))
}
