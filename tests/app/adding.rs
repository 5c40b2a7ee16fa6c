//! Adding approvers by hand (加签): the person whose turn it is adds
//! people before, after or alongside themself, saying why, where the
//! step allows it; the added are asked, with mail, in the order promised.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{audit_events, outbox, users};
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{post_json, token_for};
use crate::approval_rules::{approval, assignments, deploy, file, people};
use crate::helpers::*;

/// A purchase whose one approval, by "lead", takes added approvers.
fn deploy_adding(app: &TestApp, mode: Mode) -> i32 {
    let mut check = approval("check", mode, &["lead"]);
    check.add_approvers = true;
    deploy(app, vec![check])
}

/// The step's people and how each stands: (person, status, decision).
fn people_of(app: &TestApp, id: i32) -> Vec<(String, String, Option<String>)> {
    assignments(app, id)
        .into_iter()
        .map(|(_, who, status, decision)| (who, status, decision))
        .collect()
}

fn person(who: &str, status: &str, decision: Option<&str>) -> (String, String, Option<String>) {
    (
        who.to_string(),
        status.to_string(),
        decision.map(str::to_string),
    )
}

/// Whom ticket `id` has asked by mail, in order.
fn asked_by_mail(app: &TestApp, id: i32) -> Vec<String> {
    app.query(move |c| {
        outbox::table
            .inner_join(users::table.on(users::id.nullable().eq(outbox::to_user_id)))
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::kind.eq("waiting"))
            .order(outbox::id)
            .select(users::username)
            .load(c)
    })
}

async fn add(
    app: &TestApp,
    browser: &reqwest::Client,
    id: i32,
    people: &str,
    placement: &str,
    reason: &str,
) -> Page {
    act_first(
        app,
        browser,
        id,
        &[
            ("intent", "add_approvers"),
            ("people", people),
            ("placement", placement),
            ("reason", reason),
        ],
    )
    .await
}

#[actix_web::test]
async fn people_added_before_decide_first_and_the_one_who_added_them_is_asked_again() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "expert", "architect"]);
    let service = deploy_adding(&app, Mode::Any);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let lead = browser_for(&app, "lead").await;
    let page = get(&lead, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.attrs(
            "details.add-approvers select[name=placement] option",
            "value"
        ),
        vec!["before", "after", "alongside"]
    );
    let page = add(
        &app,
        &lead,
        id,
        "expert, architect",
        "before",
        "Needs an expert eye",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.flash().unwrap().contains("Added"));
    assert_eq!(
        people_of(&app, id)[1..],
        [
            person("lead", "waiting", None),
            person("expert", "pending", None),
            person("architect", "pending", None),
        ]
    );
    assert_eq!(asked_by_mail(&app, id), vec!["lead", "expert", "architect"]);
    let lines = get(&lead, &app.url(&format!("/tickets/{id}")))
        .await
        .texts("ol.timeline li");
    assert!(
        lines.iter().any(|l| l
            .contains("added expert Person, architect Person to check, to decide before them")
            && l.contains("Needs an expert eye")),
        "{lines:?}"
    );
    // The lead waits for them.
    assert_eq!(
        get(&lead, &app.url(&format!("/tickets/{id}")))
            .await
            .count("section.action form"),
        0
    );
    let expert = browser_for(&app, "expert").await;
    act_first(&app, &expert, id, &[("intent", "approve")]).await;
    assert_eq!(
        people_of(&app, id)[1].1,
        "waiting",
        "until all of them approved"
    );
    let architect = browser_for(&app, "architect").await;
    act_first(&app, &architect, id, &[("intent", "approve")]).await;
    assert_eq!(people_of(&app, id)[1].1, "pending");
    assert_eq!(
        ticket_status(&app, id),
        "running",
        "their approvals are not the step's"
    );
    assert_eq!(
        asked_by_mail(&app, id).last().map(String::as_str),
        Some("lead")
    );
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn people_added_after_are_asked_once_the_approval_is_given_and_a_rejection_by_them_rejects() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "auditor"]);
    let service = deploy_adding(&app, Mode::Any);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let lead = browser_for(&app, "lead").await;
    add(&app, &lead, id, "auditor", "after", "Audit must see it").await;
    assert_eq!(people_of(&app, id)[2], person("auditor", "waiting", None));
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    assert_eq!(
        ticket_status(&app, id),
        "running",
        "the step needs the auditor too"
    );
    assert_eq!(people_of(&app, id)[2], person("auditor", "pending", None));
    let auditor = browser_for(&app, "auditor").await;
    act_first(
        &app,
        &auditor,
        id,
        &[("intent", "reject"), ("comment", "Over budget")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "rejected");
}

#[actix_web::test]
async fn people_added_alongside_count_as_the_step_counts_everyone() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "second"]);
    let service = deploy_adding(&app, Mode::All);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let lead = browser_for(&app, "lead").await;
    add(&app, &lead, id, "second", "alongside", "Two pairs of eyes").await;
    assert_eq!(people_of(&app, id)[2], person("second", "pending", None));
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "running", "everyone must approve");
    let second = browser_for(&app, "second").await;
    act_first(&app, &second, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn an_addition_names_active_others_says_why_and_only_where_the_step_allows_it() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "expert", "plain"]);
    let service = deploy_adding(&app, Mode::Any);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let lead = browser_for(&app, "lead").await;
    for (people, reason, says) in [
        ("applicant", "Why not", "never approves their own"),
        ("lead", "Why not", "on this step already"),
        ("nobody_here", "Why not", "“nobody_here”"),
        ("expert", "", "reason"),
    ] {
        let page = add(&app, &lead, id, people, "before", reason).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{people}");
        let error = page.text("details.add-approvers .field-error").unwrap();
        assert!(error.contains(says), "{people}: {error}");
        assert_eq!(
            page.input_value("section.action form", "people").as_deref(),
            Some(people),
            "what was typed is kept"
        );
    }
    assert_eq!(people_of(&app, id).len(), 2, "nobody was added");
    // Nor someone the lead stands in for: that seat's vote would be the
    // lead's too.
    app.delegate("plain", "lead", None);
    let page = add(&app, &lead, id, "plain", "alongside", "Why not").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("details.add-approvers .field-error")
            .unwrap()
            .contains("stand in for this person")
    );

    // Someone added before another adds no one in turn.
    add(&app, &lead, id, "expert", "before", "An expert").await;
    let secret = token_for(&app, "expert", Scope::Act);
    let expert_assignment = pending_assignment(&app, id);
    let (status, problem) = post_json(
        &app,
        &format!("/api/v1/tickets/{id}/actions"),
        &secret,
        json!({ "action": "add_approvers", "assignment": expert_assignment,
                "people": ["plain"], "placement": "after", "reason": "More" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["type"]
            .as_str()
            .map(|t| t.ends_with("add_not_allowed")),
        Some(true),
        "{problem}"
    );

    // A step that does not take added approvers refuses through the API.
    let other = deploy(&app, vec![approval("check", Mode::Any, &["lead"])]);
    let id2 = file(&app, other, &[("what", "A desk")]).await;
    let page = get(&lead, &app.url(&format!("/tickets/{id2}"))).await;
    assert_eq!(page.count("details.add-approvers"), 0);
    let secret = token_for(&app, "lead", Scope::Act);
    let (status, problem) = post_json(
        &app,
        &format!("/api/v1/tickets/{id2}/actions"),
        &secret,
        json!({ "action": "add_approvers", "assignment": pending_assignment(&app, id2),
                "people": ["expert"], "placement": "before", "reason": "Why" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // Through the API where it is allowed: a pointer at whom it cannot add.
    let id3 = file(&app, service, &[("what", "A chair")]).await;
    let (status, problem) = post_json(
        &app,
        &format!("/api/v1/tickets/{id3}/actions"),
        &secret,
        json!({ "action": "add_approvers", "assignment": pending_assignment(&app, id3),
                "people": ["applicant"], "placement": "alongside", "reason": "Why" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/people");
    let (status, done) = post_json(
        &app,
        &format!("/api/v1/tickets/{id3}/actions"),
        &secret,
        json!({ "action": "add_approvers", "assignment": pending_assignment(&app, id3),
                "people": ["expert"], "placement": "alongside", "reason": "Why" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["done"], "approvers_added");
    let channel: String = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id3))
            .filter(audit_events::action.eq("assignment.approvers_added"))
            .select(audit_events::channel)
            .first(c)
    });
    assert_eq!(channel, "api");
}

#[actix_web::test]
async fn in_a_sequence_people_added_alongside_take_their_turn_at_the_end() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "second", "late"]);
    let mut check = approval("check", Mode::Sequence, &["lead", "second"]);
    check.add_approvers = true;
    let service = deploy(&app, vec![check]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let lead = browser_for(&app, "lead").await;
    add(&app, &lead, id, "late", "alongside", "One more in line").await;
    assert_eq!(people_of(&app, id)[3], person("late", "waiting", None));
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    assert_eq!(people_of(&app, id)[2], person("second", "pending", None));
    assert_eq!(people_of(&app, id)[3].1, "waiting", "not yet their turn");
    let second = browser_for(&app, "second").await;
    act_first(&app, &second, id, &[("intent", "approve")]).await;
    assert_eq!(people_of(&app, id)[3], person("late", "pending", None));
    let late = browser_for(&app, "late").await;
    act_first(&app, &late, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn the_designer_allows_adding_approvers_and_sending_back_per_approval_and_limits_file_fields()
{
    use crate::designer::{add_field, add_node, draft, edit_field, new_process, wizard_post};
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let (id, _) = new_process(&app, "Quotes", "报价", "request", false).await;
    add_field(&app, id, "submit", "quote", "Quote", "报价", "file").await;
    let page = edit_field(
        &app,
        id,
        "submit",
        "quote",
        &[
            ("label_en", "Quote"),
            ("max_files", "3"),
            ("max_mb", "5"),
            ("accept", ".PDF, png"),
        ],
    )
    .await;
    assert_ne!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let quote = draft(&app, id).nodes[0].fields[0].clone();
    assert_eq!(
        (quote.kind, quote.max_files, quote.max_mb, quote.accept),
        (
            FieldKind::File,
            Some(3),
            Some(5),
            vec!["pdf".to_string(), "png".to_string()]
        )
    );
    let page = edit_field(
        &app,
        id,
        "submit",
        "quote",
        &[("label_en", "Quote"), ("max_mb", "lots")],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("max_mb").is_some());

    add_node(&app, id, "check", "Check", "检查", "approval").await;
    let node = format!("/admin/processes/{id}/nodes/check");
    let form = get(&app.client, &app.url(&node)).await;
    let value = |name: &str| {
        form.input_value("#node-form", name)
            .or_else(|| form.selected("#node-form", name))
            .unwrap_or_default()
    };
    let fields: Vec<(String, String)> = [
        "name_en",
        "name_zh",
        "mode",
        "self_approval",
        "on_reject",
        "empty_assignees",
    ]
    .iter()
    .map(|n| (n.to_string(), value(n)))
    .chain([
        ("add_approvers".to_string(), "on".to_string()),
        ("send_back_to_earlier".to_string(), "on".to_string()),
    ])
    .collect();
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    wizard_post(&app, &node, "#node-form", &node, &fields).await;
    let check = draft(&app, id).node("check").cloned().unwrap();
    assert!(check.add_approvers && check.send_back_to_earlier);
    let form = get(&app.client, &app.url(&node)).await;
    assert!(form.attr("#f-add-approvers", "checked").is_some());
    assert!(form.attr("#f-send-back-to-earlier", "checked").is_some());
}
