//! Services: what people request, each bound explicitly to one deployed
//! version of a process, optionally visible only to some roles.

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::users::{SessionFacts, SessionKey, SessionUser, session_select, session_user_of};
use super::{StoreError, StoreResult, now, processes};
use crate::db::DbConn;
use crate::db::ids::{BusinessId, ProcessId, ServiceId, UserId, VersionId};
use crate::db::models::Service;
use crate::db::schema::{
    businesses, process_versions as pv, processes as p, role_assignments as ra, roles,
    services as s,
};
use crate::db::stamp::At;
use crate::domain::Name;

/// The validated fields of the service form.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    pub name_en: Name,
    pub name_zh: String,
    pub description: String,
    pub process: ProcessId,
    pub version: VersionId,
    /// Role codes that may use the service; empty means everyone.
    pub roles: Vec<String>,
}

impl ServiceRow {
    /// The process's name in the reader's language.
    pub fn process_name_in(&self, lang: crate::i18n::Lang) -> &str {
        let (en, zh) = &self.process_name;
        if lang == crate::i18n::Lang::ZhCn && !zh.trim().is_empty() {
            zh
        } else {
            en
        }
    }
}

/// A service with the names of its process and version, for lists.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub service: Service,
    /// The process's name in English and Chinese.
    pub process_name: (String, String),
    pub version_number: i32,
    /// The process has a newer version than the one the service uses.
    pub newer_version: Option<i32>,
}

pub fn list(conn: &mut DbConn, include_retired: bool) -> StoreResult<Vec<ServiceRow>> {
    let mut q = s::table
        .inner_join(pv::table)
        .inner_join(p::table.on(p::id.eq(s::process_id)))
        .order(s::name_en)
        .select((Service::as_select(), (p::name, p::name_zh), pv::number))
        .into_boxed();
    if !include_retired {
        q = q.filter(s::retired_at.is_null());
    }
    let rows: Vec<(Service, (String, String), i32)> = q.load(conn)?;
    let latest: Vec<(ProcessId, Option<i32>)> = pv::table
        .group_by(pv::process_id)
        .select((pv::process_id, diesel::dsl::max(pv::number)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(service, process_name, version_number)| {
            let newest = latest
                .iter()
                .find(|(id, _)| *id == service.process_id)
                .and_then(|(_, n)| *n);
            ServiceRow {
                service,
                process_name,
                version_number,
                newer_version: newest.filter(|n| *n > version_number),
            }
        })
        .collect())
}

/// The services in use that file a process, by English name: the designer
/// shows them and who may file through each.
pub fn of_process(conn: &mut DbConn, process: ProcessId) -> StoreResult<Vec<ServiceRow>> {
    Ok(list(conn, false)?
        .into_iter()
        .filter(|row| row.service.process_id == process)
        .collect())
}

pub fn find(conn: &mut DbConn, id: ServiceId) -> StoreResult<Service> {
    Ok(crate::direct!(conn, |c| s::table
        .find(id)
        .select(Service::as_select())
        .first(c))?)
}

fn check(conn: &mut DbConn, input: &ServiceInput) -> StoreResult<String> {
    let process = processes::find(conn, input.process).map_err(|e| match e {
        StoreError::NotFound => StoreError::rule("process_id", "errors.unknown_choice"),
        other => other,
    })?;
    let version_process: Option<ProcessId> = pv::table
        .find(input.version)
        .select(pv::process_id)
        .first(conn)
        .optional()?;
    if version_process != Some(input.process) {
        return Err(StoreError::rule(
            "version_id",
            "errors.version_not_of_process",
        ));
    }
    let known: Vec<String> = roles::table.select(roles::code).load(conn)?;
    if input.roles.iter().any(|r| !known.contains(r)) {
        return Err(StoreError::rule("roles", "errors.unknown_role"));
    }
    Ok(process.kind)
}

/// Every service's id and names (English, Chinese), retired ones too, by
/// English name, for a minute (another instance's change shows here
/// within it): for filters that offer them.
pub fn names(conn: &mut DbConn) -> StoreResult<std::sync::Arc<ServiceNames>> {
    NAMES.get(|| {
        Ok(crate::direct!(conn, |c| s::table
            .order(s::name_en)
            .select((s::id, s::name_en, s::name_zh))
            .load(c))?)
    })
}

/// Services' ids and names: English, Chinese.
pub type ServiceNames = Vec<(ServiceId, String, String)>;

static NAMES: super::cache::ShortCache<ServiceNames> =
    super::cache::ShortCache::new(std::time::Duration::from_secs(60));

pub fn create(conn: &mut DbConn, input: &ServiceInput, actor: UserId) -> StoreResult<ServiceId> {
    let kind = check(conn, input)?;
    let at = now();
    let id: ServiceId = diesel::insert_into(s::table)
        .values((
            s::name_en.eq(input.name_en.as_str()),
            s::name_zh.eq(&input.name_zh),
            s::kind.eq(kind),
            s::description.eq(&input.description),
            s::process_id.eq(input.process),
            s::version_id.eq(input.version),
            s::visible_roles
                .eq(serde_json::to_string(&input.roles).unwrap_or_else(|_| "[]".into())),
            s::created_at.eq(At(at)),
            s::updated_at.eq(At(at)),
        ))
        .returning(s::id)
        .get_result(conn)?;
    NAMES.forget();
    audit::record(conn, Audit::web(actor, "service.created", "service", id.0))?;
    Ok(id)
}

/// Updates a service; a change of the bound version is audited on its own,
/// since tickets filed from then on run on the new version.
pub fn update(
    conn: &mut DbConn,
    id: ServiceId,
    input: &ServiceInput,
    actor: UserId,
) -> StoreResult<()> {
    let before = find(conn, id)?;
    let kind = check(conn, input)?;
    diesel::update(s::table.find(id))
        .set((
            s::name_en.eq(input.name_en.as_str()),
            s::name_zh.eq(&input.name_zh),
            s::kind.eq(kind),
            s::description.eq(&input.description),
            s::process_id.eq(input.process),
            s::version_id.eq(input.version),
            s::visible_roles
                .eq(serde_json::to_string(&input.roles).unwrap_or_else(|_| "[]".into())),
            s::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    NAMES.forget();
    audit::record(conn, Audit::web(actor, "service.updated", "service", id.0))?;
    if before.version_id != input.version {
        audit::record(
            conn,
            Audit::web(actor, "service.rebound", "service", id.0).with_detail(serde_json::json!({
                "from_version": before.version_id.0, "to_version": input.version.0
            })),
        )?;
    }
    Ok(())
}

pub fn set_retired(
    conn: &mut DbConn,
    id: ServiceId,
    retired: bool,
    actor: UserId,
) -> StoreResult<()> {
    find(conn, id)?;
    diesel::update(s::table.find(id))
        .set((
            s::retired_at.eq(if retired { Some(At(now())) } else { None }),
            s::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    let action = if retired {
        "service.retired"
    } else {
        "service.reinstated"
    };
    audit::record(conn, Audit::web(actor, action, "service", id.0))
}

/// Whether `user` may use the service: it is live and either open to
/// everyone or to a role the user holds (anywhere).
pub fn usable_by(conn: &mut DbConn, service: &Service, user: UserId) -> StoreResult<bool> {
    if service.retired_at.is_some() || service.roles().is_empty() {
        // Decided without the person's roles.
        return Ok(usable(service, &[]));
    }
    // The person's roles, compared here: a fixed statement stays prepared,
    // where `code IN (…)` would be prepared again on every submission.
    let held: Vec<String> = crate::direct!(conn, |c| ra::table
        .inner_join(roles::table)
        .filter(ra::user_id.eq(user))
        .select(roles::code)
        .load(c))?;
    Ok(usable(service, &held))
}

/// The services `user` may use now (not retired, and open to everyone or
/// to a role they hold), by English name.
pub fn usable_by_person(conn: &mut DbConn, user: UserId) -> StoreResult<Vec<Service>> {
    let held = super::users::role_codes(conn, user)?;
    let all: Vec<Service> = crate::direct!(conn, |c| s::table
        .filter(s::retired_at.is_null())
        .order((s::name_en, s::id))
        .select(Service::as_select())
        .load(c))?;
    Ok(all.into_iter().filter(|s| usable(s, &held)).collect())
}

/// Whether someone holding the roles `held` (codes) may use the service.
pub fn usable(service: &Service, held: &[String]) -> bool {
    let wanted = service.roles();
    service.retired_at.is_none()
        && (wanted.is_empty() || held.iter().any(|code| wanted.iter().any(|w| w == code)))
}

/// What filing asks before it starts (`for_filing`).
pub struct ForFiling {
    /// Who is signed in.
    pub user: SessionUser,
    pub service: Service,
    /// Whether the service is theirs to use (`usable_by`).
    pub usable: bool,
    /// The name of the business chosen, when there is one.
    pub business: Option<String>,
}

/// The person signed in through the session `key`, the service `id`,
/// whether they may use it, and the business `business` chosen:
/// `None` when the session has ended or its person was deactivated (a
/// service that is not there is not found first, on both backends). On
/// PostgreSQL one statement (the service with the business's name and
/// the session's person, beside each role the person holds).
pub fn for_filing(
    conn: &mut DbConn,
    id: ServiceId,
    key: SessionKey,
    business: Option<BusinessId>,
) -> StoreResult<Option<ForFiling>> {
    let DbConn::Pg(pg) = conn else {
        let service = find(conn, id)?;
        let Some(user) = super::users::session_user(conn, key)? else {
            return Ok(None);
        };
        let usable = usable_by(conn, &service, user.id)?;
        let name = match business {
            Some(b) => super::businesses::name_of(conn, b)?,
            None => None,
        };
        return Ok(Some(ForFiling {
            user,
            service,
            usable,
            business: name,
        }));
    };
    let name = businesses::table
        .filter(businesses::id.nullable().eq(business))
        .select(businesses::name)
        .single_value();
    let held = ra::table
        .inner_join(roles::table)
        .filter(ra::user_id.eq(key.user))
        .select(roles::code);
    let at = At(now());
    // The service with the business's name and the session's person,
    // beside each role held.
    type Row = (
        ((Service, Option<String>), Option<SessionFacts>),
        Option<String>,
    );
    let rows: Vec<Row> = crate::db::prepared::beside_each(
        crate::db::prepared::beside_each(
            s::table.find(id).select((s::all_columns, name)),
            session_select!(key, at),
        ),
        held,
    )
    .load(pg)?;
    let (first, held) = crate::db::prepared::taken_apart(rows);
    let ((service, name), facts) = first.ok_or(StoreError::NotFound)?;
    let Some(facts) = facts else {
        return Ok(None);
    };
    let user = session_user_of(conn, facts)?;
    let usable = usable(&service, &held);
    Ok(Some(ForFiling {
        user,
        service,
        usable,
        business: name,
    }))
}
