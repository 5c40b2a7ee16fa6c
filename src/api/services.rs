//! `GET /api/v1/services`: the services the token's person may use, each
//! with the fields its form asks for — what a pipeline needs to file.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::bearer::Bearer;
use super::problem::Problem;
use crate::flow::{FieldDef, LocalText};
use crate::i18n::Lang;
use crate::store::{processes, services};
use crate::web::AppState;

#[derive(Serialize, utoipa::ToSchema)]
struct ServiceOut {
    id: i32,
    /// In the reader's language (`Accept-Language`).
    name: String,
    kind: String,
    description: String,
    /// Whether filing names a business.
    business_required: bool,
    fields: Vec<FieldOut>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FieldOut {
    key: String,
    label: String,
    #[serde(rename = "type")]
    kind: &'static str,
    required: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    help: String,
    /// For selects, multi-selects and radios.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<OptionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OptionOut {
    value: String,
    label: String,
}

/// Admin-entered text in the reader's language (English where no Chinese
/// was entered).
fn text(t: &LocalText, lang: Lang) -> String {
    t.text(lang == Lang::ZhCn).to_string()
}

fn field(f: &FieldDef, lang: Lang) -> FieldOut {
    FieldOut {
        key: f.key.clone(),
        label: text(&f.label, lang),
        kind: f.kind.as_str(),
        required: f.required,
        help: text(&f.help, lang),
        options: f
            .choices
            .iter()
            .map(|c| OptionOut {
                value: c.value.clone(),
                label: text(&c.label, lang),
            })
            .collect(),
        min: f.min,
        max: f.max,
        max_length: f.max_length,
        pattern: f.pattern.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/services",
    operation_id = "list_services",
    tag = "services",
    summary = "Services the person may use",
    description = "Each with its submit form's fields (key, type, required, options), labels in the reader's language.",
    responses(
        (status = 200, description = "The services", body = Vec<ServiceOut>),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn list(bearer: Bearer, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let found = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for service in services::usable_by_person(c, bearer.user)? {
                let def = processes::definition(c, service.version_id)?;
                out.push((service, def));
            }
            Ok(out)
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?;
    let body: Vec<ServiceOut> = found
        .into_iter()
        .map(|(service, def)| ServiceOut {
            id: service.id.0,
            name: service.name(&lang).to_string(),
            kind: service.kind.clone(),
            description: service.description.clone(),
            business_required: def.business_required,
            fields: def
                .submit_fields()
                .into_iter()
                .map(|f| field(f, lang))
                .collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}
