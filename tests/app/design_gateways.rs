//! The process designer edits gateways: parallel and exclusive branches
//! added on the steps page, named, grown, shrunk and removed on their own
//! page, steps put into a branch from their page ("Runs in"), and an
//! exclusive gateway's branch conditions.

use countersign::flow::*;
use reqwest::StatusCode;

use crate::designer::{add_field, add_node, new_process, revision, wizard_post};
use crate::helpers::*;

const STALE: &str = "Someone else changed this draft meanwhile; your change was not saved. This is the draft as it is now.";

/// The draft as the export endpoint hands it out.
async fn exported(app: &TestApp, id: i32) -> ProcessDef {
    let res = app
        .client
        .get(app.url(&format!("/admin/processes/{id}/export")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    serde_json::from_str(&res.text().await.unwrap()).expect("the export is a process")
}

fn keys(def: &ProcessDef) -> Vec<&str> {
    def.nodes.iter().map(|n| n.key.as_str()).collect()
}

fn place(def: &ProcessDef, key: &str) -> Option<(String, usize)> {
    def.node(key)
        .unwrap()
        .branch
        .as_ref()
        .map(|b| (b.gateway.clone(), b.branch))
}

/// Adds a gateway from the steps page.
async fn add_gateway(app: &TestApp, id: i32, fields: &[(&str, &str)]) -> Page {
    let path = format!("/admin/processes/{id}/nodes");
    wizard_post(
        app,
        &path,
        "#add-gateway-form",
        &format!("/admin/processes/{id}/gateways"),
        fields,
    )
    .await
}

/// Chooses where a step runs on its page: "" the main line,
/// "<gateway>:<branch>" a branch.
async fn runs_in(app: &TestApp, id: i32, node: &str, branch: &str) -> Page {
    let path = format!("/admin/processes/{id}/nodes/{node}");
    wizard_post(
        app,
        &path,
        "#branch-form",
        &format!("{path}/branch"),
        &[("branch", branch)],
    )
    .await
}

/// Posts a form of the gateway page (`form` names it, to read its revision).
async fn gateway_post(
    app: &TestApp,
    id: i32,
    gateway: &str,
    form: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Page {
    let path = format!("/admin/processes/{id}/gateways/{gateway}");
    wizard_post(app, &path, form, &format!("{path}{action}"), fields).await
}

/// An admin signed in with a new draft: its id.
async fn draft_with_admin(app: &TestApp, name: &str) -> i32 {
    app.create_user("admin", true);
    app.sign_in("admin").await;
    new_process(app, name, "", "change", false).await.0
}

#[actix_web::test]
async fn a_parallel_gateway_gathers_the_steps_put_in_its_branches_and_the_export_shows_them() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Reviewed change").await;
    for (key, name) in [
        ("security", "Security review"),
        ("lead", "Lead approval"),
        ("implement", "Implement"),
        ("dba", "DBA review"),
    ] {
        add_node(&app, id, key, name, "", "approval").await;
    }

    let page = add_gateway(
        &app,
        id,
        &[
            ("key", "reviews"),
            ("name_en", "Reviews"),
            ("name_zh", "评审"),
            ("kind", "parallel"),
            ("branch1_en", "Security"),
            ("branch1_zh", "安全"),
            ("branch2_en", "Database"),
        ],
    )
    .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/gateways/reviews"));
    assert_eq!(
        page.flash().as_deref(),
        Some("Gateway added. Put steps in its branches from each step's page.")
    );
    assert_eq!(
        page.text("h2.gateway-title .gateway-kind").as_deref(),
        Some("parallel")
    );
    assert_eq!(page.count("#branches .branch"), 2);
    // A parallel gateway's branches take no condition.
    assert_eq!(page.count("#condition-form"), 0);

    let page = runs_in(&app, id, "security", "reviews:0").await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    assert_eq!(
        page.selected("#branch-form", "branch").as_deref(),
        Some("reviews:0")
    );
    runs_in(&app, id, "dba", "reviews:1").await;

    // The steps page: the gateway's steps stand together, each with a badge.
    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        steps.attrs("table.nodes tbody tr", "data-key"),
        ["submit", "security", "dba", "lead", "implement"]
    );
    assert_eq!(
        steps.text("tr[data-key=security] .badge.branch").as_deref(),
        Some("Reviews: Security")
    );
    assert_eq!(
        steps.text("tr[data-key=dba] .badge.branch").as_deref(),
        Some("Reviews: Database")
    );
    assert_eq!(steps.count("tr[data-key=lead] .badge.branch"), 0);
    assert_eq!(
        steps
            .text("#gateways li[data-key=reviews] .gateway-kind")
            .as_deref(),
        Some("parallel")
    );
    assert_eq!(
        steps.texts("#gateways li[data-key=reviews] .branches li"),
        ["Security", "Database"]
    );
    assert!(
        !steps
            .texts("#draft-problems li")
            .iter()
            .any(|p| p.contains("gateway")),
        "{:?}",
        steps.texts("#draft-problems li")
    );

    // The gateway page names each branch's steps.
    let page = app
        .get(&format!("/admin/processes/{id}/gateways/reviews"))
        .await;
    assert_eq!(page.texts("#branch-1 .branch-steps a"), ["Security review"]);
    assert_eq!(page.texts("#branch-2 .branch-steps a"), ["DBA review"]);

    let def = exported(&app, id).await;
    assert_eq!(
        keys(&def),
        ["submit", "security", "dba", "lead", "implement"]
    );
    assert_eq!(place(&def, "security"), Some(("reviews".into(), 0)));
    assert_eq!(place(&def, "dba"), Some(("reviews".into(), 1)));
    assert_eq!(place(&def, "lead"), None);
    assert_eq!(
        def.gateways,
        vec![GatewayDef {
            key: "reviews".into(),
            name: LocalText::new("Reviews", "评审"),
            kind: GatewayKind::Parallel,
            branches: vec![
                BranchDef {
                    name: LocalText::new("Security", "安全"),
                    condition: None,
                },
                BranchDef {
                    name: LocalText::new("Database", ""),
                    condition: None,
                },
            ],
        }]
    );

    // In Chinese, the names and words are Chinese.
    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;
    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        steps.text("tr[data-key=security] .badge.branch").as_deref(),
        Some("评审：安全")
    );
    assert_eq!(
        steps.text("tr[data-key=dba] .badge.branch").as_deref(),
        Some("评审：Database")
    );
    let page = app
        .get(&format!("/admin/processes/{id}/gateways/reviews"))
        .await;
    assert_eq!(
        page.text("#gateway-help").as_deref(),
        Some("所有分支同时进行，全部完成后流程继续。并行网关的分支不设条件。")
    );
}

#[actix_web::test]
async fn a_step_moved_next_to_a_gateway_steps_past_all_of_its_steps() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Moves").await;
    for key in ["lead", "security", "dba", "implement"] {
        add_node(&app, id, key, key, "", "approval").await;
    }
    add_gateway(
        &app,
        id,
        &[
            ("key", "reviews"),
            ("name_en", "Reviews"),
            ("kind", "parallel"),
        ],
    )
    .await;
    runs_in(&app, id, "security", "reviews:0").await;
    runs_in(&app, id, "dba", "reviews:1").await;
    let move_node = |key: &'static str, direction: &'static str| {
        let app = &app;
        async move {
            wizard_post(
                app,
                &format!("/admin/processes/{id}/nodes"),
                "#add-node-form",
                &format!("/admin/processes/{id}/nodes/{key}/move"),
                &[("direction", direction)],
            )
            .await
        }
    };

    move_node("implement", "up").await;
    assert_eq!(
        keys(&exported(&app, id).await),
        ["submit", "lead", "implement", "security", "dba"]
    );
    move_node("lead", "down").await;
    assert_eq!(
        keys(&exported(&app, id).await),
        ["submit", "implement", "lead", "security", "dba"]
    );
    move_node("lead", "down").await;
    assert_eq!(
        keys(&exported(&app, id).await),
        ["submit", "implement", "security", "dba", "lead"]
    );
    // Up a branch boundary a step stays in its branch: "Runs in" moves it.
    move_node("dba", "up").await;
    let def = exported(&app, id).await;
    assert_eq!(
        keys(&def),
        ["submit", "implement", "security", "dba", "lead"]
    );
    assert_eq!(place(&def, "dba"), Some(("reviews".into(), 1)));
}

#[actix_web::test]
async fn an_exclusive_gateways_branch_condition_is_saved_and_a_bad_one_is_refused_beside_its_field_with_the_input_kept()
 {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Purchase").await;
    add_field(&app, id, "submit", "budget", "Budget", "预算", "number").await;
    add_node(&app, id, "lead", "Lead approval", "", "approval").await;
    add_node(&app, id, "cfo", "CFO approval", "", "approval").await;

    // Left empty, the branches are named for their places, in both languages.
    let page = add_gateway(
        &app,
        id,
        &[
            ("key", "size"),
            ("name_en", "By size"),
            ("kind", "exclusive"),
        ],
    )
    .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/gateways/size"));
    assert_eq!(
        page.texts("#branches .branch h3"),
        ["Branch 1", "Branch 2 default"]
    );
    // The last branch is the default: the page says so, and offers it no
    // condition; the first branch's condition form is there.
    assert_eq!(
        page.text("#branch-2 .default-help").as_deref(),
        Some(
            "This last branch is the default: it is taken when no earlier branch's condition holds, so it has no condition."
        )
    );
    assert_eq!(page.count("#branch-2 #condition-form"), 0);
    assert_eq!(page.count("#branch-1 #condition-form"), 1);
    assert_eq!(
        page.attrs("#condition-form select[name=field] option", "value"),
        ["budget"]
    );
    runs_in(&app, id, "lead", "size:0").await;
    runs_in(&app, id, "cfo", "size:1").await;

    // A range without its end is refused beside it, the rest kept.
    let refused = gateway_post(
        &app,
        id,
        "size",
        "#condition-form",
        "/branches/0/conditions",
        &[
            ("test", "between"),
            ("field", "budget"),
            ("low", "100"),
            ("high", ""),
            ("join", "all"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.text("#branch-1 #high-error").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        refused.input_value("#condition-form", "low").as_deref(),
        Some("100")
    );
    assert_eq!(
        refused.selected("#condition-form", "test").as_deref(),
        Some("between")
    );
    // A field not filled before the gateway is refused beside the field.
    let refused = gateway_post(
        &app,
        id,
        "size",
        "#condition-form",
        "/branches/0/conditions",
        &[
            ("test", "field_not_empty"),
            ("field", "nowhere"),
            ("join", "all"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.field_error("field").as_deref(),
        Some("Choose one of the listed options.")
    );
    // The default takes none, whatever is posted.
    let refused = gateway_post(
        &app,
        id,
        "size",
        "#condition-form",
        "/branches/1/conditions",
        &[
            ("test", "compare"),
            ("field", "budget"),
            ("op", "ge"),
            ("value", "1000"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.form_error().as_deref(),
        Some("The last branch is the default; it takes no condition.")
    );
    assert!(
        exported(&app, id)
            .await
            .gateway("size")
            .unwrap()
            .branches
            .iter()
            .all(|b| b.condition.is_none()),
        "refused conditions save nothing"
    );

    let page = gateway_post(
        &app,
        id,
        "size",
        "#condition-form",
        "/branches/0/conditions",
        &[
            ("test", "compare"),
            ("field", "budget"),
            ("op", "lt"),
            ("value", "1000"),
            ("join", "all"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Condition added."));
    assert_eq!(
        page.texts("#branch-1 .predicates li")
            .iter()
            .map(|t| t.trim_end_matches("Remove").trim().to_string())
            .collect::<Vec<_>>(),
        ["budget is less than 1000"]
    );

    let def = exported(&app, id).await;
    let size = def.gateway("size").unwrap();
    assert_eq!(size.kind, GatewayKind::Exclusive);
    assert_eq!(size.branches[0].name, LocalText::new("Branch 1", "分支 1"));
    assert_eq!(
        size.branches[0].condition,
        Some(Condition::all_of(vec![Predicate::Compare {
            field: "budget".into(),
            op: Comparison::Lt,
            value: "1000".into(),
        }]))
    );
    assert_eq!(size.branches[1].condition, None);
    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert!(
        !steps
            .texts("#draft-problems li")
            .iter()
            .any(|p| p.contains("gateway")),
        "{:?}",
        steps.texts("#draft-problems li")
    );

    // Removing the predicate leaves the branch without a condition.
    let page = app
        .get(&format!("/admin/processes/{id}/gateways/size"))
        .await;
    let rev = revision(&page, "#condition-form");
    app.post(
        &format!("/admin/processes/{id}/gateways/size/branches/0/conditions/0/remove"),
        &[("revision", rev.as_str())],
    )
    .await;
    assert_eq!(
        exported(&app, id).await.gateway("size").unwrap().branches[0].condition,
        None
    );
}

#[actix_web::test]
async fn a_new_branch_of_an_exclusive_gateway_goes_before_its_default_and_branches_are_renamed() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Routing").await;
    add_node(&app, id, "small", "Small", "", "approval").await;
    add_node(&app, id, "other", "Other", "", "approval").await;
    add_gateway(
        &app,
        id,
        &[
            ("key", "route"),
            ("name_en", "Route"),
            ("kind", "exclusive"),
            ("branch1_en", "Small"),
            ("branch2_en", "Otherwise"),
        ],
    )
    .await;
    runs_in(&app, id, "small", "route:0").await;
    runs_in(&app, id, "other", "route:1").await;

    let page = gateway_post(
        &app,
        id,
        "route",
        "#add-branch-form",
        "/branches",
        &[("name_en", "Large"), ("name_zh", "大")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Branch added."));
    assert_eq!(
        page.texts("#branches .branch h3"),
        [
            "Branch 1: Small",
            "Branch 2: Large",
            "Branch 3: Otherwise default"
        ]
    );
    let def = exported(&app, id).await;
    assert_eq!(place(&def, "other"), Some(("route".into(), 2)));

    // A branch renamed; a name left empty is refused beside it, kept.
    let refused = gateway_post(
        &app,
        id,
        "route",
        "#branch-2-form",
        "/branches/1",
        &[("name_en", ""), ("name_zh", "大额")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.field_error("b2-name_en").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        refused.input_value("#branch-2-form", "name_zh").as_deref(),
        Some("大额")
    );
    gateway_post(
        &app,
        id,
        "route",
        "#branch-2-form",
        "/branches/1",
        &[("name_en", "Large amount"), ("name_zh", "大额")],
    )
    .await;
    let page = gateway_post(
        &app,
        id,
        "route",
        "#gateway-form",
        "",
        &[("name_en", "Route by amount"), ("name_zh", "按金额")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    let def = exported(&app, id).await;
    let route = def.gateway("route").unwrap();
    assert_eq!(route.name, LocalText::new("Route by amount", "按金额"));
    assert_eq!(
        route.branches[1].name,
        LocalText::new("Large amount", "大额")
    );
}

#[actix_web::test]
async fn a_stale_revision_is_refused_on_the_gateway_forms_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Stale").await;
    add_node(&app, id, "lead", "Lead", "", "approval").await;
    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    let stale = revision(&steps, "#add-gateway-form");
    add_node(&app, id, "ops", "Ops", "", "approval").await;

    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways"),
            &[
                ("revision", stale.as_str()),
                ("key", "reviews"),
                ("name_en", "Reviews"),
                ("kind", "parallel"),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some(STALE));
    assert_eq!(page.path, format!("/admin/processes/{id}/nodes"));
    assert!(exported(&app, id).await.gateways.is_empty());

    add_gateway(
        &app,
        id,
        &[
            ("key", "reviews"),
            ("name_en", "Reviews"),
            ("kind", "parallel"),
        ],
    )
    .await;
    let node = app.get(&format!("/admin/processes/{id}/nodes/lead")).await;
    let stale = revision(&node, "#branch-form");
    let gateway = app
        .get(&format!("/admin/processes/{id}/gateways/reviews"))
        .await;
    assert_eq!(stale, revision(&gateway, "#gateway-form"));
    add_node(&app, id, "later", "Later", "", "approval").await;

    let page = app
        .post(
            &format!("/admin/processes/{id}/nodes/lead/branch"),
            &[("revision", stale.as_str()), ("branch", "reviews:0")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some(STALE));
    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways/reviews"),
            &[("revision", stale.as_str()), ("name_en", "Renamed")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some(STALE));
    assert_eq!(
        page.input_value("#gateway-form", "name_en").as_deref(),
        Some("Reviews"),
        "the page shows the draft as it is"
    );
    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways/reviews/remove"),
            &[("revision", stale.as_str())],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some(STALE));

    let def = exported(&app, id).await;
    assert_eq!(place(&def, "lead"), None);
    assert_eq!(def.gateway("reviews").unwrap().name.en, "Reviews");
}

#[actix_web::test]
async fn removing_a_branch_or_the_gateway_sends_its_steps_back_to_the_main_line() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Three ways").await;
    for key in ["a", "b", "c", "after"] {
        add_node(
            &app,
            id,
            &format!("{key}_step"),
            &format!("Step {key}"),
            "",
            "approval",
        )
        .await;
    }
    add_gateway(
        &app,
        id,
        &[("key", "split"), ("name_en", "Split"), ("kind", "parallel")],
    )
    .await;
    gateway_post(
        &app,
        id,
        "split",
        "#add-branch-form",
        "/branches",
        &[("name_en", "Third")],
    )
    .await;
    runs_in(&app, id, "a_step", "split:0").await;
    runs_in(&app, id, "b_step", "split:1").await;
    runs_in(&app, id, "c_step", "split:2").await;

    // The middle branch goes: its step to the main line, after the
    // gateway; the last branch's step follows its branch, now the second.
    let page = app
        .get(&format!("/admin/processes/{id}/gateways/split"))
        .await;
    let rev = revision(&page, "#gateway-form");
    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways/split/branches/1/remove"),
            &[("revision", rev.as_str())],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Branch removed; its steps are back on the main line.")
    );
    assert_eq!(page.count("#branches .branch"), 2);
    let def = exported(&app, id).await;
    assert_eq!(
        keys(&def),
        ["submit", "a_step", "c_step", "b_step", "after_step"]
    );
    assert_eq!(place(&def, "b_step"), None);
    assert_eq!(place(&def, "c_step"), Some(("split".into(), 1)));
    assert_eq!(def.gateway("split").unwrap().branches[1].name.en, "Third");

    // Two branches are the fewest: removing another is refused.
    let rev = revision(&page, "#gateway-form");
    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways/split/branches/0/remove"),
            &[("revision", rev.as_str())],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("A gateway has at least two branches; to have fewer, remove the gateway.")
    );
    assert_eq!(
        exported(&app, id)
            .await
            .gateway("split")
            .unwrap()
            .branches
            .len(),
        2
    );

    let rev = revision(&page, "#gateway-form");
    let page = app
        .post(
            &format!("/admin/processes/{id}/gateways/split/remove"),
            &[("revision", rev.as_str())],
        )
        .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/nodes"));
    assert_eq!(
        page.flash().as_deref(),
        Some("Gateway removed; its steps are back on the main line.")
    );
    assert_eq!(page.count("table.nodes .badge.branch"), 0);
    assert!(page.text("#no-gateways").is_some());
    let def = exported(&app, id).await;
    assert!(def.gateways.is_empty());
    assert_eq!(
        keys(&def),
        ["submit", "a_step", "c_step", "b_step", "after_step"]
    );
    assert!(def.nodes.iter().all(|n| n.branch.is_none()));
    let gone = app
        .get(&format!("/admin/processes/{id}/gateways/split"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_bad_gateway_key_or_place_is_refused_beside_its_field_with_the_input_kept() {
    let app = TestApp::spawn().await;
    let id = draft_with_admin(&app, "Keys").await;
    add_node(&app, id, "lead", "Lead", "", "approval").await;

    let page = add_gateway(
        &app,
        id,
        &[
            ("key", "Bad Key"),
            ("name_en", "Reviews"),
            ("kind", "parallel"),
            ("branch1_en", "Left"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("gw-key").as_deref(),
        Some("Use 2–32 lowercase letters, digits or underscores, starting with a letter.")
    );
    assert_eq!(
        page.attr("#f-gw-key", "aria-describedby").as_deref(),
        Some("gw-key-error")
    );
    assert_eq!(
        page.input_value("#add-gateway-form", "key").as_deref(),
        Some("Bad Key")
    );
    assert_eq!(
        page.input_value("#add-gateway-form", "name_en").as_deref(),
        Some("Reviews")
    );
    assert_eq!(
        page.input_value("#add-gateway-form", "branch1_en")
            .as_deref(),
        Some("Left")
    );
    // The add-node form beside it is untouched.
    assert_eq!(page.field_error("key"), None);

    // A key a step or another gateway has is taken.
    let page = add_gateway(
        &app,
        id,
        &[
            ("key", "lead"),
            ("name_en", "Reviews"),
            ("kind", "parallel"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("gw-key").as_deref(),
        Some("This code is already taken.")
    );
    add_gateway(
        &app,
        id,
        &[
            ("key", "reviews"),
            ("name_en", "Reviews"),
            ("kind", "parallel"),
        ],
    )
    .await;
    let page = add_gateway(
        &app,
        id,
        &[
            ("key", "reviews"),
            ("name_en", "Again"),
            ("kind", "exclusive"),
        ],
    )
    .await;
    assert_eq!(
        page.field_error("gw-key").as_deref(),
        Some("This code is already taken.")
    );
    let page = add_gateway(
        &app,
        id,
        &[("key", "other"), ("name_en", ""), ("kind", "sideways")],
    )
    .await;
    assert_eq!(
        page.field_error("gw-name_en").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("gw-kind").as_deref(),
        Some("Choose one of the listed options.")
    );
    // A step's key cannot be a gateway's either.
    let page = add_node(&app, id, "reviews", "Reviews", "", "approval").await;
    assert_eq!(
        page.field_error("key").as_deref(),
        Some("This code is already taken.")
    );

    // A branch that is not there is refused beside "Runs in".
    let page = runs_in(&app, id, "lead", "reviews:7").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("branch").as_deref(),
        Some("Choose one of the listed options.")
    );
    assert_eq!(
        page.attrs("#branch-form select[name=branch] option", "value"),
        ["", "reviews:0", "reviews:1"]
    );
    let page = runs_in(&app, id, "lead", "nowhere").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("branch").is_some());

    let def = exported(&app, id).await;
    assert_eq!(def.gateways.len(), 1);
    assert_eq!(keys(&def), ["submit", "lead"]);
    assert_eq!(place(&def, "lead"), None);
}
