//! Copying a ticket (抄送): a step's and the process's rules copy people
//! when the step or the ticket ends; the applicant or one of the
//! ticket's people copies someone by hand with a note. The copied read
//! the ticket, find it unread under "Copied to me", and decide nothing.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{audit_events, copies, outbox};
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{get_json, post_json, token_for};
use crate::approval_rules::{approval, deploy, file, people};
use crate::helpers::*;

/// Who ticket `id` is copied to: (username, read), in the order first told.
fn copied(app: &TestApp, id: i32) -> Vec<(String, bool)> {
    use countersign::db::schema::users;
    app.query(move |c| {
        copies::table
            .inner_join(users::table.on(users::id.eq(copies::user_id)))
            .filter(copies::apply_id.eq(ApplyId(id)))
            .order(copies::id)
            .select((users::username, copies::read_at.is_not_null()))
            .load(c)
    })
}

/// The notices of `kind` written for ticket `id`, by recipient username.
fn notices(app: &TestApp, id: i32, kind: &'static str) -> Vec<String> {
    use countersign::db::schema::users;
    let mut to: Vec<String> = app.query(move |c| {
        outbox::table
            .inner_join(users::table.on(users::id.nullable().eq(outbox::to_user_id)))
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::kind.eq(kind))
            .select(users::username)
            .load(c)
    });
    to.sort();
    to
}

/// The events `action` on ticket `id`: their detail, parsed.
fn events(app: &TestApp, id: i32, action: &'static str) -> Vec<serde_json::Value> {
    let details: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq(action))
            .order(audit_events::id)
            .select(audit_events::detail)
            .load(c)
    });
    details
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[actix_web::test]
async fn a_step_and_the_process_copy_their_people_who_read_the_ticket_unread_first_and_decide_nothing()
 {
    let app = TestApp::spawn().await;
    people(
        &app,
        &[
            "approver", "payer", "auditor", "finance", "finance2", "stranger",
        ],
    );
    let boss = app.create_user("boss", false);
    let applicant = app.user_id("applicant");
    app.query(move |c| {
        diesel::update(countersign::db::schema::users::table.find(applicant))
            .set(countersign::db::schema::users::manager_id.eq(Some(boss)))
            .execute(c)
    });
    let mut check = approval("check", Mode::Any, &["approver"]);
    check.cc = vec![
        HandlerRule::Users {
            usernames: vec!["auditor".into(), "applicant".into()],
        },
        HandlerRule::ApplicantManager,
    ];
    let service = {
        let mut def = ProcessDef::new(LocalText::new("Purchase", "采购"), ProcessKind::Request);
        def.nodes[0].fields.push(FieldDef {
            required: true,
            ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
        });
        def.nodes.push(check);
        def.nodes.push(approval("pay", Mode::Any, &["payer"]));
        def.cc = vec![HandlerRule::Users {
            usernames: vec!["finance".into(), "finance2".into()],
        }];
        app.deploy_service(&def, "Purchase").0
    };
    // finance2 leaves before the ticket ends: nobody inactive is copied.
    let finance2 = app.user_id("finance2");
    app.query(move |c| {
        diesel::update(countersign::db::schema::users::table.find(finance2))
            .set(countersign::db::schema::users::active.eq(false))
            .execute(c)
    });
    let id = file(&app, service, &[("what", "A laptop")]).await;
    assert!(
        copied(&app, id).is_empty(),
        "nobody is copied before a step ends"
    );

    let approver = browser_for(&app, "approver").await;
    act_first(&app, &approver, id, &[("intent", "approve")]).await;
    // The step's rules: the applicant is never copied on their own ticket.
    assert_eq!(
        copied(&app, id),
        vec![("auditor".to_string(), false), ("boss".to_string(), false)]
    );
    assert_eq!(notices(&app, id, "copied"), vec!["auditor", "boss"]);
    let event = &events(&app, id, "ticket.copied")[0];
    assert_eq!(event["to"], "auditor, boss");
    assert_eq!(event["node"], "check");

    // The copied person reads the ticket, offered no decision.
    let auditor = browser_for(&app, "auditor").await;
    let list = get(&auditor, &app.url("/copied")).await;
    assert_eq!(list.count("#copies tr.unread"), 1);
    assert!(list.text("#copies-unread").unwrap().contains('1'));
    let page = get(&auditor, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.count("section.action form"), 0, "they decide nothing");
    assert!(
        page.texts("ol.timeline li")
            .iter()
            .any(|l| l.contains("copied the ticket to auditor, boss")),
        "{:?}",
        page.texts("ol.timeline li")
    );
    assert_eq!(
        copied(&app, id),
        vec![("auditor".to_string(), true), ("boss".to_string(), false)],
        "opening the ticket marks it read for them alone"
    );
    let list = get(&auditor, &app.url("/copied")).await;
    assert_eq!(list.count("#copies tr.unread"), 0);
    assert_eq!(list.count("#copies tr.read"), 1);
    assert!(list.text("#copies-unread").is_none());
    // Someone it was not copied to still cannot see it.
    let stranger = browser_for(&app, "stranger").await;
    let page = get(&stranger, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    // The ticket ends: the process's rules copy whom they find active.
    let payer = browser_for(&app, "payer").await;
    act_first(&app, &payer, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    let now: Vec<String> = copied(&app, id).into_iter().map(|(u, _)| u).collect();
    assert_eq!(now, vec!["auditor", "boss", "finance"]);
    assert_eq!(
        notices(&app, id, "copied"),
        vec!["auditor", "boss", "finance"]
    );
    let event = &events(&app, id, "ticket.copied")[1];
    assert_eq!(event["to"], "finance");
    assert!(event.get("node").is_none());
}

#[actix_web::test]
async fn the_applicant_copies_someone_by_hand_with_a_note_and_a_wrong_name_comes_back_beside_the_field()
 {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague", "gone"]);
    let gone = app.user_id("gone");
    app.query(move |c| {
        diesel::update(countersign::db::schema::users::table.find(gone))
            .set(countersign::db::schema::users::active.eq(false))
            .execute(c)
    });
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let applicant = browser_for(&app, "applicant").await;
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.attr("#copy-form", "action").as_deref(),
        Some(format!("/tickets/{id}/copy").as_str())
    );

    // A deactivated person, then nobody, then the applicant themself:
    // each said beside the field, with what was typed kept.
    let copy = format!("/tickets/{id}/copy");
    let page = post_as(
        &app,
        &applicant,
        &copy,
        &[("to", "colleague, gone"), ("note", "For the budget")],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#f-copy-to-error").unwrap().contains("“gone”"),
        "{:?}",
        page.text("#f-copy-to-error")
    );
    assert_eq!(
        page.input_value("#copy-form", "to").as_deref(),
        Some("colleague, gone")
    );
    assert_eq!(page.text("#f-copy-note").as_deref(), Some("For the budget"));
    assert!(page.attr("#copy-details", "open").is_some());
    let page = post_as(&app, &applicant, &copy, &[("to", " "), ("note", "")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text("#f-copy-to-error").is_some());
    let page = post_as(
        &app,
        &applicant,
        &copy,
        &[("to", "applicant"), ("note", "")],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(copied(&app, id).is_empty(), "a refused copy copies nobody");

    let page = post_as(
        &app,
        &applicant,
        &copy,
        &[("to", "colleague"), ("note", "For the budget")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.flash().unwrap().contains("Copied"));
    assert_eq!(copied(&app, id), vec![("colleague".to_string(), false)]);
    assert_eq!(notices(&app, id, "copied"), vec!["colleague"]);
    let event = &events(&app, id, "ticket.copied")[0];
    assert_eq!(event["comment"], "For the budget");
    let colleague = browser_for(&app, "colleague").await;
    let list = get(&colleague, &app.url("/copied")).await;
    assert!(
        list.text("#copies q.note")
            .unwrap()
            .contains("For the budget")
    );
    assert!(
        list.text("#copies")
            .unwrap()
            .contains("Copied by applicant")
    );
    // Copied, the colleague may read it, but not copy others on.
    let page = get(&colleague, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.attr("#copy-form", "action").is_none());
    let page = post_as(&app, &colleague, &copy, &[("to", "approver"), ("note", "")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#f-copy-to-error")
            .unwrap()
            .starts_with("Only the applicant")
    );
    assert_eq!(copied(&app, id).len(), 1, "only its people copy a ticket");

    // The approver, one of its people, may; copying again makes it
    // unread again, and the timeline keeps both times.
    let approver = browser_for(&app, "approver").await;
    get(&colleague, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(copied(&app, id), vec![("colleague".to_string(), true)]);
    let page = post_as(
        &app,
        &approver,
        &copy,
        &[("to", "colleague"), ("note", "Look again")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(copied(&app, id), vec![("colleague".to_string(), false)]);
    assert_eq!(events(&app, id, "ticket.copied").len(), 2);
}

#[actix_web::test]
async fn copying_through_the_api_points_at_whom_it_cannot_copy_and_the_ticket_lists_its_copies() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague", "outsider"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let path = format!("/api/v1/tickets/{id}/actions");
    let secret = token_for(&app, "applicant", Scope::Act);

    let (status, problem) = post_json(
        &app,
        &path,
        &secret,
        json!({ "action": "copy", "to": ["nobody_here"], "note": "fyi" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/to");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("nobody_here")
    );
    let outsider = token_for(&app, "outsider", Scope::Act);
    let (status, _) = post_json(
        &app,
        &path,
        &outsider,
        json!({ "action": "copy", "to": ["colleague"] }),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a ticket they may not see is not there"
    );

    let (status, done) = post_json(
        &app,
        &path,
        &secret,
        json!({ "action": "copy", "to": ["colleague"], "note": "fyi" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["done"], "copied");
    let reader = token_for(&app, "colleague", Scope::Read);
    let (status, ticket) = get_json(&app, &format!("/api/v1/tickets/{id}"), &reader, "en").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the copied read it through the API too"
    );
    assert_eq!(ticket["copies"][0]["person"]["username"], "colleague");
    assert_eq!(ticket["copies"][0]["read"], false);
    let channel: String = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq("ticket.copied"))
            .select(audit_events::channel)
            .first(c)
    });
    assert_eq!(channel, "api");
}

#[actix_web::test]
async fn the_designer_adds_whom_a_step_and_the_process_copy_and_refuses_to_copy_the_applicant() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let admin = browser_for(&app, "admin").await;
    let (id, _) = crate::designer::new_process(&app, "Copies", "抄送", "request", false).await;
    let revision = |page: &Page| page.input_value("#copy-rule-form", "revision").unwrap();
    let nodes = get(&admin, &app.url(&format!("/admin/processes/{id}/nodes"))).await;
    assert!(nodes.text("#no-copies").is_some());
    let page = post_as(
        &app,
        &admin,
        &format!("/admin/processes/{id}/cc"),
        &[
            ("rule", "users"),
            ("usernames", "nobody_at_all"),
            ("revision", &revision(&nodes)),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text("#cc-usernames-error").is_some());
    assert_eq!(
        page.input_value("#copy-rule-form", "usernames").as_deref(),
        Some("nobody_at_all")
    );
    let page = post_as(
        &app,
        &admin,
        &format!("/admin/processes/{id}/cc"),
        &[
            ("rule", "applicant_manager"),
            ("revision", &revision(&page)),
        ],
    )
    .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/nodes"));
    assert_eq!(page.texts("#copy-rules li").len(), 1);
    let def = crate::designer::draft(&app, id);
    assert_eq!(def.cc, vec![HandlerRule::ApplicantManager]);
    // The applicant is not offered, and refused when asked for.
    assert!(
        page.attrs("#f-cc-rule option", "value")
            .iter()
            .all(|v| v != "applicant")
    );
    let page = post_as(
        &app,
        &admin,
        &format!("/admin/processes/{id}/cc"),
        &[("rule", "applicant"), ("revision", &revision(&page))],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A step's own list.
    let page = post_as(
        &app,
        &admin,
        &format!("/admin/processes/{id}/nodes"),
        &[
            ("key", "check"),
            ("name_en", "Check"),
            ("name_zh", "检查"),
            ("kind", "approval"),
            ("revision", &revision(&page)),
        ],
    )
    .await;
    let node = format!("/admin/processes/{id}/nodes/check");
    assert_eq!(page.path, node);
    let page = post_as(
        &app,
        &admin,
        &format!("{node}/cc"),
        &[
            ("rule", "role"),
            ("role", "qc"),
            ("revision", &revision(&page)),
        ],
    )
    .await;
    assert_eq!(page.path, node);
    let def = crate::designer::draft(&app, id);
    assert_eq!(
        def.node("check").unwrap().cc,
        vec![HandlerRule::Role {
            role: "qc".into(),
            in_business: false
        }]
    );
    let page = post_as(
        &app,
        &admin,
        &format!("{node}/cc/0/remove"),
        &[("revision", &revision(&page))],
    )
    .await;
    assert_eq!(page.path, node);
    assert!(
        crate::designer::draft(&app, id)
            .node("check")
            .unwrap()
            .cc
            .is_empty()
    );
}

#[test]
fn validation_names_a_copy_of_the_applicant_and_a_copy_rule_it_cannot_resolve() {
    use countersign::flow::validate::{Known, validate};
    let mut def = ProcessDef::new(LocalText::new("Copies", "抄送"), ProcessKind::Request);
    let mut node = NodeDef::new("check", LocalText::new("Check", "检查"), NodeKind::Approval);
    node.handlers = vec![HandlerRule::ApplicantManager];
    node.cc = vec![HandlerRule::Role {
        role: "nope".into(),
        in_business: false,
    }];
    def.nodes.push(node);
    def.cc = vec![
        HandlerRule::Applicant,
        HandlerRule::MemberField {
            field: "missing".into(),
        },
    ];
    let roles = vec!["qc".to_string()];
    let known = Known {
        roles: &roles,
        businesses: &[],
    };
    let keys: Vec<&str> = validate(&def, &known).iter().map(|p| p.key).collect();
    assert!(keys.contains(&"design.problem.unknown_role"), "{keys:?}");
    assert!(keys.contains(&"design.problem.copy_applicant"), "{keys:?}");
    assert!(keys.contains(&"design.problem.unknown_field"), "{keys:?}");
}
