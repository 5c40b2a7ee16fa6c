//! Change dashboards benchmark: with 1,000,000 tickets stored (filed over
//! the last 1,000 days, about 1,000 a day, across 20 businesses and the
//! demo's services), how long the daily rollup takes to catch up on that
//! history, and the p50/p99 latency of `GET /insight` — as it opens (the
//! last 12 weeks by week), a year by month, and one business — with
//! several administrators signed in at once: the first requests after a
//! day is rolled up (which changes nothing a dashboard keeps), warm, and
//! the first after the server starts (each dashboard built from the
//! stored rows and today's tickets). The goal is a p99 under 50 ms.
//!
//! The tickets are bulk-loaded with SQL (`INSERT … SELECT` from a
//! generated series) before the server starts: every ticket has its steps
//! (`approves`) and each step its person (`approve_users`), as filing and
//! deciding write them; most ended (finished, rejected, withdrawn) a few
//! hours to days after filing, most finished changes carry a QC outcome,
//! some have deadlines they missed, and about 1 % are still waiting at a
//! step (the "waiting longest" table). The rollup is run here, through the
//! store functions the job runner calls (`next_to_roll`, `compute`,
//! `roll_up`); the server runs no jobs. Before each timed run the page is
//! read once and its volume table checked against the tickets stored, so
//! the benchmark never times an empty page.
//!
//! `cargo bench --bench insight` (SQLite); with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432` on PostgreSQL.
//! `BENCH_TICKETS` (1000000), `BENCH_DAYS` (1000) the history they are
//! filed over, `BENCH_CLIENTS` (8), `BENCH_SECONDS` (10) each warm run,
//! `BENCH_ROUNDS` (3) server starts, each giving one cold request per
//! client and page (after a rollup there is one round: yesterday's).
//! `BENCH_SQLITE_ANALYZE=1` runs ANALYZE after loading SQLite
//! (countersign itself never does; PostgreSQL's autovacuum does, so it
//! is always analyzed there). `BENCH_KEEP=DIR` keeps the database
//! (SQLite in DIR; PostgreSQL: not dropped);
//! `BENCH_REUSE=URL` measures a database kept earlier without loading;
//! `BENCH_END_OF_DAY=1` ends the history at midnight rather than now, so
//! today holds a whole day's tickets whatever the time the benchmark
//! runs — those dated ahead of the clock are the minutes not yet settled,
//! read on every request (a harsher case than any real day);
//! `BENCH_SERVER` runs another build of the server (to compare two; the
//! rollup is timed with the code this benchmark was built with).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use chrono::{NaiveDate, Utc};
use common::{Server, env_or, setup};
use countersign::db::Db;
use countersign::db::ids::UserId;
use countersign::domain::{Email, Name, Username};
use countersign::flow::{NodeKind, ProcessDef};
use countersign::store::assignments::{self, Scope};
use countersign::store::users::{self, UserInput};
use countersign::store::{businesses, insight, roles};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

/// Businesses, each with its ops lead, QC and ops people (who file).
const BUSINESSES: usize = 20;
const OPS_PER_BUSINESS: usize = 5;
/// Tickets loaded per statement (and transaction).
const CHUNK: usize = 50_000;
/// A prime below 2^32: pseudo-random numbers are `id * A mod P`.
const P: u64 = 4_294_967_291;
/// One multiplier per independent pseudo-random choice.
const A: [u64; 16] = [
    2_654_435_761,
    2_246_822_519,
    3_266_489_917,
    668_265_263,
    374_761_393,
    3_028_294_541,
    1_597_334_677,
    2_869_860_233,
    1_540_483_477,
    3_332_440_421,
    2_147_483_629,
    1_103_515_245,
    4_093_082_899,
    2_971_215_073,
    1_828_685_453,
    3_735_928_559,
];

/// A pseudo-random number below `m` for the row whose id is `col`, the
/// `k`-th independent choice: the same on both databases.
fn rnd(col: &str, k: usize, m: u64) -> String {
    format!("((({col} * {}) % {P}) % {m})", A[k])
}

/// A plain connection for statements of our own.
enum Raw {
    Pg(PgConnection),
    Sqlite(diesel::sqlite::SqliteConnection),
}

impl Raw {
    fn open(url: &str) -> anyhow::Result<Raw> {
        Ok(if url.starts_with("postgres") {
            Raw::Pg(PgConnection::establish(url)?)
        } else {
            let mut c =
                diesel::sqlite::SqliteConnection::establish(url.trim_start_matches("sqlite://"))?;
            // A loader's settings (the app's own connections keep theirs),
            // before any temporary table: changing `temp_store` drops them.
            c.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA synchronous = OFF; \
                 PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY; \
                 PRAGMA foreign_keys = ON;",
            )?;
            Raw::Sqlite(c)
        })
    }

    fn pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }

    fn run(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Raw::Pg(c) => c.batch_execute(sql)?,
            Raw::Sqlite(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }

    fn count(&mut self, sql: &str) -> anyhow::Result<i64> {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = diesel::sql_query(sql);
        Ok(match self {
            Raw::Pg(c) => q.get_result::<N>(c)?.n,
            Raw::Sqlite(c) => q.get_result::<N>(c)?.n,
        })
    }
}

/// A moment `secs` seconds after the Unix epoch, as each database stores
/// it (SQLite: text as `Stamp` writes it, to the second).
fn at(pg: bool, secs: &str) -> String {
    if pg {
        format!("(to_timestamp({secs}) AT TIME ZONE 'UTC')")
    } else {
        format!("datetime({secs}, 'unixepoch')")
    }
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The demo's people and processes, and per business a lead, a QC and
/// ops people; fills the tables the load draws on (`bench_*`, temporary,
/// on `raw`'s connection). Returns the business ids and the step-id stride.
fn seed_people(db: &Db, raw: &mut Raw) -> anyhow::Result<(Vec<i32>, usize)> {
    let hash = countersign::password::hash(countersign::store::demo::PASSWORD)?;
    db.write_sync(|c| countersign::store::demo::load(c, &hash))?;
    // Per business: its id, lead, QC, ops.
    let people: Vec<(i32, i32, i32, Vec<i32>)> = db.write_sync(|c| {
        let admin: UserId = users::find_by_username(c, "admin")?
            .expect("the demo's admin")
            .id;
        let (lead, qc, ops) = (
            roles::find_by_code(c, "ops_lead")?,
            roles::find_by_code(c, "qc")?,
            roles::find_by_code(c, "ops")?,
        );
        let person = |name: &str| UserInput {
            display_name: Name::parse(name).expect("a name"),
            email: Email::parse(&format!("{name}@example.com")).expect("an email"),
            manager_id: None,
            language: None,
        };
        let mut out = Vec::new();
        for b in 0..BUSINESSES {
            let business = businesses::create(
                c,
                &Name::parse(&format!("Business {b:02}")).expect("a name"),
                "",
                admin,
            )?;
            let mut add = |name: String, role| -> countersign::store::StoreResult<i32> {
                let id = users::create(
                    c,
                    &Username::parse(&name).expect("a username"),
                    &person(&name),
                    &hash,
                    None,
                )?;
                assignments::create(c, id, role, Scope::Business(business), admin)?;
                Ok(id.0)
            };
            let l = add(format!("lead.{b:02}"), lead.id)?;
            let q = add(format!("qc.{b:02}"), qc.id)?;
            let mut o = Vec::new();
            for k in 0..OPS_PER_BUSINESS {
                o.push(add(format!("ops.{b:02}.{k}"), ops.id)?);
            }
            out.push((business.0, l, q, o));
        }
        Ok(out)
    })?;
    // Approvers beyond a business's lead: the demo's managers, in turn.
    let globals: Vec<i32> = db.read_sync(|c| {
        let mut ids = Vec::new();
        for name in [
            "vp.zhou",
            "sec.huang",
            "dba.xu",
            "owner.manager",
            "rd.manager",
        ] {
            ids.push(
                users::find_by_username(c, name)?
                    .expect("a demo person")
                    .id
                    .0,
            );
        }
        Ok(ids)
    })?;
    // Services with their versions' steps.
    let services: Vec<(i32, i32, String, String)> = db.read_sync(|c| {
        use countersign::db::schema::{process_versions as pv, services as sv};
        Ok(sv::table
            .inner_join(pv::table.on(pv::id.eq(sv::version_id)))
            .order(sv::id)
            .select((sv::id, sv::version_id, sv::kind, pv::definition))
            .load(c)?)
    })?;
    raw.run(
        "CREATE TEMP TABLE bench_svc (k INTEGER PRIMARY KEY, service_id INTEGER NOT NULL, \
           version_id INTEGER NOT NULL, kind TEXT NOT NULL, nodes INTEGER NOT NULL, review INTEGER NOT NULL); \
         CREATE TEMP TABLE bench_biz (k INTEGER PRIMARY KEY, business_id INTEGER NOT NULL, \
           lead INTEGER NOT NULL, qc INTEGER NOT NULL); \
         CREATE TEMP TABLE bench_ops (k INTEGER PRIMARY KEY, user_id INTEGER NOT NULL); \
         CREATE TEMP TABLE bench_nodes (service_id INTEGER NOT NULL, position INTEGER NOT NULL, \
           node_key TEXT NOT NULL, name_en TEXT NOT NULL, name_zh TEXT NOT NULL, kind TEXT NOT NULL, \
           role TEXT NOT NULL, fixed_user INTEGER NOT NULL, PRIMARY KEY (service_id, position));",
    )?;
    let (mut biz, mut ops) = (Vec::new(), Vec::new());
    for (k, (business, lead, qc, o)) in people.iter().enumerate() {
        biz.push(format!("({k}, {business}, {lead}, {qc})"));
        for (j, id) in o.iter().enumerate() {
            ops.push(format!("({}, {id})", k * OPS_PER_BUSINESS + j));
        }
    }
    // Changes most, access requests the rest: out of 100, by kind.
    let changes = services.iter().filter(|s| s.2 == "change").count().max(1);
    let others = (services.len() - services.iter().filter(|s| s.2 == "change").count()).max(1);
    let (mut svc, mut nodes, mut stride) = (Vec::new(), Vec::new(), 0);
    let mut k = 0;
    for (service, version, kind, definition) in &services {
        let def: ProcessDef = serde_json::from_str(definition)?;
        let share = if kind == "change" {
            80 / changes
        } else {
            20 / others
        };
        let review = def.nodes.iter().any(|n| n.kind == NodeKind::Review);
        let mut approvals = 0;
        for (position, node) in def.nodes.iter().enumerate() {
            let role = match node.kind {
                NodeKind::Submit | NodeKind::Task => "applicant",
                NodeKind::Review => "qc",
                NodeKind::Approval => {
                    approvals += 1;
                    if approvals == 1 { "lead" } else { "global" }
                }
            };
            nodes.push(format!(
                "({service}, {position}, {}, {}, {}, '{}', '{role}', {})",
                quoted(&node.key),
                quoted(&node.name.en),
                quoted(&node.name.zh),
                node.kind.as_str(),
                globals[(position + *service as usize) % globals.len()],
            ));
        }
        assert!(def.nodes.len() >= 2, "a process with a step after filing");
        stride = stride.max(def.nodes.len());
        for _ in 0..share {
            svc.push(format!(
                "({k}, {service}, {version}, '{kind}', {}, {})",
                def.nodes.len(),
                i32::from(review)
            ));
            k += 1;
        }
    }
    // Rounding left the last few: the first service takes them.
    let first = svc[0].split_once(',').map(|(_, rest)| rest.to_string());
    while k < 100 {
        svc.push(format!("({k},{}", first.as_deref().unwrap_or_default()));
        k += 1;
    }
    raw.run(&format!(
        "INSERT INTO bench_svc VALUES {}; INSERT INTO bench_biz VALUES {}; \
         INSERT INTO bench_ops VALUES {}; INSERT INTO bench_nodes VALUES {};",
        svc.join(","),
        biz.join(","),
        ops.join(","),
        nodes.join(",")
    ))?;
    Ok((people.iter().map(|p| p.0).collect(), stride))
}

/// What each ticket of ids `lo..=hi` is, as a `WITH` list ending in
/// `tk`: its filing time `c` (seconds), service, business, applicant,
/// lead time, state `st` (0 finished, 1 rejected, 2 withdrawn,
/// 3 running), the step it reached (`reached`, for all but finished),
/// and the time its steps divide (`lx` over `d` steps).
fn tickets_cte(pg: bool, lo: usize, hi: usize, n: usize, first: i64, now: i64) -> String {
    let seq = if pg {
        format!("SELECT generate_series({lo}::bigint, {hi}::bigint)")
    } else {
        format!("SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}")
    };
    let span = now - 120 - first;
    let r = |k, m| rnd("s.i", k, m);
    format!(
        "WITH RECURSIVE s(i) AS ({seq}), \
         t0 AS (SELECT s.i AS id, {first} + (s.i - 1) * {span} / {n} AS c, \
                  v.service_id, v.version_id, v.kind, v.nodes AS k, v.review, \
                  CASE WHEN {r2} < 3 THEN NULL ELSE z.business_id END AS business_id, \
                  o.user_id AS applicant, \
                  1800 + {r4} * {r5} * 60 + CASE WHEN {r6} = 0 THEN 864000 ELSE 0 END AS lead, \
                  {r7} AS fate, 1 + {r11} % (v.nodes - 1) AS reached, {r8} AS qc, {r9} AS due \
                FROM s CROSS JOIN bench_svc v CROSS JOIN bench_biz z CROSS JOIN bench_ops o \
                WHERE v.k = {r3} AND z.k = {r1} AND o.k = z.k * {OPS_PER_BUSINESS} + {r10}), \
         t1 AS (SELECT t0.*, CASE WHEN fate < 1 OR c + lead > {now} THEN 3 \
                  WHEN fate < 9 THEN 1 WHEN fate < 14 THEN 2 ELSE 0 END AS st FROM t0), \
         tk AS (SELECT t1.*, CASE WHEN st = 3 THEN ({now} - c) * 9 / 10 ELSE lead END AS lx, \
                  CASE WHEN st = 0 THEN k - 1 ELSE reached END AS d FROM t1) ",
        r1 = r(0, BUSINESSES as u64),
        r2 = r(1, 100),
        r3 = r(2, 100),
        r4 = r(3, 97),
        r5 = r(4, 97),
        r6 = r(5, 50),
        r7 = r(6, 100),
        r8 = r(7, 100),
        r9 = r(8, 10),
        r10 = r(9, OPS_PER_BUSINESS as u64),
        r11 = r(10, 1000),
    )
}

/// Loads `n` tickets filed evenly over `days` days up to `now` (Unix
/// seconds; ids 1..=n), their steps (ids `ticket * stride + position`)
/// and the people on them.
fn load(raw: &mut Raw, n: usize, days: i64, stride: usize, now: i64) -> anyhow::Result<()> {
    let first = now - days * 86_400;
    let clock = Instant::now();
    if raw.pg() {
        raw.run("SET synchronous_commit = off;")?;
    }
    let pg = raw.pg();
    let at = |s: &str| at(pg, s);
    for lo in (1..=n).step_by(CHUNK) {
        let hi = (lo + CHUNK - 1).min(n);
        let mut sql = String::from("BEGIN;");
        // Tickets.
        write!(
            sql,
            "{cte} INSERT INTO applies (id, serial, service_id, version_id, kind, title, applicant_id, \
               business_id, status, form, outcome, submit_token, row_version, created_at, updated_at, \
               finished_at, due_at, overdue_at) \
             SELECT id, 'CHG-B' || id, service_id, version_id, kind, 'Bench change ' || id, applicant, \
               business_id, \
               CASE st WHEN 0 THEN 'finished' WHEN 1 THEN 'rejected' WHEN 2 THEN 'withdrawn' ELSE 'running' END, \
               '{{\"reason\":\"bench\"}}', \
               CASE WHEN st = 0 AND review = 1 THEN CASE WHEN qc < 80 THEN 'successful' \
                 WHEN qc < 92 THEN 'with_issues' WHEN qc < 97 THEN 'unsuccessful' END END, \
               'insight-' || id, 1, {created}, {updated}, {finished}, {due}, {overdue} \
             FROM tk;",
            cte = tickets_cte(pg, lo, hi, n, first, now),
            created = at("c"),
            updated = at("CASE WHEN st = 3 THEN c ELSE c + lead END"),
            finished = at("CASE WHEN st < 3 THEN c + lead END"),
            due = at("CASE WHEN due < 3 THEN c + 259200 END"),
            overdue = at(&format!(
                "CASE WHEN due < 3 AND ((st = 3 AND {now} > c + 259200) OR (st < 3 AND lead > 259200)) \
                 THEN c + 259200 END"
            )),
        )?;
        // Their steps: the submit at filing, then each in turn, the time
        // to the end (or to now, while running) divided evenly.
        let (p, started, decided) = (
            "t.position",
            "CASE WHEN t.position = 0 THEN c \
               WHEN st = 0 OR t.position <= reached THEN c + lx * (t.position - 1) / d END",
            "CASE WHEN t.position = 0 THEN c \
               WHEN st = 0 OR t.position < reached OR (t.position = reached AND st = 1) \
               THEN c + lx * t.position / d END",
        );
        write!(
            sql,
            "{cte} INSERT INTO approves (id, apply_id, position, node_key, name_en, name_zh, kind, mode, \
               status, notes, row_version, started_at, decided_at, due_at) \
             SELECT id * {stride} + {p}, id, {p}, t.node_key, t.name_en, t.name_zh, t.kind, \
               '{{\"mode\":\"any\"}}', \
               CASE WHEN {p} = 0 THEN 'done' \
                 WHEN st = 0 OR {p} < reached THEN CASE WHEN t.kind = 'approval' THEN 'approved' ELSE 'done' END \
                 WHEN {p} = reached THEN CASE st WHEN 1 THEN 'rejected' WHEN 2 THEN 'cancelled' ELSE 'active' END \
                 WHEN st = 3 THEN 'waiting' ELSE 'cancelled' END, \
               '[]', 1, {s_at}, {d_at}, {due} \
             FROM tk CROSS JOIN bench_nodes t WHERE t.service_id = tk.service_id;",
            cte = tickets_cte(pg, lo, hi, n, first, now),
            s_at = at(started),
            d_at = at(decided),
            due = at(&format!(
                "CASE WHEN {p} > 0 AND {} = 0 THEN ({started}) + 28800 END",
                rnd(&format!("(id * {stride} + {p})"), 11, 4)
            )),
        )?;
        // The person on each step, asked when the ticket was filed.
        let user = "CASE t.role WHEN 'applicant' THEN a.applicant_id WHEN 'lead' THEN z.lead \
                    WHEN 'qc' THEN z.qc ELSE t.fixed_user END";
        write!(
            sql,
            "INSERT INTO approve_users (id, approve_id, apply_id, position, user_id, status, decision, \
               acted_by, channel, comment, decided_at, created_at) \
             SELECT n.id, n.id, n.apply_id, 0, {user}, \
               CASE n.status WHEN 'active' THEN 'pending' WHEN 'waiting' THEN 'waiting' \
                 WHEN 'cancelled' THEN 'cancelled' ELSE 'decided' END, \
               CASE n.status WHEN 'approved' THEN 'approve' WHEN 'rejected' THEN 'reject' \
                 WHEN 'done' THEN CASE WHEN n.position = 0 THEN 'submit' ELSE 'done' END END, \
               CASE WHEN n.decided_at IS NOT NULL THEN {user} END, \
               CASE WHEN n.decided_at IS NOT NULL THEN \
                 CASE WHEN n.position > 0 AND {r_mail} = 0 THEN 'email_link' ELSE 'web' END END, \
               '', n.decided_at, a.created_at \
             FROM approves n CROSS JOIN applies a CROSS JOIN bench_nodes t CROSS JOIN bench_biz z \
             WHERE n.id >= {first_step} AND n.id < {end_step} AND a.id = n.apply_id \
               AND t.service_id = a.service_id AND t.position = n.position AND z.k = {r_biz};",
            r_mail = rnd("n.id", 12, 10),
            r_biz = rnd("a.id", 0, BUSINESSES as u64),
            first_step = lo * stride,
            end_step = (hi + 1) * stride,
        )?;
        sql.push_str("COMMIT;");
        raw.run(&sql)?;
        if hi.is_multiple_of(200_000) {
            println!("  {hi} tickets in {:.0} s", clock.elapsed().as_secs_f64());
        }
    }
    if raw.pg() {
        raw.run(
            "SELECT setval('applies_id_seq', (SELECT max(id) FROM applies)); \
             SELECT setval('approves_id_seq', (SELECT max(id) FROM approves)); \
             SELECT setval('approve_users_id_seq', (SELECT max(id) FROM approve_users));",
        )?;
    }
    Ok(())
}

/// What the page's volume table and the tickets stored say, for a
/// year by month: filed and finished in the range, each both ways.
fn check_figures(page: &str, raw: &mut Raw, from: NaiveDate, until: NaiveDate) -> [(i64, i64); 2] {
    let html = scraper::Html::parse_document(page);
    let sel = |s: &str| scraper::Selector::parse(s).expect("a selector");
    let (mut filed, mut finished) = (0, 0);
    for row in html.select(&sel("#insight-volume tbody tr")) {
        let cells: Vec<i64> = row
            .select(&sel("td"))
            .map(|td| td.text().collect::<String>().trim().parse().unwrap_or(0))
            .collect();
        filed += cells.first().copied().unwrap_or(0);
        finished += cells.get(1).copied().unwrap_or(0);
    }
    for table in ["lead", "steps", "approvers", "waiting"] {
        let rows = html
            .select(&sel(&format!("#insight-{table} tbody tr")))
            .count();
        assert!(rows > 0, "the dashboard's {table} table is empty");
    }
    let (a, b) = (
        format!("{from} 00:00:00"),
        format!("{} 00:00:00", until + chrono::Duration::days(1)),
    );
    let stored_filed = raw
        .count(&format!(
            "SELECT COUNT(*) AS n FROM applies WHERE created_at >= '{a}' AND created_at < '{b}'"
        ))
        .expect("a count");
    let stored_finished = raw
        .count(&format!(
            "SELECT COUNT(*) AS n FROM applies WHERE status = 'finished' \
             AND finished_at >= '{a}' AND finished_at < '{b}'"
        ))
        .expect("a count");
    [(filed, stored_filed), (finished, stored_finished)]
}

/// Rolls up every day that is over; (days, seconds computing, seconds
/// writing, the slowest day's computing).
fn catch_up(db: &Db) -> anyhow::Result<(usize, f64, f64, f64)> {
    let (mut days, mut computing, mut writing, mut slowest) = (0, 0.0, 0.0, 0.0f64);
    while let Some(day) = db.read_sync(insight::next_to_roll)? {
        let t = Instant::now();
        let rows = db.read_sync(move |c| insight::compute(c, day, day + 1))?;
        let took = t.elapsed().as_secs_f64();
        computing += took;
        slowest = slowest.max(took);
        let t = Instant::now();
        db.write_sync(move |c| insight::roll_up(c, day, &rows))?;
        writing += t.elapsed().as_secs_f64();
        days += 1;
    }
    Ok((days, computing, writing, slowest))
}

/// Forgets the rollup of the last day rolled up, as if the job runner
/// had not reached it yet.
fn unroll_last(raw: &mut Raw) -> anyhow::Result<()> {
    let last = raw.count("SELECT CAST(COALESCE(MAX(day), 0) AS BIGINT) AS n FROM insight_days")?;
    raw.run(&format!(
        "BEGIN; DELETE FROM insight_figures WHERE day = {last}; \
         DELETE FROM insight_days WHERE day = {last}; COMMIT;"
    ))
}

/// Rolls up the next day that is over, if any: whether there was one.
fn roll_next(db: &Db) -> anyhow::Result<bool> {
    let Some(day) = db.read_sync(insight::next_to_roll)? else {
        return Ok(false);
    };
    let rows = db.read_sync(move |c| insight::compute(c, day, day + 1))?;
    db.write_sync(move |c| insight::roll_up(c, day, &rows))?;
    Ok(true)
}

fn start(url: &str, dir: &std::path::Path) -> anyhow::Result<(Server, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = Server(
        Command::new(
            std::env::var("BENCH_SERVER")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_countersign").to_string()),
        )
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", dir)
        .env("RUN_JOBS", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?,
    );
    Ok((server, format!("http://127.0.0.1:{port}")))
}

async fn clients(base: &str, n: usize) -> Vec<reqwest::Client> {
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(setup::signed_in(base, "admin").await.0);
    }
    out
}

/// One GET as a browser asks it (gzip accepted); its time and size, or
/// an error.
async fn get(client: &reqwest::Client, url: &str) -> Result<(Duration, usize), String> {
    let t = Instant::now();
    let res = client
        .get(url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}"));
    }
    Ok((t.elapsed(), body.len()))
}

/// Each client asks once, all at once: `url(i)` for client i.
async fn once_each(clients: &[reqwest::Client], url: &dyn Fn(usize) -> String) -> Sample {
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let (c, url) = (c.clone(), url(i));
        tasks.push(tokio::spawn(async move { get(&c, &url).await }));
    }
    let mut s = Sample::default();
    for t in tasks {
        s.add(t.await.expect("a client"));
    }
    s
}

/// Every client asks again and again for `seconds`, client i the i-th,
/// (i + clients)-th, … of `url`.
async fn for_seconds(
    clients: &[reqwest::Client],
    seconds: u64,
    url: std::sync::Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let stride = clients.len();
    let mut tasks = Vec::new();
    for (n, c) in clients.iter().enumerate() {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut s, mut i) = (Sample::default(), n);
            while Instant::now() < deadline {
                s.add(get(&c, &url(i)).await);
                i += stride;
            }
            s
        }));
    }
    let mut s = Sample::default();
    for t in tasks {
        s.merge(t.await.expect("a client"));
    }
    s
}

#[derive(Default)]
struct Sample {
    took: Vec<Duration>,
    bytes: usize,
    errors: Vec<String>,
}

impl Sample {
    fn add(&mut self, r: Result<(Duration, usize), String>) {
        match r {
            Ok((took, bytes)) => {
                self.took.push(took);
                self.bytes = bytes;
            }
            Err(e) => self.errors.push(e),
        }
    }

    fn merge(&mut self, other: Sample) {
        self.took.extend(other.took);
        self.bytes = self.bytes.max(other.bytes);
        self.errors.extend(other.errors);
    }

    fn ms(&self, p: f64) -> f64 {
        let mut took = self.took.clone();
        took.sort();
        took.get(((took.len() as f64 * p) as usize).min(took.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// The pages measured: a name and the URL of its i-th request.
type Variant = (
    &'static str,
    std::sync::Arc<dyn Fn(usize) -> String + Send + Sync>,
);

fn variants(base: &str, today: NaiveDate, businesses: &[i32]) -> Vec<Variant> {
    let year_ago = today - chrono::Duration::days(365);
    let (b1, b2, b3) = (base.to_string(), base.to_string(), base.to_string());
    let ids = businesses.to_vec();
    vec![
        (
            "12 weeks by week",
            std::sync::Arc::new(move |_| format!("{b1}/insight")),
        ),
        (
            "a year by month",
            std::sync::Arc::new(move |_| {
                format!("{b2}/insight?period=month&from={year_ago}&until={today}")
            }),
        ),
        (
            "one business",
            std::sync::Arc::new(move |i| format!("{b3}/insight?business={}", ids[i % ids.len()])),
        ),
    ]
}

fn main() -> anyhow::Result<()> {
    let n = env_or("BENCH_TICKETS", 1_000_000);
    let days = env_or("BENCH_DAYS", 1000) as i64;
    let clients_n = env_or("BENCH_CLIENTS", 8);
    let seconds = env_or("BENCH_SECONDS", 10) as u64;
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir()?;
    let kept = std::env::var("BENCH_KEEP")
        .ok()
        .map(std::path::PathBuf::from);
    let reuse = std::env::var("BENCH_REUSE").ok();
    let url = match &reuse {
        Some(url) => url.clone(),
        None => setup::database(
            "insight",
            kept.as_deref().unwrap_or(dir.path()),
            &format!("t{n}"),
        )?,
    };
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let pool = u32::try_from(clients_n.max(2))?;
    let mut raw;
    let db;
    if reuse.is_none() {
        let t = Instant::now();
        db = Db::connect(&url, pool)?;
        raw = Raw::open(&url)?;
        let (_, stride) = seed_people(&db, &mut raw)?;
        let people = t.elapsed();
        let t = Instant::now();
        // The history ends now, or (`BENCH_END_OF_DAY=1`) at the end of
        // today: every request computes today's figures live, a whole
        // day's late in the day (the tickets of the hours still to come
        // are dated ahead of the clock).
        let now = if std::env::var("BENCH_END_OF_DAY").is_ok_and(|v| v == "1") {
            (Utc::now().date_naive() + chrono::Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
                - 60
        } else {
            Utc::now().timestamp()
        };
        load(&mut raw, n, days, stride, now)?;
        let loaded = t.elapsed();
        let t = Instant::now();
        if raw.pg() {
            // Alone: VACUUM refuses to run inside a transaction.
            raw.run("VACUUM ANALYZE;")?;
        } else {
            if std::env::var("BENCH_SQLITE_ANALYZE").is_ok_and(|v| v == "1") {
                raw.run("ANALYZE;")?;
            }
            raw.run("PRAGMA wal_checkpoint(TRUNCATE);")?;
        }
        let after = t.elapsed();
        println!(
            "{backend}: {n} tickets over {days} days loaded in {:.1} s (people and demo {:.1} s, \
             tickets {:.1} s, {} {:.1} s)",
            (people + loaded + after).as_secs_f64(),
            people.as_secs_f64(),
            loaded.as_secs_f64(),
            if raw.pg() {
                "VACUUM ANALYZE"
            } else {
                "checkpoint"
            },
            after.as_secs_f64()
        );
        let steps = raw.count("SELECT COUNT(*) AS n FROM approves")?;
        let people = raw.count("SELECT COUNT(*) AS n FROM approve_users")?;
        let running = raw.count("SELECT COUNT(*) AS n FROM applies WHERE status = 'running'")?;
        println!("  {steps} steps, {people} step assignments, {running} tickets running");
    } else {
        db = Db::connect(&url, pool)?;
        raw = Raw::open(&url)?;
    }
    let businesses: Vec<i32> = db.read_sync(|c| {
        use countersign::db::schema::businesses as b;
        Ok(b::table
            .filter(b::name.like("Business %"))
            .order(b::id)
            .select(b::id)
            .load(c)?)
    })?;

    // The rollup catching up on the whole history.
    let t = Instant::now();
    let (rolled, computing, writing, slowest) = catch_up(&db)?;
    let took = t.elapsed().as_secs_f64();
    println!(
        "rollup: {rolled} days caught up in {took:.1} s ({:.1} ms a day: computing {computing:.1} s, \
         slowest day {:.0} ms; writing {writing:.1} s)",
        took * 1000.0 / rolled.max(1) as f64,
        slowest * 1000.0,
    );
    let figures = raw.count("SELECT COUNT(*) AS n FROM insight_figures")?;
    println!("  {figures} figure rows stored");

    // Yesterday is rolled up again while the server runs.
    unroll_last(&mut raw)?;
    let now = Utc::now();
    let today = now.date_naive();
    // Today's tickets are computed live on every request: more late in
    // the (UTC) day, a whole day's with `BENCH_END_OF_DAY=1`.
    let midnight = format!("{today} 00:00:00");
    let filed_today = raw.count(&format!(
        "SELECT COUNT(*) AS n FROM applies WHERE created_at >= '{midnight}'"
    ))?;
    let ended_today = raw.count(&format!(
        "SELECT COUNT(*) AS n FROM applies WHERE finished_at >= '{midnight}'"
    ))?;
    println!(
        "  today ({} UTC now), computed live on every request: {filed_today} tickets filed, \
         {ended_today} ended",
        now.format("%H:%M")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut results: Vec<(&'static str, &'static str, Sample)> = Vec::new();

    let (server, base) = start(&url, dir.path())?;
    let vs = variants(&base, today, &businesses);
    rt.block_on(async {
        let clients = clients(&base, clients_n).await;
        // Every page asked once (yesterday still computed live), then
        // yesterday rolled up: the next requests find nothing kept.
        for (_, url) in &vs {
            for i in 0..businesses.len() {
                let _ = get(&clients[0], &url(i)).await;
            }
        }
        let t = Instant::now();
        assert!(roll_next(&db)?, "yesterday to roll up");
        println!(
            "  yesterday's rollup with the server running: {:.0} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        for (name, url) in &vs {
            let s = once_each(&clients, &**url).await;
            results.push(("cold: a day rolled up", *name, s));
        }

        // The figures are the tickets'.
        let year_ago = today - chrono::Duration::days(365);
        let page = clients[0]
            .get(format!(
                "{base}/insight?period=month&from={year_ago}&until={today}"
            ))
            .send()
            .await?
            .text()
            .await?;
        let [(filed, stored_filed), (finished, stored_finished)] =
            check_figures(&page, &mut raw, year_ago, today);
        println!(
            "  a year by month: {filed} filed and {finished} finished on the page, \
             {stored_filed} and {stored_finished} stored; the page {} KiB",
            page.len() / 1024
        );
        assert!(filed > 0 && finished > 0, "the dashboard shows no tickets");
        assert_eq!(
            (filed, finished),
            (stored_filed, stored_finished),
            "the dashboard's volume is the tickets'"
        );

        for (name, url) in &vs {
            // Every page of the run asked once, so each is kept.
            for i in 0..businesses.len() {
                let _ = get(&clients[0], &url(i)).await;
            }
            let s = for_seconds(&clients, seconds, url.clone()).await;
            results.push(("warm", *name, s));
        }
        println!("  server RSS {:.1} MiB", server.rss_kib() as f64 / 1024.0);
        anyhow::Ok(())
    })?;
    drop(server);

    // The first requests after the server starts.
    let mut cold: Vec<Sample> = vs.iter().map(|_| Sample::default()).collect();
    for _ in 0..rounds {
        let (server, base) = start(&url, dir.path())?;
        let vs = variants(&base, today, &businesses);
        rt.block_on(async {
            let clients = clients(&base, clients_n).await;
            for (k, (_, url)) in vs.iter().enumerate() {
                cold[k].merge(once_each(&clients, &**url).await);
            }
        });
        drop(server);
    }
    for ((name, _), s) in vs.iter().zip(cold) {
        results.push(("cold: server started", *name, s));
    }

    println!(
        "\n{backend}, {n} tickets, {clients_n} clients\n\
         GET /insight          | phase                 | requests | p50 ms | p99 ms | max ms | KiB gz | errors"
    );
    for (phase, name, s) in &results {
        println!(
            "{name:<21} | {phase:<21} | {:>8} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6} | {}",
            s.took.len(),
            s.ms(0.5),
            s.ms(0.99),
            s.ms(1.0),
            s.bytes / 1024,
            s.errors.len()
        );
        if let Some(e) = s.errors.first() {
            println!("  first error: {e}");
        }
    }
    drop(raw);
    drop(db);
    if kept.is_none() && reuse.is_none() {
        setup::drop_database(&url)?;
    } else {
        println!("kept: {url}");
    }
    Ok(())
}
