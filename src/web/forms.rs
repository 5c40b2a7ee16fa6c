//! Form plumbing: errors shown beside fields, and options for selects.

use std::collections::BTreeMap;

use crate::domain::Problem;
use crate::i18n::Lang;
use crate::store::StoreError;

use super::error::AppError;

/// Messages to show beside fields ("" is the whole form), already translated.
#[derive(Debug, Default)]
pub struct FieldErrors {
    lang: Lang,
    map: BTreeMap<&'static str, String>,
}

impl FieldErrors {
    pub fn new(lang: Lang) -> FieldErrors {
        FieldErrors {
            lang,
            map: BTreeMap::new(),
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.map.get(field).map(String::as_str)
    }

    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The message for the form as a whole, if any.
    pub fn form(&self) -> Option<&str> {
        self.get("")
    }

    pub fn add(&mut self, field: &'static str, key: Problem) {
        let text = self.lang.t(key).into_owned();
        self.map.entry(field).or_insert(text);
    }

    /// Notes a message already put into words (with its arguments filled in).
    pub fn add_message(&mut self, field: &'static str, text: String) {
        self.map.entry(field).or_insert(text);
    }

    /// Keeps a parsed value, or notes the problem beside `field`.
    pub fn check<T>(&mut self, field: &'static str, parsed: Result<T, Problem>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(key) => {
                self.add(field, key);
                None
            }
        }
    }

    /// A form's write: what it saved, or `None` with the rule that refused
    /// it beside its field (the form is shown again); any other store
    /// error is passed on.
    pub fn saved<T>(&mut self, result: Result<T, StoreError>) -> Result<Option<T>, AppError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) => {
                self.absorb(e)?;
                Ok(None)
            }
        }
    }

    /// Turns a refused store change into a message beside its field; any
    /// other store error is passed on.
    pub fn absorb(&mut self, e: StoreError) -> Result<(), AppError> {
        match e {
            StoreError::Rule { field, key } => {
                self.add(field, key);
                Ok(())
            }
            other => Err(other.into()),
        }
    }
}

/// One `<option>` of a select.
#[derive(Debug, Clone)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
}

impl SelectOption {
    pub fn new(value: impl ToString, label: impl Into<String>) -> SelectOption {
        SelectOption {
            value: value.to_string(),
            label: label.into(),
        }
    }
}

/// A choice of role, by code, named in `lang`, after a first option
/// `none` (value "") that picks no role.
pub fn role_options(
    lang: crate::i18n::Lang,
    roles: &crate::store::roles::RoleNames,
    none: String,
) -> Vec<SelectOption> {
    let zh = lang == crate::i18n::Lang::ZhCn;
    let mut sorted: Vec<_> = roles.iter().collect();
    sorted.sort_by_key(|(code, _)| *code);
    std::iter::once(SelectOption::new("", none))
        .chain(sorted.into_iter().map(|(code, (en, zh_name))| {
            let name = if zh && !zh_name.is_empty() {
                zh_name
            } else {
                en
            };
            SelectOption::new(code, name.clone())
        }))
        .collect()
}

/// Hidden fields for a form macro that takes some (`confirm`): none.
pub fn no_fields() -> Vec<(&'static str, String)> {
    Vec::new()
}

/// One hidden field for a form macro (`confirm`).
pub fn hidden(name: &'static str, value: impl ToString) -> Vec<(&'static str, String)> {
    vec![(name, value.to_string())]
}

/// The most characters a form field of this name takes, as the server
/// checks it (`domain`), for the browser's `maxlength` and counter.
pub fn max_chars(field: &str) -> Option<usize> {
    match field {
        "name" | "name_en" | "name_zh" | "display_name" | "label_en" | "label_zh" | "kind" => {
            Some(crate::domain::Name::MAX)
        }
        "description" | "note" | "message" => Some(crate::domain::NOTE_MAX),
        "username" | "user" | "from_user" | "to_user" | "manager" | "owner" | "code" => {
            Some(crate::domain::USERNAME_MAX)
        }
        "new_password" | "confirm" => Some(crate::domain::PASSWORD_MAX),
        _ => None,
    }
}

/// How a form field of this name names people, for the picker's script:
/// `one` person, or `many` separated by commas.
pub fn people_field(field: &str) -> Option<&'static str> {
    match field {
        "user" | "owner" | "manager" | "from_user" | "to_user" => Some("one"),
        "usernames" => Some("many"),
        _ => None,
    }
}

/// Whether a field is long enough to deserve a live count of what is left.
pub fn counted(field: &str) -> bool {
    max_chars(field).is_some_and(|max| max >= 200)
}

/// Parses an optional id from a select: "" is none, anything unparsable is
/// an unknown choice (refused beside the field, never a 500).
pub fn optional_id<T: std::str::FromStr>(input: &str) -> Result<Option<T>, Problem> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    input.parse().map(Some).map_err(|_| "errors.unknown_choice")
}

/// Like `optional_id`, for a select that must be chosen.
pub fn required_id<T: std::str::FromStr>(input: &str) -> Result<T, Problem> {
    optional_id(input)?.ok_or("errors.required")
}

/// Parses `YYYY-MM-DDTHH:MM` from a datetime-local input (seconds optional).
pub fn datetime_local(input: &str) -> Result<chrono::NaiveDateTime, Problem> {
    let input = input.trim();
    if input.is_empty() {
        return Err("errors.required");
    }
    chrono::NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(input, "%Y-%m-%d %H:%M"))
        .map_err(|_| "errors.datetime_format")
}

/// Formats a timestamp for a datetime-local input.
pub fn to_datetime_local(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

/// Every service (named in `lang`) and every business, as choices: what
/// admin filters and subscriptions narrow by.
pub fn service_and_business_options(
    c: &mut crate::db::DbConn,
    lang: crate::i18n::Lang,
) -> crate::store::StoreResult<(Vec<SelectOption>, Vec<SelectOption>)> {
    let services = crate::store::services::list(c, true)?
        .into_iter()
        .map(|r| SelectOption::new(r.service.id, r.service.name(&lang)))
        .collect();
    let businesses = crate::store::businesses::list(c)?
        .into_iter()
        .map(|b| SelectOption::new(b.id, b.name))
        .collect();
    Ok((services, businesses))
}

/// A token's scopes as choices, in `lang`.
pub fn scope_options(lang: crate::i18n::Lang) -> Vec<SelectOption> {
    crate::store::api_tokens::Scope::ALL
        .iter()
        .map(|s| SelectOption::new(s.as_str(), lang.t(&format!("tokens.scope_{}", s.as_str()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_selects_are_parsed_or_refused() {
        assert_eq!(optional_id::<i32>(""), Ok(None));
        assert_eq!(optional_id::<i32>("12"), Ok(Some(12)));
        assert_eq!(optional_id::<i32>("x"), Err("errors.unknown_choice"));
        assert_eq!(required_id::<i32>(""), Err("errors.required"));
    }

    #[test]
    fn datetime_local_inputs_are_parsed() {
        assert!(datetime_local("2026-11-21T09:30").is_ok());
        assert_eq!(datetime_local("tomorrow"), Err("errors.datetime_format"));
    }
}
