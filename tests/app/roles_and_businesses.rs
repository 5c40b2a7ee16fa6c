//! Admin: businesses and roles.

use countersign::db::models::{Business, Role};
use countersign::db::schema::{businesses, roles};
use countersign::store::assignments::{self, Scope};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn business(app: &TestApp, name: &str) -> Option<Business> {
    let name = name.to_string();
    app.query(move |c| {
        businesses::table
            .filter(businesses::name.eq(name))
            .select(Business::as_select())
            .first(c)
            .optional()
    })
}

fn role(app: &TestApp, code: &str) -> Option<Role> {
    let code = code.to_string();
    app.query(move |c| {
        roles::table
            .filter(roles::code.eq(code))
            .select(Role::as_select())
            .first(c)
            .optional()
    })
}

#[actix_web::test]
async fn an_admin_creates_renames_and_deletes_a_business() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/businesses",
            &[("name", "Payments"), ("description", "支付业务")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Business Payments created."));
    assert_eq!(
        page.texts("table.businesses tbody td:first-child"),
        vec!["Payments"]
    );
    let created = business(&app, "Payments").unwrap();
    assert_eq!(created.description, "支付业务");

    let page = app
        .post(
            &format!("/admin/businesses/{}", created.id),
            &[("name", "Payments platform"), ("description", "")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    assert!(business(&app, "Payments platform").is_some());

    let page = app
        .post(&format!("/admin/businesses/{}/delete", created.id), &[])
        .await;
    assert_eq!(page.flash().as_deref(), Some("Deleted."));
    assert!(business(&app, "Payments platform").is_none());
}

#[actix_web::test]
async fn a_business_name_must_be_given_and_unique() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    app.create_business("Payments", admin);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/businesses",
            &[("name", "Payments"), ("description", "again")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("name").as_deref(),
        Some("This name is already taken.")
    );
    assert_eq!(
        page.input_value("#business-form", "description").as_deref(),
        Some("again")
    );

    let page = app
        .post("/admin/businesses", &[("name", "   "), ("description", "")])
        .await;
    assert_eq!(
        page.field_error("name").as_deref(),
        Some("This field is required.")
    );
    let count: i64 = app.query(|c| businesses::table.count().get_result(c));
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn a_business_where_people_hold_roles_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    let payments = app.create_business("Payments", admin);
    let ops = app.role_id("ops");
    app.db
        .write_sync(|c| assignments::create(c, wang, ops, Scope::Business(payments), admin))
        .unwrap();
    app.sign_in("admin").await;

    let page = app
        .post(&format!("/admin/businesses/{payments}/delete"), &[])
        .await;

    assert_eq!(
        page.flash().as_deref(),
        Some("People hold roles in this business; remove those assignments first.")
    );
    assert!(business(&app, "Payments").is_some());
}

#[actix_web::test]
async fn the_roles_of_both_stories_are_built_in_and_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app.get("/admin/roles").await;
    assert_eq!(
        page.attrs("table.roles tbody tr", "data-code"),
        vec!["admin", "ops", "ops_lead", "qc", "product", "vp"]
    );
    assert_eq!(
        page.count("table.roles tbody form"),
        0,
        "no delete buttons for built-in roles"
    );

    let ops = role(&app, "ops").unwrap();
    let page = app
        .post(&format!("/admin/roles/{}/delete", ops.id), &[])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Built-in roles cannot be deleted.")
    );
    assert!(role(&app, "ops").is_some());
}

#[actix_web::test]
async fn an_admin_creates_a_role_named_in_both_languages_renames_and_deletes_it() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/roles",
            &[
                ("code", "dba"),
                ("name_en", "Database admin"),
                ("name_zh", "数据库管理员"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Role dba created."));
    let dba = role(&app, "dba").unwrap();
    assert!(!dba.builtin);
    assert_eq!(
        page.text("tr[data-code=dba] td:nth-child(2)").as_deref(),
        Some("Database admin")
    );

    app.post("/language", &[("lang", "zh-CN"), ("back", "/admin/roles")])
        .await;
    let page = app.get("/admin/roles").await;
    assert_eq!(
        page.text("tr[data-code=dba] td:nth-child(2)").as_deref(),
        Some("数据库管理员")
    );

    app.post(
        &format!("/admin/roles/{}", dba.id),
        &[
            ("name_en", "DBA"),
            ("name_zh", "DBA"),
            ("description", "Owns databases"),
        ],
    )
    .await;
    assert_eq!(role(&app, "dba").unwrap().name_en, "DBA");

    app.post(&format!("/admin/roles/{}/delete", dba.id), &[])
        .await;
    assert!(role(&app, "dba").is_none());
}

#[actix_web::test]
async fn a_role_code_must_be_snake_case_and_unique() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/roles",
            &[("code", "Ops Lead"), ("name_en", "X"), ("name_zh", "X")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("code").as_deref(),
        Some("Use 2–32 lowercase letters, digits or underscores, starting with a letter.")
    );
    assert_eq!(
        page.input_value("#role-form", "code").as_deref(),
        Some("Ops Lead")
    );

    let page = app
        .post(
            "/admin/roles",
            &[("code", "ops_lead"), ("name_en", "X"), ("name_zh", "")],
        )
        .await;
    assert_eq!(
        page.field_error("name_zh").as_deref(),
        Some("This field is required.")
    );

    let page = app
        .post(
            "/admin/roles",
            &[("code", "ops_lead"), ("name_en", "X"), ("name_zh", "X")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("code").as_deref(),
        Some("This code is already taken.")
    );
}

#[actix_web::test]
async fn a_role_that_people_hold_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;
    app.post(
        "/admin/roles",
        &[("code", "dba"), ("name_en", "DBA"), ("name_zh", "DBA")],
    )
    .await;
    let dba = role(&app, "dba").unwrap();
    app.db
        .write_sync(|c| assignments::create(c, wang, dba.id, Scope::Global, admin))
        .unwrap();

    let page = app
        .post(&format!("/admin/roles/{}/delete", dba.id), &[])
        .await;

    assert_eq!(
        page.flash().as_deref(),
        Some("People hold this role; remove those assignments first.")
    );
    assert!(role(&app, "dba").is_some());
}

#[actix_web::test]
async fn a_business_tickets_were_filed_in_cannot_be_deleted_and_says_why() {
    let app = TestApp::spawn().await;
    app.load_demo();
    crate::email::file_change(&app).await;
    let payments = business(&app, "Payments").unwrap().id;
    // Nobody holds a role there any more; the tickets still name it.
    app.db
        .write_sync(move |c| {
            use countersign::db::schema::role_assignments;
            diesel::delete(
                role_assignments::table.filter(role_assignments::business_id.eq(payments)),
            )
            .execute(c)?;
            Ok(())
        })
        .unwrap();
    let admin = app.demo_browser("admin").await;

    let page = post_as(
        &app,
        &admin,
        &format!("/admin/businesses/{payments}/delete"),
        &[],
    )
    .await;

    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.flash().as_deref(),
        Some(
            "Tickets were filed in this business, and they keep referring to it, so it cannot be deleted."
        )
    );
    assert!(business(&app, "Payments").is_some());
}
