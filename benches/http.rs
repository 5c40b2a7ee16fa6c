//! HTTP benchmark: starts the release `countersign` binary as its own
//! process on a seeded database and drives it over loopback with
//! concurrent signed-in clients, reporting throughput, p50/p99 latency and
//! the server's resident memory.
//!
//! `cargo bench --bench http` (SQLite); with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432` on PostgreSQL.
//! `BENCH_CLIENTS` (32), `BENCH_SECONDS` (5) and `BENCH_PEOPLE` (5000) tune it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Server, env_or, setup};
use countersign::db::Db;
use countersign::db::ids::UserId;
use countersign::domain::{Email, Name, Username};
use countersign::store::assignments::{self, Scope};
use countersign::store::users::{self, UserInput};
use countersign::store::{businesses, roles};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};

const PASSWORD: &str = "benchmark-password";

/// Seeds `people` accounts spread over 20 businesses, each holding a role.
fn seed(db: &Db, people: usize) -> anyhow::Result<()> {
    let hash = countersign::password::hash(PASSWORD)?;
    db.write_sync(|c| {
        let admin_name = Username::parse("admin").unwrap();
        let input = |name: &str| UserInput {
            display_name: Name::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.com")).unwrap(),
            manager_id: None,
            language: None,
        };
        let admin = users::create(c, &admin_name, &input("admin"), &hash, None)?;
        let admin_role = roles::find_by_code(c, "admin")?;
        assignments::create(c, admin, admin_role.id, Scope::Global, admin)?;
        let ops = roles::find_by_code(c, "ops")?;
        let mut scopes = Vec::new();
        for b in 0..20 {
            scopes.push(businesses::create(
                c,
                &Name::parse(&format!("Business {b}")).unwrap(),
                "",
                admin,
            )?);
        }
        let mut manager: Option<UserId> = None;
        for i in 0..people {
            let name = format!("ops.{i:05}");
            let mut person = input(&name);
            person.manager_id = manager.filter(|_| i % 10 != 0);
            let id = users::create(c, &Username::parse(&name).unwrap(), &person, &hash, None)?;
            assignments::create(
                c,
                id,
                ops.id,
                Scope::Business(scopes[i % scopes.len()]),
                admin,
            )?;
            if i % 10 == 0 {
                manager = Some(id);
            }
        }
        Ok(())
    })?;
    Ok(())
}

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn run(
    clients: &[reqwest::Client],
    seconds: u64,
    url: impl Fn(usize) -> String + Send + Sync + Clone + 'static,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let stride = clients.len();
    for (n, client) in clients.iter().enumerate() {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = n;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.get(url(i)).send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
                i += stride;
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Outcome {
        requests: latencies.len(),
        errors,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn report(name: &str, o: &Outcome, rss_kib: u64) {
    let pct = |p: f64| {
        o.latencies
            .get(((o.latencies.len() as f64 * p) as usize).min(o.latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "{name:<34} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {:>3}   server RSS {:>5.1} MiB",
        o.requests as f64 / o.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        o.errors,
        rss_kib as f64 / 1024.0
    );
}

fn main() -> anyhow::Result<()> {
    let clients_n = env_or("BENCH_CLIENTS", 32);
    let seconds = env_or("BENCH_SECONDS", 5) as u64;
    let people = env_or("BENCH_PEOPLE", 5000);
    let dir = tempfile::tempdir()?;

    let database_url = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) if server.starts_with("postgres") => {
            let server = server.trim_end_matches('/').to_string();
            let name = format!("countersign_bench_{}", std::process::id());
            let mut conn = PgConnection::establish(&format!("{server}/postgres"))?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            format!("{server}/{name}")
        }
        _ => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let seeding = Instant::now();
    let db = Db::connect(&database_url, 2)?;
    seed(&db, people)?;
    drop(db);
    println!(
        "backend {}; {people} people seeded in {:.1}s; {clients_n} clients for {seconds}s per scenario",
        if database_url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        seeding.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_countersign"))
            .arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("server ready in {} ms", started.elapsed().as_millis());

        let mut people_clients = Vec::new();
        for i in 0..clients_n {
            people_clients.push(
                setup::signed_in(&base, &format!("ops.{:05}", i * 7 % people))
                    .await
                    .0,
            );
        }
        let admin = setup::signed_in(&base, "admin").await.0;
        let admins = vec![admin; clients_n];

        let b = base.clone();
        let home = run(&people_clients, seconds, move |_| format!("{b}/")).await;
        report("GET / (home, signed in)", &home, server.rss_kib());

        let b = base.clone();
        let assignments = run(&admins, seconds, move |i| {
            format!("{b}/admin/assignments?business_id={}", i % 20 + 2)
        })
        .await;
        report(
            "GET /admin/assignments?business",
            &assignments,
            server.rss_kib(),
        );

        let b = base.clone();
        let search = run(&admins, seconds, move |i| {
            format!("{b}/admin/users?q=ops.{:03}", i % 1000)
        })
        .await;
        report("GET /admin/users?q= (search)", &search, server.rss_kib());

        let b = base.clone();
        let sign_in_page = run(&people_clients, seconds, move |_| format!("{b}/sign-in")).await;
        report(
            "GET /sign-in (redirect to home)",
            &sign_in_page,
            server.rss_kib(),
        );
    });
    drop(server);
    if let Some((server, name)) = database_url
        .rsplit_once('/')
        .filter(|_| database_url.starts_with("postgres"))
    {
        let mut conn = PgConnection::establish(&format!("{server}/postgres"))?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)?;
    }
    Ok(())
}
