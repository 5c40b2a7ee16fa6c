//! Downloading an uploaded file: for whoever may read its ticket (or its
//! uploader, before it is filed), streamed from the attachment store,
//! always as a download (`Content-Disposition: attachment`) with the
//! type it was uploaded as and `nosniff`, so a file never runs as a page
//! of countersign. A file that is not there for the reader is not found
//! — the same answer as a file that does not exist, as for tickets.

use std::io::Read;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::stream;

use super::ctx::Ctx;
use super::{AppError, AppState};
use crate::db::ids::AttachmentId;
use crate::store::attachments::{self, Blobs};

/// How much of a file is read at a time.
const CHUNK: usize = 64 * 1024;

pub async fn download(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let user = ctx.require_user()?;
    let (me, admin) = (user.id, user.is_admin);
    let id = AttachmentId(path.into_inner());
    let file = state
        .db
        .read(move |c| {
            let Some(file) = attachments::get(c, id)? else {
                return Ok(None);
            };
            Ok(attachments::may_download(c, &file, me, admin)?.then_some(file))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    send(&state, &file)
}

/// The file's bytes as a download, read as they are sent.
pub fn send(state: &AppState, file: &attachments::Attachment) -> Result<HttpResponse, AppError> {
    let path = Blobs::new(&state.config.data_dir).path_of(&file.sha256);
    // A file whose bytes are gone (a data folder restored without them)
    // is not there.
    let mut reader = std::fs::File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => AppError::NotFound,
        _ => AppError::Unexpected(e.into()),
    })?;
    let body = stream::iter(std::iter::from_fn(move || {
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok::<_, std::io::Error>(web::Bytes::from(buf)))
            }
            Err(e) => Some(Err(e)),
        }
    }));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, file.content_type.clone()))
        .insert_header((header::CONTENT_DISPOSITION, disposition(&file.name)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ))
        .no_chunking(file.size as u64)
        .streaming(body))
}

/// `attachment` with the name twice: plain ASCII for old clients, and
/// UTF-8 percent-encoded (RFC 6266) for the rest.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_names_its_file_safely_in_both_forms() {
        assert_eq!(
            disposition("报价 \"1\".pdf"),
            "attachment; filename=\"__ _1_.pdf\"; filename*=UTF-8''%E6%8A%A5%E4%BB%B7%20%221%22.pdf"
        );
    }
}
