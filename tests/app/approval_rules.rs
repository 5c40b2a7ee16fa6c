//! Approval rules as tickets run: a sequence asks one person at a time,
//! de-duplication counts only this round's approvals, the applicant never
//! decides their own ticket through a stand-in or a hand-over, and a
//! delegation for one kind of process shows only that kind.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{applies, approve_users, approves, outbox, users};
use countersign::flow::form::Values;
use countersign::flow::*;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// Deploys a request process with a required "what" and an optional
/// "note" field and `nodes` after its submit node; returns its service.
pub(crate) fn deploy(app: &TestApp, nodes: Vec<NodeDef>) -> i32 {
    let mut def = ProcessDef::new(LocalText::new("Purchase", "采购"), ProcessKind::Request);
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
    });
    def.nodes[0].fields.push(FieldDef::new(
        "note",
        LocalText::new("Note", "备注"),
        FieldKind::Text,
    ));
    def.nodes.extend(nodes);
    app.deploy_service(&def, "Purchase").0
}

pub(crate) fn approval(key: &str, mode: Mode, people: &[&str]) -> NodeDef {
    let mut node = NodeDef::new(key, LocalText::new(key, ""), NodeKind::Approval);
    node.mode = mode;
    node.handlers = vec![HandlerRule::Users {
        usernames: people.iter().map(|p| p.to_string()).collect(),
    }];
    node
}

/// Files a ticket as "applicant"; returns its id.
pub(crate) async fn file(app: &TestApp, service: i32, fields: &[(&str, &str)]) -> i32 {
    file_as(app, "applicant", service, fields).await
}

/// Files a ticket as `username`; returns its id.
pub(crate) async fn file_as(
    app: &TestApp,
    username: &str,
    service: i32,
    fields: &[(&str, &str)],
) -> i32 {
    let applicant = browser_for(app, username).await;
    let mut form = vec![("intent", "submit")];
    form.extend_from_slice(fields);
    let page = post_as(app, &applicant, &format!("/services/{service}"), &form).await;
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path))
}

/// Every assignment of a ticket: (node, person, status, decision), in
/// node and then planned order.
pub(crate) fn assignments(app: &TestApp, id: i32) -> Vec<(String, String, String, Option<String>)> {
    app.query(move |c| {
        approve_users::table
            .inner_join(approves::table)
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .order((
                approves::position,
                approve_users::position,
                approve_users::id,
            ))
            .select((
                approves::node_key,
                users::username,
                approve_users::status,
                approve_users::decision,
            ))
            .load(c)
    })
}

/// The assignments of one node of a ticket, as `assignments` lists them.
pub(crate) fn on_node(
    app: &TestApp,
    id: i32,
    node: &str,
) -> Vec<(String, String, String, Option<String>)> {
    assignments(app, id)
        .into_iter()
        .filter(|(n, ..)| n == node)
        .collect()
}

/// How many "waiting" mails went to `username` about ticket `id`.
pub(crate) fn waiting_mails(app: &TestApp, id: i32, username: &str) -> i64 {
    let to = app.user_id(username);
    app.query(move |c| {
        outbox::table
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::to_user_id.eq(to))
            .filter(outbox::kind.eq("waiting"))
            .count()
            .get_result(c)
    })
}

pub(crate) fn people(app: &TestApp, names: &[&str]) {
    app.create_user("admin", true);
    app.create_user("applicant", false);
    for name in names {
        app.create_user(name, false);
    }
}

pub(crate) fn row(
    node: &str,
    who: &str,
    status: &str,
    decision: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        node.into(),
        who.into(),
        status.into(),
        decision.map(str::to_string),
    )
}

#[actix_web::test]
async fn a_sequence_asks_one_person_at_a_time_in_their_order() {
    let app = TestApp::spawn().await;
    people(&app, &["first", "second", "third"]);
    let service = deploy(
        &app,
        vec![approval(
            "line",
            Mode::Sequence,
            &["first", "second", "third"],
        )],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    assert_eq!(
        on_node(&app, id, "line"),
        vec![
            row("line", "first", "pending", None),
            row("line", "second", "waiting", None),
            row("line", "third", "waiting", None),
        ]
    );
    let second = browser_for(&app, "second").await;
    assert_eq!(
        get(&second, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );
    let page = get(&second, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the people in line may follow it"
    );
    assert_eq!(
        page.count("section.action"),
        0,
        "but not act before their turn"
    );
    assert_eq!(waiting_mails(&app, id, "first"), 1);
    assert_eq!(waiting_mails(&app, id, "second"), 0);

    let first = browser_for(&app, "first").await;
    assert_eq!(
        act_first(&app, &first, id, &[("intent", "approve")])
            .await
            .flash()
            .as_deref(),
        Some("Approved.")
    );
    assert_eq!(
        on_node(&app, id, "line"),
        vec![
            row("line", "first", "decided", Some("approve")),
            row("line", "second", "pending", None),
            row("line", "third", "waiting", None),
        ]
    );
    assert_eq!(waiting_mails(&app, id, "second"), 1, "their turn is mailed");
    assert_eq!(waiting_mails(&app, id, "third"), 0);
    assert_eq!(
        get(&second, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        1
    );

    act_first(&app, &second, id, &[("intent", "approve")]).await;
    let third = browser_for(&app, "third").await;
    act_first(&app, &third, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn a_sequence_counts_an_automatic_approval_when_that_persons_turn_comes() {
    let app = TestApp::spawn().await;
    people(&app, &["first", "second", "third"]);
    let service = deploy(
        &app,
        vec![
            approval("check", Mode::Any, &["second"]),
            approval("line", Mode::Sequence, &["first", "second", "third"]),
        ],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let second = browser_for(&app, "second").await;
    act_first(&app, &second, id, &[("intent", "approve")]).await;
    assert_eq!(
        on_node(&app, id, "line"),
        vec![
            row("line", "first", "pending", None),
            row("line", "second", "decided", Some("auto")),
            row("line", "third", "waiting", None),
        ]
    );

    let first = browser_for(&app, "first").await;
    act_first(&app, &first, id, &[("intent", "approve")]).await;
    assert_eq!(
        on_node(&app, id, "line")[2],
        row("line", "third", "pending", None),
        "the automatic approval counted in its place, so the third is asked"
    );
    let third = browser_for(&app, "third").await;
    act_first(&app, &third, id, &[("intent", "approve")]).await;
    assert_eq!(ticket_status(&app, id), "finished");
}

#[actix_web::test]
async fn approvals_before_a_send_back_do_not_approve_the_corrected_form() {
    let app = TestApp::spawn().await;
    people(&app, &["lead", "vp"]);
    let service = deploy(
        &app,
        vec![
            approval("check", Mode::Any, &["lead"]),
            approval("sign", Mode::Any, &["vp"]),
            approval("confirm", Mode::Any, &["lead"]),
        ],
    );
    let id = file(&app, service, &[("what", "A laptop"), ("note", "Urgent")]).await;
    let lead = browser_for(&app, "lead").await;
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    let vp = browser_for(&app, "vp").await;
    let page = get(&vp, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let page = post_as(
        &app,
        &vp,
        &action,
        &[("intent", "send_back"), ("comment", "Which laptop?")],
    )
    .await;
    assert_eq!(page.flash().as_deref(), Some("Sent back to the applicant."));

    let applicant = browser_for(&app, "applicant").await;
    let page = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/resubmit"),
        &[("what", "A 14-inch laptop"), ("note", "")],
    )
    .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Resubmitted; the flow starts again.")
    );
    let form: Values = app
        .query(move |c| {
            applies::table
                .find(ApplyId(id))
                .select(applies::form)
                .first::<String>(c)
        })
        .parse::<serde_json::Value>()
        .map(|v| serde_json::from_value(v).unwrap())
        .unwrap();
    assert_eq!(
        form.get("what").and_then(|v| v.as_str()),
        Some("A 14-inch laptop")
    );
    assert!(
        !form.contains_key("note"),
        "the cleared note is gone: {form:?}"
    );
    let timeline = page.texts("#timeline li");
    assert!(
        timeline.iter().any(|l| l.contains("resubmitted the ticket")
            && l.contains("What: “A laptop” → “A 14-inch laptop”")
            && l.contains("Note: “Urgent” → (empty)")),
        "{timeline:?}"
    );

    // The new round asks the lead again: their approval was of the old form.
    let rows = assignments(&app, id);
    let check: Vec<_> = rows.iter().filter(|(n, ..)| n == "check").collect();
    assert_eq!(check.len(), 2);
    assert_eq!(check[1], &row("check", "lead", "pending", None));
    act_first(&app, &lead, id, &[("intent", "approve")]).await;
    act_first(&app, &vp, id, &[("intent", "approve")]).await;
    // At "confirm" the lead's approval of this round counts.
    let confirm = on_node(&app, id, "confirm");
    assert_eq!(
        confirm.last(),
        Some(&row("confirm", "lead", "decided", Some("auto")))
    );
    assert_eq!(ticket_status(&app, id), "finished");
}

fn delegate(app: &TestApp, from: &str, to: &str, kind: Option<ProcessKind>) {
    app.delegate(from, to, kind)
}

fn guarded(key: &str, people: &[&str]) -> NodeDef {
    let mut node = approval(key, Mode::Any, people);
    node.self_approval = SelfPolicy::Block;
    node
}

#[actix_web::test]
async fn an_applicant_standing_in_for_an_approver_cannot_approve_their_own_ticket() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague"]);
    let service = deploy(&app, vec![guarded("check", &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let theirs = file_as(&app, "colleague", service, &[("what", "A desk")]).await;
    // The approver goes away after the tickets were filed, leaving them to the applicant.
    delegate(&app, "approver", "applicant", None);
    let applicant = browser_for(&app, "applicant").await;
    // The inbox and its count show the colleague's ticket, not their own.
    let inbox = get(&applicant, &app.url("/inbox")).await;
    assert_eq!(
        inbox.attrs("table.inbox tbody tr td a", "href"),
        [format!("/tickets/{theirs}")]
    );
    assert_eq!(inbox.text("#inbox-count").as_deref(), Some("1"));
    let page = get(&applicant, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.count("section.action"), 0);
    let assignment = pending_assignment(&app, id);
    let refused = post_as(
        &app,
        &applicant,
        &format!("/tickets/{id}/assignments/{assignment}"),
        &[("intent", "approve")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(
        refused.flash().as_deref(),
        Some("You filed this ticket, so you cannot approve it for someone else.")
    );
    assert_eq!(
        assignments(&app, id)[1],
        row("check", "approver", "pending", None)
    );
    assert_eq!(ticket_status(&app, id), "running");
}

#[actix_web::test]
async fn an_approval_cannot_be_handed_over_to_the_applicant_even_where_self_approval_is_allowed() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague"]);
    let mut check = approval("check", Mode::Any, &["approver"]);
    check.self_approval = SelfPolicy::Allow;
    let service = deploy(&app, vec![check]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let approver = browser_for(&app, "approver").await;
    let page = get(&approver, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let refused = post_as(
        &app,
        &approver,
        &action,
        &[("intent", "transfer"), ("to", "applicant"), ("comment", "")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.form_error().as_deref(),
        Some("The applicant cannot approve their own ticket; choose someone else.")
    );
    assert_eq!(
        assignments(&app, id)[1],
        row("check", "approver", "pending", None)
    );

    let handed = post_as(
        &app,
        &approver,
        &action,
        &[("intent", "transfer"), ("to", "colleague"), ("comment", "")],
    )
    .await;
    assert_eq!(handed.status, StatusCode::OK);
    let late = post_as(&app, &approver, &action, &[("intent", "approve")]).await;
    assert_eq!(
        late.flash().as_deref(),
        Some("This was handed over to someone else; nothing was changed.")
    );
}

#[actix_web::test]
async fn a_stand_in_for_one_kind_of_process_does_not_see_the_other_kinds() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "standin"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    delegate(&app, "approver", "standin", Some(ProcessKind::Access));
    let standin = browser_for(&app, "standin").await;
    assert_eq!(
        get(&standin, &app.url(&format!("/tickets/{id}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&standin, &app.url("/inbox"))
            .await
            .count("table.inbox tbody tr"),
        0
    );

    delegate(&app, "approver", "standin", Some(ProcessKind::Request));
    let page = get(&standin, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.count("section.action"), 1);
}

#[actix_web::test]
async fn a_batch_decides_each_chosen_assignment_and_refuses_anyone_elses() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "other"]);
    let mine = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let first = file(&app, mine, &[("what", "A laptop")]).await;
    let second = file(&app, mine, &[("what", "A screen")]).await;
    let theirs = {
        let id = file(&app, mine, &[("what", "A desk")]).await;
        // Handed to someone else before the batch.
        let approver = browser_for(&app, "approver").await;
        let page = get(&approver, &app.url(&format!("/tickets/{id}"))).await;
        let action = page.attr("section.action form", "action").unwrap();
        post_as(
            &app,
            &approver,
            &action,
            &[("intent", "transfer"), ("to", "other")],
        )
        .await;
        id
    };
    let approver = browser_for(&app, "approver").await;
    let inbox = get(&approver, &app.url("/inbox")).await;
    let mut chosen = inbox.attrs("table.inbox tbody tr", "data-assignment");
    assert_eq!(chosen.len(), 2);
    let other_assignment = pending_assignment(&app, theirs);
    chosen.push(other_assignment.to_string());
    let mut form = vec![("intent", "approve"), ("comment", "Fine by me")];
    form.extend(chosen.iter().map(|a| ("assignment", a.as_str())));
    let page = post_as(&app, &approver, "/inbox", &form).await;

    // Someone else's item is not named: its ticket is none of theirs.
    assert_eq!(
        page.flash().as_deref(),
        Some("2 approved. 1 could not be decided: This is not yours to decide.")
    );
    assert_eq!(ticket_status(&app, first), "finished");
    assert_eq!(ticket_status(&app, second), "finished");
    assert_eq!(ticket_status(&app, theirs), "running");
    let channels: Vec<(Option<String>, String)> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq_any([ApplyId(first), ApplyId(second)]))
            .filter(approve_users::decision.eq("approve"))
            .select((approve_users::channel, approve_users::comment))
            .load(c)
    });
    assert_eq!(
        channels,
        vec![(Some("batch".into()), "Fine by me".into()); 2]
    );
    assert_eq!(
        assignments(&app, theirs).last(),
        Some(&row("check", "other", "pending", None))
    );
}

#[actix_web::test]
async fn people_may_not_act_on_what_is_not_theirs_and_are_told_so() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "colleague", "outsider"]);
    let mut check = approval("check", Mode::All, &["approver", "colleague"]);
    check.on_reject = OnReject::SendBack;
    let service = deploy(&app, vec![check]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let approver = browser_for(&app, "approver").await;
    let colleague = browser_for(&app, "colleague").await;
    let theirs = get(&colleague, &app.url(&format!("/tickets/{id}")))
        .await
        .attr("section.action form", "action")
        .unwrap();

    // A co-assignee's own assignment is not theirs to decide or hand over.
    let refused = post_as(&app, &approver, &theirs, &[("intent", "approve")]).await;
    assert_eq!(
        refused.flash().as_deref(),
        Some("This is not yours to decide.")
    );
    let refused = post_as(
        &app,
        &approver,
        &theirs,
        &[("intent", "transfer"), ("to", "outsider")],
    )
    .await;
    assert_eq!(
        refused.flash().as_deref(),
        Some("This is not yours to decide.")
    );
    assert_eq!(
        assignments(&app, id)[2],
        row("check", "colleague", "pending", None)
    );

    // Only the applicant urges, withdraws and resubmits.
    for intent in ["urge", "withdraw"] {
        let refused = post_as(
            &app,
            &approver,
            &format!("/tickets/{id}"),
            &[("intent", intent)],
        )
        .await;
        assert_eq!(
            refused.flash().as_deref(),
            Some("Only the applicant can do this."),
            "{intent}"
        );
    }
    let page = get(&colleague, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    post_as(
        &app,
        &colleague,
        &action,
        &[("intent", "send_back"), ("comment", "Which one?")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "sent_back");
    let refused = post_as(
        &app,
        &approver,
        &format!("/tickets/{id}/resubmit"),
        &[("what", "Something else")],
    )
    .await;
    assert_eq!(
        refused.flash().as_deref(),
        Some("Only the applicant can do this.")
    );
    assert_eq!(ticket_status(&app, id), "sent_back");

    // Someone who is not on the ticket does not even see it.
    let outsider = browser_for(&app, "outsider").await;
    for path in [format!("/tickets/{id}"), theirs.clone()] {
        let res = post_as(&app, &outsider, &path, &[("intent", "urge")]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[actix_web::test]
async fn a_reject_in_a_sequence_mails_its_reason_and_a_turn_is_not_handed_to_someone_later_in_line()
{
    let app = TestApp::spawn().await;
    people(&app, &["first", "second", "third"]);
    let service = deploy(
        &app,
        vec![
            approval("check", Mode::Any, &["third"]),
            approval("line", Mode::Sequence, &["first", "second", "third"]),
        ],
    );
    let id = file(&app, service, &[("what", "A laptop")]).await;
    act_first(
        &app,
        &browser_for(&app, "third").await,
        id,
        &[("intent", "approve")],
    )
    .await;
    let first = browser_for(&app, "first").await;
    let page = get(&first, &app.url(&format!("/tickets/{id}"))).await;
    let action = page.attr("section.action form", "action").unwrap();
    let refused = post_as(
        &app,
        &first,
        &action,
        &[("intent", "transfer"), ("to", "second")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.form_error().as_deref(),
        Some("This person already handles this step.")
    );

    post_as(
        &app,
        &first,
        &action,
        &[("intent", "reject"), ("comment", "Not this quarter")],
    )
    .await;
    assert_eq!(ticket_status(&app, id), "rejected");
    let applicant = app.user_id("applicant");
    // As the mail worker will compose it.
    let told: Vec<String> = app
        .db
        .read_sync(move |c| {
            let rows: Vec<countersign::db::models::OutboxMessage> = outbox::table
                .filter(outbox::apply_id.eq(ApplyId(id)))
                .filter(outbox::to_user_id.eq(applicant))
                .filter(outbox::kind.eq("rejected"))
                .select(countersign::db::models::OutboxMessage::as_select())
                .load(c)?;
            rows.iter()
                .map(|m| countersign::notify::notices::compose(c, m).map(|w| w.text))
                .collect()
        })
        .unwrap();
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("Not this quarter"), "{}", told[0]);
}

#[actix_web::test]
async fn a_leavers_approval_on_their_managers_own_ticket_goes_one_manager_higher() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let top = app.create_user("top", false);
    let manager = app.create_user_with("applicant", false, Some(top));
    let leaver = app.create_user_with("leaver", false, Some(manager));
    let service = deploy(&app, vec![guarded("check", &["leaver"])]);
    let id = file(&app, service, &[("what", "A laptop")]).await;
    let admin = app.user_id("admin");
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, leaver, false, admin))
        .unwrap();
    let (who, status) = app.query(move |c| {
        approve_users::table
            .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::status.ne("decided"))
            .filter(approve_users::status.ne("transferred"))
            .select((users::username, approve_users::status))
            .first::<(String, String)>(c)
    });
    assert_eq!((who.as_str(), status.as_str()), ("top", "pending"));
}
