//! People who come from the company directory: each is created or
//! brought up to date from their entry (name, email, language where
//! given, manager, the roles their groups map to), and those who left are
//! deactivated, their open work moving on as when an administrator
//! deactivates someone. Such people have no local password. What the
//! directory said is applied here, in the caller's transaction; reading
//! the directory is the `ldap` module's.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{AssignmentId, BusinessId, RoleId, UserId};
use crate::db::models::User;
use crate::db::schema::{role_assignments as ra, roles, users};
use crate::db::stamp::At;
use crate::domain::{Email, Name, Username};
use crate::i18n::Lang;

/// A person with a password kept by countersign.
pub const LOCAL: &str = "local";
/// A person from the company directory, keyed by their entry's DN.
pub const LDAP: &str = "ldap";
/// A person from an OpenID provider, keyed by its issuer and their subject.
pub const OIDC: &str = "oidc";

/// What a person from the company has as a password hash: nothing any
/// password verifies against, so they never sign in with a local one.
pub const NO_LOCAL_PASSWORD: &str = "!company";

/// A person as the directory (or an OpenID provider) describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// `LDAP` or `OIDC`.
    pub origin: &'static str,
    /// What stays theirs for good: their entry's unique id (`entryUUID`,
    /// `objectGUID`), never reused for someone else as names and DNs
    /// may be; or the provider's issuer and their subject
    /// (`issuer#subject`).
    pub key: String,
    /// Their entry's DN, normalized (`group_roles::normalize`), which
    /// others' `manager` names them by.
    pub dn: Option<String>,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub language: Option<Lang>,
    /// Their manager's DN, normalized (an OpenID provider names none and
    /// leaves the manager as it is).
    pub manager: Option<String>,
    /// The DNs of the groups they are in, normalized.
    pub groups: Vec<String>,
}

/// A role granted or taken back because of a group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RoleChange {
    pub username: String,
    pub role_id: i32,
    pub business_id: Option<i32>,
}

/// What a sync did, by username (the sync report page shows it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Listed by the directory but deactivated here: an administrator
    /// may reactivate them.
    pub inactive: Vec<String>,
    pub deactivated: Vec<String>,
    /// (username, their manager's DN) where no active person from the
    /// directory has that DN, or making them the manager would close a
    /// cycle.
    pub unmatched_managers: Vec<(String, String)>,
    /// (entry, why): entries not made into people.
    pub skipped: Vec<(String, String)>,
    pub granted: Vec<RoleChange>,
    pub revoked: Vec<RoleChange>,
    /// People the directory names whom nothing changed.
    pub unchanged: usize,
}

/// How applying one entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Creates or updates the person an entry describes, with their manager
/// (if already known) and group roles: what sign-in does. Their id, or
/// `None` if the entry cannot be a person here (the report says why).
pub fn apply_one(
    conn: &mut DbConn,
    person: &Incoming,
    report: &mut Report,
) -> StoreResult<Option<UserId>> {
    let mappings = super::group_roles::all(conn)?;
    let Some((id, applied)) = upsert(conn, person, report)? else {
        return Ok(None);
    };
    let active: bool = users::table.find(id).select(users::active).first(conn)?;
    if !active {
        // Deactivated here: nothing more is given them.
        return Ok(Some(id));
    }
    let managed = person.origin == LDAP && set_manager(conn, id, person, report)?;
    let roles = reconcile_roles(conn, id, person, &mappings, report)?;
    count(report, person, applied, managed || roles);
    Ok(Some(id))
}

/// Applies the whole directory: everyone in `people` is created or
/// updated, then their managers and roles are set, then the people from
/// the directory it no longer lists are deactivated. An empty directory
/// is refused (a wrong base or filter would otherwise deactivate
/// everyone).
pub fn apply_all(conn: &mut DbConn, people: &[Incoming]) -> StoreResult<Report> {
    if people.is_empty() {
        return Err(StoreError::rule("", "errors.directory_empty"));
    }
    let mut report = Report::default();
    let mappings = super::group_roles::all(conn)?;
    // Two entries with one name (a base too wide): neither is anyone.
    let mut names: HashMap<&str, usize> = HashMap::new();
    for person in people {
        *names.entry(person.username.as_str()).or_default() += 1;
    }
    let mut applied = Vec::with_capacity(people.len());
    for person in people {
        if names.get(person.username.as_str()).copied().unwrap_or(0) > 1 {
            report
                .skipped
                .push((person.dn.clone().unwrap_or_default(), "duplicate".into()));
            continue;
        }
        if let Some((id, how)) = upsert(conn, person, &mut report)? {
            applied.push((person, id, how));
        }
    }
    // Only those made into people count as listed: someone whose entry
    // can no longer be used (its email blanked as they leave, say) is
    // treated as gone, not left as they were.
    let listed: HashSet<&str> = applied.iter().map(|(p, _, _)| p.key.as_str()).collect();
    for &(person, id, how) in &applied {
        let managed = set_manager(conn, id, person, &mut report)?;
        let roles = reconcile_roles(conn, id, person, &mappings, &mut report)?;
        count(&mut report, person, how, managed || roles);
    }
    let gone: Vec<User> = users::table
        .filter(users::origin.eq(LDAP))
        .filter(users::active.eq(true))
        .order(users::id)
        .select((User::as_select(), users::external_id))
        .load::<(User, Option<String>)>(conn)?
        .into_iter()
        .filter(|(_, key)| !listed.contains(key.as_deref().unwrap_or("")))
        .map(|(user, _)| user)
        .collect();
    for user in gone {
        // The last administrator stays, whatever the directory says.
        if super::users::is_admin(conn, user.id)?
            && super::assignments::active_admin_count(conn)? <= 1
        {
            report.skipped.push((user.username, "last_admin".into()));
            continue;
        }
        deactivate(conn, &user)?;
        report.deactivated.push(user.username);
    }
    Ok(report)
}

/// Renames a former person's deactivated account (`alice` becomes
/// `alice.left-42`), so that a new person with their name can have it;
/// their history stays theirs.
fn give_up_name(conn: &mut DbConn, former: &User) -> StoreResult<()> {
    let suffix = format!(".left-{}", former.id.0);
    let keep = crate::domain::USERNAME_MAX.saturating_sub(suffix.len());
    let renamed: String = former.username.chars().take(keep).collect::<String>() + &suffix;
    diesel::update(users::table.find(former.id))
        .set((
            users::username.eq(&renamed),
            users::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::by(None, "user.renamed", "user", former.id.0)
            .with_detail(serde_json::json!({ "from": former.username, "to": renamed })),
    )
}

fn count(report: &mut Report, person: &Incoming, applied: Applied, more: bool) {
    match applied {
        Applied::Created => report.created.push(person.username.clone()),
        Applied::Updated => report.updated.push(person.username.clone()),
        Applied::Unchanged if more => report.updated.push(person.username.clone()),
        Applied::Unchanged => report.unchanged += 1,
    }
}

/// Creates or updates the person itself (not their manager or roles).
fn upsert(
    conn: &mut DbConn,
    person: &Incoming,
    report: &mut Report,
) -> StoreResult<Option<(UserId, Applied)>> {
    let skip = |report: &mut Report, why: &str| {
        let entry = person.dn.clone().unwrap_or_else(|| person.key.clone());
        report.skipped.push((entry, why.to_string()));
        Ok(None)
    };
    let Ok(username) = Username::parse(&person.username) else {
        return skip(report, "username");
    };
    let Ok(email) = Email::parse(&person.email) else {
        return skip(report, "email");
    };
    let name = Name::parse(&person.display_name)
        .or_else(|_| Name::parse(username.as_str()))
        .map_err(|_| StoreError::rule("", "errors.required"))?;
    let by_key: Option<(User, Option<String>)> = users::table
        .filter(users::origin.eq(person.origin))
        .filter(users::external_id.eq(&person.key))
        .select((User::as_select(), users::external_dn))
        .first(conn)
        .optional()?;
    let by_name = super::users::find_by_username(conn, username.as_str())?;
    let existing = match (by_key, by_name) {
        // Renamed in the directory to a name someone else here has.
        (Some((user, _)), Some(other)) if other.id != user.id => {
            return skip(report, "username_taken");
        }
        (Some(found), _) => Some(found),
        // A name is never enough to be someone: a new person with a
        // former one's name gets an account of their own. The former
        // one's account, if they have left, gives the name up.
        (None, Some(other)) if other.origin == LDAP && person.origin == LDAP && !other.active => {
            give_up_name(conn, &other)?;
            None
        }
        (None, Some(other)) if other.origin == LOCAL => return skip(report, "local_account"),
        (None, Some(_)) => return skip(report, "username_taken"),
        (None, None) => None,
    };
    let at = At(now());
    let language = person.language.map(Lang::code);
    let Some((user, dn)) = existing else {
        let id: UserId = diesel::insert_into(users::table)
            .values((
                users::username.eq(username.as_str()),
                users::display_name.eq(name.as_str()),
                users::email.eq(email.as_str()),
                users::password_hash.eq(NO_LOCAL_PASSWORD),
                users::language.eq(language),
                users::active.eq(true),
                users::created_at.eq(at),
                users::updated_at.eq(at),
                users::origin.eq(person.origin),
                users::external_id.eq(&person.key),
                users::external_dn.eq(&person.dn),
            ))
            .returning(users::id)
            .get_result(conn)
            .map_err(|e| StoreError::unique_as(e, "username", "errors.username_taken"))?;
        audit::record(
            conn,
            Audit::by(None, "user.created", "user", id.0).with_detail(
                serde_json::json!({ "username": username.as_str(), "from": person.origin }),
            ),
        )?;
        return Ok(Some((id, Applied::Created)));
    };
    let language_changed = language.is_some() && user.language.as_deref() != language;
    let changed = user.username != username.as_str()
        || user.display_name != name.as_str()
        || user.email != email.as_str()
        || language_changed
        || dn != person.dn;
    if changed {
        diesel::update(users::table.find(user.id))
            .set((
                users::username.eq(username.as_str()),
                users::display_name.eq(name.as_str()),
                users::email.eq(email.as_str()),
                users::external_dn.eq(&person.dn),
                users::updated_at.eq(at),
            ))
            .execute(conn)?;
        if language_changed {
            diesel::update(users::table.find(user.id))
                .set(users::language.eq(language))
                .execute(conn)?;
        }
        audit::record(
            conn,
            Audit::by(None, "user.updated", "user", user.id.0)
                .with_detail(serde_json::json!({ "from": person.origin })),
        )?;
    }
    if !user.active {
        // Deactivated here (by an administrator, or by a sync when they
        // had left): whether they come back is an administrator's call.
        report.inactive.push(username.as_str().to_string());
    }
    let how = if changed {
        Applied::Updated
    } else {
        Applied::Unchanged
    };
    Ok(Some((user.id, how)))
}

/// Sets the person's manager to the active directory person with their
/// manager's DN; none if the entry names none. Whether it changed.
fn set_manager(
    conn: &mut DbConn,
    id: UserId,
    person: &Incoming,
    report: &mut Report,
) -> StoreResult<bool> {
    let manager = match &person.manager {
        None => None,
        Some(key) => {
            let found: Option<UserId> = users::table
                .filter(users::origin.eq(LDAP))
                .filter(users::external_dn.eq(key))
                .filter(users::active.eq(true))
                .select(users::id)
                .first(conn)
                .optional()?;
            let usable = match found {
                Some(m) => match super::users::check_manager(conn, Some(id), Some(m)) {
                    Ok(()) => Some(m),
                    Err(StoreError::Rule { .. }) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if usable.is_none() {
                report
                    .unmatched_managers
                    .push((person.username.clone(), key.clone()));
                return Ok(false);
            }
            usable
        }
    };
    let before: Option<UserId> = users::table
        .find(id)
        .select(users::manager_id)
        .first(conn)?;
    if before == manager {
        return Ok(false);
    }
    diesel::update(users::table.find(id))
        .set(users::manager_id.eq(manager))
        .execute(conn)?;
    Ok(true)
}

/// Grants the roles the person's groups map to and takes back those a
/// group granted that none does now; roles given by hand stay. Whether
/// anything changed.
fn reconcile_roles(
    conn: &mut DbConn,
    id: UserId,
    person: &Incoming,
    mappings: &[(String, RoleId, Option<BusinessId>)],
    report: &mut Report,
) -> StoreResult<bool> {
    let groups: HashSet<&str> = person.groups.iter().map(String::as_str).collect();
    let mut wanted: Vec<(RoleId, Option<BusinessId>)> = mappings
        .iter()
        .filter(|(group, _, _)| groups.contains(group.as_str()))
        .map(|(_, role, business)| (*role, *business))
        .collect();
    wanted.sort();
    wanted.dedup();
    let held: Vec<(AssignmentId, RoleId, Option<BusinessId>, bool)> = ra::table
        .filter(ra::user_id.eq(id))
        .select((ra::id, ra::role_id, ra::business_id, ra::from_group))
        .load(conn)?;
    let held_keys: HashMap<(RoleId, Option<BusinessId>), bool> =
        held.iter().map(|(_, r, b, g)| ((*r, *b), *g)).collect();
    let change = |role: RoleId, business: Option<BusinessId>| RoleChange {
        username: person.username.clone(),
        role_id: role.0,
        business_id: business.map(|b| b.0),
    };
    let mut changed = false;
    for (role, business) in &wanted {
        if held_keys.contains_key(&(*role, *business)) {
            continue;
        }
        diesel::insert_into(ra::table)
            .values((
                ra::user_id.eq(id),
                ra::role_id.eq(role),
                ra::business_id.eq(business),
                ra::created_at.eq(At(now())),
                ra::from_group.eq(true),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            Audit::by(None, "assignment.created", "user", id.0).with_detail(serde_json::json!({
                "role_id": role.0, "business_id": business.map(|b| b.0), "from": "group"
            })),
        )?;
        report.granted.push(change(*role, *business));
        changed = true;
    }
    for (assignment, role, business, from_group) in held {
        if !from_group || wanted.contains(&(role, business)) {
            continue;
        }
        if business.is_none() && is_admin_role(conn, role)? {
            // The last administrator stays one, whatever the directory says.
            if super::assignments::active_admin_count(conn)? <= 1 {
                continue;
            }
        }
        diesel::delete(ra::table.find(assignment)).execute(conn)?;
        audit::record(
            conn,
            Audit::by(None, "assignment.deleted", "user", id.0).with_detail(serde_json::json!({
                "role_id": role.0, "business_id": business.map(|b| b.0), "from": "group"
            })),
        )?;
        report.revoked.push(change(role, business));
        changed = true;
    }
    Ok(changed)
}

fn is_admin_role(conn: &mut DbConn, role: RoleId) -> StoreResult<bool> {
    let code: String = roles::table.find(role).select(roles::code).first(conn)?;
    Ok(code == "admin")
}

/// Deactivates someone the directory no longer lists: their sessions end
/// and their open work moves on (`leavers`), recorded as countersign's
/// own doing.
fn deactivate(conn: &mut DbConn, user: &User) -> StoreResult<()> {
    let at = At(now());
    diesel::update(users::table.find(user.id).filter(users::active.eq(true)))
        .set((
            users::active.eq(false),
            users::deactivated_at.eq(Some(at)),
            users::updated_at.eq(at),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::by(None, "user.deactivated", "user", user.id.0)
            .with_detail(serde_json::json!({ "from": LDAP })),
    )?;
    super::users::end_sessions(conn, user.id)?;
    super::leavers::leave(conn, user, None)
}
