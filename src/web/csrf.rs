//! `CsrfForm<T>`: a urlencoded form whose `csrf_token` must match the
//! session's token. Every POST handler takes its input through it.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ctx::SESSION_CSRF;
use super::error::AppError;

pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf_token: String,
}

/// Compares without stopping at the first difference.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                let payload = e.as_error::<PayloadError>();
                let overflow = matches!(payload, Some(PayloadError::Overflow));
                let late = matches!(payload, Some(PayloadError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut);
                if overflow || status == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge
                } else if late {
                    AppError::RequestTimeout
                } else {
                    AppError::BadRequest(format!("reading form: {e}"))
                }
            })?;
            let sent: TokenOnly = serde_html_form::from_bytes(&body)
                .map_err(|e| AppError::BadRequest(format!("form encoding: {e}")))?;
            let expected = session
                .get::<String>(SESSION_CSRF)
                .ok()
                .flatten()
                .unwrap_or_default();
            if expected.is_empty() || !same(&sent.csrf_token, &expected) {
                return Err(AppError::Csrf);
            }
            let form = serde_html_form::from_bytes(&body)
                .map_err(|e| AppError::BadRequest(format!("form fields: {e}")))?;
            Ok(CsrfForm(form))
        })
    }
}

/// The body of a form whose only field is the token (delete, sign out).
#[derive(Deserialize)]
pub struct NoFields {}
