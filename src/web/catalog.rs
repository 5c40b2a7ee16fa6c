//! The applicant's service catalog: the folders with the services this
//! person may use, a search box, and each service's page.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::ctx::Ctx;
use super::{AppError, AppState, render};
use crate::db::ids::ServiceId;
use crate::db::models::{CatalogNode, Service};
use crate::flow::ProcessDef;
use crate::store::{catalog, processes, services, users};

/// A folder as the applicant sees it: only usable services, and only
/// folders that hold some (directly or below).
pub struct VisibleFolder {
    pub node: CatalogNode,
    pub depth: usize,
    pub services: Vec<Service>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    ctx: Ctx,
    folders: Vec<VisibleFolder>,
    q: String,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Whether a service matches the search: its names, its description, or
/// the labels of its form's fields (in either language) contain `q`.
fn matches(service: &Service, labels: &[String], q: &str) -> bool {
    q.is_empty()
        || [&service.name_en, &service.name_zh, &service.description]
            .into_iter()
            .chain(labels)
            .any(|t| t.to_lowercase().contains(q))
}

/// The labels of each service's form fields, in both languages.
fn field_labels(
    c: &mut crate::db::DbConn,
    tree: &[catalog::Folder],
) -> crate::store::StoreResult<std::collections::HashMap<ServiceId, Vec<String>>> {
    let mut labels = std::collections::HashMap::new();
    for service in tree.iter().flat_map(|f| f.services.iter()) {
        let def = processes::definition(c, service.version_id)?;
        let texts = def
            .fields()
            .flat_map(|(_, f)| [f.label.en.clone(), f.label.zh.clone()])
            .filter(|t| !t.is_empty())
            .collect();
        labels.insert(service.id, texts);
    }
    Ok(labels)
}

pub async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let q = query.into_inner().q;
    let needle = q.trim().to_lowercase();
    let searching = !needle.is_empty();
    let (tree, roles, labels) = state
        .db
        .read(move |c| {
            let tree = catalog::tree(c, false)?;
            let labels = if searching {
                field_labels(c, &tree)?
            } else {
                Default::default()
            };
            Ok((tree, users::role_codes(c, me)?, labels))
        })
        .await?;
    let mut folders: Vec<VisibleFolder> = tree
        .into_iter()
        .map(|f| VisibleFolder {
            services: f
                .services
                .into_iter()
                .filter(|s| {
                    let mine = labels.get(&s.id).map(Vec::as_slice).unwrap_or_default();
                    services::usable(s, &roles) && matches(s, mine, &needle)
                })
                .collect(),
            node: f.node,
            depth: f.depth,
        })
        .collect();
    // Keep a folder when it or a folder below it (the following deeper
    // entries, in depth-first order) has services.
    let mut keep = vec![false; folders.len()];
    for i in (0..folders.len()).rev() {
        let below = folders[i + 1..]
            .iter()
            .zip(&keep[i + 1..])
            .take_while(|(f, _)| f.depth > folders[i].depth)
            .any(|(_, k)| *k);
        keep[i] = !folders[i].services.is_empty() || below;
    }
    let mut k = keep.into_iter();
    folders.retain(|_| k.next().unwrap_or(false));
    render(&CatalogPage { ctx, folders, q })
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    ctx: Ctx,
    service: Service,
    def: ProcessDef,
    version: i32,
    diagram: String,
}

pub async fn service(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let id = ServiceId(path.into_inner());
    let (service, version, usable, roles) = state
        .db
        .read(move |c| {
            let service = services::find(c, id)?;
            let version = processes::version_by_id(c, service.version_id)?;
            let usable = services::usable_by(c, &service, me)?;
            Ok((service, version, usable, crate::store::roles::names(c)?))
        })
        .await?;
    if !usable {
        return Err(AppError::NotFound);
    }
    let def = processes::parse_def(&version.definition)?;
    let diagram = super::design::draw(ctx.lang, &def, &roles, None);
    render(&ServicePage {
        ctx,
        service,
        def,
        version: version.number,
        diagram,
    })
}
