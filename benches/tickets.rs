//! Ticket benchmark: stores many tickets, then measures (1) home, the inbox
//! and a ticket page at 32 concurrent clients, with the database statements
//! each load takes, and (2) how many complete change tickets
//! (submit → ops-lead approval → change summary → QC review, all over HTTP)
//! the server finishes per second with as many clients working at once,
//! its CPU time and database statements per ticket, its resident memory,
//! and how fast the mail those tickets write is sent to a mail server of
//! the benchmark's own.
//!
//! `cargo bench --bench tickets` (SQLite, 100,000 tickets); with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432` on PostgreSQL.
//! `BENCH_TICKETS` (100000), `BENCH_CLIENTS` (32), `BENCH_SECONDS` (5) tune it;
//! `BENCH_SERVER` runs another build of the server (to compare two builds);
//! `BENCH_INSTANCES` (1) starts that many servers on the one database;
//! `BENCH_SQLITE_SYNCHRONOUS=normal` relaxes SQLite's sync on commit.
//! `BENCH_API=1` files and decides through the JSON API (bearer tokens)
//! instead of the forms; `BENCH_WEBHOOKS=3` registers that many webhook
//! endpoints subscribed to every event, received by the benchmark, which
//! reports their delivery latency (event → receiver);
//! `BENCH_WEBHOOK_EVENTS=ticket.submitted,ticket.finished` subscribes them to
//! those events only (each endpoint gets the events of a ticket it asked for);
//! `BENCH_WEBHOOK_BATCH=1` has them take the events that wait together.
//! `BENCH_DEADLINES=1` gives every step of the demo's processes a deadline
//! (8 working hours, reminders at 50 % and 90 %, every 4 hours after,
//! the managers told), so each step starts and stops a timer.

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Server, env_or};
use countersign::db::Db;
use countersign::db::ids::UserId;
use countersign::domain::{Email, Name, Username};
use countersign::store::assignments::{self, Scope};
use countersign::store::users::{self, UserInput};
use countersign::store::{businesses, roles};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

const PASSWORD: &str = "countersign";
/// Businesses, each with its own ops lead, QC and ops people.
const BUSINESSES: usize = 20;
const OPS_PER_BUSINESS: usize = 10;

/// People: per business a lead, a QC and ops; the demo's processes.
fn seed_people(db: &Db) -> anyhow::Result<()> {
    let hash = countersign::password::hash(PASSWORD)?;
    db.write_sync(|c| countersign::store::demo::load(c, &hash))?;
    db.write_sync(|c| {
        let admin: UserId = users::find_by_username(c, "admin")?.expect("demo admin").id;
        let (lead, qc, ops) = (
            roles::find_by_code(c, "ops_lead")?,
            roles::find_by_code(c, "qc")?,
            roles::find_by_code(c, "ops")?,
        );
        let person = |name: &str| UserInput {
            display_name: Name::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.com")).unwrap(),
            manager_id: None,
            language: None,
        };
        for b in 0..BUSINESSES {
            let business =
                businesses::create(c, &Name::parse(&format!("Bench {b}")).unwrap(), "", admin)?;
            let mut add = |name: String, role| -> countersign::store::StoreResult<()> {
                let id = users::create(
                    c,
                    &Username::parse(&name).unwrap(),
                    &person(&name),
                    &hash,
                    None,
                )?;
                assignments::create(c, id, role, Scope::Business(business), admin)?;
                Ok(())
            };
            add(format!("lead.{b:02}"), lead.id)?;
            add(format!("qc.{b:02}"), qc.id)?;
            for o in 0..OPS_PER_BUSINESS {
                add(format!("ops.{b:02}.{o:02}"), ops.id)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Bulk-loads `n` environment-change tickets with literal SQL (no binds,
/// values we generate ourselves), 1 in 100 still waiting for its ops lead.
/// Gives every step but the submit of every deployed version a deadline.
pub(crate) fn with_deadlines(db: &Db) -> anyhow::Result<()> {
    use countersign::db::schema::process_versions as pv;
    use countersign::flow::{Deadline, Escalation, NodeKind, ProcessDef};
    use diesel::prelude::*;
    db.write_sync(|c| {
        let versions: Vec<(i32, String)> = pv::table.select((pv::id, pv::definition)).load(c)?;
        for (id, json) in versions {
            let mut def: ProcessDef = serde_json::from_str(&json).expect("a definition");
            for node in def.nodes.iter_mut().filter(|n| n.kind != NodeKind::Submit) {
                node.deadline = Some(Deadline {
                    hours: 8,
                    working: true,
                    remind_at: vec![50, 90],
                    repeat_hours: Some(4),
                    on_breach: Escalation::NotifyManagers,
                });
            }
            diesel::update(pv::table.find(id))
                .set(pv::definition.eq(serde_json::to_string(&def).expect("plain data")))
                .execute(c)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn seed_tickets(url: &str, n: usize) -> anyhow::Result<()> {
    let mut sqlite;
    let mut pg;
    let conn: &mut dyn SimpleConnection = if url.starts_with("postgres") {
        pg = PgConnection::establish(url)?;
        &mut pg
    } else {
        sqlite = diesel::sqlite::SqliteConnection::establish(url.trim_start_matches("sqlite://"))?;
        // The app's threads may still be closing their connections.
        sqlite.batch_execute("PRAGMA busy_timeout = 5000;")?;
        &mut sqlite
    };
    let chunk = 500;
    let mut sql = String::new();
    // Ids of the bench people, in creation order after the demo's.
    let first_bench_user = 15; // the demo creates 14 people
    let per_business = 2 + OPS_PER_BUSINESS;
    for start in (0..n).step_by(chunk) {
        sql.clear();
        sql.push_str("BEGIN;");
        let mut applies = Vec::new();
        let mut approves = Vec::new();
        let mut people = Vec::new();
        for i in start..(start + chunk).min(n) {
            let id = i + 1;
            let b = i % BUSINESSES;
            let base = first_bench_user + b * per_business;
            let (lead, qc, ops) = (
                base,
                base + 1,
                base + 2 + (i / BUSINESSES) % OPS_PER_BUSINESS,
            );
            let running = i % 100 == 0;
            let status = if running { "running" } else { "finished" };
            let day = 1 + (i / 5000) % 28;
            let at = format!("2026-10-{day:02} 09:{:02}:00", i % 60);
            applies.push(format!(
                "({id}, 'CHG-202610{day:02}-B{id:06}', 1, 1, 'change', 'Bench change {id}', {ops}, {business}, '{status}', \
                 '{{\"reason\":\"bench\",\"scope\":\"infrastructure\"}}', 'bench-{id}', 1, '{at}', '{at}')",
                business = b + 2
            ));
            for (pos, key, kind, user, done) in [
                (0, "submit", "submit", ops, true),
                (1, "lead_review", "approval", lead, !running),
                (2, "summary", "task", ops, !running),
                (3, "evaluation", "review", qc, !running),
            ] {
                let node = id * 4 + pos;
                let node_status = match (done, pos) {
                    (true, 1) => "approved",
                    (true, _) => "done",
                    (false, 1) => "active",
                    _ => "waiting",
                };
                approves.push(format!(
                    "({node}, {id}, {pos}, '{key}', '{key}', '', '{kind}', '{{\"mode\":\"any\"}}', '{node_status}', '[]', 1)"
                ));
                let person_status = match node_status {
                    "active" => "pending",
                    "waiting" => "waiting",
                    _ => "decided",
                };
                people.push(format!(
                    "({node}, {node}, {id}, 0, {user}, '{person_status}', '', '{at}')"
                ));
            }
        }
        sql.push_str(&format!(
            "INSERT INTO applies (id, serial, service_id, version_id, kind, title, applicant_id, business_id, status, form, submit_token, row_version, created_at, updated_at) VALUES {};",
            applies.join(",")
        ));
        sql.push_str(&format!(
            "INSERT INTO approves (id, apply_id, position, node_key, name_en, name_zh, kind, mode, status, notes, row_version) VALUES {};",
            approves.join(",")
        ));
        sql.push_str(&format!(
            "INSERT INTO approve_users (id, approve_id, apply_id, position, user_id, status, comment, created_at) VALUES {};",
            people.join(",")
        ));
        sql.push_str("COMMIT;");
        conn.batch_execute(&sql)?;
    }
    if url.starts_with("postgres") {
        // VACUUM does at once what autovacuum does within a minute of a
        // load this size: it marks the pages all-visible, so counting an
        // inbox reads its index alone, as on a database that has been
        // running a while.
        conn.batch_execute(
            "SELECT setval('applies_id_seq', (SELECT max(id) FROM applies)); \
             SELECT setval('approves_id_seq', (SELECT max(id) FROM approves)); \
             SELECT setval('approve_users_id_seq', (SELECT max(id) FROM approve_users));",
        )?;
        // Alone: statements sent together run as one transaction, which
        // VACUUM refuses.
        conn.batch_execute("VACUUM ANALYZE;")?;
    } else {
        conn.batch_execute("ANALYZE;")?;
    }
    Ok(())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // The server closes a connection idle for 5 s; letting go of it
        // sooner means a request never races that close.
        .pool_idle_timeout(Duration::from_secs(3))
        .build()
        .unwrap()
}

fn token_of(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" content=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

async fn signed_in(base: &str, username: &str) -> (reqwest::Client, String) {
    let client = no_redirects();
    let page = client
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = token_of(&page, "csrf-token");
    client
        .post(format!("{base}/sign-in"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    let home = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (client, token_of(&home, "csrf-token"))
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The action path (`/tickets/N/assignments/M`) on a ticket page.
fn action_of(page: &str) -> Option<String> {
    page.split("action=\"/tickets/").find_map(|s| {
        let path = s.split('"').next()?;
        path.contains("/assignments/")
            .then(|| format!("/tickets/{path}"))
    })
}

fn main() -> anyhow::Result<()> {
    let tickets = env_or("BENCH_TICKETS", 100_000);
    let clients = env_or("BENCH_CLIENTS", 32);
    let seconds = env_or("BENCH_SECONDS", 5) as u64;
    let instances = env_or("BENCH_INSTANCES", 1).max(1);
    let dir = tempfile::tempdir()?;
    // On PostgreSQL: the server's URL, its options (such as
    // `?sslmode=disable`, or `?host=/run/postgresql` for a Unix socket),
    // and the database made for this run.
    let pg = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let (server, options) = match url.split_once('?') {
                Some((server, options)) => (server.to_string(), format!("?{options}")),
                None => (url.clone(), String::new()),
            };
            let server = server.trim_end_matches('/').to_string();
            let name = format!("countersign_bench_t{}", std::process::id());
            let mut conn = PgConnection::establish(&format!("{server}/postgres{options}"))?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            Some(ScratchPg {
                server,
                options,
                name,
            })
        }
        _ => None,
    };
    let url = match &pg {
        Some(ScratchPg {
            server,
            options,
            name,
        }) => format!("{server}/{name}{options}"),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let started = Instant::now();
    let db = Db::connect(&url, 2)?;
    seed_people(&db)?;
    if std::env::var("BENCH_DEADLINES").is_ok_and(|v| v == "1") {
        with_deadlines(&db)?;
    }
    drop(db);
    seed_tickets(&url, tickets)?;
    let api = std::env::var("BENCH_API").is_ok_and(|v| v == "1");
    let hooks = env_or("BENCH_WEBHOOKS", 0);
    let tokens = if api {
        make_tokens(&url)?
    } else {
        Default::default()
    };
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "backend {backend}; {tickets} tickets stored in {:.1}s; {clients} clients, {seconds}s per run",
        started.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Mail goes to a mail server of the benchmark's own, as in production.
    let (smtp_port, mails) = rt.block_on(common::smtp::sink());
    // One server, or `BENCH_INSTANCES` of them on the one database, each
    // with a data folder of its own; the clients are spread over them.
    // `BENCH_SQLITE_SYNCHRONOUS=normal` runs SQLite as those who accept
    // losing the last commits to a power loss would.
    let server_url = match std::env::var("BENCH_SQLITE_SYNCHRONOUS") {
        Ok(level) if !level.is_empty() && !url.starts_with("postgres") => {
            format!("{url}?synchronous={level}")
        }
        _ => url.clone(),
    };
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for i in 0..instances {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = dir.path().join(format!("instance-{i}"));
        std::fs::create_dir_all(&data)?;
        servers.push(Server(
            Command::new(
                std::env::var("BENCH_SERVER")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| env!("CARGO_BIN_EXE_countersign").to_string()),
            )
            .arg("serve")
            .env("DATABASE_URL", &server_url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", &data)
            .env(
                "SECRET_KEY",
                "countersign-benchmark-secret-key-shared-by-every-instance",
            )
            .env("SMTP_HOST", "127.0.0.1")
            .env("SMTP_PORT", smtp_port.to_string())
            .env("SMTP_SECURITY", "none")
            // Warnings and errors show beside the figures.
            .env("RUST_LOG", "warn")
            .spawn()?,
        ));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let fleet = Fleet { servers, bases };
    let deliveries = if hooks > 0 {
        Some(rt.block_on(webhook_sink(&url, hooks))?)
    } else {
        None
    };
    let outbox = Outbox(Db::connect(&url, 1)?);
    rt.block_on(async {
        for base in &fleet.bases {
            while reqwest::get(format!("{base}/healthz")).await.is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if instances > 1 {
            println!("{instances} server instances on the one database");
        }
        // A server rolls up the dashboards' past days when it first sees
        // them (`jobs::insight`): once per day in steady state, but for a
        // freshly loaded history a catch-up that would run beside the
        // phases measured here. Wait until it stops moving and report it.
        let rolling = Instant::now();
        let (mut last, mut moved) = (None, Instant::now());
        while moved.elapsed() < Duration::from_secs(2) && rolling.elapsed() < Duration::from_secs(900) {
            let through = outbox.0.read_sync(countersign::store::insight::rolled_through).ok().flatten();
            if through != last {
                (last, moved) = (through, Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if last.is_some() {
            println!(
                "dashboards' history rolled up in {:.1} s before the phases",
                (moved - rolling).as_secs_f64()
            );
        }

        // 1. The pages people open most, each by 32 signed-in ops leads at
        // once: home, the inbox (each lead's holds their business's waiting
        // tickets) and a ticket of their business. The database statements
        // each load takes are counted by the server (`/metrics`).
        let mut leads = Vec::new();
        for i in 0..clients {
            let base = fleet.base(i);
            leads.push((base.clone(), signed_in(&base, &format!("lead.{:02}", i % BUSINESSES)).await.0));
        }
        for (name, page) in [("GET /", "/"), ("GET /inbox", "/inbox"), ("GET /tickets/N", "ticket")] {
            let sent_before = fleet.sent().await;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut tasks = Vec::new();
            for (i, (base, client)) in leads.iter().cloned().enumerate() {
                // A ticket of the lead's own business (seeded ticket i + 1
                // is in business i % 20, decided by its lead).
                let path = match page {
                    "ticket" => format!("/tickets/{}", i % BUSINESSES + 1),
                    other => other.to_string(),
                };
                tasks.push(tokio::spawn(async move {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let res = client.get(format!("{base}{path}")).send().await.unwrap();
                        assert!(res.status().is_success(), "{path}: {}", res.status());
                        let _ = res.bytes().await;
                        times.push(t.elapsed());
                    }
                    times
                }));
            }
            let mut times = Vec::new();
            for t in tasks {
                times.extend(t.await.unwrap());
            }
            let used = fleet.sent().await - sent_before;
            times.sort();
            println!(
                "{name:<19} {:>7.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   {:.2} statements each   server RSS {:>5.1} MiB",
                times.len() as f64 / seconds as f64,
                pct(&times, 0.5),
                pct(&times, 0.99),
                used.statements as f64 / times.len().max(1) as f64,
                fleet.rss_kib() as f64 / 1024.0
            );
        }

        // 2. Complete change tickets over HTTP, one worker per business.
        // Everyone signs in first: password hashing is not what this measures.
        // One worker per client, spread over the businesses: each files as
        // an ops person of its own, and its business's lead and QC decide.
        let mut people = Vec::new();
        for w in 0..clients {
            let (b, o) = (w % BUSINESSES, w / BUSINESSES % OPS_PER_BUSINESS);
            let base = fleet.base(w);
            people.push((
                signed_in(&base, &format!("ops.{b:02}.{o:02}")).await,
                signed_in(&base, &format!("lead.{b:02}")).await,
                signed_in(&base, &format!("qc.{b:02}")).await,
            ));
        }
        // The phase starts here (a profiler can start counting on this line).
        println!("filing tickets with {clients} workers");
        let mut tasks = Vec::new();
        let cpu_before = fleet.cpu_secs();
        let pg_before = common::postgres_cpu_secs();
        let db_before = fleet.sent().await;
        let (written_before, sent_before) = (outbox.written(), mails.count());
        let deadline = Instant::now() + Duration::from_secs(seconds);
        for (w, ((ops, ops_token), (lead, lead_token), (qc, qc_token))) in people.into_iter().enumerate() {
            let base = fleet.base(w);
            let business = (w % BUSINESSES + 2).to_string();
            if api {
                let (b, o) = (w % BUSINESSES, w / BUSINESSES % OPS_PER_BUSINESS);
                let secrets = [
                    tokens[&format!("ops.{b:02}.{o:02}")].clone(),
                    tokens[&format!("lead.{b:02}")].clone(),
                    tokens[&format!("qc.{b:02}")].clone(),
                ];
                tasks.push(tokio::spawn(api_worker(base, business, secrets, deadline)));
                continue;
            }
            tasks.push(tokio::spawn(async move {
                let mut done = 0usize;
                let mut requests = 0usize;
                let mut steps: [Vec<Duration>; 3] = Default::default();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let submit = [
                        ("csrf_token", ops_token.as_str()),
                        ("intent", "submit"),
                        ("business_id", business.as_str()),
                        ("reason", "Bench change"),
                        ("scope", "infrastructure"),
                        ("window.start", "2026-11-28T01:00"),
                        ("window.end", "2026-11-28T03:00"),
                        ("rollback_plan", "Roll back"),
                    ];
                    let res = ops.post(format!("{base}/services/1")).form(&submit).send().await.unwrap();
                    let ticket = res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
                    assert!(ticket.starts_with("/tickets/"), "submit failed: {}", res.status());
                    steps[0].push(t.elapsed());
                    requests += 1;
                    for (client, token, fields) in [
                        (&lead, &lead_token, vec![("intent", "approve")]),
                        (&ops, &ops_token, vec![("intent", "complete"), ("change_summary", "Done"), ("completed_at", "2026-11-28T02:00")]),
                        (&qc, &qc_token, vec![("intent", "complete"), ("metrics_impact", "None"), ("complaints", "0"), ("outcome", "successful")]),
                    ] {
                        let t = Instant::now();
                        let page = client.get(format!("{base}{ticket}")).send().await.unwrap().text().await.unwrap();
                        steps[1].push(t.elapsed());
                        let t = Instant::now();
                        let action = action_of(&page).expect("an action on the ticket");
                        let mut form = vec![("csrf_token", token.as_str())];
                        form.extend(fields);
                        let res = client.post(format!("{base}{action}")).form(&form).send().await.unwrap();
                        if !res.status().is_redirection() {
                            let status = res.status();
                            let body = res.text().await.unwrap_or_default();
                            let said = body.split("<main").nth(1).unwrap_or(&body);
                            panic!("{action} answered {status}: {}", &said[..said.len().min(1500)]);
                        }
                        steps[2].push(t.elapsed());
                        requests += 2;
                    }
                    done += 1;
                }
                (done, requests, steps)
            }));
        }
        let (mut done, mut requests) = (0, 0);
        let mut steps: [Vec<Duration>; 3] = Default::default();
        for t in tasks {
            let (d, r, s) = t.await.unwrap();
            done += d;
            requests += r;
            for (all, mine) in steps.iter_mut().zip(s) {
                all.extend(mine);
            }
        }
        let cpu = fleet.cpu_secs() - cpu_before;
        let pg_cpu = common::postgres_cpu_secs() - pg_before;
        let (written, sent, waiting) = (
            outbox.written() - written_before,
            mails.count() - sent_before,
            outbox.waiting(),
        );
        // How long the mail the phase wrote takes to leave once it is over.
        let drain_started = Instant::now();
        while outbox.waiting() > 0 && drain_started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drained = drain_started.elapsed();
        let used = fleet.sent().await - db_before;
        println!(
            "complete tickets    {:>7.1} /s      ({} tickets, {} requests, {:.0} req/s)   server RSS {:>5.1} MiB",
            done as f64 / seconds as f64,
            done,
            requests,
            requests as f64 / seconds as f64,
            fleet.rss_kib() as f64 / 1024.0
        );
        println!(
            "  server CPU        {:>6.2} ms per ticket ({:.2} cores)",
            cpu * 1000.0 / done.max(1) as f64,
            cpu / seconds as f64
        );
        if backend == "PostgreSQL" && pg_cpu > 0.0 {
            println!(
                "  PostgreSQL CPU    {:>6.2} ms per ticket ({:.2} cores; its processes on this machine)",
                pg_cpu * 1000.0 / done.max(1) as f64,
                pg_cpu / seconds as f64
            );
        }
        println!(
            "  database          {:>6.1} statements per ticket, {:.1} transactions (mail included)",
            used.statements as f64 / done.max(1) as f64,
            used.transactions as f64 / done.max(1) as f64
        );
        println!(
            "  mail              {:>6.0} /s written, {:.0} /s sent ({:.1} per ticket); {} waiting at the end, sent {:.1} s later",
            written as f64 / seconds as f64,
            sent as f64 / seconds as f64,
            written as f64 / done.max(1) as f64,
            waiting,
            drained.as_secs_f64()
        );
        if let Some(deliveries) = &deliveries {
            // Every delivery of the phase's events, once the sender is done.
            let per_ticket = match std::env::var("BENCH_WEBHOOK_EVENTS") {
                Ok(list) if !list.trim().is_empty() => list.split(',').count().min(EVENTS_PER_TICKET),
                _ => EVENTS_PER_TICKET,
            };
            let expected = done * per_ticket * hooks;
            let waited = Instant::now();
            while deliveries.lock().unwrap().len() < expected && waited.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut latencies = deliveries.lock().unwrap().clone();
            latencies.sort();
            println!(
                "  webhooks          {hooks} endpoints, {} deliveries: latency p50 {:>6.1} ms   p99 {:>6.1} ms",
                latencies.len(),
                pct(&latencies, 0.5),
                pct(&latencies, 0.99)
            );
        }
        let names = if api {
            ["POST api filing", "GET api ticket", "POST api action"]
        } else {
            ["POST submit", "GET ticket", "POST action"]
        };
        for (name, times) in names.iter().zip(steps.iter_mut()) {
            times.sort();
            println!(
                "  {name:<17} p50 {:>6.2} ms   p99 {:>6.2} ms",
                pct(times, 0.5),
                pct(times, 0.99)
            );
        }
    });
    drop(fleet);
    drop(outbox);
    drop(pg);
    Ok(())
}

/// Events one complete change ticket records (filed, steps started and
/// passed, decisions, finished): what each endpoint is sent per ticket.
const EVENTS_PER_TICKET: usize = 11;

/// An act token for every person a worker acts as, by username.
fn make_tokens(url: &str) -> anyhow::Result<std::collections::HashMap<String, String>> {
    use countersign::store::api_tokens::{self, NewToken, Scope};
    let db = Db::connect(url, 1)?;
    let now = db.now();
    let mut names = Vec::new();
    for b in 0..BUSINESSES {
        names.push(format!("lead.{b:02}"));
        names.push(format!("qc.{b:02}"));
        for o in 0..OPS_PER_BUSINESS {
            names.push(format!("ops.{b:02}.{o:02}"));
        }
    }
    Ok(db.write_sync(move |c| {
        let mut out = std::collections::HashMap::new();
        for name in names {
            let user = users::find_by_username(c, &name)?
                .expect("a bench person")
                .id;
            let new = NewToken {
                name: Name::parse("bench").unwrap(),
                scope: Scope::Act,
                days: 30,
            };
            out.insert(name, api_tokens::create(c, user, &new, user, now)?.1);
        }
        Ok(out)
    })?)
}

/// What the API's clients read of a filing's answer.
#[derive(serde::Deserialize)]
struct Filed {
    id: i64,
}

/// What the API's clients read of a ticket: its assignments.
#[derive(serde::Deserialize)]
struct Ticket {
    nodes: Vec<TicketNode>,
}

#[derive(serde::Deserialize)]
struct TicketNode {
    people: Vec<TicketPerson>,
}

#[derive(serde::Deserialize)]
struct TicketPerson {
    id: i64,
    status: String,
}

/// One worker filing and deciding complete change tickets through the
/// API: the filing, then for each step the ticket read to find the
/// person's assignment (as the form path reads the page) and the action.
async fn api_worker(
    base: String,
    business: String,
    [ops, lead, qc]: [String; 3],
    deadline: Instant,
) -> (usize, usize, [Vec<Duration>; 3]) {
    let client = reqwest::Client::new();
    let (mut done, mut requests) = (0usize, 0usize);
    let mut steps: [Vec<Duration>; 3] = Default::default();
    let post = |path: String, token: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    while Instant::now() < deadline {
        let t = Instant::now();
        let filing = serde_json::json!({
            "business_id": business.parse::<i32>().unwrap(),
            "fields": {
                "reason": "Bench change",
                "scope": "infrastructure",
                "window": { "start": "2026-11-28T01:00", "end": "2026-11-28T03:00" },
                "rollback_plan": "Roll back"
            }
        });
        let res = post("/api/v1/services/1/tickets".into(), &ops, filing)
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "filing failed: {}",
            res.text().await.unwrap_or_default()
        );
        let id = serde_json::from_slice::<Filed>(&res.bytes().await.unwrap())
            .unwrap()
            .id;
        steps[0].push(t.elapsed());
        requests += 1;
        for (token, who, action) in [
            (&lead, "lead", serde_json::json!({ "action": "approve" })),
            (
                &ops,
                "ops",
                serde_json::json!({ "action": "complete", "fields": { "change_summary": "Done", "completed_at": "2026-11-28T02:00" } }),
            ),
            (
                &qc,
                "qc",
                serde_json::json!({ "action": "complete", "fields": { "metrics_impact": "None", "complaints": "0" }, "outcome": "successful" }),
            ),
        ] {
            let t = Instant::now();
            let text = client
                .get(format!("{base}/api/v1/tickets/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            // What a client reads of the ticket: the assignments and their
            // status (the rest is skipped as it parses).
            let ticket: Ticket = serde_json::from_slice(&text).unwrap();
            steps[1].push(t.elapsed());
            let t = Instant::now();
            let assignment = ticket
                .nodes
                .iter()
                .flat_map(|n| &n.people)
                .find(|p| p.status == "pending")
                .map(|p| p.id)
                .unwrap_or_else(|| {
                    panic!(
                        "nothing waits for {who}: {}",
                        String::from_utf8_lossy(&text)
                    )
                });
            let mut body = action;
            body["assignment"] = serde_json::json!(assignment);
            let res = post(format!("/api/v1/tickets/{id}/actions"), token, body)
                .await
                .unwrap();
            let status = res.status();
            assert!(
                status.is_success(),
                "{who}: {status} {}",
                res.text().await.unwrap_or_default()
            );
            steps[2].push(t.elapsed());
            requests += 2;
        }
        done += 1;
    }
    (done, requests, steps)
}

/// Registers `n` webhook endpoints subscribed to every event, all
/// received here: each delivery's latency from its event's time to its
/// arrival is kept.
async fn webhook_sink(
    url: &str,
    n: usize,
) -> anyhow::Result<std::sync::Arc<std::sync::Mutex<Vec<Duration>>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let got: std::sync::Arc<std::sync::Mutex<Vec<Duration>>> = Default::default();
    let kept = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // A whole request: headers, then Content-Length bytes
                    // (looked for in bytes, the body read once it is all here).
                    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    let body_start = head_end + 4;
                    if buf.len() < body_start + len {
                        continue;
                    }
                    // One event, or several (`{"events": [...]}`): each one's
                    // time, found as a receiver that only logs would.
                    let body = &buf[body_start..body_start + len];
                    let arrived = chrono::Utc::now();
                    let marker = b"\"created_at\":\"";
                    let mut late = Vec::new();
                    let mut at = 0;
                    while let Some(i) = body[at..].windows(marker.len()).position(|w| w == marker) {
                        let from = at + i + marker.len();
                        let to = body[from..]
                            .iter()
                            .position(|&b| b == b'"')
                            .map_or(body.len(), |e| from + e);
                        if let Some(t) = std::str::from_utf8(&body[from..to])
                            .ok()
                            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                        {
                            late.push((arrived - t).to_std().unwrap_or_default());
                        }
                        at = to;
                    }
                    kept.lock().unwrap().extend(late);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    buf.drain(..body_start + len);
                }
            });
        }
    });
    let events: Vec<String> = std::env::var("BENCH_WEBHOOK_EVENTS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    let batch = std::env::var("BENCH_WEBHOOK_BATCH").is_ok_and(|v| v == "1");
    let db = Db::connect(url, 1)?;
    db.write_sync(move |c| {
        let admin = users::find_by_username(c, "admin")?.expect("demo admin").id;
        for i in 0..n {
            let new = countersign::store::webhooks::NewWebhook {
                name: format!("bench {i}"),
                url: format!("http://127.0.0.1:{port}/hook/{i}"),
                secret: "bench-secret".into(),
                kind: countersign::store::webhooks::Kind::Webhook,
                language: "en".into(),
                events: events.clone(),
                services: Vec::new(),
                businesses: Vec::new(),
                batch,
            };
            countersign::store::webhooks::create(c, &new, admin)?;
        }
        Ok(())
    })?;
    Ok(got)
}

/// The server instances of the run and their addresses.
struct Fleet {
    servers: Vec<Server>,
    bases: Vec<String>,
}

impl Fleet {
    /// The address client `i` works through.
    fn base(&self, i: usize) -> String {
        self.bases[i % self.bases.len()].clone()
    }

    /// CPU time all instances have used, in seconds.
    fn cpu_secs(&self) -> f64 {
        self.servers.iter().map(Server::cpu_secs).sum()
    }

    /// Resident memory of all instances, in KiB.
    fn rss_kib(&self) -> u64 {
        self.servers.iter().map(Server::rss_kib).sum()
    }

    /// What all instances have sent the database so far.
    async fn sent(&self) -> countersign::db::Sent {
        let mut all = countersign::db::Sent::default();
        for base in &self.bases {
            let one = statements_sent(base).await;
            all.statements += one.statements;
            all.transactions += one.transactions;
        }
        all
    }
}

/// What the server has sent its database so far, as its `/metrics` says
/// (all zero from a build without them).
async fn statements_sent(base: &str) -> countersign::db::Sent {
    let text = match reqwest::get(format!("{base}/metrics")).await {
        Ok(res) if res.status().is_success() => res.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    countersign::db::Sent {
        statements: value("countersign_db_statements_total "),
        transactions: value("countersign_db_transactions_total "),
    }
}

/// The run's outbox, read beside the server.
struct Outbox(Db);

impl Outbox {
    fn count(&self, waiting_only: bool) -> i64 {
        use countersign::db::schema::outbox as o;
        use diesel::prelude::*;
        self.0
            .read_sync(|c| {
                let all = o::table.count();
                Ok(if waiting_only {
                    all.filter(o::status.eq("pending")).get_result(c)?
                } else {
                    all.get_result(c)?
                })
            })
            .unwrap_or(0)
    }

    /// Messages written so far.
    fn written(&self) -> i64 {
        self.count(false)
    }

    /// Messages waiting to be sent.
    fn waiting(&self) -> i64 {
        self.count(true)
    }
}

/// The PostgreSQL database made for one run: the server's URL, its
/// options (such as `?sslmode=disable`) and the database's name. Dropped
/// with the run, also when the run fails half way.
struct ScratchPg {
    server: String,
    options: String,
    name: String,
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let ScratchPg {
            server,
            options,
            name,
        } = self;
        let dropped = PgConnection::establish(&format!("{server}/postgres{options}"))
            .map_err(anyhow::Error::from)
            .and_then(|mut conn| {
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .map_err(anyhow::Error::from)
            });
        if let Err(e) = dropped {
            eprintln!("could not drop the benchmark database {name}: {e}");
        }
    }
}
