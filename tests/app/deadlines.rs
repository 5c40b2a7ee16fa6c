//! Deadlines on the clock: reminders that arrive at their moments with
//! working links, each escalation policy doing what it says through the
//! one door, a step decided just in time left alone, timers that fire once
//! after a restart and across instances — time moved, never slept.

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use countersign::db::Db;
use countersign::db::ids::ApplyId;
use countersign::db::schema::{applies, approve_users, approves, audit_events, timers, users};
use countersign::flow::*;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{approval, deploy, file};
use crate::helpers::*;
use crate::smtp::{self, Inbox, link};

/// An approval by bob, answered within 8 wall-clock hours, reminded at
/// half time and every 4 hours after, escalated by `policy`.
fn timed(policy: Escalation) -> NodeDef {
    let mut node = approval("sign_off", Mode::Any, &["bob"]);
    node.name = LocalText::new("Sign-off", "签字");
    node.deadline = Some(Deadline {
        hours: 8,
        working: false,
        remind_at: vec![50],
        repeat_hours: Some(4),
        on_breach: policy,
    });
    node
}

/// An app with mail, its people (bob reports to carol) and the SMTP
/// inbox mail arrives in.
async fn people() -> (TestApp, Inbox) {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.create_user("admin", true);
    app.create_user("applicant", false);
    let carol = app.create_user("carol", false);
    app.create_user_with("bob", false, Some(carol));
    (app, inbox)
}

/// Waits (up to 10 s) until `check` holds: the runner acts on its own
/// task, as soon as the clock moves.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ticket's events of `action`, their details as JSON.
fn events(app: &TestApp, id: i32, action: &str) -> Vec<(serde_json::Value, String)> {
    let action = action.to_string();
    let rows: Vec<(String, String)> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq(action))
            .order(audit_events::id)
            .select((audit_events::detail, audit_events::channel))
            .load(c)
    });
    rows.into_iter()
        .map(|(d, ch)| (serde_json::from_str(&d).unwrap(), ch))
        .collect()
}

/// The ticket's one approval step: (status, due, overdue since).
fn step(
    app: &TestApp,
    id: i32,
) -> (
    String,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
) {
    app.query(move |c| {
        approves::table
            .filter(approves::apply_id.eq(ApplyId(id)))
            .filter(approves::node_key.eq("sign_off"))
            .select((approves::status, approves::due_at, approves::overdue_at))
            .first(c)
    })
}

/// Who holds the ticket's approval now, with each one's status.
fn holders(app: &TestApp, id: i32) -> Vec<(String, String, Option<String>, Option<String>)> {
    app.query(move |c| {
        approve_users::table
            .inner_join(approves::table)
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approves::node_key.eq("sign_off"))
            .order(approve_users::id)
            .select((
                users::username,
                approve_users::status,
                approve_users::decision,
                approve_users::channel,
            ))
            .load(c)
    })
}

fn to(who: &'static str) -> impl Fn(&str) -> bool {
    move |m: &str| m.contains(&format!("To: {who}@example.com"))
}

#[actix_web::test]
async fn reminders_arrive_at_their_moments_with_links_that_work_and_the_breach_marks_the_step_overdue()
 {
    let (app, inbox) = people().await;
    let service = deploy(&app, vec![timed(Escalation::MarkOverdue)]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    inbox.wait_for(1, to("bob")).await;
    let (status, due, overdue) = step(&app, id);
    assert_eq!(status, "active");
    let started: chrono::NaiveDateTime = app.query(move |c| {
        approves::table
            .filter(approves::apply_id.eq(ApplyId(id)))
            .filter(approves::node_key.eq("sign_off"))
            .select(approves::started_at.assume_not_null())
            .first(c)
    });
    assert_eq!(due, Some(started + Span::hours(8)), "eight hours to answer");
    assert_eq!(overdue, None);

    // Three hours on: nothing yet.
    app.advance(Span::hours(3));
    countersign::jobs::turn(&app.db, "a-test-turn").await;
    assert!(events(&app, id, "node.reminded").is_empty());

    // Half time: bob is reminded, with a link that decides.
    app.advance(Span::hours(1) + Span::minutes(1));
    let reminders = inbox
        .wait_for(1, |m| {
            to("bob")(m) && m.contains("Reminder: Sign-off waits for you")
        })
        .await;
    let first_link = link(&reminders[0], "action=approve").expect("an approve link");
    assert!(reminders[0].contains("A laptop"), "what bob decides on");
    let reminded = events(&app, id, "node.reminded");
    assert_eq!(reminded.len(), 1);
    assert_eq!(reminded[0].0["percent"], 50);
    assert_eq!(reminded[0].1, "timer");

    // The deadline passes: the step is overdue and bob is told.
    app.advance(Span::hours(4));
    let overdue_mail = inbox
        .wait_for(1, |m| {
            to("bob")(m) && m.contains("Overdue: Sign-off waits for you")
        })
        .await;
    until("the step is marked overdue", || step(&app, id).2.is_some()).await;
    let breaches = events(&app, id, "node.overdue");
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].0["policy"], "mark_overdue");
    assert_eq!(breaches[0].1, "timer");

    // Everyone looking sees it, in their language.
    let bob = browser_for(&app, "bob").await;
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("#deadlines tr.deadline-overdue"), 1);
    let timeline = page.texts("ol.timeline li").join("\n");
    assert!(
        timeline.contains("Sign-off passed its deadline: marked overdue · by its deadline"),
        "{timeline}"
    );
    assert!(
        timeline.contains("countersign reminded the people Sign-off waits for"),
        "{timeline}"
    );
    let inbox_page = get(&bob, &app.url("/inbox")).await;
    assert_eq!(inbox_page.count("td.due.overdue"), 1);
    post_as(&app, &bob, "/language", &[("lang", "zh-CN"), ("back", "/")]).await;
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    let timeline = page.texts("ol.timeline li").join("\n");
    assert!(timeline.contains("签字 已超时：已标记超时"), "{timeline}");

    // The newest mail's link decides; the one it replaced does not.
    let stale = get(&TestApp::browser(), &first_link).await;
    assert_eq!(
        stale.attr("#email-link", "data-state").as_deref(),
        Some("unknown")
    );
    let approve = link(&overdue_mail[0], "action=approve").unwrap();
    let done = press_link(&app, &approve, "approve").await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(ticket_status(&app, id), "finished");
    let met = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        met.count("#deadlines tr.deadline-missed"),
        1,
        "answered late"
    );
    let left: i64 = app.query(|c| timers::table.count().get_result(c));
    assert_eq!(left, 0, "a decided step's timer is gone");
}

#[actix_web::test]
async fn each_escalation_policy_does_what_it_says() {
    let (app, inbox) = people().await;
    let mut tickets = Vec::new();
    for policy in Escalation::ALL {
        let service = {
            let mut def = ProcessDef::new(
                LocalText::new(&format!("Buy {}", policy.as_str()), ""),
                ProcessKind::Request,
            );
            def.nodes[0].fields.push(FieldDef::new(
                "what",
                LocalText::new("What", "内容"),
                FieldKind::Text,
            ));
            def.nodes.push(timed(policy));
            app.deploy_service(&def, &format!("Buy {}", policy.as_str()))
                .0
        };
        tickets.push((policy, file(&app, service, &[("what", "Chairs")]).await));
    }
    inbox.wait_for(tickets.len(), to("bob")).await;
    app.advance(Span::hours(8) + Span::minutes(1));
    for (policy, id) in &tickets {
        let id = *id;
        until(policy.as_str(), || {
            events(&app, id, "node.overdue").len() == 1
        })
        .await;
    }
    let ticket = |p: Escalation| tickets.iter().find(|(x, _)| *x == p).unwrap().1;

    // Only marked: bob still holds it.
    let id = ticket(Escalation::MarkOverdue);
    assert_eq!(
        holders(&app, id),
        vec![("bob".into(), "pending".into(), None, None)]
    );

    // The manager is told whom it waits for.
    let mails = inbox
        .wait_for(1, |m| {
            to("carol")(m) && m.contains("Overdue with bob Person")
        })
        .await;
    assert!(mails[0].contains("waiting for bob Person, who reports to you"));

    // The manager joins the step and is asked; bob may still answer.
    let id = ticket(Escalation::AddManager);
    assert_eq!(
        holders(&app, id),
        vec![
            ("bob".into(), "pending".into(), None, None),
            ("carol".into(), "pending".into(), None, None)
        ]
    );
    let added = events(&app, id, "assignment.added");
    assert_eq!(added[0].0["to"], "carol Person");

    // Handed over: carol holds it, with a fresh eight hours.
    let id = ticket(Escalation::HandToManager);
    assert_eq!(
        holders(&app, id),
        vec![
            (
                "bob".into(),
                "transferred".into(),
                None,
                Some("timer".into())
            ),
            ("carol".into(), "pending".into(), None, None)
        ]
    );
    let (_, due, overdue) = step(&app, id);
    assert_eq!(overdue, None, "not overdue for its new holder");
    assert!(due.unwrap() > app.db.now() + Span::hours(7));
    inbox
        .wait_for(1, |m| {
            to("carol")(m) && m.contains("Waiting for you: Sign-off")
        })
        .await;

    // Decided by the clock, for bob.
    let id = ticket(Escalation::AutoApprove);
    assert_eq!(ticket_status(&app, id), "finished");
    assert_eq!(
        holders(&app, id),
        vec![(
            "bob".into(),
            "decided".into(),
            Some("approve".into()),
            Some("timer".into())
        )]
    );
    let id = ticket(Escalation::AutoReject);
    assert_eq!(ticket_status(&app, id), "rejected");
    let applicant = browser_for(&app, "applicant").await;
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    let timeline = page.texts("ol.timeline li").join("\n");
    assert!(
        timeline.contains("countersign for bob Person rejected Sign-off · by its deadline"),
        "{timeline}"
    );
    assert!(timeline.contains("Sign-off passed its deadline: rejected automatically"));
    inbox
        .wait_for(1, |m| to("applicant")(m) && m.contains("Rejected"))
        .await;
}

#[actix_web::test]
async fn a_step_decided_a_moment_before_its_deadline_is_not_escalated() {
    let (app, _inbox) = people().await;
    let service = deploy(&app, vec![timed(Escalation::AutoReject)]);
    let id = file(&app, service, &[("what", "A desk")]).await;
    app.advance(Span::hours(7) + Span::minutes(59));
    let bob = browser_for(&app, "bob").await;
    act_first(&app, &bob, id, &[("intent", "approve"), ("comment", "")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    app.advance(Span::minutes(2));
    countersign::jobs::turn(&app.db, "a-test-turn").await;
    assert!(events(&app, id, "node.overdue").is_empty());
    assert_eq!(ticket_status(&app, id), "finished");
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.count("#deadlines tr.deadline-met"),
        1,
        "answered in time"
    );
}

/// A job runner's turn on a database of its own (another instance).
async fn turn_elsewhere(app: &TestApp, runner: &str) -> usize {
    let db = Db::connect(&app.database_url(), 2).unwrap();
    db.clock().advance(app.db.clock().offset());
    countersign::jobs::turn(&db, runner).await
}

#[actix_web::test]
async fn a_timer_claimed_by_a_runner_that_died_fires_once_after_its_lease() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_configured(smtp_mail(port), |c| c.run_jobs = false).await;
    app.create_user("admin", true);
    app.create_user("applicant", false);
    app.create_user("bob", false);
    let service = deploy(&app, vec![timed(Escalation::MarkOverdue)]);
    let id = file(&app, service, &[("what", "A lamp")]).await;
    app.advance(Span::hours(4) + Span::minutes(1));
    // A runner claims the reminder and dies before it fires it.
    let claimed = app.query(|c| {
        countersign::store::timers::claim(c, "gone", 10, countersign::jobs::LEASE)
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
    });
    assert_eq!(claimed.len(), 1);
    // Another instance does not take it while the claim holds…
    assert_eq!(turn_elsewhere(&app, "second").await, 0);
    assert!(events(&app, id, "node.reminded").is_empty());
    // …and fires it once when it lapses, however many look.
    app.advance(countersign::jobs::LEASE + Span::seconds(1));
    let (a, b) = tokio::join!(
        turn_elsewhere(&app, "second"),
        turn_elsewhere(&app, "third")
    );
    assert_eq!(a + b, 1, "claimed by one of them");
    assert_eq!(turn_elsewhere(&app, "fourth").await, 0);
    assert_eq!(events(&app, id, "node.reminded").len(), 1);
    inbox
        .wait_for(1, |m| to("bob")(m) && m.contains("Reminder: Sign-off"))
        .await;
    // The dead runner's late attempt does nothing.
    let fired = app.query(move |c| {
        let timer = countersign::store::timers::Timer {
            id: claimed[0].id,
            ..claimed[0].clone()
        };
        countersign::store::tickets::fire_timer(c, &timer, "gone")
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
    });
    assert_eq!(fired, countersign::store::tickets::Fired::Nothing);
    assert_eq!(events(&app, id, "node.reminded").len(), 1);
}

#[actix_web::test]
async fn several_runners_on_one_database_fire_each_timer_once() {
    let (app, inbox) = people().await;
    let service = deploy(&app, vec![timed(Escalation::MarkOverdue)]);
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(file(&app, service, &[("what", &format!("Item {n}"))]).await);
    }
    inbox.wait_for(ids.len(), to("bob")).await;
    // The app's own runner and three more, on connections of their own.
    app.advance(Span::hours(4) + Span::minutes(1));
    tokio::join!(
        turn_elsewhere(&app, "second"),
        turn_elsewhere(&app, "third"),
        turn_elsewhere(&app, "fourth"),
    );
    for id in &ids {
        let id = *id;
        until("the reminder", || {
            events(&app, id, "node.reminded").len() == 1
        })
        .await;
    }
    inbox
        .wait_for(ids.len(), |m| m.contains("Reminder: Sign-off"))
        .await;
    countersign::jobs::turn(&app.db, "late").await;
    for id in &ids {
        assert_eq!(events(&app, *id, "node.reminded").len(), 1, "once each");
    }
    let reminders = inbox
        .all()
        .iter()
        .filter(|m| smtp::decode(m).contains("Reminder: Sign-off"))
        .count();
    assert_eq!(reminders, ids.len(), "one mail each");
}

#[actix_web::test]
async fn a_withdrawn_ticket_takes_its_timer_with_it() {
    let (app, _inbox) = people().await;
    let service = deploy(&app, vec![timed(Escalation::AutoApprove)]);
    let id = file(&app, service, &[("what", "A phone")]).await;
    let applicant = browser_for(&app, "applicant").await;
    post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Not needed")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "withdrawn");
    let left: i64 = app.query(|c| timers::table.count().get_result(c));
    assert_eq!(left, 0);
}

#[actix_web::test]
async fn the_designer_refuses_a_deadline_that_makes_no_sense_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("bob", false);
    let mut def = ProcessDef::new(LocalText::new("Buy", ""), ProcessKind::Request);
    def.nodes.push(timed(Escalation::MarkOverdue));
    let mut task = NodeDef::new("fetch", LocalText::new("Fetch", ""), NodeKind::Task);
    task.handlers = vec![HandlerRule::Users {
        usernames: vec!["bob".into()],
    }];
    def.nodes.push(task);
    let admin = app.user_id("admin");
    let process = app
        .db
        .write_sync(|c| countersign::store::processes::create(c, &def, admin))
        .unwrap();
    let admin = browser_for(&app, "admin").await;
    let node = format!("/admin/processes/{process}/nodes/sign_off");
    let form = get(&admin, &app.url(&node)).await;
    assert_eq!(
        form.input_value("#node-form", "deadline_hours").as_deref(),
        Some("8")
    );
    assert_eq!(
        form.input_value("#node-form", "remind_at").as_deref(),
        Some("50")
    );
    let revision = form.input_value("#node-form", "revision").unwrap();
    let base = |hours: &'static str, remind: &'static str, breach: &'static str| {
        vec![
            ("revision", revision.clone()),
            ("name_en", "Sign-off".to_string()),
            ("mode", "any".into()),
            ("empty_assignees", "skip".into()),
            ("self_approval", "manager".into()),
            ("on_reject", "end".into()),
            ("deadline_hours", hours.into()),
            ("remind_at", remind.into()),
            ("repeat_hours", "".into()),
            ("on_breach", breach.into()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>, path: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_as(app, &admin, &path, &fields).await
        }
    };
    for (hours, remind, field, says) in [
        ("0", "", "deadline_hours", "from 1 to 8760"),
        ("-3", "", "deadline_hours", "from 1 to 8760"),
        ("8", "50, 100", "remind_at", "after the deadline"),
        ("8", "90, 50", "remind_at", "earliest to the latest"),
    ] {
        let page = send(base(hours, remind, "mark_overdue"), node.clone()).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{hours} {remind}"
        );
        let error = page.field_error(field).unwrap_or_default();
        assert!(error.contains(says), "{field}: {error}");
        assert_eq!(
            page.input_value("#node-form", "deadline_hours").as_deref(),
            Some(hours)
        );
        assert_eq!(
            page.input_value("#node-form", "remind_at").as_deref(),
            Some(remind)
        );
    }
    // A manager added where everyone must approve only adds a vote.
    let mut fields = base("8", "", "add_manager");
    fields[2].1 = "all".into();
    let page = send(fields, node.clone()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.field_error("on_breach")
            .unwrap_or_default()
            .contains("hand the step over instead")
    );
    // A task cannot be approved by the clock.
    let task = format!("/admin/processes/{process}/nodes/fetch");
    let mut fields = base("4", "", "auto_approve");
    fields[1].1 = "Fetch".into();
    let page = send(fields, task.clone()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.field_error("on_breach")
            .unwrap_or_default()
            .contains("only an approval")
    );
    // A sound one is saved.
    let page = send(base("16", "25, 75", "hand_to_manager"), node.clone()).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "{:?}",
        page.field_error("deadline_hours")
    );
    let saved = get(&admin, &app.url(&node)).await;
    assert_eq!(
        saved.input_value("#node-form", "remind_at").as_deref(),
        Some("25, 75")
    );
    assert_eq!(
        saved.selected("#node-form", "on_breach").as_deref(),
        Some("hand_to_manager")
    );
}

#[actix_web::test]
async fn a_process_counts_its_deadlines_in_its_own_calendar_with_imported_holidays() {
    let (app, _inbox) = people().await;
    let admin = browser_for(&app, "admin").await;
    // Nonsense is refused beside its input, and what was typed stays.
    let typed = [
        ("code", "shanghai_weekend"),
        ("name_en", "Weekend desk"),
        ("name_zh", "周末值班"),
        ("tz", "Mars/Olympus"),
        ("sat", "00:00-24:00"),
        ("mon", "18:00-09:00"),
    ];
    let page = post_as(&app, &admin, "/admin/calendars", &typed).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("tz").unwrap().contains("IANA"));
    assert!(
        page.field_error("mon")
            .unwrap()
            .contains("ending after it starts")
    );
    assert_eq!(
        page.input_value("#calendar-form", "name_zh").as_deref(),
        Some("周末值班")
    );

    // Only Saturdays are worked, in Shanghai; the first Saturday to come
    // is a holiday, from an iCalendar file.
    let monday = {
        let today = app.db.now().date();
        let ahead = 7 - i64::from(chrono::Datelike::weekday(&today).num_days_from_monday());
        (today + Span::days(ahead + 7))
            .and_hms_opt(0, 0, 0)
            .unwrap()
    };
    let holiday = (monday + Span::days(5)).date();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Day off\r\nDTSTART;VALUE=DATE:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        holiday.format("%Y%m%d")
    );
    let page = post_as(
        &app,
        &admin,
        "/admin/calendars",
        &[
            ("code", "shanghai_weekend"),
            ("name_en", "Weekend desk"),
            ("name_zh", "周末值班"),
            ("tz", "Asia/Shanghai"),
            ("sat", "00:00-24:00"),
            ("ics", &ics),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.form_error());
    assert_eq!(page.path, "/admin/calendars/shanghai_weekend");
    assert_eq!(
        page.text("#f-holidays").as_deref(),
        Some(holiday.to_string().as_str()),
        "the imported day is a holiday"
    );
    let list = get(&admin, &app.url("/admin/calendars")).await;
    assert_eq!(list.count("tr[data-code=shanghai_weekend]"), 1);

    let mut def = ProcessDef::new(LocalText::new("Weekend buy", ""), ProcessKind::Request);
    def.calendar = Some("shanghai_weekend".into());
    let mut node = timed(Escalation::MarkOverdue);
    node.deadline.as_mut().unwrap().working = true;
    def.nodes.push(node);
    let service = app.deploy_service(&def, "Weekend buy").0;
    app.advance(monday - app.db.now() + Span::hours(1));
    let id = file(&app, service, &[]).await;
    // Eight working hours: Saturday the holiday passes, so the next one,
    // 08:00 in Shanghai (00:00 UTC).
    let (_, due, _) = step(&app, id);
    assert_eq!(due, Some(monday + Span::days(12)));

    // Past it: the administrators' list and the export say so.
    app.advance(Span::days(13));
    until("overdue", || step(&app, id).2.is_some()).await;
    // (Signed in again: two weeks end any session.)
    let admin = browser_for(&app, "admin").await;
    let overdue = get(&admin, &app.url("/admin/overdue")).await;
    assert_eq!(overdue.texts(".overdue-group h2"), vec!["Weekend buy"]);
    let serial: String = app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    });
    assert_eq!(overdue.count(&format!("tr[data-serial=\"{serial}\"]")), 1);
    let csv = admin
        .get(app.url("/admin/tickets.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with("Deadlines,Deadlines missed"), "{header}");
    let line = csv.lines().find(|l| l.starts_with(&serial)).unwrap();
    let due = (monday + Span::days(12)).format("%Y-%m-%d %H:%M");
    assert!(line.ends_with(&format!("Sign-off: {due},1")), "{line}");
}

#[actix_web::test]
async fn a_whole_ticket_past_its_own_deadline_is_marked_and_its_people_told() {
    let (app, inbox) = people().await;
    let mut def = ProcessDef::new(LocalText::new("Slow buy", "慢采购"), ProcessKind::Request);
    def.deadline = Some(TicketDeadline {
        hours: 24,
        working: false,
    });
    def.nodes.push(approval("sign_off", Mode::Any, &["bob"]));
    let service = app.deploy_service(&def, "Slow buy").0;
    let id = file(&app, service, &[]).await;
    let (filed, due): (chrono::NaiveDateTime, Option<chrono::NaiveDateTime>) =
        app.query(move |c| {
            applies::table
                .find(ApplyId(id))
                .select((applies::created_at, applies::due_at))
                .first(c)
        });
    assert_eq!(due, Some(filed + Span::hours(24)));
    app.advance(Span::hours(24) + Span::minutes(1));
    until("the ticket is overdue", || {
        !events(&app, id, "ticket.overdue").is_empty()
    })
    .await;
    for who in ["applicant", "bob"] {
        inbox
            .wait_for(1, |m| {
                to(who)(m) && m.contains("the ticket passed its deadline")
            })
            .await;
    }
    let admin = browser_for(&app, "admin").await;
    let overdue = get(&admin, &app.url("/admin/overdue")).await;
    assert_eq!(
        overdue.texts("table.overdue td:nth-child(2)"),
        vec!["The whole ticket"]
    );
    let bob = browser_for(&app, "bob").await;
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("#deadlines tr.deadline-overdue"), 1);
    assert!(
        page.texts("ol.timeline li")
            .join("\n")
            .contains("The ticket passed its deadline · by its deadline")
    );
    act_first(&app, &bob, id, &[("intent", "approve"), ("comment", "")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    let page = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("#deadlines tr.deadline-missed"), 1);
}

#[actix_web::test]
async fn an_approval_the_clock_cast_is_not_carried_over_to_later_steps() {
    let (app, _inbox) = people().await;
    let mut later = approval("final", Mode::Any, &["bob"]);
    later.name = LocalText::new("Final", "终审");
    assert!(later.dedupe, "approvals are carried over by default");
    let service = deploy(&app, vec![timed(Escalation::AutoApprove), later]);
    let id = file(&app, service, &[("what", "A chair")]).await;
    app.advance(Span::hours(8) + Span::minutes(1));
    until("the clock approved", || {
        !events(&app, id, "node.overdue").is_empty()
    })
    .await;
    let decisions: Vec<(String, String, Option<String>)> = app.query(move |c| {
        approve_users::table
            .inner_join(approves::table)
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approves::node_key.ne("submit"))
            .order(approve_users::id)
            .select((
                approves::node_key,
                approve_users::status,
                approve_users::decision,
            ))
            .load(c)
    });
    assert_eq!(
        decisions,
        vec![
            ("sign_off".into(), "decided".into(), Some("approve".into())),
            ("final".into(), "pending".into(), None)
        ],
        "bob still decides the final step himself"
    );
}
