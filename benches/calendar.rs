//! Change calendar benchmark: with 10,000 and with 100,000 changes stored
//! (the same 50 a day, so a larger history means more months, not busier
//! ones), 32 signed-in clients ask the release server for month views and
//! for the conflict check a change's preview makes (the freezes, the
//! changes overlapping its window on its hosts, and its plan), reporting
//! p50/p99 latency. The month view should not grow with history: windows
//! are found through the index on their start.
//!
//! `cargo bench --bench calendar` (SQLite); with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432` on PostgreSQL.
//! `BENCH_CHANGES` (100000) is the larger count, `BENCH_CLIENTS` (32),
//! `BENCH_SECONDS` (5).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Server, env_or, setup};
use countersign::db::Db;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

/// Changes a day in the seeded history.
const PER_DAY: usize = 50;
/// Hosts the changes touch (two each).
const HOSTS: usize = 2000;

/// The first day of the seeded history.
fn first_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("a date")
}

/// The demo, and `n` change tickets of its environment change, 50 a day
/// from 2020 on, each 1 to 4 hours on two of 2,000 hosts, most finished.
fn seed(url: &str, n: usize) -> anyhow::Result<(i32, i32)> {
    let db = Db::connect(url, 2)?;
    let hash = countersign::password::hash(countersign::store::demo::PASSWORD)?;
    db.write_sync(|c| countersign::store::demo::load(c, &hash))?;
    let (service, version, business, ops) = db.read_sync(|c| {
        use countersign::db::schema::{businesses as b, services as sv, users as u};
        let (service, version): (i32, i32) = sv::table
            .filter(sv::name_en.eq("Environment change"))
            .select((sv::id, sv::version_id))
            .first(c)?;
        let business: i32 = b::table
            .filter(b::name.eq("Payments"))
            .select(b::id)
            .first(c)?;
        let ops: i32 = u::table
            .filter(u::username.eq("ops.wang"))
            .select(u::id)
            .first(c)?;
        Ok((service, version, business, ops))
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
        let (mut applies, mut changes, mut items) = (Vec::new(), Vec::new(), Vec::new());
        for i in start..(start + chunk).min(n) {
            let id = i + 1;
            let day = first_day() + chrono::Duration::days((i / PER_DAY) as i64);
            let begins = day
                .and_hms_opt(((i * 7) % 20) as u32, 0, 0)
                .expect("a time");
            let ends = begins + chrono::Duration::hours(1 + (i % 4) as i64);
            let (s, e) = (
                begins.format("%Y-%m-%d %H:%M:%S"),
                ends.format("%Y-%m-%d %H:%M:%S"),
            );
            let status = if i % 10 == 0 { "running" } else { "finished" };
            let (h1, h2) = (i % HOSTS, (i * 31 + 7) % HOSTS);
            applies.push(format!(
                "({id}, 'CHG-B{id:07}', {service}, {version}, 'change', 'Change {id}', {ops}, {business}, '{status}', \
                 '{{\"reason\":\"bench\"}}', 'calendar-{id}', 1, '{s}', '{s}')"
            ));
            let (first, last) = countersign::flow::change::days((begins, ends));
            changes.push(format!(
                "({id}, '{s}', '{e}', FALSE, FALSE, {service}, {business}, '[\"host:h{h1:04}\",\"host:h{h2:04}\"]', {}, {})",
                first.to_epoch_days(),
                last.to_epoch_days()
            ));
            for h in [h1, h2] {
                items.push(format!("({id}, 'host:h{h:04}', '{s}', '{e}', FALSE)"));
            }
        }
        conn.batch_execute(&format!(
            "BEGIN;\
             INSERT INTO applies (id, serial, service_id, version_id, kind, title, applicant_id, business_id, status, form, submit_token, row_version, created_at, updated_at) VALUES {};\
             INSERT INTO changes (apply_id, starts_at, ends_at, long_window, emergency, service_id, business_id, items, first_day, last_day) VALUES {};\
             INSERT INTO change_items (apply_id, item, starts_at, ends_at, long_window) VALUES {};\
             COMMIT;",
            applies.join(","),
            changes.join(","),
            items.join(",")
        ))?;
    }
    if url.starts_with("postgres") {
        conn.batch_execute(
            "SELECT setval('applies_id_seq', (SELECT MAX(id) FROM applies)); ANALYZE;",
        )?;
    } else {
        conn.batch_execute("ANALYZE;")?;
    }
    Ok((service, business))
}

/// Latencies of each request the clients make for `seconds`; errors.
async fn run(
    clients: &[(reqwest::Client, String)],
    seconds: u64,
    request: impl Fn(&reqwest::Client, &str, usize) -> reqwest::RequestBuilder
    + Send
    + Sync
    + Clone
    + 'static,
) -> (Vec<Duration>, usize) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let stride = clients.len();
    let mut tasks = Vec::new();
    for (n, (client, csrf)) in clients.iter().enumerate() {
        let (client, csrf, request) = (client.clone(), csrf.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let (mut took, mut errors, mut i) = (Vec::new(), 0, n);
            while Instant::now() < deadline {
                let t = Instant::now();
                match request(&client, &csrf, i).send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        took.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
                i += stride;
            }
            (took, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (took, e) = t.await.expect("a client");
        all.extend(took);
        errors += e;
    }
    all.sort();
    (all, errors)
}

fn percentile(took: &[Duration], p: f64) -> f64 {
    took.get(((took.len() as f64 * p) as usize).min(took.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let large = env_or("BENCH_CHANGES", 100_000);
    let clients_n = env_or("BENCH_CLIENTS", 32);
    let seconds = env_or("BENCH_SECONDS", 5) as u64;
    let dir = tempfile::tempdir()?;
    // `BENCH_KEEP`: seed into this directory and leave the databases there.
    let kept = std::env::var("BENCH_KEEP")
        .ok()
        .map(std::path::PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "changes stored | scenario                          | req/s  | p50 ms | p99 ms | errors"
    );
    for n in [10_000, large] {
        let url = setup::database(
            "calendar",
            kept.as_deref().unwrap_or(dir.path()),
            &format!("c{n}"),
        )?;
        let (service, business) = seed(&url, n)?;
        let months = (n / PER_DAY / 30).max(1);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = Server(
            Command::new(env!("CARGO_BIN_EXE_countersign"))
                .arg("serve")
                .env("DATABASE_URL", &url)
                .env("BIND", format!("127.0.0.1:{port}"))
                .env("DATA_DIR", dir.path())
                .env("RUN_JOBS", "false")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?,
        );
        let base = format!("http://127.0.0.1:{port}");
        rt.block_on(async {
            while reqwest::get(format!("{base}/healthz")).await.is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut clients = Vec::new();
            for _ in 0..clients_n {
                clients.push(setup::signed_in(&base, "ops.wang").await);
            }
            let b = base.clone();
            let month = move |c: &reqwest::Client, _: &str, i: usize| {
                let date = first_day() + chrono::Duration::days((i % months * 30 + 15) as i64);
                c.get(format!("{b}/calendar?view=month&date={date}"))
            };
            let b = base.clone();
            let check = move |c: &reqwest::Client, csrf: &str, i: usize| {
                let day = first_day() + chrono::Duration::days((i % (n / PER_DAY)) as i64);
                let start = day.and_hms_opt(10, 0, 0).expect("a time");
                let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
                c.post(format!("{b}/services/{service}")).form(&[
                    ("csrf_token", csrf.to_string()),
                    ("intent", "preview".into()),
                    ("business_id", business.to_string()),
                    ("reason", "Benchmark".into()),
                    ("scope", "infrastructure".into()),
                    (
                        "affected_hosts",
                        format!("h{:04} h{:04}", i % HOSTS, (i * 13) % HOSTS),
                    ),
                    ("window.start", at(start)),
                    ("window.end", at(start + chrono::Duration::hours(3))),
                    ("rollback_plan", "Switch back".into()),
                ])
            };
            let rss = server.rss_kib();
            for (name, took) in [
                (
                    "GET /calendar (month view)",
                    run(&clients, seconds, month).await,
                ),
                (
                    "POST preview (conflict check)",
                    run(&clients, seconds, check).await,
                ),
            ] {
                let (took, errors) = took;
                println!(
                    "{n:>14} | {name:<33} | {:>6.0} | {:>6.2} | {:>6.2} | {errors}",
                    took.len() as f64 / seconds as f64,
                    percentile(&took, 0.5),
                    percentile(&took, 0.99),
                );
            }
            println!(
                "{n:>14} | server RSS {:.1} MiB (after signing in; {:.1} MiB now)",
                rss as f64 / 1024.0,
                server.rss_kib() as f64 / 1024.0
            );
        });
        drop(server);
        if kept.is_none() {
            setup::drop_database(&url)?;
        }
    }
    Ok(())
}
