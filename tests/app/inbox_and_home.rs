//! The inbox narrowed and at a glance, the home page's lists, and what a
//! new stand-in is told.

use chrono::Duration;
use countersign::db::ids::{BusinessId, ServiceId};
use countersign::db::schema::applies;
use diesel::prelude::*;

use crate::helpers::*;
use crate::smtp;

/// A process asking `handler` to approve what is asked for, for a business.
fn service_for(app: &TestApp, name: &str, handler: &str) -> ServiceId {
    use countersign::flow::*;
    let mut def = ProcessDef::new(LocalText::new(name, ""), ProcessKind::Request);
    def.business_required = true;
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
    });
    let mut node = NodeDef::new(
        "approve",
        LocalText::new("Approve", "审批"),
        NodeKind::Approval,
    );
    node.handlers = vec![HandlerRule::Users {
        usernames: vec![handler.to_string()],
    }];
    def.nodes.push(node);
    app.deploy_service(&def, name)
}

/// Files a ticket for `service` and `business` from `browser`; its serial.
async fn file(
    app: &TestApp,
    browser: &reqwest::Client,
    service: ServiceId,
    business: BusinessId,
    what: &str,
) -> String {
    let page = post_as(
        app,
        browser,
        &format!("/services/{service}"),
        &[
            ("intent", "submit"),
            ("business_id", business.to_string().as_str()),
            ("what", what),
        ],
    )
    .await;
    let id: i32 = page
        .path
        .trim_start_matches("/tickets/")
        .parse()
        .unwrap_or_else(|_| panic!("filed: {}", page.path));
    app.query(move |c| {
        applies::table
            .find(countersign::db::ids::ApplyId(id))
            .select(applies::serial)
            .first(c)
    })
}

/// Laptops are approved by the approver, chairs by someone away for whom
/// the approver stands in; two businesses.
struct Office {
    laptops: ServiceId,
    chairs: ServiceId,
    payments: BusinessId,
    search: BusinessId,
}

fn office(app: &TestApp) -> Office {
    let admin = app.create_user("admin", true);
    app.create_user("applicant", false);
    app.create_user("approver", false);
    app.create_user("away", false);
    Office {
        laptops: service_for(app, "Laptops", "approver"),
        chairs: service_for(app, "Chairs", "away"),
        payments: app.create_business("Payments", admin),
        search: app.create_business("Search", admin),
    }
}

#[actix_web::test]
async fn the_inbox_narrows_to_a_service_a_business_or_those_i_stand_in_for() {
    let app = TestApp::spawn().await;
    let o = office(&app);
    let applicant = browser_for(&app, "applicant").await;
    let laptop_payments = file(&app, &applicant, o.laptops, o.payments, "Laptop").await;
    let laptop_search = file(&app, &applicant, o.laptops, o.search, "Laptop").await;
    let chair_payments = file(&app, &applicant, o.chairs, o.payments, "Chair").await;
    app.delegate("away", "approver", None);
    let approver = browser_for(&app, "approver").await;

    let page = get(&approver, &app.url("/inbox")).await;
    assert_eq!(page.count("table.inbox tbody tr"), 3);
    assert_eq!(
        page.texts("#f-filter-service option"),
        ["All services", "Chairs", "Laptops"]
    );
    assert_eq!(
        page.texts("#f-filter-business option"),
        ["All businesses", "Payments", "Search"]
    );
    assert_eq!(
        page.count("#f-filter-others"),
        1,
        "they stand in for someone"
    );

    let only = |page: &Page| page.attrs("table.inbox tbody tr", "data-serial");
    let page = get(&approver, &app.url(&format!("/inbox?service={}", o.chairs))).await;
    assert_eq!(only(&page), [chair_payments.as_str()]);
    assert_eq!(
        page.selected("#inbox-filter", "service").as_deref(),
        Some(o.chairs.to_string().as_str()),
        "the filter shows what it is set to"
    );
    assert_eq!(
        page.attr("#filter-clear", "href").as_deref(),
        Some("/inbox")
    );

    let page = get(
        &approver,
        &app.url(&format!("/inbox?business={}", o.payments)),
    )
    .await;
    assert_eq!(
        only(&page),
        [chair_payments.clone(), laptop_payments.clone()]
    );

    let page = get(&approver, &app.url("/inbox?for=others")).await;
    assert_eq!(only(&page), [chair_payments.as_str()]);
    assert_eq!(
        page.text("table.inbox .badge.for").as_deref(),
        Some("for away Person")
    );

    let both = format!("/inbox?service={}&business={}", o.laptops, o.search);
    assert_eq!(
        only(&get(&approver, &app.url(&both)).await),
        [laptop_search]
    );

    let page = get(
        &approver,
        &app.url(&format!("/inbox?service={}&for=others", o.laptops)),
    )
    .await;
    assert_eq!(page.count("table.inbox tbody tr"), 0);
    assert_eq!(
        page.text("#inbox-empty").as_deref(),
        Some("Nothing waiting matches this filter. Show everything")
    );

    // Nonsense narrows nothing rather than failing.
    let page = get(&approver, &app.url("/inbox?service=x&business=&for=me")).await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    assert_eq!(page.count("table.inbox tbody tr"), 3);
}

#[actix_web::test]
async fn a_narrowed_inbox_keeps_its_filter_from_page_to_page() {
    let app = TestApp::spawn().await;
    let o = office(&app);
    let applicant = browser_for(&app, "applicant").await;
    for i in 0..27 {
        file(
            &app,
            &applicant,
            o.laptops,
            o.payments,
            &format!("Laptop {i}"),
        )
        .await;
    }
    file(&app, &applicant, o.laptops, o.search, "Laptop for search").await;
    let approver = browser_for(&app, "approver").await;

    let first = get(
        &approver,
        &app.url(&format!("/inbox?business={}", o.payments)),
    )
    .await;
    assert_eq!(first.count("table.inbox tbody tr"), 25);
    let older = first.attr("#inbox-older", "href").expect("an older page");
    assert!(
        older.ends_with(&format!("&business={}", o.payments)),
        "{older}"
    );
    let second = get(&approver, &app.url(&older)).await;
    assert_eq!(second.count("table.inbox tbody tr"), 2, "27 in Payments");
    assert_eq!(
        second.attr("#inbox-newest", "href"),
        Some(format!("/inbox?business={}", o.payments))
    );
}

#[actix_web::test]
async fn the_inbox_says_how_long_each_item_has_waited() {
    let app = TestApp::spawn().await;
    let o = office(&app);
    let applicant = browser_for(&app, "applicant").await;
    file(&app, &applicant, o.laptops, o.payments, "Laptop").await;
    let approver = browser_for(&app, "approver").await;

    let page = get(&approver, &app.url("/inbox")).await;
    assert_eq!(
        page.text("table.inbox td.waiting").as_deref(),
        Some("today")
    );
    assert!(
        page.attr("table.inbox td.waiting", "title")
            .is_some_and(|t| t.starts_with("Waiting since ")),
        "the moment it started is on hover"
    );
    app.db
        .clock()
        .advance(Duration::days(3) + Duration::hours(2));
    // Three days idle end a session: they sign in again.
    let approver = browser_for(&app, "approver").await;
    let page = get(&approver, &app.url("/inbox")).await;
    assert_eq!(
        page.text("table.inbox td.waiting").as_deref(),
        Some("3 days")
    );

    post_as(
        &app,
        &approver,
        "/language",
        &[("lang", "zh-CN"), ("back", "/inbox")],
    )
    .await;
    let page = get(&approver, &app.url("/inbox")).await;
    assert_eq!(page.text("table.inbox td.waiting").as_deref(), Some("3 天"));
}

#[actix_web::test]
async fn the_home_page_lists_what_waits_for_me_and_my_tickets_still_going() {
    let app = TestApp::spawn().await;
    let o = office(&app);
    let applicant = browser_for(&app, "applicant").await;
    let mut serials = Vec::new();
    for i in 0..6 {
        serials.push(
            file(
                &app,
                &applicant,
                o.laptops,
                o.payments,
                &format!("Laptop {i}"),
            )
            .await,
        );
    }
    let chair = file(&app, &applicant, o.chairs, o.search, "Chair").await;
    let chair_id: i32 = app
        .query(move |c| {
            applies::table
                .filter(applies::serial.eq(chair))
                .select(applies::id)
                .first::<countersign::db::ids::ApplyId>(c)
        })
        .0;
    post_as(
        &app,
        &applicant,
        &format!("/tickets/{chair_id}"),
        &[("intent", "withdraw"), ("comment", "Bought one myself")],
    )
    .await;

    let home = get(&applicant, &app.url("/")).await;
    let newest_five: Vec<String> = serials.iter().rev().take(5).cloned().collect();
    assert_eq!(
        home.attrs("#my-open-tickets li", "data-serial"),
        newest_five,
        "the newest five still going; the withdrawn one is not"
    );
    assert_eq!(
        home.text("#my-open-tickets li .badge").as_deref(),
        Some("In progress")
    );
    assert_eq!(
        home.attr("#my-open-tickets p a", "href").as_deref(),
        Some("/tickets")
    );
    assert_eq!(
        home.text("#waiting-for-me p").as_deref(),
        Some("Nothing waits for you.")
    );

    let approver = browser_for(&app, "approver").await;
    let home = get(&approver, &app.url("/")).await;
    assert_eq!(home.attrs("#waiting-for-me li", "data-serial"), newest_five);
    assert_eq!(
        home.text("#waiting-for-me p a").as_deref(),
        Some("All that waits for you, in your inbox"),
        "six wait, five are listed"
    );
    assert_eq!(
        home.text("#my-open-tickets p").as_deref(),
        Some("You have no ticket in progress. File one from the catalog")
    );
}

#[actix_web::test]
async fn a_new_stand_in_is_mailed_what_already_waits_with_the_note() {
    let (listener, port) = free_port();
    let mail = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    let o = office(&app);
    app.create_user("standin", false);
    let applicant = browser_for(&app, "applicant").await;
    let first = file(&app, &applicant, o.chairs, o.payments, "Chair").await;
    let second = file(&app, &applicant, o.chairs, o.search, "Desk chair").await;
    // One the stand-in filed: they may not decide it for the person away.
    let standin = browser_for(&app, "standin").await;
    let own = file(&app, &standin, o.chairs, o.search, "My chair").await;

    app.sign_in("admin").await;
    let now = countersign::store::now();
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let (starts, ends) = (at(now), at(now + Duration::days(7)));
    let page = app
        .post(
            "/admin/delegations",
            &[
                ("from_user", "away"),
                ("to_user", "standin"),
                ("starts_at", starts.as_str()),
                ("ends_at", ends.as_str()),
                ("process_kind", ""),
                (
                    "note",
                    "Back on Monday; ask Lin about the payments cutover.",
                ),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));

    let mails = mail
        .wait_for(1, |m| m.contains("To: standin@") && m.contains("Subject:"))
        .await;
    assert_eq!(mails.len(), 1, "the stand-in is told");
    let text = &mails[0];
    assert!(text.contains("away Person is away: until"), "{text}");
    assert!(text.contains("Back on Monday; ask Lin about the payments cutover."));
    assert!(text.contains("Set up by: admin Person"), "{text}");
    assert!(
        text.contains("Already waiting for away Person (2):"),
        "{text}"
    );
    assert!(text.contains(&first) && text.contains(&second), "{text}");
    assert!(!text.contains(&own), "not their own ticket: {text}");
    assert!(smtp::link(text, "/inbox").is_some());

    // On the admin list the note shows beside the window.
    let list = app.get("/admin/delegations").await;
    assert_eq!(
        list.text("table.delegations .delegation-note").as_deref(),
        Some("Back on Monday; ask Lin about the payments cutover.")
    );
}

#[actix_web::test]
async fn a_delegation_set_up_ahead_is_marked_scheduled_and_its_stand_in_told_so() {
    let (listener, port) = free_port();
    let mail = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    let o = office(&app);
    app.create_user("standin", false);
    let applicant = browser_for(&app, "applicant").await;
    file(&app, &applicant, o.chairs, o.payments, "Chair").await;

    let away = browser_for(&app, "away").await;
    let now = countersign::store::now();
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let (starts, ends) = (at(now + Duration::days(2)), at(now + Duration::days(9)));
    let page = post_as(
        &app,
        &away,
        "/profile/delegations",
        &[
            ("to_user", "standin"),
            ("starts_at", starts.as_str()),
            ("ends_at", ends.as_str()),
            ("process_kind", ""),
            ("note", "Holiday"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));

    let home = get(&away, &app.url("/")).await;
    assert_eq!(
        home.text("#my-delegations .badge.scheduled").as_deref(),
        Some("scheduled")
    );
    assert_eq!(
        home.text("#my-delegations .delegation-note").as_deref(),
        Some("Holiday")
    );
    let mails = mail.wait_for(1, |m| m.contains("To: standin@")).await;
    let text = &mails[0];
    assert!(
        text.contains("This is scheduled; nothing changes before then."),
        "{text}"
    );
    assert!(
        !text.contains("Set up by"),
        "they set it up themselves: {text}"
    );
    assert!(
        text.contains("Already waiting for away Person (1):"),
        "{text}"
    );
    // Nobody stands in yet: the stand-in's inbox is empty.
    let standin = browser_for(&app, "standin").await;
    let inbox = get(&standin, &app.url("/inbox")).await;
    assert_eq!(inbox.count("table.inbox tbody tr"), 0);
}

#[actix_web::test]
async fn the_home_page_lists_my_roles_in_order_and_my_delegations_not_yet_over_latest_first() {
    use countersign::db::schema::{delegations, role_assignments, roles};
    use countersign::db::stamp::At;
    let app = TestApp::spawn().await;
    app.load_demo();
    let (lead, wang, chen) = (
        app.user_id("ops.lead"),
        app.user_id("ops.wang"),
        app.user_id("qc.chen"),
    );
    let now = countersign::store::now();
    // Ended yesterday; in effect now, to the lead; starting tomorrow, from the lead.
    let windows = [
        (wang, lead, now - Duration::days(3), now - Duration::days(1)),
        (wang, lead, now - Duration::days(1), now + Duration::days(2)),
        (lead, chen, now + Duration::days(1), now + Duration::days(4)),
    ];
    app.query(move |c| {
        for (from, to, starts, ends) in windows {
            diesel::insert_into(delegations::table)
                .values((
                    delegations::from_user_id.eq(from),
                    delegations::to_user_id.eq(to),
                    delegations::starts_at.eq(At(starts)),
                    delegations::ends_at.eq(At(ends)),
                    delegations::note.eq(""),
                    delegations::created_at.eq(At(now)),
                ))
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    });
    // Two more roles, held everywhere, given after the demo's.
    app.query(move |c| {
        let more: Vec<countersign::db::ids::RoleId> = roles::table
            .filter(roles::code.eq_any(["vp", "qc"]))
            .select(roles::id)
            .load(c)?;
        for role in more {
            diesel::insert_into(role_assignments::table)
                .values((
                    role_assignments::user_id.eq(lead),
                    role_assignments::role_id.eq(role),
                    role_assignments::created_at.eq(At(now)),
                ))
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    });
    let held: Vec<String> = app.query(move |c| {
        role_assignments::table
            .inner_join(roles::table)
            .filter(role_assignments::user_id.eq(lead))
            .order((roles::id, role_assignments::id))
            .select(roles::name_en)
            .load::<String>(c)
    });
    assert_eq!(held.len(), 3);

    let browser = app.demo_browser("ops.lead").await;
    let home = get(&browser, &app.url("/")).await;
    assert_eq!(home.texts("#my-roles li strong"), held);
    let lines = home.texts("#my-delegations li");
    assert_eq!(lines.len(), 2, "the ended one is not listed: {lines:?}");
    assert!(
        lines[0].contains("Zhang Lei") && lines[0].contains("Chen Jing"),
        "the one starting tomorrow first: {lines:?}"
    );
    assert!(
        lines[1].contains("Wang Wei") && lines[1].contains("Zhang Lei"),
        "then the one in effect now: {lines:?}"
    );
}
