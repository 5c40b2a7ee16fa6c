//! Tickets: the change-management tutorial as its people do it, and
//! decisions under concurrency.

use countersign::db::ids::{ApplyId, UserId};
use countersign::db::models::{Apply, ApproveUser};
use countersign::db::schema::{applies, approve_users, audit_events, businesses, services, users};
use countersign::flow::form::Values;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn ticket(app: &TestApp, id: i32) -> Apply {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(Apply::as_select())
            .first(c)
    })
}

fn ticket_id(path: &str) -> i32 {
    path.strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {path}"))
}

/// The action form of the first assignment the viewer may act on.
fn action_path(page: &Page) -> String {
    page.attr("section.action form", "action")
        .expect("an action for the viewer")
}

#[actix_web::test]
async fn the_change_management_tutorial_runs_from_request_to_evaluation() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let payments: i32 = app
        .query(|c| {
            businesses::table
                .filter(businesses::name.eq("Payments"))
                .select(businesses::id)
                .first::<countersign::db::ids::BusinessId>(c)
        })
        .0;
    let payments = payments.to_string();

    // Ops files the change.
    let ops = app.demo_browser("ops.wang").await;
    let catalog = get(&ops, &app.url("/catalog")).await;
    assert!(
        catalog
            .attrs("#catalog a", "href")
            .contains(&format!("/services/{service}"))
    );
    let form = get(&ops, &app.url(&format!("/services/{service}"))).await;
    assert_eq!(
        form.attrs("#ticket-form [data-field]", "data-field"),
        vec![
            "reason",
            "scope",
            "affected_hosts",
            "window",
            "rollback_plan",
            "emergency"
        ]
    );
    let token = form
        .attr("#ticket-form input[name=submit_token]", "value")
        .unwrap();
    let fields = [
        ("submit_token", token.as_str()),
        ("business_id", payments.as_str()),
        ("reason", "Servers are out of warranty"),
        ("scope", "infrastructure"),
        ("affected_hosts", "pay-db-01\npay-db-02"),
        ("window.start", "2026-11-28T01:00"),
        ("window.end", "2026-11-28T03:00"),
        ("rollback_plan", "Switch back to the old servers"),
    ];
    let mut preview_fields = fields.to_vec();
    preview_fields.push(("intent", "preview"));
    let preview = post_as(&app, &ops, &format!("/services/{service}"), &preview_fields).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(
        preview.texts("#plan li .people"),
        vec!["Zhang Lei", "Wang Wei", "Chen Jing"]
    );
    let mut submit_fields = fields.to_vec();
    submit_fields.push(("intent", "submit"));
    let page = post_as(&app, &ops, &format!("/services/{service}"), &submit_fields).await;
    assert_eq!(page.flash().as_deref(), Some("Your ticket was submitted."));
    let id = ticket_id(&page.path);
    let filed = ticket(&app, id);
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    assert_eq!(filed.serial, format!("CHG-{today}-0001"));
    assert_eq!(page.text("#serial").as_deref(), Some(filed.serial.as_str()));
    assert_eq!(filed.status.as_str(), "running");
    assert_eq!(filed.title, "Servers are out of warranty");

    // The ops lead finds it in the inbox and approves.
    let lead = app.demo_browser("ops.lead").await;
    let inbox = get(&lead, &app.url("/inbox")).await;
    assert_eq!(
        inbox.attrs("table.inbox tbody tr", "data-serial"),
        vec![filed.serial.clone()]
    );
    let page = get(&lead, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.text("section.action h2").as_deref(),
        Some("Ops lead review")
    );
    let page = post_as(
        &app,
        &lead,
        &action_path(&page),
        &[("intent", "approve"), ("comment", "Go ahead in the window")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Approved."));
    assert_eq!(page.count("section.action"), 0);
    assert_eq!(
        get(&lead, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );

    // Ops writes the summary.
    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.text("section.action h2").as_deref(),
        Some("Change and summary")
    );
    let refused = post_as(
        &app,
        &ops,
        &action_path(&page),
        &[("intent", "complete"), ("change_summary", "")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.field_error("change_summary").as_deref(),
        Some("This field is required.")
    );
    let page = post_as(
        &app,
        &ops,
        &action_path(&page),
        &[
            ("intent", "complete"),
            ("change_summary", "Both servers replaced, no downtime"),
            ("completed_at", "2026-11-28T02:40"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Done."));

    // QC evaluates.
    let qc = app.demo_browser("qc.chen").await;
    let page = get(&qc, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.text("section.action h2").as_deref(),
        Some("Change evaluation")
    );
    let refused = post_as(
        &app,
        &qc,
        &action_path(&page),
        &[
            ("intent", "complete"),
            ("metrics_impact", "None"),
            ("complaints", "0"),
        ],
    )
    .await;
    assert_eq!(
        refused.form_error().as_deref(),
        Some("Choose the outcome of the evaluation.")
    );
    let page = post_as(
        &app,
        &qc,
        &action_path(&page),
        &[
            ("intent", "complete"),
            ("metrics_impact", "Payment success rate unchanged"),
            ("complaints", "0"),
            ("outcome", "successful"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Done."));

    // Finished, with every field and the whole timeline.
    let done = ticket(&app, id);
    assert_eq!(done.status.as_str(), "finished");
    assert_eq!(done.outcome.map(|o| o.as_str()), Some("successful"));
    let values: Values = done.form.0.clone();
    for key in [
        "reason",
        "scope",
        "affected_hosts",
        "window",
        "rollback_plan",
        "change_summary",
        "completed_at",
        "metrics_impact",
        "complaints",
    ] {
        assert!(values.contains_key(key), "{key} kept");
    }
    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.text("#ticket-status").as_deref(), Some("Finished"));
    let timeline = page.texts("#timeline li");
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Wang Wei submitted the ticket")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Zhang Lei approved Ops lead review")
                && l.contains("Go ahead in the window")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Wang Wei completed Change and summary")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("Chen Jing completed Change evaluation")),
        "{timeline:?}"
    );
    assert!(
        timeline.last().unwrap().contains("The ticket is finished"),
        "{timeline:?}"
    );
    assert_eq!(page.count("#flow svg rect.status-approved"), 1);
    assert_eq!(page.count("#flow svg rect.status-done"), 3);
    assert!(
        page.texts("#fields dd")
            .contains(&"Infrastructure".to_string())
    );
    let mine = get(&ops, &app.url("/tickets")).await;
    assert_eq!(
        mine.attrs("table.my-tickets tbody tr", "data-serial"),
        vec![done.serial]
    );
}

#[actix_web::test]
async fn a_form_with_bad_values_comes_back_with_each_message_and_the_input_kept() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let ops = app.demo_browser("ops.wang").await;

    let page = post_as(
        &app,
        &ops,
        &format!("/services/{service}"),
        &[
            ("intent", "preview"),
            ("business_id", "99999"),
            ("reason", "  "),
            ("scope", "moon"),
            ("window.start", "2026-11-28T03:00"),
            ("window.end", "2026-11-28T01:00"),
            ("rollback_plan", "Keep the old ones"),
        ],
    )
    .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("business_id").as_deref(),
        Some("Choose the business this concerns.")
    );
    assert_eq!(
        page.field_error("reason").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("scope").as_deref(),
        Some("Choose one of the listed options.")
    );
    assert_eq!(
        page.field_error("window").as_deref(),
        Some("The end must be after the start.")
    );
    assert_eq!(
        page.text("#f-rollback_plan").as_deref(),
        Some("Keep the old ones")
    );
    assert_eq!(
        page.attr("input[name='window.start']", "value").as_deref(),
        Some("2026-11-28T03:00")
    );
    // The summary at the top names each field and links to it.
    assert_eq!(
        page.text("#error-summary p").as_deref(),
        Some("4 fields need attention:")
    );
    let links = page.attrs("#error-summary a", "href");
    assert_eq!(links.len(), 4);
    for link in &links {
        assert_eq!(page.count(link), 1, "{link} is on the page");
    }
    assert!(
        page.texts("#error-summary li")
            .contains(&"Reason: This field is required.".to_string()),
        "{:?}",
        page.texts("#error-summary li")
    );
    let count: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn going_back_to_edit_or_missing_the_business_shows_the_form_with_every_business() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let ops = app.demo_browser("ops.wang").await;
    let form = get(&ops, &app.url(&format!("/services/{service}"))).await;
    let offered = form.attrs("#f-business_id option", "value");
    assert!(!offered.is_empty(), "the demo has businesses");
    let chosen = offered[0].clone();
    let values = |intent: &'static str, business: String| {
        vec![
            ("intent", intent.to_string()),
            ("business_id", business),
            ("reason", "Rotate certificates".to_string()),
            ("scope", "infrastructure".to_string()),
            ("window.start", "2026-11-28T01:00".to_string()),
            ("window.end", "2026-11-28T03:00".to_string()),
            ("rollback_plan", "Keep the old ones".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let (app, ops) = (&app, &ops);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_as(app, ops, &format!("/services/{service}"), &fields).await
        }
    };

    // Back from the preview: the form again, the business still chosen.
    let edit = post(values("edit", chosen.clone())).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_eq!(edit.attrs("#f-business_id option", "value"), offered);
    assert_eq!(
        edit.attr("#f-business_id option[selected]", "value"),
        Some(chosen.clone())
    );
    assert_eq!(edit.field_error("business_id"), None);

    // Every other field right, the business gone: only its error, and the list.
    let missing = post(values("preview", String::new())).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.attrs("#f-business_id option", "value"), offered);
    assert_eq!(
        missing.field_error("business_id").as_deref(),
        Some("Choose the business this concerns.")
    );
    assert_eq!(missing.field_error("reason"), None);

    // The preview names the business chosen.
    let preview = post(values("preview", chosen.clone())).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(
        preview.attr("input[name=business_id]", "value"),
        Some(chosen)
    );
    let count: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn a_double_clicked_submit_files_one_ticket() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Access request (RD)");
    let rd = app.demo_browser("rd.zhao").await;
    let form = get(&rd, &app.url(&format!("/services/{service}"))).await;
    let token = form
        .attr("#ticket-form input[name=submit_token]", "value")
        .unwrap();
    let clicks = [
        ("intent", "submit"),
        ("submit_token", token.as_str()),
        ("resources", "3"),
        ("reason", "Click analysis"),
    ];

    let path = format!("/services/{service}");
    let (a, b) = tokio::join!(
        post_as(&app, &rd, &path, &clicks),
        post_as(&app, &rd, &path, &clicks)
    );

    assert_eq!(a.path, b.path);
    let count: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(count, 1);
}

/// Files a ticket whose second node is one `any` node of `people`.
async fn any_node_ticket(app: &TestApp) -> i32 {
    use countersign::flow::*;
    let mut def = ProcessDef::new(
        LocalText::new("Quick approval", "快速审批"),
        ProcessKind::Request,
    );
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
        usernames: (1..=6).map(|i| format!("approver{i}")).collect(),
    }];
    def.nodes.push(node);
    let service = app.deploy_service(&def, "Quick approval");
    let applicant = TestApp::browser();
    sign_in_as(app, &applicant, "applicant", PASSWORD).await;
    let page = post_as(
        app,
        &applicant,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "A new laptop")],
    )
    .await;
    ticket_id(&page.path)
}

#[actix_web::test]
async fn six_people_approving_one_any_node_at_the_same_moment_make_exactly_one_decision() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("applicant", false);
    for i in 1..=6 {
        app.create_user(&format!("approver{i}"), false);
    }
    let id = any_node_ticket(&app).await;
    let mut browsers = Vec::new();
    for i in 1..=6 {
        let b = TestApp::browser();
        sign_in_as(&app, &b, &format!("approver{i}"), PASSWORD).await;
        let page = get(&b, &app.url(&format!("/tickets/{id}"))).await;
        let action = action_path(&page);
        browsers.push((b, action));
    }

    let clicks = browsers
        .iter()
        .map(|(b, action)| post_as(&app, b, action, &[("intent", "approve")]));
    let pages = futures_util::future::join_all(clicks).await;

    let flashes: Vec<String> = pages.iter().filter_map(|p| p.flash()).collect();
    assert_eq!(
        flashes.iter().filter(|f| *f == "Approved.").count(),
        1,
        "{flashes:?}"
    );
    assert_eq!(
        flashes.len(),
        6,
        "everyone is told what happened: {flashes:?}"
    );
    let rows: Vec<ApproveUser> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::decision.eq("approve"))
            .select(ApproveUser::as_select())
            .load(c)
    });
    assert_eq!(rows.len(), 1);
    assert_eq!(ticket(&app, id).status.as_str(), "finished");
    let approvals: i64 = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq("assignment.approved"))
            .count()
            .get_result(c)
    });
    assert_eq!(approvals, 1);
}

#[actix_web::test]
async fn acting_on_a_decided_assignment_or_someone_elses_says_so_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("applicant", false);
    app.create_user("outsider", false);
    for i in 1..=6 {
        app.create_user(&format!("approver{i}"), false);
    }
    let id = any_node_ticket(&app).await;
    let first = TestApp::browser();
    sign_in_as(&app, &first, "approver1", PASSWORD).await;
    let page = get(&first, &app.url(&format!("/tickets/{id}"))).await;
    let action = action_path(&page);
    let second = TestApp::browser();
    sign_in_as(&app, &second, "approver2", PASSWORD).await;
    let other_action = action_path(&get(&second, &app.url(&format!("/tickets/{id}"))).await);

    post_as(&app, &first, &action, &[("intent", "approve")]).await;
    let again = post_as(&app, &first, &action, &[("intent", "approve")]).await;
    assert_eq!(
        again.flash().as_deref(),
        Some("This has already been decided; nothing was changed.")
    );
    let late = post_as(
        &app,
        &second,
        &other_action,
        &[("intent", "reject"), ("comment", "No")],
    )
    .await;
    // Who got there first is named, and the comment typed is kept.
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(
        late.text("#overtaken .form-error")
            .unwrap()
            .starts_with("approver1 Person approved this step on "),
        "{:?}",
        late.text("#overtaken")
    );
    assert_eq!(late.text("#kept-comment").as_deref(), Some("No"));

    let outsider = TestApp::browser();
    sign_in_as(&app, &outsider, "outsider", PASSWORD).await;
    assert_eq!(
        get(&outsider, &app.url(&format!("/tickets/{id}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let res = post_as(&app, &outsider, &other_action, &[("intent", "approve")]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(ticket(&app, id).status.as_str(), "finished");
}

#[actix_web::test]
async fn rejecting_needs_a_comment_and_ends_the_ticket() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("applicant", false);
    for i in 1..=6 {
        app.create_user(&format!("approver{i}"), false);
    }
    let id = any_node_ticket(&app).await;
    let b = TestApp::browser();
    sign_in_as(&app, &b, "approver3", PASSWORD).await;
    let action = action_path(&get(&b, &app.url(&format!("/tickets/{id}"))).await);

    let page = post_as(&app, &b, &action, &[("intent", "reject"), ("comment", " ")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.form_error().as_deref(),
        Some("Say why in a comment when you reject.")
    );
    assert_eq!(ticket(&app, id).status.as_str(), "running");

    let page = post_as(
        &app,
        &b,
        &action,
        &[("intent", "reject"), ("comment", "Not in the budget")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Rejected."));
    assert_eq!(ticket(&app, id).status.as_str(), "rejected");
    assert_eq!(page.text("#ticket-status").as_deref(), Some("Rejected"));
}

async fn people_for_any_node(app: &TestApp) {
    app.create_user("admin", true);
    app.create_user("applicant", false);
    for i in 1..=6 {
        app.create_user(&format!("approver{i}"), false);
    }
}

#[actix_web::test]
async fn the_applicant_withdraws_a_running_ticket_and_an_approval_after_it_says_so() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let id = any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver1").await;
    let action = action_path(&get(&approver, &app.url(&format!("/tickets/{id}"))).await);
    let stranger = browser_for(&app, "approver2").await;
    let refused = post_as(
        &app,
        &stranger,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Not needed any more")],
    )
    .await;
    assert_eq!(
        refused.flash().as_deref(),
        Some("Only the applicant can do this.")
    );

    let applicant = browser_for(&app, "applicant").await;
    // Withdrawing asks why.
    let unsaid = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", " ")],
    )
    .await;
    assert_eq!(unsaid.flash().as_deref(), Some("Give a reason."));
    assert_eq!(ticket(&app, id).status.as_str(), "running");
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Not needed any more")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The ticket was withdrawn."));
    assert!(
        page.texts("#timeline li blockquote")
            .contains(&"Not needed any more".to_string())
    );
    assert_eq!(ticket(&app, id).status.as_str(), "withdrawn");
    assert_eq!(page.count("#applicant-actions"), 0);

    let late = post_as(&app, &approver, &action, &[("intent", "approve")]).await;
    assert_eq!(
        late.flash().as_deref(),
        Some("The applicant withdrew this ticket; nothing was changed.")
    );
    assert_eq!(
        get(&approver, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );
}

#[actix_web::test]
async fn an_approval_racing_a_withdrawal_has_exactly_one_outcome() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    for _ in 0..3 {
        let id = any_node_ticket(&app).await;
        let approver = browser_for(&app, "approver1").await;
        let action = action_path(&get(&approver, &app.url(&format!("/tickets/{id}"))).await);
        let applicant = browser_for(&app, "applicant").await;
        let ticket_path = format!("/tickets/{id}");
        let (a, w) = tokio::join!(
            post_as(&app, &approver, &action, &[("intent", "approve")]),
            post_as(
                &app,
                &applicant,
                &ticket_path,
                &[("intent", "withdraw"), ("comment", "Not needed")]
            )
        );
        let state = ticket(&app, id).status;
        match state.as_str() {
            "finished" => assert_eq!(
                w.flash().as_deref(),
                Some(
                    "This ticket is no longer running (finished, rejected or withdrawn); nothing was changed."
                )
            ),
            "withdrawn" => {
                assert_eq!(a.status, StatusCode::OK);
                assert_eq!(
                    a.flash().as_deref(),
                    Some("The applicant withdrew this ticket; nothing was changed.")
                );
            }
            other => panic!("unexpected state {other}"),
        }
        let approvals: i64 = app.query(move |c| {
            approve_users::table
                .filter(approve_users::apply_id.eq(ApplyId(id)))
                .filter(approve_users::decision.eq("approve"))
                .count()
                .get_result(c)
        });
        assert_eq!(approvals, i64::from(state.as_str() == "finished"));
    }
}

#[actix_web::test]
async fn urging_reminds_the_current_people_once_an_hour() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let id = any_node_ticket(&app).await;
    let applicant = browser_for(&app, "applicant").await;

    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "urge")],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The people it waits for were reminded.")
    );
    let again = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}"),
        &[("intent", "urge")],
    )
    .await;
    assert_eq!(
        again.flash().as_deref(),
        Some("You reminded them less than an hour ago; try again later.")
    );

    let urged: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq("ticket.urged"))
            .select(audit_events::detail)
            .load(c)
    });
    assert_eq!(urged.len(), 1);
    let reminded: serde_json::Value = serde_json::from_str(&urged[0]).unwrap();
    assert_eq!(reminded["reminded"].as_array().unwrap().len(), 6);
}

#[actix_web::test]
async fn anyone_on_a_ticket_may_comment_and_the_comment_shows_on_the_timeline() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let id = any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver4").await;

    let empty = post_as(
        &app,
        &approver,
        &format!("/tickets/{id}"),
        &[("intent", "comment"), ("comment", "  ")],
    )
    .await;
    assert_eq!(empty.flash().as_deref(), Some("This field is required."));
    let page = post_as(
        &app,
        &approver,
        &format!("/tickets/{id}"),
        &[("intent", "comment"), ("comment", "Which model?")],
    )
    .await;

    assert_eq!(page.flash().as_deref(), Some("Comment added."));
    let last = page.texts("#timeline li").pop().unwrap();
    assert!(
        last.contains("approver4 Person commented") && last.contains("Which model?"),
        "{last}"
    );
}

#[actix_web::test]
async fn a_sent_back_ticket_is_corrected_and_resubmitted_keeping_its_history() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let id = any_node_ticket(&app).await;
    let serial = ticket(&app, id).serial;
    let approver = browser_for(&app, "approver2").await;
    let action = action_path(&get(&approver, &app.url(&format!("/tickets/{id}"))).await);
    let page = post_as(
        &app,
        &approver,
        &action,
        &[
            ("intent", "send_back"),
            ("comment", "Which laptop exactly?"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Sent back to the applicant."));
    assert_eq!(ticket(&app, id).status.as_str(), "sent_back");

    let applicant = browser_for(&app, "applicant").await;
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.attr("#resubmit-form [name=what]", "value").as_deref(),
        Some("A new laptop")
    );
    let refused = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/resubmit"),
        &[("what", "")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.field_error("what").as_deref(),
        Some("This field is required.")
    );
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/resubmit"),
        &[("what", "A 14-inch laptop")],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Resubmitted; the flow starts again.")
    );

    let again = ticket(&app, id);
    assert_eq!(
        (again.status.as_str(), again.serial.as_str()),
        ("running", serial.as_str())
    );
    let values: Values = again.form.0.clone();
    assert_eq!(values["what"], "A 14-inch laptop");
    assert_eq!(
        get(&approver, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        1
    );
    let timeline = page.texts("#timeline li");
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("sent Approve back to the applicant")
                && l.contains("Which laptop exactly?")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("applicant Person resubmitted the ticket")),
        "{timeline:?}"
    );
}

#[actix_web::test]
async fn an_assignment_is_handed_over_and_the_new_person_decides() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    app.create_user("deputy", false);
    let id = any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver5").await;
    let action = action_path(&get(&approver, &app.url(&format!("/tickets/{id}"))).await);

    let refused = post_as(
        &app,
        &approver,
        &action,
        &[("intent", "transfer"), ("to", "nobody")],
    )
    .await;
    assert_eq!(
        refused.form_error().as_deref(),
        Some("This person does not exist or is deactivated.")
    );
    let refused = post_as(
        &app,
        &approver,
        &action,
        &[("intent", "transfer"), ("to", "approver6")],
    )
    .await;
    assert_eq!(
        refused.form_error().as_deref(),
        Some("This person already handles this step.")
    );
    let page = post_as(
        &app,
        &approver,
        &action,
        &[
            ("intent", "transfer"),
            ("to", "deputy"),
            ("comment", "On holiday"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Handed over."));
    assert_eq!(
        get(&approver, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );

    let deputy = browser_for(&app, "deputy").await;
    let page = approve_first(&app, &deputy, id).await;
    assert_eq!(page.flash().as_deref(), Some("Approved."));
    assert_eq!(ticket(&app, id).status.as_str(), "finished");
    let timeline = page.texts("#timeline li");
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("approver5 Person handed Approve over to deputy Person")),
        "{timeline:?}"
    );
}

async fn approve_first(app: &TestApp, browser: &reqwest::Client, id: i32) -> Page {
    let action = action_path(&get(browser, &app.url(&format!("/tickets/{id}"))).await);
    post_as(app, browser, &action, &[("intent", "approve")]).await
}

#[actix_web::test]
async fn admins_filter_all_tickets_and_export_them_as_csv() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let first = any_node_ticket(&app).await;
    let second = any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver1").await;
    approve_first(&app, &approver, first).await;
    let admin = browser_for(&app, "admin").await;

    let all = get(&admin, &app.url("/admin/tickets")).await;
    assert_eq!(all.count("table.all-tickets tbody tr"), 2);
    let running = get(&admin, &app.url("/admin/tickets?status=running")).await;
    assert_eq!(
        running.attrs("table.all-tickets tbody tr", "data-serial"),
        vec![ticket(&app, second).serial]
    );
    let nobody = get(&admin, &app.url("/admin/tickets?applicant=approver1")).await;
    assert_eq!(nobody.count("table.all-tickets tbody tr"), 0);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = get(
        &admin,
        &app.url(&format!(
            "/admin/tickets?from={today}&until={today}&applicant=applicant"
        )),
    )
    .await;
    assert_eq!(dated.count("table.all-tickets tbody tr"), 2);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        get(&admin, &app.url(&format!("/admin/tickets?from={tomorrow}")))
            .await
            .count("table.all-tickets tbody tr"),
        0
    );

    let csv_link = running.attr("#csv", "href").unwrap();
    let res = admin.get(app.url(&csv_link)).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let body = res.text().await.unwrap();
    // A byte-order mark, so that Excel reads UTF-8 (and Chinese) right.
    let body = body.strip_prefix('\u{feff}').expect("a byte-order mark");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "Serial,Title,Service,Kind,Status,Applicant,Business,Filed at,Finished at,Outcome,Deadlines,Deadlines missed"
    );
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].starts_with(&format!(
            "{},A new laptop,Quick approval,Request,In progress,applicant Person (applicant),,",
            ticket(&app, second).serial
        )),
        "{}",
        lines[1]
    );

    // In Chinese: headers and words in Chinese.
    post_as(
        &app,
        &admin,
        "/language",
        &[("lang", "zh-CN"), ("back", "/")],
    )
    .await;
    let body = admin
        .get(app.url(&csv_link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "单号,标题,服务,类型,状态,申请人,业务,提交时间,完成时间,评估结果,时限,超时次数"
    );
    assert!(lines[1].contains(",请求,进行中,"), "{}", lines[1]);

    let applicant = browser_for(&app, "applicant").await;
    assert_eq!(
        get(&applicant, &app.url("/admin/tickets")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        applicant
            .get(app.url("/admin/tickets.csv"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn the_inbox_count_shows_in_the_navigation() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    any_node_ticket(&app).await;
    any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver2").await;
    assert_eq!(
        get(&approver, &app.url("/"))
            .await
            .text("#inbox-count")
            .as_deref(),
        Some("2")
    );
    let applicant = browser_for(&app, "applicant").await;
    assert_eq!(
        get(&applicant, &app.url("/")).await.count("#inbox-count"),
        0
    );
}

/// Copies `approver3`'s assignment on `apply` `n` times, still pending:
/// a backlog without filing a ticket for each.
fn pile_up(app: &TestApp, apply: i32, n: usize) {
    app.db
        .write_sync(move |c| {
            let mine: ApproveUser = approve_users::table
                .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
                .filter(approve_users::apply_id.eq(apply))
                .filter(users::username.eq("approver3"))
                .select(ApproveUser::as_select())
                .first(c)?;
            for i in 0..n {
                diesel::insert_into(approve_users::table)
                    .values((
                        approve_users::approve_id.eq(mine.approve_id),
                        approve_users::apply_id.eq(mine.apply_id),
                        approve_users::position.eq(100 + i as i32),
                        approve_users::user_id.eq(mine.user_id),
                        approve_users::status.eq("pending"),
                        approve_users::created_at.eq(countersign::db::stamp::At(mine.created_at)),
                    ))
                    .execute(c)?;
            }
            Ok(())
        })
        .unwrap();
}

#[actix_web::test]
async fn the_menu_counts_waiting_work_up_to_99_and_then_says_99_plus() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let apply = any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver3").await;
    let count = |page: Page| page.text("#inbox-count");
    assert_eq!(
        count(get(&approver, &app.url("/")).await).as_deref(),
        Some("1")
    );

    pile_up(&app, apply, 98);
    assert_eq!(
        count(get(&approver, &app.url("/")).await).as_deref(),
        Some("99")
    );

    pile_up(&app, apply, 1);
    assert_eq!(
        count(get(&approver, &app.url("/")).await).as_deref(),
        Some("99+")
    );
    pile_up(&app, apply, 50);
    assert_eq!(
        count(get(&approver, &app.url("/")).await).as_deref(),
        Some("99+")
    );
    let waiting: i64 = app.query(|c| {
        approve_users::table
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(users::username.eq("approver3"))
            .filter(approve_users::status.eq("pending"))
            .count()
            .get_result(c)
    });
    assert_eq!(waiting, 150, "the inbox itself still holds every one");
}

#[actix_web::test]
async fn the_inbox_shows_a_page_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let first = any_node_ticket(&app).await;
    let service: i32 = app
        .query(move |c| {
            applies::table
                .find(ApplyId(first))
                .select(applies::service_id)
                .first::<countersign::db::ids::ServiceId>(c)
        })
        .0;
    let applicant = browser_for(&app, "applicant").await;
    for i in 0..29 {
        let what = format!("Chair {i}");
        post_as(
            &app,
            &applicant,
            &format!("/services/{service}"),
            &[("intent", "submit"), ("what", what.as_str())],
        )
        .await;
    }
    let mut newest_first: Vec<String> = app.query(|c| {
        applies::table
            .order(applies::id.desc())
            .select(applies::serial)
            .load(c)
    });
    assert_eq!(newest_first.len(), 30);

    let approver = browser_for(&app, "approver3").await;
    let page = get(&approver, &app.url("/inbox")).await;
    assert_eq!(page.text("#inbox-count").as_deref(), Some("30"));
    let shown = page.attrs("table.inbox tbody tr", "data-serial");
    let rest = newest_first.split_off(25);
    assert_eq!(shown, newest_first, "the newest 25, newest first");
    assert_eq!(page.count("#inbox-newest"), 0);
    let older = page
        .attr("#inbox-older", "href")
        .expect("a link to older ones");

    let page = get(&approver, &app.url(&older)).await;
    assert_eq!(page.attrs("table.inbox tbody tr", "data-serial"), rest);
    assert_eq!(page.count("#inbox-older"), 0, "the last page");
    assert_eq!(
        page.attr("#inbox-newest", "href").as_deref(),
        Some("/inbox")
    );

    // A cursor that is not a number shows the first page.
    let page = get(&approver, &app.url("/inbox?before=soon")).await;
    assert_eq!(page.count("table.inbox tbody tr"), 25);
}

#[actix_web::test]
async fn a_deactivated_persons_pending_assignments_move_to_their_manager() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let boss = app.create_user("boss", false);
    let id = any_node_ticket(&app).await;
    let leaver: UserId = app.query(|c| {
        users::table
            .filter(users::username.eq("approver3"))
            .select(users::id)
            .first(c)
    });
    app.db
        .write_sync(|c| {
            use countersign::store::users::{UserInput, update};
            let input = UserInput {
                display_name: countersign::domain::Name::parse("Leaver").unwrap(),
                email: countersign::domain::Email::parse("leaver@example.com").unwrap(),
                manager_id: Some(boss),
                language: None,
            };
            update(c, leaver, &input, leaver)
        })
        .unwrap();
    let admin = browser_for(&app, "admin").await;

    let page = post_as(
        &app,
        &admin,
        &format!("/admin/users/{leaver}/deactivate"),
        &[],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("The person was deactivated."));

    let boss_browser = browser_for(&app, "boss").await;
    assert_eq!(
        get(&boss_browser, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        1
    );
    let left: Vec<String> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::user_id.eq(leaver))
            .select(approve_users::status)
            .load(c)
    });
    assert_eq!(
        left,
        vec!["transferred"],
        "kept as handed over, nothing open"
    );
    let timeline = get(&admin, &app.url(&format!("/tickets/{id}")))
        .await
        .texts("#timeline li");
    assert!(
        timeline.iter().any(|l| l.contains(
            "admin Person deactivated Leaver; their part of Approve moved to their manager, boss Person"
        )),
        "{timeline:?}"
    );
}

#[actix_web::test]
async fn after_a_delegation_ends_the_stand_in_can_no_longer_act() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    app.create_user("standin", false);
    let id = any_node_ticket(&app).await;
    let (from, to): (UserId, UserId) = app.query(|c| {
        let a = users::table
            .filter(users::username.eq("approver1"))
            .select(users::id)
            .first(c)?;
        let b = users::table
            .filter(users::username.eq("standin"))
            .select(users::id)
            .first(c)?;
        Ok((a, b))
    });
    let now = countersign::store::now();
    let past = countersign::store::delegations::DelegationInput {
        from,
        to,
        starts_at: now - chrono::Duration::days(3),
        ends_at: now - chrono::Duration::days(1),
        kind: None,
        note: String::new(),
    };
    app.db
        .write_sync(|c| countersign::store::delegations::create(c, &past, from))
        .unwrap();
    let standin = browser_for(&app, "standin").await;
    let inbox = get(&standin, &app.url("/inbox")).await;
    assert_eq!(inbox.count("table.inbox tbody tr"), 0);
    assert_eq!(inbox.count("#inbox-count"), 0, "nothing waits for them");
    assert_eq!(
        get(&standin, &app.url(&format!("/tickets/{id}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A current window makes the same assignment theirs to decide, "for" the owner.
    let current = countersign::store::delegations::DelegationInput {
        starts_at: now - chrono::Duration::hours(1),
        ends_at: now + chrono::Duration::days(1),
        ..past
    };
    app.db
        .write_sync(|c| countersign::store::delegations::create(c, &current, from))
        .unwrap();
    let inbox = get(&standin, &app.url("/inbox")).await;
    assert_eq!(
        inbox.text("table.inbox .badge.for").as_deref(),
        Some("for approver1 Person")
    );
    assert_eq!(
        inbox.text("#inbox-count").as_deref(),
        Some("1"),
        "the menu counts what they stand in for"
    );
    let page = approve_first(&app, &standin, id).await;
    assert_eq!(page.flash().as_deref(), Some("Approved."));
    let decided: ApproveUser = app.query(move |c| {
        approve_users::table
            .filter(approve_users::decision.eq("approve"))
            .select(ApproveUser::as_select())
            .first(c)
    });
    assert_eq!((decided.user_id, decided.acted_by), (from, Some(to)));
}

#[actix_web::test]
async fn handled_by_me_lists_my_decisions_and_those_i_took_for_others() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    let first = any_node_ticket(&app).await;
    any_node_ticket(&app).await;
    let approver = browser_for(&app, "approver1").await;
    approve_first(&app, &approver, first).await;

    let page = get(&approver, &app.url("/handled")).await;

    assert_eq!(
        page.attrs("table.handled tbody tr", "data-serial"),
        vec![ticket(&app, first).serial]
    );
    assert_eq!(
        page.text("table.handled tbody td:nth-child(3)").as_deref(),
        Some("Approved")
    );
}

#[actix_web::test]
async fn tickets_filed_at_the_same_moment_get_distinct_serial_numbers() {
    let app = TestApp::spawn().await;
    people_for_any_node(&app).await;
    any_node_ticket(&app).await;
    let service: i32 = app
        .query(|c| {
            services::table
                .select(services::id)
                .first::<countersign::db::ids::ServiceId>(c)
        })
        .0;
    let applicant = browser_for(&app, "applicant").await;
    let path = format!("/services/{service}");

    let filings = (0..8).map(|_| {
        post_as(
            &app,
            &applicant,
            &path,
            &[("intent", "submit"), ("what", "Chair")],
        )
    });
    futures_util::future::join_all(filings).await;

    let mut serials: Vec<String> = app.query(|c| applies::table.select(applies::serial).load(c));
    assert_eq!(serials.len(), 9);
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 9, "every serial is unique");
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    let expected: Vec<String> = (1..=9).map(|n| format!("REQ-{today}-{n:04}")).collect();
    assert_eq!(
        serials, expected,
        "numbered one after another, none skipped"
    );
    // Each filing's event names its ticket's number (on PostgreSQL taken
    // just before the commit, after the event was recorded).
    let named: Vec<(String, String)> = app.query(|c| {
        audit_events::table
            .inner_join(applies::table.on(applies::id.nullable().eq(audit_events::apply_id)))
            .filter(audit_events::action.eq("ticket.submitted"))
            .select((applies::serial, audit_events::detail))
            .load(c)
    });
    assert_eq!(named.len(), 9);
    for (serial, detail) in named {
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(detail["serial"], serial.as_str());
    }
}
