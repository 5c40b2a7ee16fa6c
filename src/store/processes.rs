//! Processes: editable drafts (a `ProcessDef` as JSON with a revision for
//! optimistic locking) and the immutable versions that deploy makes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now, roles};
use crate::db::DbConn;
use crate::db::ids::{ProcessId, UserId, VersionId};
use crate::db::models::{Process, ProcessVersion};
use crate::db::schema::{process_versions as pv, processes as p, users};
use crate::db::stamp::At;
use crate::flow::validate::{Known, Problem, validate};
use crate::flow::{ProcessDef, ProcessKind};

/// A process in the list, with its newest version number.
#[derive(Debug, Clone)]
pub struct ProcessRow {
    pub process: Process,
    pub latest: Option<i32>,
}

/// A deployed version with who deployed it.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: ProcessVersion,
    pub deployed_by: String,
}

fn to_json(def: &ProcessDef) -> StoreResult<String> {
    serde_json::to_string(def).map_err(|e| StoreError::Unexpected(e.into()))
}

/// Reads a stored definition; a row that does not parse is a bug, not input.
pub fn parse_def(json: &str) -> StoreResult<ProcessDef> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("stored definition: {e}")))
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<ProcessRow>> {
    let processes: Vec<Process> = p::table
        .order(p::name)
        .select(Process::as_select())
        .load(conn)?;
    let latest: Vec<(ProcessId, Option<i32>)> = pv::table
        .group_by(pv::process_id)
        .select((pv::process_id, diesel::dsl::max(pv::number)))
        .load(conn)?;
    Ok(processes
        .into_iter()
        .map(|process| ProcessRow {
            latest: latest
                .iter()
                .find(|(id, _)| *id == process.id)
                .and_then(|(_, n)| *n),
            process,
        })
        .collect())
}

pub fn find(conn: &mut DbConn, id: ProcessId) -> StoreResult<Process> {
    Ok(p::table.find(id).select(Process::as_select()).first(conn)?)
}

/// The process with its draft parsed.
pub fn find_draft(conn: &mut DbConn, id: ProcessId) -> StoreResult<(Process, ProcessDef)> {
    let process = find(conn, id)?;
    let def = parse_def(&process.draft)?;
    Ok((process, def))
}

pub fn create(conn: &mut DbConn, def: &ProcessDef, actor: UserId) -> StoreResult<ProcessId> {
    let at = now();
    let id: ProcessId = diesel::insert_into(p::table)
        .values((
            p::name.eq(&def.name.en),
            p::name_zh.eq(&def.name.zh),
            p::kind.eq(def.kind.as_str()),
            p::draft.eq(to_json(def)?),
            p::enabled.eq(false),
            p::revision.eq(1),
            p::created_by.eq(actor),
            p::created_at.eq(At(at)),
            p::updated_at.eq(At(at)),
        ))
        .returning(p::id)
        .get_result(conn)?;
    audit::record(conn, Audit::web(actor, "process.created", "process", id.0))?;
    Ok(id)
}

/// Saves a changed draft if nobody saved since `expected_revision` was
/// read; returns the new revision. A stale revision is refused with a
/// message, so two admins editing one draft never overwrite each other.
pub fn save_draft(
    conn: &mut DbConn,
    id: ProcessId,
    expected_revision: i32,
    def: &ProcessDef,
    actor: UserId,
) -> StoreResult<i32> {
    find(conn, id)?;
    let n = diesel::update(p::table.find(id).filter(p::revision.eq(expected_revision)))
        .set((
            p::name.eq(&def.name.en),
            p::name_zh.eq(&def.name.zh),
            p::kind.eq(def.kind.as_str()),
            p::draft.eq(to_json(def)?),
            p::revision.eq(expected_revision + 1),
            p::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.draft_changed"));
    }
    audit::record(
        conn,
        Audit::web(actor, "process.draft_saved", "process", id.0),
    )?;
    Ok(expected_revision + 1)
}

/// Loads the draft at `expected_revision`, lets `change` edit it, and saves
/// it — all in the caller's transaction.
pub fn edit_draft(
    conn: &mut DbConn,
    id: ProcessId,
    expected_revision: i32,
    actor: UserId,
    change: impl FnOnce(&mut ProcessDef) -> StoreResult<()>,
) -> StoreResult<i32> {
    let (process, mut def) = find_draft(conn, id)?;
    if process.revision != expected_revision {
        return Err(StoreError::rule("", "errors.draft_changed"));
    }
    change(&mut def)?;
    save_draft(conn, id, expected_revision, &def, actor)
}

pub fn set_enabled(
    conn: &mut DbConn,
    id: ProcessId,
    expected_revision: i32,
    enabled: bool,
    actor: UserId,
) -> StoreResult<()> {
    let n = diesel::update(p::table.find(id).filter(p::revision.eq(expected_revision)))
        .set((
            p::enabled.eq(enabled),
            p::revision.eq(expected_revision + 1),
            p::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    if n == 0 {
        find(conn, id)?;
        return Err(StoreError::rule("", "errors.draft_changed"));
    }
    let action = if enabled {
        "process.enabled"
    } else {
        "process.disabled"
    };
    audit::record(conn, Audit::web(actor, action, "process", id.0))
}

/// The problems deploying the draft would meet.
pub fn problems(conn: &mut DbConn, def: &ProcessDef) -> StoreResult<Vec<Problem>> {
    let codes: Vec<String> = roles::list(conn)?.into_iter().map(|r| r.code).collect();
    let businesses: Vec<String> = super::businesses::names(conn)?
        .iter()
        .map(|(_, name)| name.clone())
        .collect();
    Ok(validate(
        def,
        &Known {
            roles: &codes,
            businesses: &businesses,
        },
    ))
}

/// Freezes the draft as the next version. Returns the version number, or
/// every problem that stands in the way (nothing is written then). A
/// disabled process is refused unless `enable` ("Enable and deploy"),
/// which enables it only when the draft deploys.
pub fn deploy(
    conn: &mut DbConn,
    id: ProcessId,
    message: &str,
    actor: UserId,
    enable: bool,
) -> StoreResult<Result<(VersionId, i32), Vec<Problem>>> {
    let (process, def) = find_draft(conn, id)?;
    if !process.enabled && !enable {
        return Err(StoreError::rule("", "errors.process_not_enabled"));
    }
    let found = problems(conn, &def)?;
    if !found.is_empty() {
        return Ok(Err(found));
    }
    if !process.enabled {
        set_enabled(conn, id, process.revision, true, actor)?;
    }
    let latest: Option<i32> = pv::table
        .filter(pv::process_id.eq(id))
        .select(diesel::dsl::max(pv::number))
        .first(conn)?;
    let number = latest.unwrap_or(0) + 1;
    let version: VersionId = diesel::insert_into(pv::table)
        .values((
            pv::process_id.eq(id),
            pv::number.eq(number),
            pv::definition.eq(to_json(&def)?),
            pv::message.eq(message),
            pv::deployed_by.eq(actor),
            pv::deployed_at.eq(At(now())),
        ))
        .returning(pv::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "", "errors.deploy_race"))?;
    audit::record(
        conn,
        Audit::web(actor, "process.deployed", "process", id.0)
            .with_detail(serde_json::json!({ "version": number })),
    )?;
    Ok(Ok((version, number)))
}

pub fn versions(conn: &mut DbConn, id: ProcessId) -> StoreResult<Vec<VersionRow>> {
    let rows: Vec<(ProcessVersion, Option<String>)> = pv::table
        .left_join(users::table.on(pv::deployed_by.eq(users::id.nullable())))
        .filter(pv::process_id.eq(id))
        .order(pv::number.desc())
        .select((ProcessVersion::as_select(), users::display_name.nullable()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(version, by)| VersionRow {
            version,
            deployed_by: by.unwrap_or_default(),
        })
        .collect())
}

pub fn version(conn: &mut DbConn, id: ProcessId, number: i32) -> StoreResult<ProcessVersion> {
    Ok(pv::table
        .filter(pv::process_id.eq(id))
        .filter(pv::number.eq(number))
        .select(ProcessVersion::as_select())
        .first(conn)?)
}

/// Parsed definitions of deployed versions, keyed by database and version.
/// Versions never change and are never deleted, so a ticket's definition
/// is read and parsed once per process rather than on every page and
/// action. The database key (`db::unit_of`) keeps one process serving
/// several databases right (the tests do).
static PARSED: OnceLock<Mutex<Parsed>> = OnceLock::new();
/// Definitions and numbers by (database, version).
type Parsed = HashMap<(u64, VersionId), (Arc<ProcessDef>, i32)>;
/// Enough for every version in use; past it the cache starts over.
const PARSED_MAX: usize = 512;

/// A deployed version's definition, parsed, and its number: read once, as
/// a deployed version never changes.
fn deployed(conn: &mut DbConn, id: VersionId) -> StoreResult<(Arc<ProcessDef>, i32)> {
    let read = |conn: &mut DbConn| -> StoreResult<(Arc<ProcessDef>, i32)> {
        let (json, number): (String, i32) = crate::direct!(conn, |c| pv::table
            .find(id)
            .select((pv::definition, pv::number))
            .first(c))?;
        Ok((Arc::new(parse_def(&json)?), number))
    };
    let Some(db) = crate::db::unit_of() else {
        return read(conn);
    };
    let cache = PARSED.get_or_init(Default::default);
    if let Some(known) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(db, id))
    {
        return Ok(known.clone());
    }
    let found = read(conn)?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= PARSED_MAX {
        cache.clear();
    }
    cache.insert((db, id), found.clone());
    Ok(found)
}

/// The definition of a deployed version, parsed once.
pub fn definition(conn: &mut DbConn, id: VersionId) -> StoreResult<Arc<ProcessDef>> {
    Ok(deployed(conn, id)?.0)
}

/// The number of a deployed version (v1, v2, …), read once.
pub fn version_number(conn: &mut DbConn, id: VersionId) -> StoreResult<i32> {
    Ok(deployed(conn, id)?.1)
}

pub fn version_by_id(conn: &mut DbConn, id: VersionId) -> StoreResult<ProcessVersion> {
    Ok(pv::table
        .find(id)
        .select(ProcessVersion::as_select())
        .first(conn)?)
}

pub fn latest_version(conn: &mut DbConn, id: ProcessId) -> StoreResult<Option<ProcessVersion>> {
    Ok(pv::table
        .filter(pv::process_id.eq(id))
        .order(pv::number.desc())
        .select(ProcessVersion::as_select())
        .first(conn)
        .optional()?)
}

/// A new draft with the same definition, named "… (copy)".
pub fn clone(conn: &mut DbConn, id: ProcessId, actor: UserId) -> StoreResult<ProcessId> {
    let (_, mut def) = find_draft(conn, id)?;
    def.name.en = format!("{} (copy)", def.name.en);
    if !def.name.zh.is_empty() {
        def.name.zh = format!("{}(副本)", def.name.zh);
    }
    let new = create(conn, &def, actor)?;
    audit::record(
        conn,
        Audit::web(actor, "process.cloned", "process", new.0)
            .with_detail(serde_json::json!({ "from": id.0 })),
    )?;
    Ok(new)
}

/// The kind stored on a process row.
pub fn kind(process: &Process) -> ProcessKind {
    ProcessKind::parse(&process.kind).unwrap_or(ProcessKind::Request)
}
