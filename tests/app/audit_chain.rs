//! The hash-chained audit trail: every event of a ticket takes the next
//! place in its chain, `countersign audit verify` passes a clean trail and
//! names the event an attacker edited, removed or inserted in the
//! database, and the export carries hashes an auditor re-checks with
//! Python alone.

use std::process::Command;

use countersign::db::ids::ApplyId;
use countersign::db::schema::{applies, audit_events as e};
use countersign::store::chain::{GENESIS, Pending, canonical, hash_of};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// Runs `countersign args…` against the test's database; (succeeded,
/// standard output).
fn countersign(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(args)
        .env("DATABASE_URL", app.database_url())
        .env("DATA_DIR", app.data_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run countersign");
    assert!(
        out.stderr.is_empty() || out.status.success() || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A database change filed by ops.wang, both reviews approved at the same
/// moment, the DBA's run completed: a finished ticket with a dozen events.
async fn finished_change(app: &TestApp) -> i32 {
    app.load_demo();
    let service = service_id(app, "Database change");
    let ops = app.demo_browser("ops.wang").await;
    let page = post_as(
        app,
        &ops,
        &format!("/services/{service}"),
        &[
            ("reason", "Index the orders table"),
            ("database", "payments"),
            ("statements", "CREATE INDEX orders_by_day ON orders (day);"),
            ("risk", "high"),
            ("intent", "submit"),
        ],
    )
    .await;
    let id: i32 = page
        .path
        .strip_prefix("/tickets/")
        .unwrap()
        .parse()
        .unwrap();
    let (security, dba) = (
        app.demo_browser("sec.huang").await,
        app.demo_browser("dba.xu").await,
    );
    let action = |page: Page| page.attr("section.action form", "action").unwrap();
    let (a, b) = (
        action(get(&security, &app.url(&format!("/tickets/{id}"))).await),
        action(get(&dba, &app.url(&format!("/tickets/{id}"))).await),
    );
    let (one, two) = tokio::join!(
        post_as(app, &security, &a, &[("intent", "approve")]),
        post_as(app, &dba, &b, &[("intent", "approve")]),
    );
    assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK));
    act_first(
        app,
        &dba,
        id,
        &[("intent", "complete"), ("dba_result", "Built online")],
    )
    .await;
    assert_eq!(ticket_status(app, id), "finished");
    id
}

type Stored = (
    i32,
    chrono::NaiveDateTime,
    Option<i32>,
    Option<i32>,
    String,
    String,
    String,
    Option<i32>,
    Option<i32>,
    String,
    (Option<i32>, Option<i32>, Option<String>, Option<String>),
);

/// A ticket's events in chain order.
fn chain(app: &TestApp, id: i32) -> Vec<Stored> {
    app.query(move |c| {
        e::table
            .filter(e::apply_id.eq(id))
            .order(e::seq)
            .select((
                e::id,
                e::at,
                e::actor_id,
                e::on_behalf_of_id,
                e::channel,
                e::action,
                e::subject_type,
                e::subject_id,
                e::apply_id,
                e::detail,
                (e::chain, e::seq, e::prev_hash, e::hash),
            ))
            .load(c)
    })
}

fn pending(row: &Stored) -> Pending {
    Pending {
        at: row.1,
        actor_id: row.2.map(countersign::db::ids::UserId),
        on_behalf_of_id: row.3.map(countersign::db::ids::UserId),
        channel: countersign::db::states::Channel::parse(&row.4).unwrap(),
        action: row.5.clone(),
        subject_type: row.6.clone(),
        subject_id: row.7,
        apply_id: row.8,
        detail: row.9.clone(),
    }
}

#[actix_web::test]
async fn every_event_of_a_ticket_takes_the_next_place_in_its_chain_even_when_two_approve_at_once() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let events = chain(&app, id);
    assert!(events.len() >= 10, "{}", events.len());
    let mut prev = GENESIS.to_string();
    for (place, row) in events.iter().enumerate() {
        let (chain, seq, prev_hash, hash) = row.10.clone();
        assert_eq!(chain, Some(id));
        assert_eq!(seq, Some(place as i32 + 1));
        assert_eq!(prev_hash.as_deref(), Some(prev.as_str()), "event {}", row.0);
        let recomputed = hash_of(&prev, &canonical(id, place as i32 + 1, &pending(row)));
        assert_eq!(
            hash.as_deref(),
            Some(recomputed.as_str()),
            "event {}",
            row.0
        );
        prev = recomputed;
    }
    let end: (i32, Option<String>) = app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select((applies::audit_seq, applies::audit_hash))
            .first(c)
    });
    assert_eq!(end, (events.len() as i32, Some(prev)));
}

#[actix_web::test]
async fn audit_verify_passes_a_clean_trail() {
    let app = TestApp::spawn().await;
    finished_change(&app).await;
    let (ok, out) = countersign(&app, &["audit", "verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("the audit trail is intact"), "{out}");
    assert!(
        !out.contains("altered") && !out.contains("removed"),
        "{out}"
    );
}

#[actix_web::test]
async fn audit_verify_names_an_event_whose_detail_was_edited_in_the_database() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let victim = chain(&app, id)[4].0;
    app.query(move |c| {
        diesel::update(e::table.find(countersign::db::ids::AuditEventId(victim)))
            .set(e::detail.eq(r#"{"comment":"approved by someone else"}"#))
            .execute(c)
    });
    let (ok, out) = countersign(&app, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "altered: event {victim} (ticket {id}, place 5) does not match its hash"
        )),
        "{out}"
    );
}

#[actix_web::test]
async fn audit_verify_names_an_event_edited_with_its_hash_recomputed_by_the_one_after_it() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let events = chain(&app, id);
    let (victim, next) = (events[3].clone(), events[4].0);
    // An attacker who knows the recipe re-hashes the row they changed.
    let mut forged = pending(&victim);
    forged.actor_id = Some(countersign::db::ids::UserId(1));
    let prev = victim.10.2.clone().unwrap();
    let hash = hash_of(&prev, &canonical(id, 4, &forged));
    app.query(move |c| {
        diesel::update(e::table.find(countersign::db::ids::AuditEventId(victim.0)))
            .set((e::actor_id.eq(1), e::hash.eq(hash)))
            .execute(c)
    });
    let (ok, out) = countersign(&app, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "event {next} (ticket {id}, place 5) does not follow event {} before it",
            victim.0
        )),
        "{out}"
    );
}

#[actix_web::test]
async fn audit_verify_names_where_events_were_removed_in_the_middle_and_at_the_end() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let events = chain(&app, id);
    let (middle, after, last) = (events[2].0, events[3].0, events.last().unwrap().0);
    let n = events.len();
    app.query(move |c| diesel::delete(e::table.filter(e::id.eq_any([middle, last]))).execute(c));
    let (ok, out) = countersign(&app, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "removed: ticket {id} lost places 3 to 3, just before event {after}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "removed: ticket {id} lost its last events, places {n} to {n}"
        )),
        "{out}"
    );
}

#[actix_web::test]
async fn audit_verify_names_an_event_inserted_outside_the_chains_or_past_a_chains_end() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let n = chain(&app, id).len() as i32;
    let now = chrono::Utc::now().naive_utc();
    let (loose, appended): (i32, i32) = app.query(move |c| {
        let loose = diesel::insert_into(e::table)
            .values((
                e::at.eq(countersign::db::stamp::At(now)),
                e::actor_id.eq(1),
                e::channel.eq("web"),
                e::action.eq("assignment.approved"),
                e::subject_type.eq("apply"),
                e::apply_id.eq(id),
                e::detail.eq("{}"),
            ))
            .returning(e::id)
            .get_result::<countersign::db::ids::AuditEventId>(c)?;
        let appended = diesel::insert_into(e::table)
            .values((
                e::at.eq(countersign::db::stamp::At(now)),
                e::actor_id.eq(1),
                e::channel.eq("web"),
                e::action.eq("assignment.approved"),
                e::subject_type.eq("apply"),
                e::apply_id.eq(id),
                e::detail.eq("{}"),
                e::chain.eq(id),
                e::seq.eq(n + 1),
                e::prev_hash.eq(GENESIS),
                e::hash.eq(GENESIS),
            ))
            .returning(e::id)
            .get_result::<countersign::db::ids::AuditEventId>(c)?;
        Ok((loose.0, appended.0))
    });
    let (ok, out) = countersign(&app, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "inserted: event {loose} belongs to no chain (it was not written by countersign)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "inserted: event {appended} stands past the end recorded for ticket {id}"
        )),
        "{out}"
    );
}

#[actix_web::test]
async fn the_decision_export_carries_hashes_an_auditor_checks_with_python_alone() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let serial: String = app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    });
    let (ok, jsonl) = countersign(
        &app,
        &[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--decisions",
            "--ticket",
            &serial,
        ],
    );
    assert!(ok, "{jsonl}");
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "assignment.approved")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"assignment.completed"), "{actions:?}");
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("assignment.") || *a == "node.auto_approved"),
        "{actions:?}"
    );
    assert!(rows.iter().all(|r| r["ticket"] == serial.as_str()));
    let names: Vec<&str> = rows.iter().map(|r| r["actor"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"sec.huang") && names.contains(&"dba.xu"),
        "{names:?}"
    );

    // The auditor's own check, in Python: each row's hash is the SHA-256
    // of the hash before it, a newline, and the row's fields as JSON.
    let script = r#"
import hashlib, json, sys
n = 0
for line in sys.stdin:
    r = json.loads(line)
    fields = [r["chain"], r["seq"], r["at"], r["actor_id"], r["on_behalf_of_id"],
              r["channel"], r["action"], r["subject_type"], r["subject_id"],
              r["apply_id"], r["detail"]]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256((r["prev_hash"] + "\n" + text).encode()).hexdigest()
    assert digest == r["hash"], (r["id"], digest, r["hash"])
    n += 1
print(n)
"#;
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(jsonl.as_bytes())
        .unwrap();
    let checked = python.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        rows.len().to_string()
    );

    // The CSV carries the same rows and hashes.
    let (ok, csv) = countersign(
        &app,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--decisions",
            "--ticket",
            &serial,
        ],
    );
    assert!(ok, "{csv}");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], countersign::store::audit_export::CSV_HEADER);
    assert_eq!(lines.len(), rows.len() + 1);
    for (line, row) in lines[1..].iter().zip(&rows) {
        assert!(line.starts_with(&format!("{},", row["id"])), "{line}");
        assert!(line.ends_with(row["hash"].as_str().unwrap()), "{line}");
    }
}

fn serial_of(app: &TestApp, id: i32) -> String {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    })
}

#[actix_web::test]
async fn an_administrator_reads_one_tickets_decisions_on_the_audit_page_and_downloads_them() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let serial = serial_of(&app, id);
    let admin = app.demo_browser("admin").await;
    let page = get(
        &admin,
        &app.url(&format!("/admin/audit?ticket={serial}&decisions=1")),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let actions = page.texts("table.audit tbody td code:not([title])");
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(
        actions.iter().all(|a| a.starts_with("assignment.")),
        "{actions:?}"
    );
    let who = page.texts("table.audit tbody td:nth-child(2)");
    assert!(who.contains(&"sec.huang".to_string()), "{who:?}");
    let channels = page.texts("table.audit tbody td:nth-child(3)");
    assert!(channels.iter().all(|c| c == "web"), "{channels:?}");

    let link = page.attr("#audit-jsonl", "href").unwrap();
    let res = admin.get(app.url(&link)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit.jsonl")
    );
    let body = res.text().await.unwrap();
    let rows: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    let events = chain(&app, id);
    for row in &rows {
        let stored = events
            .iter()
            .find(|e| serde_json::json!(e.0) == row["id"])
            .unwrap();
        assert_eq!(row["hash"].as_str(), stored.10.3.as_deref());
        assert_eq!(row["seq"].as_i64(), stored.10.1.map(i64::from));
    }
    let csv = admin
        .get(app.url(&page.attr("#audit-csv", "href").unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 4);
}

#[actix_web::test]
async fn the_audit_page_keeps_a_bad_filter_and_says_beside_each_field_what_is_wrong() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let admin = app.demo_browser("admin").await;
    let page = get(
        &admin,
        &app.url("/admin/audit?from=2026-13-01&ticket=CHG-NOPE&actor=nobody.here"),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("from").as_deref(),
        Some("Enter a day as YYYY-MM-DD.")
    );
    assert_eq!(
        page.field_error("ticket").as_deref(),
        Some("No ticket has this number.")
    );
    assert_eq!(
        page.field_error("actor").as_deref(),
        Some("No person has this username.")
    );
    assert_eq!(
        page.input_value("#audit-filter", "from").as_deref(),
        Some("2026-13-01")
    );
    assert_eq!(page.count("table.audit"), 0);
    // A download with the same filter says the same, not a 500.
    let res = get(&admin, &app.url("/admin/audit/export.csv?from=yesterday")).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.field_error("from").is_some());
}

#[actix_web::test]
async fn people_who_are_not_administrators_may_neither_read_nor_export_nor_verify_the_trail() {
    let app = TestApp::spawn().await;
    finished_change(&app).await;
    let qc = app.demo_browser("sec.huang").await;
    for path in [
        "/admin/audit",
        "/admin/audit/export.jsonl",
        "/admin/audit/export.csv",
    ] {
        let res = qc.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let page = post_as(&app, &qc, "/admin/audit/verify", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let anonymous = TestApp::browser();
    let res = anonymous
        .get(app.url("/admin/audit/export.jsonl"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.url().path(), "/sign-in", "sent to sign in first");
}

#[actix_web::test]
async fn verifying_on_the_audit_page_names_an_edited_event_in_the_readers_language() {
    let app = TestApp::spawn().await;
    let id = finished_change(&app).await;
    let admin = app.demo_browser("admin").await;
    let page = post_as(&app, &admin, "/admin/audit/verify", &[]).await;
    assert!(
        page.text("#audit-verified")
            .unwrap()
            .starts_with("The audit trail is intact"),
        "{:?}",
        page.text("#audit-verified")
    );
    let victim = chain(&app, id)[1].0;
    app.query(move |c| {
        diesel::update(e::table.find(countersign::db::ids::AuditEventId(victim)))
            .set(e::channel.eq("api"))
            .execute(c)
    });
    post_as(
        &app,
        &admin,
        "/language",
        &[("lang", "zh-CN"), ("back", "/admin/audit")],
    )
    .await;
    let page = post_as(&app, &admin, "/admin/audit/verify", &[]).await;
    assert_eq!(
        page.texts("#audit-verified li"),
        vec![format!(
            "被篡改：事件 {victim}（工单 {id}，第 2 位）与其哈希不符"
        )]
    );
}
