//! The change calendar over HTTP: a hard freeze refuses a window at
//! submit with the input kept (an emergency passes), a soft freeze adds
//! its approval with its reason in the preview, overlapping changes on
//! the same host are shown before submit and to the approver, and a
//! freeze made after approval flags the change and shuts its gate.

use chrono::{Duration, NaiveDateTime};
use countersign::db::ids::ApplyId;
use countersign::db::schema::{applies, approves, audit_events, change_items, role_assignments};
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::api::{get_json, token_for};
use crate::approval_rules::{approval, people};
use crate::helpers::*;

/// A change process on the calendar: what, a window, the hosts it
/// touches; bob signs it off.
pub(crate) fn change_process() -> ProcessDef {
    let mut def = ProcessDef::new(LocalText::new("Deploy", "部署"), ProcessKind::Change);
    def.nodes[0].fields = vec![
        FieldDef {
            required: true,
            ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
        },
        FieldDef {
            required: true,
            ..FieldDef::new(
                "window",
                LocalText::new("Change window", "变更时间"),
                FieldKind::DatetimeRange,
            )
        },
        FieldDef::new(
            "hosts",
            LocalText::new("Hosts", "主机"),
            FieldKind::Textarea,
        ),
    ];
    def.change = Some(ChangeDef {
        window: "window".into(),
        items: vec!["hosts".into()],
        emergency: None,
        conflict_role: None,
    });
    def.nodes.push(approval("sign_off", Mode::Any, &["bob"]));
    def
}

/// [`change_process`] with an emergency box, and a role that must
/// approve a conflict.
fn deploy_change(app: &TestApp, conflict_role: Option<&str>) -> i32 {
    let mut def = change_process();
    def.nodes[0].fields.push(FieldDef::new(
        "urgent",
        LocalText::new("Emergency", "紧急"),
        FieldKind::Checkbox,
    ));
    let change = def.change.as_mut().expect("a change process");
    change.emergency = Some("urgent".into());
    change.conflict_role = conflict_role.map(str::to_string);
    app.deploy_service(&def, "Deploy").0
}

fn at(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// The form of a change with window [start, end) on `hosts`.
fn change_form(start: NaiveDateTime, end: NaiveDateTime, hosts: &str) -> Vec<(String, String)> {
    vec![
        ("what".into(), "Upgrade the database".into()),
        ("window.start".into(), at(start)),
        ("window.end".into(), at(end)),
        ("hosts".into(), hosts.into()),
    ]
}

async fn post_change(
    app: &TestApp,
    browser: &reqwest::Client,
    service: i32,
    intent: &str,
    form: &[(String, String)],
) -> Page {
    let mut fields: Vec<(&str, &str)> = vec![("intent", intent)];
    fields.extend(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    post_as(app, browser, &format!("/services/{service}"), &fields).await
}

/// Makes a freeze through the admin page as admin; the flash said.
async fn make_freeze(app: &TestApp, fields: &[(&str, &str)]) -> Page {
    let admin = browser_for(app, "admin").await;
    post_as(app, &admin, "/admin/freezes", fields).await
}

fn ticket_id(page: &Page) -> i32 {
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path))
}

/// Files a change with window [start, end) on `hosts`; its ticket's id.
async fn file_change(
    app: &TestApp,
    browser: &reqwest::Client,
    service: i32,
    (start, end): (NaiveDateTime, NaiveDateTime),
    hosts: &str,
) -> i32 {
    let form = change_form(start, end, hosts);
    ticket_id(&post_change(app, browser, service, "submit", &form).await)
}

fn serial_of(app: &TestApp, id: i32) -> String {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    })
}

fn step_keys(app: &TestApp, id: i32) -> Vec<String> {
    app.query(move |c| {
        approves::table
            .filter(approves::apply_id.eq(ApplyId(id)))
            .order(approves::position)
            .select(approves::node_key)
            .load(c)
    })
}

#[actix_web::test]
async fn a_hard_freeze_refuses_a_change_in_its_window_beside_the_window_with_the_input_kept_and_an_emergency_passes()
 {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    // Singles' Day week, every year, Shanghai time.
    let page = make_freeze(
        &app,
        &[
            ("name_en", "Singles' Day"),
            ("name_zh", "双十一"),
            ("reason_en", "Peak sales"),
            ("reason_zh", "销售高峰"),
            ("starts", "2026-11-10T00:00"),
            ("ends", "2026-11-17T00:00"),
            ("tz", "Asia/Shanghai"),
            ("repeat", "yearly"),
            ("strength", "hard"),
            ("role", ""),
            ("scope_items", ""),
        ],
    )
    .await;
    assert_eq!(
        page.path,
        "/admin/freezes",
        "{:?}",
        page.field_error("ends")
    );
    assert_eq!(page.count("table.freezes tbody tr.hard"), 1);

    // 2027-11-12 10:00 UTC is inside the 2027 occurrence.
    let start = NaiveDateTime::parse_from_str("2027-11-12 10:00", "%Y-%m-%d %H:%M").unwrap();
    let form = change_form(start, start + Duration::hours(2), "db01");
    let applicant = browser_for(&app, "applicant").await;
    for intent in ["preview", "submit"] {
        let page = post_change(&app, &applicant, service, intent, &form).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{intent}");
        let error = page.field_error("window").expect("beside the window");
        assert!(error.contains("Singles' Day"), "{error}");
        assert!(
            error.contains("2027-11-10 00:00 – 2027-11-17 00:00 Asia/Shanghai"),
            "{error}"
        );
        assert!(error.contains("Peak sales"), "{error}");
        assert_eq!(
            page.input_value("#ticket-form", "what").as_deref(),
            Some("Upgrade the database")
        );
        assert_eq!(
            page.attr("#ticket-form [name='window.start']", "value")
                .as_deref(),
            Some("2027-11-12T10:00")
        );
    }
    // Through the API: a 422 pointing at the window.
    let token = token_for(&app, "applicant", Scope::Act);
    let (status, problem) = crate::api::post_json(
        &app,
        &format!("/api/v1/services/{service}/tickets"),
        &token,
        serde_json::json!({ "fields": {
            "what": "Upgrade the database",
            "window": { "start": "2027-11-12T10:00", "end": "2027-11-12T12:00" },
            "hosts": "db01",
        }}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let error = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["pointer"] == "/fields/window")
        .expect("a pointer to the window");
    assert!(
        error["detail"].as_str().unwrap().contains("Singles' Day"),
        "{problem}"
    );
    let filed: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(filed, 0, "nothing was filed");

    // A week later, or on an emergency, it is filed.
    let later = change_form(
        start + Duration::days(7),
        start + Duration::days(7) + Duration::hours(2),
        "db01",
    );
    let page = post_change(&app, &applicant, service, "submit", &later).await;
    ticket_id(&page);
    let mut emergency = form.clone();
    emergency.push(("urgent".into(), "on".into()));
    let page = post_change(&app, &applicant, service, "submit", &emergency).await;
    let id = ticket_id(&page);
    assert_eq!(page.text("#change-emergency").as_deref(), Some("Emergency"));
    assert!(
        page.text("#change-freezes")
            .unwrap()
            .contains("Singles' Day")
    );
    let items: Vec<String> = app.query(move |c| {
        change_items::table
            .filter(change_items::apply_id.eq(ApplyId(id)))
            .select(change_items::item)
            .load(c)
    });
    assert_eq!(items, ["host:db01"]);
    // In Chinese (the applicant's choice from now on), the freeze's Chinese name.
    let zh = browser_for(&app, "applicant").await;
    post_as(&app, &zh, "/language", &[("lang", "zh-CN"), ("back", "/")]).await;
    let page = post_change(&app, &zh, service, "submit", &form).await;
    let error = page.field_error("window").unwrap();
    assert!(
        error.contains("双十一") && error.contains("销售高峰"),
        "{error}"
    );
}

#[actix_web::test]
async fn a_soft_freeze_adds_an_approval_by_its_role_shown_in_the_preview_with_its_reason() {
    let app = TestApp::spawn().await;
    people(&app, &["bob", "carol"]);
    let carol = app.user_id("carol");
    let vp = app.role_id("vp");
    app.db
        .write_sync(move |c| {
            Ok(diesel::insert_into(role_assignments::table)
                .values((
                    role_assignments::user_id.eq(carol),
                    role_assignments::role_id.eq(vp),
                    role_assignments::created_at
                        .eq(countersign::db::stamp::At(chrono::Utc::now().naive_utc())),
                ))
                .execute(c)?)
        })
        .unwrap();
    let service = deploy_change(&app, None);
    // Every Friday 18:00 to Monday 08:00 in Berlin, only for db hosts.
    let page = make_freeze(
        &app,
        &[
            ("name_en", "Weekend"),
            ("name_zh", "周末"),
            ("reason_en", "Nobody on call"),
            ("reason_zh", "无人值守"),
            ("starts", "2026-01-02T18:00"),
            ("ends", "2026-01-05T08:00"),
            ("tz", "Europe/Berlin"),
            ("repeat", "weekly"),
            ("strength", "soft"),
            ("role", "vp"),
            ("scope_items", "DB01\n#99"),
        ],
    )
    .await;
    assert_eq!(page.path, "/admin/freezes");

    // Saturday 2027-03-27 12:00 UTC; the clocks change that night.
    let start = NaiveDateTime::parse_from_str("2027-03-27 12:00", "%Y-%m-%d %H:%M").unwrap();
    let applicant = browser_for(&app, "applicant").await;
    let form = change_form(start, start + Duration::hours(1), "db01.");
    let preview = post_change(&app, &applicant, service, "preview", &form).await;
    assert_eq!(preview.status, StatusCode::OK);
    let steps = preview.texts("#plan li strong");
    assert_eq!(steps, ["Freeze approval: Weekend", "sign_off"]);
    let notes = preview.texts("#plan li .note").join(" ");
    assert!(notes.contains("Nobody on call"), "{notes}");
    assert!(
        notes.contains("2027-03-26 18:00 – 2027-03-29 08:00 Europe/Berlin"),
        "{notes}"
    );

    let id = ticket_id(&post_change(&app, &applicant, service, "submit", &form).await);
    assert_eq!(step_keys(&app, id)[1..], ["freeze-1", "sign_off"]);
    // carol approves first, then bob; then it is done.
    let carol_b = browser_for(&app, "carol").await;
    act_first(&app, &carol_b, id, &[("intent", "approve")]).await;
    let bob = browser_for(&app, "bob").await;
    act_first(&app, &bob, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");

    // Another host is outside the freeze's scope: no added step.
    let other = change_form(start, start + Duration::hours(1), "web01");
    let id = ticket_id(&post_change(&app, &applicant, service, "submit", &other).await);
    assert_eq!(step_keys(&app, id)[1..], ["sign_off"]);
}

#[actix_web::test]
async fn overlapping_changes_on_the_same_host_are_shown_before_submit_and_to_the_approver() {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    let now = app.db.now();
    let start = now + Duration::days(2);
    let applicant = browser_for(&app, "applicant").await;
    let first = file_change(
        &app,
        &applicant,
        service,
        (start, start + Duration::hours(2)),
        "db01, web01",
    )
    .await;
    let first_serial = serial_of(&app, first);

    // One hour into the first, on DB01 (as typed differently).
    let overlapping = change_form(
        start + Duration::hours(1),
        start + Duration::hours(3),
        "DB01.",
    );
    let preview = post_change(&app, &applicant, service, "preview", &overlapping).await;
    let conflicts = preview.texts("#change-conflicts li");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].contains(&first_serial), "{conflicts:?}");
    assert!(conflicts[0].contains("on db01"), "{conflicts:?}");
    assert_eq!(
        preview.attr("#change-conflicts a", "href"),
        Some(format!("/tickets/{first}"))
    );
    let second = ticket_id(&post_change(&app, &applicant, service, "submit", &overlapping).await);

    // The approver sees it on the ticket; so does the first change.
    let bob = browser_for(&app, "bob").await;
    let page = get(&bob, &app.url(&format!("/tickets/{second}"))).await;
    assert!(
        page.text("#change-conflicts")
            .unwrap()
            .contains(&first_serial)
    );
    let page = get(&bob, &app.url(&format!("/tickets/{first}"))).await;
    assert!(
        page.text("#change-conflicts")
            .unwrap()
            .contains(&serial_of(&app, second))
    );

    // Touching ends, another host, or a withdrawn change: no conflict.
    for (s, e, hosts) in [
        (
            start + Duration::hours(2),
            start + Duration::hours(4),
            "web01",
        ),
        (start, start + Duration::hours(2), "cache01"),
    ] {
        let _ = e;
        let preview = post_change(
            &app,
            &applicant,
            service,
            "preview",
            &change_form(s, s + Duration::hours(1), hosts),
        )
        .await;
        let conflicts = preview.texts("#change-conflicts li");
        assert!(
            conflicts.iter().all(|c| !c.contains(&first_serial)),
            "{hosts}: {conflicts:?}"
        );
    }
}

#[actix_web::test]
async fn a_process_may_make_a_conflict_need_an_approval_by_a_role() {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, Some("vp"));
    let start = app.db.now() + Duration::days(1);
    let applicant = browser_for(&app, "applicant").await;
    let form = change_form(start, start + Duration::hours(2), "db01");
    let first = ticket_id(&post_change(&app, &applicant, service, "submit", &form).await);
    assert_eq!(step_keys(&app, first)[1..], ["sign_off"]);
    let second = ticket_id(&post_change(&app, &applicant, service, "submit", &form).await);
    // Nobody holds the role: the administrators are asked, never no one.
    assert_eq!(
        step_keys(&app, second)[1..],
        ["conflict-review", "sign_off"]
    );
    let admin = browser_for(&app, "admin").await;
    let page = get(&admin, &app.url(&format!("/tickets/{second}"))).await;
    assert!(
        page.text("#change-conflicts")
            .unwrap()
            .contains(&serial_of(&app, first))
    );
}

#[actix_web::test]
async fn a_freeze_made_after_approval_flags_the_change_and_shuts_its_gate_unless_it_is_an_emergency()
 {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    let now = app.db.now();
    let start = now + Duration::hours(2);
    let applicant = browser_for(&app, "applicant").await;
    let form = change_form(start, start + Duration::hours(2), "db01");
    let id = ticket_id(&post_change(&app, &applicant, service, "submit", &form).await);
    let bob = browser_for(&app, "bob").await;
    act_first(&app, &bob, id, &[("intent", "approve")]).await;
    let serial = serial_of(&app, id);
    let gate = format!("/api/v1/changes/{serial}/gate");
    let pipeline = token_for(&app, "applicant", Scope::Read);
    app.db.clock().advance(Duration::hours(3));
    let (status, open) = get_json(&app, &gate, &pipeline, "en").await;
    assert_eq!(status, StatusCode::OK, "{open}");

    // An incident freezes everything from now on for a day.
    let from = app.db.now() - Duration::hours(1);
    let page = make_freeze(
        &app,
        &[
            ("name_en", "Incident 42"),
            ("name_zh", "故障 42"),
            ("starts", &at(from)),
            ("ends", &at(from + Duration::days(1))),
            ("tz", "UTC"),
            ("repeat", "once"),
            ("strength", "hard"),
        ],
    )
    .await;
    assert!(page.flash().unwrap().contains('1'), "{:?}", page.flash());
    let flagged: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq("change.frozen"))
            .select(audit_events::detail)
            .load(c)
    });
    assert_eq!(flagged.len(), 1);
    assert!(flagged[0].contains("Incident 42"));
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert!(
        page.text("#timeline")
            .unwrap_or_default()
            .contains("Incident 42")
    );
    // The applicant and the approver are told by mail.
    let told: Vec<String> = app.query(move |c| {
        use countersign::db::schema::outbox;
        outbox::table
            .filter(outbox::apply_id.eq(id))
            .filter(outbox::kind.eq("frozen"))
            .order(outbox::id)
            .select(outbox::to_email)
            .load(c)
    });
    assert_eq!(told, ["applicant@example.com", "bob@example.com"]);

    let (status, p) = get_json(&app, &gate, &pipeline, "en").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p["type"], "urn:countersign:problem:frozen");
    assert_eq!(p["freeze"]["name"], "Incident 42");
    assert!(p["detail"].as_str().unwrap().contains("Incident 42"), "{p}");
}

#[actix_web::test]
async fn the_designer_marks_a_change_window_and_refuses_marks_on_the_wrong_fields() {
    let app = TestApp::spawn().await;
    people(&app, &[]);
    let mut def = ProcessDef::new(LocalText::new("Deploy", "部署"), ProcessKind::Change);
    def.nodes[0].fields = vec![
        FieldDef::new(
            "window",
            LocalText::new("Window", "窗口"),
            FieldKind::DatetimeRange,
        ),
        FieldDef::new(
            "hosts",
            LocalText::new("Hosts", "主机"),
            FieldKind::Textarea,
        ),
    ];
    def.nodes.push(approval("sign_off", Mode::Any, &["admin"]));
    let admin = app.user_id("admin");
    let id = app
        .db
        .write_sync(move |c| countersign::store::processes::create(c, &def, admin))
        .unwrap();
    let browser = browser_for(&app, "admin").await;
    let info = get(&browser, &app.url(&format!("/admin/processes/{id}/info"))).await;
    let revision = info.input_value("form", "revision").unwrap();
    let fields = |window: &'static str| {
        vec![
            ("name_en", "Deploy"),
            ("kind", "change"),
            ("change_window", window),
            ("change_items", "hosts"),
            ("change_emergency", ""),
            ("conflict_role", ""),
        ]
    };
    let mut bad = fields("hosts");
    bad.push(("revision", &revision));
    let page = post_as(&app, &browser, &format!("/admin/processes/{id}/info"), &bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("change_window").is_some());
    let mut good = fields("window");
    good.push(("revision", &revision));
    post_as(
        &app,
        &browser,
        &format!("/admin/processes/{id}/info"),
        &good,
    )
    .await;
    let (_, saved) = app
        .db
        .read_sync(move |c| countersign::store::processes::find_draft(c, id))
        .unwrap();
    assert_eq!(
        saved.change,
        Some(ChangeDef {
            window: "window".into(),
            items: vec!["hosts".into()],
            emergency: None,
            conflict_role: None,
        })
    );
}

#[actix_web::test]
async fn the_calendar_draws_changes_on_their_days_by_status_shades_freezes_and_narrows_by_item() {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    let applicant = browser_for(&app, "applicant").await;
    let day = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    // One change over a night, one on another host, one withdrawn.
    let night = file_change(
        &app,
        &applicant,
        service,
        (day("2027-11-03 22:00"), day("2027-11-04 02:00")),
        "db01",
    )
    .await;
    let web = file_change(
        &app,
        &applicant,
        service,
        (day("2027-11-04 09:00"), day("2027-11-04 10:00")),
        "web01",
    )
    .await;
    let gone = file_change(
        &app,
        &applicant,
        service,
        (day("2027-11-20 09:00"), day("2027-11-20 10:00")),
        "db02",
    )
    .await;
    post_as(
        &app,
        &applicant,
        &format!("/tickets/{gone}"),
        &[("intent", "withdraw"), ("comment", "Not needed")],
    )
    .await;
    assert_eq!(ticket_status(&app, gone), "withdrawn");
    make_freeze(
        &app,
        &[
            ("name_en", "Singles' Day"),
            ("name_zh", "双十一"),
            ("starts", "2026-11-10T00:00"),
            ("ends", "2026-11-12T00:00"),
            ("tz", "UTC"),
            ("repeat", "yearly"),
            ("strength", "hard"),
        ],
    )
    .await;
    let (night_s, web_s, gone_s) = (
        serial_of(&app, night),
        serial_of(&app, web),
        serial_of(&app, gone),
    );

    let bob = browser_for(&app, "bob").await;
    let month = get(&bob, &app.url("/calendar?view=month&date=2027-11-15")).await;
    assert_eq!(month.status, StatusCode::OK);
    assert_eq!(
        month.text("#calendar-heading").as_deref(),
        Some("November 2027")
    );
    // A month in whole weeks: Monday 1 November to Sunday 5 December.
    assert_eq!(month.count("#calendar td.day"), 35);
    let on = |date: &str| {
        month.attrs(
            &format!("#calendar td[data-date='{date}'] li.change"),
            "data-serial",
        )
    };
    assert_eq!(on("2027-11-03"), vec![night_s.clone()]);
    assert_eq!(on("2027-11-04"), [night_s.clone(), web_s.clone()]);
    assert_eq!(
        month.count(&format!(
            "td[data-date='2027-11-20'] li.change.status-withdrawn[data-serial='{gone_s}']"
        )),
        1
    );
    assert_eq!(
        month.count("td[data-date='2027-11-04'] li.status-running"),
        2
    );
    assert_eq!(
        month
            .text("td[data-date='2027-11-03'] li.change .time")
            .as_deref(),
        Some("22:00 →")
    );
    assert_eq!(
        month.attr("td[data-date='2027-11-03'] li.change a", "href"),
        Some(format!("/tickets/{night}"))
    );
    for date in ["2027-11-10", "2027-11-11"] {
        assert_eq!(
            month.count(&format!("td.frozen-hard[data-date='{date}']")),
            1,
            "{date}"
        );
    }
    assert_eq!(month.count("td.frozen-hard[data-date='2027-11-12']"), 0);

    // Narrowed to one host, as typed differently.
    let narrowed = get(
        &bob,
        &app.url("/calendar?view=month&date=2027-11-15&item=DB01."),
    )
    .await;
    assert_eq!(
        narrowed.attrs("#calendar li.change", "data-serial"),
        [night_s.clone(), night_s.clone()]
    );
    let running = get(
        &bob,
        &app.url("/calendar?view=month&date=2027-11-15&status=withdrawn"),
    )
    .await;
    assert_eq!(
        running.attrs("#calendar li.change", "data-serial"),
        vec![gone_s.clone()]
    );

    // The week and the day of 4 November; the next week is empty.
    let week = get(&bob, &app.url("/calendar?view=week&date=2027-11-04")).await;
    assert_eq!(week.count("#calendar td.day"), 7);
    assert_eq!(
        week.attrs("td[data-date='2027-11-04'] li.change", "data-serial")
            .len(),
        2
    );
    let next = week.attr("#calendar-next", "href").unwrap();
    assert!(next.contains("date=2027-11-11"), "{next}");
    let day_view = get(&bob, &app.url("/calendar?view=day&date=2027-11-04")).await;
    assert_eq!(
        day_view.attrs("#calendar-day tr.change", "data-serial"),
        [night_s.clone(), web_s.clone()]
    );

    // A busy day lists four and says how many more; a change over three
    // days is on each of them.
    for hour in 0..6 {
        let start = day(&format!("2027-11-24 0{hour}:00"));
        post_change(
            &app,
            &applicant,
            service,
            "submit",
            &change_form(start, start + Duration::minutes(30), "app01"),
        )
        .await;
    }
    let long = file_change(
        &app,
        &applicant,
        service,
        (day("2027-11-23 12:00"), day("2027-11-25 12:00")),
        "dc1",
    )
    .await;
    let long_s = serial_of(&app, long);
    let month = get(&bob, &app.url("/calendar?view=month&date=2027-11-15")).await;
    let busy = month.attrs("td[data-date='2027-11-24'] li.change", "data-serial");
    assert_eq!(busy.len(), 4, "{busy:?}");
    assert_eq!(busy[0], long_s, "the long change began first");
    assert_eq!(
        month.text("td[data-date='2027-11-24'] .more").as_deref(),
        Some("3 more")
    );
    for date in ["2027-11-23", "2027-11-25"] {
        assert_eq!(
            month.attrs(&format!("td[data-date='{date}'] li.change"), "data-serial"),
            vec![long_s.clone()],
            "{date}"
        );
    }
    let day_view = get(&bob, &app.url("/calendar?view=day&date=2027-11-24")).await;
    assert_eq!(day_view.count("#calendar-day tr.change"), 7);

    // In Chinese.
    post_as(&app, &bob, "/language", &[("lang", "zh-CN"), ("back", "/")]).await;
    let month = get(&bob, &app.url("/calendar?view=month&date=2027-11-15")).await;
    assert_eq!(
        month.text("#calendar-heading").as_deref(),
        Some("2027年11月")
    );
    assert!(
        month
            .text("td[data-date='2027-11-10'] .freeze")
            .unwrap()
            .contains("双十一")
    );
}

#[actix_web::test]
async fn the_month_counts_and_lists_what_each_day_view_lists_over_midnights_long_windows_and_busy_days()
 {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    let applicant = browser_for(&app, "applicant").await;
    let day = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    let mut windows = vec![
        // Over midnight; ending at midnight; a whole day; three days.
        ("2027-12-01 23:00", "2027-12-02 01:00"),
        ("2027-12-02 22:00", "2027-12-03 00:00"),
        ("2027-12-03 00:00", "2027-12-04 00:00"),
        ("2027-12-05 12:00", "2027-12-08 12:00"),
        // Before the grid's first day, into it.
        ("2027-11-28 23:30", "2027-11-29 00:30"),
    ];
    // A busy day, and more changes over its midnight than a cell lists.
    let busy: Vec<(String, String)> = (0..6)
        .map(|h| (format!("2027-12-06 0{h}:00"), format!("2027-12-06 0{h}:30")))
        .chain((0..5).map(|m| (format!("2027-12-06 23:1{m}"), "2027-12-07 00:30".into())))
        .collect();
    windows.extend(busy.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    for (from, to) in &windows {
        post_change(
            &app,
            &applicant,
            service,
            "submit",
            &change_form(day(from), day(to), "app01"),
        )
        .await;
    }
    let bob = browser_for(&app, "bob").await;
    let month = get(&bob, &app.url("/calendar?view=month&date=2027-12-15")).await;
    let dates = month.attrs("#calendar td.day", "data-date");
    assert_eq!(dates.first().map(String::as_str), Some("2027-11-29"));
    let mut drawn_days = 0;
    for date in &dates {
        let listed = month.attrs(
            &format!("#calendar td[data-date='{date}'] li.change"),
            "data-serial",
        );
        let more: usize = month
            .text(&format!("#calendar td[data-date='{date}'] .more"))
            .map(|t| t.trim_end_matches(" more").parse().unwrap())
            .unwrap_or(0);
        let day_view = get(&bob, &app.url(&format!("/calendar?view=day&date={date}"))).await;
        let all = day_view.attrs("#calendar-day tr.change", "data-serial");
        assert_eq!(listed.len() + more, all.len(), "{date}");
        assert_eq!(listed[..], all[..all.len().min(4)], "{date}");
        drawn_days += usize::from(!all.is_empty());
    }
    // 29 November, 1–3 and 5–8 December.
    assert_eq!(drawn_days, 8);
    let on = |date: &str| {
        month
            .text(&format!("#calendar td[data-date='{date}'] .more"))
            .unwrap_or_default()
    };
    assert_eq!(on("2027-12-06"), "8 more", "the long change, six, five");
    assert_eq!(
        on("2027-12-07"),
        "2 more",
        "the long change, five over midnight"
    );
    assert_eq!(month.count("td[data-date='2027-12-04'] li.change"), 0);
}

#[actix_web::test]
async fn the_migration_that_numbers_a_windows_days_numbers_existing_changes_as_filing_does() {
    let app = TestApp::spawn().await;
    people(&app, &["bob"]);
    let service = deploy_change(&app, None);
    let applicant = browser_for(&app, "applicant").await;
    let day = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    for (from, to) in [
        ("2027-12-01 23:00", "2027-12-02 01:00"),
        ("2027-12-02 22:00", "2027-12-03 00:00"),
        ("2027-12-05 12:00", "2027-12-08 12:00"),
    ] {
        file_change(&app, &applicant, service, (day(from), day(to)), "app01").await;
    }
    let days = || {
        app.query(|c| {
            use countersign::db::schema::changes as ch;
            ch::table
                .select((ch::apply_id, ch::first_day, ch::last_day))
                .order(ch::apply_id)
                .load::<(ApplyId, i32, i32)>(c)
        })
    };
    let filed = days();
    let epoch = |d: &str| {
        (chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32
    };
    let numbered: Vec<(i32, i32)> = filed.iter().map(|(_, a, b)| (*a, *b)).collect();
    assert_eq!(
        numbered,
        [
            (epoch("2027-12-01"), epoch("2027-12-02")),
            (epoch("2027-12-02"), epoch("2027-12-02")),
            (epoch("2027-12-05"), epoch("2027-12-08")),
        ]
    );
    // Taken back and made again over the rows filing wrote.
    let (down, up) = if app.database_url().starts_with("postgres") {
        (
            include_str!("../../migrations/postgres/2026-12-09-000019_calendar_days/down.sql"),
            include_str!("../../migrations/postgres/2026-12-09-000019_calendar_days/up.sql"),
        )
    } else {
        (
            include_str!("../../migrations/sqlite/2026-12-09-000019_calendar_days/down.sql"),
            include_str!("../../migrations/sqlite/2026-12-09-000019_calendar_days/up.sql"),
        )
    };
    app.db
        .write_sync(|c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute(down)?;
            c.batch_execute(up)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(days(), filed);
}

/// Parses iCalendar text with the `icalendar` package from PyPI, as a
/// calendar client would: each event's UID, start, end and summary, one
/// a line. `None` when the package is not installed here (CI has it and
/// sets REQUIRE_ICALENDAR).
fn parsed_by_icalendar(ics: &str) -> Option<Vec<String>> {
    use std::io::Write;
    let script = "import sys, icalendar\n\
        cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())\n\
        for e in cal.walk('VEVENT'):\n    \
        print(str(e['UID']), e.decoded('DTSTART').isoformat(), e.decoded('DTEND').isoformat(), str(e['SUMMARY']), sep='|')\n";
    let mut child = match std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => None?,
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'icalendar'") {
        assert!(
            std::env::var("REQUIRE_ICALENDAR").is_err(),
            "the icalendar package is required here"
        );
        return None;
    }
    assert!(out.status.success(), "icalendar refused the feed: {stderr}");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[actix_web::test]
async fn a_person_subscribes_to_their_changes_and_freezes_at_a_secret_address_that_rotates() {
    let app = TestApp::spawn().await;
    people(&app, &["bob", "dave"]);
    let service = deploy_change(&app, None);
    let applicant = browser_for(&app, "applicant").await;
    let now = app.db.now();
    let start = (now + Duration::days(3))
        .date()
        .and_hms_opt(20, 0, 0)
        .unwrap();
    let id = file_change(
        &app,
        &applicant,
        service,
        (start, start + Duration::hours(2)),
        "db01",
    )
    .await;
    let serial = serial_of(&app, id);
    make_freeze(
        &app,
        &[
            ("name_en", "Quarter end, close"),
            ("name_zh", "季末"),
            ("starts", &at(now + Duration::days(10))),
            ("ends", &at(now + Duration::days(12))),
            ("tz", "UTC"),
            ("repeat", "once"),
            ("strength", "soft"),
            ("role", "vp"),
        ],
    )
    .await;

    // bob approves it, so it is in his feed; dave has nothing to do with it.
    let bob = browser_for(&app, "bob").await;
    let page = post_as(&app, &bob, "/calendar/feeds/mine", &[("intent", "rotate")]).await;
    let url = page.attr("#feed-url", "value").unwrap();
    assert!(
        url.starts_with(&app.url("/calendar/feeds/")) && url.ends_with(".ics"),
        "{url}"
    );
    // A calendar client: no session, no cookies.
    let client = reqwest::Client::new();
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = res.text().await.unwrap();
    assert!(
        ics.contains(&format!("SUMMARY:{serial} Upgrade the database")),
        "{ics}"
    );
    if let Some(events) = parsed_by_icalendar(&ics) {
        assert_eq!(events.len(), 2, "{events:?}");
        let change = events.iter().find(|e| e.starts_with("change-")).unwrap();
        assert!(
            change.contains(&format!("{}+00:00", start.format("%Y-%m-%dT%H:%M:%S"))),
            "{change}"
        );
        let freeze = events.iter().find(|e| e.starts_with("freeze-")).unwrap();
        assert!(
            freeze.ends_with("Quarter end, close · soft freeze"),
            "{freeze}"
        );
    }

    let dave = browser_for(&app, "dave").await;
    let page = post_as(&app, &dave, "/calendar/feeds/mine", &[("intent", "rotate")]).await;
    let daves = page.attr("#feed-url", "value").unwrap();
    let ics = client
        .get(&daves)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!ics.contains(&serial), "not dave's change");

    // A new address: the old one is gone; a made-up one says nothing.
    let page = post_as(&app, &bob, "/calendar/feeds/mine", &[("intent", "rotate")]).await;
    let rotated = page.attr("#feed-url", "value").unwrap();
    assert_ne!(rotated, url);
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client.get(&rotated).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        client
            .get(app.url("/calendar/feeds/0123456789abcdef.ics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    post_as(&app, &bob, "/calendar/feeds/mine", &[("intent", "stop")]).await;
    assert_eq!(
        client.get(&rotated).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // A business's feed is an administrator's to make.
    let payments = app.create_business("Payments", app.user_id("admin"));
    let path = format!("/calendar/feeds/business/{}", payments.0);
    let page = post_as(&app, &bob, &path, &[("intent", "rotate")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let admin = browser_for(&app, "admin").await;
    let page = post_as(&app, &admin, &path, &[("intent", "rotate")]).await;
    let business_feed = page.attr("#feed-url", "value").unwrap();
    let ics = client
        .get(&business_feed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ics.contains("X-WR-CALNAME:countersign changes: Payments"),
        "{ics}"
    );
    assert!(
        ics.contains("SUMMARY:Quarter end\\, close · soft freeze"),
        "{ics}"
    );
}
