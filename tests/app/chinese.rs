//! 简体中文 complete: every page a Chinese reader opens — everyday pages,
//! administration and the designer — shows no user-interface string from
//! `en.yml` (a sentence, a label, a button left in English).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use scraper::{ElementRef, Node};

use crate::email::file_change;
use crate::helpers::*;

/// Every English interface string that differs from its Chinese one, and
/// has no placeholder, by the key it comes from.
fn english_strings() -> Vec<(String, String)> {
    fn walk(
        prefix: &str,
        en: &serde_yaml::Value,
        zh: &serde_yaml::Value,
        out: &mut Vec<(String, String)>,
    ) {
        if let (serde_yaml::Value::Mapping(en), Some(zh)) = (en, zh.as_mapping()) {
            for (k, v) in en {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_string(),
                };
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let other = zh.get(k).cloned().unwrap_or(serde_yaml::Value::Null);
                match v {
                    serde_yaml::Value::String(text) => {
                        let same = other.as_str() == Some(text.as_str());
                        // The product's name is the same in both.
                        let brand = text == "countersign";
                        if !same && !brand && !text.contains("%{") && text.chars().count() >= 2 {
                            out.push((path, text.clone()));
                        }
                    }
                    nested => walk(&path, nested, &other, out),
                }
            }
        }
    }
    let read = |file: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    };
    let mut out = Vec::new();
    walk(
        "",
        &read("locales/en.yml"),
        &read("locales/zh-CN.yml"),
        &mut out,
    );
    out
}

/// What a reader sees of a page: its text pieces, and the attributes that
/// show (placeholders, titles, labels for screen readers, button values).
fn visible(page: &Page) -> Vec<String> {
    fn collect(el: ElementRef, out: &mut Vec<String>) {
        let name = el.value().name();
        if matches!(name, "script" | "style") {
            return;
        }
        for attr in ["placeholder", "title", "aria-label", "alt"] {
            if let Some(v) = el.value().attr(attr) {
                out.push(v.trim().to_string());
            }
        }
        for child in el.children() {
            match child.value() {
                Node::Text(text) => {
                    let text = text.trim();
                    if !text.is_empty() {
                        out.push(text.to_string());
                    }
                }
                Node::Element(_) => collect(ElementRef::wrap(child).unwrap(), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    collect(page.html.root_element(), &mut out);
    out
}

/// The English strings found on a page: a whole piece of text equal to
/// one, or a longer one (a sentence) inside a piece.
fn english_on(page: &Page, strings: &[(String, String)]) -> BTreeSet<String> {
    let pieces = visible(page);
    let mut found = BTreeSet::new();
    for (key, text) in strings {
        let hit = pieces.iter().any(|piece| {
            piece == text
                || (text.chars().count() >= 8
                    && text.contains(' ')
                    && piece.contains(text.as_str()))
        });
        if hit {
            found.insert(format!("{key}: {text}"));
        }
    }
    found
}

#[actix_web::test]
async fn pages_in_chinese_show_no_interface_string_from_the_english_catalog() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app).await;
    // Everyone reads Chinese.
    app.db
        .write_sync(|c| {
            use countersign::db::schema::users;
            use diesel::prelude::*;
            diesel::update(users::table)
                .set(users::language.eq("zh-CN"))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
    let strings = english_strings();
    let admin = app.demo_browser("admin").await;
    let lead = app.demo_browser("ops.lead").await;
    let process = 1;
    let mut pages: Vec<(&reqwest::Client, String)> = [
        "/",
        "/catalog",
        "/inbox",
        "/tickets",
        "/handled",
        "/access",
        "/profile",
        "/admin",
        "/admin/users",
        "/admin/users/new",
        "/admin/users/2",
        "/admin/businesses",
        "/admin/roles",
        "/admin/assignments",
        "/admin/delegations",
        "/admin/processes",
        "/admin/processes/new",
        "/admin/services",
        "/admin/services/new",
        "/admin/services/1",
        "/admin/catalog",
        "/admin/resources",
        "/admin/grants",
        "/admin/tickets",
        "/admin/outbox",
    ]
    .iter()
    .map(|p| (&admin, p.to_string()))
    .collect();
    pages.extend(
        [
            format!("/admin/processes/{process}"),
            format!("/admin/processes/{process}/info"),
            format!("/admin/processes/{process}/nodes"),
            format!("/admin/processes/{process}/nodes/lead_review"),
            format!("/admin/processes/{process}/notifications"),
            format!("/tickets/{id}"),
        ]
        .into_iter()
        .map(|p| (&admin, p)),
    );
    let ops = app.demo_browser("ops.wang").await;
    pages.push((&ops, "/services/1".to_string()));
    pages.push((&lead, format!("/tickets/{id}")));
    pages.push((&lead, "/inbox".to_string()));

    let mut problems = Vec::new();
    for (browser, path) in pages {
        let page = get(browser, &app.url(&path)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let found = english_on(&page, &strings);
        if !found.is_empty() {
            problems.push(format!(
                "{path}:\n  {}",
                found.into_iter().collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "English on Chinese pages:\n{}",
        problems.join("\n")
    );
}

#[actix_web::test]
async fn the_designer_names_roles_and_fields_in_chinese() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let admin = app.demo_browser("admin").await;
    post_as(
        &app,
        &admin,
        "/language",
        &[("lang", "zh-CN"), ("back", "/")],
    )
    .await;

    let page = get(&admin, &app.url("/admin/processes/1/nodes")).await;

    let summaries = page.texts("table td.small");
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("单据业务中的角色 运维负责人")),
        "{summaries:?}"
    );
    let roles = get(&admin, &app.url("/admin/roles")).await;
    assert!(
        roles
            .texts("td")
            .contains(&"审批所属业务的变更".to_string())
    );
}

#[actix_web::test]
async fn mail_goes_out_in_the_language_someone_last_used_when_they_never_chose_one() {
    let (listener, port) = free_port();
    let inbox = crate::smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    crate::request_view::people(&app);
    let service = crate::request_view::deploy_purchase(&app);
    // The approver never chose a language; their browser asks for Chinese.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(
            [(
                reqwest::header::ACCEPT_LANGUAGE,
                reqwest::header::HeaderValue::from_static("zh-CN,zh;q=0.9"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    sign_in_as(&app, &browser, "approver", PASSWORD).await;

    crate::approval_rules::file(&app, service, &[("what", "A laptop")]).await;

    let mail = inbox
        .wait_for(1, |m| m.contains("To: approver@example.com"))
        .await
        .remove(0);
    assert!(mail.contains("approver Person，您好："), "{mail}");
}
