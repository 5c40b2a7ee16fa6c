//! Errors as `application/problem+json` (RFC 9457): a type (a URN naming
//! the problem, stable for clients to match on), a title and detail in the
//! reader's language, the status, and for a 401 the `WWW-Authenticate`
//! challenge a bearer token gets.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::i18n::Lang;
use crate::store::StoreError;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document, ready to send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Each bad part of the request: a JSON pointer into it and what is
    /// wrong there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldProblem>,
    /// Members a problem type adds (RFC 9457 §3.2): who decided first…
    #[serde(flatten)]
    members: Box<serde_json::Map<String, serde_json::Value>>,
}

/// One bad part of a request: where (a JSON pointer, RFC 6901) and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pointer: String,
    detail: String,
}

impl FieldProblem {
    pub fn new(pointer: String, detail: impl Into<String>) -> FieldProblem {
        FieldProblem {
            pointer,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.status)
    }
}

impl Problem {
    /// The problem `code` (its type is `urn:countersign:problem:<code>`)
    /// with status `status`, titled by the catalog's `api.problem.<code>`.
    pub fn new(status: StatusCode, code: &str, lang: Lang) -> Problem {
        Problem::titled(
            status,
            code,
            lang.t(&format!("api.problem.{code}")).into_owned(),
        )
    }

    /// The problem `code` with its title given (a refusal's own words).
    pub fn titled(status: StatusCode, code: &str, title: String) -> Problem {
        Problem {
            kind: format!("urn:countersign:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            members: Box::default(),
        }
    }

    /// Adds the member `name` (an extension of the problem type).
    pub fn with_member(mut self, name: &str, value: serde_json::Value) -> Problem {
        self.members.insert(name.to_string(), value);
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Problem {
        self.errors = errors;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    /// What a store error says to an API client: not found is a 404;
    /// anything unexpected a 500 (logged, its cause not shown), or a 503
    /// when the database is away.
    pub fn from_store(e: StoreError, lang: Lang) -> Problem {
        match e {
            StoreError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", lang),
            StoreError::Pool(_) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", lang)
            }
            e => {
                tracing::error!(error = ?e, "an API request failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected", lang)
            }
        }
    }

    /// The problem a bare status stands for (what the framework answered
    /// before a handler could: an unknown address, a wrong method).
    pub fn for_status(status: StatusCode, lang: Lang) -> Problem {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::CONFLICT => "conflict",
            s if s.is_client_error() => "bad_request",
            _ => "unexpected",
        };
        Problem::new(status, code, lang)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if self.status == 401 {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"countersign\", error=\"invalid_token\"",
            ));
        }
        res.body(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The reader's language for an API answer: `Accept-Language`, else
/// English.
pub fn lang_of(req: &HttpRequest) -> Lang {
    req.headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
        .unwrap_or_default()
}

/// An address under `/api/v1` that is not there.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    Problem::new(StatusCode::NOT_FOUND, "not_found", lang_of(&req)).error_response()
}

/// A method the address does not take: 405, with the one it does in `Allow`.
pub async fn method_not_allowed(req: HttpRequest, allowed: &'static str) -> HttpResponse {
    let mut res = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        lang_of(&req),
    )
    .error_response();
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
    res
}
