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
