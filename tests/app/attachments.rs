//! Attachments: files filed with a form or a comment, stored once by
//! their hash, downloaded only by those who may read the ticket, always
//! as a download with `nosniff`; a file too large, empty or of a kind the
//! field does not take is said beside its field, the rest of the form
//! kept.

use countersign::db::ids::ApplyId;
use countersign::db::schema::attachments;
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use sha2::Digest;

use crate::api::token_for;
use crate::approval_rules::{approval, people};
use crate::helpers::*;

/// A purchase whose submit form takes a quote: up to two PDF or text
/// files of at most 1 MiB each.
fn deploy_quotes(app: &TestApp) -> i32 {
    let mut def = ProcessDef::new(LocalText::new("Purchase", "采购"), ProcessKind::Request);
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new("what", LocalText::new("What", "内容"), FieldKind::Text)
    });
    def.nodes[0].fields.push(FieldDef {
        max_files: Some(2),
        max_mb: Some(1),
        accept: vec!["pdf".into(), "txt".into()],
        ..FieldDef::new("quote", LocalText::new("Quote", "报价"), FieldKind::File)
    });
    def.nodes.push(approval("check", Mode::Any, &["approver"]));
    app.deploy_service(&def, "Purchase").0
}

/// Posts a multipart form with the CSRF token, `fields` and `files`
/// (field, name, type, bytes).
async fn post_files(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    files: Vec<(&str, &str, &str, Vec<u8>)>,
) -> Page {
    let mut form = Form::new().text("csrf_token", csrf_token(app, browser).await);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (field, name, kind, bytes) in files {
        let part = Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(kind)
            .unwrap();
        form = form.part(field.to_string(), part);
    }
    let res = browser
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap();
    Page::from(res).await
}

/// The uploads on ticket `id`: (name, size, field).
fn on_ticket(app: &TestApp, id: i32) -> Vec<(String, i64, Option<String>)> {
    app.query(move |c| {
        attachments::table
            .filter(attachments::apply_id.eq(ApplyId(id)))
            .order(attachments::id)
            .select((attachments::name, attachments::size, attachments::field_key))
            .load(c)
    })
}

fn ticket_of(page: &Page) -> i32 {
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {} {}", page.path, page.status))
}

#[actix_web::test]
async fn a_file_filed_with_the_form_is_downloaded_by_those_who_may_read_the_ticket_and_no_one_else()
{
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy_quotes(&app);
    let applicant = browser_for(&app, "applicant").await;
    let quote = b"%PDF-1.4 a quote for two laptops".to_vec();
    let page = post_files(
        &app,
        &applicant,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "Two laptops")],
        vec![(
            "quote",
            "..\\..\\报价/../单 2026.pdf",
            "application/pdf",
            quote.clone(),
        )],
    )
    .await;
    let id = ticket_of(&page);
    // The name keeps its last part only; the bytes are kept by their hash.
    assert_eq!(
        on_ticket(&app, id),
        vec![(
            "单 2026.pdf".to_string(),
            quote.len() as i64,
            Some("quote".to_string())
        )]
    );
    let sha = hex::encode(sha2::Sha256::digest(&quote));
    let stored = app
        .data_dir()
        .join("attachments")
        .join(&sha[..2])
        .join(&sha);
    assert_eq!(std::fs::read(stored).unwrap(), quote);

    // On the ticket page, as a link; the approver downloads it.
    let approver = browser_for(&app, "approver").await;
    let page = get(&approver, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(page.texts("a.attachment"), vec!["单 2026.pdf"]);
    let href = page.attr("a.attachment", "href").unwrap();
    let res = approver.get(app.url(&href)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/pdf");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(
        header("content-disposition").starts_with("attachment;")
            && header("content-disposition").contains("filename*=UTF-8''%E5%8D%95%202026.pdf"),
        "{}",
        header("content-disposition")
    );
    assert_eq!(res.bytes().await.unwrap().to_vec(), quote);

    // Someone who may not read the ticket finds nothing there, as with a
    // file that does not exist; nor does anyone signed out.
    let stranger = browser_for(&app, "stranger").await;
    let res = stranger.get(app.url(&href)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = stranger
        .get(app.url("/attachments/999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let signed_out = get(&TestApp::browser(), &app.url(&href)).await;
    assert!(
        signed_out.path.starts_with("/sign-in"),
        "{}",
        signed_out.path
    );

    // The API lists it with the ticket.
    let (status, ticket) = crate::api::get_json(
        &app,
        &format!("/api/v1/tickets/{id}"),
        &token_for(&app, "approver", Scope::Read),
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ticket["attachments"][0]["name"], "单 2026.pdf");
    assert_eq!(ticket["attachments"][0]["field"], "quote");
    let url = ticket["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("/api/v1{href}"));
    // And the token downloads it; a stranger's token finds nothing.
    let res = reqwest::Client::new()
        .get(app.url(&url))
        .bearer_auth(token_for(&app, "approver", Scope::Read))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["x-content-type-options"].to_str().unwrap(),
        "nosniff"
    );
    assert_eq!(res.bytes().await.unwrap().to_vec(), quote);
    let res = reqwest::Client::new()
        .get(app.url(&url))
        .bearer_auth(token_for(&app, "stranger", Scope::Read))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_file_too_large_empty_or_of_another_kind_is_said_beside_its_field_and_the_rest_kept() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy_quotes(&app);
    let applicant = browser_for(&app, "applicant").await;
    let path = format!("/services/{service}");
    for (name, kind, bytes, says) in [
        (
            "big.pdf",
            "application/pdf",
            vec![b'x'; 1024 * 1024 + 1],
            "larger than 1 MiB",
        ),
        ("empty.pdf", "application/pdf", Vec::new(), "is empty"),
        (
            "setup.exe",
            "application/octet-stream",
            b"MZ".to_vec(),
            "not a kind this field takes",
        ),
    ] {
        let page = post_files(
            &app,
            &applicant,
            &path,
            &[("intent", "submit"), ("what", "Two laptops")],
            vec![("quote", name, kind, bytes)],
        )
        .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let error = page.field_error("quote").unwrap_or_default();
        assert!(error.contains(says), "{name}: {error}");
        assert_eq!(
            page.input_value("#ticket-form", "what").as_deref(),
            Some("Two laptops"),
            "the rest of the form is kept"
        );
        assert_eq!(
            page.attr("#ticket-form", "enctype").as_deref(),
            Some("multipart/form-data")
        );
    }
    let none: i64 = app.query(|c| {
        attachments::table
            .filter(attachments::apply_id.is_not_null())
            .count()
            .get_result(c)
    });
    assert_eq!(none, 0, "nothing was filed");

    // A file sent once is kept through a correction: the form comes back
    // with it ticked, and filing takes it.
    let page = post_files(
        &app,
        &applicant,
        &path,
        &[("intent", "submit"), ("what", "")],
        vec![("quote", "quote.txt", "text/plain", b"two laptops".to_vec())],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.texts("#f-quote-kept li"), vec!["quote.txt"]);
    let kept = page
        .attr("#f-quote-kept input", "value")
        .expect("the file kept");
    let page = post_as(
        &app,
        &applicant,
        &path,
        &[
            ("intent", "submit"),
            ("what", "Two laptops"),
            ("quote", &kept),
        ],
    )
    .await;
    let id = ticket_of(&page);
    assert_eq!(on_ticket(&app, id).len(), 1);

    // Someone else's upload is not theirs to file.
    let approver = browser_for(&app, "approver").await;
    let other = post_files(
        &app,
        &approver,
        &path,
        &[("intent", "submit"), ("what", "")],
        vec![("quote", "mine.txt", "text/plain", b"mine".to_vec())],
    )
    .await;
    let theirs = other.attr("#f-quote-kept input", "value").unwrap();
    let page = post_as(
        &app,
        &applicant,
        &path,
        &[("intent", "submit"), ("what", "Theirs"), ("quote", &theirs)],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.field_error("quote")
            .unwrap()
            .contains("not one you uploaded")
    );
}

#[actix_web::test]
async fn a_comment_carries_files_and_a_hundred_megabyte_upload_streams_to_disk() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy_quotes(&app);
    let id = crate::approval_rules::file(&app, service, &[("what", "Two laptops")]).await;
    let approver = browser_for(&app, "approver").await;
    let page = post_files(
        &app,
        &approver,
        &format!("/tickets/{id}"),
        &[("intent", "comment"), ("comment", "The signed order")],
        vec![(
            "files",
            "order.pdf",
            "application/pdf",
            b"%PDF order".to_vec(),
        )],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(on_ticket(&app, id), vec![("order.pdf".into(), 10, None)]);
    // An empty file: said beside the files, the comment kept, nothing sent.
    let page = post_files(
        &app,
        &approver,
        &format!("/tickets/{id}"),
        &[("intent", "comment"), ("comment", "And the invoice")],
        vec![("files", "invoice.pdf", "application/pdf", Vec::new())],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#f-comment-files-error")
            .unwrap()
            .contains("is empty")
    );
    assert_eq!(
        page.text("#f-ticket-comment").as_deref(),
        Some("And the invoice")
    );
    assert_eq!(on_ticket(&app, id).len(), 1);
    let lines = page.texts("ol.timeline li");
    assert!(lines.iter().any(|l| l.contains("order.pdf")), "{lines:?}");

    // 100 MiB through the API, sent as it is made: kept whole on disk.
    const SIZE: usize = 100 * 1024 * 1024;
    let chunks = futures_util::stream::iter(
        (0..SIZE / (1024 * 1024))
            .map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; 1024 * 1024])),
    );
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(chunks), SIZE as u64)
        .file_name("disk.img")
        .mime_str("application/octet-stream")
        .unwrap();
    let secret = token_for(&app, "approver", Scope::Act);
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/attachments"))
        .bearer_auth(&secret)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let kept: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(kept[0]["size"], SIZE as i64);
    assert_eq!(kept[0]["name"], "disk.img");
    // A read token uploads nothing.
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/attachments"))
        .bearer_auth(token_for(&app, "approver", Scope::Read))
        .multipart(Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("x.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
