//! The resource registry: tables, dashboards and the like that people
//! request access to; each has an owner and may be managed (托管).

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::users::{Person, people_by_id};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ResourceId, UserId};
use crate::db::models::Resource;
use crate::db::schema::resources as r;
use crate::db::stamp::At;
use crate::domain::Name;

/// The validated fields of the resource form (the owner already resolved).
#[derive(Debug, Clone)]
pub struct ResourceInput {
    pub name: Name,
    pub kind: Name,
    pub owner: Option<UserId>,
    pub managed: bool,
    pub description: String,
}

/// A resource with its owner, for lists.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub resource: Resource,
    pub owner: Option<Person>,
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<ResourceRow>> {
    let rows: Vec<Resource> = r::table
        .order((r::kind, r::name))
        .select(Resource::as_select())
        .load(conn)?;
    let owners: Vec<UserId> = rows.iter().filter_map(|x| x.owner_id).collect();
    let people = people_by_id(conn, &owners)?;
    Ok(rows
        .into_iter()
        .map(|resource| ResourceRow {
            owner: resource.owner_id.and_then(|o| people.get(&o).cloned()),
            resource,
        })
        .collect())
}

pub fn find(conn: &mut DbConn, id: ResourceId) -> StoreResult<Resource> {
    Ok(r::table
        .find(id)
        .select(Resource::as_select())
        .first(conn)?)
}

/// The resources with these ids (unknown ids are left out).
pub fn by_ids(conn: &mut DbConn, ids: &[ResourceId]) -> StoreResult<Vec<Resource>> {
    Ok(r::table
        .filter(r::id.eq_any(ids))
        .order(r::name)
        .select(Resource::as_select())
        .load(conn)?)
}

fn check_name(conn: &mut DbConn, name: &Name, except: Option<ResourceId>) -> StoreResult<()> {
    let mut q = r::table.filter(r::name.eq(name.as_str())).into_boxed();
    if let Some(id) = except {
        q = q.filter(r::id.ne(id));
    }
    if q.count().get_result::<i64>(conn)? > 0 {
        return Err(StoreError::rule("name", "errors.name_taken"));
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, input: &ResourceInput, actor: UserId) -> StoreResult<ResourceId> {
    check_name(conn, &input.name, None)?;
    let id: ResourceId = diesel::insert_into(r::table)
        .values((
            r::name.eq(input.name.as_str()),
            r::kind.eq(input.kind.as_str()),
            r::owner_id.eq(input.owner),
            r::managed.eq(input.managed),
            r::description.eq(&input.description),
            r::created_at.eq(At(now())),
        ))
        .returning(r::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "name", "errors.name_taken"))?;
    audit::record(
        conn,
        Audit::web(actor, "resource.created", "resource", id.0),
    )?;
    Ok(id)
}

pub fn update(
    conn: &mut DbConn,
    id: ResourceId,
    input: &ResourceInput,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, id)?;
    check_name(conn, &input.name, Some(id))?;
    diesel::update(r::table.find(id))
        .set((
            r::name.eq(input.name.as_str()),
            r::kind.eq(input.kind.as_str()),
            r::owner_id.eq(input.owner),
            r::managed.eq(input.managed),
            r::description.eq(&input.description),
        ))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name", "errors.name_taken"))?;
    audit::record(
        conn,
        Audit::web(actor, "resource.updated", "resource", id.0),
    )
}

pub fn delete(conn: &mut DbConn, id: ResourceId, actor: UserId) -> StoreResult<()> {
    find(conn, id)?;
    diesel::delete(r::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "resource.deleted", "resource", id.0),
    )
}
