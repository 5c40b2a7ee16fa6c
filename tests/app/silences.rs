//! Monitoring silences against a real Alertmanager (Debian's
//! `prometheus-alertmanager`, started by each test): an approved change
//! silences its hosts and resources for exactly its window, a new window
//! (resubmitted and approved again, or moved) moves it, withdrawing the
//! change or carrying it out early expires it, an unreachable
//! Alertmanager is recorded and tried again, two runners make one
//! silence, and nothing is made before approval or for a change with
//! nothing to match. The sync is driven by calling its turn directly (the
//! app's own runner is off), except where the runner itself is tested.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use countersign::config::{AlertmanagerConfig, MailConfig};
use countersign::db::ids::ApplyId;
use countersign::db::schema::{applies, silences};
use countersign::flow::*;
use countersign::jobs::silences::{SilenceSync, turn};
use countersign::store::silences::SilenceRow;
use diesel::prelude::*;
use serde_json::Value;

use crate::approval_rules::people;
use crate::helpers::*;

/// An Alertmanager of this test's own, on a free port, with no cluster;
/// killed when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Where the Alertmanager binary is, if installed.
fn binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/bin")])
        .flat_map(|dir| ["prometheus-alertmanager", "alertmanager"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

impl Alertmanager {
    /// Starts one and waits until it is ready; `None`, with a note, when
    /// it is not installed and `REQUIRE_ALERTMANAGER` is not set.
    async fn start() -> Option<Alertmanager> {
        let Some(bin) = binary() else {
            assert!(
                std::env::var_os("REQUIRE_ALERTMANAGER").is_none(),
                "REQUIRE_ALERTMANAGER is set but prometheus-alertmanager is not installed"
            );
            eprintln!("note: prometheus-alertmanager is not installed; skipping");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let (listener, port) = free_port();
        drop(listener);
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-alertmanager");
        let mut am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = am.http.get(format!("{}/-/ready", am.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Some(am);
            }
            let log = || std::fs::read_to_string(am._dir.path().join("log")).unwrap_or_default();
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("Alertmanager exited ({status}):\n{}", log());
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager never became ready:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn config(&self) -> AlertmanagerConfig {
        AlertmanagerConfig {
            url: self.url.clone(),
            label: "instance".into(),
        }
    }

    fn sync(&self) -> SilenceSync {
        SilenceSync::new(&self.config()).unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }

    /// Every silence Alertmanager holds, expired ones too.
    async fn silences(&self) -> Vec<Value> {
        self.get("/api/v2/silences")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// The silences not expired.
    async fn live(&self) -> Vec<Value> {
        self.silences()
            .await
            .into_iter()
            .filter(|s| s["status"]["state"] != "expired")
            .collect()
    }

    async fn silence(&self, id: &str) -> Value {
        self.get(&format!("/api/v2/silence/{id}")).await
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app whose own runner is off: the tests turn the sync themselves.
async fn app() -> TestApp {
    let app = TestApp::spawn_configured(MailConfig::files(), |c| c.run_jobs = false).await;
    people(&app, &["bob", "ops"]);
    app
}

/// The calendar tests' change process, touching databases (resources)
/// too; after bob approves, ops carries it out.
fn deploy_change(app: &TestApp) -> i32 {
    let mut def = crate::change_calendar::change_process();
    def.nodes[0].fields.push(FieldDef::new(
        "databases",
        LocalText::new("Databases", "数据库"),
        FieldKind::Resource,
    ));
    def.change
        .as_mut()
        .expect("a change process")
        .items
        .push("databases".into());
    let mut task = NodeDef::new(
        "carry_out",
        LocalText::new("Carry out", "实施"),
        NodeKind::Task,
    );
    task.handlers = vec![HandlerRule::Users {
        usernames: vec!["ops".into()],
    }];
    def.nodes.push(task);
    app.deploy_service(&def, "Deploy").0
}

/// A resource named `name`; its id as typed into a form (`#7`).
fn resource(app: &TestApp, name: &str) -> String {
    use countersign::domain::Name;
    use countersign::store::resources::{ResourceInput, create};
    let admin = app.user_id("admin");
    let input = ResourceInput {
        name: Name::parse(name).unwrap(),
        kind: Name::parse("database").unwrap(),
        owner: None,
        managed: false,
        description: String::new(),
    };
    let id = app
        .db
        .write_sync(move |c| create(c, &input, admin))
        .unwrap();
    format!("#{}", id.0)
}

fn minute(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
}

/// A window starting `hours` from now, `length` hours long, to the minute.
fn window(app: &TestApp, hours: i64, length: i64) -> (NaiveDateTime, NaiveDateTime) {
    let start = minute(app.db.now()) + chrono::Duration::hours(hours);
    (start, start + chrono::Duration::hours(length))
}

fn typed(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// The submit form of a change in `window` on `hosts` and `databases`.
fn change_form(
    (start, end): (NaiveDateTime, NaiveDateTime),
    hosts: &str,
    databases: &[&str],
) -> Vec<(String, String)> {
    let mut form = vec![
        ("what".to_string(), "Upgrade the database".to_string()),
        ("window.start".into(), typed(start)),
        ("window.end".into(), typed(end)),
        ("hosts".into(), hosts.into()),
    ];
    form.extend(
        databases
            .iter()
            .map(|d| ("databases".to_string(), d.to_string())),
    );
    form
}

fn fields(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Files a change as the applicant; its ticket id.
async fn file(app: &TestApp, service: i32, form: &[(String, String)]) -> i32 {
    let applicant = browser_for(app, "applicant").await;
    let mut sent = vec![("intent", "submit")];
    sent.extend(fields(form));
    let page = post_as(app, &applicant, &format!("/services/{service}"), &sent).await;
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not filed: {} {}", page.status, page.path))
}

/// `who` decides the step waiting for them on ticket `id` as `intent`.
async fn decide(app: &TestApp, who: &str, id: i32, intent: &str) {
    let browser = browser_for(app, who).await;
    let page = act_first(
        app,
        &browser,
        id,
        &[("intent", intent), ("comment", "Looked at it")],
    )
    .await;
    assert!(page.status.is_success(), "{who} {intent}: {}", page.status);
}

fn serial(app: &TestApp, id: i32) -> String {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    })
}

fn recorded(app: &TestApp, id: i32) -> Option<SilenceRow> {
    app.db
        .read_sync(move |c| countersign::store::silences::of_ticket(c, ApplyId(id)))
        .unwrap()
}

fn row_version(app: &TestApp, id: i32) -> i32 {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::row_version)
            .first(c)
    })
}

async fn sync_once(app: &TestApp, sync: &SilenceSync) -> usize {
    turn(&app.db, sync, "test-runner").await
}

fn at(text: &Value) -> NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .naive_utc()
}

#[actix_web::test]
async fn an_approved_change_silences_its_hosts_and_resources_for_exactly_its_window() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let pg = resource(&app, "pg-main");
    let win = window(&app, 24, 2);
    let id = file(
        &app,
        service,
        &change_form(win, "db01.example, WEB01", &[&pg]),
    )
    .await;

    // Not approved yet: looked at, nothing made.
    assert_eq!(sync_once(&app, &am.sync()).await, 1);
    assert!(am.silences().await.is_empty());
    let row = recorded(&app, id).expect("looked at");
    assert_eq!(row.silence_id, None);
    assert_eq!(row.synced_version, row_version(&app, id));

    decide(&app, "bob", id, "approve").await;
    assert_eq!(ticket_status(&app, id), "running");
    assert_eq!(sync_once(&app, &am.sync()).await, 1);
    let made = am.silences().await;
    assert_eq!(made.len(), 1, "{made:?}");
    let silence = &made[0];
    assert_eq!(
        silence["matchers"],
        serde_json::json!([{
            "name": "instance",
            "value": r"(db01\.example|pg-main|web01)(:[0-9]+)?",
            "isRegex": true,
            "isEqual": true,
        }])
    );
    assert_eq!(at(&silence["startsAt"]), win.0);
    assert_eq!(at(&silence["endsAt"]), win.1);
    assert_eq!(silence["status"]["state"], "pending");
    assert_eq!(silence["createdBy"], "countersign");
    let serial = serial(&app, id);
    let comment = silence["comment"].as_str().unwrap();
    assert!(comment.starts_with(&format!("{serial}: ")), "{comment}");
    let row = recorded(&app, id).unwrap();
    assert_eq!(row.silence_id.as_deref(), silence["id"].as_str());
    assert_eq!(row.window, Some(win));
    assert_eq!(row.matchers, ["db01.example", "pg-main", "web01"]);
    assert_eq!(row.last_error, None);
    assert_eq!(row.synced_version, row_version(&app, id));

    // In step: the next turn has nothing to look at.
    assert_eq!(sync_once(&app, &am.sync()).await, 0);
    assert_eq!(am.silences().await.len(), 1);

    // The ticket's page says so, with the silence's id.
    let bob = browser_for(&app, "bob").await;
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    let said = page
        .text("#change-silence")
        .expect("the silence on the page");
    assert!(said.contains("db01.example, pg-main, web01"), "{said}");
    assert!(said.contains(silence["id"].as_str().unwrap()), "{said}");
}

/// The change's gate verdict now, as a pipeline would be told.
fn gate_verdict(app: &TestApp, id: i32) -> Result<(), countersign::store::gate::Shut> {
    let serial = serial(app, id);
    let admin = app.user_id("admin");
    let at = app.db.now();
    app.db
        .read_sync(move |c| countersign::store::gate::gate(c, &serial, admin, true, at))
        .unwrap()
        .expect("a change")
        .verdict
}

#[actix_web::test]
async fn a_change_sent_back_and_resubmitted_with_a_new_window_is_silenced_for_that_window_once_approved_again()
 {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let first = window(&app, 24, 2);
    let id = file(&app, service, &change_form(first, "db02", &[])).await;
    decide(&app, "bob", id, "send_back").await;
    assert_eq!(ticket_status(&app, id), "sent_back");
    sync_once(&app, &am.sync()).await;
    assert!(am.silences().await.is_empty());

    let moved = window(&app, 48, 3);
    let applicant = browser_for(&app, "applicant").await;
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/resubmit"),
        &fields(&change_form(moved, "db02 db03", &[])),
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Resubmitted; the flow starts again.")
    );
    sync_once(&app, &am.sync()).await;
    assert!(am.silences().await.is_empty(), "not approved again yet");

    // The round that sent it back is over: approved again, it is approved.
    decide(&app, "bob", id, "approve").await;
    assert_eq!(
        gate_verdict(&app, id),
        Err(countersign::store::gate::Shut::BeforeWindow)
    );
    sync_once(&app, &am.sync()).await;
    let made = am.silences().await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(at(&made[0]["startsAt"]), moved.0);
    assert_eq!(at(&made[0]["endsAt"]), moved.1);
    assert_eq!(made[0]["matchers"][0]["value"], "(db02|db03)(:[0-9]+)?");
    let row = recorded(&app, id).unwrap();
    assert_eq!(row.silence_id.as_deref(), made[0]["id"].as_str());
    assert_eq!(row.window, Some(moved));
}

#[actix_web::test]
async fn a_window_that_moves_while_approved_moves_its_silence() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let first = window(&app, 24, 2);
    let id = file(&app, service, &change_form(first, "db01", &[])).await;
    decide(&app, "bob", id, "approve").await;
    sync_once(&app, &am.sync()).await;
    let before = recorded(&app, id).unwrap().silence_id.unwrap();
    let single = am.silence(&before).await;
    assert_eq!(single["matchers"][0]["value"], "(db01)(:[0-9]+)?");
    assert_eq!(single["matchers"][0]["isRegex"], true);

    // No action moves an approved window today (a resubmission needs a
    // send-back, which only an undecided approval can give): the calendar
    // row is moved in the store, and the ticket marked as changed.
    let moved = window(&app, 30, 4);
    let facts = countersign::flow::change::ChangeFacts {
        window: moved,
        items: vec!["host:db01".into()],
        emergency: false,
    };
    app.db
        .write_sync(move |c| {
            countersign::store::changes::record(
                c,
                ApplyId(id),
                countersign::db::ids::ServiceId(service),
                None,
                &facts,
                false,
            )?;
            diesel::update(applies::table.find(ApplyId(id)))
                .set(applies::row_version.eq(applies::row_version + 1))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(sync_once(&app, &am.sync()).await, 1);
    let live = am.live().await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(at(&live[0]["startsAt"]), moved.0);
    assert_eq!(at(&live[0]["endsAt"]), moved.1);
    let row = recorded(&app, id).unwrap();
    assert_eq!(row.silence_id.as_deref(), live[0]["id"].as_str());
    assert_eq!(row.window, Some(moved));
    // A pending silence with the same matchers is moved in place.
    assert_eq!(row.silence_id.as_deref(), Some(before.as_str()));
}

#[actix_web::test]
async fn withdrawing_an_approved_change_expires_its_silence() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let id = file(&app, service, &change_form(window(&app, 1, 2), "db01", &[])).await;
    decide(&app, "bob", id, "approve").await;
    sync_once(&app, &am.sync()).await;
    let silence = recorded(&app, id).unwrap().silence_id.unwrap();
    assert_eq!(am.silence(&silence).await["status"]["state"], "pending");

    let applicant = browser_for(&app, "applicant").await;
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Not needed any more")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The ticket was withdrawn."));
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.text("#change-silence").as_deref(),
        Some(
            "Monitoring silence: Alertmanager has not been brought in step with the ticket's latest change yet."
        )
    );
    assert_eq!(sync_once(&app, &am.sync()).await, 1);
    assert_eq!(am.silence(&silence).await["status"]["state"], "expired");
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert!(
        page.text("#change-silence")
            .unwrap()
            .contains("was expired at"),
        "{:?}",
        page.text("#change-silence")
    );
    let row = recorded(&app, id).unwrap();
    assert_eq!(row.silence_id.as_deref(), Some(silence.as_str()));
    assert!(!row.live(app.db.now()));
    assert_eq!(row.synced_version, row_version(&app, id));
    // Nothing more to do: it is not expired again.
    assert_eq!(sync_once(&app, &am.sync()).await, 0);
}

#[actix_web::test]
async fn a_change_carried_out_before_its_window_ends_expires_its_silence() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let id = file(&app, service, &change_form(window(&app, 1, 4), "db01", &[])).await;
    decide(&app, "bob", id, "approve").await;
    sync_once(&app, &am.sync()).await;
    let silence = recorded(&app, id).unwrap().silence_id.unwrap();

    // Ops records the change as done.
    let ops = browser_for(&app, "ops").await;
    act_first(&app, &ops, id, &[("intent", "complete")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    sync_once(&app, &am.sync()).await;
    assert_eq!(am.silence(&silence).await["status"]["state"], "expired");
    assert!(am.live().await.is_empty());
}

#[actix_web::test]
async fn two_runners_turning_at_once_make_one_silence_for_each_change() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let mut ids = Vec::new();
    for n in 0..4 {
        let host = format!("db0{n}");
        let id = file(
            &app,
            service,
            &change_form(window(&app, 2 + n, 1), &host, &[]),
        )
        .await;
        decide(&app, "bob", id, "approve").await;
        ids.push(id);
    }
    let (a, b) = (am.sync(), am.sync());
    let (x, y) = tokio::join!(turn(&app.db, &a, "runner-a"), turn(&app.db, &b, "runner-b"));
    assert!(x + y >= 4, "{x} + {y}");
    let made = am.silences().await;
    assert_eq!(made.len(), 4, "{made:#?}");
    for id in ids {
        let row = recorded(&app, id).unwrap();
        assert!(
            made.iter()
                .any(|s| s["id"].as_str() == row.silence_id.as_deref()),
            "{row:?}"
        );
    }
    let held: i64 = app.query(|c| {
        silences::table
            .filter(silences::claimed_by.is_not_null())
            .count()
            .get_result(c)
    });
    assert_eq!(held, 0, "every claim handed back");
}

#[actix_web::test]
async fn nothing_is_silenced_before_approval_nor_for_a_change_with_no_host_or_resource() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let waiting = file(&app, service, &change_form(window(&app, 3, 1), "db01", &[])).await;
    let nothing = file(&app, service, &change_form(window(&app, 3, 1), "", &[])).await;
    decide(&app, "bob", nothing, "approve").await;
    assert_eq!(sync_once(&app, &am.sync()).await, 2);
    assert!(am.silences().await.is_empty());
    for id in [waiting, nothing] {
        let row = recorded(&app, id).unwrap();
        assert_eq!(row.silence_id, None);
        assert_eq!(row.synced_version, row_version(&app, id));
    }
    // A window over by the time it is approved is not silenced either.
    app.advance(chrono::Duration::hours(5));
    decide(&app, "bob", waiting, "approve").await;
    assert_eq!(sync_once(&app, &am.sync()).await, 0, "its window has ended");
    assert!(am.silences().await.is_empty());
}

#[actix_web::test]
async fn an_alertmanager_that_cannot_be_reached_is_recorded_and_tried_again() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let app = app().await;
    let service = deploy_change(&app);
    let id = file(&app, service, &change_form(window(&app, 2, 1), "db01", &[])).await;
    decide(&app, "bob", id, "approve").await;
    let (listener, port) = free_port();
    drop(listener);
    let nowhere = SilenceSync::new(&AlertmanagerConfig {
        url: format!("http://127.0.0.1:{port}"),
        label: "instance".into(),
    })
    .unwrap();
    assert_eq!(sync_once(&app, &nowhere).await, 1);
    let row = recorded(&app, id).unwrap();
    let error = row.last_error.clone().expect("the error is kept");
    assert!(
        error.starts_with(&format!("POST http://127.0.0.1:{port}/api/v2/silences: ")),
        "{error}"
    );
    assert_eq!(row.silence_id, None);
    assert!(row.synced_version < row_version(&app, id));

    assert_eq!(sync_once(&app, &am.sync()).await, 1);
    let row = recorded(&app, id).unwrap();
    assert_eq!(row.last_error, None);
    assert_eq!(am.live().await.len(), 1);
    assert_eq!(row.silence_id.as_deref(), am.live().await[0]["id"].as_str());
}

#[actix_web::test]
async fn the_job_runner_keeps_the_silences_when_alertmanager_is_configured() {
    let Some(am) = Alertmanager::start().await else {
        return;
    };
    let config = am.config();
    let app =
        TestApp::spawn_configured(MailConfig::files(), move |c| c.alertmanager = Some(config))
            .await;
    people(&app, &["bob", "ops"]);
    let service = deploy_change(&app);
    let id = file(&app, service, &change_form(window(&app, 2, 1), "db01", &[])).await;
    decide(&app, "bob", id, "approve").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while am.live().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the runner never made the silence"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = am.live().await;
    assert_eq!(live.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while recorded(&app, id).and_then(|r| r.silence_id).as_deref() != live[0]["id"].as_str() {
        assert!(Instant::now() < deadline, "never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
