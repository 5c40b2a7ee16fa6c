//! Admin: creating, editing, resetting, deactivating and finding people.

use countersign::db::ids::UserId;
use countersign::db::models::User;
use countersign::db::schema::{audit_events, users};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn user(app: &TestApp, username: &str) -> Option<User> {
    let username = username.to_string();
    app.query(move |c| {
        users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(c)
            .optional()
    })
}

fn user_form<'a>(
    username: &'a str,
    email: &'a str,
    manager: &'a str,
    password: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("username", username),
        ("display_name", "Wang Wei"),
        ("email", email),
        ("manager", manager),
        ("language", "zh-CN"),
        ("password", password),
    ]
}

#[actix_web::test]
async fn an_admin_creates_a_person_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let lead = app.create_user("ops.lead", false);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/users",
            &user_form(
                "ops.wang",
                "wang@example.com",
                "ops.lead",
                "a-long-password",
            ),
        )
        .await;

    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.flash().as_deref(), Some("User ops.wang created."));
    let created = user(&app, "ops.wang").expect("the person exists");
    assert_eq!(created.display_name, "Wang Wei");
    assert_eq!(created.email, "wang@example.com");
    assert_eq!(created.manager_id, Some(lead));
    assert_eq!(created.language.as_deref(), Some("zh-CN"));
    assert!(created.active);
    assert_eq!(page.path, format!("/admin/users/{}", created.id));
    assert!(created.password_hash.starts_with("$argon2id$"));

    let browser = TestApp::browser();
    let home = sign_in_as(&app, &browser, "ops.wang", "a-long-password").await;
    assert_eq!(home.h1(), "欢迎，Wang Wei");
}

#[actix_web::test]
async fn creating_a_person_with_bad_input_shows_each_problem_beside_its_field_and_keeps_the_input()
{
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let long_name = "名".repeat(81);

    let page = app
        .post(
            "/admin/users",
            &[
                ("username", "Wang Wei!"),
                ("display_name", long_name.as_str()),
                ("email", "wang-at-example"),
                ("manager", ""),
                ("language", "fr"),
                ("password", "short"),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("username").as_deref(),
        Some("Use 2–32 lowercase letters, digits, dots, dashes or underscores.")
    );
    assert_eq!(
        page.field_error("display_name").as_deref(),
        Some("This is too long.")
    );
    assert_eq!(
        page.field_error("email").as_deref(),
        Some("This is not an email address.")
    );
    assert_eq!(
        page.field_error("language").as_deref(),
        Some("Choose one of the listed options.")
    );
    assert_eq!(
        page.field_error("password").as_deref(),
        Some("A password needs at least 8 characters.")
    );
    assert_eq!(
        page.input_value("#user-form", "username").as_deref(),
        Some("Wang Wei!")
    );
    assert_eq!(
        page.input_value("#user-form", "display_name").as_deref(),
        Some(long_name.as_str())
    );
    assert_eq!(
        page.input_value("#user-form", "email").as_deref(),
        Some("wang-at-example")
    );
    assert_eq!(
        page.input_value("#user-form", "password").as_deref(),
        Some(""),
        "passwords are never echoed"
    );
    assert_eq!(
        page.attr("#f-email", "aria-invalid").as_deref(),
        Some("true")
    );
    let count: i64 = app.query(|c| users::table.count().get_result(c));
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn empty_required_fields_are_each_marked() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app.post("/admin/users", &user_form("", "", "", "")).await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["username", "email", "password"] {
        assert_eq!(
            page.field_error(field).as_deref(),
            Some("This field is required."),
            "{field}"
        );
    }
}

#[actix_web::test]
async fn a_duplicate_username_is_refused_beside_the_username_field() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.wang", false);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/users",
            &user_form("OPS.WANG", "other@example.com", "", "a-long-password"),
        )
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("username").as_deref(),
        Some("This username is already taken.")
    );
    assert_eq!(
        page.input_value("#user-form", "email").as_deref(),
        Some("other@example.com")
    );
}

#[actix_web::test]
async fn two_admins_creating_the_same_username_at_once_make_exactly_one_account() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("admin2", true);
    let second = TestApp::browser();
    app.sign_in("admin").await;
    sign_in_as(&app, &second, "admin2", PASSWORD).await;

    let form = user_form("ops.race", "race@example.com", "", "a-long-password");
    let (a, b) = tokio::join!(
        post_as(&app, &app.client, "/admin/users", &form),
        post_as(&app, &second, "/admin/users", &form)
    );

    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 422]);
    let loser = if a.status == StatusCode::OK { &b } else { &a };
    assert_eq!(
        loser.field_error("username").as_deref(),
        Some("This username is already taken.")
    );
    let count: i64 = app.query(|c| {
        users::table
            .filter(users::username.eq("ops.race"))
            .count()
            .get_result(c)
    });
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn an_unknown_or_deactivated_manager_is_refused_beside_the_manager_field() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let gone = app.create_user("gone.person", false);
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, gone, false, admin))
        .unwrap();
    app.sign_in("admin").await;

    for (manager, message) in [
        ("nobody", "This person does not exist or is deactivated."),
        (
            "gone.person",
            "This person does not exist or is deactivated.",
        ),
        (
            "Not A Name!",
            "Type the person's username, such as owner.manager, or pick them from the suggestions as you type.",
        ),
    ] {
        let form = user_form("ops.wang", "wang@example.com", manager, "a-long-password");
        let page = app.post("/admin/users", &form).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{manager}");
        assert_eq!(
            page.field_error("manager").as_deref(),
            Some(message),
            "{manager}"
        );
        assert_eq!(
            page.input_value("#user-form", "manager").as_deref(),
            Some(manager)
        );
    }
    assert!(user(&app, "ops.wang").is_none());
}

#[actix_web::test]
async fn a_circle_of_managers_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let top = app.create_user("vp", false);
    app.create_user_with("lead", false, Some(top));
    app.sign_in("admin").await;

    let page = app
        .post(
            &format!("/admin/users/{top}"),
            &[
                ("display_name", "VP"),
                ("email", "vp@example.com"),
                ("manager", "lead"),
                ("language", ""),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("manager").as_deref(),
        Some("This would make a circle of managers.")
    );
    assert_eq!(
        page.input_value("#user-form", "manager").as_deref(),
        Some("lead")
    );
    assert_eq!(user(&app, "vp").unwrap().manager_id, None);
}

#[actix_web::test]
async fn an_admin_edits_email_manager_and_language() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let lead = app.create_user("ops.lead", false);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;

    let page = app
        .post(
            &format!("/admin/users/{wang}"),
            &[
                ("display_name", "Wang Wei"),
                ("email", "wei.wang@example.com"),
                ("manager", "ops.lead"),
                ("language", "en"),
            ],
        )
        .await;

    assert_eq!(page.flash().as_deref(), Some("Saved."));
    let saved = user(&app, "ops.wang").unwrap();
    assert_eq!(saved.email, "wei.wang@example.com");
    assert_eq!(saved.manager_id, Some(lead));
    assert_eq!(saved.language.as_deref(), Some("en"));
    assert_eq!(
        page.input_value("#user-form", "email").as_deref(),
        Some("wei.wang@example.com")
    );
    assert_eq!(
        page.input_value("#user-form", "manager").as_deref(),
        Some("ops.lead")
    );
}

#[actix_web::test]
async fn an_admin_resets_a_password_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;

    let short = app
        .post(
            &format!("/admin/users/{wang}/password"),
            &[("new_password", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        short.field_error("new_password").as_deref(),
        Some("A password needs at least 8 characters.")
    );

    let page = app
        .post(
            &format!("/admin/users/{wang}/password"),
            &[("new_password", "brand-new-secret")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("The password was reset."));

    let old = sign_in_as(&app, &TestApp::browser(), "ops.wang", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = sign_in_as(&app, &TestApp::browser(), "ops.wang", "brand-new-secret").await;
    assert_eq!(new.path, "/");
}

#[actix_web::test]
async fn an_admin_deactivates_and_reactivates_a_person_and_both_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;

    let page = app
        .post(&format!("/admin/users/{wang}/deactivate"), &[])
        .await;
    assert_eq!(page.flash().as_deref(), Some("The person was deactivated."));
    let saved = user(&app, "ops.wang").unwrap();
    assert!(!saved.active);
    assert!(saved.deactivated_at.is_some());
    assert_eq!(page.count("#activate-form"), 1);

    let listed = app.get("/admin/users").await;
    assert_eq!(
        listed.count("tr[data-username='ops.wang']"),
        0,
        "deactivated people are hidden by default"
    );
    let listed = app.get("/admin/users?inactive=1").await;
    assert_eq!(listed.count("tr[data-username='ops.wang']"), 1);

    app.post(&format!("/admin/users/{wang}/activate"), &[])
        .await;
    assert!(user(&app, "ops.wang").unwrap().active);

    let actions: Vec<(Option<UserId>, String)> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::subject_type.eq("user"))
            .filter(audit_events::subject_id.eq(wang.0))
            .order(audit_events::id)
            .select((audit_events::actor_id, audit_events::action))
            .load(c)
    });
    let tail: Vec<_> = actions.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        tail,
        vec![
            (Some(admin), "user.deactivated".to_string()),
            (Some(admin), "user.reactivated".to_string())
        ]
    );
}

#[actix_web::test]
async fn the_last_administrator_cannot_be_deactivated_or_lose_the_admin_role() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let other = app.create_user("other.admin", true);
    app.sign_in("admin").await;

    let page = app
        .post(&format!("/admin/users/{admin}/deactivate"), &[])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("You cannot deactivate yourself.")
    );

    app.post(&format!("/admin/users/{other}/deactivate"), &[])
        .await;
    assert!(!user(&app, "other.admin").unwrap().active);

    let admin_assignment = app.get("/admin/assignments?user=admin").await;
    let action = admin_assignment
        .attr("tr[data-role='admin'] form", "action")
        .unwrap();
    let page = app.post(&action, &[]).await;
    assert_eq!(
        page.flash().as_deref(),
        Some("This is the last active administrator; make someone else an administrator first.")
    );
    assert_eq!(app.get("/admin/users").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn searching_people_finds_them_by_name_username_or_email() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.wang", false);
    app.create_user("qc.chen", false);
    app.sign_in("admin").await;

    let by_username = app.get("/admin/users?q=wang").await;
    assert_eq!(
        by_username.attrs("tbody tr", "data-username"),
        vec!["ops.wang"]
    );
    let by_name = app.get("/admin/users?q=QC.CHEN%20PERSON").await;
    assert_eq!(by_name.attrs("tbody tr", "data-username"), vec!["qc.chen"]);
    let by_email = app.get("/admin/users?q=%40example.com").await;
    assert_eq!(by_email.count("tbody tr"), 3);
    assert_eq!(
        by_email.input_value("form[role=search]", "q").as_deref(),
        Some("@example.com")
    );
}
