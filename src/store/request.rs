//! What an approver sees of a request where they decide — in the mail that
//! asks them, on the page a mailed link opens, in the inbox: the ticket's
//! service and business, and the submit form's fields that the step may
//! read (not those its designer hid from it), in the reader's language.

use std::sync::Arc;

use diesel::prelude::*;

use super::StoreResult;
use super::names::Names;
use crate::db::DbConn;
use crate::db::models::Apply;
use crate::db::schema::{businesses, services};
use crate::flow::form::Values;
use crate::flow::{FieldAccess, ProcessDef};
use crate::i18n::Lang;

/// The service a ticket was filed for (its names in English and Chinese)
/// and the business it was filed in, if any.
pub fn filed_where(
    conn: &mut DbConn,
    ticket: &Apply,
) -> StoreResult<((String, String), Option<String>)> {
    let service: (String, String) = crate::direct!(conn, |c| services::table
        .find(ticket.service_id)
        .select((services::name_en, services::name_zh))
        .first(c))?;
    let business = match ticket.business_id {
        Some(id) => Some(crate::direct!(conn, |c| businesses::table
            .find(id)
            .select(businesses::name)
            .first::<String>(c))?),
        None => None,
    };
    Ok((service, business))
}

/// A ticket's request as one of its steps may see it.
#[derive(Clone, Debug)]
pub struct Request {
    def: Arc<ProcessDef>,
    node_key: String,
    values: Values,
    names: Arc<Names>,
    service: (String, String),
    business: Option<String>,
}

impl Request {
    /// The request of `ticket` as its step `node_key` may see it.
    pub fn read(conn: &mut DbConn, ticket: &Apply, node_key: &str) -> StoreResult<Request> {
        let filed = filed_where(conn, ticket)?;
        Request::read_filed(conn, ticket, node_key, filed)
    }

    /// Like `read`, with the service and business already read.
    pub fn read_filed(
        conn: &mut DbConn,
        ticket: &Apply,
        node_key: &str,
        (service, business): ((String, String), Option<String>),
    ) -> StoreResult<Request> {
        let def = super::tickets::def_of(conn, ticket)?;
        let values: Values = ticket.form.0.clone();
        let names = Names::for_values(conn, &def, &values)?;
        Ok(Request {
            def,
            node_key: node_key.to_string(),
            values,
            names: Arc::new(names),
            service,
            business,
        })
    }

    /// A request from what a list (the inbox) read of it, with the names
    /// read once for the whole list.
    pub fn from_parts(
        def: Arc<ProcessDef>,
        node_key: String,
        values: Values,
        names: Arc<Names>,
        service: (String, String),
        business: Option<String>,
    ) -> Request {
        Request {
            def,
            node_key,
            values,
            names,
            service,
            business,
        }
    }

    /// The submit form's fields the step may read, in a line: what an
    /// inbox row shows of the request, cut at about `chars` characters.
    pub fn summary(&self, lang: Lang, chars: usize) -> String {
        let sep = if lang == Lang::ZhCn { "；" } else { " · " };
        let colon = if lang == Lang::ZhCn { "：" } else { ": " };
        let line = self
            .fields(lang)
            .into_iter()
            .map(|(label, value)| {
                let value: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
                format!("{label}{colon}{value}")
            })
            .collect::<Vec<_>>()
            .join(sep);
        if line.chars().count() > chars {
            format!("{}…", line.chars().take(chars).collect::<String>())
        } else {
            line
        }
    }

    /// The service in the reader's language.
    pub fn service(&self, lang: Lang) -> &str {
        match (&self.service, lang) {
            ((_, zh), Lang::ZhCn) if !zh.is_empty() => zh,
            ((en, _), _) => en,
        }
    }

    pub fn business(&self) -> Option<&str> {
        self.business.as_deref()
    }

    /// The submit form's fields the step may read, as (label, value) in
    /// `lang`, in the form's order; fields left empty are left out.
    pub fn fields(&self, lang: Lang) -> Vec<(String, String)> {
        let zh = lang == Lang::ZhCn;
        let step = self.def.node(&self.node_key);
        self.def
            .nodes
            .first()
            .map(|submit| submit.fields.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|f| step.is_none_or(|n| n.access(&f.key) != FieldAccess::Hidden))
            .filter_map(|f| {
                let value = self.values.get(&f.key)?;
                let shown = self.names.show(lang, f, value);
                (!shown.trim().is_empty()).then(|| (f.label.text(zh).to_string(), shown))
            })
            .collect()
    }

    /// The files the request carries (id, name), for links to them.
    pub fn files(&self) -> Vec<(i64, String)> {
        self.names.files_of(&self.def, &self.values)
    }

    /// Service, business and the readable fields, as (label, value) in `lang`.
    pub fn lines(&self, lang: Lang) -> Vec<(String, String)> {
        let mut lines = vec![(
            lang.t("tickets.service").into_owned(),
            self.service(lang).to_string(),
        )];
        if let Some(business) = self.business() {
            lines.push((
                lang.t("tickets.business").into_owned(),
                business.to_string(),
            ));
        }
        lines.extend(self.fields(lang));
        lines
    }
}
