//! Seed 004's permission request: an AND node of the owners' managers for
//! managed tables, a VP node for special requests, a final OR node of
//! authorisers, delegation while a manager is away, and the grant.

use chrono::Duration;
use countersign::db::ids::{ApplyId, UserId};
use countersign::db::models::Grant;
use countersign::db::schema::{grants, resources, services, users};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn resource_id(app: &TestApp, name: &str) -> String {
    let name = name.to_string();
    app.query(move |c| {
        resources::table
            .filter(resources::name.eq(name))
            .select(resources::id)
            .first::<countersign::db::ids::ResourceId>(c)
    })
    .to_string()
}

fn user_id(app: &TestApp, name: &str) -> UserId {
    let name = name.to_string();
    app.query(move |c| {
        users::table
            .filter(users::username.eq(name))
            .select(users::id)
            .first(c)
    })
}

fn rd_service(app: &TestApp) -> String {
    app.query(|c| {
        services::table
            .filter(services::name_en.eq("Access request (RD)"))
            .select(services::id)
            .first::<countersign::db::ids::ServiceId>(c)
    })
    .to_string()
}

#[actix_web::test]
async fn an_rd_request_for_a_managed_table_runs_through_the_owners_managers_the_vp_and_an_authoriser()
 {
    let app = TestApp::spawn().await;
    app.load_demo();
    // The owner's manager is on leave and has delegated access requests to a colleague.
    let now = countersign::store::now();
    let away = countersign::store::delegations::DelegationInput {
        from: user_id(&app, "owner.manager"),
        to: user_id(&app, "data.lin"),
        starts_at: now - Duration::hours(1),
        ends_at: now + Duration::days(3),
        kind: Some(countersign::flow::ProcessKind::Access),
        note: "Annual leave".into(),
    };
    app.db
        .write_sync(|c| countersign::store::delegations::create(c, &away, away.from))
        .unwrap();
    let (orders, clicks) = (
        resource_id(&app, "dw.orders"),
        resource_id(&app, "dw.clicks"),
    );
    let service = rd_service(&app);

    let rd = app.demo_browser("rd.zhao").await;
    let fields = [
        ("resources", orders.as_str()),
        ("resources", clicks.as_str()),
        ("reason", "Order analysis"),
        ("special", "true"),
    ];
    let mut preview = fields.to_vec();
    preview.push(("intent", "preview"));
    let page = post_as(&app, &rd, &format!("/services/{service}"), &preview).await;
    assert_eq!(
        page.texts("#plan li .people"),
        vec![
            "Sun Hao",
            "Lin Tao for He Jun",
            "Zhou Qiang",
            "Wu Fang, Zheng Yi"
        ]
    );
    assert!(
        page.texts("#plan li .note")
            .contains(&"He Jun is away; Lin Tao decides for them.".to_string())
    );
    let mut submit = fields.to_vec();
    submit.push(("intent", "submit"));
    let page = post_as(&app, &rd, &format!("/services/{service}"), &submit).await;
    let id: i32 = page.path.trim_start_matches("/tickets/").parse().unwrap();
    assert!(page.text("#serial").unwrap().starts_with("ACC-"));

    let manager = app.demo_browser("rd.manager").await;
    assert_eq!(
        act_first(
            &app,
            &manager,
            id,
            &[("intent", "approve"), ("comment", "ok")]
        )
        .await
        .flash()
        .as_deref(),
        Some("Approved.")
    );

    // The stand-in sees it marked "for" the owner's manager, who keeps it too.
    let owners_manager = app.demo_browser("owner.manager").await;
    let own = get(&owners_manager, &app.url("/inbox")).await;
    assert_eq!(
        (
            own.count("table.inbox tbody tr"),
            own.count("table.inbox .badge.for")
        ),
        (1, 0)
    );
    let colleague = app.demo_browser("data.lin").await;
    let inbox = get(&colleague, &app.url("/inbox")).await;
    assert_eq!(
        inbox.text("table.inbox .badge.for").as_deref(),
        Some("for He Jun")
    );
    assert_eq!(
        act_first(
            &app,
            &colleague,
            id,
            &[("intent", "approve"), ("comment", "ok")]
        )
        .await
        .flash()
        .as_deref(),
        Some("Approved.")
    );

    let vp = app.demo_browser("vp.zhou").await;
    act_first(&app, &vp, id, &[("intent", "approve"), ("comment", "ok")]).await;

    // An authoriser approves in a batch from the inbox; the other is no longer asked.
    let authoriser = app.demo_browser("grant.wu").await;
    let inbox = get(&authoriser, &app.url("/inbox")).await;
    let assignment = inbox
        .attr("table.inbox input[name=assignment]", "value")
        .unwrap();
    let page = post_as(
        &app,
        &authoriser,
        "/inbox",
        &[
            ("assignment", assignment.as_str()),
            ("intent", "approve"),
            ("comment", "Granted"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("1 approved."));
    let other = app.demo_browser("grant.zheng").await;
    assert_eq!(
        get(&other, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );
    assert_eq!(ticket_status(&app, id), "finished");

    let ticket = get(&rd, &app.url(&format!("/tickets/{id}"))).await;
    let timeline = ticket.texts("#timeline li");
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Lin Tao for He Jun approved Owners' managers")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Wu Fang approved Authorisation · in a batch")),
        "{timeline:?}"
    );

    let access = get(&rd, &app.url("/access")).await;
    assert_eq!(
        access.attrs("table.grants tbody tr", "data-resource"),
        vec!["dw.clicks", "dw.orders"]
    );

    // An admin revokes one, with a reason.
    let admin = app.demo_browser("admin").await;
    let grant: Grant = app.query(|c| {
        grants::table
            .order(grants::id)
            .select(Grant::as_select())
            .first(c)
    });
    let refused = post_as(
        &app,
        &admin,
        &format!("/admin/grants/{}/revoke", grant.id),
        &[("reason", " ")],
    )
    .await;
    assert_eq!(refused.flash().as_deref(), Some("Give a reason."));
    let page = post_as(
        &app,
        &admin,
        &format!("/admin/grants/{}/revoke", grant.id),
        &[("reason", "Project ended")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The grant was revoked."));
    let access = get(&rd, &app.url("/access")).await;
    assert_eq!(access.count("table.grants tr.revoked"), 1);
}

#[actix_web::test]
async fn an_ordinary_request_for_an_unmanaged_table_skips_the_owners_and_the_vp_and_says_why() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let clicks = resource_id(&app, "dw.clicks");
    let rd = app.demo_browser("rd.zhao").await;

    let page = post_as(
        &app,
        &rd,
        &format!("/services/{}", rd_service(&app)),
        &[
            ("intent", "preview"),
            ("resources", clicks.as_str()),
            ("reason", "Clicks"),
        ],
    )
    .await;

    assert_eq!(page.count("#plan li.skipped"), 2);
    assert_eq!(
        page.texts("#plan li.skipped .note"),
        vec![
            "Its condition does not hold.",
            "Its condition does not hold."
        ]
    );
    assert_eq!(
        page.texts("#plan li.included .people"),
        vec!["Sun Hao", "Wu Fang, Zheng Yi"]
    );
}

#[actix_web::test]
async fn a_reject_ends_the_request_and_nobody_else_is_asked() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let orders = resource_id(&app, "dw.orders");
    let rd = app.demo_browser("rd.zhao").await;
    let page = post_as(
        &app,
        &rd,
        &format!("/services/{}", rd_service(&app)),
        &[
            ("intent", "submit"),
            ("resources", orders.as_str()),
            ("reason", "Orders"),
        ],
    )
    .await;
    let id: i32 = page.path.trim_start_matches("/tickets/").parse().unwrap();

    let manager = app.demo_browser("rd.manager").await;
    let page = get(&manager, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let page = post_as(
        &app,
        &manager,
        &action,
        &[("intent", "reject"), ("comment", "Use the aggregated view")],
    )
    .await;

    assert_eq!(page.flash().as_deref(), Some("Rejected."));
    assert_eq!(ticket_status(&app, id), "rejected");
    let owners_manager = app.demo_browser("data.lin").await;
    assert_eq!(
        get(&owners_manager, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );
    assert_eq!(
        get(&rd, &app.url("/access"))
            .await
            .count("table.grants tbody tr"),
        0
    );
    assert_eq!(
        get(&rd, &app.url(&format!("/tickets/{id}"))).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn tables_of_two_owners_wait_for_both_owners_managers_before_the_authorisers() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let admin = user_id(&app, "admin");
    let boss = app.create_user("boss.sun", false);
    let owner = app.create_user_with("owner.sun", false, Some(boss));
    app.db
        .write_sync(|c| {
            use countersign::domain::Name;
            use countersign::store::resources::{ResourceInput, create};
            let input = ResourceInput {
                name: Name::parse("dw.refunds").unwrap(),
                kind: Name::parse("table").unwrap(),
                owner: Some(owner),
                managed: true,
                description: String::new(),
            };
            create(c, &input, admin)
        })
        .unwrap();
    let (orders, refunds) = (
        resource_id(&app, "dw.orders"),
        resource_id(&app, "dw.refunds"),
    );
    let rd = app.demo_browser("rd.zhao").await;
    let page = post_as(
        &app,
        &rd,
        &format!("/services/{}", rd_service(&app)),
        &[
            ("intent", "submit"),
            ("resources", orders.as_str()),
            ("resources", refunds.as_str()),
            ("reason", "Refund analysis"),
        ],
    )
    .await;
    let id: i32 = page.path.trim_start_matches("/tickets/").parse().unwrap();
    act_first(
        &app,
        &app.demo_browser("rd.manager").await,
        id,
        &[("intent", "approve"), ("comment", "ok")],
    )
    .await;

    let owners_manager = app.demo_browser("owner.manager").await;
    assert_eq!(
        act_first(
            &app,
            &owners_manager,
            id,
            &[("intent", "approve"), ("comment", "ok")]
        )
        .await
        .flash()
        .as_deref(),
        Some("Approved.")
    );
    // One of the two owners' managers is not enough.
    let authoriser = app.demo_browser("grant.wu").await;
    assert_eq!(
        get(&authoriser, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );
    let other = TestApp::browser();
    sign_in_as(&app, &other, "boss.sun", PASSWORD).await;
    let inbox = get(&other, &app.url("/inbox")).await;
    assert_eq!(inbox.count("table.inbox tbody tr"), 1);
    act_first(
        &app,
        &other,
        id,
        &[("intent", "approve"), ("comment", "ok")],
    )
    .await;
    assert_eq!(
        get(&authoriser, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        1
    );
    act_first(
        &app,
        &authoriser,
        id,
        &[("intent", "approve"), ("comment", "ok")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "finished");
    let granted: Vec<String> = app.query(move |c| {
        grants::table
            .inner_join(resources::table)
            .filter(grants::apply_id.eq(ApplyId(id)))
            .order(resources::name)
            .select(resources::name)
            .load(c)
    });
    assert_eq!(granted, vec!["dw.orders", "dw.refunds"]);
}
