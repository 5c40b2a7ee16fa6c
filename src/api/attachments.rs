//! `POST /api/v1/attachments`: files uploaded as the token's person
//! (`multipart/form-data`, one part per file), each answered with its id
//! to name in a file field when filing or completing a step, or in a
//! comment. Written to the attachment store as they arrive.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::bearer::Bearer;
use super::problem::{FieldProblem, Problem};
use crate::store::api_tokens::Scope;
use crate::store::attachments;
use crate::web::AppState;
use crate::web::error::AppError;

/// The body: any number of file parts (their part names are free).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadIn {
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    files: Vec<Vec<u8>>,
}

/// One file kept.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentOut {
    pub id: i32,
    pub name: String,
    pub size: i64,
    pub content_type: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    operation_id = "upload_attachments",
    tag = "tickets",
    summary = "Upload files",
    description = "Each file part becomes an upload of the token's person: name its id in a file field when filing or completing a step, or in a comment's files. Until then only they may use it. Needs an act token.",
    request_body(content = UploadIn, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The files kept", body = Vec<AttachmentOut>),
        (status = 400, description = "A body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Far more than any file may be", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A file empty or over the cap; errors point at its part", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn upload(
    bearer: Bearer,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    bearer.require(Scope::Act)?;
    if !crate::web::upload::is_multipart(&req) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_multipart",
            lang,
        ));
    }
    let sent = match crate::web::upload::receive(&req, body, &state, bearer.user).await {
        Ok(sent) => sent,
        Err(AppError::TooLarge) => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                lang,
            ));
        }
        Err(AppError::BadRequest(_)) => {
            return Err(Problem::new(StatusCode::BAD_REQUEST, "bad_body", lang));
        }
        Err(AppError::Unavailable(e)) | Err(AppError::StorageFull(e)) => {
            return Err(Problem::from_store(e, lang));
        }
        Err(e) => {
            return Err(Problem::from_store(
                crate::store::StoreError::Unexpected(anyhow::anyhow!("{e}")),
                lang,
            ));
        }
    };
    if !sent.refused.is_empty() {
        let errors = sent
            .refused
            .iter()
            .map(|(part, e)| {
                FieldProblem::new(
                    format!("/{part}"),
                    crate::web::ticket_form::error_text(lang, e),
                )
            })
            .collect();
        return Err(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "file_refused", lang)
                .with_errors(errors),
        );
    }
    // Only files: a part that is not one is pointed at, and so is a body
    // with none.
    let text = sent.pairs.iter().find(|(name, value)| {
        !sent
            .files
            .iter()
            .any(|(n, id)| n == name && id.to_string() == *value)
    });
    let pointed = match (text, sent.files.is_empty()) {
        (Some((name, _)), _) => Some(format!("/{name}")),
        (None, true) => Some("/files".to_string()),
        (None, false) => None,
    };
    if let Some(pointer) = pointed {
        return Err(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "not_a_file", lang).with_errors(vec![
                FieldProblem::new(pointer, lang.t("api.problem.not_a_file")),
            ]),
        );
    }
    let ids: Vec<crate::db::ids::AttachmentId> = sent.files.iter().map(|(_, id)| *id).collect();
    let me = bearer.user;
    let kept = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for id in ids {
                if let Some(a) = attachments::get(c, id)?.filter(|a| a.uploaded_by == me) {
                    out.push(AttachmentOut {
                        id: a.id.0,
                        name: a.name,
                        size: a.size,
                        content_type: a.content_type,
                    });
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?;
    Ok(HttpResponse::Created().json(kept))
}

#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    operation_id = "download_attachment",
    tag = "tickets",
    summary = "Download a file",
    description = "A file on a ticket the token's person may read (or their own upload not yet filed), as a download with the type it was uploaded as.",
    params(
        ("id" = i32, Path, description = "The file"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn download(
    bearer: Bearer,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let id = crate::db::ids::AttachmentId(path.into_inner());
    let me = bearer.user;
    let file = state
        .db
        .read(move |c| {
            let admin = crate::store::users::is_admin(c, me)?;
            let Some(file) = attachments::get(c, id)? else {
                return Ok(None);
            };
            Ok(attachments::may_download(c, &file, me, admin)?.then_some(file))
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "not_found", lang))?;
    crate::web::attachments::send(&state, &file).map_err(|e| match e {
        AppError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", lang),
        other => Problem::from_store(
            crate::store::StoreError::Unexpected(anyhow::anyhow!("{other}")),
            lang,
        ),
    })
}
