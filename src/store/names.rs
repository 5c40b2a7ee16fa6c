//! Names for what forms store by id or username: a resource as
//! "dw.orders (table · managed)", a person as "Wang Wei (ops.wang)" — read
//! once for a form's values, then used to show them in any language.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::ResourceId;
use crate::db::schema::{resources as r, users};
use crate::flow::form::{Shown, Values, display_value};
use crate::flow::{FieldDef, FieldKind, ProcessDef};
use crate::i18n::Lang;

/// A resource as its label needs it.
#[derive(Debug, Clone)]
pub struct ResourceLabel {
    pub name: String,
    pub kind: String,
    pub managed: bool,
}

impl ResourceLabel {
    /// "dw.orders (table · managed)", the kind in the reader's language
    /// where countersign knows it.
    pub fn text(&self, lang: Lang) -> String {
        let kind = lang.t_or(&format!("resource_kinds.{}", self.kind), &self.kind);
        let key = if self.managed {
            "resources.label_managed"
        } else {
            "resources.label"
        };
        lang.tf(key, &[("name", &self.name), ("kind", &kind)])
    }
}

/// "Wang Wei (ops.wang)".
pub fn person_text(lang: Lang, display_name: &str, username: &str) -> String {
    lang.tf(
        "people.named",
        &[("name", display_name), ("username", username)],
    )
}

/// The resources and usernames that `values` name in fields of `def`.
/// A file's size in words: bytes, KiB or MiB.
pub fn size_words(size: i64) -> String {
    match size {
        s if s < 1024 => format!("{s} B"),
        s if s < 1024 * 1024 => format!("{:.1} KiB", s as f64 / 1024.0),
        s => format!("{:.1} MiB", s as f64 / (1024.0 * 1024.0)),
    }
}

/// The uploaded files `values` name in file fields of `def`, by id.
fn files_in(def: &ProcessDef, values: &Values) -> Vec<i32> {
    def.fields()
        .filter(|(_, f)| f.kind == FieldKind::File)
        .filter_map(|(_, f)| values.get(&f.key))
        .flat_map(super::attachments::ids_in)
        .map(|id| id.0)
        .collect()
}

fn referred(def: &ProcessDef, values: &Values) -> (Vec<ResourceId>, Vec<String>) {
    let mut resource_ids: Vec<ResourceId> = Vec::new();
    let mut usernames: Vec<String> = Vec::new();
    for (_, field) in def.fields() {
        let Some(value) = values.get(&field.key) else {
            continue;
        };
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        match field.kind {
            FieldKind::Resource => resource_ids.extend(
                items
                    .iter()
                    .filter_map(|v| v.as_i64())
                    .filter_map(|id| i32::try_from(id).ok())
                    .map(ResourceId),
            ),
            FieldKind::Member | FieldKind::Members => {
                usernames.extend(items.iter().filter_map(|v| v.as_str()).map(str::to_string))
            }
            _ => {}
        }
    }
    (resource_ids, usernames)
}

/// The names a form's values refer to.
#[derive(Debug, Clone, Default)]
pub struct Names {
    resources: HashMap<i64, ResourceLabel>,
    /// Display names by username.
    people: HashMap<String, String>,
    /// Uploaded files by id: name and size in bytes.
    files: HashMap<i64, (String, i64)>,
}

impl Names {
    /// Reads the resources and people that `values` name in fields of `def`.
    pub fn for_values(conn: &mut DbConn, def: &ProcessDef, values: &Values) -> StoreResult<Names> {
        let (resource_ids, usernames) = referred(def, values);
        let mut names = Names::of(conn, &resource_ids, &usernames)?;
        names.read_files(conn, &files_in(def, values))?;
        Ok(names)
    }

    /// Reads the uploaded files `ids`.
    fn read_files(&mut self, conn: &mut DbConn, ids: &[i32]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        use crate::db::schema::attachments as at;
        let rows: Vec<(crate::db::ids::AttachmentId, String, i64)> = at::table
            .filter(at::id.eq_any(ids.to_vec()))
            .select((at::id, at::name, at::size))
            .load(conn)?;
        self.files.extend(
            rows.into_iter()
                .map(|(id, name, size)| (i64::from(id.0), (name, size))),
        );
        Ok(())
    }

    /// The files a form names, by id, with their names.
    pub fn files_of(&self, def: &ProcessDef, values: &Values) -> Vec<(i64, String)> {
        files_in(def, values)
            .into_iter()
            .filter_map(|id| {
                let id = i64::from(id);
                self.files.get(&id).map(|(name, _)| (id, name.clone()))
            })
            .collect()
    }

    /// Reads the resources and people that several forms name.
    pub fn for_forms(conn: &mut DbConn, forms: &[(&ProcessDef, &Values)]) -> StoreResult<Names> {
        let (mut resource_ids, mut usernames) = (Vec::new(), Vec::new());
        let mut files = Vec::new();
        for (def, values) in forms {
            let (r, u) = referred(def, values);
            resource_ids.extend(r);
            usernames.extend(u);
            files.extend(files_in(def, values));
        }
        resource_ids.sort();
        resource_ids.dedup();
        usernames.sort();
        usernames.dedup();
        let mut names = Names::of(conn, &resource_ids, &usernames)?;
        names.read_files(conn, &files)?;
        Ok(names)
    }

    /// Reads the given resources and people.
    pub fn of(
        conn: &mut DbConn,
        resource_ids: &[ResourceId],
        usernames: &[String],
    ) -> StoreResult<Names> {
        let mut names = Names::default();
        if !resource_ids.is_empty() {
            let rows: Vec<(ResourceId, String, String, bool)> = r::table
                .filter(r::id.eq_any(resource_ids.to_vec()))
                .select((r::id, r::name, r::kind, r::managed))
                .load(conn)?;
            for (id, name, kind, managed) in rows {
                names.resources.insert(
                    i64::from(id.0),
                    ResourceLabel {
                        name,
                        kind,
                        managed,
                    },
                );
            }
        }
        if !usernames.is_empty() {
            let rows: Vec<(String, String)> = users::table
                .filter(users::username.eq_any(usernames.to_vec()))
                .select((users::username, users::display_name))
                .load(conn)?;
            names.people.extend(rows);
        }
        Ok(names)
    }

    /// A resource's label in `lang`, if it is known.
    pub fn resource(&self, id: i64, lang: Lang) -> Option<String> {
        self.resources.get(&id).map(|r| r.text(lang))
    }

    /// A value of `field` as a reader of `lang` reads it.
    pub fn show(&self, lang: Lang, field: &FieldDef, value: &Value) -> String {
        let (yes, no) = (lang.t("common.yes"), lang.t("common.no"));
        let resource = |id: i64| self.resource(id, lang);
        let person = |username: &str| {
            self.people
                .get(username)
                .map(|name| person_text(lang, name, username))
        };
        display_value(
            field,
            value,
            &Shown {
                zh: lang == Lang::ZhCn,
                yes: &yes,
                no: &no,
                resource: &resource,
                person: &person,
                file: &|id| {
                    self.files
                        .get(&id)
                        .map(|(name, size)| format!("{name} ({})", size_words(*size)))
                },
            },
        )
    }
}
