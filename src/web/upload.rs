//! Reading a form that may carry files (`multipart/form-data`), as the
//! filing, resubmit, step and comment forms may: its text parts as
//! pairs, and each file written to the attachment store as it arrives —
//! never whole in memory — and recorded as its uploader's, its id then
//! standing in the form for its field. A file over the cap or empty is
//! not kept and is said beside its field; everything else the form held
//! is kept. A plain form is read as `CsrfForm` reads it. Either way the
//! CSRF token is checked.

use actix_multipart::Multipart;
use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;

use super::csrf::CsrfForm;
use super::ctx::SESSION_CSRF;
use super::{AppError, AppState};
use crate::db::ids::UserId;
use crate::flow::form::FieldError;
use crate::store::attachments::{self, Blobs, Refused};

/// The most text a multipart form's other parts may hold, in bytes.
const MAX_TEXT: usize = 256 * 1024;

/// The most files one form may carry.
const MAX_FILES: usize = 50;

/// A form as sent: its pairs (files as their new attachment ids), and
/// the files refused, by field.
#[derive(Debug, Default)]
pub struct Sent {
    pub pairs: Vec<(String, String)>,
    pub refused: Vec<(String, FieldError)>,
    /// The parts that were files kept: (part name, attachment id).
    pub files: Vec<(String, crate::db::ids::AttachmentId)>,
}

/// Whether `req` sends `multipart/form-data`.
pub fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// Reads the form of `req`, the files in it uploaded by `uploader`.
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    uploader: UserId,
) -> Result<Sent, AppError> {
    if !is_multipart(req) {
        let mut payload = payload.into_inner();
        let CsrfForm(pairs) =
            CsrfForm::<Vec<(String, String)>>::from_request(req, &mut payload).await?;
        return Ok(Sent {
            pairs,
            ..Sent::default()
        });
    }
    // Nothing is written for someone who can no longer act, nor for a
    // form whose token (its first part, as every form here sends it)
    // is not this session's.
    let active = state
        .db
        .read(move |c| attachments::may_upload(c, uploader))
        .await?;
    if !active {
        return Err(AppError::SignInRequired {
            next: req.path().to_string(),
        });
    }
    let expected = req
        .get_session()
        .get::<String>(SESSION_CSRF)
        .ok()
        .flatten()
        .unwrap_or_default();
    if expected.is_empty() {
        return Err(AppError::Csrf);
    }
    receive_checked(req, payload, state, uploader, Some(&expected)).await
}

/// Reads a `multipart/form-data` body: its text parts, and its files
/// written to the attachment store as `uploader`'s uploads (their ids in
/// the pairs, under their part's name), or refused by part name.
pub async fn receive(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    uploader: UserId,
) -> Result<Sent, AppError> {
    receive_checked(req, payload, state, uploader, None).await
}

/// `receive`, the first part having to be the CSRF token `csrf` when given.
async fn receive_checked(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    uploader: UserId,
    csrf: Option<&str>,
) -> Result<Sent, AppError> {
    let max_mb = state.config.http.attachment_max_mb;
    let cap = u64::from(max_mb) * 1024 * 1024;
    let blobs = Blobs::new(&state.config.data_dir);
    let mut sent = Sent::default();
    let mut text = 0usize;
    // Bytes read and thrown away (files over the cap): a client sending
    // far more than any form could hold is cut off.
    let mut skipped = 0u64;
    let mut parts = Multipart::new(req.headers(), payload);
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|e| AppError::BadRequest(format!("form part: {e}")))?;
        let disposition = part.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_string();
        let file_name = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .map(str::to_string);
        let first = sent.pairs.is_empty() && sent.refused.is_empty();
        if csrf.is_some() && first && (name != "csrf_token" || file_name.is_some()) {
            return Err(AppError::Csrf);
        }
        if sent.files.len() + sent.refused.len() >= MAX_FILES {
            return Err(AppError::TooLarge);
        }
        let Some(file_name) = file_name else {
            let mut value = Vec::new();
            while let Some(chunk) = part.next().await {
                let chunk = chunk.map_err(|e| AppError::BadRequest(format!("form part: {e}")))?;
                text += chunk.len();
                if text > MAX_TEXT {
                    return Err(AppError::TooLarge);
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| AppError::BadRequest("form text is not UTF-8".into()))?;
            if let Some(expected) = csrf.filter(|_| first)
                && !super::csrf::same(&value, expected)
            {
                return Err(AppError::Csrf);
            }
            sent.pairs.push((name, value));
            continue;
        };
        // A file input left empty sends a part with no name and no bytes.
        if file_name.is_empty() {
            while let Some(chunk) = part.next().await {
                skipped += chunk.map(|c| c.len() as u64).unwrap_or(0);
                if skipped > cap.saturating_mul(4) {
                    return Err(AppError::TooLarge);
                }
            }
            continue;
        }
        let shown = attachments::clean_name(&file_name);
        let content_type = attachments::clean_type(part.content_type().map(|m| m.essence_str()));
        let mut incoming = blobs.incoming(cap).map_err(|e| kept_nothing(e.into()))?;
        let mut over = false;
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| AppError::BadRequest(format!("file part: {e}")))?;
            if over {
                skipped += chunk.len() as u64;
                if skipped > cap.saturating_mul(4) {
                    return Err(AppError::TooLarge);
                }
                continue;
            }
            match incoming.write(&chunk) {
                Ok(()) => {}
                Err(Refused::TooLarge(_)) => over = true,
                Err(e) => return Err(kept_nothing(e)),
            }
        }
        if over {
            sent.refused.push((
                name,
                FieldError {
                    key: "form.file_over_cap",
                    args: vec![("name", shown), ("max", max_mb.to_string())],
                },
            ));
            continue;
        }
        let stored = match incoming.finish(&blobs) {
            Ok(stored) => stored,
            Err(Refused::Empty) => {
                sent.refused.push((
                    name,
                    FieldError {
                        key: "form.file_empty",
                        args: vec![("name", shown)],
                    },
                ));
                continue;
            }
            Err(e) => return Err(kept_nothing(e)),
        };
        let id = state
            .db
            .write(move |c| attachments::record(c, &stored, &shown, &content_type, uploader))
            .await?;
        sent.files.push((name.clone(), id));
        sent.pairs.push((name, id.to_string()));
    }
    Ok(sent)
}

/// A file that could not be written: a full disk says so (nothing was
/// kept), anything else is unexpected.
fn kept_nothing(e: Refused) -> AppError {
    match e {
        Refused::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            AppError::StorageFull(crate::store::StoreError::Unexpected(io.into()))
        }
        other => AppError::Unexpected(other.into()),
    }
}
