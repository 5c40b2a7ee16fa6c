//! Form fields as pages show them: one view per field of a node, with the
//! value typed (or stored), the options, and the message beside it.

use std::collections::{BTreeMap, HashMap};

use crate::db::models::Resource;
use crate::flow::form::FieldError;
use crate::flow::{FieldDef, FieldKind};
use crate::i18n::Lang;

use super::forms::SelectOption;

pub struct FieldView {
    pub key: String,
    pub label: String,
    pub help: String,
    pub kind: &'static str,
    pub required: bool,
    /// The single value (text, number, select, member, link…).
    pub value: String,
    /// The chosen values of a multi-value field.
    pub values: Vec<String>,
    pub start: String,
    pub end: String,
    pub options: Vec<SelectOption>,
    pub error: Option<String>,
    /// The most characters it takes, for the browser's `maxlength`.
    pub max_length: Option<u32>,
    /// A file field: the endings it takes (`.pdf,.png`, for the browser's
    /// `accept`), and the files already sent with the form (id, name).
    pub accept: String,
    pub files: Vec<(String, String)>,
}

impl FieldView {
    pub fn chosen(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value) || self.value == value
    }

    /// Whether the field is long enough to deserve a live count.
    pub fn counted(&self) -> bool {
        self.kind == "textarea" || self.max_length.is_some_and(|max| max >= 200)
    }

    /// The id of the control an error summary links to.
    pub fn anchor(&self) -> String {
        match self.kind {
            "radio" | "resource" | "multi_select" => format!("field-{}", self.key),
            _ => format!("f-{}", self.key),
        }
    }
}

/// No message for a form's business (a form that asks for none).
pub const NO_BUSINESS_ERROR: Option<String> = None;

/// How many fields (and the business) need attention.
pub fn error_count(fields: &[FieldView], business_error: Option<&String>) -> usize {
    fields.iter().filter(|f| f.error.is_some()).count() + usize::from(business_error.is_some())
}

/// A form-value problem in words.
pub fn error_text(lang: Lang, e: &FieldError) -> String {
    let args: Vec<(&str, &str)> = e.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    lang.tf(e.key, &args)
}

/// Views of `fields` showing `raw` input (as typed, or from stored values).
pub fn views(
    lang: Lang,
    fields: &[&FieldDef],
    raw: &HashMap<String, Vec<String>>,
    errors: &BTreeMap<String, FieldError>,
    resources: &[Resource],
) -> Vec<FieldView> {
    let zh = lang == Lang::ZhCn;
    fields
        .iter()
        .map(|f| {
            let all = |key: &str| raw.get(key).cloned().unwrap_or_default();
            let first = |key: &str| {
                all(key)
                    .into_iter()
                    .find(|v| !v.trim().is_empty())
                    .unwrap_or_default()
            };
            let options = match f.kind {
                FieldKind::Resource => resources
                    .iter()
                    .map(|r| {
                        let managed = if r.managed {
                            format!(" · {}", lang.t("resources.managed"))
                        } else {
                            String::new()
                        };
                        SelectOption::new(r.id, format!("{} ({}{managed})", r.name, r.kind))
                    })
                    .collect(),
                _ => f
                    .choices
                    .iter()
                    .map(|c| SelectOption::new(&c.value, c.label.text(zh)))
                    .collect(),
            };
            // People fields are typed as one comma-separated line.
            let value = match f.kind {
                FieldKind::Members => all(&f.key).join(", "),
                _ => first(&f.key),
            };
            FieldView {
                key: f.key.clone(),
                label: f.label.text(zh).to_string(),
                help: f.help.text(zh).to_string(),
                kind: f.kind.as_str(),
                required: f.required,
                value,
                values: all(&f.key),
                start: first(&format!("{}.start", f.key)),
                end: first(&format!("{}.end", f.key)),
                options,
                error: errors.get(&f.key).map(|e| error_text(lang, e)),
                max_length: f.max_length,
                accept: f
                    .accept
                    .iter()
                    .map(|a| format!(".{}", a.trim_start_matches('.')))
                    .collect::<Vec<_>>()
                    .join(","),
                files: if f.kind == FieldKind::File {
                    all(&f.key)
                        .iter()
                        .flat_map(|v| v.split([',', ' ']))
                        .filter(|id| id.parse::<i32>().is_ok())
                        .map(|id| (id.to_string(), format!("#{id}")))
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// Names the files already sent with a form (`names`: by id, those the
/// reader may see); a file not named keeps its number.
pub fn name_files(views: &mut [FieldView], names: &HashMap<String, String>) {
    for (id, shown) in views.iter_mut().flat_map(|v| v.files.iter_mut()) {
        if let Some(name) = names.get(id.as_str()) {
            *shown = name.clone();
        }
    }
}

/// Whether any of `fields` takes files (its form is sent as multipart).
pub fn takes_files(fields: &[FieldView]) -> bool {
    fields.iter().any(|f| f.kind == "file")
}

/// Form input as a map of repeated keys, dropping the form's own controls.
pub fn raw_map(pairs: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut raw: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        if matches!(
            k.as_str(),
            "csrf_token" | "submit_token" | "business_id" | "comment" | "outcome" | "intent"
        ) {
            continue;
        }
        raw.entry(k.clone()).or_default().push(v.clone());
    }
    raw
}

/// The raw input again, as hidden inputs for the next step of a form.
pub fn hidden_pairs(raw: &HashMap<String, Vec<String>>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = raw
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
        .collect();
    pairs.sort();
    pairs
}
