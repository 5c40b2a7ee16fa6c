//! Static assets, compiled into the binary so one file deploys everything.

use actix_web::HttpResponse;
use actix_web::http::header;

const APP_CSS: &str = include_str!("../../static/app.css");

pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_CSS)
}

/// For load balancers and the test harness: the process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}
