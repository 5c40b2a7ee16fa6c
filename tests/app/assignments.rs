//! Admin: role assignments, globally or within a business.

use countersign::db::schema::{audit_events, role_assignments};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn an_admin_assigns_a_role_within_a_business_and_another_globally() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let lead = app.create_user("ops.lead", false);
    let payments = app.create_business("Payments", admin);
    app.sign_in("admin").await;
    let (lead_s, payments_s) = ("ops.lead".to_string(), payments.to_string());
    let ops_lead = app.role_id("ops_lead").to_string();
    let vp = app.role_id("vp").to_string();

    let page = app
        .post(
            "/admin/assignments",
            &[
                ("user", &lead_s),
                ("role_id", &ops_lead),
                ("business_id", &payments_s),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("The role was assigned."));
    app.post(
        "/admin/assignments",
        &[
            ("user", &lead_s),
            ("role_id", &vp),
            ("business_id", "global"),
        ],
    )
    .await;

    let rows: Vec<(i32, Option<i32>)> = app.query(move |c| {
        role_assignments::table
            .filter(role_assignments::user_id.eq(lead))
            .order(role_assignments::role_id)
            .select((role_assignments::role_id, role_assignments::business_id))
            .load(c)
    });
    assert_eq!(
        rows,
        vec![
            (app.role_id("ops_lead").0, Some(payments.0)),
            (app.role_id("vp").0, None)
        ]
    );

    let page = app.get("/admin/assignments?user=ops.lead").await;
    assert_eq!(
        page.texts("table.assignments tbody td:nth-child(3)"),
        vec!["Payments".to_string(), "Global".to_string()]
    );
    let profile = app.get(&format!("/admin/users/{lead}")).await;
    assert_eq!(
        profile.texts("#user-roles li"),
        vec!["Operations lead · Payments", "Vice president · Global"]
    );
}

#[actix_web::test]
async fn a_duplicate_assignment_is_refused_with_a_message() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;
    let (wang_s, ops) = ("ops.wang".to_string(), app.role_id("ops").to_string());
    let form = [
        ("user", wang_s.as_str()),
        ("role_id", ops.as_str()),
        ("business_id", "global"),
    ];
    app.post("/admin/assignments", &form).await;

    let page = app.post("/admin/assignments", &form).await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.form_error().as_deref(),
        Some("This person already holds this role in this scope.")
    );
    assert_eq!(
        page.input_value("#assignment-form", "user").as_deref(),
        Some("ops.wang")
    );
    let count: i64 = app.query(move |c| {
        role_assignments::table
            .filter(role_assignments::user_id.eq(wang))
            .count()
            .get_result(c)
    });
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn the_same_assignment_made_twice_at_once_is_stored_once() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    app.sign_in("admin").await;
    let (wang_s, ops) = ("ops.wang".to_string(), app.role_id("ops").to_string());
    let form = [
        ("user", wang_s.as_str()),
        ("role_id", ops.as_str()),
        ("business_id", "global"),
    ];

    let (a, b) = tokio::join!(
        app.post("/admin/assignments", &form),
        app.post("/admin/assignments", &form)
    );

    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 422]);
    let count: i64 = app.query(move |c| {
        role_assignments::table
            .filter(role_assignments::user_id.eq(wang))
            .count()
            .get_result(c)
    });
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn unknown_ids_in_the_assignment_form_are_refused_beside_their_fields() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.wang", false);
    let wang = "ops.wang".to_string();
    app.sign_in("admin").await;
    let ops = app.role_id("ops").to_string();

    let page = app
        .post(
            "/admin/assignments",
            &[
                ("user", "nobody"),
                ("role_id", &ops),
                ("business_id", "global"),
            ],
        )
        .await;
    assert_eq!(
        page.field_error("user").as_deref(),
        Some("This person does not exist or is deactivated.")
    );

    let page = app
        .post(
            "/admin/assignments",
            &[
                ("user", &wang),
                ("role_id", "99999"),
                ("business_id", "global"),
            ],
        )
        .await;
    assert_eq!(
        page.field_error("role_id").as_deref(),
        Some("This role does not exist.")
    );

    let page = app
        .post(
            "/admin/assignments",
            &[("user", &wang), ("role_id", &ops), ("business_id", "99999")],
        )
        .await;
    assert_eq!(
        page.field_error("business_id").as_deref(),
        Some("This business does not exist.")
    );

    let page = app
        .post(
            "/admin/assignments",
            &[("user", "x"), ("role_id", ""), ("business_id", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("user").as_deref(),
        Some(
            "Type the person's username, such as owner.manager, or pick them from the suggestions as you type."
        )
    );
    assert_eq!(
        page.field_error("role_id").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("business_id").as_deref(),
        Some("This field is required.")
    );

    let count: i64 = app.query(|c| role_assignments::table.count().get_result(c));
    assert_eq!(count, 1, "only the admin's own assignment");
}

#[actix_web::test]
async fn assignments_are_filtered_by_person_role_and_scope() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    let li = app.create_user("ops.li", false);
    let payments = app.create_business("Payments", admin);
    let games = app.create_business("Games", admin);
    let (ops, qc) = (app.role_id("ops"), app.role_id("qc"));
    app.db
        .write_sync(|c| {
            use countersign::store::assignments::{Scope, create};
            create(c, wang, ops, Scope::Business(payments), admin)?;
            create(c, li, ops, Scope::Business(games), admin)?;
            create(c, li, qc, Scope::Business(payments), admin)?;
            Ok(())
        })
        .unwrap();
    app.sign_in("admin").await;

    let by_role = app.get(&format!("/admin/assignments?role_id={ops}")).await;
    assert_eq!(
        by_role.attrs("tbody tr", "data-user"),
        vec!["ops.li", "ops.wang"]
    );
    let by_scope = app
        .get(&format!("/admin/assignments?business_id={payments}"))
        .await;
    assert_eq!(
        by_scope.attrs("tbody tr", "data-user"),
        vec!["ops.li", "ops.wang"]
    );
    assert_eq!(
        by_scope.selected("#assignment-filter", "business_id"),
        Some(payments.to_string())
    );
    let global = app.get("/admin/assignments?business_id=global").await;
    assert_eq!(global.attrs("tbody tr", "data-user"), vec!["admin"]);
    let combined = app
        .get(&format!(
            "/admin/assignments?user=ops.li&role_id={ops}&business_id={games}"
        ))
        .await;
    assert_eq!(combined.count("tbody tr"), 1);
}

#[actix_web::test]
async fn administration_follows_the_global_admin_role() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    let wang_browser = TestApp::browser();
    sign_in_as(&app, &wang_browser, "ops.wang", PASSWORD).await;
    assert_eq!(
        get(&wang_browser, &app.url("/admin/users")).await.status,
        StatusCode::FORBIDDEN
    );
    app.sign_in("admin").await;
    let (wang_s, admin_role) = ("ops.wang".to_string(), app.role_id("admin").to_string());

    app.post(
        "/admin/assignments",
        &[
            ("user", &wang_s),
            ("role_id", &admin_role),
            ("business_id", "global"),
        ],
    )
    .await;
    assert_eq!(
        get(&wang_browser, &app.url("/admin/users")).await.status,
        StatusCode::OK
    );

    let page = app.get("/admin/assignments?user=ops.wang").await;
    let remove = page.attr("tr[data-role=admin] form", "action").unwrap();
    let page = app.post(&remove, &[]).await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The role assignment was removed.")
    );
    assert_eq!(
        get(&wang_browser, &app.url("/admin/users")).await.status,
        StatusCode::FORBIDDEN
    );

    let actions: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::subject_type.eq("user"))
            .filter(audit_events::subject_id.eq(wang.0))
            .filter(audit_events::action.like("assignment.%"))
            .order(audit_events::id)
            .select(audit_events::action)
            .load(c)
    });
    assert_eq!(actions, vec!["assignment.created", "assignment.deleted"]);
}
