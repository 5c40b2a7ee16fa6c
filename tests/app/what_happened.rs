//! Messages that say what happened: a used link says who did what and
//! when, a stale tab keeps what was typed, a search that finds nothing
//! says so, and a form sent again after Back names the ticket it filed.

use countersign::db::ids::ApplyId;
use countersign::db::schema::approve_users;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{approval, deploy, file, people};
use crate::helpers::*;
use crate::smtp::{self, link};
use countersign::flow::Mode;

/// When an assignment of `username` on ticket `id` was decided, as the
/// link page writes it.
fn decided_at(app: &TestApp, id: i32, username: &str) -> String {
    let who = app.user_id(username);
    let at: chrono::NaiveDateTime = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::acted_by.eq(who))
            .select(approve_users::decided_at.assume_not_null())
            .first(c)
    });
    at.format("%-d %b at %H:%M").to_string()
}

#[actix_web::test]
async fn a_used_link_says_who_decided_what_and_when_with_the_way_to_the_ticket() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    people(&app, &["first", "second"]);
    let service = deploy(
        &app,
        vec![approval("check", Mode::Any, &["first", "second"])],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let mails = inbox.wait_for(2, |m| m.contains("action=approve")).await;
    let first = link(
        mails.iter().find(|m| m.contains("To: first@")).unwrap(),
        "action=approve",
    )
    .unwrap();
    let second = link(
        mails.iter().find(|m| m.contains("To: second@")).unwrap(),
        "action=approve",
    )
    .unwrap();
    assert_eq!(
        press_link(&app, &first, "approve").await.status,
        StatusCode::OK
    );

    // Opened again by the one who used it.
    let page = get(&TestApp::browser(), &first).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert_eq!(
        page.text("#link-message"),
        Some(format!(
            "You approved this on {}; nothing was changed.",
            decided_at(&app, id, "first")
        ))
    );
    assert_eq!(
        page.attr("#email-link p a", "href"),
        Some(format!("/tickets/{id}"))
    );
    // The other approver's link: the step was decided by someone else.
    let page = get(&TestApp::browser(), &second).await;
    assert_eq!(
        page.text("#link-message"),
        Some(format!(
            "first Person approved this step on {}, so nothing more is needed from you.",
            decided_at(&app, id, "first")
        ))
    );
}

#[actix_web::test]
async fn a_stale_tab_says_who_decided_first_and_keeps_the_comment_that_was_not_sent() {
    let app = TestApp::spawn().await;
    people(&app, &["first", "second"]);
    let service = deploy(
        &app,
        vec![approval("check", Mode::Any, &["first", "second"])],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let second = browser_for(&app, "second").await;
    // Second opens the ticket; first decides meanwhile.
    let page = get(&second, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let first = browser_for(&app, "first").await;
    let theirs = get(&first, &app.url(&format!("/tickets/{id}")))
        .await
        .attr("section.action form", "action")
        .unwrap();
    post_as(&app, &first, &theirs, &[("intent", "approve")]).await;

    let page = post_as(
        &app,
        &second,
        &action,
        &[("intent", "reject"), ("comment", "The budget is spent")],
    )
    .await;

    assert_eq!(page.status, StatusCode::CONFLICT);
    assert_eq!(
        page.text("#overtaken .form-error"),
        Some(format!(
            "first Person approved this step on {}, so nothing more is needed from you.",
            decided_at(&app, id, "first")
        ))
    );
    assert_eq!(
        page.text("#kept-comment").as_deref(),
        Some("The budget is spent")
    );
}

#[actix_web::test]
async fn a_catalog_search_that_finds_nothing_says_so_and_one_for_a_field_label_finds_its_service() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let ops = app.demo_browser("ops.wang").await;

    let page = get(&ops, &app.url("/catalog?q=zzzz")).await;
    assert_eq!(
        page.text("#no-match").as_deref(),
        Some("No service matches “zzzz”. Show all services")
    );
    assert_eq!(
        page.attr("#no-match a", "href").as_deref(),
        Some("/catalog")
    );

    // "Rollback plan" is a field of the environment change's form.
    let page = get(&ops, &app.url("/catalog?q=rollback")).await;
    assert_eq!(
        page.texts("#catalog li[data-service] > a"),
        ["Environment change"]
    );
}

#[actix_web::test]
async fn a_form_sent_again_after_back_names_the_ticket_it_already_filed() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let applicant = browser_for(&app, "applicant").await;
    let form = [
        ("intent", "submit"),
        ("what", "A laptop"),
        ("submit_token", "the-same-form-twice"),
    ];
    let first = post_as(&app, &applicant, &format!("/services/{service}"), &form).await;
    assert_eq!(first.flash().as_deref(), Some("Your ticket was submitted."));

    let again = post_as(&app, &applicant, &format!("/services/{service}"), &form).await;

    assert_eq!(again.path, first.path);
    let serial = first.text("#serial").unwrap();
    assert_eq!(
        again.flash(),
        Some(format!(
            "Already submitted as {serial}: this is that ticket; nothing new was filed."
        ))
    );
}
