//! The service catalog tree, services, the resource registry, and the demo
//! processes of both stories.

use countersign::db::models::{CatalogNode, Resource, Service};
use countersign::db::schema::{
    catalog_nodes, catalog_services, process_versions, processes, resources, services,
};
use countersign::store::demo_processes;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn folders(app: &TestApp) -> Vec<CatalogNode> {
    app.query(|c| {
        catalog_nodes::table
            .order(catalog_nodes::id)
            .select(CatalogNode::as_select())
            .load(c)
    })
}

fn folder_id(app: &TestApp, name: &str) -> i32 {
    folders(app)
        .into_iter()
        .find(|f| f.name_en == name)
        .unwrap_or_else(|| panic!("no folder {name}"))
        .id
        .0
}

/// Publishes the demo processes (and resources) as the demo admin would.
fn publish_demo(app: &TestApp) {
    let admin = app.create_user("admin", true);
    for name in ["owner.qian", "product.liu", "grant.wu", "grant.zheng"] {
        app.create_user(name, false);
    }
    app.db
        .write_sync(|c| demo_processes::load(c, admin))
        .unwrap();
}

#[actix_web::test]
async fn catalog_folders_are_added_renamed_moved_reordered_and_deleted_only_when_empty() {
    let app = TestApp::spawn().await;
    publish_demo(&app);
    app.sign_in("admin").await;
    let root = folders(&app)[0].id.0.to_string();

    for name in ["Databases", "Servers"] {
        app.post(
            "/admin/catalog",
            &[
                ("parent_id", root.as_str()),
                ("name_en", name),
                ("name_zh", ""),
            ],
        )
        .await;
    }
    let servers = folder_id(&app, "Servers");
    let databases = folder_id(&app, "Databases").to_string();
    let page = app
        .post(
            &format!("/admin/catalog/{servers}"),
            &[
                ("action", "rename"),
                ("name_en", "Hosts"),
                ("name_zh", "主机"),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    assert_eq!(
        folders(&app)
            .iter()
            .find(|f| f.id.0 == servers)
            .unwrap()
            .name_zh,
        "主机"
    );

    app.post(
        &format!("/admin/catalog/{servers}"),
        &[("action", "move"), ("parent_id", databases.as_str())],
    )
    .await;
    let moved = folders(&app)
        .into_iter()
        .find(|f| f.id.0 == servers)
        .unwrap();
    assert_eq!(
        moved.parent_id.map(|p| p.0.to_string()),
        Some(databases.clone())
    );
    let page = app
        .post(
            &format!("/admin/catalog/{databases}"),
            &[
                ("action", "move"),
                ("parent_id", servers.to_string().as_str()),
            ],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("A folder cannot be moved into itself or below itself.")
    );
    let page = app
        .post(&format!("/admin/catalog/{root}"), &[("action", "delete")])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The catalog root cannot be moved or deleted.")
    );

    // Top-level order: Environment change, Access requests, Databases.
    let order = |app: &TestApp| -> Vec<String> {
        let mut top: Vec<CatalogNode> = folders(app)
            .into_iter()
            .filter(|f| f.parent_id.map(|p| p.0.to_string()) == Some(root.clone()))
            .collect();
        top.sort_by_key(|f| (f.position, f.id.0));
        top.into_iter().map(|f| f.name_en).collect()
    };
    assert_eq!(
        order(&app),
        vec!["Environment change", "Access requests", "Databases"]
    );
    app.post(&format!("/admin/catalog/{databases}"), &[("action", "up")])
        .await;
    assert_eq!(
        order(&app),
        vec!["Environment change", "Databases", "Access requests"]
    );
    let page = app.get("/admin/catalog").await;
    assert_eq!(
        page.attrs("#catalog-tree .folder", "data-name"),
        vec![
            "Service catalog",
            "Environment change",
            "Databases",
            "Hosts",
            "Access requests"
        ]
    );

    let page = app
        .post(
            &format!("/admin/catalog/{databases}"),
            &[("action", "delete")],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("This folder still holds folders or services; empty it first.")
    );
    let change = folder_id(&app, "Environment change");
    let page = app
        .post(&format!("/admin/catalog/{change}"), &[("action", "delete")])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("This folder still holds folders or services; empty it first.")
    );

    app.post(
        &format!("/admin/catalog/{servers}"),
        &[("action", "delete")],
    )
    .await;
    let page = app
        .post(
            &format!("/admin/catalog/{databases}"),
            &[("action", "delete")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Folder deleted."));
    assert!(
        folders(&app)
            .iter()
            .all(|f| f.name_en != "Databases" && f.name_en != "Hosts")
    );

    let service: i32 = app
        .query(move |c| {
            catalog_services::table
                .filter(catalog_services::node_id.eq(countersign::db::ids::CatalogNodeId(change)))
                .select(catalog_services::service_id)
                .first::<countersign::db::ids::ServiceId>(c)
        })
        .0;
    let page = app
        .post(
            &format!("/admin/catalog/{change}"),
            &[
                ("action", "attach"),
                ("service_id", service.to_string().as_str()),
            ],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("This service is already in this folder.")
    );
    let page = app
        .post(
            &format!("/admin/catalog/{change}/services/{service}/detach"),
            &[],
        )
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("Service removed from the folder.")
    );
    // A folder with a service left in it stays.
    let page = app
        .post(&format!("/admin/catalog/{change}"), &[("action", "delete")])
        .await;
    assert_ne!(page.flash().as_deref(), Some("Folder deleted."));
    let rest: Vec<countersign::db::ids::ServiceId> = app.query(move |c| {
        catalog_services::table
            .filter(catalog_services::node_id.eq(countersign::db::ids::CatalogNodeId(change)))
            .select(catalog_services::service_id)
            .load(c)
    });
    assert_eq!(rest.len(), 1, "the database change is left");
    app.post(
        &format!("/admin/catalog/{change}/services/{}/detach", rest[0].0),
        &[],
    )
    .await;
    let page = app
        .post(&format!("/admin/catalog/{change}"), &[("action", "delete")])
        .await;
    assert_eq!(page.flash().as_deref(), Some("Folder deleted."));
}

#[actix_web::test]
async fn the_catalog_shows_people_the_services_they_may_use_and_finds_them_by_search() {
    let app = TestApp::spawn().await;
    publish_demo(&app);
    let admin = app.query(|c| {
        countersign::db::schema::users::table
            .filter(countersign::db::schema::users::username.eq("admin"))
            .select(countersign::db::schema::users::id)
            .first::<countersign::db::ids::UserId>(c)
    });
    let wang = app.create_user("ops.wang", false);
    let ops = app.role_id("ops");
    app.db
        .write_sync(|c| {
            countersign::store::assignments::create(
                c,
                wang,
                ops,
                countersign::store::assignments::Scope::Global,
                admin,
            )
        })
        .unwrap();
    app.create_user("rd.zhao", false);

    app.sign_in("ops.wang").await;
    let page = app.get("/catalog").await;
    assert_eq!(
        page.attrs("#catalog .folder", "data-name"),
        vec!["Service catalog", "Environment change", "Access requests"]
    );
    assert_eq!(page.count("#catalog a"), 5);
    let page = app.get("/catalog?q=%E7%8E%AF%E5%A2%83").await;
    assert_eq!(page.texts("#catalog a"), vec!["Environment change"]);
    assert_eq!(
        page.input_value("form[role=search]", "q").as_deref(),
        Some("环境")
    );
    let page = app.get("/catalog?q=nothing-like-this").await;
    assert_eq!(page.count("#catalog a"), 0);
    assert!(page.text("#no-match").is_some());

    let rd = TestApp::browser();
    sign_in_as(&app, &rd, "rd.zhao", PASSWORD).await;
    let page = get(&rd, &app.url("/catalog")).await;
    assert_eq!(
        page.attrs("#catalog .folder", "data-name"),
        vec!["Service catalog", "Access requests"],
        "the change service is for ops only"
    );
    assert_eq!(
        page.texts("#catalog a"),
        vec![
            "Access request (RD)",
            "Access request (non-RD)",
            "Access request (agent)"
        ]
    );

    // A retired service leaves the catalog.
    let agent: Service = app.query(|c| {
        services::table
            .filter(services::name_en.eq("Access request (agent)"))
            .select(Service::as_select())
            .first(c)
    });
    app.sign_in("admin").await;
    let page = app
        .post(&format!("/admin/services/{}/retire", agent.id), &[])
        .await;
    assert_eq!(
        page.flash().as_deref(),
        Some("The service was retired; running tickets go on.")
    );
    assert_eq!(get(&rd, &app.url("/catalog")).await.count("#catalog a"), 2);
    assert_eq!(
        get(&rd, &app.url(&format!("/services/{}", agent.id)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn a_service_form_with_a_version_of_nothing_or_unknown_roles_is_refused() {
    let app = TestApp::spawn().await;
    publish_demo(&app);
    app.sign_in("admin").await;
    let version: i32 = app
        .query(|c| {
            process_versions::table
                .select(process_versions::id)
                .first::<countersign::db::ids::VersionId>(c)
        })
        .0;
    let v = version.to_string();

    let page = app
        .post(
            "/admin/services",
            &[("name_en", ""), ("version_id", "99999")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("name_en").as_deref(),
        Some("This field is required.")
    );
    let page = app
        .post(
            "/admin/services",
            &[("name_en", "X"), ("version_id", "99999")],
        )
        .await;
    assert_eq!(
        page.field_error("version_id").as_deref(),
        Some("Choose one of the listed options.")
    );
    let page = app
        .post(
            "/admin/services",
            &[
                ("name_en", "X"),
                ("version_id", v.as_str()),
                ("roles", "cto"),
            ],
        )
        .await;
    assert_eq!(
        page.field_error("roles").as_deref(),
        Some("This role does not exist.")
    );
    assert_eq!(
        page.input_value("#service-form", "name_en").as_deref(),
        Some("X")
    );
    let count: i64 = app.query(|c| services::table.count().get_result(c));
    assert_eq!(count, 5);
}

#[actix_web::test]
async fn resources_are_registered_with_an_owner_and_the_managed_flag() {
    let app = TestApp::spawn().await;
    let owner = app.create_user("owner.qian", false);
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let page = app
        .post(
            "/admin/resources",
            &[
                ("name", "dw.orders"),
                ("kind", "table"),
                ("owner", "owner.qian"),
                ("managed", "on"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    let saved: Resource = app.query(|c| resources::table.select(Resource::as_select()).first(c));
    assert_eq!(
        (
            saved.name.as_str(),
            saved.kind.as_str(),
            saved.owner_id,
            saved.managed
        ),
        ("dw.orders", "table", Some(owner), true)
    );
    assert_eq!(
        page.text("tr[data-name='dw.orders'] .badge").as_deref(),
        Some("managed")
    );

    let page = app
        .post(
            "/admin/resources",
            &[
                ("name", "dw.orders"),
                ("kind", "table"),
                ("owner", "nobody"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("owner").as_deref(),
        Some("This person does not exist or is deactivated.")
    );
    let page = app
        .post(
            "/admin/resources",
            &[
                ("name", "dw.orders"),
                ("kind", "table"),
                ("owner", "owner.qian"),
            ],
        )
        .await;
    assert_eq!(
        page.field_error("name").as_deref(),
        Some("This name is already taken.")
    );

    let page = app
        .post(
            &format!("/admin/resources/{}", saved.id),
            &[("name", "dw.orders"), ("kind", "table"), ("owner", "")],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved."));
    let saved: Resource = app.query(|c| resources::table.select(Resource::as_select()).first(c));
    assert_eq!((saved.owner_id, saved.managed), (None, false));
    app.post(&format!("/admin/resources/{}/delete", saved.id), &[])
        .await;
    let count: i64 = app.query(|c| resources::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn the_demo_publishes_the_change_and_the_permission_request_processes_once() {
    let app = TestApp::spawn().await;
    publish_demo(&app);
    let admin = app.query(|c| {
        countersign::db::schema::users::table
            .filter(countersign::db::schema::users::username.eq("admin"))
            .select(countersign::db::schema::users::id)
            .first::<countersign::db::ids::UserId>(c)
    });
    let again = app
        .db
        .write_sync(|c| demo_processes::load(c, admin))
        .unwrap();
    assert!(!again, "a second load creates nothing");

    let names: Vec<String> = app.query(|c| {
        processes::table
            .order(processes::id)
            .select(processes::name)
            .load(c)
    });
    assert_eq!(
        names,
        vec![
            "Environment change",
            "Database change",
            "Access request (RD)",
            "Access request (non-RD)",
            "Access request (agent)"
        ]
    );
    let deployed: i64 = app.query(|c| process_versions::table.count().get_result(c));
    assert_eq!(deployed, 5);
    let managed: Vec<String> = app.query(|c| {
        resources::table
            .filter(resources::managed.eq(true))
            .order(resources::name)
            .select(resources::name)
            .load(c)
    });
    assert_eq!(managed, vec!["dw.orders", "dw.payments"]);
    assert!(
        folders(&app)
            .iter()
            .any(|f| f.name_en == "Environment change" && f.name_zh == "环境变更")
    );
}
