//! People who leave: a deactivated person's links never act, whatever has
//! become of their work; they stand in for no one any more; and their open
//! steps move to their manager or, with none, where the process's
//! empty-assignee policy sends them — never left to pass by themselves.

use countersign::db::ids::{ApplyId, UserId};
use countersign::db::schema::{approve_users, audit_events, delegations, users};
use countersign::flow::*;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{approval, assignments, deploy, file, people, row};
use crate::email::file_change;
use crate::helpers::*;
use crate::smtp::{self, link};

/// The admin deactivates `username` through the admin page.
async fn deactivate(app: &TestApp, username: &str) {
    let id = app.user_id(username);
    let admin = app.demo_browser("admin").await;
    let page = post_as(app, &admin, &format!("/admin/users/{id}/deactivate"), &[]).await;
    assert_eq!(page.flash().as_deref(), Some("The person was deactivated."));
}

fn decisions(app: &TestApp, id: i32) -> i64 {
    app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::decision.eq_any(["approve", "reject"]))
            .count()
            .get_result(c)
    })
}

fn events(app: &TestApp, id: i32, action: &'static str) -> i64 {
    app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id))
            .filter(audit_events::action.eq(action))
            .count()
            .get_result(c)
    })
}

#[actix_web::test]
async fn a_deactivated_approvers_link_never_acts_and_with_no_manager_their_step_goes_to_the_administrators()
 {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    // The ops lead has no manager in the demo.
    let id = file_change(&app).await;
    let mail = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await
        .remove(0);
    let approve = link(&mail, "action=approve").unwrap();

    deactivate(&app, "ops.lead").await;

    let page = get(&TestApp::browser(), &approve).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("deactivated")
    );
    assert_eq!(
        page.text("#link-message").as_deref(),
        Some(
            "This link was mailed to Zhang Lei, who can no longer act in countersign, so it \
             decides nothing. The step is now with Admin; nothing was changed."
        )
    );
    assert_eq!(page.count("#link-form"), 0);
    // Posting the form anyway (a tab left open) decides nothing either.
    assert_eq!(
        press_link(&app, &approve, "approve").await.status,
        StatusCode::GONE
    );
    assert_eq!(decisions(&app, id), 0);
    assert_eq!(ticket_status(&app, id), "running");

    // The change review went to the administrators, with an audit event
    // the timeline shows, and the admin is mailed a link of their own.
    let lead_review = assignments_of(&app, id, "lead_review");
    assert_eq!(
        lead_review,
        [
            ("ops.lead".to_string(), "transferred".to_string()),
            ("admin".to_string(), "pending".to_string())
        ]
    );
    assert_eq!(events(&app, id, "assignment.routed_to_admins"), 1);
    let admin = app.demo_browser("admin").await;
    let timeline = get(&admin, &app.url(&format!("/tickets/{id}")))
        .await
        .texts("#timeline li");
    assert!(
        timeline.iter().any(|l| l.contains(
            "Admin deactivated Zhang Lei, who had no manager to take over; their part of \
             Ops lead review went to the administrators: Admin"
        )),
        "{timeline:?}"
    );
    let mail = inbox
        .wait_for(1, |m| {
            m.contains("To: admin@example.com") && m.contains("action=approve")
        })
        .await
        .remove(0);
    let theirs = link(&mail, "action=approve").unwrap();
    let page = get(&TestApp::browser(), &theirs).await;
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("valid")
    );
    assert_eq!(page.text("#link-approver").as_deref(), Some("Admin"));
}

/// (person, status) of each assignment of one node, in the order made.
fn assignments_of(app: &TestApp, id: i32, node: &'static str) -> Vec<(String, String)> {
    app.query(move |c| {
        use countersign::db::schema::approves;
        approve_users::table
            .inner_join(approves::table)
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approves::node_key.eq(node))
            .order(approve_users::id)
            .select((users::username, approve_users::status))
            .load(c)
    })
}

#[actix_web::test]
async fn a_deactivated_stand_ins_link_never_acts_and_the_step_returns_to_the_person_away_with_a_fresh_link()
 {
    let (app, inbox, id, stand_ins) = stand_in_mailed().await;

    deactivate(&app, "data.lin").await;

    let page = get(&TestApp::browser(), &stand_ins).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(
        page.text("#link-message").as_deref(),
        Some(
            "This link was mailed to Lin Tao, who can no longer act in countersign, so it \
             decides nothing. The step is now with He Jun; nothing was changed."
        )
    );
    // Their delegations have ended, with an audit event.
    let lin = app.user_id("data.lin");
    let running: i64 = app.query(move |c| {
        delegations::table
            .filter(delegations::to_user_id.eq(lin))
            .filter(delegations::ends_at.gt(countersign::db::stamp::At(countersign::store::now())))
            .count()
            .get_result(c)
    });
    assert_eq!(running, 0);
    let ended: i64 = app.query(|c| {
        audit_events::table
            .filter(audit_events::action.eq("delegation.ended"))
            .count()
            .get_result(c)
    });
    assert_eq!(ended, 1);

    // The owner's manager has the step back, in the inbox and by mail,
    // and their own link decides as themselves.
    let owner_manager = app.demo_browser("owner.manager").await;
    let inbox_page = get(&owner_manager, &app.url("/inbox")).await;
    assert_eq!(inbox_page.count("table.inbox tbody tr"), 1);
    let mail = inbox
        .wait_for(1, |m| {
            m.contains("To: owner.manager@example.com") && m.contains("action=approve")
        })
        .await
        .remove(0);
    let own = link(&mail, "action=approve").unwrap();
    let page = get(&TestApp::browser(), &own).await;
    assert_eq!(page.text("#link-approver").as_deref(), Some("He Jun"));
    assert_eq!(
        press_link(&app, &own, "approve").await.status,
        StatusCode::OK
    );
    let by: Vec<(Option<UserId>, UserId)> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::channel.eq("email_link"))
            .select((approve_users::acted_by, approve_users::user_id))
            .load(c)
    });
    let he = app.user_id("owner.manager");
    assert_eq!(by, [(Some(he), he)]);
}

/// The demo with owner.manager away (data.lin stands in for access
/// requests) and rd.zhao's request past his manager: the owner's
/// manager's step has started, and its approve link was mailed to the
/// stand-in. The app, its mail, the ticket and that link.
async fn stand_in_mailed() -> (TestApp, smtp::Inbox, i32, String) {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    app.delegate("owner.manager", "data.lin", Some(ProcessKind::Access));
    let id = file_rd_request(&app).await;
    let manager = app.demo_browser("rd.manager").await;
    let page = get(&manager, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    post_as(&app, &manager, &action, &[("intent", "approve")]).await;
    let mail = inbox
        .wait_for(1, |m| m.contains("To: data.lin@example.com"))
        .await
        .remove(0);
    let link = link(&mail, "action=approve").unwrap();
    (app, inbox, id, link)
}

/// rd.zhao files the RD access request for dw.orders; returns its id.
pub(crate) async fn file_rd_request(app: &TestApp) -> i32 {
    use countersign::db::schema::{resources, services};
    let service: i32 = app
        .query(|c| {
            services::table
                .filter(services::name_en.eq("Access request (RD)"))
                .select(services::id)
                .first::<countersign::db::ids::ServiceId>(c)
        })
        .0;
    let orders: i32 = app
        .query(|c| {
            resources::table
                .filter(resources::name.eq("dw.orders"))
                .select(resources::id)
                .first::<countersign::db::ids::ResourceId>(c)
        })
        .0;
    let rd = app.demo_browser("rd.zhao").await;
    let filed = post_as(
        app,
        &rd,
        &format!("/services/{service}"),
        &[
            ("intent", "submit"),
            ("resources", orders.to_string().as_str()),
            ("reason", "Order analysis"),
        ],
    )
    .await;
    filed.path.trim_start_matches("/tickets/").parse().unwrap()
}

#[actix_web::test]
async fn someone_deactivated_behind_countersigns_back_is_no_stand_in_and_their_link_decides_nothing()
 {
    let (app, _inbox, id, stand_ins) = stand_in_mailed().await;
    // Marked inactive straight in the database (a directory sync, a
    // script): the delegation still names them, but the door checks.
    let lin = app.user_id("data.lin");
    app.db
        .write_sync(move |c| {
            diesel::update(users::table.find(lin))
                .set(users::active.eq(false))
                .execute(c)?;
            Ok(())
        })
        .unwrap();

    let page = get(&TestApp::browser(), &stand_ins).await;
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("deactivated")
    );
    assert_eq!(
        press_link(&app, &stand_ins, "approve").await.status,
        StatusCode::GONE
    );
    assert_eq!(decisions(&app, id), 1, "only the RD manager's");
    // The owner's manager sees the step as their own again.
    let owner_manager = app.demo_browser("owner.manager").await;
    let page = get(&owner_manager, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("section.action"), 1);
    assert_eq!(
        page.text("section.action .badge"),
        None,
        "not as a stand-in"
    );
}

#[actix_web::test]
async fn a_leaver_with_no_manager_is_dropped_from_a_step_others_still_hold_when_the_process_skips_missing_people()
 {
    let app = TestApp::spawn().await;
    people(&app, &["first", "second"]);
    let service = deploy(
        &app,
        vec![approval("check", Mode::All, &["first", "second"])],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let second = browser_for(&app, "second").await;
    let page = get(&second, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    post_as(&app, &second, &action, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "running");

    let admin = app.user_id("admin");
    let first = app.user_id("first");
    app.db
        .write_sync(move |c| countersign::store::users::set_active(c, first, false, admin))
        .unwrap();

    // Everyone left on the step has approved: it passes, and the ticket ends.
    assert_eq!(
        assignments(&app, id)[1..],
        [
            row("check", "first", "cancelled", None),
            row("check", "second", "decided", Some("approve")),
        ]
    );
    assert_eq!(events(&app, id, "assignment.skipped"), 1);
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn a_step_nobody_could_take_over_is_handed_over_by_an_administrator_but_not_by_its_applicant()
{
    let app = TestApp::spawn().await;
    // The applicant administers countersign too; the other administrators
    // already hold the step beside the leaver; the leaver has no manager.
    app.create_user("admin", true);
    let applicant = app.create_user("applicant", true);
    app.create_user("other.admin", true);
    app.create_user("leaver", false);
    app.create_user("newcomer", false);
    let mut check = approval("check", Mode::All, &["leaver", "other.admin", "admin"]);
    check.empty_assignees = EmptyPolicy::Admins;
    let service = deploy(&app, vec![check]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let leaver = app.user_id("leaver");
    app.db
        .write_sync(move |c| countersign::store::users::set_active(c, leaver, false, applicant))
        .unwrap();
    assert_eq!(events(&app, id, "assignment.stranded"), 1);

    // Its applicant may not pick who approves it: the page does not offer
    // it, and the door refuses it when asked all the same.
    let own = browser_for(&app, "applicant").await;
    let page = get(&own, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("section.stranded form"), 0);
    let other = browser_for(&app, "other.admin").await;
    let page = get(&other, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.stranded form", "action").unwrap();
    let refused = post_as(
        &app,
        &own,
        &action,
        &[("intent", "transfer"), ("to", "newcomer")],
    )
    .await;
    assert_eq!(
        refused.flash().as_deref(),
        Some("You filed this ticket, so another administrator must hand this step over.")
    );

    assert_eq!(
        page.text("section.stranded p").as_deref(),
        Some(
            "leaver Person can no longer act in countersign, and nobody could take over this \
             step when they left. As an administrator you may hand it over."
        )
    );
    let handed = post_as(
        &app,
        &other,
        &action,
        &[("intent", "transfer"), ("to", "newcomer")],
    )
    .await;
    assert_eq!(handed.flash().as_deref(), Some("Handed over."));
    assert_eq!(
        assignments(&app, id)[1..],
        [
            row("check", "leaver", "transferred", None),
            row("check", "newcomer", "pending", None),
            row("check", "other.admin", "pending", None),
            row("check", "admin", "pending", None),
        ]
    );
}

#[actix_web::test]
async fn a_stand_in_deciding_as_they_are_deactivated_decides_only_if_the_decision_came_first() {
    for _ in 0..5 {
        let (app, _inbox, id, stand_ins) = stand_in_mailed().await;
        let lin = app.user_id("data.lin");
        let admin = app.user_id("admin");
        // The stand-in presses the button as the administrator deactivates them.
        let decide = {
            let (app_url, link) = (app.base.clone(), stand_ins.clone());
            actix_web::rt::spawn(async move {
                let browser = TestApp::browser();
                let token = get(&browser, &format!("{app_url}/sign-in"))
                    .await
                    .attr("meta[name=csrf-token]", "content")
                    .unwrap();
                browser
                    .post(&link)
                    .form(&[("csrf_token", token.as_str()), ("intent", "approve")])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        let db = app.db.clone();
        let deactivate = actix_web::rt::task::spawn_blocking(move || {
            db.write_sync(move |c| countersign::store::users::set_active(c, lin, false, admin))
        });
        decide.await.unwrap();
        deactivate.await.unwrap().unwrap();

        // Decided by the stand-in only if that committed before they left.
        let (decided, deactivated): (Option<i32>, i32) = app.query(move |c| {
            let decided = audit_events::table
                .filter(audit_events::apply_id.eq(id))
                .filter(audit_events::action.eq("assignment.approved"))
                .filter(audit_events::actor_id.eq(lin))
                .select(audit_events::id)
                .first(c)
                .optional()?;
            let deactivated = audit_events::table
                .filter(audit_events::action.eq("user.deactivated"))
                .select(audit_events::id)
                .first(c)?;
            Ok((decided, deactivated))
        });
        if let Some(decided) = decided {
            assert!(decided < deactivated, "decided after being deactivated");
        }
    }
}
