//! One error policy: handlers return `AppError`; it picks the status, logs
//! the full cause, and leaves an `ErrorPage` marker that the error-page
//! middleware renders in the reader's language. Clients never see causes.

use actix_session::SessionExt;
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::i18n::Lang;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("sign-in required")]
    SignInRequired { next: String },
    #[error("the form's security token is missing or stale")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    TooLarge,
    /// The body came too slowly (`REQUEST_BODY_TIMEOUT_SECS`).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// A compressed request body, which is never inflated.
    #[error("compressed request bodies are not accepted")]
    CompressedBody,
    /// The database has no room left for the change; nothing was stored.
    #[error("storage is full: {0}")]
    StorageFull(StoreError),
    /// The database could not be reached (a lost connection, or none
    /// free in time); the unit of work did not happen.
    #[error("database unavailable: {0}")]
    Unavailable(StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::StorageFull(_) => AppError::StorageFull(e),
            StoreError::Rule { field, key } => {
                // A rule that reached here had no form to show it beside.
                AppError::BadRequest(format!("{field}: {key}"))
            }
            other if other.is_unavailable() => AppError::Unavailable(other),
            other => AppError::Unexpected(other.into()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Unexpected(e.into())
    }
}

/// What the error page should say; the middleware turns it into HTML.
#[derive(Debug, Clone, Copy)]
pub struct ErrorPage {
    pub title_key: &'static str,
    pub message_key: &'static str,
}

impl ErrorPage {
    fn for_status(status: StatusCode) -> ErrorPage {
        match status.as_u16() {
            400 => ErrorPage {
                title_key: "errors.page.400_title",
                message_key: "errors.page.400",
            },
            403 => ErrorPage {
                title_key: "errors.page.403_title",
                message_key: "errors.page.403",
            },
            404 => ErrorPage {
                title_key: "errors.page.404_title",
                message_key: "errors.page.404",
            },
            405 => ErrorPage {
                title_key: "errors.page.405_title",
                message_key: "errors.page.405",
            },
            408 => ErrorPage {
                title_key: "errors.page.408_title",
                message_key: "errors.page.408",
            },
            413 => ErrorPage {
                title_key: "errors.page.413_title",
                message_key: "errors.page.413",
            },
            415 => ErrorPage {
                title_key: "errors.page.415_title",
                message_key: "errors.page.415",
            },
            503 => ErrorPage {
                title_key: "errors.page.503_title",
                message_key: "errors.page.503",
            },
            _ if status.is_client_error() => ErrorPage {
                title_key: "errors.page.400_title",
                message_key: "errors.page.400",
            },
            _ => ErrorPage {
                title_key: "errors.page.500_title",
                message_key: "errors.page.500",
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::CompressedBody => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) | AppError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::SignInRequired { next } => {
                let location = format!("/sign-in?next={}", urlencode(next));
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish();
            }
            AppError::Unexpected(e) => tracing::error!(error = ?e, "request failed"),
            AppError::Unavailable(e) => tracing::warn!(error = %e, "the database is unavailable"),
            AppError::StorageFull(e) => tracing::error!(error = %e, "no room to store a change"),
            AppError::RequestTimeout => tracing::info!("a request body did not arrive in time"),
            AppError::BadRequest(why) => tracing::info!(%why, "bad request"),
            _ => {}
        }
        let status = self.status_code();
        let mut page = ErrorPage::for_status(status);
        match self {
            AppError::Csrf => {
                page = ErrorPage {
                    title_key: "errors.page.csrf_title",
                    message_key: "errors.page.csrf",
                }
            }
            AppError::StorageFull(_) => {
                page = ErrorPage {
                    title_key: "errors.page.full_title",
                    message_key: "errors.page.full",
                }
            }
            _ => {}
        }
        let mut res = HttpResponse::build(status).finish();
        res.extensions_mut().insert(page);
        res
    }
}

/// Minimal percent-encoding for a path carried in a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    lang: Lang,
    title: String,
    message: String,
    status: u16,
    /// The main navigation, for someone signed in (as the session says).
    nav: Option<ErrorNav>,
}

/// What an error page's navigation needs, from the session alone.
struct ErrorNav {
    is_admin: bool,
    csrf: String,
}

/// Renders every error response that is not already a page of its own
/// (router 404s, payload limits, `AppError`s) in the reader's language.
pub fn render_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let status = res.status();
    let problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(crate::api::problem::PROBLEM_JSON));
    if already_html || problem || status.is_redirection() {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    // The API answers in its own format, also for what the framework
    // refused before a handler ran.
    if res.request().path().starts_with("/api/") {
        let lang = crate::api::problem::lang_of(res.request());
        let answer = crate::api::problem::Problem::for_status(status, lang).error_response();
        let (req, _) = res.into_parts();
        return Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, answer).map_into_right_body(),
        ));
    }
    let page = res
        .response()
        .extensions()
        .get::<ErrorPage>()
        .copied()
        .unwrap_or_else(|| ErrorPage::for_status(status));
    let lang = super::lang::request_lang(res.request());
    let session = res.request().get_session();
    let nav = session
        .get::<i32>(super::ctx::SESSION_USER)
        .ok()
        .flatten()
        .map(|_| ErrorNav {
            is_admin: session
                .get::<bool>(super::ctx::SESSION_ADMIN)
                .ok()
                .flatten()
                .unwrap_or(false),
            csrf: session
                .get::<String>(super::ctx::SESSION_CSRF)
                .ok()
                .flatten()
                .unwrap_or_default(),
        });
    let body = ErrorTemplate {
        lang,
        nav,
        title: lang.t(page.title_key).into_owned(),
        message: lang.t(page.message_key).into_owned(),
        status: status.as_u16(),
    }
    .render()
    .unwrap_or_else(|_| "error".to_string());
    let (req, res) = res.into_parts();
    let mut new_res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    // A response to a body that was never read to the end closes the
    // connection (the server sets it); the page keeps that.
    new_res
        .head_mut()
        .set_connection_type(res.head().connection_type());
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new_res.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new_res).map_into_right_body(),
    ))
}
