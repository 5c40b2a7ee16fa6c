//! Starting and running out of room: instances started together on one
//! database all come up (migrating and loading the demo one at a time),
//! and a full disk answers a page that says nothing was changed, while
//! pages keep working and writes work again once there is room.

use std::process::Command;

use countersign::db::schema::{applies, users};
use countersign::db::{Backend, Db};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::email::file_change;
use crate::helpers::*;
use crate::process::{Server, unused_port};

#[actix_web::test]
async fn instances_started_together_on_an_empty_database_all_come_up_with_the_demo_loaded_once() {
    let scratch = Scratch::new();
    let mut servers: Vec<Server> = (0..3)
        .map(|_| Server::start(&scratch.url, scratch.dir.path(), &["--demo"], &[]))
        .collect();
    for server in &mut servers {
        server.ready().await;
    }
    for server in &mut servers {
        assert!(server.running());
    }
    let db = Db::connect(&scratch.url, 1).unwrap();
    let people: i64 = db
        .read_sync(|c| Ok(users::table.count().get_result(c)?))
        .unwrap();
    assert_eq!(people, countersign::store::demo::PEOPLE.len() as i64);
}

/// The page a full disk gets, and how many tickets there are afterwards.
async fn file_on_a_full_disk(
    app_url: &str,
    ops: &reqwest::Client,
    service: i32,
    business: i32,
) -> Page {
    let token = {
        let page = get(ops, &format!("{app_url}/")).await;
        page.attr("meta[name=csrf-token]", "content").unwrap()
    };
    let res = ops
        .post(format!("{app_url}/services/{service}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("intent", "submit"),
            ("business_id", business.to_string().as_str()),
            ("reason", "Disk test"),
            ("scope", "infrastructure"),
            ("window.start", "2026-11-28T01:00"),
            ("window.end", "2026-11-28T03:00"),
            ("rollback_plan", "None needed"),
        ])
        .send()
        .await
        .unwrap();
    Page::from(res).await
}

fn assert_nothing_stored_page(page: &Page) {
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.h1(), "Cannot store changes right now");
    assert!(
        page.text("main")
            .unwrap()
            .contains("so nothing was changed"),
        "{:?}",
        page.text("main")
    );
}

#[actix_web::test]
async fn a_full_disk_answers_a_page_saying_nothing_was_changed_and_writes_work_again_once_there_is_room()
 {
    if Backend::of_url(&Scratch::new().url) == Backend::Postgres {
        return a_full_disk_on_postgresql().await;
    }
    // SQLite on a small disk of its own: a tmpfs mounted in a private
    // mount namespace, which only the server (and, through its /proc
    // root, the test) sees.
    let scratch = Scratch::new();
    let data = scratch.dir.path().join("disk");
    std::fs::create_dir_all(&data).unwrap();
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("full-disk test skipped: needs root to mount a small disk (unshare, mount)");
        return;
    }
    let mut command = Command::new("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o size=24m tmpfs \"$DATA_DIR\" && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_countersign"),
    ]);
    let url = format!("sqlite://{}/countersign.db", data.display());
    let mut server = Server::start_with(command, unused_port(), &url, &data, &["--demo"], &[]);
    server.ready().await;
    let ops = TestApp::browser();
    let token = csrf_token_at(&server.base, &ops).await;
    ops.post(server.url("/sign-in"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "ops.wang"),
            ("password", countersign::store::demo::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // The demo's environment change and Payments (made first).
    let (service, business) = (1, 1);
    let filed = file_on_a_full_disk(&server.base, &ops, service, business).await;
    assert!(filed.path.starts_with("/tickets/"), "{}", filed.path);

    // Fill the server's disk.
    let disk = std::path::PathBuf::from(format!("/proc/{}/root{}", server.pid(), data.display()));
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    let page = file_on_a_full_disk(&server.base, &ops, service, business).await;
    assert_nothing_stored_page(&page);
    // Reading works on.
    assert_eq!(
        get(&ops, &server.url("/tickets")).await.status,
        StatusCode::OK
    );
    assert!(server.running());

    std::fs::remove_file(&filler).unwrap();
    let filed = file_on_a_full_disk(&server.base, &ops, service, business).await;
    assert!(filed.path.starts_with("/tickets/"), "{}", filed.path);
    let mine = get(&ops, &server.url("/tickets")).await;
    assert_eq!(
        mine.count("table tbody tr"),
        2,
        "the refused one was not stored"
    );
}

async fn csrf_token_at(base: &str, browser: &reqwest::Client) -> String {
    get(browser, &format!("{base}/sign-in"))
        .await
        .attr("meta[name=csrf-token]", "content")
        .unwrap()
}

/// PostgreSQL's own disk cannot be filled from a test: a trigger raises the
/// error PostgreSQL raises when it cannot extend a table's file (SQLSTATE
/// 53100, "No space left on device"), through the same connection.
async fn a_full_disk_on_postgresql() {
    let app = TestApp::spawn().await;
    app.load_demo();
    file_change(&app).await;
    let full = |on: bool| {
        app.db
            .write_sync(move |c| {
                let sql = if on {
                    "CREATE FUNCTION disk_is_full() RETURNS trigger AS $$ BEGIN \
                     RAISE EXCEPTION 'could not extend file \"base/16384/16385\": No space left on device' \
                     USING ERRCODE = 'disk_full', HINT = 'Check free disk space.'; END $$ LANGUAGE plpgsql; \
                     CREATE TRIGGER disk_is_full BEFORE INSERT ON applies \
                     FOR EACH ROW EXECUTE FUNCTION disk_is_full();"
                } else {
                    "DROP TRIGGER disk_is_full ON applies; DROP FUNCTION disk_is_full();"
                };
                diesel::connection::SimpleConnection::batch_execute(c, sql)?;
                Ok(())
            })
            .unwrap()
    };
    let ops = app.demo_browser("ops.wang").await;
    let (service, business) = (1, 1);
    full(true);

    let page = file_on_a_full_disk(&app.base, &ops, service, business).await;

    assert_nothing_stored_page(&page);
    let tickets: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(tickets, 1);
    full(false);
    let filed = file_on_a_full_disk(&app.base, &ops, service, business).await;
    assert!(filed.path.starts_with("/tickets/"), "{}", filed.path);
}
