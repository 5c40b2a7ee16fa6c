//! The directory the planning engine reads — managers, role holders,
//! resources, delegations — answered from the database inside the caller's
//! transaction, so a plan and the ticket it belongs to are consistent.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{StoreError, StoreResult};
use crate::db::ids::{BusinessId, ResourceId, UserId};
use crate::db::schema::{
    businesses, delegations as d, resources, role_assignments as ra, roles, users,
};
use crate::db::stamp::At;
use crate::db::{DbConn, prepared};
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
    /// Role holders read ahead (`read_ahead`), with their ids, by role
    /// and business as planning asks for them.
    holders: RefCell<HashMap<RoleIn, Vec<(String, UserId)>>>,
    /// The first database error met; the trait cannot return one, so the
    /// caller checks `finish` after planning.
    error: RefCell<Option<StoreError>>,
}

/// A delegation in effect: from whom, to whom (active), for which kind of
/// ticket (any when `None`), since when.
type InEffect = (UserId, String, Option<String>, NaiveDateTime);

/// A role, and the business it is asked about in (none: anywhere).
type RoleIn = (String, Option<String>);

/// A role holder read ahead: the role, the business they hold it in (none:
/// everywhere) and the business chosen, the person and their id.
type Holder = (
    String,
    (Option<BusinessId>, Option<BusinessId>),
    String,
    UserId,
);

/// The delegations in effect at `now` to someone active (`InEffect` rows).
#[diesel::dsl::auto_type(no_type_alias)]
fn in_effect(now: NaiveDateTime) -> _ {
    let at: At = At(now);
    d::table
        .inner_join(users::table.on(users::id.eq(d::to_user_id)))
        .filter(d::ends_at.gt(at))
        .filter(d::starts_at.le(at))
        .filter(users::active.eq(true))
        .select((
            d::from_user_id,
            users::username,
            d::process_kind,
            d::starts_at,
        ))
}

impl<'a> DbDirectory<'a> {
    pub fn new(conn: &'a mut DbConn, now: NaiveDateTime) -> DbDirectory<'a> {
        DbDirectory {
            conn: RefCell::new(conn),
            now,
            ids: RefCell::new(HashMap::new()),
            delegations: RefCell::new(None),
            holders: RefCell::new(HashMap::new()),
            error: RefCell::new(None),
        }
    }

    /// Reads ahead, on PostgreSQL in one statement, what planning `def`
    /// for `applicant` (filing in `business`) would otherwise ask one
    /// question at a time: the holders of the roles its handlers name
    /// (in the business where a handler says so), the delegations in
    /// effect, and the applicant's id. SQLite, with no round trips to
    /// save, is asked as planning goes.
    pub fn read_ahead(
        &self,
        def: &crate::flow::ProcessDef,
        applicant: &str,
        business: Option<&str>,
    ) -> StoreResult<()> {
        use crate::flow::HandlerRule;
        let mut conn = self.conn.borrow_mut();
        let DbConn::Pg(pg) = &mut **conn else {
            return Ok(());
        };
        // Roles asked about anywhere, and within the business.
        let (mut anywhere, mut within) = (Vec::new(), Vec::new());
        for rule in def.nodes.iter().flat_map(|n| &n.handlers) {
            match rule {
                HandlerRule::Role {
                    role,
                    in_business: false,
                } => anywhere.push(role.clone()),
                HandlerRule::Role {
                    role,
                    in_business: true,
                } if business.is_some() => within.push(role.clone()),
                _ => {}
            }
        }
        let business_id = businesses::table
            .filter(businesses::name.nullable().eq(business))
            .select(businesses::id)
            .single_value();
        let in_business = ra::business_id
            .is_null()
            .or(ra::business_id.eq(business_id));
        let holders = ra::table
            .inner_join(roles::table)
            .inner_join(users::table.on(users::id.eq(ra::user_id)))
            .filter(users::active.eq(true))
            .filter(
                roles::code
                    .eq_any(anywhere.clone())
                    .or(roles::code.eq_any(within.clone()).and(in_business)),
            )
            .select((
                roles::code,
                (ra::business_id, business_id),
                users::username,
                users::id,
            ));
        let me = users::table
            .filter(users::username.eq(applicant))
            .filter(users::active.eq(true))
            .select((users::username, users::id));
        type Row = (
            Option<(Option<Holder>, Option<InEffect>)>,
            Option<(String, UserId)>,
        );
        let rows: Vec<Row> =
            prepared::apart(prepared::apart(holders, in_effect(self.now)), me).load(pg)?;
        let mut ids = self.ids.borrow_mut();
        let mut found = self.holders.borrow_mut();
        for role in &anywhere {
            found.entry((role.clone(), None)).or_default();
        }
        for role in &within {
            found
                .entry((role.clone(), business.map(str::to_string)))
                .or_default();
        }
        let mut delegations = Vec::new();
        for (first, applicant) in rows {
            let (holder, delegation) = first.unwrap_or_default();
            if let Some((code, (held_in, chosen), username, id)) = holder {
                // Held everywhere, or in the business chosen.
                let in_business = held_in.is_none() || held_in == chosen;
                ids.insert(username.clone(), Some(id));
                if anywhere.contains(&code) {
                    found
                        .entry((code.clone(), None))
                        .or_default()
                        .push((username.clone(), id));
                }
                if in_business && within.contains(&code) {
                    found
                        .entry((code, business.map(str::to_string)))
                        .or_default()
                        .push((username, id));
                }
            }
            delegations.extend(delegation);
            if let Some((username, id)) = applicant {
                ids.insert(username, Some(id));
            }
        }
        // Read, and not there: not active (or no such person).
        ids.entry(applicant.to_string()).or_insert(None);
        *self.delegations.borrow_mut() = Some(delegations);
        Ok(())
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
        let ahead = (role.to_string(), business.map(str::to_string));
        if let Some(found) = self.holders.borrow().get(&ahead) {
            let mut holders: Vec<String> = found.iter().map(|(u, _)| u.clone()).collect();
            holders.sort_unstable();
            holders.dedup();
            return holders;
        }
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

    fn in_business(&self, username: &str, business: &str) -> bool {
        let (username, business) = (username.to_string(), business.to_string());
        self.run(|c| {
            crate::direct!(c, |c| ra::table
                .inner_join(users::table.on(users::id.eq(ra::user_id)))
                .inner_join(businesses::table.on(ra::business_id.eq(businesses::id.nullable())))
                .filter(users::username.eq(username))
                .filter(businesses::name.eq(business))
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
            let in_effect: Vec<InEffect> =
                self.run(|c| crate::direct!(c, |c| in_effect(now).load(c)));
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
    /// Whose form it is and the ticket it is on (if filed), for the
    /// files it may use; none: no files.
    files: Option<(crate::db::ids::UserId, Option<crate::db::ids::ApplyId>)>,
}

impl<'a> DbLookup<'a> {
    pub fn new(conn: &'a mut DbConn) -> DbLookup<'a> {
        DbLookup {
            conn: RefCell::new(conn),
            files: None,
        }
    }

    /// The lookup of a form `uploader` fills in (on ticket `apply`, once
    /// filed): the files they uploaded and no ticket holds yet, and the
    /// ticket's own.
    pub fn with_files(
        mut self,
        uploader: crate::db::ids::UserId,
        apply: Option<crate::db::ids::ApplyId>,
    ) -> DbLookup<'a> {
        self.files = Some((uploader, apply));
        self
    }
}

impl crate::flow::form::Lookup for DbLookup<'_> {
    fn attachment(&self, id: i64) -> Option<crate::flow::form::Upload> {
        let (uploader, apply) = self.files?;
        let id = i32::try_from(id).ok()?;
        let mut conn = self.conn.borrow_mut();
        super::attachments::usable(&mut conn, crate::db::ids::AttachmentId(id), uploader, apply)
            .ok()
            .flatten()
    }

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
