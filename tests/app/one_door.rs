//! The one door: every way of acting on a ticket goes through
//! `tickets::perform`, and the ticket page offers exactly what it accepts.
//! These tests call the store as an API, a chat robot or a timer will.

use countersign::db::ids::{ApplyId, ApproveUserId, UserId};
use countersign::db::schema::{approve_users, audit_events};
use countersign::flow::*;
use countersign::refusal::{Became, Refusal};
use countersign::store::audit::Channel;
use countersign::store::tickets::{self, Act, Action, Decision, Done};
use countersign::store::{StoreError, StoreResult, processes, ticket_views};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{approval, deploy, file, people};
use crate::helpers::*;

/// What the door would answer, in a transaction that is rolled back
/// whatever it answered, so the ticket stays as it was.
fn would(app: &TestApp, act: Act) -> StoreResult<Done> {
    let mut answer = None;
    let _ = app.db.write_sync(|c| {
        answer = Some(tickets::perform(c, act));
        Err::<(), _>(StoreError::NotFound)
    });
    answer.expect("the door answered")
}

/// The assignments the ticket page offers `who` to act on.
fn offered(app: &TestApp, id: ApplyId, who: UserId, admin: bool) -> Vec<ApproveUserId> {
    app.db
        .read_sync(|c| {
            let view = ticket_views::ticket(c, id)?;
            let def = processes::definition(c, view.apply.version_id)?;
            let allowed = tickets::allowed(c, &view, &def, who, admin, countersign::store::now())?;
            Ok(allowed.steps.iter().map(|s| s.assignment).collect())
        })
        .unwrap()
}

fn open_assignments(app: &TestApp, id: ApplyId) -> Vec<ApproveUserId> {
    app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(id))
            .filter(
                approve_users::status
                    .eq("pending")
                    .or(approve_users::status.eq("waiting")),
            )
            .order(approve_users::id)
            .select(approve_users::id)
            .load(c)
    })
}

fn approve(id: ApplyId, actor: UserId, assignment: ApproveUserId, channel: Channel) -> Act {
    Act {
        ticket: id,
        actor,
        channel,
        action: Action::Decide {
            assignment,
            decision: Decision::Approve,
            comment: String::new(),
        },
    }
}

#[actix_web::test]
async fn the_ticket_page_offers_exactly_the_steps_the_door_accepts() {
    let app = TestApp::spawn().await;
    people(&app, &["first", "second", "stand.in", "stranger"]);
    // A sequence: second's turn comes after first's; first is away.
    let service = deploy(
        &app,
        vec![approval("check", Mode::Sequence, &["first", "second"])],
    );
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    app.delegate("first", "stand.in", None);
    let everyone = [
        "applicant",
        "first",
        "second",
        "stand.in",
        "stranger",
        "admin",
    ];
    let mut accepted = 0;
    for name in everyone {
        let who = app.user_id(name);
        let admin = name == "admin";
        let offered = offered(&app, id, who, admin);
        for assignment in open_assignments(&app, id) {
            let answer = would(&app, approve(id, who, assignment, Channel::Api));
            assert_eq!(
                offered.contains(&assignment),
                answer.is_ok(),
                "{name} on {assignment:?}: offered {offered:?}, door said {answer:?}"
            );
            accepted += usize::from(answer.is_ok());
        }
    }
    // first and their stand-in; nobody else yet.
    assert_eq!(accepted, 2);
    assert_eq!(ticket_status(&app, id.0), "running");
}

#[actix_web::test]
async fn a_decision_through_the_door_records_its_channel_and_whom_it_was_for() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stand.in"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    app.delegate("approver", "stand.in", None);
    let assignment = open_assignments(&app, id)[0];
    let (stand_in, approver) = (app.user_id("stand.in"), app.user_id("approver"));
    let done = app
        .db
        .write_sync(|c| tickets::perform(c, approve(id, stand_in, assignment, Channel::Chat)))
        .unwrap();
    assert_eq!(done, Done::Decided);
    let (actor, behalf, channel): (Option<UserId>, Option<UserId>, String) = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(id.0))
            .filter(audit_events::action.eq("assignment.approved"))
            .select((
                audit_events::actor_id,
                audit_events::on_behalf_of_id,
                audit_events::channel,
            ))
            .first(c)
    });
    assert_eq!(
        (actor, behalf, channel.as_str()),
        (Some(stand_in), Some(approver), "chat")
    );
    assert_eq!(ticket_status(&app, id.0), "finished");
}

#[actix_web::test]
async fn a_second_decision_is_refused_with_who_decided_first_whatever_the_channel() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    let assignment = open_assignments(&app, id)[0];
    let approver = app.user_id("approver");
    app.db
        .write_sync(|c| tickets::perform(c, approve(id, approver, assignment, Channel::Web)))
        .unwrap();
    for channel in [Channel::Api, Channel::Batch, Channel::Timer] {
        let refused = would(&app, approve(id, approver, assignment, channel));
        match refused.as_ref().map_err(StoreError::refusal) {
            Err(Some(Refusal::Overtaken(Became::Decided { by, decision, .. }))) => {
                assert_eq!((*by, decision.as_str()), (approver, "approve"));
            }
            other => panic!("{channel:?}: {other:?}"),
        }
    }
}

#[actix_web::test]
async fn a_stranger_learns_nothing_of_a_ticket_from_the_door() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    let assignment = open_assignments(&app, id)[0];
    let stranger = app.user_id("stranger");
    let attempts = [
        approve(id, stranger, assignment, Channel::Api),
        Act {
            ticket: id,
            actor: stranger,
            channel: Channel::Api,
            action: Action::HandOver {
                assignment,
                to: "stranger".into(),
                comment: String::new(),
            },
        },
        // A name nobody has, and a note past the limit, say nothing either.
        Act {
            ticket: id,
            actor: stranger,
            channel: Channel::Api,
            action: Action::HandOver {
                assignment,
                to: "nobody.at.all".into(),
                comment: "x".repeat(5000),
            },
        },
        Act {
            ticket: id,
            actor: stranger,
            channel: Channel::Api,
            action: Action::Withdraw {
                reason: "Mine now".into(),
            },
        },
        Act {
            ticket: id,
            actor: stranger,
            channel: Channel::Api,
            action: Action::Urge,
        },
        // An assignment of another ticket, named with this one.
        approve(ApplyId(id.0 + 1), stranger, assignment, Channel::Api),
    ];
    for act in attempts {
        let what = format!("{:?}", act.action);
        let refused = would(&app, act);
        assert!(
            matches!(
                refused.as_ref().map_err(StoreError::refusal),
                Err(Some(Refusal::NotFound))
            ),
            "{what}: {refused:?}"
        );
    }
    assert_eq!(ticket_status(&app, id.0), "running");
}

#[actix_web::test]
async fn a_deactivated_person_acts_through_no_door() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague"]);
    let service = deploy(
        &app,
        vec![approval("check", Mode::All, &["approver", "colleague"])],
    );
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    let (approver, admin) = (app.user_id("approver"), app.user_id("admin"));
    let applicant = app.user_id("applicant");
    let mine = open_assignments(&app, id)[0];
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, applicant, false, admin))
        .unwrap();
    let comment = Act {
        ticket: id,
        actor: applicant,
        channel: Channel::Api,
        action: Action::Comment {
            text: "Still here".into(),
            files: Vec::new(),
        },
    };
    assert!(matches!(
        would(&app, comment).as_ref().map_err(StoreError::refusal),
        Err(Some(Refusal::NotYours))
    ));
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, approver, false, admin))
        .unwrap();
    let refused = would(&app, approve(id, approver, mine, Channel::EmailLink));
    assert!(refused.is_err(), "{refused:?}");
}

#[actix_web::test]
async fn a_corrected_form_that_is_still_wrong_comes_back_as_it_was_typed() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop"), ("note", "first")]).await;
    let approver = browser_for(&app, "approver").await;
    act_first(
        &app,
        &approver,
        id,
        &[("intent", "send_back"), ("comment", "Which model?")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "sent_back");
    let applicant = browser_for(&app, "applicant").await;
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/resubmit"),
        &[("what", ""), ("note", "a newer note")],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("what").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.input_value("#resubmit-form", "note").as_deref(),
        Some("a newer note")
    );
    assert_eq!(ticket_status(&app, id), "sent_back");
}

#[actix_web::test]
async fn after_reminding_the_page_says_when_the_applicant_may_remind_again() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let applicant = browser_for(&app, "applicant").await;
    let path = format!("/tickets/{id}");
    let before = get(&applicant, &app.url(&path)).await;
    assert_eq!(before.count("#urge"), 1);
    let urged = post_as(&app, &applicant, &path, &[("intent", "urge")]).await;
    assert_eq!(
        urged.flash().as_deref(),
        Some("The people it waits for were reminded.")
    );
    assert_eq!(urged.count("#urge"), 0);
    let note = urged.text("#urged-note").unwrap();
    assert!(note.starts_with("Reminded at "), "{note}");
    // An hour on, the button is back.
    app.db.clock().advance(chrono::Duration::minutes(61));
    let later = get(&applicant, &app.url(&path)).await;
    assert_eq!(later.count("#urge"), 1);
    assert_eq!(later.count("#urged-note"), 0);
}

#[actix_web::test]
async fn a_ticket_row_that_does_not_parse_is_an_error_never_an_empty_form() {
    use countersign::db::schema::applies;
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = ApplyId(file(&app, service, &[("what", "A laptop")]).await);
    let read = |app: &TestApp| {
        app.db
            .read_sync(|c| ticket_views::ticket(c, id).map(|v| v.apply))
    };
    let ticket = read(&app).expect("a ticket as written reads");
    assert_eq!(
        ticket.form.get("what"),
        Some(&serde_json::json!("A laptop"))
    );
    for (column, text) in [("form", "not json"), ("status", "paused")] {
        app.db
            .write_sync(|c| {
                let target = applies::table.find(id);
                match column {
                    "form" => diesel::update(target)
                        .set(applies::form.eq(text))
                        .execute(c)?,
                    _ => diesel::update(target)
                        .set(applies::status.eq(text))
                        .execute(c)?,
                };
                Ok(())
            })
            .unwrap();
        assert!(
            read(&app).is_err(),
            "a {column} of {text:?} read as a ticket"
        );
        app.db
            .write_sync(|c| {
                diesel::update(applies::table.find(id))
                    .set((
                        applies::form.eq(r#"{"what":"A laptop"}"#),
                        applies::status.eq("running"),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn every_ticket_event_has_a_timeline_line_in_both_languages() {
    use countersign::db::states::TicketEvent;
    use countersign::i18n::Lang;
    for event in TicketEvent::ALL {
        let key = format!("timeline.{}", event.as_str().replace('.', "_"));
        for lang in [Lang::En, Lang::ZhCn] {
            assert_ne!(lang.t(&key), key, "{lang:?} has no line for {event}");
        }
    }
}

/// Posts `fields` from `tab` with the form token it was given before, as
/// a browser tab left open does.
async fn post_from_tab(
    app: &TestApp,
    tab: &reqwest::Client,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let mut body = vec![("csrf_token", token)];
    body.extend_from_slice(fields);
    Page::from(tab.post(app.url(path)).form(&body).send().await.unwrap()).await
}

#[actix_web::test]
async fn a_tab_whose_session_ended_elsewhere_decides_and_files_nothing_and_is_sent_to_sign_in() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    // The approver's and the applicant's tabs, open on the ticket and on
    // the service's form.
    let (approver_tab, applicant_tab) = (
        browser_for(&app, "approver").await,
        browser_for(&app, "applicant").await,
    );
    let page = get(&approver_tab, &app.url(&format!("/tickets/{id}"))).await;
    let action = page
        .attr("section.action form", "action")
        .expect("the approver is offered the step");
    let approver_token = csrf_token(&app, &approver_tab).await;
    let applicant_token = csrf_token(&app, &applicant_tab).await;
    // Both sign out on another browser: every session of theirs ends.
    for who in ["approver", "applicant"] {
        let elsewhere = browser_for(&app, who).await;
        post_as(&app, &elsewhere, "/sign-out", &[]).await;
    }

    let approved = post_from_tab(
        &app,
        &approver_tab,
        &approver_token,
        &action,
        &[("intent", "approve")],
    )
    .await;
    assert_eq!(approved.path, format!("/sign-in?next={action}"));
    assert_eq!(ticket_status(&app, id), "running");
    assert_eq!(
        open_assignments(&app, ApplyId(id)).len(),
        1,
        "still waiting"
    );

    let tickets_before = app.query(|c| {
        countersign::db::schema::applies::table
            .count()
            .get_result::<i64>(c)
    });
    let filed = post_from_tab(
        &app,
        &applicant_tab,
        &applicant_token,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "Another laptop")],
    )
    .await;
    assert_eq!(filed.path, format!("/sign-in?next=/services/{service}"));
    let tickets_after = app.query(|c| {
        countersign::db::schema::applies::table
            .count()
            .get_result::<i64>(c)
    });
    assert_eq!(tickets_after, tickets_before, "nothing filed");
}
