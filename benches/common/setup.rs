//! What several benchmarks set up alike: a database of the run's own
//! (SQLite in a directory, or a PostgreSQL database made and dropped for
//! it) and a client signed in to the server under test.

use diesel::{Connection, RunQueryDsl, pg::PgConnection};

/// A database of its own for `bench`'s run: SQLite `label.db` in `dir`,
/// or, with `BENCH_DATABASE_URL` naming a PostgreSQL server, a database
/// made there.
pub fn database(bench: &str, dir: &std::path::Path, label: &str) -> anyhow::Result<String> {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let server = url.trim_end_matches('/').to_string();
            let name = format!("countersign_bench_{bench}_{label}_{}", std::process::id());
            let mut conn = PgConnection::establish(&format!("{server}/postgres"))?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            Ok(format!("{server}/{name}"))
        }
        _ => Ok(format!(
            "sqlite://{}",
            dir.join(format!("{label}.db")).display()
        )),
    }
}

/// Drops a PostgreSQL database `database` made (SQLite's goes with its
/// directory).
pub fn drop_database(url: &str) -> anyhow::Result<()> {
    if let Some((server, name)) = url.rsplit_once('/').filter(|_| url.starts_with("postgres")) {
        let mut conn = PgConnection::establish(&format!("{server}/postgres"))?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)?;
    }
    Ok(())
}

/// The CSRF token a page carries.
fn csrf_token(page: &str) -> String {
    page.split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token")
        .to_string()
}

/// A client signed in as `username` (the demo's password), and the CSRF
/// token of the home page it landed on.
pub async fn signed_in(base: &str, username: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client");
    let page = client
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .expect("the sign-in page")
        .text()
        .await
        .expect("its text");
    let res = client
        .post(format!("{base}/sign-in"))
        .form(&[
            ("csrf_token", csrf_token(&page).as_str()),
            ("username", username),
            ("password", countersign::store::demo::PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("signed in");
    assert_eq!(res.url().path(), "/", "signing in as {username}");
    let home = res.text().await.expect("the home page");
    let token = csrf_token(&home);
    (client, token)
}
