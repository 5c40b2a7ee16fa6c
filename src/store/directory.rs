//! The directory the planning engine reads — managers, role holders,
//! resources, delegations — answered from the database inside the caller's
//! transaction, so a plan and the ticket it belongs to are consistent.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{StoreError, StoreResult};
use crate::db::DbConn;
use crate::db::ids::{ResourceId, UserId};
use crate::db::schema::{
    businesses, delegations as d, resources, role_assignments as ra, roles, users,
};
use crate::db::stamp::At;
use crate::flow::ProcessKind;
use crate::flow::plan::{Directory, ResourceInfo};

diesel::alias!(users as managers: Managers);

/// Active people's ids by username.
pub type UserIds = HashMap<String, UserId>;

pub struct DbDirectory<'a> {
    conn: RefCell<&'a mut DbConn>,
    now: NaiveDateTime,
    /// Whom planning asked about, and whether they are active: planning
    /// asks about each candidate more than once, and the ticket's
    /// assignments are written with these ids.
    ids: RefCell<HashMap<String, Option<UserId>>>,
    /// The delegations in effect now (from, to whom, for which kind of
    /// ticket, since when), read at the first question about one: a plan
    /// asks about each of its people, and few delegate at any moment.
    delegations: RefCell<Option<Vec<InEffect>>>,
    /// The first database error met; the trait cannot return one, so the
    /// caller checks `finish` after planning.
    error: RefCell<Option<StoreError>>,
}

/// A delegation in effect: from whom, to whom (active), for which kind of
/// ticket (any when `None`), since when.
type InEffect = (UserId, String, Option<String>, NaiveDateTime);

impl<'a> DbDirectory<'a> {
    pub fn new(conn: &'a mut DbConn, now: NaiveDateTime) -> DbDirectory<'a> {
        DbDirectory {
            conn: RefCell::new(conn),
            now,
            ids: RefCell::new(HashMap::new()),
            delegations: RefCell::new(None),
            error: RefCell::new(None),
        }
    }

    /// Whether every lookup succeeded; if so, the active people met.
    pub fn finish(self) -> StoreResult<UserIds> {
        match self.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(self
                .ids
                .into_inner()
                .into_iter()
                .filter_map(|(name, id)| Some((name, id?)))
                .collect()),
        }
    }

    fn run<T: Default>(&self, f: impl FnOnce(&mut DbConn) -> QueryResult<T>) -> T {
        let mut conn = self.conn.borrow_mut();
        match f(&mut conn) {
            Ok(v) => v,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(StoreError::from(e));
                T::default()
            }
        }
    }

    fn id_of(&self, username: &str) -> Option<UserId> {
        if let Some(known) = self.ids.borrow().get(username) {
            return *known;
        }
        let id = self.run(|c| {
            crate::direct!(c, |c| users::table
                .filter(users::username.eq(username))
                .filter(users::active.eq(true))
                .select(users::id)
                .first(c))
            .optional()
        });
        self.ids.borrow_mut().insert(username.to_string(), id);
        id
    }
}

impl Directory for DbDirectory<'_> {
    fn manager_of(&self, username: &str) -> Option<String> {
        let username = username.to_string();
        self.run(|c| {
            crate::direct!(c, |c| users::table
                .inner_join(managers.on(users::manager_id.eq(managers.field(users::id).nullable())))
                .filter(users::username.eq(username))
                .filter(managers.field(users::active).eq(true))
                .select(managers.field(users::username))
                .first(c))
            .optional()
        })
    }

    fn holders_of_role(&self, role: &str, business: Option<&str>) -> Vec<String> {
        // Two fixed statements rather than one built per call, so each
        // stays prepared and is found in the cache by its type. The
        // business is looked up by name first, so only its own and the
        // company-wide holders are read (through the index on role and
        // business), not every holder of the role. Sorted and de-duplicated
        // here: `DISTINCT` made SQLite build a temporary b-tree per call.
        // Their ids come along: each is active, and planning asks about
        // them next (`is_active`, `delegate_of`) without another read.
        let found: Vec<(String, UserId)> = self.run(|c| {
            crate::direct!(c, |c| {
                let holders = ra::table
                    .inner_join(roles::table)
                    .inner_join(users::table.on(users::id.eq(ra::user_id)))
                    .filter(roles::code.eq(role))
                    .filter(users::active.eq(true))
                    .select((users::username, users::id));
                match business {
                    Some(b) => {
                        let id = businesses::table
                            .filter(businesses::name.eq(b))
                            .select(businesses::id)
                            .single_value();
                        holders
                            .filter(ra::business_id.is_null().or(ra::business_id.eq(id)))
                            .load(c)
                    }
                    None => holders.load(c),
                }
            })
        });
        let mut ids = self.ids.borrow_mut();
        let mut holders: Vec<String> = found
            .into_iter()
            .map(|(username, id)| {
                ids.insert(username.clone(), Some(id));
                username
            })
            .collect();
        holders.sort_unstable();
        holders.dedup();
        holders
    }

    fn has_role(&self, username: &str, role: &str) -> bool {
        let (username, role) = (username.to_string(), role.to_string());
        self.run(|c| {
            crate::direct!(c, |c| ra::table
                .inner_join(roles::table)
                .inner_join(users::table.on(users::id.eq(ra::user_id)))
                .filter(users::username.eq(username))
                .filter(roles::code.eq(role))
                .count()
                .get_result::<i64>(c))
            .map(|n| n > 0)
        })
    }

    fn resource(&self, id: i64) -> Option<ResourceInfo> {
        let id = ResourceId(i32::try_from(id).ok()?);
        let row: Option<(String, bool, Option<String>)> = self.run(|c| {
            crate::direct!(c, |c| resources::table
                .left_join(users::table.on(resources::owner_id.eq(users::id.nullable())))
                .filter(resources::id.eq(id))
                .select((
                    resources::name,
                    resources::managed,
                    users::username.nullable(),
                ))
                .first(c))
            .optional()
        });
        row.map(|(name, managed, owner)| ResourceInfo {
            name,
            owner,
            managed,
        })
    }

    fn is_active(&self, username: &str) -> bool {
        self.id_of(username).is_some()
    }

    fn delegate_of(&self, username: &str, kind: ProcessKind) -> Option<String> {
        let from = self.id_of(username)?;
        if self.delegations.borrow().is_none() {
            let now = self.now;
            let in_effect: Vec<InEffect> = self.run(|c| {
                crate::direct!(c, |c| d::table
                    .inner_join(users::table.on(users::id.eq(d::to_user_id)))
                    .filter(d::ends_at.gt(At(now)))
                    .filter(d::starts_at.le(At(now)))
                    .filter(users::active.eq(true))
                    .select((
                        d::from_user_id,
                        users::username,
                        d::process_kind,
                        d::starts_at
                    ))
                    .load(c))
            });
            *self.delegations.borrow_mut() = Some(in_effect);
        }
        let delegations = self.delegations.borrow();
        // The latest to start, should two cover the moment.
        delegations
            .iter()
            .flatten()
            .filter(|(who, _, only, _)| {
                *who == from && only.as_deref().is_none_or(|k| k == kind.as_str())
            })
            .max_by_key(|(_, _, _, since)| *since)
            .map(|(_, to, _, _)| to.clone())
    }

    fn admins(&self) -> Vec<String> {
        self.run(|c| {
            crate::direct!(c, |c| ra::table
                .inner_join(roles::table)
                .inner_join(users::table.on(users::id.eq(ra::user_id)))
                .filter(roles::code.eq("admin"))
                .filter(ra::business_id.is_null())
                .filter(users::active.eq(true))
                .select(users::username)
                .distinct()
                .order(users::username)
                .load(c))
        })
    }
}

/// Answers form validation's questions (does this person, this resource
/// exist) from the database.
pub struct DbLookup<'a> {
    conn: RefCell<&'a mut DbConn>,
}

impl<'a> DbLookup<'a> {
    pub fn new(conn: &'a mut DbConn) -> DbLookup<'a> {
        DbLookup {
            conn: RefCell::new(conn),
        }
    }
}

impl crate::flow::form::Lookup for DbLookup<'_> {
    fn user_exists(&self, username: &str) -> bool {
        let mut conn = self.conn.borrow_mut();
        users::table
            .filter(users::username.eq(username))
            .filter(users::active.eq(true))
            .count()
            .get_result::<i64>(&mut **conn)
            .is_ok_and(|n| n > 0)
    }

    fn resource_exists(&self, id: i64) -> bool {
        let Ok(id) = i32::try_from(id) else {
            return false;
        };
        let mut conn = self.conn.borrow_mut();
        resources::table
            .find(ResourceId(id))
            .count()
            .get_result::<i64>(&mut **conn)
            .is_ok_and(|n| n > 0)
    }
}
