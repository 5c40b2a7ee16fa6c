//! The `countersign` command: serve (default), migrate, user add, demo.

use std::io::Read;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use countersign::config::Config;
use countersign::db::Db;
use countersign::domain::{Email, Name, NewPassword, Username};
use countersign::startup::Application;
use countersign::store::{self, assignments, roles, users};

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "A process service for operations teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve {
        /// Load the demo people first (idempotent) and print their sign-ins.
        #[arg(long, env = "COUNTERSIGN_DEMO")]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Load the demo people of both stories (idempotent).
    Demo,
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The hash-chained audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The company directory (LDAP_URL).
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    /// Sync everyone from the directory now (people, managers, group
    /// roles; those who left are deactivated) and print what changed;
    /// exits 1 if the sync failed.
    Sync,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk every chain, recomputing each hash, and name each event that
    /// was altered, removed or inserted; exits 1 if any was.
    Verify,
    /// Write events with their places and hashes to standard output.
    Export {
        /// csv or jsonl.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// From this day (UTC, YYYY-MM-DD), inclusive.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// To this day (UTC, YYYY-MM-DD), inclusive.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// One ticket's events, by its serial number.
        #[arg(long)]
        ticket: Option<String>,
        /// Events by this person (as themselves or for someone), by username.
        #[arg(long)]
        actor: Option<String>,
        /// Decisions only (approve, reject, send back, complete, hand over, add people).
        #[arg(long)]
        decisions: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token for a person or service account and print its secret
    /// (shown this once; only its hash is kept).
    Create {
        /// Whose token it is.
        username: String,
        /// What it is for, as lists show it.
        #[arg(long)]
        name: String,
        /// read, or act (read, file and decide).
        #[arg(long, default_value = "read")]
        scope: String,
        /// Days it lasts (1 to 365).
        #[arg(long, default_value_t = store::api_tokens::DEFAULT_DAYS)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Make the account an administrator (global admin role).
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required, so it never shows in `ps`).
        #[arg(long, required_unless_present = "service_account")]
        password_stdin: bool,
        /// A service account for a pipeline: no password, never signs in,
        /// acts only through API tokens (`countersign token create`).
        #[arg(long, conflicts_with_all = ["admin", "password_stdin"])]
        service_account: bool,
    },
}

/// mimalloc instead of glibc's malloc: glibc gives each blocking thread an
/// arena of its own (doubling resident memory in the ticket benchmark), and
/// capping the arenas made threads queue on their locks. mimalloc is built
/// to commit arena memory only as it is used (`.cargo/config.toml`), which
/// halves the server's resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc hands freed memory back to the system after a second by
/// default; doing it at once keeps the server ~10 MiB smaller under load
/// (the ticket benchmark with 100,000 tickets: 64 → 54 MiB) at no cost in
/// throughput. `MIMALLOC_PURGE_DELAY` in the environment wins.
fn purge_freed_memory_at_once() {
    // `mi_option_purge_delay` in mimalloc.h (the same in mimalloc 2 and 3).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an allocator tunable, which mimalloc reads atomically.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    }
}

fn main() -> anyhow::Result<()> {
    purge_freed_memory_at_once();
    countersign::telemetry::init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(config, demo),
        Command::Migrate => {
            Db::connect(&config.database_url, 1)?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let db = Db::connect(&config.database_url, 2)?;
            load_demo(&db)?;
            print_demo_sign_ins();
            Ok(())
        }
        Command::Directory {
            command: DirectoryCommand::Sync,
        } => {
            let db = Db::connect(&config.database_url, 2)?;
            directory_sync(&db, &config)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let db = Db::connect(&config.database_url, 2)?;
            audit_verify(&db)
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    format,
                    from,
                    to,
                    ticket,
                    actor,
                    decisions,
                },
        } => {
            let db = Db::connect(&config.database_url, 2)?;
            let csv = match format.as_str() {
                "csv" => true,
                "jsonl" => false,
                _ => bail!("format: csv or jsonl"),
            };
            let filter = audit_filter(&db, (from, to), ticket, actor, decisions)?;
            audit_export(&db, &filter, csv)
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    email,
                    display_name,
                    admin: _,
                    password_stdin: _,
                    service_account,
                },
        } if service_account => {
            let db = Db::connect(&config.database_url, 2)?;
            add_service_account(&db, &username, &email, display_name.as_deref())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    username,
                    name,
                    scope,
                    days,
                },
        } => {
            let db = Db::connect(&config.database_url, 2)?;
            create_token(&db, &username, &name, &scope, days)
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    email,
                    display_name,
                    admin,
                    password_stdin: _,
                    service_account: _,
                },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let db = Db::connect(&config.database_url, 2)?;
            add_user(
                &db,
                &username,
                &email,
                display_name.as_deref(),
                admin,
                password,
            )
        }
    }
}

fn problem(field: &str, key: &str) -> anyhow::Error {
    anyhow::anyhow!("{field}: {}", countersign::i18n::Lang::En.t(key))
}

fn add_user(
    db: &Db,
    username: &str,
    email: &str,
    display_name: Option<&str>,
    admin: bool,
    password: &str,
) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|k| problem("username", k))?;
    let email = Email::parse(email).map_err(|k| problem("email", k))?;
    let display_name = Name::parse(display_name.unwrap_or(username.as_str()))
        .map_err(|k| problem("display name", k))?;
    let password = NewPassword::parse(password).map_err(|k| problem("password", k))?;
    let hash = countersign::password::hash(password.expose())?;
    let input = users::UserInput {
        display_name,
        email,
        manager_id: None,
        language: None,
    };
    let result = db.write_sync(|c| {
        let id = users::create(c, &username, &input, &hash, None)?;
        if admin {
            let role = roles::find_by_code(c, "admin")?;
            assignments::create(c, id, role.id, assignments::Scope::Global, id)?;
        }
        Ok(id)
    });
    match result {
        Ok(id) => {
            println!(
                "created user {username} (id {id}){}",
                if admin { " as administrator" } else { "" }
            );
            Ok(())
        }
        Err(store::StoreError::Rule { field, key }) => bail!(problem(field, key)),
        Err(e) => Err(e.into()),
    }
}

fn add_service_account(
    db: &Db,
    username: &str,
    email: &str,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|k| problem("username", k))?;
    let email = Email::parse(email).map_err(|k| problem("email", k))?;
    let display_name = Name::parse(display_name.unwrap_or(username.as_str()))
        .map_err(|k| problem("display name", k))?;
    let input = users::UserInput {
        display_name,
        email,
        manager_id: None,
        language: None,
    };
    match db.write_sync(|c| users::create_service_account(c, &username, &input, None)) {
        Ok(id) => {
            println!("created service account {username} (id {id}); make it a token with");
            println!("  countersign token create {username} --name pipeline --scope act");
            Ok(())
        }
        Err(store::StoreError::Rule { field, key }) => bail!(problem(field, key)),
        Err(e) => Err(e.into()),
    }
}

fn create_token(db: &Db, username: &str, name: &str, scope: &str, days: i64) -> anyhow::Result<()> {
    use store::api_tokens::{self, NewToken, Scope};
    let name = Name::parse(name).map_err(|k| problem("name", k))?;
    let scope = Scope::parse(scope).ok_or_else(|| anyhow::anyhow!("scope: read or act"))?;
    let days = api_tokens::parse_days(&days.to_string()).map_err(|k| problem("days", k))?;
    let new = NewToken { name, scope, days };
    let username = username.to_string();
    let now = db.now();
    let made = db.write_sync(move |c| {
        let Some(user) = users::find_by_username(c, &username)?.filter(|u| u.active) else {
            return Ok(None);
        };
        api_tokens::create(c, user.id, &new, user.id, now).map(Some)
    })?;
    let Some((token, secret)) = made else {
        bail!("no active person by that username");
    };
    eprintln!(
        "token {} for {} ({}), expires {} UTC; the secret is shown this once:",
        token.name,
        token.user_id,
        token.scope,
        token.expires_at.format("%Y-%m-%d %H:%M")
    );
    println!("{secret}");
    Ok(())
}

fn audit_verify(db: &Db) -> anyhow::Result<()> {
    let report = db.read_sync(store::chain::verify)?;
    for problem in &report.problems {
        println!("{problem}");
    }
    println!(
        "{} events in {} chains checked{}",
        report.events,
        report.chains,
        if report.legacy > 0 {
            format!(
                "; {} events from before the chains began are not covered",
                report.legacy
            )
        } else {
            String::new()
        }
    );
    if report.problems.is_empty() {
        println!("the audit trail is intact");
        Ok(())
    } else {
        println!("{} problems found", report.problems.len());
        std::process::exit(1);
    }
}

fn audit_filter(
    db: &Db,
    (from, to): (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    ticket: Option<String>,
    actor: Option<String>,
    decisions: bool,
) -> anyhow::Result<store::audit_export::Filter> {
    let ticket = match ticket {
        None => None,
        Some(serial) => Some(
            db.read_sync(move |c| store::audit_export::ticket_by_serial(c, &serial))?
                .ok_or_else(|| anyhow::anyhow!("ticket: no ticket by that serial number"))?,
        ),
    };
    let actor = match actor {
        None => None,
        Some(username) => Some(
            db.read_sync(move |c| users::find_by_username(c, &username))?
                .ok_or_else(|| anyhow::anyhow!("actor: no person by that username"))?
                .id,
        ),
    };
    Ok(store::audit_export::Filter {
        from: from.and_then(|d| d.and_hms_opt(0, 0, 0)),
        until: to
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        ticket,
        actor,
        decisions,
    })
}

fn audit_export(db: &Db, filter: &store::audit_export::Filter, csv: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use store::audit_export::{CSV_HEADER, csv_line, json_line, page};
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if csv {
        write!(out, "{CSV_HEADER}\r\n")?;
    }
    let mut after = 0;
    loop {
        let rows = db.read_sync(|c| page(c, filter, after, 5000))?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            out.write_all(if csv { csv_line(row) } else { json_line(row) }.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn load_demo(db: &Db) -> anyhow::Result<()> {
    let hash = countersign::password::hash(store::demo::PASSWORD)?;
    let created = db.write_sync(|c| store::demo::load(c, &hash))?;
    println!(
        "{}",
        if created {
            "demo data loaded"
        } else {
            "demo data already present"
        }
    );
    Ok(())
}

fn print_demo_sign_ins() {
    println!(
        "demo sign-ins (password \"{}\" for everyone):",
        store::demo::PASSWORD
    );
    for person in store::demo::PEOPLE {
        println!("  {:<14} {}", person.username, person.story);
    }
}

#[actix_web::main]
async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let base_url = config.base_url.clone();
    let app = Application::build(config)?;
    if demo {
        let db = app.db().clone();
        actix_web::web::block(move || load_demo(&db)).await??;
        print_demo_sign_ins();
    } else {
        let db = app.db().clone();
        let nobody = db
            .read(|c| Ok(users::list(c, "", true)?.is_empty()))
            .await?;
        if nobody {
            println!("no accounts yet: run `countersign demo`, or create an administrator with");
            println!(
                "  echo 'a-long-password' | countersign user add admin --email admin@example.com --admin --password-stdin"
            );
        }
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    println!(
        "countersign is listening on {base_url} (port {})",
        app.port()
    );
    app.run_until_stopped().await?;
    Ok(())
}

/// `countersign directory sync`: the same sync as the admin page's
/// button, recorded with its report, which is printed.
fn directory_sync(db: &Db, config: &Config) -> anyhow::Result<()> {
    use countersign::ldap::{Directory, sync};
    use countersign::store::directory_syncs::{self, Trigger};
    let Some(ldap) = config.ldap.clone() else {
        bail!("no company directory is configured: set LDAP_URL and LDAP_USER_BASE");
    };
    let directory = Directory::new(ldap);
    let id = actix_web::rt::System::new()
        .block_on(sync::everyone(db, &directory, Trigger::Cli, None, None))?
        .context("another directory sync is running; try again when it has finished")?;
    let done = db.read_sync(|c| directory_syncs::find(c, id))?;
    if let Some(error) = &done.error {
        bail!("directory sync {id} failed: {error}");
    }
    let r = &done.report;
    println!(
        "directory sync {id}: {} created, {} updated, {} deactivated, {} unchanged, {} managers not found, {} skipped, {} roles granted, {} taken back",
        r.created.len(),
        r.updated.len(),
        r.deactivated.len(),
        r.unchanged,
        r.unmatched_managers.len(),
        r.skipped.len(),
        r.granted.len(),
        r.revoked.len()
    );
    for (what, names) in [
        ("created", &r.created),
        ("updated", &r.updated),
        ("deactivated", &r.deactivated),
        ("deactivated here", &r.inactive),
    ] {
        // The first few; the report page lists everyone.
        match names.len() {
            0 => {}
            n if n <= 20 => println!("  {what}: {}", names.join(", ")),
            n => println!(
                "  {what}: {}, … and {} more",
                names[..20].join(", "),
                n - 20
            ),
        }
    }
    for (who, manager) in &r.unmatched_managers {
        println!("  manager not found for {who}: {manager}");
    }
    for (entry, why) in &r.skipped {
        println!("  skipped {entry}: {why}");
    }
    Ok(())
}
