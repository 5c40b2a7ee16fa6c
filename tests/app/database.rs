//! The database handle: changes that queue up while another commits are
//! committed together (on SQLite), yet each succeeds or fails alone.

use countersign::db::schema::businesses;
use countersign::domain::Name;
use countersign::store::{StoreError, businesses as store};
use diesel::Connection;
use diesel::prelude::*;

use crate::helpers::*;

fn names(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = app.query(|c| businesses::table.select(businesses::name).load(c));
    names.sort();
    names
}

#[actix_web::test]
async fn changes_written_at_the_same_moment_succeed_or_fail_each_on_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let before = names(&app);
    // Forty changes at once; every third one fails after it has written.
    let writes = (0..40).map(|i| {
        let db = app.db.clone();
        async move {
            db.write(move |c| {
                let name = Name::parse(&format!("Team {i:02}")).unwrap();
                store::create(c, &name, "", admin)?;
                if i % 3 == 0 {
                    return Err(StoreError::rule("", "errors.name_taken"));
                }
                Ok(i)
            })
            .await
        }
    });
    let results = futures_util::future::join_all(writes).await;

    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(n) => assert!(i % 3 != 0 && *n == i, "change {i} answered {result:?}"),
            Err(StoreError::Rule { .. }) => assert_eq!(i % 3, 0, "change {i} failed"),
            Err(e) => panic!("change {i} failed unexpectedly: {e}"),
        }
    }
    let mut expected = before;
    expected.extend(
        (0..40)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("Team {i:02}")),
    );
    expected.sort();
    assert_eq!(
        names(&app),
        expected,
        "exactly the changes that succeeded are kept"
    );
}

#[actix_web::test]
async fn a_change_that_panics_fails_alone_and_writing_goes_on() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let writes = (0..6).map(|i| {
        let db = app.db.clone();
        async move {
            db.write(move |c| {
                let name = Name::parse(&format!("Crew {i}")).unwrap();
                store::create(c, &name, "", admin)?;
                assert!(i != 2, "a bug in one change");
                if i == 4 {
                    // A bug inside a transaction of the change's own.
                    c.transaction::<(), StoreError, _>(|_| panic!("a bug one level down"))?;
                }
                Ok(())
            })
            .await
        }
    });
    let results = futures_util::future::join_all(writes).await;
    assert!(
        results[2].is_err(),
        "the panicking change reports a failure"
    );
    assert!(results[4].is_err(), "so does the one that panicked deeper");
    for (i, result) in results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 4)
    {
        assert!(result.is_ok(), "change {i}: {result:?}");
    }
    let later = app
        .db
        .write(move |c| store::create(c, &Name::parse("Crew 9").unwrap(), "", admin))
        .await;
    assert!(later.is_ok(), "the writer still works: {later:?}");
    let crews: Vec<String> = names(&app)
        .into_iter()
        .filter(|n| n.starts_with("Crew"))
        .collect();
    assert_eq!(crews, ["Crew 0", "Crew 1", "Crew 3", "Crew 5", "Crew 9"]);
}

/// The server's processes serving this app's PostgreSQL database, ended
/// from outside the app, as a server restart or a network failure would.
fn drop_connections_of(app: &TestApp) {
    let url = app.database_url();
    let (server, rest) = url.rsplit_once('/').expect("a database URL");
    let name = rest.split('?').next().unwrap_or(rest);
    let mut admin = diesel::PgConnection::establish(&format!("{server}/postgres?sslmode=disable"))
        .expect("connect to the server");
    let ended: Vec<bool> = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .load::<Ended>(&mut admin)
    .expect("end the app's connections")
    .into_iter()
    .map(|e| e.ended)
    .collect();
    assert!(
        !ended.is_empty() && ended.iter().all(|e| *e),
        "the app had connections to end: {ended:?}"
    );
}

#[derive(diesel::QueryableByName)]
struct Ended {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ended: bool,
}

#[actix_web::test]
async fn pages_keep_working_after_postgresql_drops_the_apps_connections() {
    // The mail worker would take pooled connections between the pages
    // below, and might be the one to meet a dropped connection.
    let app = TestApp::spawn_with(countersign::config::MailConfig {
        poll_ms: 3_600_000,
        ..countersign::config::MailConfig::files()
    })
    .await;
    if app.db.backend() != countersign::db::Backend::Postgres {
        // A SQLite connection is a file handle; nothing can drop it.
        return;
    }
    app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;
    assert_eq!(app.get("/").await.h1(), "Welcome, ops.wang Person");

    drop_connections_of(&app);
    // Connections idle this long are checked before use; a dropped one is
    // replaced instead of failing the page.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    for _ in 0..6 {
        let page = app.get("/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.text(".me-name").as_deref(), Some("ops.wang Person"));
    }

    // A connection dropped while it was in use fails that one unit of
    // work, with an error page; it is not used again. The pool first
    // finishes opening the connections that replace the ones dropped
    // above (it opens them in the background); one opened after the drop
    // would serve every page below.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop_connections_of(&app);
    let mut failed = 0;
    for _ in 0..12 {
        let page = app.get("/").await;
        if page.status == 200 {
            assert_eq!(page.text(".me-name").as_deref(), Some("ops.wang Person"));
        } else {
            assert_eq!(page.status, 503, "a lost connection: {:?}", page.h1());
            assert_eq!(page.h1(), "The database is not answering");
            failed += 1;
        }
    }
    assert!(
        (1..=4).contains(&failed),
        "each of the 4 pooled connections fails once at most, {failed} failed"
    );
    let page = app.get("/").await;
    assert_eq!(page.status, 200, "then every page works again");
}

/// SQLite's `PRAGMA synchronous` on a connection of `db` (2 is FULL, 1 NORMAL).
fn synchronous(db: &countersign::db::Db) -> i32 {
    #[derive(QueryableByName)]
    struct Level {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    db.read_sync(|c| {
        Ok(countersign::direct!(c, |c| diesel::sql_query(
            "PRAGMA synchronous"
        )
        .get_result::<Level>(c))?)
    })
    .unwrap()
    .synchronous
}

#[actix_web::test]
async fn sqlite_syncs_every_commit_to_disk_unless_the_url_relaxes_it() {
    let app = TestApp::spawn().await;
    if app.db.backend() != countersign::db::Backend::Sqlite {
        return;
    }
    assert_eq!(synchronous(&app.db), 2, "FULL by default");
    let relaxed =
        countersign::db::Db::connect(&format!("{}?synchronous=normal", app.database_url()), 1)
            .unwrap();
    assert_eq!(synchronous(&relaxed), 1, "NORMAL when asked for");
    let refused = countersign::db::Db::connect(&format!("{}?sync=off", app.database_url()), 1)
        .err()
        .expect("an unknown option is refused");
    assert!(refused.to_string().contains("sync=off"), "{refused}");
}
