//! Mail through a real SMTP listener, and one-click links that scanners
//! cannot trigger.

use countersign::db::ids::ApplyId;
use countersign::db::schema::{approve_users, audit_events, outbox};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::smtp::{self, link};

/// Files the tutorial's change as ops.wang; returns the ticket id.
pub(crate) async fn file_change(app: &TestApp) -> i32 {
    let service: i32 = app
        .query(|c| {
            countersign::db::schema::services::table
                .filter(countersign::db::schema::services::name_en.eq("Environment change"))
                .select(countersign::db::schema::services::id)
                .first::<countersign::db::ids::ServiceId>(c)
        })
        .0;
    let payments: i32 = app
        .query(|c| {
            countersign::db::schema::businesses::table
                .filter(countersign::db::schema::businesses::name.eq("Payments"))
                .select(countersign::db::schema::businesses::id)
                .first::<countersign::db::ids::BusinessId>(c)
        })
        .0;
    let ops = app.demo_browser("ops.wang").await;
    let page = post_as(
        app,
        &ops,
        &format!("/services/{service}"),
        &[
            ("intent", "submit"),
            ("business_id", payments.to_string().as_str()),
            ("reason", "Servers out of warranty"),
            ("scope", "infrastructure"),
            ("window.start", "2026-11-28T01:00"),
            ("window.end", "2026-11-28T03:00"),
            ("rollback_plan", "Switch back"),
        ],
    )
    .await;
    page.path.trim_start_matches("/tickets/").parse().unwrap()
}

#[actix_web::test]
async fn the_ops_lead_approves_the_change_from_the_email_link_and_scanners_change_nothing() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let id = file_change(&app).await;

    let mails = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await;
    assert_eq!(mails.len(), 1, "the ops lead is mailed");
    let mail = &mails[0];
    assert!(mail.contains("Waiting for you: Ops lead review"), "{mail}");
    let approve = link(mail, "action=approve").expect("an approve link");
    assert!(link(mail, "action=reject").is_some());
    let token = approve
        .split("/email/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert!(token.len() >= 32, "at least 128 bits");
    let stored: Option<String> = app.query(|c| {
        approve_users::table
            .filter(approve_users::email_token_hash.is_not_null())
            .select(approve_users::email_token_hash)
            .first(c)
    });
    assert_ne!(
        stored.as_deref(),
        Some(token.as_str()),
        "only a hash is stored"
    );

    // A mail scanner opens the link (GET and HEAD): nothing changes.
    let scanner = TestApp::browser();
    let res = scanner.head(&approve).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = get(&scanner, &approve).await;
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("valid")
    );
    assert_eq!(page.text("#link-approver").as_deref(), Some("Zhang Lei"));
    assert_eq!(page.count("script:not([src])"), 0, "no inline script");
    assert_eq!(ticket_status(&app, id), "running");
    let pending: i64 = app.query(|c| {
        approve_users::table
            .filter(approve_users::status.eq("pending"))
            .count()
            .get_result(c)
    });
    assert_eq!(pending, 1);

    // The lead presses Approve on that page (no sign-in needed).
    let lead = TestApp::browser();
    get(&lead, &approve).await;
    let token_field = csrf_from(&lead, &approve).await;
    let res = lead
        .post(app.url(&format!("/email/{token}")))
        .form(&[
            ("csrf_token", token_field.as_str()),
            ("intent", "approve"),
            ("comment", "Approved from mail"),
        ])
        .send()
        .await
        .unwrap();
    let done = Page::from(res).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(
        done.text("#link-message").as_deref(),
        Some("Approved. Thank you — the ticket moves on.")
    );
    let channel: (String, String) = app.query(|c| {
        audit_events::table
            .filter(audit_events::action.eq("assignment.approved"))
            .select((audit_events::channel, audit_events::detail))
            .first(c)
    });
    assert_eq!(channel.0, "email_link");

    // The same link again is refused with a page that says why.
    let again = lead
        .post(app.url(&format!("/email/{token}")))
        .form(&[("csrf_token", token_field.as_str()), ("intent", "approve")])
        .send()
        .await
        .unwrap();
    let again = Page::from(again).await;
    assert_ne!(again.status, StatusCode::OK);
    assert_ne!(
        again.attr("#email-link", "data-state").as_deref(),
        Some("valid")
    );

    // The next step's mail goes to the applicant (the change summary), and the timeline shows the channel.
    let next = inbox
        .wait_for(1, |m| {
            m.contains("To: ops.wang@example.com") && m.contains("Change and summary")
        })
        .await;
    assert_eq!(next.len(), 1);
    let ops = app.demo_browser("ops.wang").await;
    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;
    assert!(
        page.texts("#timeline li")
            .iter()
            .any(|l| l.contains("Zhang Lei approved Ops lead review · from the email link"))
    );
}

/// The CSRF token the link page gave this browser.
async fn csrf_from(browser: &reqwest::Client, url: &str) -> String {
    get(browser, url)
        .await
        .attr("#link-form input[name=csrf_token]", "value")
        .unwrap()
}

#[actix_web::test]
async fn altered_expired_and_withdrawn_links_explain_themselves() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let id = file_change(&app).await;
    let mail = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await
        .remove(0);
    let approve = link(&mail, "action=approve").unwrap();
    let browser = TestApp::browser();

    let altered = approve.replacen("/email/", "/email/00", 1);
    let page = get(&browser, &altered).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("unknown")
    );

    app.db
        .write_sync(|c| {
            diesel::update(
                approve_users::table.filter(approve_users::email_token_hash.is_not_null()),
            )
            .set(
                approve_users::email_token_expires_at.eq(countersign::db::stamp::At(
                    countersign::store::now() - chrono::Duration::hours(1),
                )),
            )
            .execute(c)?;
            Ok(())
        })
        .unwrap();
    let page = get(&browser, &approve).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(
        page.text("#link-message").as_deref(),
        Some("This link has expired. Open the ticket in countersign to decide.")
    );

    app.db
        .write_sync(|c| {
            diesel::update(
                approve_users::table.filter(approve_users::email_token_hash.is_not_null()),
            )
            .set(
                approve_users::email_token_expires_at.eq(countersign::db::stamp::At(
                    countersign::store::now() + chrono::Duration::hours(1),
                )),
            )
            .execute(c)?;
            Ok(())
        })
        .unwrap();
    let ops = app.demo_browser("ops.wang").await;
    post_as(
        &app,
        &ops,
        &format!("/tickets/{id}"),
        &[("intent", "withdraw"), ("comment", "Not needed any more")],
    )
    .await;
    let page = get(&browser, &approve).await;
    assert_eq!(
        page.text("#link-message").as_deref(),
        Some("The applicant withdrew this ticket; nothing more is needed from you.")
    );
    assert_eq!(ticket_status(&app, id), "withdrawn");
}

#[actix_web::test]
async fn mail_waits_while_smtp_is_down_and_arrives_once_when_it_is_back_even_after_a_restart() {
    let (listener, port) = free_port();
    drop(listener); // nothing listens yet
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    file_change(&app).await;
    // The message stays in the outbox and is tried again.
    for _ in 0..100 {
        let tried: i32 = app
            .query(|c| {
                outbox::table
                    .select(diesel::dsl::max(outbox::attempts))
                    .first::<Option<i32>>(c)
            })
            .unwrap_or(0);
        if tried >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (pending, attempts): (i64, Option<i32>) = app.query(|c| {
        Ok((
            outbox::table
                .filter(outbox::status.eq("pending"))
                .count()
                .get_result(c)?,
            outbox::table
                .select(diesel::dsl::max(outbox::attempts))
                .first(c)?,
        ))
    });
    assert!(pending >= 1);
    assert!(attempts.unwrap_or(0) >= 1, "a failed attempt is recorded");
    let admin = app.demo_browser("admin").await;
    let page = get(&admin, &app.url("/admin/outbox")).await;
    assert_eq!(
        page.attr("table.outbox tbody tr", "data-status").as_deref(),
        Some("pending")
    );
    assert!(
        page.text("table.outbox tbody td:nth-child(3)")
            .unwrap()
            .contains("Pending")
    );

    // SMTP comes back; a restarted instance (same database) works the outbox too.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let inbox = smtp::serve(listener);
    app.second_instance(smtp_mail(port)).await;
    // The admin sends it now rather than waiting for the backoff.
    let page = get(&admin, &app.url("/admin/outbox")).await;
    for action in page.attrs("table.outbox form", "action") {
        let page = post_as(&app, &admin, &action, &[]).await;
        assert_eq!(
            page.flash().as_deref(),
            Some("The message will be sent again now.")
        );
    }
    let mails = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await;
    assert_eq!(mails.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        inbox
            .all()
            .iter()
            .filter(|m| m.contains("To: ops.lead@example.com"))
            .count(),
        1,
        "sent once"
    );
    let unsent: i64 = app.query(|c| {
        outbox::table
            .filter(outbox::status.ne("sent"))
            .count()
            .get_result(c)
    });
    assert_eq!(unsent, 0);
}

#[actix_web::test]
async fn mail_is_in_the_recipients_language() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    app.db
        .write_sync(|c| {
            let lead = countersign::store::users::find_by_username(c, "ops.lead")?.unwrap();
            countersign::store::users::set_language(c, lead.id, countersign::i18n::Lang::ZhCn)
        })
        .unwrap();
    file_change(&app).await;

    let mail = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await
        .remove(0);
    let subject = mail
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap()
        .to_string();
    assert!(
        subject.contains("=?utf-8?"),
        "a Chinese subject is encoded: {subject}"
    );
    assert!(
        mail.contains("待您处理")
            || mail.contains("5b6F5oKo5aSE55CG")
            || mail.contains("=E5=BE=85"),
        "the body is Chinese"
    );
}

#[actix_web::test]
async fn during_a_delegation_the_mail_goes_to_the_stand_in_who_approves_for_the_absent_person() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let (lead, ops_li) = (app.user_id("ops.lead"), app.user_id("ops.li"));
    let (id, mail) = change_mailed_to_stand_in(&app, &inbox).await;
    assert!(mail.contains("(for Zhang Lei, who is away)"), "{mail}");
    assert!(
        inbox
            .all()
            .iter()
            .all(|m| !m.contains("To: ops.lead@example.com"))
    );
    let approve = link(&mail, "action=approve").unwrap();
    let browser = TestApp::browser();
    let confirm = get(&browser, &approve).await;
    assert_eq!(
        confirm.text("#link-approver").as_deref(),
        Some("Li Na for Zhang Lei")
    );
    let token = confirm
        .attr("#link-form input[name=csrf_token]", "value")
        .unwrap();
    let page = post_as_raw(&app, &browser, &link_path(&approve), &token).await;
    assert_eq!(
        page.text("#link-message").as_deref(),
        Some("Approved. Thank you — the ticket moves on.")
    );
    assert_eq!(ticket_status(&app, id), "running");
    let decided: (
        countersign::db::ids::UserId,
        Option<countersign::db::ids::UserId>,
        Option<String>,
    ) = app.query(|c| {
        approve_users::table
            .filter(approve_users::decision.eq("approve"))
            .select((
                approve_users::user_id,
                approve_users::acted_by,
                approve_users::channel,
            ))
            .first(c)
    });
    assert_eq!(
        decided,
        (lead, Some(ops_li), Some("email_link".to_string())),
        "recorded as the stand-in the link was mailed to, for the assignee"
    );
    let ticket = get(
        &app.demo_browser("ops.wang").await,
        &app.url(&format!("/tickets/{id}")),
    )
    .await;
    let timeline = ticket.texts("#timeline li");
    assert!(
        timeline.iter().any(
            |l| l.contains("Li Na for Zhang Lei approved Ops lead review")
                && l.contains("from the email link")
        ),
        "{timeline:?}"
    );
}

/// With the ops lead away and ops.li standing in, files the tutorial's
/// change; returns the ticket and the mail that asks ops.li to review it.
async fn change_mailed_to_stand_in(app: &TestApp, inbox: &smtp::Inbox) -> (i32, String) {
    app.delegate("ops.lead", "ops.li", None);
    let id = file_change(app).await;
    let mail = inbox
        .wait_for(1, |m| {
            m.contains("To: ops.li@example.com") && m.contains("Ops lead review")
        })
        .await
        .remove(0);
    (id, mail)
}

/// The path of a link in a mail, without its query.
fn link_path(url: &str) -> String {
    let path = url
        .split("http://")
        .nth(1)
        .and_then(|s| s.find('/').map(|i| s[i..].to_string()))
        .unwrap();
    path.split('?').next().unwrap().to_string()
}

#[actix_web::test]
async fn a_stand_ins_link_stops_working_once_the_delegation_ends() {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let lead = app.user_id("ops.lead");
    let (id, mail) = change_mailed_to_stand_in(&app, &inbox).await;
    let approve = link(&mail, "action=approve").unwrap();
    let browser = TestApp::browser();
    let token = csrf_from(&browser, &approve).await;
    // Zhang Lei is back early: the delegation ends now.
    app.query(move |c| {
        use countersign::db::schema::delegations as d;
        diesel::update(d::table.filter(d::from_user_id.eq(lead)))
            .set(d::ends_at.eq(countersign::db::stamp::At(
                countersign::store::now() - chrono::Duration::minutes(1),
            )))
            .execute(c)
    });
    let page = get(&browser, &approve).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("returned")
    );
    assert!(
        page.text("#link-message")
            .unwrap()
            .contains("the decision is Zhang Lei's again"),
        "{:?}",
        page.text("#link-message")
    );
    assert_eq!(page.count("#link-form"), 0);
    let refused = post_as_raw(&app, &browser, &link_path(&approve), &token).await;
    assert_eq!(
        refused.attr("#email-link", "data-state").as_deref(),
        Some("returned")
    );
    let pending: Vec<String> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::user_id.eq(lead))
            .select(approve_users::status)
            .load(c)
    });
    assert_eq!(pending, vec!["pending"]);
    assert_eq!(ticket_status(&app, id), "running");
}

async fn post_as_raw(app: &TestApp, browser: &reqwest::Client, path: &str, csrf: &str) -> Page {
    let res = browser
        .post(app.url(path))
        .form(&[("csrf_token", csrf), ("intent", "approve")])
        .send()
        .await
        .unwrap();
    Page::from(res).await
}

#[actix_web::test]
async fn a_deactivated_persons_old_mail_link_is_refused_and_the_manager_who_took_over_gets_their_own()
 {
    let (listener, port) = free_port();
    let inbox = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    file_change(&app).await;
    let mail = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await
        .remove(0);
    let approve = link(&mail, "action=approve").unwrap();
    let (lead, vp) = app.query(|c| {
        use countersign::db::schema::users;
        let id = |name: &str, c: &mut countersign::db::DbConn| {
            users::table
                .filter(users::username.eq(name.to_string()))
                .select(users::id)
                .first::<countersign::db::ids::UserId>(c)
        };
        Ok((id("ops.lead", c)?, id("vp.zhou", c)?))
    });
    let admin = app.query(|c| {
        use countersign::db::schema::users;
        users::table
            .filter(users::username.eq("admin"))
            .select(users::id)
            .first::<countersign::db::ids::UserId>(c)
    });
    app.db
        .write_sync(|c| {
            let input = countersign::store::users::UserInput {
                display_name: countersign::domain::Name::parse("Zhang Lei").unwrap(),
                email: countersign::domain::Email::parse("ops.lead@example.com").unwrap(),
                manager_id: Some(vp),
                language: None,
            };
            countersign::store::users::update(c, lead, &input, admin)?;
            countersign::store::users::set_active(c, lead, false, admin)
        })
        .unwrap();

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
             decides nothing. The step is now with Zhou Qiang; nothing was changed."
        )
    );
    assert_eq!(page.count("#link-form"), 0);
    let moved: i64 = app.query(move |c| {
        approve_users::table
            .filter(approve_users::user_id.eq(vp))
            .filter(approve_users::status.eq("pending"))
            .count()
            .get_result(c)
    });
    assert_eq!(moved, 1, "the work went to the manager");

    // The manager is told, with links of their own that work.
    let mail = inbox
        .wait_for(1, |m| {
            m.contains("To: vp.zhou@example.com") && m.contains("action=approve")
        })
        .await
        .remove(0);
    let theirs = link(&mail, "action=approve").unwrap();
    assert_ne!(theirs, approve);
    let page = get(&TestApp::browser(), &theirs).await;
    assert_eq!(
        page.attr("#email-link", "data-state").as_deref(),
        Some("valid")
    );
    assert_eq!(page.text("#link-approver").as_deref(), Some("Zhou Qiang"));
}

/// The ops lead's notice as its transaction wrote it: (composed, subject,
/// link token, status), and when their link ends.
fn lead_notice(
    app: &TestApp,
    id: i32,
) -> (
    (bool, String, Option<String>, String),
    Option<chrono::NaiveDateTime>,
) {
    app.query(move |c| {
        let notice = outbox::table
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::to_email.eq("ops.lead@example.com"))
            .select((
                outbox::composed,
                outbox::subject,
                outbox::link_token,
                outbox::status,
            ))
            .first(c)?;
        let ends = approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id)))
            .filter(approve_users::email_token_hash.is_not_null())
            .select(approve_users::email_token_expires_at)
            .first(c)?;
        Ok((notice, ends))
    })
}

/// A ticket's notice is written in its change's transaction as what its
/// words need, and worded when it is sent: until then the row holds the
/// link's token and no words, and the link has no end; once the mail
/// server has it, the row keeps the words without the token, and the link
/// lasts the configured hours from then.
#[actix_web::test]
async fn a_notice_is_worded_when_it_is_sent_and_its_link_lasts_from_then() {
    let (listener, port) = free_port();
    drop(listener); // nothing listens yet
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let id = file_change(&app).await;
    let ((composed, subject, token, status), ends) = lead_notice(&app, id);
    assert!(!composed);
    assert_eq!(subject, "");
    assert_eq!(status, "pending");
    let token = token.expect("the link's token waits with the notice");
    assert_eq!(ends, None, "a link not yet mailed has no end yet");
    // The admins see what the notice is about before it is worded.
    let admin = app.demo_browser("admin").await;
    let page = get(&admin, &app.url("/admin/outbox")).await;
    assert!(
        page.texts("table.outbox tbody td:nth-child(2)")
            .iter()
            .any(|s| s.contains(&format!("A node waits for its handlers, ticket #{id}"))),
        "{:?}",
        page.texts("table.outbox tbody td:nth-child(2)")
    );

    // The mail server comes back: the notice is worded and sent.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let inbox = smtp::serve(listener);
    app.db
        .write_sync(|c| {
            diesel::update(outbox::table)
                .set(
                    outbox::next_attempt_at
                        .eq(countersign::db::stamp::At(countersign::store::now())),
                )
                .execute(c)?;
            Ok(())
        })
        .unwrap();
    let mails = inbox
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await;
    assert!(
        mails[0].contains("Waiting for you: Ops lead review"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains(&token),
        "the mail carries the token written with it"
    );
    let mut recorded = lead_notice(&app, id);
    for _ in 0..100 {
        if recorded.0.3 == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        recorded = lead_notice(&app, id);
    }
    let ((composed, subject, token, status), ends) = recorded;
    assert_eq!(status, "sent");
    assert!(composed);
    assert!(subject.contains("Ops lead review"), "{subject}");
    assert_eq!(token, None, "a sent notice forgets its link's token");
    let sent_at: chrono::NaiveDateTime = app.query(move |c| {
        outbox::table
            .filter(outbox::apply_id.eq(ApplyId(id)))
            .filter(outbox::to_email.eq("ops.lead@example.com"))
            .select(outbox::sent_at.assume_not_null())
            .first(c)
    });
    assert_eq!(ends, Some(sent_at + chrono::Duration::hours(72)));
}

/// A notice given up on takes its link with it: the link ends then and the
/// outbox forgets its token, so no copy of it works later.
#[actix_web::test]
async fn a_notice_given_up_on_ends_its_link_and_forgets_its_token() {
    let (listener, port) = free_port();
    drop(listener); // nothing listens, ever
    let app = TestApp::spawn_with_smtp(port).await;
    app.load_demo();
    let id = file_change(&app).await;
    let ((_, _, token, _), _) = lead_notice(&app, id);
    assert!(token.is_some());
    // A day and more of failures: the next attempt gives up.
    app.db.clock().advance(chrono::Duration::hours(25));
    let mut notice = lead_notice(&app, id);
    for _ in 0..250 {
        if notice.0.3 == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        notice = lead_notice(&app, id);
    }
    let ((composed, _, token, status), ends) = notice;
    assert_eq!(status, "failed");
    assert!(!composed);
    assert_eq!(token, None, "the outbox forgets the token");
    let ends = ends.expect("the link has an end");
    assert!(ends <= app.db.now(), "the link ended: {ends}");
}
