//! The service catalog: a tree of folders under one root, each holding
//! services in order.

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now, services};
use crate::db::DbConn;
use crate::db::ids::{CatalogNodeId, ServiceId, UserId};
use crate::db::models::{CatalogNode, Service};
use crate::db::schema::{catalog_nodes as n, catalog_services as cs, services as s};
use crate::db::stamp::At;
use crate::domain::Name;

/// The whole tree, flattened depth-first, with each folder's services.
#[derive(Debug, Clone)]
pub struct Folder {
    pub node: CatalogNode,
    pub depth: usize,
    pub services: Vec<Service>,
    pub has_children: bool,
}

pub fn root(conn: &mut DbConn) -> StoreResult<CatalogNode> {
    Ok(n::table
        .filter(n::parent_id.is_null())
        .order(n::id)
        .select(CatalogNode::as_select())
        .first(conn)?)
}

pub fn find(conn: &mut DbConn, id: CatalogNodeId) -> StoreResult<CatalogNode> {
    Ok(n::table
        .find(id)
        .select(CatalogNode::as_select())
        .first(conn)?)
}

/// The tree in display order. Retired services are left out unless asked for.
pub fn tree(conn: &mut DbConn, include_retired: bool) -> StoreResult<Vec<Folder>> {
    let nodes: Vec<CatalogNode> = n::table
        .order((n::position, n::id))
        .select(CatalogNode::as_select())
        .load(conn)?;
    let mut placed: Vec<(CatalogNodeId, Service)> = cs::table
        .inner_join(s::table)
        .order((cs::node_id, cs::position, cs::id))
        .select((cs::node_id, Service::as_select()))
        .load(conn)?;
    if !include_retired {
        placed.retain(|(_, svc)| svc.retired_at.is_none());
    }
    let mut out = Vec::new();
    fn walk(
        nodes: &[CatalogNode],
        placed: &[(CatalogNodeId, Service)],
        parent: Option<CatalogNodeId>,
        depth: usize,
        out: &mut Vec<Folder>,
    ) {
        for node in nodes.iter().filter(|x| x.parent_id == parent) {
            let services = placed
                .iter()
                .filter(|(id, _)| *id == node.id)
                .map(|(_, svc)| svc.clone())
                .collect();
            let has_children = nodes.iter().any(|x| x.parent_id == Some(node.id));
            out.push(Folder {
                node: node.clone(),
                depth,
                services,
                has_children,
            });
            if depth < 20 {
                walk(nodes, placed, Some(node.id), depth + 1, out);
            }
        }
    }
    walk(&nodes, &placed, None, 0, &mut out);
    Ok(out)
}

fn next_position(conn: &mut DbConn, parent: CatalogNodeId) -> StoreResult<i32> {
    let max: Option<i32> = n::table
        .filter(n::parent_id.eq(parent))
        .select(diesel::dsl::max(n::position))
        .first(conn)?;
    Ok(max.map_or(0, |m| m + 1))
}

pub fn add_folder(
    conn: &mut DbConn,
    parent: CatalogNodeId,
    en: &Name,
    zh: &str,
    actor: UserId,
) -> StoreResult<CatalogNodeId> {
    find(conn, parent).map_err(|_| StoreError::rule("parent_id", "errors.unknown_choice"))?;
    let position = next_position(conn, parent)?;
    let id: CatalogNodeId = diesel::insert_into(n::table)
        .values((
            n::parent_id.eq(parent),
            n::name_en.eq(en.as_str()),
            n::name_zh.eq(zh),
            n::position.eq(position),
            n::created_at.eq(At(now())),
        ))
        .returning(n::id)
        .get_result(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "catalog.folder_added", "catalog_node", id.0),
    )?;
    Ok(id)
}

pub fn rename(
    conn: &mut DbConn,
    id: CatalogNodeId,
    en: &Name,
    zh: &str,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, id)?;
    diesel::update(n::table.find(id))
        .set((n::name_en.eq(en.as_str()), n::name_zh.eq(zh)))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "catalog.folder_renamed", "catalog_node", id.0),
    )
}

/// Moves a folder under another one; never the root, never into itself or
/// below itself.
pub fn move_to(
    conn: &mut DbConn,
    id: CatalogNodeId,
    parent: CatalogNodeId,
    actor: UserId,
) -> StoreResult<()> {
    let node = find(conn, id)?;
    if node.parent_id.is_none() {
        return Err(StoreError::rule("parent_id", "errors.root_fixed"));
    }
    let mut cursor = Some(parent);
    for _ in 0..50 {
        let Some(at) = cursor else { break };
        if at == id {
            return Err(StoreError::rule("parent_id", "errors.folder_into_itself"));
        }
        cursor = find(conn, at)
            .map_err(|_| StoreError::rule("parent_id", "errors.unknown_choice"))?
            .parent_id;
    }
    let position = next_position(conn, parent)?;
    diesel::update(n::table.find(id))
        .set((n::parent_id.eq(parent), n::position.eq(position)))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "catalog.folder_moved", "catalog_node", id.0),
    )
}

/// Swaps a folder with its previous (`up`) or next sibling.
pub fn reorder(conn: &mut DbConn, id: CatalogNodeId, up: bool, actor: UserId) -> StoreResult<()> {
    let node = find(conn, id)?;
    let Some(parent) = node.parent_id else {
        return Ok(());
    };
    let mut siblings: Vec<CatalogNode> = n::table
        .filter(n::parent_id.eq(parent))
        .order((n::position, n::id))
        .select(CatalogNode::as_select())
        .load(conn)?;
    let Some(i) = siblings.iter().position(|x| x.id == id) else {
        return Ok(());
    };
    let j = if up {
        i.checked_sub(1)
    } else {
        Some(i + 1).filter(|j| *j < siblings.len())
    };
    let Some(j) = j else { return Ok(()) };
    siblings.swap(i, j);
    for (position, sibling) in siblings.iter().enumerate() {
        diesel::update(n::table.find(sibling.id))
            .set(n::position.eq(position as i32))
            .execute(conn)?;
    }
    audit::record(
        conn,
        Audit::web(actor, "catalog.folder_reordered", "catalog_node", id.0),
    )
}

/// Deletes an empty folder; a folder with folders or services is refused.
pub fn delete(conn: &mut DbConn, id: CatalogNodeId, actor: UserId) -> StoreResult<()> {
    let node = find(conn, id)?;
    if node.parent_id.is_none() {
        return Err(StoreError::rule("", "errors.root_fixed"));
    }
    let children: i64 = n::table
        .filter(n::parent_id.eq(id))
        .count()
        .get_result(conn)?;
    let held: i64 = cs::table
        .filter(cs::node_id.eq(id))
        .count()
        .get_result(conn)?;
    if children > 0 || held > 0 {
        return Err(StoreError::rule("", "errors.folder_not_empty"));
    }
    diesel::delete(n::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "catalog.folder_deleted", "catalog_node", id.0),
    )
}

pub fn attach(
    conn: &mut DbConn,
    node: CatalogNodeId,
    service: ServiceId,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, node)?;
    services::find(conn, service)
        .map_err(|_| StoreError::rule("service_id", "errors.unknown_choice"))?;
    let exists: i64 = cs::table
        .filter(cs::node_id.eq(node))
        .filter(cs::service_id.eq(service))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(StoreError::rule(
            "service_id",
            "errors.service_already_here",
        ));
    }
    let max: Option<i32> = cs::table
        .filter(cs::node_id.eq(node))
        .select(diesel::dsl::max(cs::position))
        .first(conn)?;
    diesel::insert_into(cs::table)
        .values((
            cs::node_id.eq(node),
            cs::service_id.eq(service),
            cs::position.eq(max.map_or(0, |m| m + 1)),
        ))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "service_id", "errors.service_already_here"))?;
    audit::record(
        conn,
        Audit::web(actor, "catalog.service_attached", "catalog_node", node.0)
            .with_detail(serde_json::json!({ "service": service.0 })),
    )
}

pub fn detach(
    conn: &mut DbConn,
    node: CatalogNodeId,
    service: ServiceId,
    actor: UserId,
) -> StoreResult<()> {
    let n = diesel::delete(
        cs::table
            .filter(cs::node_id.eq(node))
            .filter(cs::service_id.eq(service)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(
        conn,
        Audit::web(actor, "catalog.service_detached", "catalog_node", node.0)
            .with_detail(serde_json::json!({ "service": service.0 })),
    )
}
