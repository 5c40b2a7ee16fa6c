//! `/metrics`: tickets filed, finished and decided are counted by process,
//! outcome and channel once they commit (a refused action counts
//! nothing), requests by their route's pattern, the outbox gauges show
//! mail waiting and for how long, reading them moves no statement count
//! but their own, a token keeps it closed when set, and what it serves —
//! and the alert rules in the README — pass Prometheus' own `promtool`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use countersign::flow::Mode;
use countersign::store::api_tokens::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{post_json, token_for};
use crate::approval_rules::{approval, deploy, file, people};
use crate::helpers::*;

/// One sample of the text format: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a text exposition (comments left out).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("}"))),
                None => (series, BTreeMap::new()),
            };
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap_or_else(|_| panic!("a number: {line}")),
            }
        })
        .collect()
}

/// `a="x",b="y \"quoted\""` as a map, escapes undone.
fn labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

/// The value of the series `name` with exactly `want` as its labels; 0
/// when there is none yet (a counter no one has moved is not listed).
fn value(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples(text)
        .into_iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

/// `/metrics` as anyone (no token).
async fn scrape(app: &TestApp) -> String {
    let res = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.unwrap()
}

/// Where `promtool` is, if installed; `None`, with a note, when it is not
/// and `REQUIRE_PROMTOOL` is not set.
fn promtool() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_PROMTOOL").is_none(),
            "REQUIRE_PROMTOOL is set but promtool (Debian's prometheus) is not installed"
        );
        eprintln!("note: promtool (Debian's prometheus) is not installed; skipping");
    }
    found
}

/// Runs `promtool` with `args`, `input` on its standard input; panics
/// with what it said unless it succeeds.
fn run_promtool(bin: &std::path::Path, args: &[&str], input: &str) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed ({}):\n{}{}\non:\n{input}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An approval by "approver" in a "Purchase" process (kind `request`).
fn purchase(app: &TestApp) -> i32 {
    people(app, &["approver"]);
    deploy(app, vec![approval("check", Mode::Any, &["approver"])])
}

async fn file_by_api(app: &TestApp, service: i32, token: &str) -> i64 {
    let (status, filed) = post_json(
        app,
        &format!("/api/v1/services/{service}/tickets"),
        token,
        json!({ "fields": { "what": "A laptop" } }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    filed["id"].as_i64().unwrap()
}

const PURCHASE: [(&str, &str); 2] = [("kind", "request"), ("process", "Purchase")];

fn ended(outcome: &str) -> [(&str, &str); 3] {
    [
        ("kind", "request"),
        ("process", "Purchase"),
        ("outcome", outcome),
    ]
}

#[actix_web::test]
async fn tickets_filed_finished_and_decided_are_counted_by_process_outcome_and_channel_once_committed()
 {
    let app = TestApp::spawn().await;
    let service = purchase(&app);
    let before = scrape(&app).await;
    assert_eq!(
        value(&before, "countersign_tickets_filed_total", &PURCHASE),
        0.0
    );

    // Filed on the page, approved on the page: finished.
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let approver = browser_for(&app, "approver").await;
    act_first(&app, &approver, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "countersign_tickets_filed_total", &PURCHASE),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_decisions_total",
            &[("channel", "web"), ("decision", "approve")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_tickets_finished_total",
            &ended("finished")
        ),
        1.0
    );

    // Filed and rejected through the API.
    let applicant = token_for(&app, "applicant", Scope::Act);
    let by_api = token_for(&app, "approver", Scope::Act);
    let rejected = file_by_api(&app, service, &applicant).await;
    let assignment = pending_assignment(&app, rejected as i32);
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{rejected}/actions"),
        &by_api,
        json!({ "action": "reject", "assignment": assignment, "comment": "not this year" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The same vote again is refused (decided already): nothing counts.
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{rejected}/actions"),
        &by_api,
        json!({ "action": "approve", "assignment": assignment }),
        None,
    )
    .await;
    assert!(!status.is_success(), "{status}");
    // A rejection without its reason is refused as well.
    let third = file_by_api(&app, service, &applicant).await;
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{third}/actions"),
        &by_api,
        json!({ "action": "reject", "assignment": pending_assignment(&app, third as i32), "comment": " " }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Withdrawn by its applicant.
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{third}/actions"),
        &applicant,
        json!({ "action": "withdraw", "reason": "bought one" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "countersign_tickets_filed_total", &PURCHASE),
        3.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_decisions_total",
            &[("channel", "api"), ("decision", "reject")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_decisions_total",
            &[("channel", "api"), ("decision", "approve")]
        ),
        0.0,
        "the refused vote is not counted"
    );
    assert_eq!(
        value(
            &text,
            "countersign_tickets_finished_total",
            &ended("rejected")
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_tickets_finished_total",
            &ended("withdrawn")
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_tickets_finished_total",
            &ended("finished")
        ),
        1.0
    );
}

#[actix_web::test]
async fn what_a_unit_of_work_noted_counts_only_once_it_has_committed() {
    use countersign::metrics::{Noted, note};
    use countersign::store::StoreError;
    let app = TestApp::spawn().await;
    let vote = || {
        note(Noted::Decided {
            channel: "cli",
            decision: "approve",
        })
    };
    // Rolled back, on the writer (SQLite: in a batch's savepoint) and on
    // the calling thread.
    let failed = app
        .db
        .write(move |_| -> Result<(), StoreError> {
            vote();
            Err(StoreError::NotFound)
        })
        .await;
    assert!(failed.is_err());
    assert!(
        app.db
            .write_sync(|_| -> Result<(), StoreError> {
                vote();
                Err(StoreError::NotFound)
            })
            .is_err()
    );
    let cli = [("channel", "cli"), ("decision", "approve")];
    assert_eq!(
        value(&scrape(&app).await, "countersign_decisions_total", &cli),
        0.0
    );
    // Committed, both ways.
    app.db
        .write(move |_| -> Result<(), StoreError> {
            vote();
            Ok(())
        })
        .await
        .unwrap();
    app.db
        .write_sync(|_| -> Result<(), StoreError> {
            vote();
            Ok(())
        })
        .unwrap();
    assert_eq!(
        value(&scrape(&app).await, "countersign_decisions_total", &cli),
        2.0
    );
}

#[actix_web::test]
async fn requests_are_labelled_by_their_route_pattern_never_the_address_asked_for() {
    let app = TestApp::spawn().await;
    let service = purchase(&app);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let applicant = browser_for(&app, "applicant").await;
    let route = [
        ("method", "GET"),
        ("route", "/tickets/{id}"),
        ("status", "200"),
    ];
    let timed = [("method", "GET"), ("route", "/tickets/{id}")];
    let before = scrape(&app).await;
    for _ in 0..2 {
        get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    }
    let missing = reqwest::get(app.url("/no/such/page/4711")).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "countersign_http_requests_total", &route)
            - value(&before, "countersign_http_requests_total", &route),
        2.0,
        "{text}"
    );
    let count = "countersign_http_request_duration_seconds_count";
    assert_eq!(
        value(&text, count, &timed) - value(&before, count, &timed),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "countersign_http_requests_total",
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    let routes: Vec<String> = samples(&text)
        .into_iter()
        .filter_map(|s| s.labels.get("route").cloned())
        .collect();
    assert!(
        !routes
            .iter()
            .any(|r| r.contains(&id.to_string()) || r.contains("4711")),
        "no address asked for is a label: {routes:?}"
    );
    assert!(value(&text, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&text, "process_start_time_seconds", &[]) > 1.7e9);
    assert!(
        samples(&text)
            .iter()
            .any(|s| s.name == "countersign_db_pool_connections"
                && s.labels.get("state").map(String::as_str) == Some("idle"))
    );
}

#[actix_web::test]
async fn the_outbox_gauges_show_mail_waiting_and_how_long_the_oldest_has_waited() {
    // Mail to an SMTP port nobody listens on: it waits, retried.
    let (listener, port) = free_port();
    drop(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "countersign_outbox_unsent_messages", &[]), 0.0);
    assert_eq!(
        value(&text, "countersign_outbox_oldest_unsent_age_seconds", &[]),
        0.0
    );
    app.db
        .write_sync(|c| {
            countersign::store::outbox::enqueue(
                c,
                &countersign::store::outbox::Mail {
                    to_user: None,
                    to_email: "someone@example.com",
                    subject: "Hello",
                    text: "Hello",
                    html: "<p>Hello</p>",
                    kind: "test",
                    apply: None,
                },
            )
        })
        .unwrap();
    app.advance(chrono::Duration::minutes(20));
    let text = scrape(&app).await;
    assert_eq!(value(&text, "countersign_outbox_unsent_messages", &[]), 1.0);
    let age = value(&text, "countersign_outbox_oldest_unsent_age_seconds", &[]);
    assert!(
        (20.0 * 60.0..21.0 * 60.0).contains(&age),
        "the oldest waited twenty minutes: {age}"
    );
    assert_eq!(value(&text, "countersign_outbox_failed_messages", &[]), 0.0);
    assert_eq!(value(&text, "countersign_steps_overdue", &[]), 0.0);
    assert_eq!(value(&text, "countersign_timers_due", &[]), 0.0);
    assert_eq!(
        value(&text, "countersign_webhook_retries_waiting", &[]),
        0.0
    );
}

/// A "Purchase" whose approval by "approver" is due within 8 hours,
/// escalated by `policy`, on an app whose job runner runs (`jobs`) or not.
async fn timed(jobs: bool, policy: countersign::flow::Escalation) -> (TestApp, i32) {
    let app = TestApp::spawn_configured(
        countersign::config::MailConfig {
            poll_ms: 50,
            ..countersign::config::MailConfig::files()
        },
        |c| c.run_jobs = jobs,
    )
    .await;
    people(&app, &["approver"]);
    let mut node = approval("check", Mode::Any, &["approver"]);
    node.deadline = Some(countersign::flow::Deadline {
        hours: 8,
        working: false,
        remind_at: vec![],
        repeat_hours: None,
        on_breach: policy,
    });
    let service = deploy(&app, vec![node]);
    (app, service)
}

#[actix_web::test]
async fn a_step_past_its_deadline_counts_as_overdue_and_its_timer_as_due_until_it_is_decided() {
    let (app, service) = timed(false, countersign::flow::Escalation::MarkOverdue).await;
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "countersign_steps_overdue", &[]), 0.0);
    assert_eq!(value(&text, "countersign_timers_due", &[]), 0.0);
    // Past its deadline, with no runner to fire its timer.
    app.advance(chrono::Duration::hours(9));
    let text = scrape(&app).await;
    assert_eq!(value(&text, "countersign_steps_overdue", &[]), 1.0);
    assert_eq!(value(&text, "countersign_timers_due", &[]), 1.0);
    let approver = browser_for(&app, "approver").await;
    act_first(&app, &approver, id, &[("intent", "approve")]).await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "countersign_steps_overdue", &[]), 0.0);
    assert_eq!(value(&text, "countersign_timers_due", &[]), 0.0);
}

#[actix_web::test]
async fn a_vote_the_clock_casts_is_counted_under_the_timer_channel() {
    let (app, service) = timed(true, countersign::flow::Escalation::AutoApprove).await;
    let id = file(&app, service, &[("what", "A laptop")]).await;
    app.advance(chrono::Duration::hours(9));
    let by_clock = [("channel", "timer"), ("decision", "approve")];
    let started = std::time::Instant::now();
    loop {
        let text = scrape(&app).await;
        if value(&text, "countersign_decisions_total", &by_clock) == 1.0 {
            assert_eq!(
                value(
                    &text,
                    "countersign_tickets_finished_total",
                    &ended("finished")
                ),
                1.0
            );
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the clock never approved: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn reading_what_waits_moves_no_statement_count_but_the_scrapes_own() {
    // No job runner, and mail looked for once a minute: little else talks
    // to the database. What still does (the webhook sender's look each
    // second) may fall between two scrapes now and then; scraping itself
    // would make every pair differ.
    let app = TestApp::spawn_configured(
        countersign::config::MailConfig {
            poll_ms: 60_000,
            ..countersign::config::MailConfig::files()
        },
        |c| c.run_jobs = false,
    )
    .await;
    let own = "countersign_db_scrape_statements_total";
    let mut pairs = 0;
    loop {
        let first = scrape(&app).await;
        let second = scrape(&app).await;
        assert!(
            value(&second, own, &[]) > value(&first, own, &[]),
            "the scrape's own reads are counted apart"
        );
        let same = [
            "countersign_db_statements_total",
            "countersign_db_transactions_total",
        ]
        .iter()
        .all(|name| value(&first, name, &[]) == value(&second, name, &[]));
        if same {
            break;
        }
        pairs += 1;
        assert!(pairs < 10, "every scrape moved the statements counted");
    }
}

#[actix_web::test]
async fn with_a_metrics_token_only_a_request_bearing_it_is_served() {
    let app = TestApp::spawn_configured(countersign::config::MailConfig::files(), |c| {
        c.metrics_token = Some("a-token-for-prometheus".into())
    })
    .await;
    let ask = |authorization: Option<&'static str>| {
        let url = app.url("/metrics");
        async move {
            let mut req = reqwest::Client::new().get(url);
            if let Some(value) = authorization {
                req = req.header(reqwest::header::AUTHORIZATION, value);
            }
            req.send().await.unwrap()
        }
    };
    let missing = ask(None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(!missing.text().await.unwrap().contains("countersign_"));
    for wrong in [
        "Bearer not-the-token",
        "Bearer a-token-for-prometheu",
        "Basic a-token-for-prometheus",
        "a-token-for-prometheus",
    ] {
        assert_eq!(
            ask(Some(wrong)).await.status(),
            StatusCode::UNAUTHORIZED,
            "{wrong}"
        );
    }
    let right = ask(Some("Bearer a-token-for-prometheus")).await;
    assert_eq!(right.status(), StatusCode::OK);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("# TYPE countersign_db_statements_total counter")
    );
}

#[actix_web::test]
async fn what_metrics_serves_passes_promtool_check_metrics() {
    let Some(promtool) = promtool() else {
        return;
    };
    let app = TestApp::spawn().await;
    let service = purchase(&app);
    // Every family listed: tickets, decisions and requests of each kind.
    let id = file(&app, service, &[("what", "A \"quoted\" laptop")]).await;
    let approver = browser_for(&app, "approver").await;
    act_first(&app, &approver, id, &[("intent", "approve")]).await;
    reqwest::get(app.url("/no/such/page")).await.unwrap();
    let text = scrape(&app).await;
    for family in [
        "countersign_tickets_filed_total",
        "countersign_tickets_finished_total",
        "countersign_decisions_total",
        "countersign_http_request_duration_seconds_bucket",
        "countersign_outbox_oldest_unsent_age_seconds",
        "countersign_steps_overdue",
    ] {
        assert!(
            samples(&text).iter().any(|s| s.name == family),
            "{family} in\n{text}"
        );
    }
    run_promtool(&promtool, &["check", "metrics"], &text);
}

/// The YAML block of the README's "Monitoring" section that holds the
/// alert rules.
fn readme_rules() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let monitoring = readme
        .split("\n## Monitoring\n")
        .nth(1)
        .expect("a Monitoring section")
        .split("\n## ")
        .next()
        .unwrap();
    monitoring
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("\n```").next())
        .find(|block| block.starts_with("groups:"))
        .expect("a rules block starting with groups:")
        .to_string()
}

#[actix_web::test]
async fn the_readme_alert_rules_pass_promtool_check_rules() {
    let rules = readme_rules();
    let names: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(
        names,
        ["CountersignMailStuck", "CountersignApprovalsOverdue"]
    );
    assert!(rules.contains("countersign_outbox_oldest_unsent_age_seconds > 15 * 60"));
    assert!(rules.contains("countersign_steps_overdue"));
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("countersign.rules.yml");
    std::fs::write(&file, &rules).unwrap();
    run_promtool(&promtool, &["check", "rules", file.to_str().unwrap()], "");
}
