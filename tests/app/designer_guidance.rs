//! A designer that guides: forms that show what the chosen rule takes,
//! options refused by the line, one action to enable and deploy, the way
//! from a version to a service and from a service to the catalog, a review
//! node's outcomes, questions before destructive actions, and counts that
//! read as words do.

use reqwest::StatusCode;

use crate::designer::{add_field, add_handler, add_node, draft, edit_field, new_process, versions};
use crate::helpers::*;

/// Whether the input `name` of `form` is shown (not in a hidden group).
fn shown(page: &Page, form: &str, name: &str) -> bool {
    page.count(&format!("{form} [name={name}]")) == 1
        && page.count(&format!("{form} [hidden] [name={name}]")) == 0
}

#[actix_web::test]
async fn the_handler_form_shows_what_the_chosen_rule_takes_and_works_without_a_script() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Simple", "", "request", false).await;
    add_node(&app, id, "approve", "Approve", "", "approval").await;
    let node = format!("/admin/processes/{id}/nodes/approve");

    // The role rule comes first: a role, nothing else.
    let page = app.get(&node).await;
    assert!(shown(&page, "#handler-form", "role"));
    for other in ["usernames", "levels", "field"] {
        assert!(!shown(&page, "#handler-form", other), "{other}");
    }
    assert_eq!(
        page.attr(
            "#handler-form .depends:has([name=usernames])",
            "data-values"
        )
        .as_deref(),
        Some("users")
    );
    // Without the script, picking a rule and asking for its inputs saves
    // nothing and shows the usernames box.
    let revision = page.attr("#handler-form [name=revision]", "value").unwrap();
    let page = app
        .post(
            &format!("{node}/handlers"),
            &[
                ("revision", &revision),
                ("rule", "users"),
                ("intent", "choose"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(shown(&page, "#handler-form", "usernames"));
    assert!(!shown(&page, "#handler-form", "role"));
    assert_eq!(
        page.selected("#handler-form", "rule").as_deref(),
        Some("users")
    );
    assert!(draft(&app, id).node("approve").unwrap().handlers.is_empty());
    // Then the rule is added as usual.
    let page = add_handler(
        &app,
        id,
        "approve",
        &[("rule", "users"), ("usernames", "ops.lead")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Rule added."));
    assert_eq!(draft(&app, id).node("approve").unwrap().handlers.len(), 1);
    // Named people as the picker writes them, or as someone types them.
    let page = add_handler(
        &app,
        id,
        "approve",
        &[
            ("rule", "users"),
            ("usernames", "admin Person (admin), ops.lead"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Rule added."));
    assert_eq!(
        draft(&app, id).node("approve").unwrap().handlers[1],
        countersign::flow::HandlerRule::Users {
            usernames: vec!["admin".into(), "ops.lead".into()]
        }
    );
    let page = add_handler(
        &app,
        id,
        "approve",
        &[("rule", "users"), ("usernames", "ops.lead!")],
    )
    .await;
    assert_eq!(
        page.field_error("usernames").as_deref(),
        Some(
            "Type the person's username, such as owner.manager, or pick them from the suggestions as you type."
        )
    );

    // The condition form likewise: a role test shows the role only.
    let page = app
        .post(
            &format!("{node}/conditions"),
            &[
                ("revision", &draft_revision(&app, id)),
                ("test", "applicant_has_role"),
                ("intent", "choose"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(shown(&page, "#condition-form", "role"));
    assert!(!shown(&page, "#condition-form", "value"));
    assert!(draft(&app, id).node("approve").unwrap().condition.is_none());
}

/// Adds a folder at the top of the catalog.
async fn add_folder(app: &TestApp, name: &str) {
    use countersign::db::schema::catalog_nodes as n;
    use diesel::prelude::*;
    let root: countersign::db::ids::CatalogNodeId = app.query(|c| {
        n::table
            .filter(n::parent_id.is_null())
            .select(n::id)
            .first(c)
    });
    let page = app
        .post(
            "/admin/catalog",
            &[("name_en", name), ("parent_id", &root.to_string())],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Folder added."),
        "{}",
        page.path
    );
}

fn draft_revision(app: &TestApp, id: i32) -> String {
    crate::designer::process(app, id).revision.to_string()
}

#[actix_web::test]
async fn a_bad_options_line_is_refused_quoting_it_and_the_box_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Checks", "", "request", false).await;
    add_field(&app, id, "submit", "env", "Environment", "", "select").await;

    let typed = "prod = Production / 生产\ntest = Test = QA\nstaging = Staging";
    let page = edit_field(
        &app,
        id,
        "submit",
        "env",
        &[("label_en", "Environment"), ("choices", typed)],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("choices").as_deref(),
        Some("Line 2 “test = Test = QA” is not value = English label / Chinese label.")
    );
    assert_eq!(
        page.text("#field-form textarea[name=choices]"),
        Some(typed.split_whitespace().collect::<Vec<_>>().join(" "))
    );
    assert!(
        draft(&app, id).node("submit").unwrap().fields[0]
            .choices
            .is_empty()
    );

    let page = edit_field(
        &app,
        id,
        "submit",
        "env",
        &[
            ("label_en", "Environment"),
            ("choices", "prod = Production\nprod = Live"),
        ],
    )
    .await;
    assert_eq!(
        page.field_error("choices").as_deref(),
        Some("Line 2 “prod = Live” gives the value “prod” again; each option needs its own.")
    );
}

/// A process with one approval by a named person, ready to deploy.
async fn ready_process(app: &TestApp, name: &str) -> i32 {
    let (id, _) = new_process(app, name, "", "request", false).await;
    add_node(app, id, "approve", "Approve", "", "approval").await;
    add_handler(
        app,
        id,
        "approve",
        &[("rule", "users"), ("usernames", "ops.lead")],
    )
    .await;
    id
}

#[actix_web::test]
async fn deploying_a_disabled_process_offers_enable_and_deploy_in_one_step() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let id = ready_process(&app, "Simple").await;

    let page = app
        .get(&format!("/admin/processes/{id}/notifications"))
        .await;
    assert_eq!(
        page.text("#deploy-form #enable-and-deploy").as_deref(),
        Some("Enable and deploy")
    );
    assert_eq!(page.count("#deploy-form #deploy"), 0);

    // A draft with a problem is neither enabled nor deployed.
    add_node(&app, id, "check", "Check", "", "task").await;
    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "First"), ("enable", "on")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.count("#deploy-problems li"), 1);
    assert!(!crate::designer::process(&app, id).enabled);
    assert!(versions(&app, id).is_empty());

    let page = app
        .post(
            &format!("/admin/processes/{id}/nodes/check/remove"),
            &[("revision", &draft_revision(&app, id))],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Node removed."));
    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "First"), ("enable", "on")],
        )
        .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/versions/1"));
    assert!(crate::designer::process(&app, id).enabled);
    assert_eq!(versions(&app, id).len(), 1);
    let page = app
        .get(&format!("/admin/processes/{id}/notifications"))
        .await;
    assert_eq!(page.count("#deploy-form #enable-and-deploy"), 0);
    assert_eq!(page.text("#deploy-form #deploy").as_deref(), Some("Deploy"));
}

#[actix_web::test]
async fn a_deployed_version_leads_to_a_service_and_the_process_shows_who_may_file() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let id = ready_process(&app, "Door access").await;
    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "First"), ("enable", "on")],
        )
        .await;

    // The version page's next step: a service for this version.
    assert_eq!(
        page.text("#version-services .muted").as_deref(),
        Some("No service files this process yet.")
    );
    let create = page.attr("#create-service", "href").unwrap();
    let version = versions(&app, id)[0].id;
    assert_eq!(create, format!("/admin/services/new?version_id={version}"));
    assert_eq!(
        page.text("#create-service").as_deref(),
        Some("Create a service for v1")
    );

    // The form comes with that version and the process's name.
    let form = app.get(&create).await;
    assert_eq!(
        form.selected("#service-form", "version_id"),
        Some(version.to_string())
    );
    assert_eq!(
        form.input_value("#service-form", "name_en").as_deref(),
        Some("Door access")
    );
    let saved = app
        .post(
            "/admin/services",
            &[
                ("name_en", "Door access"),
                ("version_id", &version.to_string()),
                ("roles", "ops_lead"),
            ],
        )
        .await;
    assert!(saved.path.starts_with("/admin/services/"), "{}", saved.path);

    // Every step of the wizard says which service files the process and
    // who may file through it.
    for step in ["info", "nodes", "notifications"] {
        let page = app.get(&format!("/admin/processes/{id}/{step}")).await;
        let line = page.text("#process-services").unwrap();
        assert!(
            line.contains("Door access") && line.contains("(v1 · who may file: Operations lead)"),
            "{step}: {line}"
        );
    }
    // A newer version points at the service still on the old one.
    app.post(
        &format!("/admin/processes/{id}/deploy"),
        &[("message", "Second")],
    )
    .await;
    let page = app.get(&format!("/admin/processes/{id}/versions/2")).await;
    assert_eq!(page.text(".move-service").as_deref(), Some("move it to v2"));
}

#[actix_web::test]
async fn a_service_page_adds_the_service_to_a_catalog_folder() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let id = ready_process(&app, "Door access").await;
    app.post(
        &format!("/admin/processes/{id}/deploy"),
        &[("message", "First"), ("enable", "on")],
    )
    .await;
    let version = versions(&app, id)[0].id.to_string();
    let saved = app
        .post(
            "/admin/services",
            &[("name_en", "Door access"), ("version_id", &version)],
        )
        .await;
    add_folder(&app, "Facilities").await;
    let page = app.get(&saved.path).await;
    assert_eq!(
        page.text("#not-in-catalog").as_deref(),
        Some("Not in any catalog folder yet, so nobody finds it in the catalog.")
    );
    let folder = page
        .attrs("#service-folder-form option", "value")
        .into_iter()
        .zip(page.texts("#service-folder-form option"))
        .find(|(_, name)| name.trim() == "Facilities")
        .map(|(value, _)| value)
        .expect("the new folder is offered");

    let page = app
        .post(
            &format!("{}/folders", saved.path),
            &[("folder_id", &folder)],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Service added to the folder.")
    );
    assert_eq!(page.texts("#holding-folders li"), ["Facilities"]);
    let catalog = app.get("/catalog").await;
    assert!(
        catalog
            .texts("#catalog .folder[data-name=Facilities] li a")
            .contains(&"Door access".to_string())
    );

    // A folder that is gone is refused, not a 404.
    let page = app
        .post(
            &format!("{}/folders", saved.path),
            &[("folder_id", "99999")],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Choose one of the listed options.")
    );
}

#[actix_web::test]
async fn a_review_node_shows_its_outcomes_in_the_designer() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Change", "变更", "change", false).await;
    add_node(
        &app,
        id,
        "evaluation",
        "QC evaluation",
        "质量评估",
        "review",
    )
    .await;

    let page = app
        .get(&format!("/admin/processes/{id}/nodes/evaluation"))
        .await;
    assert_eq!(
        page.texts("#outcomes .review-outcomes li"),
        ["Successful", "Successful with issues", "Unsuccessful"]
    );
    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert!(
        steps
            .text("tr[data-key=evaluation] td.small")
            .unwrap()
            .contains("outcomes: Successful / Successful with issues / Unsuccessful")
    );
}

#[actix_web::test]
async fn destructive_actions_ask_first_and_name_what_they_destroy() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let leaver = app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let id = ready_process(&app, "Simple").await;
    add_field(&app, id, "submit", "reason", "Reason", "", "text").await;

    let steps = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        steps
            .text("tr[data-key=approve] details.confirm .confirm-form p")
            .as_deref(),
        Some("Remove the step “Approve” with its fields and rules from the draft?")
    );
    assert_eq!(
        steps.attr("tr[data-key=approve] details.confirm form", "action"),
        Some(format!("/admin/processes/{id}/nodes/approve/remove"))
    );
    let node = app
        .get(&format!("/admin/processes/{id}/nodes/submit"))
        .await;
    assert_eq!(
        node.text("tr[data-key=reason] details.confirm .confirm-form p")
            .as_deref(),
        Some("Remove the field “Reason” from the draft?")
    );
    let user = app.get(&format!("/admin/users/{leaver}")).await;
    assert!(
        user.text("#deactivate-form details.confirm .confirm-form p")
            .unwrap()
            .starts_with("Deactivate ops.lead Person?"),
    );
    add_folder(&app, "Facilities").await;
    let catalog = app.get("/admin/catalog").await;
    assert_eq!(
        catalog
            .text(".folder[data-name=Facilities] details.confirm .confirm-form p")
            .as_deref(),
        Some("Delete the folder “Facilities”? Only an empty folder can be deleted.")
    );
    assert_eq!(
        catalog
            .attr(
                ".folder[data-name=Facilities] details.confirm [name=action]",
                "value"
            )
            .as_deref(),
        Some("delete")
    );
    // Nothing destructive is a bare button any more.
    for page in [&steps, &node, &user, &catalog] {
        assert_eq!(
            page.count("form:not(.confirm-form) > button.danger, form:not(.confirm-form) > button.link.danger"),
            0,
            "{}",
            page.path
        );
    }
}

#[actix_web::test]
async fn counts_read_as_words_do_in_both_languages() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Simple", "简单", "request", false).await;
    add_node(&app, id, "approve", "Approve", "", "approval").await;
    let page = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        page.text("#draft-problems summary").as_deref(),
        Some("1 problem to fix before deploying")
    );
    add_node(&app, id, "check", "Check", "", "task").await;
    let page = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        page.text("#draft-problems summary").as_deref(),
        Some("2 problems to fix before deploying")
    );
    assert!(
        page.text("tr[data-key=submit]")
            .unwrap()
            .contains("0 fields")
    );
    add_field(&app, id, "submit", "reason", "Reason", "", "text").await;
    let page = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert!(
        page.text("tr[data-key=submit]")
            .unwrap()
            .contains("1 field")
    );
    assert!(!page.text("tr[data-key=submit]").unwrap().contains("(s)"));

    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;
    let page = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        page.text("#draft-problems summary").as_deref(),
        Some("部署前需修正 2 个问题")
    );
}
