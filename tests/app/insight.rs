//! The change dashboards: figures checked against tickets whose outcomes
//! and timings the test sets (moving the clock), the same whether a day
//! is computed live or rolled up by the job runner; an empty range and a
//! single ticket; who may read them; the CSV downloads; Chinese.

use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Span, NaiveDate};
use countersign::db::ids::{BusinessId, ServiceId};
use countersign::db::schema::insight_days;
use countersign::flow::*;
use countersign::store::assignments::{self, Scope};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// A change for a business: bob signs off, quinn evaluates (QC).
fn change_service(app: &TestApp, sign_off_name: &str) -> ServiceId {
    let mut def = ProcessDef::new(LocalText::new("Change", "变更"), ProcessKind::Change);
    def.business_required = true;
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
    });
    let mut sign_off = NodeDef::new(
        "sign_off",
        LocalText::new(sign_off_name, "签字"),
        NodeKind::Approval,
    );
    sign_off.handlers = vec![HandlerRule::Users {
        usernames: vec!["bob".into()],
    }];
    let mut qc = NodeDef::new("qc", LocalText::new("Evaluation", "评价"), NodeKind::Review);
    qc.handlers = vec![HandlerRule::Users {
        usernames: vec!["quinn".into()],
    }];
    def.nodes.push(sign_off);
    def.nodes.push(qc);
    app.deploy_service(&def, "Changes")
}

/// Gives `username` the role `code` within `business`.
fn holds(app: &TestApp, username: &str, code: &str, business: BusinessId) {
    let (user, role, admin) = (
        app.user_id(username),
        app.role_id(code),
        app.user_id("admin"),
    );
    app.db
        .write_sync(|c| assignments::create(c, user, role, Scope::Business(business), admin))
        .unwrap();
}

/// Moves the clock to 01:00 UTC on the Tuesday of next week, so that a
/// day's work stays in one day and one ISO week; that Tuesday.
fn to_next_tuesday(app: &TestApp) -> NaiveDate {
    let now = app.db.now();
    let monday = now.date() - Span::days(i64::from(now.weekday().num_days_from_monday()));
    let tuesday = monday + Span::days(8);
    app.advance(tuesday.and_hms_opt(1, 0, 0).unwrap() - now);
    tuesday
}

/// Files a ticket for `business` as the applicant; its id.
async fn file(app: &TestApp, service: ServiceId, business: BusinessId, what: &str) -> i32 {
    let applicant = browser_for(app, "applicant").await;
    let page = post_as(
        app,
        &applicant,
        &format!("/services/{service}"),
        &[
            ("intent", "submit"),
            ("business_id", business.to_string().as_str()),
            ("what", what),
        ],
    )
    .await;
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path))
}

async fn approve(app: &TestApp, id: i32) {
    let bob = browser_for(app, "bob").await;
    let page = act_first(app, &bob, id, &[("intent", "approve"), ("comment", "")]).await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Approved."),
        "bob approves #{id}"
    );
}

async fn evaluate(app: &TestApp, id: i32, outcome: &str) {
    let quinn = browser_for(app, "quinn").await;
    let page = act_first(
        app,
        &quinn,
        id,
        &[("intent", "complete"), ("outcome", outcome)],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Done."),
        "quinn evaluates #{id}"
    );
}

/// The people, Payments and Search, and the change service.
fn people(app: &TestApp, sign_off_name: &str) -> (ServiceId, BusinessId, BusinessId) {
    let admin = app.create_user("admin", true);
    for name in ["applicant", "bob", "quinn", "carol"] {
        app.create_user(name, false);
    }
    let payments = app.create_business("Payments", admin);
    let search = app.create_business("Search", admin);
    holds(app, "bob", "ops_lead", payments);
    holds(app, "quinn", "qc", payments);
    (change_service(app, sign_off_name), payments, search)
}

/// On a Tuesday, for Payments:
/// - A: signed off after 2 h, evaluated successful 1 h later (lead 3 h);
/// - B: signed off after 4 h, evaluated unsuccessful 1 h later (lead 5 h);
/// - C: rejected by bob after 1 h;
/// - E: filed last and still waiting for bob.
async fn a_tuesday(app: &TestApp, service: ServiceId, payments: BusinessId) -> (NaiveDate, i32) {
    let tuesday = to_next_tuesday(app);
    let a = file(app, service, payments, "A").await;
    app.advance(Span::hours(2));
    approve(app, a).await;
    app.advance(Span::hours(1));
    evaluate(app, a, "successful").await;

    let b = file(app, service, payments, "B").await;
    app.advance(Span::hours(4));
    approve(app, b).await;
    app.advance(Span::hours(1));
    evaluate(app, b, "unsuccessful").await;

    let c = file(app, service, payments, "C").await;
    app.advance(Span::hours(1));
    let bob = browser_for(app, "bob").await;
    let page = act_first(
        app,
        &bob,
        c,
        &[("intent", "reject"), ("comment", "not now")],
    )
    .await;
    assert!(page.flash().is_some(), "bob rejects");
    let e = file(app, service, payments, "E").await;
    app.advance(Span::hours(2));
    assert_eq!(ticket_status(app, c), "rejected");
    (tuesday, e)
}

/// A table's rows, each row's cells (header cell first).
fn rows(page: &Page, table: &str) -> Vec<Vec<String>> {
    let selector = scraper::Selector::parse(&format!("#insight-{table} table tbody tr")).unwrap();
    let cell = scraper::Selector::parse("th, td").unwrap();
    page.html
        .select(&selector)
        .map(|tr| {
            tr.select(&cell)
                .map(|c| c.text().collect::<String>().trim().to_string())
                .collect()
        })
        .collect()
}

fn headers(page: &Page, table: &str) -> Vec<String> {
    page.texts(&format!("#insight-{table} table thead th"))
}

/// `text` read as hours is within 5 % of `hours` (percentiles come from
/// log-scale buckets).
fn about(text: &str, hours: f64) -> bool {
    text.parse::<f64>()
        .is_ok_and(|v| (v / hours - 1.0).abs() <= 0.05)
}

/// The row of `rows` whose first cell is `first`.
fn row<'a>(rows: &'a [Vec<String>], first: &str) -> &'a Vec<String> {
    rows.iter()
        .find(|r| r[0] == first)
        .unwrap_or_else(|| panic!("no row {first} in {rows:?}"))
}

async fn until_rolled(app: &TestApp, day: NaiveDate) {
    let number = countersign::flow::figures::day_number(day);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rolled: i64 = app.query(move |c| {
            insight_days::table
                .filter(insight_days::day.eq(number))
                .count()
                .get_result(c)
        });
        if rolled == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the runner never rolled {day} up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every table but the waiting one, whose "waited" grows with the clock.
fn figures(page: &Page) -> Vec<Vec<Vec<String>>> {
    [
        "volume",
        "success",
        "lead",
        "steps",
        "approvers",
        "roles",
        "breaches",
    ]
    .iter()
    .map(|t| rows(page, t))
    .collect()
}

#[actix_web::test]
async fn the_dashboard_counts_what_the_tickets_did_live_and_once_rolled_up() {
    let app = TestApp::spawn().await;
    let (service, payments, _) = people(&app, "Sign-off");
    let (tuesday, waiting) = a_tuesday(&app, service, payments).await;
    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url("/insight")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.h1(), "Change dashboards");
    let week = countersign::flow::figures::Period::Week.label(tuesday);

    // Twelve weeks, this one last.
    let volume = rows(&page, "volume");
    assert_eq!(volume.len(), 12);
    assert_eq!(volume[11], [week.as_str(), "4", "2", "1", "0"]);
    assert!(volume[..11].iter().all(|r| r[1..] == ["0", "0", "0", "0"]));

    // Two finished, both evaluated: one successful, one not.
    let success = rows(&page, "success");
    assert_eq!(
        success[11],
        [week.as_str(), "2", "2", "1", "0", "1", "50.0", "100.0"]
    );
    let lead = row(&rows(&page, "lead"), &week).clone();
    assert_eq!(lead[1], "2");
    assert!(about(&lead[2], 3.0) && about(&lead[3], 5.0), "{lead:?}");

    // Sign-off waited 2, 4 and 1 hours; the evaluation 1 hour twice.
    let steps = rows(&page, "steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0][0], "Sign-off", "the longest wait first");
    assert_eq!(steps[0][1], "3");
    assert!(
        about(&steps[0][2], 2.0) && about(&steps[0][3], 4.0),
        "{steps:?}"
    );
    assert_eq!(steps[1][0], "Evaluation");
    assert!(about(&steps[1][2], 1.0), "{steps:?}");

    let approvers = rows(&page, "approvers");
    assert_eq!(approvers.len(), 2, "filing is no answer: {approvers:?}");
    let bob = row(&approvers, "bob Person (bob)");
    assert_eq!(bob[1], "Operations lead");
    assert_eq!(bob[2], "3");
    assert!(about(&bob[3], 2.0), "{bob:?}");
    let quinn = row(&approvers, "quinn Person (quinn)");
    assert_eq!(
        (quinn[1].as_str(), quinn[2].as_str()),
        ("Quality control", "2")
    );
    let roles = rows(&page, "roles");
    assert_eq!(row(&roles, "Operations lead")[1], "3");
    assert_eq!(row(&roles, "Quality control")[1], "2");

    let breaches = rows(&page, "breaches");
    assert!(breaches.iter().all(|r| r[1] == "0"));

    // E waits for bob, at the sign-off, for two hours now.
    let now_waiting = rows(&page, "waiting");
    assert_eq!(now_waiting.len(), 1);
    assert_eq!(now_waiting[0][2], "Sign-off");
    assert_eq!(now_waiting[0][3], "bob Person (bob)");
    assert!(about(&now_waiting[0][5], 2.0), "{now_waiting:?}");
    assert_eq!(
        page.attr("#insight-waiting tbody a", "href"),
        Some(format!("/tickets/{waiting}"))
    );

    // Each chart is drawn, titled for screen readers, without script.
    assert_eq!(
        page.count("#insight-volume svg[role=img] title"),
        1 + 4 * 12
    );
    assert_eq!(
        page.text("#insight-volume svg > title").as_deref(),
        Some("Volume")
    );
    assert_eq!(page.count("section.insight svg script"), 0);

    // Wednesday: the runner rolls Tuesday up, and it reads the same.
    let live = figures(&page);
    app.advance(Span::days(1));
    until_rolled(&app, tuesday).await;
    let admin = browser_for(&app, "admin").await;
    let rolled = get(&admin, &app.url("/insight")).await;
    assert_eq!(figures(&rolled), live);

    // By month, filtered to another process: nothing.
    let other = get(&admin, &app.url("/insight?period=month&process=999")).await;
    assert!(rows(&other, "volume").iter().all(|r| r[1] == "0"));
    assert_eq!(
        other.text("#insight-steps .empty").as_deref(),
        Some("Nothing in this range.")
    );
}

#[actix_web::test]
async fn a_business_role_holder_sees_only_their_business_and_others_are_refused() {
    let app = TestApp::spawn().await;
    let (service, payments, search) = people(&app, "Sign-off");
    to_next_tuesday(&app);
    file(&app, service, payments, "for payments").await;
    file(&app, service, search, "for search").await;
    let filed = |page: &Page| -> i64 {
        rows(page, "volume")
            .iter()
            .map(|r| r[1].parse::<i64>().unwrap())
            .sum()
    };

    let admin = browser_for(&app, "admin").await;
    let everything = get(&admin, &app.url("/insight")).await;
    assert_eq!(filed(&everything), 2);
    assert!(everything.text("#nav-insight").is_some());
    let just_search = get(&admin, &app.url(&format!("/insight?business={search}"))).await;
    assert_eq!(filed(&just_search), 1);

    // bob leads Payments: he sees its ticket, and Payments only.
    let bob = browser_for(&app, "bob").await;
    let page = get(&bob, &app.url("/insight")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text("#nav-insight").is_some(), "a link for bob");
    assert_eq!(filed(&page), 1);
    assert_eq!(
        page.texts("#insight-filter select[name=business] option"),
        ["All", "Payments"]
    );
    let asked = get(&bob, &app.url(&format!("/insight?business={search}"))).await;
    assert_eq!(filed(&asked), 0, "Search is not bob's");
    assert_eq!(rows(&asked, "waiting").len(), 0);
    let csv = bob
        .get(app.url(&format!("/insight/volume.csv?business={search}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().skip(1).all(|l| l.ends_with(",0,0,0,0")),
        "{csv}"
    );

    // carol holds no role: no link, and the page and its CSV refuse her.
    let carol = browser_for(&app, "carol").await;
    let home = get(&carol, &app.url("/")).await;
    assert_eq!(home.text("#nav-insight"), None);
    assert_eq!(
        get(&carol, &app.url("/insight")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&carol, &app.url("/insight/volume.csv")).await.status,
        StatusCode::FORBIDDEN
    );
    // Signed out: the sign-in page.
    let nobody = get(&TestApp::browser(), &app.url("/insight")).await;
    assert!(nobody.path.starts_with("/sign-in"), "{}", nobody.path);
}

#[actix_web::test]
async fn an_empty_range_and_a_single_ticket_render() {
    let app = TestApp::spawn().await;
    let (service, payments, _) = people(&app, "Sign-off");
    let admin = browser_for(&app, "admin").await;

    let empty = get(&admin, &app.url("/insight")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(rows(&empty, "volume").len(), 12);
    assert_eq!(
        rows(&empty, "lead")[0][2],
        "",
        "no lead time without tickets"
    );
    for table in ["steps", "approvers", "roles", "waiting"] {
        assert_eq!(
            empty.text(&format!("#insight-{table} .empty")).as_deref(),
            Some("Nothing in this range."),
            "{table}"
        );
    }
    // Backwards: no period at all, still a page.
    let backwards = get(
        &admin,
        &app.url("/insight?from=2026-12-01&until=2026-11-01&period=month"),
    )
    .await;
    assert_eq!(backwards.status, StatusCode::OK);
    assert!(rows(&backwards, "volume").is_empty());
    // Nonsense filters are ignored.
    let odd = get(&admin, &app.url("/insight?period=year&from=x&business=y")).await;
    assert_eq!(rows(&odd, "volume").len(), 12);

    let tuesday = to_next_tuesday(&app);
    let id = file(&app, service, payments, "one").await;
    app.advance(Span::minutes(30));
    approve(&app, id).await;
    evaluate(&app, id, "with_issues").await;
    // Signed in again: the clock moved past the session's idle time.
    let admin = browser_for(&app, "admin").await;
    let month = tuesday.format("%Y-%m").to_string();
    let page = get(&admin, &app.url("/insight?period=month")).await;
    assert_eq!(page.status, StatusCode::OK);
    let success = rows(&page, "success");
    assert_eq!(
        row(&success, &month)[1..],
        ["1", "1", "0", "1", "0", "0.0", "100.0"]
    );
    let lead = rows(&page, "lead");
    assert!(about(&row(&lead, &month)[2], 0.5), "{lead:?}");
}

#[actix_web::test]
async fn a_dashboard_read_again_counts_what_happened_since_a_minute_or_an_hour_ago() {
    let app = TestApp::spawn().await;
    let (service, payments, _) = people(&app, "Sign-off");
    let tuesday = to_next_tuesday(&app);
    let week = countersign::flow::figures::Period::Week.label(tuesday);
    let first = file(&app, service, payments, "first").await;
    app.advance(Span::hours(1));
    approve(&app, first).await;
    evaluate(&app, first, "successful").await;
    app.advance(Span::hours(1));
    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url("/insight")).await;
    assert_eq!(
        row(&rows(&page, "volume"), &week)[1..],
        ["1", "1", "0", "0"]
    );

    // A minute later: a second ticket filed and rejected, read at once.
    app.advance(Span::minutes(1));
    let second = file(&app, service, payments, "second").await;
    let bob = browser_for(&app, "bob").await;
    let rejected = act_first(
        &app,
        &bob,
        second,
        &[("intent", "reject"), ("comment", "no")],
    )
    .await;
    assert!(rejected.flash().is_some(), "bob rejects");
    let page = get(&admin, &app.url("/insight")).await;
    assert_eq!(
        row(&rows(&page, "volume"), &week)[1..],
        ["2", "1", "1", "0"]
    );

    // An hour on, a third finished: what was read live before is now
    // kept, and the third is added to it once, not the others again.
    app.advance(Span::hours(1));
    let third = file(&app, service, payments, "third").await;
    approve(&app, third).await;
    evaluate(&app, third, "unsuccessful").await;
    app.advance(Span::minutes(10));
    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url("/insight")).await;
    assert_eq!(
        row(&rows(&page, "volume"), &week)[1..],
        ["3", "2", "1", "0"]
    );
    assert_eq!(
        row(&rows(&page, "success"), &week)[1..],
        ["2", "2", "1", "0", "1", "50.0", "100.0"]
    );
    let bob = row(&rows(&page, "approvers"), "bob Person (bob)").clone();
    assert_eq!(bob[2], "3", "{bob:?}");
}

/// A CSV body's lines, cells split (no cell here holds a comma but the
/// quoted step name).
fn csv_of(body: &str) -> Vec<String> {
    body.trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[actix_web::test]
async fn each_table_downloads_as_csv_with_the_same_rows() {
    let app = TestApp::spawn().await;
    // A step name a spreadsheet must see quoted.
    let (service, payments, _) = people(&app, "Sign-off, \"final\"");
    a_tuesday(&app, service, payments).await;
    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url("/insight?period=month")).await;
    for table in [
        "volume",
        "success",
        "lead",
        "steps",
        "approvers",
        "roles",
        "breaches",
        "waiting",
    ] {
        let link = page
            .attr(&format!("#insight-{table} a.csv"), "href")
            .unwrap_or_else(|| panic!("a CSV link for {table}"));
        assert!(link.contains("period=month"), "{link}");
        let res = admin.get(app.url(&link)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/csv; charset=utf-8"
        );
        let body = res.text().await.unwrap();
        assert!(body.starts_with('\u{feff}'), "a byte-order mark first");
        let lines = csv_of(&body);
        assert_eq!(lines[0], headers(&page, table).join(","), "{table}");
        let html = rows(&page, table);
        assert_eq!(lines.len() - 1, html.len(), "{table}");
        if table == "steps" {
            let sign_off = lines
                .iter()
                .find(|l| l.starts_with('"'))
                .expect("the quoted step");
            assert!(
                sign_off.starts_with(r#""Sign-off, ""final""",3,"#),
                "{sign_off}"
            );
        } else if table != "waiting" {
            for (line, cells) in lines[1..].iter().zip(&html) {
                assert_eq!(line, &cells.join(","), "{table}");
            }
        }
    }
    let unknown = get(&admin, &app.url("/insight/nothing.csv")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_dashboard_in_chinese_shows_chinese_headings_and_names() {
    let app = TestApp::spawn().await;
    let (service, payments, _) = people(&app, "Sign-off");
    a_tuesday(&app, service, payments).await;
    let admin = browser_for(&app, "admin").await;
    post_as(
        &app,
        &admin,
        "/language",
        &[("lang", "zh-CN"), ("back", "/")],
    )
    .await;
    let page = get(&admin, &app.url("/insight")).await;
    assert_eq!(page.h1(), "变更看板");
    assert_eq!(
        page.texts("section.insight h2"),
        [
            "单据量",
            "变更成功率",
            "处理时长",
            "单据在哪一步等得最久",
            "审批人响应时间",
            "按角色的响应时间",
            "超时次数",
            "当前等待最久",
        ]
    );
    assert_eq!(
        headers(&page, "volume"),
        ["周期", "提交", "完成", "驳回", "撤回"]
    );
    let steps = rows(&page, "steps");
    assert_eq!(
        (steps[0][0].as_str(), steps[1][0].as_str()),
        ("签字", "评价")
    );
    assert_eq!(row(&rows(&page, "roles"), "运维负责人")[1], "3");
    assert_eq!(
        page.text("#insight-volume svg > title").as_deref(),
        Some("单据量")
    );
    assert_eq!(page.text("#nav-insight").as_deref(), Some("变更看板"));
    let csv = admin
        .get(app.url("/insight/steps.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv_of(&csv)[0], "步骤,数量,p50（小时）,p90（小时）");
}

#[actix_web::test]
async fn a_step_decided_past_its_deadline_is_a_breach_in_its_period() {
    let app = TestApp::spawn().await;
    let (_, payments, _) = people(&app, "Sign-off");
    let mut def = ProcessDef::new(LocalText::new("Timed", "限时"), ProcessKind::Change);
    def.business_required = true;
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
    });
    let mut sign_off = NodeDef::new(
        "sign_off",
        LocalText::new("Timed sign-off", "限时签字"),
        NodeKind::Approval,
    );
    sign_off.handlers = vec![HandlerRule::Users {
        usernames: vec!["bob".into()],
    }];
    sign_off.deadline = Some(Deadline {
        hours: 1,
        working: false,
        remind_at: vec![],
        repeat_hours: None,
        on_breach: Escalation::MarkOverdue,
    });
    def.nodes.push(sign_off);
    let service = app.deploy_service(&def, "Timed");
    let tuesday = to_next_tuesday(&app);
    let late = file(&app, service, payments, "late").await;
    let on_time = file(&app, service, payments, "on time").await;
    app.advance(Span::minutes(30));
    approve(&app, on_time).await;
    app.advance(Span::hours(2));
    approve(&app, late).await;
    assert_eq!(ticket_status(&app, late), "finished");

    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url("/insight")).await;
    let week = countersign::flow::figures::Period::Week.label(tuesday);
    assert_eq!(row(&rows(&page, "breaches"), &week)[1], "1");
    // Finished, but no QC step: nothing evaluated, no success rate.
    assert_eq!(
        row(&rows(&page, "success"), &week)[1..],
        ["2", "0", "0", "0", "0", "", "0.0"]
    );
}
