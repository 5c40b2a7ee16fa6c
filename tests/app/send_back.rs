//! Sending a ticket back to an earlier step, where the approval allows
//! it: the chosen step runs again with its people, the steps after it are
//! planned afresh, the rows before are kept, and approvals the send-back
//! overtook no longer count.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{approves, audit_events};
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{post_json, token_for};
use crate::approval_rules::{approval, assignments, deploy, file, people};
use crate::helpers::*;

/// A ticket's step rows in order: (node, status, sent back from).
fn steps(app: &TestApp, id: i32) -> Vec<(String, String, Option<String>)> {
    app.query(move |c| {
        approves::table
            .filter(approves::apply_id.eq(ApplyId(id)))
            .order(approves::position)
            .select((
                approves::node_key,
                approves::status,
                approves::sent_back_from,
            ))
            .load(c)
    })
}

fn row(node: &str, status: &str) -> (String, String, Option<String>) {
    (node.to_string(), status.to_string(), None)
}

/// submit → budget (alice) → quote (bob) → sign (carol, who may send
/// back to an earlier step) → pay (alice again, de-duplicating).
fn deploy_purchase(app: &TestApp) -> i32 {
    let mut sign = approval("sign", Mode::Any, &["carol"]);
    sign.send_back_to_earlier = true;
    deploy(
        app,
        vec![
            approval("budget", Mode::Any, &["alice"]),
            approval("quote", Mode::Any, &["bob"]),
            sign,
            approval("pay", Mode::Any, &["alice"]),
        ],
    )
}

#[actix_web::test]
async fn an_approval_sends_the_ticket_back_to_an_earlier_step_which_runs_again_and_what_follows_is_planned_afresh()
 {
    let app = TestApp::spawn().await;
    people(&app, &["alice", "bob", "carol"]);
    let service = deploy_purchase(&app);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let (alice, bob, carol) = (
        browser_for(&app, "alice").await,
        browser_for(&app, "bob").await,
        browser_for(&app, "carol").await,
    );
    act_first(&app, &alice, id, &[("intent", "approve")]).await;
    act_first(&app, &bob, id, &[("intent", "approve")]).await;

    // Carol may send it back to the applicant or to either earlier step.
    let page = get(&carol, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.attrs("select.send-back-to option", "value"),
        vec!["", "budget", "quote"]
    );
    // A step after hers, or one that never ran, is refused beside the select.
    let action = page.attr("section.action form", "action").unwrap();
    let refused = post_as(
        &app,
        &carol,
        &action,
        &[
            ("intent", "send_back"),
            ("send_back_to", "pay"),
            ("comment", "The quote is stale"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text("section.action .field-error")
            .unwrap()
            .contains("earlier step"),
    );
    assert_eq!(
        refused
            .text("section.action textarea[name=comment]")
            .as_deref(),
        Some("The quote is stale"),
        "what was typed is kept"
    );
    assert_eq!(ticket_status(&app, id), "running");

    let page = post_as(
        &app,
        &carol,
        &action,
        &[
            ("intent", "send_back"),
            ("send_back_to", "quote"),
            ("comment", "The quote is stale"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(ticket_status(&app, id), "running", "the ticket goes on");
    assert_eq!(
        steps(&app, id),
        vec![
            row("submit", "done"),
            row("budget", "approved"),
            row("quote", "approved"),
            row("sign", "rejected"),
            row("pay", "cancelled"),
            ("quote".into(), "active".into(), Some("sign".into())),
            row("sign", "waiting"),
            row("pay", "waiting"),
        ],
        "the rows before are kept, the quote runs again and what follows is planned afresh"
    );
    let timeline = get(&bob, &app.url(&format!("/tickets/{id}"))).await;
    let lines = timeline.texts("ol.timeline li");
    assert!(
        lines.iter().any(|l| l.contains("sent sign back to quote")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("The ticket went back from sign to quote, which runs again")),
        "{lines:?}"
    );
    // Bob is asked again, with a link by mail, as any step's people are.
    assert_eq!(
        timeline.count("section.action form"),
        1,
        "bob decides the quote again"
    );

    // Round it goes: the quote, then carol again (her send-back is no
    // approval), then alice at "pay" — her budget approval stands, as
    // the budget was not sent back, so it counts there.
    act_first(&app, &bob, id, &[("intent", "approve")]).await;
    act_first(&app, &carol, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
    let pay: Vec<_> = assignments(&app, id)
        .into_iter()
        .filter(|(node, ..)| node == "pay")
        .collect();
    assert_eq!(pay.last().unwrap().3.as_deref(), Some("auto"));
}

#[actix_web::test]
async fn approvals_the_send_back_overtook_are_asked_again_and_a_step_that_may_not_is_refused() {
    let app = TestApp::spawn().await;
    people(&app, &["alice", "bob", "carol"]);
    // bob approves the quote and, de-duplicating, "check" after sign.
    let mut sign = approval("sign", Mode::Any, &["carol"]);
    sign.send_back_to_earlier = true;
    let service = deploy(
        &app,
        vec![
            approval("quote", Mode::Any, &["bob"]),
            sign,
            approval("check", Mode::Any, &["bob"]),
        ],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let (bob, carol) = (
        browser_for(&app, "bob").await,
        browser_for(&app, "carol").await,
    );
    act_first(&app, &bob, id, &[("intent", "approve")]).await;
    let page = get(&carol, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    post_as(
        &app,
        &carol,
        &action,
        &[
            ("intent", "send_back"),
            ("send_back_to", "quote"),
            ("comment", "Again"),
        ],
    )
    .await;
    // The overtaken quote approval does not approve the new quote step.
    let quote: Vec<_> = assignments(&app, id)
        .into_iter()
        .filter(|(node, ..)| node == "quote")
        .collect();
    assert_eq!(quote.len(), 2);
    assert_eq!(quote[1].2, "pending");

    // Through the API, from a step that does not allow it: refused, with
    // a pointer to what to change.
    let mut plain = approval("sign", Mode::Any, &["carol"]);
    plain.send_back_to_earlier = false;
    let other = deploy(&app, vec![approval("quote", Mode::Any, &["bob"]), plain]);
    let id2 = file(&app, other, &[("what", "A desk")]).await;
    act_first(&app, &bob, id2, &[("intent", "approve")]).await;
    let mine: i32 = pending_assignment(&app, id2);
    let secret = token_for(&app, "carol", Scope::Act);
    let (status, problem) = post_json(
        &app,
        &format!("/api/v1/tickets/{id2}/actions"),
        &secret,
        json!({ "action": "send_back", "assignment": mine, "comment": "Again", "to_step": "quote" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/to_step");
    assert_eq!(ticket_status(&app, id2), "running");
    // A plain send-back still goes to the applicant.
    let (status, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{id2}/actions"),
        &secret,
        json!({ "action": "send_back", "assignment": mine, "comment": "Fix the form" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ticket_status(&app, id2), "sent_back");
    let returned: i64 = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id2))
            .filter(audit_events::action.eq("ticket.returned"))
            .count()
            .get_result(c)
    });
    assert_eq!(returned, 0);
}

#[test]
fn only_earlier_steps_that_passed_in_this_round_are_offered() {
    use countersign::db::states::StepStatus::*;
    use countersign::store::tickets::rules::send_back_targets;
    let mut def = ProcessDef::new(LocalText::new("P", "P"), ProcessKind::Request);
    for key in ["a", "b", "c", "d"] {
        def.nodes.push(NodeDef::new(
            key,
            LocalText::new(key, key),
            NodeKind::Approval,
        ));
    }
    let rows = |r: &[(&str, i32, countersign::db::states::StepStatus)]| {
        r.iter()
            .map(|(k, p, s)| (k.to_string(), *p, *s))
            .collect::<Vec<_>>()
    };
    // An old round's approvals do not count; a skipped step is no target.
    let now = rows(&[
        ("submit", 0, Done),
        ("a", 1, Approved),
        ("b", 2, Rejected),
        ("submit", 3, Done),
        ("a", 4, Approved),
        ("b", 5, Skipped),
        ("c", 6, Active),
        ("d", 7, Waiting),
    ]);
    assert_eq!(send_back_targets(&def, "c", &now), vec!["a"]);
    assert_eq!(send_back_targets(&def, "a", &now), Vec::<&str>::new());
    // After a send-back to "a", the overtaken "b" is no target until it runs again.
    let later = rows(&[
        ("submit", 0, Done),
        ("a", 1, Approved),
        ("b", 2, Approved),
        ("c", 3, Rejected),
        ("d", 4, Cancelled),
        ("a", 5, Approved),
        ("b", 6, Active),
        ("c", 7, Waiting),
    ]);
    assert_eq!(send_back_targets(&def, "c", &later), vec!["a"]);
}
