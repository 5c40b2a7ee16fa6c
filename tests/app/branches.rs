//! Branches: the demo database change's security and DBA reviews run at
//! once and the flow goes on when both are done; its exclusive gateway
//! sends a high-risk change to the DBA and any other to its applicant; a
//! reject in one branch ends the ticket and stops the other.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{approve_users, approves, audit_events, users};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// A ticket's steps in order: (node, status).
fn steps(app: &TestApp, id: i32) -> Vec<(String, String)> {
    app.query(move |c| {
        approves::table
            .filter(approves::apply_id.eq(ApplyId(id)))
            .order(approves::position)
            .select((approves::node_key, approves::status))
            .load(c)
    })
}

fn step(node: &str, status: &str) -> (String, String) {
    (node.to_string(), status.to_string())
}

/// Who is asked on a ticket now, by username, in order.
fn asked(app: &TestApp, id: i32) -> Vec<String> {
    app.query(move |c| {
        approve_users::table
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::status.eq("pending"))
            .order(approve_users::id)
            .select(users::username)
            .load(c)
    })
}

/// How many times `node` of ticket `id` started.
fn starts(app: &TestApp, id: i32, node: &'static str) -> usize {
    let events: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::action.eq("node.started"))
            .filter(audit_events::apply_id.eq(id))
            .select(audit_events::detail)
            .load(c)
    });
    events
        .iter()
        .filter(|d| d.contains(&format!("\"{node}\"")))
        .count()
}

/// Where the viewer's action form on ticket `id` posts, read before
/// pressing anything (so two people can press at the same moment).
async fn action_of(app: &TestApp, browser: &reqwest::Client, id: i32) -> String {
    get(browser, &app.url(&format!("/tickets/{id}")))
        .await
        .attr("section.action form", "action")
        .unwrap()
}

/// Files a database change as ops.wang; returns the ticket's id.
async fn file_change(app: &TestApp, risk: &str) -> i32 {
    let service = service_id(app, "Database change");
    let ops = app.demo_browser("ops.wang").await;
    let fields = [
        ("reason", "Index the orders table"),
        ("database", "payments"),
        ("statements", "CREATE INDEX orders_by_day ON orders (day);"),
        ("risk", risk),
        ("intent", "submit"),
    ];
    let page = post_as(app, &ops, &format!("/services/{service}"), &fields).await;
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path))
}

#[actix_web::test]
async fn the_preview_says_which_branches_run_at_once_and_which_one_is_taken() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Database change");
    let ops = app.demo_browser("ops.wang").await;
    let page = post_as(
        &app,
        &ops,
        &format!("/services/{service}"),
        &[
            ("reason", "Index the orders table"),
            ("database", "payments"),
            ("statements", "CREATE INDEX orders_by_day ON orders (day);"),
            ("risk", "low"),
            ("intent", "preview"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.texts("#plan li.gateway"),
        vec![
            "Reviews: these 2 branches run at once (Security, Database); the flow goes on when all are done.",
            "Who runs it: one branch is taken, Otherwise.",
        ]
    );
    assert_eq!(
        page.texts("#plan li.in-branch .badge.branch"),
        vec![
            "branch: Security",
            "branch: Database",
            "branch: High risk",
            "branch: Otherwise"
        ]
    );
    assert_eq!(
        page.texts("#plan li.skipped .note"),
        vec!["Who runs it took another branch: Otherwise."]
    );
    assert_eq!(
        page.texts("#plan li.included .people"),
        vec!["Huang Li", "Xu Ming", "Wang Wei"]
    );
}

#[actix_web::test]
async fn both_reviews_run_at_once_and_the_flow_goes_on_only_when_both_are_done() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "high").await;
    assert_eq!(
        steps(&app, id),
        vec![
            step("submit", "done"),
            step("security_review", "active"),
            step("dba_review", "active"),
            step("dba_runs", "waiting"),
            step("applicant_runs", "skipped"),
        ],
        "both branches start together; the exclusive gateway took the high-risk branch"
    );
    assert_eq!(asked(&app, id), vec!["sec.huang", "dba.xu"]);
    // Each reviewer finds it in their inbox.
    for reviewer in ["sec.huang", "dba.xu"] {
        let browser = app.demo_browser(reviewer).await;
        let inbox = get(&browser, &app.url("/inbox")).await;
        assert_eq!(inbox.count("table.inbox tbody tr"), 1, "{reviewer}");
    }
    // The ticket page names both steps as current.
    let ops = app.demo_browser("ops.wang").await;
    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;
    let current = page.text("#head-step").unwrap_or_default();
    assert!(
        current.contains("Security review") && current.contains("DBA review"),
        "{current}"
    );

    let security = app.demo_browser("sec.huang").await;
    let page = act_first(&app, &security, id, &[("intent", "approve")]).await;
    assert_eq!(page.flash().as_deref(), Some("Approved."));
    assert_eq!(
        steps(&app, id)[1..4],
        [
            step("security_review", "approved"),
            step("dba_review", "active"),
            step("dba_runs", "waiting"),
        ],
        "the join waits for the DBA"
    );
    assert_eq!(ticket_status(&app, id), "running");

    let dba = app.demo_browser("dba.xu").await;
    act_first(&app, &dba, id, &[("intent", "approve")]).await;
    assert_eq!(
        steps(&app, id)[2..4],
        [step("dba_review", "approved"), step("dba_runs", "active")]
    );
    assert_eq!(asked(&app, id), vec!["dba.xu"]);
    act_first(
        &app,
        &dba,
        id,
        &[
            ("intent", "complete"),
            ("dba_result", "Index built online in 40 s"),
        ],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "finished");
    assert_eq!(starts(&app, id, "dba_runs"), 1);
}

#[actix_web::test]
async fn a_low_risk_change_goes_to_its_applicant_after_both_reviews() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "low").await;
    let (security, dba) = (
        app.demo_browser("sec.huang").await,
        app.demo_browser("dba.xu").await,
    );
    // The DBA is first this time: order does not matter.
    act_first(&app, &dba, id, &[("intent", "approve")]).await;
    assert_eq!(steps(&app, id)[4], step("applicant_runs", "waiting"));
    act_first(&app, &security, id, &[("intent", "approve")]).await;
    assert_eq!(
        steps(&app, id)[3..],
        [
            step("dba_runs", "skipped"),
            step("applicant_runs", "active")
        ]
    );
    assert_eq!(asked(&app, id), vec!["ops.wang"]);
}

#[actix_web::test]
async fn a_reject_in_one_branch_ends_the_ticket_and_stops_the_other_branch() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "high").await;
    let dba = app.demo_browser("dba.xu").await;
    act_first(
        &app,
        &dba,
        id,
        &[("intent", "reject"), ("comment", "No index on a hot table")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "rejected");
    assert_eq!(
        steps(&app, id)[1..4],
        [
            step("security_review", "cancelled"),
            step("dba_review", "rejected"),
            step("dba_runs", "cancelled"),
        ]
    );
    assert!(asked(&app, id).is_empty(), "nobody is asked any more");
    // The security reviewer's inbox is empty, and an old page of theirs
    // is told what happened.
    let security = app.demo_browser("sec.huang").await;
    let inbox = get(&security, &app.url("/inbox")).await;
    assert_eq!(inbox.count("table.inbox tbody tr"), 0);
}

#[actix_web::test]
async fn two_reviewers_approving_at_the_same_moment_start_the_next_step_once() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "high").await;
    let (security, dba) = (
        app.demo_browser("sec.huang").await,
        app.demo_browser("dba.xu").await,
    );
    // Both pages are read first, then both press Approve at once.
    let (a, b) = (
        action_of(&app, &security, id).await,
        action_of(&app, &dba, id).await,
    );
    let (one, two) = tokio::join!(
        post_as(&app, &security, &a, &[("intent", "approve")]),
        post_as(&app, &dba, &b, &[("intent", "approve")]),
    );
    assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        steps(&app, id)[1..4],
        [
            step("security_review", "approved"),
            step("dba_review", "approved"),
            step("dba_runs", "active"),
        ]
    );
    assert_eq!(starts(&app, id, "dba_runs"), 1, "the join fires once");
    assert_eq!(asked(&app, id), vec!["dba.xu"]);
}

#[actix_web::test]
async fn two_tasks_in_parallel_branches_completed_at_the_same_moment_both_keep_their_fields() {
    use countersign::flow::*;
    let app = TestApp::spawn().await;
    crate::approval_rules::people(&app, &["alice", "bob"]);
    let task = |key: &str, who: &str, field: &str, branch: usize| NodeDef {
        handlers: vec![HandlerRule::Users {
            usernames: vec![who.into()],
        }],
        fields: vec![FieldDef {
            required: true,
            ..FieldDef::new(field, LocalText::new(field, field), FieldKind::Text)
        }],
        branch: Some(BranchRef {
            gateway: "checks".into(),
            branch,
        }),
        ..NodeDef::new(key, LocalText::new(key, key), NodeKind::Task)
    };
    let mut def = ProcessDef::new(LocalText::new("Purchase", "采购"), ProcessKind::Request);
    def.nodes[0].fields.push(FieldDef::new(
        "what",
        LocalText::new("What", "内容"),
        FieldKind::Text,
    ));
    def.nodes.push(task("count", "alice", "stock", 0));
    def.nodes.push(task("price", "bob", "quote", 1));
    def.gateways.push(GatewayDef {
        key: "checks".into(),
        name: LocalText::new("Checks", "检查"),
        kind: GatewayKind::Parallel,
        branches: vec![BranchDef::default(), BranchDef::default()],
    });
    let service = app.deploy_service(&def, "Purchase").0;
    let id = crate::approval_rules::file(&app, service, &[("what", "Chairs")]).await;
    let (alice, bob) = (
        browser_for(&app, "alice").await,
        browser_for(&app, "bob").await,
    );
    let (a, b) = (
        action_of(&app, &alice, id).await,
        action_of(&app, &bob, id).await,
    );
    let (one, two) = tokio::join!(
        post_as(
            &app,
            &alice,
            &a,
            &[("intent", "complete"), ("stock", "12 in the store")]
        ),
        post_as(
            &app,
            &bob,
            &b,
            &[("intent", "complete"), ("quote", "40 EUR each")]
        ),
    );
    assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(ticket_status(&app, id), "finished");
    let form: String = app.query(move |c| {
        countersign::db::schema::applies::table
            .find(ApplyId(id))
            .select(countersign::db::schema::applies::form)
            .first::<countersign::db::states::StoredForm>(c)
            .map(|f| serde_json::to_string(&f.0).unwrap())
    });
    let form: serde_json::Value = serde_json::from_str(&form).unwrap();
    assert_eq!(form["what"], "Chairs");
    assert_eq!(form["stock"], "12 in the store");
    assert_eq!(form["quote"], "40 EUR each");
}

#[actix_web::test]
async fn a_change_sent_back_from_one_branch_and_resubmitted_runs_both_branches_again_and_chooses_afresh()
 {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "high").await;
    let (security, dba) = (
        app.demo_browser("sec.huang").await,
        app.demo_browser("dba.xu").await,
    );
    act_first(&app, &security, id, &[("intent", "approve")]).await;
    let page = act_first(
        &app,
        &dba,
        id,
        &[
            ("intent", "send_back"),
            ("comment", "Is it really high risk?"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Sent back to the applicant."));
    assert_eq!(ticket_status(&app, id), "sent_back");
    assert!(asked(&app, id).is_empty());

    let ops = app.demo_browser("ops.wang").await;
    let page = post_as(
        &app,
        &ops,
        &format!("/tickets/{id}/resubmit"),
        &[
            ("reason", "Index the orders table"),
            ("database", "payments"),
            (
                "statements",
                "CREATE INDEX CONCURRENTLY orders_by_day ON orders (day);",
            ),
            ("risk", "low"),
        ],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Resubmitted; the flow starts again.")
    );
    // The new round: both reviews again (security's approval was of the
    // old form), and now the applicant's branch.
    assert_eq!(
        steps(&app, id)[5..],
        [
            step("submit", "done"),
            step("security_review", "active"),
            step("dba_review", "active"),
            step("dba_runs", "skipped"),
            step("applicant_runs", "waiting"),
        ]
    );
    assert_eq!(asked(&app, id), vec!["sec.huang", "dba.xu"]);
    act_first(&app, &security, id, &[("intent", "approve")]).await;
    act_first(&app, &dba, id, &[("intent", "approve")]).await;
    act_first(
        &app,
        &ops,
        id,
        &[("intent", "complete"), ("result", "Built in 12 s")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn withdrawing_a_change_while_both_reviews_run_stops_both() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app, "high").await;
    let ops = app.demo_browser("ops.wang").await;
    let page = post_as(
        &app,
        &ops,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Done another way")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The ticket was withdrawn."));
    assert_eq!(
        steps(&app, id)[1..],
        [
            step("security_review", "cancelled"),
            step("dba_review", "cancelled"),
            step("dba_runs", "cancelled"),
            step("applicant_runs", "skipped"),
        ]
    );
    assert!(asked(&app, id).is_empty());
}

#[actix_web::test]
async fn the_api_names_the_branch_each_step_runs_in_when_previewing_and_reading_a_ticket() {
    use countersign::store::api_tokens::Scope;
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Database change");
    let secret = crate::api::token_for(&app, "ops.wang", Scope::Act);
    let (status, plan) = crate::api::post_json(
        &app,
        &format!("/api/v1/services/{service}/preview"),
        &secret,
        serde_json::json!({ "fields": {
            "reason": "Index the orders table",
            "database": "payments",
            "statements": "CREATE INDEX orders_by_day ON orders (day);",
            "risk": "high",
        }}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let branches: Vec<serde_json::Value> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["branch"].clone())
        .collect();
    assert_eq!(
        branches[0],
        serde_json::json!({ "gateway": "reviews", "kind": "parallel", "index": 0, "name": "Security" })
    );
    assert_eq!(branches[3]["kind"], "exclusive");
    assert_eq!(branches[3]["name"], "Otherwise");

    let id = file_change(&app, "high").await;
    let (status, ticket) =
        crate::api::get_json(&app, &format!("/api/v1/tickets/{id}"), &secret, "zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    let nodes = ticket["nodes"].as_array().unwrap();
    assert!(
        nodes[0].get("branch").is_none(),
        "submit is on the main line"
    );
    assert_eq!(nodes[2]["branch"]["name"], "数据库");
    assert_eq!(nodes[2]["status"], "active");
    assert_eq!(nodes[1]["status"], "active");
}
