//! Timer benchmark: with 100 and with 100,000 waiting steps that each have
//! a deadline (a timer each), what the job runner's idle look for the next
//! due timer costs, and how many due timers a second it fires (each a
//! reminder through the one door: its event, a notice with a fresh
//! one-click link, the timer moved to its next stage).
//!
//! `cargo bench --bench timers` (SQLite); with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432` on PostgreSQL.
//! `BENCH_TIMERS` (100000) is the larger count, `BENCH_FIRE` (20000) how
//! many of them are made due at once.

use std::time::Instant;

#[allow(dead_code)] // the timer benchmark starts no server
mod common;

use common::env_or;
use countersign::db::Db;
use countersign::flow::{Deadline, Escalation, ProcessDef};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

/// A database of its own for one size: SQLite in `dir`, or a PostgreSQL
/// database made for the run (dropped at the end).
fn database(dir: &std::path::Path, label: &str) -> anyhow::Result<(String, Option<String>)> {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let (server, options) = match url.split_once('?') {
                Some((s, o)) => (s.trim_end_matches('/').to_string(), format!("?{o}")),
                None => (url.trim_end_matches('/').to_string(), String::new()),
            };
            let name = format!("countersign_bench_timers_{label}_{}", std::process::id());
            let admin = format!("{server}/postgres{options}");
            let mut conn = PgConnection::establish(&admin)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            Ok((format!("{server}/{name}{options}"), Some(admin)))
        }
        _ => Ok((
            format!("sqlite://{}", dir.join(format!("{label}.db")).display()),
            None,
        )),
    }
}

/// The demo (its people and processes, the change's review given an
/// 8-hour deadline reminded at half time), and `n` running change tickets
/// waiting at that review, each with its timer due far ahead.
fn seed(url: &str, n: usize) -> anyhow::Result<()> {
    let db = Db::connect(url, 2)?;
    let hash = countersign::password::hash("countersign")?;
    db.write_sync(|c| countersign::store::demo::load(c, &hash))?;
    // The change service, its version, the business and the people.
    let (service, version, business, lead, ops) = db.read_sync(|c| {
        use countersign::db::schema::{businesses as b, services as sv, users as u};
        let (service, version): (i32, i32) = sv::table
            .filter(sv::name_en.eq("Environment change"))
            .select((sv::id, sv::version_id))
            .first(c)?;
        let business: i32 = b::table
            .filter(b::name.eq("Payments"))
            .select(b::id)
            .first(c)?;
        let person = |c: &mut countersign::db::DbConn, name: &str| {
            u::table
                .filter(u::username.eq(name))
                .select(u::id)
                .first::<i32>(c)
        };
        Ok((
            service,
            version,
            business,
            person(c, "ops.lead")?,
            person(c, "ops.wang")?,
        ))
    })?;
    db.write_sync(|c| {
        use countersign::db::schema::process_versions as pv;
        let (id, json): (i32, String) = pv::table
            .find(version)
            .select((pv::id, pv::definition))
            .first(c)?;
        let mut def: ProcessDef = serde_json::from_str(&json).expect("a definition");
        def.nodes[1].deadline = Some(Deadline {
            hours: 8,
            working: false,
            remind_at: vec![50],
            repeat_hours: None,
            on_breach: Escalation::MarkOverdue,
        });
        diesel::update(pv::table.find(id))
            .set(pv::definition.eq(serde_json::to_string(&def).expect("plain data")))
            .execute(c)?;
        Ok(())
    })?;
    drop(db);
    let mut sqlite;
    let mut pg;
    let conn: &mut dyn SimpleConnection = if url.starts_with("postgres") {
        pg = PgConnection::establish(url)?;
        &mut pg
    } else {
        sqlite = diesel::sqlite::SqliteConnection::establish(url.trim_start_matches("sqlite://"))?;
        sqlite.batch_execute("PRAGMA busy_timeout = 5000;")?;
        &mut sqlite
    };
    let chunk = 1000;
    for start in (0..n).step_by(chunk) {
        let (mut applies, mut approves, mut people, mut timers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in start..(start + chunk).min(n) {
            let id = i + 1;
            let at = "2026-10-01 09:00:00";
            applies.push(format!(
                "({id}, 'CHG-20261001-T{id:06}', {service}, {version}, 'change', 'Timed change {id}', {ops}, {business}, 'running', \
                 '{{\"reason\":\"bench\",\"scope\":\"infrastructure\"}}', 'timed-{id}', 1, '{at}', '{at}')"
            ));
            for (pos, key, kind, user, status, person) in [
                (0, "submit", "submit", ops, "done", "decided"),
                (1, "lead_review", "approval", lead, "active", "pending"),
            ] {
                let node = id * 2 + pos;
                approves.push(format!(
                    "({node}, {id}, {pos}, '{key}', '{key}', '', '{kind}', '{{\"mode\":\"any\"}}', '{status}', '[]', 1, '{at}')"
                ));
                people.push(format!(
                    "({node}, {node}, {id}, 0, {user}, '{person}', '', '{at}')"
                ));
            }
            timers.push(format!(
                "({id}, {id}, {node}, 0, '2099-01-01 00:00:00', '{at}')",
                node = id * 2 + 1
            ));
        }
        conn.batch_execute(&format!(
            "BEGIN;\
             INSERT INTO applies (id, serial, service_id, version_id, kind, title, applicant_id, business_id, status, form, submit_token, row_version, created_at, updated_at) VALUES {};\
             INSERT INTO approves (id, apply_id, position, node_key, name_en, name_zh, kind, mode, status, notes, row_version, started_at) VALUES {};\
             INSERT INTO approve_users (id, approve_id, apply_id, position, user_id, status, comment, created_at) VALUES {};\
             INSERT INTO timers (id, apply_id, approve_id, stage, due_at, since) VALUES {};\
             COMMIT;",
            applies.join(","),
            approves.join(","),
            people.join(","),
            timers.join(",")
        ))?;
    }
    if url.starts_with("postgres") {
        conn.batch_execute(
            "SELECT setval('applies_id_seq', (SELECT MAX(id) FROM applies));\
             SELECT setval('approves_id_seq', (SELECT MAX(id) FROM approves));\
             SELECT setval('approve_users_id_seq', (SELECT MAX(id) FROM approve_users));\
             SELECT setval('timers_id_seq', (SELECT MAX(id) FROM timers));\
             ANALYZE;",
        )?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let large = env_or("BENCH_TIMERS", 100_000);
    let fire = env_or("BENCH_FIRE", 20_000).min(large);
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut made = Vec::new();
    println!(
        "timers waiting | idle look (µs, median of 2000) | its statement alone (µs) | statements a look"
    );
    for n in [100, large] {
        let (url, admin) = database(dir.path(), &format!("t{n}"))?;
        made.push((url.clone(), admin));
        seed(&url, n)?;
        let db = Db::connect(&url, 4)?;
        // The look as the runner makes it (a unit of work of its own),
        // and the statement alone, many times in one unit.
        let mut took = Vec::with_capacity(2000);
        let before = db.sent();
        rt.block_on(async {
            for _ in 0..2000 {
                let start = Instant::now();
                let next = db
                    .read(countersign::store::timers::next_due)
                    .await
                    .expect("the next due timer");
                took.push(start.elapsed());
                assert!(next.is_some());
            }
        });
        let sent = db.sent().statements - before.statements;
        took.sort();
        let alone = db.read_sync(|c| {
            let start = Instant::now();
            for _ in 0..20_000 {
                countersign::store::timers::next_due(c)?;
            }
            Ok(start.elapsed().as_secs_f64() * 1e6 / 20_000.0)
        })?;
        println!(
            "{n:>14} | {:>30.1} | {:>21.1} | {:.1}",
            took[took.len() / 2].as_secs_f64() * 1e6,
            alone,
            sent as f64 / 2000.0
        );
        if n == large {
            // `fire` of them due now, their reminder the stage due.
            let now = db.now();
            let since = now - chrono::Duration::hours(5);
            let due = now - chrono::Duration::minutes(1);
            let stamp = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            db.write_sync(|c| {
                diesel::sql_query(format!(
                    "UPDATE timers SET due_at = '{}', since = '{}' WHERE id <= {fire}",
                    stamp(due),
                    stamp(since)
                ))
                .execute(c)?;
                Ok(())
            })?;
            let start = Instant::now();
            let cpu = cpu_seconds();
            let mut fired = 0;
            rt.block_on(async {
                loop {
                    let n = countersign::jobs::turn(&db, "bench").await;
                    if n == 0 {
                        break;
                    }
                    fired += n;
                }
            });
            let secs = start.elapsed().as_secs_f64();
            let reminded: i64 = db.read_sync(|c| {
                Ok(countersign::db::schema::audit_events::table
                    .filter(countersign::db::schema::audit_events::action.eq("node.reminded"))
                    .count()
                    .get_result(c)?)
            })?;
            println!(
                "fired {fired} due timers of {n} in {secs:.2}s: {:.0} a second, {:.0} µs of CPU each; {reminded} reminders recorded",
                fired as f64 / secs,
                (cpu_seconds() - cpu) * 1e6 / fired.max(1) as f64
            );
        }
    }
    for (url, admin) in made {
        if let Some(admin) = admin {
            let name = url.rsplit('/').next().unwrap_or_default();
            let name = name.split('?').next().unwrap_or_default();
            let mut conn = PgConnection::establish(&admin)?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)?;
        }
    }
    Ok(())
}

/// This process's CPU time so far (user and system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
