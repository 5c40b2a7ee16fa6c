//! A stretch of time's figures computed from the tickets themselves: the
//! tickets filed in it, and those that ended in it (finished, rejected,
//! withdrawn) with their steps and the people who answered them. The
//! rollup stores a day's; a dashboard adds what is not rolled up yet.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{FigureRow, midnight};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, BusinessId, ServiceId, UserId};
use crate::db::one_of::one_of;
use crate::db::schema::{applies as a, approve_users as au, approves as n};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, Channel, Decided, ReviewOutcome, TicketStatus};
use crate::flow::NodeKind;
use crate::flow::figures::{Histogram, day_number};
use crate::store::StoreResult;

/// Reads ids in chunks small enough for any backend's bound parameters.
const CHUNK: usize = 5_000;

type Ended = (
    ApplyId,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<BusinessId>,
    ServiceId,
    TicketStatus,
    Option<ReviewOutcome>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

type Step = (
    ApproveId,
    ApplyId,
    String,
    String,
    String,
    NodeKind,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

type Vote = (
    ApproveId,
    ApplyId,
    UserId,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// A figure's key: day, business (0: none), service, figure, subject.
type Key = (i32, i32, i32, &'static str, String);

#[derive(Default)]
struct Cell {
    label: (String, String),
    n: i64,
    hist: Option<Histogram>,
}

/// The figures of days `from..until` (day numbers), every business and
/// service.
pub fn compute(conn: &mut DbConn, from: i32, until: i32) -> StoreResult<Vec<FigureRow>> {
    if until <= from {
        return Ok(Vec::new());
    }
    between(conn, midnight(from), midnight(until))
}

/// The figures of the tickets filed or ended at `start` or later and
/// before `end`, every business and service, each dated by the day it
/// happened.
pub fn between(
    conn: &mut DbConn,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> StoreResult<Vec<FigureRow>> {
    let mut cells: BTreeMap<Key, Cell> = BTreeMap::new();
    let mut count = |key: Key| {
        cells.entry(key).or_default().n += 1;
    };
    if end <= start {
        return Ok(Vec::new());
    }
    let (start, end) = (At(start), At(end));
    let business = |b: Option<BusinessId>| b.map_or(0, |b| b.0);

    let filed: Vec<(NaiveDateTime, Option<BusinessId>, ServiceId)> = a::table
        .filter(a::created_at.ge(start))
        .filter(a::created_at.lt(end))
        .select((a::created_at, a::business_id, a::service_id))
        .load(conn)?;
    for (at, b, s) in filed {
        count((
            day_number(at.date()),
            business(b),
            s.0,
            "filed",
            String::new(),
        ));
    }

    // By the moment alone: a status filter beside it leads SQLite to
    // read every ended ticket by status. Only ended tickets have one.
    let ended: Vec<Ended> = a::table
        .filter(a::finished_at.ge(start))
        .filter(a::finished_at.lt(end))
        .select((
            a::id,
            a::created_at,
            a::finished_at,
            a::business_id,
            a::service_id,
            a::status,
            a::outcome,
            a::due_at,
            a::overdue_at,
        ))
        .load(conn)?;
    // Each ended ticket's day, business and service, for its steps.
    let mut place: HashMap<ApplyId, (i32, i32, i32)> = HashMap::with_capacity(ended.len());
    let mut timed = Vec::new();
    for (id, created, finished, b, s, status, outcome, due, overdue) in &ended {
        let Some(finished) = *finished else { continue };
        let figure = match status {
            TicketStatus::Finished => "finished",
            TicketStatus::Rejected => "rejected",
            TicketStatus::Withdrawn => "withdrawn",
            _ => continue,
        };
        let key = (day_number(finished.date()), business(*b), s.0);
        place.insert(*id, key);
        count((key.0, key.1, key.2, figure, String::new()));
        if *status == TicketStatus::Finished {
            if let Some(o) = outcome {
                let figure = match o {
                    ReviewOutcome::Successful => "qc_successful",
                    ReviewOutcome::WithIssues => "qc_with_issues",
                    ReviewOutcome::Unsuccessful => "qc_unsuccessful",
                };
                count((key.0, key.1, key.2, figure, String::new()));
            }
            timed.push((
                (key.0, key.1, key.2, "lead", String::new()),
                (finished - *created).num_seconds(),
                (String::new(), String::new()),
            ));
        }
        if let Some(due) = due
            && (overdue.is_some() || finished > *due)
        {
            count((key.0, key.1, key.2, "breach", String::new()));
        }
    }

    let mut ids: Vec<ApplyId> = place.keys().copied().collect();
    ids.sort();
    let mut started: HashMap<ApproveId, NaiveDateTime> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let steps: Vec<Step> = crate::direct!(conn, |c| n::table
            .filter(one_of(n::apply_id, chunk.iter().copied()))
            .filter(n::started_at.is_not_null())
            .select((
                n::id,
                n::apply_id,
                n::node_key,
                n::name_en,
                n::name_zh,
                n::kind,
                n::started_at,
                n::decided_at,
                n::due_at,
                n::overdue_at,
            ))
            .load(c))?;
        for (id, apply, key, en, zh, kind, start, decided, due, overdue) in steps {
            let (Some(&(day, b, s)), Some(start)) = (place.get(&apply), start) else {
                continue;
            };
            started.insert(id, start);
            if let Some(due) = due
                && (overdue.is_some() || decided.is_some_and(|d| d > due))
            {
                count((day, b, s, "breach", String::new()));
            }
            if let (Some(decided), false) = (decided, kind == NodeKind::Submit) {
                timed.push((
                    (day, b, s, "node", key),
                    (decided - start).num_seconds(),
                    (en, zh),
                ));
            }
        }
        // Approvers' answers: not the applicant's filing, not what
        // countersign decided for someone, a timer or the system.
        let votes: Vec<Vote> = crate::direct!(conn, |c| au::table
            .filter(one_of(au::apply_id, chunk.iter().copied()))
            .filter(au::status.eq(AssignmentStatus::Decided))
            .filter(au::decision.ne_all([Decided::Submit, Decided::Auto]))
            .filter(au::channel.ne(Channel::Timer))
            .filter(au::channel.ne(Channel::System))
            .select((
                au::approve_id,
                au::apply_id,
                au::user_id,
                au::created_at,
                au::decided_at,
            ))
            .load(c))?;
        for (step, apply, user, created, decided) in votes {
            let (Some(&(day, b, s)), Some(decided)) = (place.get(&apply), decided) else {
                continue;
            };
            // Asked when the step started, or when added to it later.
            let asked = started.get(&step).map_or(created, |st| created.max(*st));
            timed.push((
                (day, b, s, "person", user.0.to_string()),
                (decided - asked).num_seconds(),
                (String::new(), String::new()),
            ));
        }
    }
    for (key, secs, label) in timed {
        let cell = cells.entry(key).or_default();
        cell.n += 1;
        cell.hist.get_or_insert_with(Histogram::new).add(secs);
        if cell.label.0.is_empty() {
            cell.label = label;
        }
    }
    Ok(cells
        .into_iter()
        .map(|((day, b, s, figure, subject), cell)| FigureRow {
            day,
            business_id: b,
            service_id: s,
            figure: figure.to_string(),
            subject,
            label_en: cell.label.0,
            label_zh: cell.label.1,
            n: cell.n,
            hist: cell.hist.map(|h| h.encode()).unwrap_or_default(),
        })
        .collect())
}
