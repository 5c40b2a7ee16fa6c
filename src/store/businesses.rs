//! Businesses: the scopes roles are assigned in ("ops of business Payments").

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{BusinessId, UserId};
use crate::db::models::Business;
use crate::db::schema::{businesses, role_assignments};
use crate::db::stamp::At;
use crate::domain::Name;

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Business>> {
    Ok(crate::direct!(conn, |c| businesses::table
        .order(businesses::name)
        .select(Business::as_select())
        .load(c))?)
}

/// Every business's id and name, by name, for a minute (another
/// instance's change shows here within it): for filters that offer them.
pub fn names(conn: &mut DbConn) -> StoreResult<std::sync::Arc<Vec<(BusinessId, String)>>> {
    NAMES.get(|| {
        Ok(crate::direct!(conn, |c| businesses::table
            .order(businesses::name)
            .select((businesses::id, businesses::name))
            .load(c))?)
    })
}

static NAMES: super::cache::ShortCache<Vec<(BusinessId, String)>> =
    super::cache::ShortCache::new(std::time::Duration::from_secs(60));

/// The name of business `id`, if there is one.
pub fn name_of(conn: &mut DbConn, id: BusinessId) -> StoreResult<Option<String>> {
    Ok(crate::direct!(conn, |c| businesses::table
        .find(id)
        .select(businesses::name)
        .first(c)
        .optional())?)
}

pub fn find(conn: &mut DbConn, id: BusinessId) -> StoreResult<Business> {
    Ok(businesses::table
        .find(id)
        .select(Business::as_select())
        .first(conn)?)
}

fn check_name_free(conn: &mut DbConn, name: &Name, except: Option<BusinessId>) -> StoreResult<()> {
    let mut q = businesses::table
        .filter(businesses::name.eq(name.as_str()))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(businesses::id.ne(id));
    }
    let n: i64 = q.count().get_result(conn)?;
    if n > 0 {
        return Err(StoreError::rule("name", "errors.name_taken"));
    }
    Ok(())
}

pub fn create(
    conn: &mut DbConn,
    name: &Name,
    description: &str,
    actor: UserId,
) -> StoreResult<BusinessId> {
    check_name_free(conn, name, None)?;
    let id: BusinessId = diesel::insert_into(businesses::table)
        .values((
            businesses::name.eq(name.as_str()),
            businesses::description.eq(description),
            businesses::created_at.eq(At(now())),
        ))
        .returning(businesses::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "name", "errors.name_taken"))?;
    NAMES.forget();
    audit::record(
        conn,
        Audit::web(actor, "business.created", "business", id.0),
    )?;
    Ok(id)
}

pub fn update(
    conn: &mut DbConn,
    id: BusinessId,
    name: &Name,
    description: &str,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, id)?;
    check_name_free(conn, name, Some(id))?;
    diesel::update(businesses::table.find(id))
        .set((
            businesses::name.eq(name.as_str()),
            businesses::description.eq(description),
        ))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name", "errors.name_taken"))?;
    NAMES.forget();
    audit::record(
        conn,
        Audit::web(actor, "business.updated", "business", id.0),
    )
}

/// Deletes a business nobody holds a role in and no ticket was filed in
/// (tickets keep naming their business for good).
pub fn delete(conn: &mut DbConn, id: BusinessId, actor: UserId) -> StoreResult<()> {
    find(conn, id)?;
    let in_use: i64 = role_assignments::table
        .filter(role_assignments::business_id.eq(id))
        .count()
        .get_result(conn)?;
    if in_use > 0 {
        return Err(StoreError::rule("", "errors.business_in_use"));
    }
    let filed: i64 = crate::db::schema::applies::table
        .filter(crate::db::schema::applies::business_id.eq(id))
        .count()
        .get_result(conn)?;
    if filed > 0 {
        return Err(StoreError::rule("", "errors.business_has_tickets"));
    }
    // Anything else that still refers to it (a race with a filing) is the
    // same refusal, not an error page.
    diesel::delete(businesses::table.find(id))
        .execute(conn)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            ) => StoreError::rule("", "errors.business_has_tickets"),
            other => other.into(),
        })?;
    NAMES.forget();
    audit::record(
        conn,
        Audit::web(actor, "business.deleted", "business", id.0),
    )
}
