//! Delegations: recorded by admins, or by people for their own absence.

use chrono::{Duration, NaiveDateTime};
use countersign::db::ids::UserId;
use countersign::db::models::Delegation;
use countersign::db::schema::delegations;
use countersign::domain::ProcessKind;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn local(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

fn all(app: &TestApp) -> Vec<Delegation> {
    app.query(|c| {
        delegations::table
            .order(delegations::id)
            .select(Delegation::as_select())
            .load(c)
    })
}

fn form<'a>(
    from: &'a str,
    to: &'a str,
    starts: &'a str,
    ends: &'a str,
    kind: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("from_user", from),
        ("to_user", to),
        ("starts_at", starts),
        ("ends_at", ends),
        ("process_kind", kind),
        ("note", "Annual leave"),
    ]
}

struct People {
    manager: UserId,
    colleague: UserId,
}

fn people(app: &TestApp) -> People {
    app.create_user("admin", true);
    People {
        manager: app.create_user("owner.manager", false),
        colleague: app.create_user("data.lin", false),
    }
}

#[actix_web::test]
async fn an_admin_records_a_delegation_and_later_moves_its_window() {
    let app = TestApp::spawn().await;
    let p = people(&app);
    app.sign_in("admin").await;
    let now = countersign::store::now();
    let (from, to) = ("owner.manager".to_string(), "data.lin".to_string());
    let (starts, ends) = (local(now), local(now + Duration::days(5)));

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &to, &starts, &ends, "access"),
        )
        .await;

    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));
    let saved = all(&app);
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].from_user_id, saved[0].to_user_id),
        (p.manager, p.colleague)
    );
    assert_eq!(saved[0].process_kind.as_deref(), Some("access"));
    assert_eq!(saved[0].note, "Annual leave");
    assert_eq!(page.count("table.delegations tbody tr"), 1);
    assert_eq!(
        page.text("table.delegations tbody .badge").as_deref(),
        Some("in effect")
    );

    let new_end = local(now + Duration::days(9));
    let page = app
        .post(
            &format!("/admin/delegations/{}", saved[0].id),
            &form(&from, &to, &starts, &new_end, ""),
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));
    let saved = all(&app);
    assert_eq!(local(saved[0].ends_at), new_end);
    assert_eq!(saved[0].process_kind, None);

    let page = app
        .post(&format!("/admin/delegations/{}/delete", saved[0].id), &[])
        .await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was removed."));
    assert!(all(&app).is_empty());
}

#[actix_web::test]
async fn a_delegation_to_oneself_or_ending_before_it_starts_is_refused_and_the_input_kept() {
    let app = TestApp::spawn().await;
    people(&app);
    app.sign_in("admin").await;
    let now = countersign::store::now();
    let (from, to) = ("owner.manager".to_string(), "data.lin".to_string());
    let (starts, earlier) = (local(now), local(now - Duration::days(1)));

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &from, &starts, &local(now + Duration::days(1)), ""),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("to_user").as_deref(),
        Some("A person cannot delegate to themselves.")
    );

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &to, &starts, &earlier, ""),
        )
        .await;
    assert_eq!(
        page.field_error("ends_at").as_deref(),
        Some("The end must be after the start.")
    );
    assert_eq!(
        page.input_value("#delegation-form", "ends_at").as_deref(),
        Some(earlier.as_str())
    );
    assert_eq!(
        page.input_value("#delegation-form", "note").as_deref(),
        Some("Annual leave")
    );

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &to, "next tuesday", "", "holiday"),
        )
        .await;
    assert_eq!(
        page.field_error("starts_at").as_deref(),
        Some("Enter a date and time such as 2026-11-21 09:30.")
    );
    assert_eq!(
        page.field_error("ends_at").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("process_kind").as_deref(),
        Some("Choose one of the listed options.")
    );

    let page = app
        .post(
            "/admin/delegations",
            &form("nobody", &to, &starts, &local(now + Duration::days(1)), ""),
        )
        .await;
    assert_eq!(
        page.field_error("from_user").as_deref(),
        Some("This person does not exist or is deactivated.")
    );
    assert!(all(&app).is_empty());
}

#[actix_web::test]
async fn overlapping_delegations_of_one_person_are_refused_unless_for_different_kinds() {
    let app = TestApp::spawn().await;
    people(&app);
    app.create_user("rd.manager", false);
    let other = "rd.manager".to_string();
    app.sign_in("admin").await;
    let now = countersign::store::now();
    let (from, to) = ("owner.manager".to_string(), "data.lin".to_string());
    let (starts, ends) = (local(now), local(now + Duration::days(5)));
    let (mid, later) = (
        local(now + Duration::days(2)),
        local(now + Duration::days(8)),
    );
    app.post(
        "/admin/delegations",
        &form(&from, &to, &starts, &ends, "access"),
    )
    .await;

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &other, &mid, &later, "access"),
        )
        .await;
    assert_eq!(
        page.field_error("starts_at").as_deref(),
        Some("This overlaps another delegation of the same person for the same kind of process.")
    );
    let page = app
        .post("/admin/delegations", &form(&from, &other, &mid, &later, ""))
        .await;
    assert!(
        page.field_error("starts_at").is_some(),
        "'any process' overlaps every kind"
    );

    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &other, &mid, &later, "change"),
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));
    let page = app
        .post(
            "/admin/delegations",
            &form(&from, &other, &ends, &later, "access"),
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The delegation was saved."),
        "back-to-back windows do not overlap"
    );
    assert_eq!(all(&app).len(), 3);
}

#[actix_web::test]
async fn a_person_sets_up_their_own_out_of_office_on_the_profile_page() {
    let app = TestApp::spawn().await;
    let p = people(&app);
    app.create_user("rd.zhao", false);
    app.sign_in("owner.manager").await;
    let now = countersign::store::now();
    let (to, third_s) = ("data.lin".to_string(), "rd.zhao".to_string());
    let (starts, ends) = (local(now), local(now + Duration::days(3)));

    // The form names someone else as absent; the profile always means "me".
    let page = app
        .post(
            "/profile/delegations",
            &form(&third_s, &to, &starts, &ends, ""),
        )
        .await;

    assert_eq!(page.path, "/profile");
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));
    let saved = all(&app);
    assert_eq!(
        (saved[0].from_user_id, saved[0].to_user_id),
        (p.manager, p.colleague)
    );
    assert_eq!(
        page.texts("#out-of-office tbody td:nth-child(2)"),
        vec!["data.lin Person data.lin"]
    );

    let colleague = TestApp::browser();
    sign_in_as(&app, &colleague, "data.lin", PASSWORD).await;
    let home = get(&colleague, &app.url("/")).await;
    assert_eq!(home.texts("#my-delegations li").len(), 1);
    assert!(
        home.text("#my-delegations li")
            .unwrap()
            .starts_with("data.lin Person acts for owner.manager Person")
    );
}

#[actix_web::test]
async fn a_person_cannot_remove_a_delegation_that_is_not_theirs() {
    let app = TestApp::spawn().await;
    let p = people(&app);
    let now = countersign::store::now();
    let input = countersign::store::delegations::DelegationInput {
        from: p.manager,
        to: p.colleague,
        starts_at: now,
        ends_at: now + Duration::days(1),
        kind: None,
        note: String::new(),
    };
    let id = app
        .db
        .write_sync(|c| countersign::store::delegations::create(c, &input, p.manager))
        .unwrap();
    app.sign_in("data.lin").await;

    let page = app
        .post(&format!("/profile/delegations/{id}/delete"), &[])
        .await;

    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(all(&app).len(), 1);
}

#[actix_web::test]
async fn who_acts_for_someone_depends_on_the_window_and_the_kind() {
    let app = TestApp::spawn().await;
    let p = people(&app);
    let now = countersign::store::now();
    let input = countersign::store::delegations::DelegationInput {
        from: p.manager,
        to: p.colleague,
        starts_at: now,
        ends_at: now + Duration::days(1),
        kind: Some(ProcessKind::Access),
        note: String::new(),
    };
    app.db
        .write_sync(|c| countersign::store::delegations::create(c, &input, p.manager))
        .unwrap();
    let acting = |at: NaiveDateTime, kind: ProcessKind| {
        app.db
            .read_sync(|c| countersign::store::delegations::acting_for(c, p.manager, at, kind))
            .unwrap()
    };

    assert_eq!(
        acting(now + Duration::hours(1), ProcessKind::Access),
        Some(p.colleague)
    );
    assert_eq!(acting(now + Duration::hours(1), ProcessKind::Change), None);
    assert_eq!(acting(now - Duration::hours(1), ProcessKind::Access), None);
    assert_eq!(acting(now + Duration::days(2), ProcessKind::Access), None);
}
