//! The command line: `user add` and `demo`, run as the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use countersign::db::schema::{role_assignments, users};
use diesel::prelude::*;

use crate::helpers::*;

fn countersign(
    app: &TestApp,
    database_url: &str,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    countersign_with(app, database_url, args, stdin, &[])
}

pub(crate) fn countersign_with(
    app: &TestApp,
    database_url: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(args)
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", app.data_dir())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run countersign");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[actix_web::test]
async fn user_add_creates_an_administrator_who_can_sign_in() {
    let app = TestApp::spawn().await;
    let url = app.database_url();

    let out = countersign(
        &app,
        &url,
        &[
            "user",
            "add",
            "root",
            "--email",
            "root@example.com",
            "--admin",
            "--password-stdin",
        ],
        "a-long-password\n",
    );

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user root"));
    let page = sign_in_as(&app, &app.client, "root", "a-long-password").await;
    assert_eq!(page.path, "/");
    assert_eq!(
        app.get("/admin/users").await.status,
        reqwest::StatusCode::OK
    );
}

#[actix_web::test]
async fn user_add_refuses_bad_input_with_a_plain_message() {
    let app = TestApp::spawn().await;
    let url = app.database_url();

    let out = countersign(
        &app,
        &url,
        &[
            "user",
            "add",
            "root",
            "--email",
            "not-an-email",
            "--password-stdin",
        ],
        "a-long-password\n",
    );

    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("email: This is not an email address."));
    let count: i64 = app.query(|c| users::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn demo_loads_the_people_of_both_stories_once() {
    let app = TestApp::spawn().await;
    let url = app.database_url();

    for _ in 0..2 {
        let out = countersign(&app, &url, &["demo"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let people: Vec<String> = app.query(|c| {
        users::table
            .order(users::username)
            .select(users::username)
            .load(c)
    });
    for expected in [
        "admin",
        "ops.wang",
        "ops.lead",
        "qc.chen",
        "product.liu",
        "rd.zhao",
        "rd.manager",
        "vp.zhou",
        "owner.qian",
        "owner.manager",
    ] {
        assert!(
            people.contains(&expected.to_string()),
            "{expected} missing from {people:?}"
        );
    }
    assert_eq!(people.len(), countersign::store::demo::PEOPLE.len());
    let assignments: i64 = app.query(|c| role_assignments::table.count().get_result(c));
    assert_eq!(assignments, 7);
    let (manager,): (Option<i32>,) = app.query(|c| {
        users::table
            .filter(users::username.eq("rd.zhao"))
            .select((users::manager_id,))
            .first(c)
    });
    assert!(manager.is_some());
    let page = sign_in_as(
        &app,
        &app.client,
        "ops.lead",
        countersign::store::demo::PASSWORD,
    )
    .await;
    assert_eq!(
        page.texts("#my-roles li"),
        vec!["Operations lead · Payments"]
    );
}

#[actix_web::test]
async fn an_unreachable_database_stops_the_server_at_once_with_the_databases_own_message() {
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();

    let out = countersign(
        &app,
        "postgres://postgres@127.0.0.1:1/nowhere",
        &["migrate"],
        "",
    );

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert!(
        stderr.contains("Connection refused") || stderr.contains("connection"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "no hang"
    );

    // A folder that cannot be made, because a file stands in its place.
    std::fs::write(app.data_dir().join("blocker"), "").unwrap();
    let bad_sqlite = format!("sqlite://{}/blocker/x.db", app.data_dir().display());
    let out = countersign(&app, &bad_sqlite, &["migrate"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create folder"));
}

#[actix_web::test]
async fn settings_out_of_bounds_stop_the_server_at_start_with_a_message_naming_them() {
    let app = TestApp::spawn().await;
    let url = app.database_url();
    for (name, value, said) in [
        (
            "EMAIL_LINK_TTL_HOURS",
            "9223372036854775807",
            "EMAIL_LINK_TTL_HOURS must be a whole number from 1 to 8760, not \"9223372036854775807\"",
        ),
        (
            "SMTP_PORT",
            "70000",
            "SMTP_PORT must be a whole number from 1 to 65535, not \"70000\"",
        ),
        (
            "DB_POOL_SIZE",
            "0",
            "DB_POOL_SIZE must be a whole number from 1 to 256, not \"0\"",
        ),
        (
            "SESSION_IDLE_MINUTES",
            "soon",
            "SESSION_IDLE_MINUTES must be a whole number from 1 to 525600, not \"soon\"",
        ),
    ] {
        let env = [(name, value), ("SMTP_HOST", "127.0.0.1")];
        let out = countersign_with(&app, &url, &["serve"], "", &env);
        assert!(!out.status.success(), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{name}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[actix_web::test]
async fn a_service_account_made_on_the_command_line_acts_through_its_token_and_never_signs_in() {
    let app = TestApp::spawn().await;
    let url = app.database_url();
    app.create_user("admin", true);

    let out = countersign(
        &app,
        &url,
        &[
            "user",
            "add",
            "deploy-bot",
            "--email",
            "deploy-bot@example.com",
            "--service-account",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = countersign(
        &app,
        &url,
        &[
            "token",
            "create",
            "deploy-bot",
            "--name",
            "pipeline",
            "--scope",
            "act",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        secret.starts_with("cs_"),
        "only the secret on standard output: {secret}"
    );

    // The token works, as the service account.
    let me: serde_json::Value = serde_json::from_str(
        &reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("Authorization", format!("Bearer {secret}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(me["username"], "deploy-bot");
    assert_eq!(me["token"]["scope"], "act");

    // No password opens the pages: not even the stored hash itself.
    let flagged: (bool, String) = app.query(|c| {
        users::table
            .filter(users::username.eq("deploy-bot"))
            .select((users::service_account, users::password_hash))
            .first(c)
    });
    assert!(flagged.0);
    let browser = TestApp::browser();
    let page = sign_in_as(&app, &browser, "deploy-bot", &flagged.1).await;
    assert_eq!(page.path, "/sign-in");
    assert_eq!(
        page.text(".form-error").as_deref(),
        Some("Wrong username or password.")
    );

    // Nor can an administrator give it one.
    let id = app.user_id("deploy-bot");
    let admin = app.user_id("admin");
    let refused = app
        .db
        .write_sync(move |c| countersign::store::users::set_password(c, id, "$argon2id$x", admin))
        .unwrap_err();
    assert_eq!(
        refused.refused_key(),
        Some(("password", "errors.service_account_password"))
    );
}

#[actix_web::test]
async fn a_command_run_again_and_again_always_exits_cleanly() {
    // On PostgreSQL over TLS a pool that made its next connection in the
    // background could still be negotiating as `token create` exited, and
    // the process then crashed in OpenSSL's exit-time cleanup about one
    // run in ten (CI's schemathesis step died so).
    let app = TestApp::spawn().await;
    // As an operator would connect: TLS when the server offers it.
    let url = app.database_url().replace("?sslmode=disable", "");
    app.create_user("admin", true);
    for round in 0..10 {
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let name = format!("run-{round}-{i}");
                let (url, data_dir) = (url.clone(), app.data_dir().to_owned());
                std::thread::spawn(move || {
                    Command::new(env!("CARGO_BIN_EXE_countersign"))
                        .args(["token", "create", "admin", "--name", &name, "--days", "1"])
                        .env("DATABASE_URL", url)
                        .env("DATA_DIR", data_dir)
                        .env("RUST_LOG", "warn")
                        .output()
                        .expect("run countersign")
                })
            })
            .collect();
        for run in runs {
            let out = run.join().unwrap();
            assert!(
                out.status.success(),
                "{:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("cs_"));
        }
    }
}
