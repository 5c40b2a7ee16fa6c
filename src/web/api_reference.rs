//! `/help/api`: the API's reference as a page, read from the same OpenAPI
//! document the API serves (so it lists exactly what is there), each
//! operation, parameter and answer in the reader's language from the
//! catalog (`api.reference`), with a curl example for each operation.

use actix_web::HttpResponse;
use askama::Template;
use serde_json::Value;

use super::ctx::Ctx;
use super::{AppError, render};

/// One operation of the document, as the page shows it.
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub tag: String,
    pub params: Vec<Param>,
    /// The request body's schema name, if it takes one.
    pub body: Option<String>,
    /// The statuses it answers with.
    pub statuses: Vec<String>,
    pub curl: String,
}

pub struct Param {
    pub name: String,
    pub place: String,
    pub required: bool,
}

/// The operations of `document` in its order.
pub fn operations(document: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = document["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(methods) = item.as_object() else {
            continue;
        };
        for (method, op) in methods {
            let params = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| Param {
                            name: p["name"].as_str().unwrap_or_default().to_string(),
                            place: p["in"].as_str().unwrap_or_default().to_string(),
                            required: p["required"].as_bool().unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_string);
            let statuses = op["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            let method = method.to_uppercase();
            let curl = if method == "POST" {
                format!(
                    "curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n     -H 'Idempotency-Key: 7f1c…' -d @body.json \\\n     \"$COUNTERSIGN{path}\""
                )
            } else {
                format!("curl -H \"Authorization: Bearer $TOKEN\" \"$COUNTERSIGN{path}\"")
            };
            out.push(Operation {
                id: op["operationId"].as_str().unwrap_or_default().to_string(),
                method,
                path: path.clone(),
                tag: op["tags"][0].as_str().unwrap_or_default().to_string(),
                params,
                body,
                statuses,
                curl,
            });
        }
    }
    out
}

#[derive(Template)]
#[template(path = "api_reference.html")]
struct ReferencePage {
    ctx: Ctx,
    operations: Vec<Operation>,
}

impl ReferencePage {
    fn op_text(&self, op: &Operation, part: &str) -> String {
        self.ctx
            .t(&format!("api.reference.ops.{}.{part}", op.id))
            .into_owned()
    }

    fn param_text(&self, param: &Param) -> String {
        self.ctx
            .t(&format!("api.reference.params.{}", param.name))
            .into_owned()
    }

    fn status_text(&self, status: &str) -> String {
        self.ctx
            .t(&format!("api.reference.statuses.s{status}"))
            .into_owned()
    }
}

/// `GET /help/api`, open to anyone, as the document is.
pub async fn show(ctx: Ctx) -> Result<HttpResponse, AppError> {
    let document: Value =
        serde_json::from_str(&crate::api::openapi::document()).unwrap_or_default();
    render(&ReferencePage {
        ctx,
        operations: operations(&document),
    })
}
