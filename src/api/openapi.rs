//! The API's OpenAPI 3.1 document, generated from the handlers' and
//! types' own annotations (utoipa) and served at `/api/v1/openapi.json`
//! to anyone: it describes the API, not anyone's data.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Adds the bearer scheme every operation names.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "A personal access token (cs_…) made on the profile page, acting as its person."
                .to_string(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "countersign API",
        description = "Changes and requests, their approvals and the deploy gate, as JSON. \
            Every request bears a token (Authorization: Bearer cs_…) and acts as its person \
            with exactly their rights; errors are application/problem+json (RFC 9457) \
            in the Accept-Language of the request.",
        license(name = "MIT"),
    ),
    paths(
        super::me,
        super::services::list,
        super::filing::file,
        super::filing::preview,
        super::tickets::show,
        super::actions::act,
        super::attachments::upload,
        super::attachments::download,
        super::lists::inbox,
        super::lists::mine,
        super::lists::all,
        super::gate::check,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "people", description = "Who the token acts as"),
        (name = "services", description = "What may be filed"),
        (name = "tickets", description = "Filing, reading and acting on tickets"),
        (name = "lists", description = "Inbox and ticket lists, in cursor pages"),
        (name = "changes", description = "The deploy gate"),
    )
)]
pub struct ApiDoc;

/// The document, as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string())
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> HttpResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.get_or_init(document).clone())
}
