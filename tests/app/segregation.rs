//! Segregation of duties holds by default, on every path: nobody decides an
//! approval of their own ticket as someone's stand-in, through a hand-over,
//! or as one of the administrators a step is routed to — whatever the
//! node's self-approval setting, which is only about whom the plan asks.

use countersign::db::ids::{ApplyId, ApproveUserId};
use countersign::db::schema::{applies, audit_events, outbox, services, users};
use countersign::flow::*;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{approval, assignments, deploy, file, people, row};
use crate::helpers::*;
use crate::leavers::file_rd_request;

/// An approval whose designer allowed self-approval: the most permissive
/// setting, which still must not let the applicant decide for others.
fn permissive(key: &str, people: &[&str]) -> NodeDef {
    let mut node = approval(key, Mode::Any, people);
    node.self_approval = SelfPolicy::Allow;
    node
}

fn serial(app: &TestApp, id: i32) -> String {
    app.query(move |c| {
        applies::table
            .find(ApplyId(id))
            .select(applies::serial)
            .first(c)
    })
}

fn approvals_recorded(app: &TestApp, id: i32) -> i64 {
    app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq("assignment.approved"))
            .count()
            .get_result(c)
    })
}

const FOR_SOMEONE_ELSE: &str = "You filed this ticket, so you cannot approve it for someone else.";

/// Tries every way the applicant could approve their own ticket's pending
/// step: the ticket page's form, and the inbox batch. Each is refused with
/// the reason, and nothing changes.
async fn applicant_is_refused_everywhere(app: &TestApp, applicant: &reqwest::Client, id: i32) {
    let inbox = get(applicant, &app.url("/inbox")).await;
    assert_eq!(inbox.count("table.inbox tbody tr"), 0, "not in the inbox");
    assert_eq!(inbox.text("#inbox-count"), None, "nor in its count");
    let page = get(applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("section.action"), 0, "no buttons on the page");

    let assignment = pending_assignment(app, id);
    let refused = post_as(
        app,
        applicant,
        &format!("/tickets/{id}/assignments/{assignment}"),
        &[("intent", "approve")],
    )
    .await;
    assert_eq!(refused.flash().as_deref(), Some(FOR_SOMEONE_ELSE));

    let batch = post_as(
        app,
        applicant,
        "/inbox",
        &[
            ("intent", "approve"),
            ("assignment", assignment.to_string().as_str()),
        ],
    )
    .await;
    assert_eq!(
        batch.flash(),
        Some(format!(
            "0 approved. 1 could not be decided: {}: {FOR_SOMEONE_ELSE}",
            serial(app, id)
        ))
    );
    assert_eq!(ticket_status(app, id), "running");
    assert_eq!(approvals_recorded(app, id), 0);
}

#[actix_web::test]
async fn an_applicant_standing_in_for_their_approver_is_refused_on_every_path_even_where_self_approval_is_allowed()
 {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![permissive("check", &["approver"])]);
    // A delegation in force when the ticket is filed is not taken up: the
    // approver is asked and mailed, not the applicant.
    app.delegate("approver", "applicant", None);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    assert_eq!(
        assignments(&app, id)[1],
        row("check", "approver", "pending", None)
    );
    let mailed: Vec<String> = app.query(move |c| {
        outbox::table
            .inner_join(users::table.on(users::id.nullable().eq(outbox::to_user_id)))
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::kind.eq("waiting"))
            .select(users::username)
            .load(c)
    });
    assert_eq!(mailed, ["approver"]);

    let applicant = browser_for(&app, "applicant").await;
    applicant_is_refused_everywhere(&app, &applicant, id).await;
}

#[actix_web::test]
async fn a_delegation_that_starts_after_filing_gives_the_applicant_nothing_to_approve() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![permissive("check", &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    app.delegate("approver", "applicant", None);

    let applicant = browser_for(&app, "applicant").await;
    applicant_is_refused_everywhere(&app, &applicant, id).await;
}

#[actix_web::test]
async fn an_administrator_who_files_a_ticket_is_not_among_the_admins_its_approval_is_routed_to() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("other.admin", true);
    // The rule finds nobody (no one holds the role), so the step goes to
    // the administrators, as designed.
    let mut check = NodeDef::new("check", LocalText::new("Check", ""), NodeKind::Approval);
    check.handlers = vec![HandlerRule::Role {
        role: "vp".into(),
        in_business: false,
    }];
    check.empty_assignees = EmptyPolicy::Admins;
    check.self_approval = SelfPolicy::Allow;
    let service = deploy(&app, vec![check]);

    let admin = browser_for(&app, "admin").await;
    let filed = post_as(
        &app,
        &admin,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "A server")],
    )
    .await;
    let id: i32 = filed.path.trim_start_matches("/tickets/").parse().unwrap();

    assert_eq!(
        assignments(&app, id)[1],
        row("check", "other.admin", "pending", None)
    );
    assert_eq!(assignments(&app, id).len(), 2);
    let page = get(&admin, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("section.action"), 0);
}

#[actix_web::test]
async fn rd_zhao_cannot_approve_his_own_access_request_for_his_manager_away_on_leave() {
    let app = TestApp::spawn().await;
    app.load_demo();
    // The demo's processes ask the manager where the applicant would be
    // asked themselves: the safe default.
    let def: String = app.query(|c| {
        use countersign::db::schema::process_versions;
        process_versions::table
            .inner_join(services::table.on(services::version_id.eq(process_versions::id)))
            .filter(services::name_en.eq("Access request (RD)"))
            .select(process_versions::definition)
            .first(c)
    });
    let def: ProcessDef = serde_json::from_str(&def).unwrap();
    assert!(
        def.nodes[1..]
            .iter()
            .all(|n| n.self_approval == SelfPolicy::Manager)
    );

    app.delegate("rd.manager", "rd.zhao", None);
    let id = file_rd_request(&app).await;
    let rd = app.demo_browser("rd.zhao").await;

    let assignment = pending_assignment(&app, id);
    let refused = post_as(
        &app,
        &rd,
        &format!("/tickets/{id}/assignments/{assignment}"),
        &[("intent", "approve")],
    )
    .await;
    assert_eq!(refused.flash().as_deref(), Some(FOR_SOMEONE_ELSE));
    let batch = post_as(
        &app,
        &rd,
        "/inbox",
        &[
            ("intent", "approve"),
            ("assignment", assignment.to_string().as_str()),
        ],
    )
    .await;
    assert!(batch.flash().unwrap().ends_with(FOR_SOMEONE_ELSE));
    assert_eq!(approvals_recorded(&app, id), 0);

    // Nor can his manager hand the step over to him.
    let manager = app.demo_browser("rd.manager").await;
    let page = get(&manager, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let refused = post_as(
        &app,
        &manager,
        &action,
        &[("intent", "transfer"), ("to", "rd.zhao")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ticket_status(&app, id), "running");
}

/// A review is completed with one of its outcomes at the one door, not
/// only on the page: a caller that skips the page (an API, a robot) is
/// refused without one, and a task is refused one.
#[actix_web::test]
async fn a_review_completed_without_an_outcome_is_refused_at_the_door() {
    use countersign::refusal::Refusal;
    use countersign::store::audit::Channel;
    use countersign::store::tickets::{self, Act, Action, Decision};
    let app = TestApp::spawn().await;
    people(&app, &["qc"]);
    let mut review = NodeDef::new(
        "evaluation",
        LocalText::new("Evaluation", "评估"),
        NodeKind::Review,
    );
    review.handlers = vec![HandlerRule::Users {
        usernames: vec!["qc".into()],
    }];
    let service = deploy(&app, vec![review]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let assignment = ApproveUserId(pending_assignment(&app, id));
    let qc = app.user_id("qc");
    let attempt = |outcome: Option<&str>| {
        let outcome = outcome.map(str::to_string);
        app.db.write_sync(move |c| {
            let act = Act {
                ticket: ApplyId(id),
                actor: qc,
                channel: Channel::Api,
                action: Action::Decide {
                    assignment,
                    decision: Decision::Complete {
                        fields: Default::default(),
                        outcome,
                    },
                    comment: String::new(),
                },
            };
            tickets::perform(c, act)
        })
    };
    for outcome in [None, Some("splendid")] {
        match attempt(outcome) {
            Err(e) if matches!(e.refusal(), Some(Refusal::OutcomeRequired(_))) => {
                assert_eq!(
                    e.refused_key(),
                    Some(("outcome", "errors.outcome_required")),
                    "{outcome:?}"
                );
            }
            other => panic!("{outcome:?} was not refused: {other:?}"),
        }
    }
    assert_eq!(ticket_status(&app, id), "running");
    attempt(Some("successful")).expect("a known outcome completes the review");
    assert_eq!(ticket_status(&app, id), "finished");
}

/// Commenting is checked at the door too: someone who may not see a
/// ticket cannot comment on it, however they reach the store.
#[actix_web::test]
async fn someone_who_may_not_see_a_ticket_cannot_comment_on_it_at_the_door() {
    use countersign::refusal::Refusal;
    use countersign::store::audit::Channel;
    use countersign::store::tickets::{self, Act, Action};
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy(&app, vec![approval("approve", Mode::Any, &["approver"])]);
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    let stranger = app.user_id("stranger");
    let approver = app.user_id("approver");
    let comment = |actor, text: &str| {
        let act = Act {
            ticket: id,
            actor,
            channel: Channel::Api,
            action: Action::Comment {
                text: text.to_string(),
                files: Vec::new(),
            },
        };
        app.db.write_sync(move |c| tickets::perform(c, act))
    };
    let refused = comment(stranger, "Let me in");
    assert!(
        matches!(
            refused.as_ref().map_err(|e| e.refusal()),
            Err(Some(Refusal::NotFound))
        ),
        "{refused:?}"
    );
    comment(approver, "Looking at it").expect("the approver may comment");
    let comments: i64 = app.query(move |c| {
        audit_events::table
            .filter(audit_events::action.eq("ticket.commented"))
            .count()
            .get_result(c)
    });
    assert_eq!(comments, 1);
}
