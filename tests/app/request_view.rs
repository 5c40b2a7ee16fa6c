//! Approvers decide with the request in view: the approval mail, the page a
//! mailed link opens and the inbox show the ticket's service and business
//! and the submit form's fields the step may read — never those hidden
//! from it — in the reader's language, with resources, people and yes/no
//! named as people know them.

use countersign::flow::*;

use crate::approval_rules::file;
use crate::helpers::*;
use crate::leavers::file_rd_request;
use crate::smtp::{self, link};

/// A purchase with a reason everyone may read, a budget code hidden from
/// the approval, a flag and a person picked in the form.
pub(crate) fn deploy_purchase(app: &TestApp) -> i32 {
    let mut def = ProcessDef::new(LocalText::new("Purchase", "采购"), ProcessKind::Request);
    def.nodes[0].fields = vec![
        FieldDef {
            required: true,
            ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
        },
        FieldDef::new(
            "reason",
            LocalText::new("Reason", "理由"),
            FieldKind::Textarea,
        ),
        FieldDef::new(
            "budget",
            LocalText::new("Budget code", "预算编号"),
            FieldKind::Text,
        ),
        FieldDef::new(
            "urgent",
            LocalText::new("Urgent", "紧急"),
            FieldKind::Checkbox,
        ),
        FieldDef::new(
            "buddy",
            LocalText::new("Colleague", "同事"),
            FieldKind::Member,
        ),
    ];
    let mut check = NodeDef::new("check", LocalText::new("Check", "审核"), NodeKind::Approval);
    check.handlers = vec![HandlerRule::Users {
        usernames: vec!["approver".into()],
    }];
    check
        .field_access
        .insert("budget".into(), FieldAccess::Hidden);
    def.nodes.push(check);
    app.deploy_service(&def, "Purchase").0
}

pub(crate) fn people(app: &TestApp) {
    app.create_user("admin", true);
    app.create_user("applicant", false);
    app.create_user("approver", false);
    app.create_user("colleague", false);
}

const FIELDS: [(&str, &str); 4] = [
    ("what", "A laptop"),
    ("reason", "The old one broke"),
    ("budget", "SECRET-4711"),
    ("buddy", "colleague"),
];

#[actix_web::test]
async fn the_approval_mail_and_its_link_page_show_what_the_step_may_read_and_not_what_is_hidden_from_it()
 {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    people(&app);
    let service = deploy_purchase(&app);
    file(&app, service, &FIELDS).await;

    let mail = inbox
        .wait_for(1, |m| m.contains("To: approver@example.com"))
        .await
        .remove(0);
    for shown in [
        "Service: Purchase",
        "What: A laptop",
        "Reason: The old one broke",
        "Urgent: No",
        "Colleague: colleague Person (colleague)",
    ] {
        assert!(mail.contains(shown), "{shown} missing from {mail}");
    }
    assert!(!mail.contains("SECRET-4711"), "{mail}");
    assert!(!mail.contains("Budget code"), "{mail}");

    let page = get(&TestApp::browser(), &link(&mail, "action=approve").unwrap()).await;
    let labels = page.texts("#email-link dl.fields dt");
    let values = page.texts("#email-link dl.fields dd");
    let shown: Vec<(String, String)> = labels.into_iter().zip(values).collect();
    for (label, value) in [
        ("Service", "Purchase"),
        ("What", "A laptop"),
        ("Reason", "The old one broke"),
        ("Urgent", "No"),
        ("Colleague", "colleague Person (colleague)"),
    ] {
        assert!(
            shown.contains(&(label.to_string(), value.to_string())),
            "{label}: {value} missing from {shown:?}"
        );
    }
    assert!(!page.html.html().contains("SECRET-4711"));
    // Reject looks like the action to think twice about, Approve does not.
    assert_eq!(
        page.attr("#link-reject", "class").as_deref(),
        Some("button danger")
    );
    assert_eq!(
        page.attr("#link-approve", "class").as_deref(),
        Some("button primary")
    );
}

#[actix_web::test]
async fn an_inbox_row_shows_the_service_and_the_fields_the_step_may_read() {
    let app = TestApp::spawn().await;
    people(&app);
    let service = deploy_purchase(&app);
    file(&app, service, &FIELDS).await;
    let approver = browser_for(&app, "approver").await;

    let page = get(&approver, &app.url("/inbox")).await;

    assert_eq!(
        page.text("table.inbox tbody tr .request-where").as_deref(),
        Some("Purchase")
    );
    let summary = page.text("table.inbox tbody tr .request-summary").unwrap();
    assert_eq!(
        summary,
        "What: A laptop · Reason: The old one broke · Urgent: No · Colleague: colleague Person (colleague)"
    );
    assert!(!page.html.html().contains("SECRET-4711"));
}

#[actix_web::test]
async fn a_chinese_reader_gets_the_request_in_chinese() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    people(&app);
    let approver = app.user_id("approver");
    app.db
        .write_sync(move |c| {
            countersign::store::users::set_language(c, approver, countersign::i18n::Lang::ZhCn)
        })
        .unwrap();
    let service = deploy_purchase(&app);
    file(&app, service, &[("what", "A laptop"), ("urgent", "on")]).await;

    let mail = inbox
        .wait_for(1, |m| m.contains("To: approver@example.com"))
        .await
        .remove(0);
    for shown in ["服务：Purchase", "内容：A laptop", "紧急：是"] {
        assert!(mail.contains(shown), "{shown} missing from {mail}");
    }
}

#[actix_web::test]
async fn requested_tables_are_named_everywhere_and_the_grant_is_one_line_of_the_timeline() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let id = file_rd_request(&app).await;

    // The manager's mail names the table.
    let mail = inbox
        .wait_for(1, |m| m.contains("To: rd.manager@example.com"))
        .await
        .remove(0);
    assert!(
        mail.contains("Tables and dashboards: dw.orders (table · managed)"),
        "{mail}"
    );
    // Everyone approves in turn; the grant is recorded once, by name.
    for who in ["rd.manager", "owner.manager", "grant.wu"] {
        let browser = app.demo_browser(who).await;
        let page = get(&browser, &app.url(&format!("/tickets/{id}"))).await;
        let action = page.attr("section.action form", "action").unwrap();
        post_as(&app, &browser, &action, &[("intent", "approve")]).await;
    }
    let rd = app.demo_browser("rd.zhao").await;
    let page = get(&rd, &app.url(&format!("/tickets/{id}"))).await;
    let fields = page.texts("#fields dd");
    assert!(
        fields.contains(&"dw.orders (table · managed)".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"No".to_string()),
        "special request: {fields:?}"
    );
    let granted: Vec<String> = page
        .texts("#timeline li")
        .into_iter()
        .filter(|l| l.contains("granted"))
        .collect();
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert!(
        granted[0].ends_with("Access was granted: dw.orders (table · managed)"),
        "{granted:?}"
    );
}
