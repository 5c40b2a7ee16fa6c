//! The process designer: the three-step wizard over HTTP, design problems,
//! deploy immutability, clone, export and import.

use countersign::db::ids::ProcessId;
use countersign::db::models::{Process, ProcessVersion, Service};
use countersign::db::schema::{audit_events, process_versions, processes, services};
use countersign::flow::*;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// The draft revision a page's form was filled against.
pub(crate) fn revision(page: &Page, form: &str) -> String {
    page.attr(&format!("{form} input[name=revision]"), "value")
        .expect("forms carry the draft revision")
}

pub(crate) fn process(app: &TestApp, id: i32) -> Process {
    app.query(move |c| {
        processes::table
            .find(ProcessId(id))
            .select(Process::as_select())
            .first(c)
    })
}

pub(crate) fn draft(app: &TestApp, id: i32) -> ProcessDef {
    serde_json::from_str(&process(app, id).draft).unwrap()
}

pub(crate) fn versions(app: &TestApp, id: i32) -> Vec<ProcessVersion> {
    app.query(move |c| {
        process_versions::table
            .filter(process_versions::process_id.eq(ProcessId(id)))
            .order(process_versions::number)
            .select(ProcessVersion::as_select())
            .load(c)
    })
}

/// The id in `/admin/processes/{id}/…`.
fn process_id(path: &str) -> i32 {
    path.split('/')
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no process id in {path}"))
}

/// Posts a wizard form at `path`, with the revision read from `page`'s `form`.
pub(crate) async fn wizard_post(
    app: &TestApp,
    page_path: &str,
    form: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Page {
    let page = app.get(page_path).await;
    let rev = revision(&page, form);
    let mut all = vec![("revision", rev.as_str())];
    all.extend_from_slice(fields);
    app.post(action, &all).await
}

pub(crate) async fn add_field(
    app: &TestApp,
    id: i32,
    node: &str,
    key: &str,
    en: &str,
    zh: &str,
    kind: &str,
) -> Page {
    let node_page = format!("/admin/processes/{id}/nodes/{node}");
    wizard_post(
        app,
        &node_page,
        "#add-field-form",
        &format!("{node_page}/fields"),
        &[
            ("key", key),
            ("label_en", en),
            ("label_zh", zh),
            ("kind", kind),
        ],
    )
    .await
}

pub(crate) async fn edit_field(
    app: &TestApp,
    id: i32,
    node: &str,
    key: &str,
    fields: &[(&str, &str)],
) -> Page {
    let path = format!("/admin/processes/{id}/nodes/{node}/fields/{key}");
    wizard_post(app, &path, "#field-form", &path, fields).await
}

pub(crate) async fn add_node(
    app: &TestApp,
    id: i32,
    key: &str,
    en: &str,
    zh: &str,
    kind: &str,
) -> Page {
    let path = format!("/admin/processes/{id}/nodes");
    wizard_post(
        app,
        &path,
        "#add-node-form",
        &path,
        &[
            ("key", key),
            ("name_en", en),
            ("name_zh", zh),
            ("kind", kind),
        ],
    )
    .await
}

pub(crate) async fn add_handler(
    app: &TestApp,
    id: i32,
    node: &str,
    fields: &[(&str, &str)],
) -> Page {
    let path = format!("/admin/processes/{id}/nodes/{node}");
    wizard_post(
        app,
        &path,
        "#handler-form",
        &format!("{path}/handlers"),
        fields,
    )
    .await
}

pub(crate) async fn enable(app: &TestApp, id: i32) -> Page {
    let path = format!("/admin/processes/{id}/notifications");
    wizard_post(
        app,
        &path,
        "#notify-form",
        &path,
        &[
            ("rule", "waiting:assignees"),
            ("rule", "finished:applicant"),
            ("rule", "rejected:applicant"),
            ("enabled", "on"),
        ],
    )
    .await
}

pub(crate) async fn new_process(
    app: &TestApp,
    en: &str,
    zh: &str,
    kind: &str,
    business: bool,
) -> (i32, Page) {
    let mut fields = vec![
        ("name_en", en),
        ("name_zh", zh),
        ("kind", kind),
        ("description", "Designed in a test"),
    ];
    if business {
        fields.push(("business_required", "on"));
    }
    let page = app.post("/admin/processes", &fields).await;
    (process_id(&page.path), page)
}

/// The tutorial's process as the test enters it, to compare with what deploys.
fn expected_change() -> ProcessDef {
    let mut def = ProcessDef::new(
        LocalText::new("Environment change", "环境变更"),
        ProcessKind::Change,
    );
    def.business_required = true;
    def.description = "Designed in a test".into();
    def.notifications = vec![
        NotifyRule {
            event: NotifyEvent::Waiting,
            to: Recipient::Assignees,
        },
        NotifyRule {
            event: NotifyEvent::Rejected,
            to: Recipient::Applicant,
        },
        NotifyRule {
            event: NotifyEvent::Finished,
            to: Recipient::Applicant,
        },
    ];
    let mut reason = FieldDef::new(
        "reason",
        LocalText::new("Reason", "变更原因"),
        FieldKind::Textarea,
    );
    reason.required = true;
    reason.max_length = Some(2000);
    let mut scope = FieldDef::new(
        "scope",
        LocalText::new("Scope", "变更范围"),
        FieldKind::Select,
    );
    scope.required = true;
    scope.choices = vec![
        Choice {
            value: "app".into(),
            label: LocalText::new("Application", "应用"),
        },
        Choice {
            value: "infra".into(),
            label: LocalText::new("Infrastructure", "基础设施"),
        },
    ];
    scope.default = Some("app".into());
    let window = FieldDef {
        required: true,
        ..FieldDef::new(
            "window",
            LocalText::new("Change window", "变更时间"),
            FieldKind::DatetimeRange,
        )
    };
    def.nodes[0].fields = vec![reason, scope, window];
    let mut lead = NodeDef::new(
        "lead_review",
        LocalText::new("Ops lead review", "变更审核"),
        NodeKind::Approval,
    );
    lead.handlers = vec![HandlerRule::Role {
        role: "ops_lead".into(),
        in_business: true,
    }];
    let mut summary = NodeDef::new(
        "summary",
        LocalText::new("Change summary", "变更总结"),
        NodeKind::Task,
    );
    summary.handlers = vec![HandlerRule::Applicant];
    summary.fields = vec![FieldDef {
        required: true,
        ..FieldDef::new(
            "change_summary",
            LocalText::new("Summary", "总结"),
            FieldKind::Textarea,
        )
    }];
    let mut review = NodeDef::new(
        "evaluation",
        LocalText::new("Change evaluation", "变更评估"),
        NodeKind::Review,
    );
    review.handlers = vec![HandlerRule::Role {
        role: "qc".into(),
        in_business: true,
    }];
    let mut complaints = FieldDef::new(
        "complaints",
        LocalText::new("Complaints", "投诉"),
        FieldKind::Number,
    );
    complaints.min = Some(0.0);
    review.fields = vec![complaints];
    def.nodes.extend([lead, summary, review]);
    def
}

#[actix_web::test]
async fn an_admin_designs_deploys_and_publishes_the_environment_change_through_the_wizard() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.create_user("qc.chen", false);
    let payments = app.create_business("Payments", admin);
    let ops = app.role_id("ops");
    app.db
        .write_sync(|c| {
            countersign::store::assignments::create(
                c,
                wang,
                ops,
                countersign::store::assignments::Scope::Business(payments),
                admin,
            )
        })
        .unwrap();
    app.sign_in("admin").await;

    // Step 1: information.
    let (id, page) = new_process(&app, "Environment change", "环境变更", "change", true).await;
    assert_eq!(page.path, format!("/admin/processes/{id}/nodes"));
    assert_eq!(
        page.flash().as_deref(),
        Some("Process created. Now add its nodes.")
    );
    assert_eq!(
        page.attr(".wizard-steps li[aria-current=step] a", "href"),
        Some(format!("/admin/processes/{id}/nodes"))
    );

    // Step 2: the submit form's fields.
    let page = add_field(
        &app,
        id,
        "submit",
        "reason",
        "Reason",
        "变更原因",
        "textarea",
    )
    .await;
    assert_eq!(
        page.path,
        format!("/admin/processes/{id}/nodes/submit/fields/reason")
    );
    edit_field(
        &app,
        id,
        "submit",
        "reason",
        &[
            ("label_en", "Reason"),
            ("label_zh", "变更原因"),
            ("required", "on"),
            ("max_length", "2000"),
        ],
    )
    .await;
    add_field(&app, id, "submit", "scope", "Scope", "变更范围", "select").await;
    let page = edit_field(
        &app,
        id,
        "submit",
        "scope",
        &[
            ("label_en", "Scope"),
            ("label_zh", "变更范围"),
            ("required", "on"),
            (
                "choices",
                "app = Application / 应用\ninfra = Infrastructure / 基础设施",
            ),
            ("default", "app"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    add_field(
        &app,
        id,
        "submit",
        "window",
        "Change window",
        "变更时间",
        "datetime_range",
    )
    .await;
    edit_field(
        &app,
        id,
        "submit",
        "window",
        &[
            ("label_en", "Change window"),
            ("label_zh", "变更时间"),
            ("required", "on"),
        ],
    )
    .await;

    // Step 2: the nodes after it.
    let page = add_node(
        &app,
        id,
        "lead_review",
        "Ops lead review",
        "变更审核",
        "approval",
    )
    .await;
    assert_eq!(
        page.path,
        format!("/admin/processes/{id}/nodes/lead_review")
    );
    let page = add_handler(
        &app,
        id,
        "lead_review",
        &[("rule", "role_in_business"), ("role", "ops_lead")],
    )
    .await;
    assert_eq!(page.texts("#handlers li").len(), 1);
    add_node(&app, id, "summary", "Change summary", "变更总结", "task").await;
    add_handler(&app, id, "summary", &[("rule", "applicant")]).await;
    add_field(
        &app,
        id,
        "summary",
        "change_summary",
        "Summary",
        "总结",
        "textarea",
    )
    .await;
    edit_field(
        &app,
        id,
        "summary",
        "change_summary",
        &[
            ("label_en", "Summary"),
            ("label_zh", "总结"),
            ("required", "on"),
        ],
    )
    .await;
    add_node(
        &app,
        id,
        "evaluation",
        "Change evaluation",
        "变更评估",
        "review",
    )
    .await;
    add_handler(
        &app,
        id,
        "evaluation",
        &[("rule", "role_in_business"), ("role", "qc")],
    )
    .await;
    add_field(
        &app,
        id,
        "evaluation",
        "complaints",
        "Complaints",
        "投诉",
        "number",
    )
    .await;
    edit_field(
        &app,
        id,
        "evaluation",
        "complaints",
        &[
            ("label_en", "Complaints"),
            ("label_zh", "投诉"),
            ("min", "0"),
        ],
    )
    .await;

    let step2 = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        step2.attrs("table.nodes tbody tr", "data-key"),
        vec!["submit", "lead_review", "summary", "evaluation"]
    );
    assert_eq!(step2.count(".diagram svg rect.node"), 4);
    assert_eq!(
        step2.count("#draft-problems"),
        0,
        "{:?}",
        step2.texts("#draft-problems li")
    );

    // Step 3: notification policy and enable, then deploy.
    let page = enable(&app, id).await;
    assert_eq!(page.flash().as_deref(), Some("Notification policy saved."));
    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "First version")],
        )
        .await;
    assert_eq!(page.path, format!("/admin/processes/{id}/versions/1"));
    assert_eq!(page.flash().as_deref(), Some("Deployed as version 1."));
    assert_eq!(page.text("#version-number").as_deref(), Some("v1"));

    let deployed = versions(&app, id);
    assert_eq!(deployed.len(), 1);
    assert_eq!(deployed[0].message, "First version");
    let frozen: ProcessDef = serde_json::from_str(&deployed[0].definition).unwrap();
    assert_eq!(frozen, expected_change());

    // The service, bound to version 1, in a catalog folder.
    let version_id = deployed[0].id.to_string();
    let page = app
        .post(
            "/admin/services",
            &[
                ("name_en", "Environment change"),
                ("name_zh", "环境变更"),
                ("description", "Replace servers"),
                ("version_id", version_id.as_str()),
                ("roles", "ops"),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    let service: Service = app.query(|c| services::table.select(Service::as_select()).first(c));
    assert_eq!(service.version_id, deployed[0].id);
    assert_eq!(service.kind, "change");
    assert_eq!(service.roles(), vec!["ops"]);

    let catalog = app.get("/admin/catalog").await;
    let root = catalog.attr("#catalog-tree .folder", "data-id").unwrap();
    let page = app
        .post(
            "/admin/catalog",
            &[
                ("parent_id", root.as_str()),
                ("name_en", "Environment change"),
                ("name_zh", "环境变更"),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Folder added."));
    let folder = page
        .attr(".folder[data-name='Environment change']", "data-id")
        .unwrap();
    let service_id = service.id.to_string();
    let page = app
        .post(
            &format!("/admin/catalog/{folder}"),
            &[("action", "attach"), ("service_id", service_id.as_str())],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Service added to the folder.")
    );
    assert_eq!(
        page.texts(".folder[data-name='Environment change'] .services-in-folder li")
            .len(),
        1
    );

    // Ops sees it in the catalog; QC, who is not ops, does not.
    let ops_browser = TestApp::browser();
    sign_in_as(&app, &ops_browser, "ops.wang", PASSWORD).await;
    let seen = get(&ops_browser, &app.url("/catalog")).await;
    assert_eq!(
        seen.texts("#catalog .folder .folder-head"),
        vec!["Service catalog", "Environment change"]
    );
    assert_eq!(
        seen.attrs("#catalog a", "href"),
        vec![format!("/services/{}", service.id)]
    );
    let service_page = get(&ops_browser, &app.url(&format!("/services/{}", service.id))).await;
    assert_eq!(service_page.h1(), "Environment change");
    assert_eq!(service_page.count(".diagram svg rect.node"), 4);
    let qc = TestApp::browser();
    sign_in_as(&app, &qc, "qc.chen", PASSWORD).await;
    assert_eq!(get(&qc, &app.url("/catalog")).await.count("#catalog a"), 0);
    assert_eq!(
        get(&qc, &app.url(&format!("/services/{}", service.id)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn deploy_lists_every_problem_with_where_it_is_and_writes_no_version() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Checks", "检查", "request", false).await;
    add_field(&app, id, "submit", "scope", "Scope", "", "select").await;
    edit_field(
        &app,
        id,
        "submit",
        "scope",
        &[("label_en", "Scope"), ("choices", "prod = Production")],
    )
    .await;
    add_node(&app, id, "check", "Check", "检查", "approval").await;
    // A condition on a field that is then removed.
    let node = format!("/admin/processes/{id}/nodes/check");
    wizard_post(
        &app,
        &node,
        "#condition-form",
        &format!("{node}/conditions"),
        &[
            ("test", "field_equals"),
            ("field", "scope"),
            ("value", "prod"),
        ],
    )
    .await;
    wizard_post(
        &app,
        &format!("/admin/processes/{id}/nodes/submit"),
        "#add-field-form",
        &format!("/admin/processes/{id}/nodes/submit/fields/scope/remove"),
        &[],
    )
    .await;
    add_node(&app, id, "approve", "Approve", "", "approval").await;
    add_handler(
        &app,
        id,
        "approve",
        &[("rule", "role_in_business"), ("role", "vp")],
    )
    .await;
    enable(&app, id).await;

    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "try")],
        )
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.texts("#deploy-problems li"),
        vec![
            "Node 2 (Check): an approval node needs at least one handler rule",
            "Node 2 (Check): condition refers to unknown field `scope`",
            "Node 3 (Approve): role `vp` within the ticket's business needs a process whose tickets name a business",
        ]
    );
    assert_eq!(
        page.input_value("#deploy-form", "message").as_deref(),
        Some("try")
    );
    assert!(versions(&app, id).is_empty());
}

#[actix_web::test]
async fn a_field_with_contradicting_options_is_refused_beside_each_option_and_the_input_is_kept() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Checks", "", "request", false).await;
    add_field(&app, id, "submit", "env", "Environment", "", "select").await;
    add_field(&app, id, "submit", "hosts", "Hosts", "", "number").await;
    add_field(&app, id, "submit", "ticket", "Ticket", "", "text").await;

    let page = edit_field(
        &app,
        id,
        "submit",
        "env",
        &[
            ("label_en", "Environment"),
            ("choices", ""),
            ("default", "prod"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("choices").as_deref(),
        Some("select field `env` has no options")
    );

    let page = edit_field(
        &app,
        id,
        "submit",
        "hosts",
        &[
            ("label_en", "Hosts"),
            ("min", "10"),
            ("max", "1"),
            ("default", "5"),
        ],
    )
    .await;
    assert_eq!(
        page.field_error("max").as_deref(),
        Some("the minimum of field `hosts` is above its maximum")
    );
    assert_eq!(
        page.input_value("#field-form", "min").as_deref(),
        Some("10")
    );

    let page = edit_field(
        &app,
        id,
        "submit",
        "ticket",
        &[("label_en", ""), ("pattern", "(["), ("max_length", "many")],
    )
    .await;
    assert_eq!(
        page.field_error("label_en").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("pattern").as_deref(),
        Some("the pattern of field `ticket` is not a valid regular expression")
    );
    assert_eq!(
        page.field_error("max_length").as_deref(),
        Some("Enter a number.")
    );
    assert_eq!(
        page.input_value("#field-form", "pattern").as_deref(),
        Some("([")
    );

    let page = edit_field(
        &app,
        id,
        "submit",
        "env",
        &[
            ("label_en", "Environment"),
            ("choices", "prod = Production\ntest = Test"),
            ("default", "staging"),
        ],
    )
    .await;
    assert_eq!(
        page.field_error("default").as_deref(),
        Some("the default of field `env` is not valid: Choose one of the listed options.")
    );

    let stored = draft(&app, id);
    assert!(
        stored.field("env").unwrap().choices.is_empty(),
        "refused edits change nothing"
    );
    assert_eq!(stored.field("hosts").unwrap().min, None);
}

#[actix_web::test]
async fn wizard_inputs_with_bad_keys_or_unknown_names_are_refused_beside_their_fields() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let page = app
        .post("/admin/processes", &[("name_en", ""), ("kind", "holiday")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("name_en").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("kind").as_deref(),
        Some("Choose one of the listed options.")
    );

    let (id, _) = new_process(&app, "Checks", "", "request", false).await;
    let page = add_node(&app, id, "Lead Review", "Lead review", "", "approval").await;
    assert_eq!(
        page.field_error("key").as_deref(),
        Some("Use 2–32 lowercase letters, digits or underscores, starting with a letter.")
    );
    assert_eq!(
        page.input_value("#add-node-form", "name_en").as_deref(),
        Some("Lead review")
    );
    let page = add_node(&app, id, "submit", "Again", "", "approval").await;
    assert_eq!(
        page.field_error("key").as_deref(),
        Some("This code is already taken.")
    );

    add_node(&app, id, "lead", "Lead", "", "approval").await;
    let page = add_handler(
        &app,
        id,
        "lead",
        &[("rule", "users"), ("usernames", "nobody, admin")],
    )
    .await;
    assert_eq!(
        page.field_error("usernames").as_deref(),
        Some("This person does not exist or is deactivated.")
    );
    assert_eq!(
        page.input_value("#handler-form", "usernames").as_deref(),
        Some("nobody, admin")
    );
    let page = add_handler(&app, id, "lead", &[("rule", "role"), ("role", "cto")]).await;
    assert_eq!(
        page.field_error("role").as_deref(),
        Some("This role does not exist.")
    );
    let page = add_handler(
        &app,
        id,
        "lead",
        &[("rule", "manager_chain"), ("levels", "42")],
    )
    .await;
    assert_eq!(
        page.field_error("levels").as_deref(),
        Some("the manager chain goes 1 to 10 levels up")
    );
    assert!(draft(&app, id).node("lead").unwrap().handlers.is_empty());
}

#[actix_web::test]
async fn a_stale_draft_form_saves_nothing_and_says_why() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, page) = new_process(&app, "Checks", "", "request", false).await;
    let stale = revision(&page, "#add-node-form");
    add_node(&app, id, "first", "First", "", "approval").await;

    let page = app
        .post(
            &format!("/admin/processes/{id}/nodes"),
            &[
                ("revision", stale.as_str()),
                ("key", "second"),
                ("name_en", "Second"),
                ("kind", "approval"),
            ],
        )
        .await;

    assert_eq!(
        page.flash().as_deref(),
        Some(
            "Someone else changed this draft meanwhile; your change was not saved. This is the draft as it is now."
        )
    );
    let keys: Vec<String> = draft(&app, id)
        .nodes
        .iter()
        .map(|n| n.key.clone())
        .collect();
    assert_eq!(keys, vec!["submit", "first"]);
}

#[actix_web::test]
async fn editing_and_redeploying_leaves_version_one_and_the_services_bound_to_it_unchanged() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Simple", "简单", "request", false).await;
    add_node(&app, id, "approve", "Approve", "审批", "approval").await;
    add_handler(
        &app,
        id,
        "approve",
        &[("rule", "users"), ("usernames", "ops.lead")],
    )
    .await;
    enable(&app, id).await;
    app.post(
        &format!("/admin/processes/{id}/deploy"),
        &[("message", "v1")],
    )
    .await;
    let v1 = versions(&app, id).remove(0);
    let v1_id = v1.id.to_string();
    app.post(
        "/admin/services",
        &[
            ("name_en", "Simple request"),
            ("version_id", v1_id.as_str()),
        ],
    )
    .await;

    let node = format!("/admin/processes/{id}/nodes/approve");
    let page = wizard_post(
        &app,
        &node,
        "#node-form",
        &node,
        &[
            ("name_en", "Approve quickly"),
            ("mode", "all"),
            ("empty_assignees", "admins"),
            ("self_approval", "block"),
            ("on_reject", "send_back"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    app.post(
        &format!("/admin/processes/{id}/deploy"),
        &[("message", "v2")],
    )
    .await;

    let all = versions(&app, id);
    assert_eq!(all.iter().map(|v| v.number).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(all[0].definition, v1.definition, "version 1 is immutable");
    let v2: ProcessDef = serde_json::from_str(&all[1].definition).unwrap();
    let approve = v2.node("approve").unwrap();
    assert_eq!(
        (approve.name.en.as_str(), approve.mode),
        ("Approve quickly", Mode::All)
    );
    assert_eq!(
        (
            approve.empty_assignees,
            approve.self_approval,
            approve.on_reject
        ),
        (EmptyPolicy::Admins, SelfPolicy::Block, OnReject::SendBack)
    );
    let service: Service = app.query(|c| services::table.select(Service::as_select()).first(c));
    assert_eq!(service.version_id, v1.id, "services stay on their version");
    let list = app.get("/admin/services").await;
    assert_eq!(
        list.text("table.services .badge").as_deref(),
        Some("v2 available")
    );

    // Re-binding is an explicit act, and audited.
    let v2_id = all[1].id.to_string();
    let path = format!("/admin/services/{}", service.id);
    app.post(
        &path,
        &[
            ("name_en", "Simple request"),
            ("version_id", v2_id.as_str()),
        ],
    )
    .await;
    let service: Service = app.query(|c| services::table.select(Service::as_select()).first(c));
    assert_eq!(service.version_id, all[1].id);
    let rebound: i64 = app.query(move |c| {
        audit_events::table
            .filter(audit_events::action.eq("service.rebound"))
            .filter(audit_events::actor_id.eq(admin))
            .count()
            .get_result(c)
    });
    assert_eq!(rebound, 1);
    assert_eq!(
        app.get("/admin/processes")
            .await
            .text(&format!("tr[data-id='{id}'] td:nth-child(4)"))
            .as_deref(),
        Some("v2")
    );
}

#[actix_web::test]
async fn deploying_needs_the_process_enabled() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Simple", "", "request", false).await;
    add_node(&app, id, "approve", "Approve", "", "approval").await;
    add_handler(
        &app,
        id,
        "approve",
        &[("rule", "users"), ("usernames", "ops.lead")],
    )
    .await;

    let page = app
        .post(&format!("/admin/processes/{id}/deploy"), &[("message", "")])
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.form_error().as_deref(),
        Some("Enable the process first (step 3).")
    );
    assert!(versions(&app, id).is_empty());
}

#[actix_web::test]
async fn nodes_and_fields_are_reordered_and_removed_but_the_submit_node_stays_first() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Order", "", "request", false).await;
    for key in ["a", "b", "c"] {
        add_node(&app, id, key, key, "", "approval").await;
        add_field(&app, id, "submit", &format!("f_{key}"), key, "", "text").await;
    }
    let nodes = format!("/admin/processes/{id}/nodes");
    wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/c/move"),
        &[("direction", "up")],
    )
    .await;
    wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/a/move"),
        &[("direction", "up")],
    )
    .await;
    let page = wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/b/remove"),
        &[],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Node removed."));
    let page = wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/submit/remove"),
        &[],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The submit node cannot be removed.")
    );
    wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/submit/fields/f_c/move"),
        &[("direction", "up")],
    )
    .await;
    wizard_post(
        &app,
        &nodes,
        "#add-node-form",
        &format!("{nodes}/submit/fields/f_a/remove"),
        &[],
    )
    .await;

    let def = draft(&app, id);
    assert_eq!(
        def.nodes.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        vec!["submit", "a", "c"]
    );
    assert_eq!(
        def.nodes[0]
            .fields
            .iter()
            .map(|f| f.key.as_str())
            .collect::<Vec<_>>(),
        vec!["f_c", "f_b"]
    );
}

#[actix_web::test]
async fn a_cloned_process_is_a_separate_draft() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, page) = new_process(&app, "Original", "原始", "change", true).await;
    let _ = page;

    let page = app.post(&format!("/admin/processes/{id}/clone"), &[]).await;

    let copy = process_id(&page.path);
    assert_ne!(copy, id);
    assert_eq!(
        draft(&app, copy).name,
        LocalText::new("Original (copy)", "原始(副本)")
    );
    add_node(&app, copy, "extra", "Extra", "", "approval").await;
    assert_eq!(draft(&app, id).nodes.len(), 1);
}

#[actix_web::test]
async fn an_exported_process_imports_as_an_equal_draft() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let admin = app.query(|c| {
        countersign::db::schema::users::table
            .select(countersign::db::schema::users::id)
            .first::<countersign::db::ids::UserId>(c)
    });
    let def = countersign::store::demo_processes::access_request("rd");
    let id = app
        .db
        .write_sync(|c| countersign::store::processes::create(c, &def, admin))
        .unwrap();

    let res = app
        .client
        .get(app.url(&format!("/admin/processes/{id}/export")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let json = res.text().await.unwrap();

    let page = app
        .post("/admin/processes/import", &[("json", json.as_str())])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Process imported as a new draft.")
    );
    let imported = process_id(&page.path);
    assert_ne!(imported, id.0);
    assert_eq!(draft(&app, imported), def);
}

#[actix_web::test]
async fn malformed_import_files_are_refused_with_the_reason_and_the_text_kept() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app
        .post("/admin/processes/import", &[("json", "{ not json")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#import-problems li")
            .unwrap()
            .starts_with("This is not a process file (line 1, column 3)")
    );
    assert_eq!(
        page.text("#import-form textarea").as_deref(),
        Some("{ not json")
    );

    let page = app
        .post(
            "/admin/processes/import",
            &[("json", r#"{"name": {"en": "X"}}"#)],
        )
        .await;
    assert!(
        page.text("#import-problems li")
            .unwrap()
            .contains("missing field `kind`")
    );

    let mut def = countersign::store::demo_processes::environment_change();
    def.nodes[1].handlers.clear();
    let json = serde_json::to_string(&def).unwrap();
    let page = app
        .post("/admin/processes/import", &[("json", json.as_str())])
        .await;
    assert_eq!(
        page.texts("#import-problems li"),
        vec!["Node 2 (Ops lead review): an approval node needs at least one handler rule"]
    );

    let page = app.post("/admin/processes/import", &[("json", "")]).await;
    assert_eq!(
        page.texts("#import-problems li"),
        vec!["Paste the content of a process file."]
    );
    let count: i64 = app.query(|c| processes::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn people_who_are_not_administrators_cannot_reach_the_designer_services_catalog_or_resources()
{
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    app.create_user("ops.wang", false);
    let def = countersign::store::demo_processes::environment_change();
    let id = app
        .db
        .write_sync(|c| countersign::store::processes::create(c, &def, admin))
        .unwrap();
    app.sign_in("ops.wang").await;

    for path in [
        "/admin/processes".to_string(),
        "/admin/processes/new".into(),
        "/admin/processes/import".into(),
        format!("/admin/processes/{id}/nodes"),
        format!("/admin/processes/{id}/nodes/lead_review"),
        format!("/admin/processes/{id}/nodes/submit/fields/reason"),
        format!("/admin/processes/{id}/notifications"),
        format!("/admin/processes/{id}/versions"),
        format!("/admin/processes/{id}/export"),
        "/admin/services".into(),
        "/admin/services/new".into(),
        "/admin/catalog".into(),
        "/admin/resources".into(),
    ] {
        assert_eq!(
            app.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    for path in [
        "/admin/processes".to_string(),
        "/admin/processes/import".into(),
        format!("/admin/processes/{id}/nodes"),
        format!("/admin/processes/{id}/deploy"),
        format!("/admin/processes/{id}/clone"),
        format!("/admin/processes/{id}/notifications"),
        "/admin/services".into(),
        "/admin/catalog".into(),
        "/admin/resources".into(),
    ] {
        let page = app
            .post(
                &path,
                &[
                    ("name_en", "x"),
                    ("revision", "1"),
                    ("key", "x"),
                    ("json", "{}"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    let count: i64 = app.query(|c| processes::table.count().get_result(c));
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn a_node_gets_a_condition_a_quorum_and_its_view_of_earlier_fields_through_the_editor() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.lead", false);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Conditional", "条件", "request", false).await;
    add_field(
        &app,
        id,
        "submit",
        "special",
        "Special request",
        "特殊申请",
        "checkbox",
    )
    .await;
    add_field(&app, id, "submit", "budget", "Budget", "预算", "number").await;
    add_node(&app, id, "vp", "VP approval", "VP 审批", "approval").await;
    let node = format!("/admin/processes/{id}/nodes/vp");

    let refused = wizard_post(
        &app,
        &node,
        "#condition-form",
        &format!("{node}/conditions"),
        &[
            ("test", "field_equals"),
            ("field", "special"),
            ("value", ""),
        ],
    )
    .await;
    assert_eq!(
        refused.field_error("value").as_deref(),
        Some("This field is required.")
    );
    let page = wizard_post(
        &app,
        &node,
        "#condition-form",
        &format!("{node}/conditions"),
        &[
            ("test", "field_equals"),
            ("field", "special"),
            ("value", "true"),
        ],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Condition added."));
    assert_eq!(page.texts("#condition .predicates li").len(), 1);
    let refused = wizard_post(
        &app,
        &node,
        "#node-form",
        &node,
        &[
            ("name_en", "VP approval"),
            ("name_zh", "VP 审批"),
            ("mode", "quorum"),
            ("empty_assignees", "skip"),
            ("self_approval", "allow"),
            ("on_reject", "end"),
        ],
    )
    .await;
    assert_eq!(
        refused.field_error("quorum_count").as_deref(),
        Some("a quorum needs either a number of people or a percentage")
    );
    wizard_post(
        &app,
        &node,
        "#node-form",
        &node,
        &[
            ("name_en", "VP approval"),
            ("name_zh", "VP 审批"),
            ("mode", "quorum"),
            ("quorum_percent", "50"),
            ("empty_assignees", "skip"),
            ("self_approval", "allow"),
            ("on_reject", "end"),
        ],
    )
    .await;
    let page = wizard_post(
        &app,
        &node,
        "#access-form",
        &format!("{node}/access"),
        &[("access.special", "hidden"), ("access.budget", "editable")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));

    let def = draft(&app, id);
    let vp = def.node("vp").unwrap();
    assert_eq!(
        vp.condition,
        Some(Condition::all_of(vec![Predicate::FieldEquals {
            field: "special".into(),
            value: "true".into()
        }]))
    );
    assert_eq!(
        vp.mode,
        Mode::Quorum {
            count: None,
            percent: Some(50)
        }
    );
    assert_eq!(
        (vp.access("special"), vp.access("budget")),
        (FieldAccess::Hidden, FieldAccess::Editable)
    );
    let step2 = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        step2.text("tr[data-key=vp] .badge").as_deref(),
        Some("conditional")
    );
    assert_eq!(step2.count(".diagram svg rect.node.conditional"), 1);

    // In Chinese, the editor and the problems speak Chinese.
    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;
    let page = app.get(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        page.text("#draft-problems li").as_deref(),
        Some("节点 2（VP 审批）：审批节点至少需要一条处理人规则")
    );
}

#[actix_web::test]
async fn a_condition_compares_numbers_joins_either_or_groups_and_names_values_it_cannot_compare() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Budgets", "预算", "request", false).await;
    add_field(&app, id, "submit", "special", "Special", "特殊", "checkbox").await;
    add_field(&app, id, "submit", "budget", "Budget", "预算", "number").await;
    add_field(&app, id, "submit", "what", "What", "内容", "text").await;
    add_node(&app, id, "vp", "VP approval", "VP 审批", "approval").await;
    let node = format!("/admin/processes/{id}/nodes/vp");
    let add = |fields: Vec<(&'static str, &'static str)>| {
        let (app, node) = (&app, node.clone());
        async move {
            wizard_post(
                app,
                &node,
                "#condition-form",
                &format!("{node}/conditions"),
                &fields,
            )
            .await
        }
    };
    // A range without its end is refused beside it, the rest kept.
    let refused = add(vec![
        ("test", "between"),
        ("field", "budget"),
        ("low", "100"),
        ("high", ""),
    ])
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.field_error("high").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        refused.input_value("#condition-form", "low").as_deref(),
        Some("100")
    );

    let page = add(vec![
        ("test", "compare"),
        ("field", "budget"),
        ("op", "ge"),
        ("value", "10000"),
        ("join", "all"),
    ])
    .await;
    assert_eq!(page.flash().as_deref(), Some("Condition added."));
    add(vec![
        ("test", "field_equals"),
        ("field", "special"),
        ("value", "true"),
        ("join", "any:new"),
    ])
    .await;
    let page = add(vec![
        ("test", "contains"),
        ("field", "what"),
        ("value", "database"),
        ("join", "any:0"),
    ])
    .await;
    assert_eq!(
        page.texts("#condition .condition-all li").len(),
        1,
        "{:?}",
        page.texts("#condition li")
    );
    assert!(page.texts("#condition .condition-all li")[0].starts_with("budget is at least 10000"));
    let group = page.texts("#condition .condition-any li");
    assert_eq!(group.len(), 2, "{group:?}");
    assert!(group[1].starts_with("what contains database"), "{group:?}");
    // (budget >= 10000) AND (special OR what contains "database")
    let def = draft(&app, id);
    let condition = def.node("vp").unwrap().condition.clone().unwrap();
    assert_eq!(condition.all.len(), 1);
    assert_eq!(condition.any.len(), 1);
    assert_eq!(condition.any[0].len(), 2);

    // A value the field cannot be compared with is named at deploy.
    add(vec![
        ("test", "compare"),
        ("field", "budget"),
        ("op", "lt"),
        ("value", "2027-01-01"),
    ])
    .await;
    add_handler(&app, id, "vp", &[("rule", "users"), ("usernames", "admin")]).await;
    enable(&app, id).await;
    let page = app
        .post(
            &format!("/admin/processes/{id}/deploy"),
            &[("message", "try")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.texts("#deploy-problems li").iter().any(|p| p
            == "Node 2 (VP approval): `2027-01-01` is not a value field `budget` can be compared with"),
        "{:?}",
        page.texts("#deploy-problems li")
    );

    // Removing the last of the group's predicates drops the group.
    let page = app.get(&node).await;
    let rev = revision(&page, "#condition-form");
    app.post(
        &format!("{node}/conditions/2/remove"),
        &[("revision", rev.as_str())],
    )
    .await;
    let page = app.get(&node).await;
    assert_eq!(page.texts("#condition .condition-any li").len(), 1);
}
