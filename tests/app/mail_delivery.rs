//! Mail under faults: a crash sends again at most what was in flight, a
//! stop sends nothing twice, every copy carries the same `Message-ID`,
//! connections are kept between messages, and an outage is waited out for
//! a day before a message is given up — then an administrator sends every
//! failed one again at once. The crash and the stop are a real server
//! process killed and restarted by the test, with a real SMTP listener.

use std::time::Duration;

use countersign::db::Db;
use countersign::db::ids::OutboxId;
use countersign::db::schema::outbox;
use countersign::store::outbox::{Mail, enqueue};
use diesel::prelude::*;

use crate::helpers::*;
use crate::process::Server;
use crate::smtp;

/// Writes `n` messages to the outbox, as ticket events would.
fn write_mail(db: &Db, n: usize) {
    db.write_sync(|c| {
        for i in 0..n {
            let to = format!("person{i}@example.com");
            let text = format!("Message {i}");
            enqueue(
                c,
                &Mail {
                    to_user: None,
                    to_email: &to,
                    subject: &text,
                    text: &text,
                    html: &text,
                    kind: "waiting",
                    apply: None,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

fn count_with_status(db: &Db, status: &'static str) -> i64 {
    db.read_sync(|c| {
        Ok(outbox::table
            .filter(outbox::status.eq(status))
            .count()
            .get_result(c)?)
    })
    .unwrap()
}

/// Waits (up to `within`) until no message is waiting to be sent.
async fn drained(db: &Db, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while count_with_status(db, "pending") > 0 {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

/// Waits (up to 20 s) for what the mail worker does by itself.
async fn until(what: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !what() {
        assert!(std::time::Instant::now() < deadline, "it did not happen");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The environment of a server that mails through the test's listener,
/// four messages at a time.
fn smtp_env(port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SMTP_HOST", "127.0.0.1".to_string()),
        ("SMTP_PORT", port.to_string()),
        ("SMTP_SECURITY", "none".to_string()),
        ("SMTP_CONNECTIONS", "4".to_string()),
        ("OUTBOX_POLL_MS", "50".to_string()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// How many copies beyond the first arrived, over all messages.
fn duplicates(inbox: &smtp::Inbox) -> usize {
    let ids = inbox.message_ids();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    ids.len() - distinct.len()
}

#[actix_web::test]
async fn a_kill_during_a_flood_of_mail_sends_again_at_most_the_messages_in_flight() {
    let scratch = Scratch::new();
    let db = Db::connect(&scratch.url, 2).unwrap();
    write_mail(&db, 200);
    let (listener, smtp_port) = free_port();
    let inbox = smtp::serve_slowly(listener, Duration::from_millis(20));
    let env = smtp_env(&smtp_port.to_string());
    let mut server = Server::start(&scratch.url, scratch.dir.path(), &[], &env_refs(&env));
    server.ready().await;
    let arrived = inbox.wait_for_distinct(60, Duration::from_secs(30)).await;
    assert!(arrived >= 60, "{arrived} arrived");

    server.kill();
    // The same server starts again: it takes back its own claims at once.
    let mut again = Server::start_on(
        server.port,
        &scratch.url,
        scratch.dir.path(),
        &[],
        &env_refs(&env),
    );
    again.ready().await;

    assert_eq!(
        inbox.wait_for_distinct(200, Duration::from_secs(30)).await,
        200
    );
    assert!(drained(&db, Duration::from_secs(10)).await);
    // In flight: the four being handed to the mail server, and those it
    // had accepted that were not yet recorded.
    let in_flight = 4 + countersign::notify::worker::UNRECORDED_AT_MOST;
    assert!(
        duplicates(&inbox) <= in_flight,
        "{} sent twice, with {in_flight} in flight at most",
        duplicates(&inbox)
    );
    assert_eq!(count_with_status(&db, "sent"), 200);
}

#[actix_web::test]
async fn a_stop_lets_the_mail_in_flight_finish_and_hands_back_the_rest_so_nothing_is_sent_twice() {
    let scratch = Scratch::new();
    let db = Db::connect(&scratch.url, 2).unwrap();
    write_mail(&db, 120);
    let (listener, smtp_port) = free_port();
    let inbox = smtp::serve_slowly(listener, Duration::from_millis(100));
    let env = smtp_env(&smtp_port.to_string());
    let mut server = Server::start(&scratch.url, scratch.dir.path(), &[], &env_refs(&env));
    server.ready().await;
    inbox.wait_for_distinct(20, Duration::from_secs(30)).await;

    let status = server.terminate().await;

    assert!(status.success(), "{status}");
    assert_eq!(duplicates(&inbox), 0);
    let claimed: i64 = db
        .read_sync(|c| {
            Ok(outbox::table
                .filter(outbox::status.eq("pending"))
                .filter(outbox::claimed_until.is_not_null())
                .count()
                .get_result(c)?)
        })
        .unwrap();
    assert_eq!(claimed, 0, "the rest of the claim was handed back");
    // Another instance (another name) sends the rest at once.
    let mut other = Server::start(&scratch.url, scratch.dir.path(), &[], &env_refs(&env));
    other.ready().await;
    assert_eq!(
        inbox.wait_for_distinct(120, Duration::from_secs(30)).await,
        120
    );
    assert_eq!(duplicates(&inbox), 0);
}

#[actix_web::test]
async fn mail_goes_out_several_at_a_time_over_kept_connections_each_with_a_stable_message_id() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    write_mail(&app.db, 100);

    assert_eq!(
        inbox.wait_for_distinct(100, Duration::from_secs(30)).await,
        100
    );
    assert!(
        inbox.connections() <= 4,
        "{} connections for 100 messages",
        inbox.connections()
    );
    // The Message-ID comes from the outbox row: the same for every copy.
    let rows: Vec<(OutboxId, chrono::NaiveDateTime)> = app.query(|c| {
        outbox::table
            .select((outbox::id, outbox::created_at))
            .load(c)
    });
    let mut expected: Vec<String> = rows
        .iter()
        .map(|(id, at)| {
            format!(
                "<outbox.{}.{}@localhost>",
                id.0,
                at.and_utc().timestamp_micros()
            )
        })
        .collect();
    let mut ids = inbox.message_ids();
    expected.sort();
    ids.sort();
    assert_eq!(ids, expected);
}

#[actix_web::test]
async fn mail_waits_out_an_outage_for_a_day_then_is_given_up_and_an_administrator_sends_every_failed_one_again()
 {
    // Nobody listens on this port yet: the mail server is down.
    let (listener, port) = free_port();
    drop(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    write_mail(&app.db, 3);
    let attempted = |app: &TestApp, at_least: i32| {
        app.query(move |c| {
            outbox::table
                .filter(outbox::attempts.ge(at_least))
                .count()
                .get_result::<i64>(c)
        }) == 3
    };
    until(|| attempted(&app, 1)).await;
    let admin = app.demo_browser("admin").await;
    let page = get(&admin, &app.url("/admin/outbox")).await;
    let summary = page.text("#outbox-summary").unwrap();
    assert!(
        summary.starts_with("3 waiting to be sent, 0 given up. The oldest has waited "),
        "{summary}"
    );

    // Half a day later the mail server is still down: still retried.
    app.db.clock().advance(chrono::Duration::hours(12));
    until(|| attempted(&app, 2)).await;
    let admin = app.demo_browser("admin").await;
    assert_eq!(count_with_status(&app.db, "pending"), 3);
    let page = get(&admin, &app.url("/admin/outbox")).await;
    assert_eq!(
        page.text("#outbox-oldest").as_deref(),
        Some("The oldest has waited 12 hours.")
    );
    let health = reqwest::get(app.url("/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("mail_pending 3\n"), "{health}");
    assert!(
        health.contains("mail_oldest_pending_seconds 432"),
        "{health}"
    );

    // After a day it is given up.
    app.db.clock().advance(chrono::Duration::hours(13));
    until(|| count_with_status(&app.db, "failed") == 3).await;

    // The mail server is back; the administrator sends them all at once.
    let inbox = smtp::serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    let admin = app.demo_browser("admin").await;
    let page = get(&admin, &app.url("/admin/outbox")).await;
    assert_eq!(
        page.text("#outbox-summary").as_deref(),
        Some("0 waiting to be sent, 3 given up.")
    );
    let page = post_as(&app, &admin, "/admin/outbox/retry-failed", &[]).await;
    assert_eq!(
        page.flash().as_deref(),
        Some("3 messages will be sent again now.")
    );
    assert_eq!(inbox.wait_for_distinct(3, Duration::from_secs(20)).await, 3);
    assert!(drained(&app.db, Duration::from_secs(10)).await);
    assert_eq!(count_with_status(&app.db, "sent"), 3);
}

#[actix_web::test]
async fn an_administrator_cannot_resend_a_message_a_worker_is_sending_just_now() {
    let (listener, port) = free_port();
    drop(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    // Another instance has just claimed the message and is sending it.
    let id: OutboxId = app
        .db
        .write_sync(|c| {
            write_one(c)?;
            let claimed = countersign::store::outbox::claim(c, "elsewhere", 1, 300)?;
            Ok(claimed[0].id)
        })
        .unwrap();
    let admin = app.demo_browser("admin").await;

    let page = post_as(&app, &admin, &format!("/admin/outbox/{id}/retry"), &[]).await;

    assert_eq!(
        page.flash().as_deref(),
        Some("This message is being sent just now; nothing was changed.")
    );
    let claimed_by: Option<String> =
        app.query(move |c| outbox::table.find(id).select(outbox::claimed_by).first(c));
    assert_eq!(claimed_by.as_deref(), Some("elsewhere"));
}

fn write_one(c: &mut countersign::db::DbConn) -> countersign::store::StoreResult<()> {
    enqueue(
        c,
        &Mail {
            to_user: None,
            to_email: "someone@example.com",
            subject: "One",
            text: "One",
            html: "One",
            kind: "waiting",
            apply: None,
        },
    )
}

#[actix_web::test]
async fn the_outcome_of_a_claim_that_lapsed_and_was_taken_again_records_nothing() {
    use countersign::store::outbox::{Claim, Sent, claim, mark_sent};
    let words = Sent {
        subject: "x",
        text_body: "x",
        html_body: "x",
        link: None,
    };
    let scratch = Scratch::new();
    let db = Db::connect(&scratch.url, 2).unwrap();
    db.write_sync(write_one).unwrap();
    let first = db
        .write_sync(|c| claim(c, "here", 1, 60))
        .unwrap()
        .remove(0);
    // The claim lapses while the message is still in the queue…
    db.clock().advance(chrono::Duration::seconds(61));
    let again = db
        .write_sync(|c| claim(c, "here", 1, 60))
        .unwrap()
        .remove(0);
    assert_eq!(again.id, first.id);

    // …so what comes of the first claim records nothing; the second's does.
    let late = Claim {
        id: first.id,
        worker: "here",
        until: first.claimed_until.unwrap(),
    };
    db.write_sync(|c| mark_sent(c, &late, &words)).unwrap();
    assert_eq!(count_with_status(&db, "pending"), 1);
    let current = Claim {
        id: again.id,
        worker: "here",
        until: again.claimed_until.unwrap(),
    };
    db.write_sync(|c| mark_sent(c, &current, &words)).unwrap();
    assert_eq!(count_with_status(&db, "sent"), 1);
}
