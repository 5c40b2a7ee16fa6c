//! `/metrics`: what the server has sent its database, in Prometheus' text
//! format — statements (each a round trip on PostgreSQL) and transactions.
//! It reads no table, so reading it changes neither figure; the ticket
//! benchmark reads it before and after each phase.

use actix_web::{HttpResponse, web};

use super::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let sent = state.db.sent();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(format!(
            "# HELP countersign_db_statements_total Statements sent to the database, \
             including BEGIN and COMMIT (each a round trip on PostgreSQL).\n\
             # TYPE countersign_db_statements_total counter\n\
             countersign_db_statements_total {}\n\
             # HELP countersign_db_transactions_total Database transactions begun.\n\
             # TYPE countersign_db_transactions_total counter\n\
             countersign_db_transactions_total {}\n",
            sent.statements, sent.transactions
        ))
}
