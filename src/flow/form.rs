//! Form values: parsing and validating what is submitted for a node's fields,
//! the designer's check of a field's default, and showing stored values again.
//!
//! Submitted input is the urlencoded form as `key -> [values]` (a key repeats
//! for multi-value fields; a missing key means nothing was submitted). Parsed
//! values are JSON, keyed by field key in [`Values`]:
//!
//! | kind                 | stored as                                           |
//! |----------------------|-----------------------------------------------------|
//! | text, textarea, link | string, trimmed (textarea line breaks become `\n`)  |
//! | number               | number; `3` stays an integer, `3.5`/`3.0` are f64   |
//! | date                 | `"YYYY-MM-DD"`                                      |
//! | datetime             | `"YYYY-MM-DDTHH:MM"` (seconds dropped)              |
//! | datetime range       | `{"start": …, "end": …}` as datetimes, submitted as |
//! |                      | two keys `<key>.start` and `<key>.end`              |
//! | select, radio        | the chosen `Choice::value`                          |
//! | multi select         | array of choice values, in the order of the choices |
//! | checkbox             | bool, always present                                |
//! | member               | username, trimmed and lowercased                    |
//! | members              | array of usernames, deduplicated, in input order    |
//! | resource             | array of resource ids (integers), deduplicated      |
//!
//! Blank input is absent: a required field then fails with `form.required`,
//! an optional one is left out of [`Values`] (a checkbox is `false` instead).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use regex::Regex;
use serde_json::{Number, Value};

use super::definition::{FieldDef, FieldKind};

/// Parsed form values, keyed by field key.
pub type Values = BTreeMap<String, Value>;

/// Raw urlencoded input: every value submitted under a key, in order.
type Raw = HashMap<String, Vec<String>>;

/// What a form needs to know about the outside world.
pub trait Lookup {
    fn user_exists(&self, username: &str) -> bool;
    fn resource_exists(&self, id: i64) -> bool;
    /// An uploaded file this form may use (its name and size in bytes):
    /// the filer's own, not yet on a ticket, or already on this one.
    fn attachment(&self, _id: i64) -> Option<Upload> {
        None
    }
}

/// An uploaded file, as a file field checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub name: String,
    pub size: i64,
}

/// Why a field's value was refused: a message-catalog key and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl FieldError {
    fn new(key: &'static str) -> FieldError {
        FieldError {
            key,
            args: Vec::new(),
        }
    }

    fn with(key: &'static str, name: &'static str, value: String) -> FieldError {
        FieldError {
            key,
            args: vec![(name, value)],
        }
    }
}

const TRUTHY: [&str; 4] = ["true", "on", "1", "yes"];
const FALSY: [&str; 4] = ["false", "off", "0", "no"];

/// Parses and validates one field. `Ok(None)` means the optional field was
/// left blank and is not stored.
pub fn parse_field(
    field: &FieldDef,
    raw: &HashMap<String, Vec<String>>,
    lookup: &dyn Lookup,
) -> Result<Option<Value>, FieldError> {
    match parse_present(field, raw, lookup)? {
        None if field.required => Err(FieldError::new("form.required")),
        Some(Value::Bool(false)) if field.required && field.kind == FieldKind::Checkbox => {
            Err(FieldError::new("form.required"))
        }
        parsed => Ok(parsed),
    }
}

/// Parses every field, reporting all refused fields at once so the form can
/// show each message beside its field.
pub fn parse_form(
    fields: &[&FieldDef],
    raw: &HashMap<String, Vec<String>>,
    lookup: &dyn Lookup,
) -> Result<Values, BTreeMap<String, FieldError>> {
    let mut values = Values::new();
    let mut errors = BTreeMap::new();
    for field in fields {
        match parse_field(field, raw, lookup) {
            Ok(Some(value)) => {
                values.insert(field.key.clone(), value);
            }
            Ok(None) => {}
            Err(error) => {
                errors.insert(field.key.clone(), error);
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// The field's default as a value, or `None` when it has none or it is
/// invalid. People and resources have no default: whether they exist can only
/// be known when the form is filled.
pub fn default_value(field: &FieldDef) -> Option<Value> {
    let raw = default_raw(field)?;
    parse_present(field, &raw, &NoLookup).ok().flatten()
}

/// Refuses a default that input could not hold (a select default that is not
/// a choice, a number outside min/max, …). A blank default is always fine,
/// even for a required field: it only pre-fills the form.
pub fn check_default(field: &FieldDef) -> Result<(), FieldError> {
    let Some(raw) = default_raw(field) else {
        return Ok(());
    };
    if field.kind == FieldKind::Checkbox {
        // Input treats any other word as unticked; a designer typing one
        // almost certainly meant something else.
        let text = field
            .default
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        if !TRUTHY.contains(&text.as_str()) && !FALSY.contains(&text.as_str()) {
            return Err(FieldError::new("form.unknown_choice"));
        }
    }
    if field.kind == FieldKind::DatetimeRange
        && !field.default.as_deref().unwrap_or_default().contains('/')
    {
        return Err(FieldError::new("form.not_a_datetime"));
    }
    parse_present(field, &raw, &NoLookup).map(|_| ())
}

/// The default as the input a browser would submit; `None` when there is no
/// default to apply. A range default is an ISO 8601 interval `start/end`; a
/// multi-select default lists its choices separated by commas or lines.
fn default_raw(field: &FieldDef) -> Option<Raw> {
    let text = field
        .default
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())?;
    let key = field.key.clone();
    let raw = match field.kind {
        FieldKind::Member | FieldKind::Members | FieldKind::Resource | FieldKind::File => {
            return None;
        }
        FieldKind::DatetimeRange => {
            let (start, end) = text.split_once('/').unwrap_or((text, ""));
            Raw::from([
                (format!("{key}.start"), vec![start.to_string()]),
                (format!("{key}.end"), vec![end.to_string()]),
            ])
        }
        FieldKind::MultiSelect => {
            Raw::from([(key, text.split([',', '\n']).map(str::to_string).collect())])
        }
        _ => Raw::from([(key, vec![text.to_string()])]),
    };
    Some(raw)
}

/// Defaults never reach the people and resource kinds, so nothing exists.
struct NoLookup;

impl Lookup for NoLookup {
    fn user_exists(&self, _: &str) -> bool {
        false
    }

    fn resource_exists(&self, _: i64) -> bool {
        false
    }
}

/// Parses a field without the required check: `None` means blank.
fn parse_present(
    field: &FieldDef,
    raw: &Raw,
    lookup: &dyn Lookup,
) -> Result<Option<Value>, FieldError> {
    let key = field.key.as_str();
    match field.kind {
        FieldKind::Text | FieldKind::Textarea | FieldKind::Link => first_filled(raw, key)
            .map(|text| parse_text(field, text))
            .transpose(),
        FieldKind::Number => first_filled(raw, key)
            .map(|text| parse_number(field, text))
            .transpose(),
        FieldKind::Date => first_filled(raw, key)
            .map(|text| {
                let date = parse_date(text).ok_or(FieldError::new("form.not_a_date"))?;
                Ok(Value::String(date.format("%Y-%m-%d").to_string()))
            })
            .transpose(),
        FieldKind::Datetime => first_filled(raw, key)
            .map(|text| {
                let at = parse_datetime(text).ok_or(FieldError::new("form.not_a_datetime"))?;
                Ok(Value::String(format_datetime(at)))
            })
            .transpose(),
        FieldKind::DatetimeRange => parse_range(raw, key),
        FieldKind::Select | FieldKind::Radio => first_filled(raw, key)
            .map(
                |text| match field.choices.iter().find(|c| c.value == text) {
                    Some(choice) => Ok(Value::String(choice.value.clone())),
                    None => Err(FieldError::new("form.unknown_choice")),
                },
            )
            .transpose(),
        FieldKind::MultiSelect => parse_multi_select(field, raw),
        FieldKind::Checkbox => {
            let ticked = raw.get(key).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| TRUTHY.contains(&v.trim().to_lowercase().as_str()))
            });
            Ok(Some(Value::Bool(ticked)))
        }
        FieldKind::Member => first_filled(raw, key)
            .map(|text| {
                let name = text.to_lowercase();
                if lookup.user_exists(&name) {
                    Ok(Value::String(name))
                } else {
                    Err(FieldError::with("form.unknown_user", "name", name))
                }
            })
            .transpose(),
        FieldKind::Members => parse_members(raw, key, lookup),
        FieldKind::Resource => parse_resources(raw, key, lookup),
        FieldKind::File => parse_files(field, raw, lookup),
    }
}

/// Attachment ids, each a file this form may use, no more of them than
/// the field takes, none larger than it allows nor of a kind it does not.
fn parse_files(
    field: &FieldDef,
    raw: &Raw,
    lookup: &dyn Lookup,
) -> Result<Option<Value>, FieldError> {
    let mut ids: Vec<i64> = Vec::new();
    let mut files: Vec<Upload> = Vec::new();
    for item in list_items(raw, &field.key) {
        let id = item
            .parse::<i64>()
            .map_err(|_| FieldError::new("form.unknown_attachment"))?;
        if ids.contains(&id) {
            continue;
        }
        let file = lookup
            .attachment(id)
            .ok_or(FieldError::new("form.unknown_attachment"))?;
        ids.push(id);
        files.push(file);
    }
    let most = field.max_files.unwrap_or(super::MAX_FILES);
    if ids.len() > most as usize {
        return Err(FieldError::with(
            "form.too_many_files",
            "max",
            most.to_string(),
        ));
    }
    if let Some(mb) = field.max_mb
        && let Some(big) = files.iter().find(|f| f.size > i64::from(mb) * 1024 * 1024)
    {
        return Err(FieldError {
            key: "form.file_too_large",
            args: vec![("name", big.name.clone()), ("max", mb.to_string())],
        });
    }
    if let Some(odd) = files.iter().find(|f| !accepts(field, &f.name)) {
        return Err(FieldError {
            key: "form.file_type",
            args: vec![
                ("name", odd.name.clone()),
                ("types", field.accept.join(", ")),
            ],
        });
    }
    if ids.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Array(
        ids.into_iter().map(Value::from).collect(),
    )))
}

/// Whether a file field takes a file by this name: any, or one ending
/// in one of its kinds.
pub fn accepts(field: &FieldDef, name: &str) -> bool {
    if field.accept.is_empty() {
        return true;
    }
    let ending = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default();
    field
        .accept
        .iter()
        .any(|a| a.trim_start_matches('.') == ending)
}

/// The first non-blank value submitted under `key`, trimmed. Single-value
/// fields take the first so a hidden fallback input placed after the real one
/// cannot override it.
fn first_filled<'a>(raw: &'a Raw, key: &str) -> Option<&'a str> {
    raw.get(key)?
        .iter()
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
}

/// Every non-blank value under `key`, trimmed.
fn all_filled<'a>(raw: &'a Raw, key: &str) -> Vec<&'a str> {
    raw.get(key)
        .into_iter()
        .flatten()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Every item under `key`, whether repeated keys or one pasted list. Full-width
/// commas and semicolons count too: lists get pasted from Chinese text and mail
/// clients.
fn list_items<'a>(raw: &'a Raw, key: &str) -> Vec<&'a str> {
    let separator = |c: char| matches!(c, ',' | '，' | ';' | '；') || c.is_whitespace();
    raw.get(key)
        .into_iter()
        .flatten()
        .flat_map(|v| v.split(separator))
        .filter(|item| !item.is_empty())
        .collect()
}

fn parse_text(field: &FieldDef, text: &str) -> Result<Value, FieldError> {
    // Browsers submit textarea line breaks as CRLF but count them as one
    // character for `maxlength`; storing LF keeps both counts the same.
    let text = if field.kind == FieldKind::Textarea {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_string()
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new("form.control_chars"));
    }
    if let Some(max) = field.max_length
        && text.chars().count() > max as usize
    {
        return Err(FieldError::with("form.too_long", "max", max.to_string()));
    }
    if field.kind == FieldKind::Link && !is_link(&text) {
        return Err(FieldError::new("form.not_a_link"));
    }
    if let Some(pattern) = whole_value_pattern(field)
        && !pattern.is_match(&text)
    {
        return Err(FieldError::new("form.pattern"));
    }
    Ok(Value::String(text))
}

/// The field's pattern anchored to the whole value; `None` when there is none
/// or it is invalid (the designer reports invalid patterns).
fn whole_value_pattern(field: &FieldDef) -> Option<Regex> {
    let pattern = field.pattern.as_deref().filter(|p| !p.trim().is_empty())?;
    // Check the pattern on its own first: wrapping an invalid one such as
    // `a)|(b` could yield a valid regex that means something else.
    Regex::new(pattern).ok()?;
    Regex::new(&format!(r"\A(?:{pattern})\z")).ok()
}

fn parse_number(field: &FieldDef, text: &str) -> Result<Value, FieldError> {
    let not_a_number = || FieldError::new("form.not_a_number");
    let (number, value) = match text.parse::<i64>() {
        Ok(int) => (Number::from(int), int as f64),
        Err(_) => {
            // f64 parsing also accepts "inf" and "NaN", which no form means.
            let float = text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(not_a_number)?;
            (Number::from_f64(float).ok_or_else(not_a_number)?, float)
        }
    };
    if let Some(min) = field.min
        && value < min
    {
        return Err(FieldError::with("form.too_small", "min", format_bound(min)));
    }
    if let Some(max) = field.max
        && value > max
    {
        return Err(FieldError::with("form.too_large", "max", format_bound(max)));
    }
    Ok(Value::Number(number))
}

/// A bound for a message: `5`, not `5.0`.
fn format_bound(bound: f64) -> String {
    // Display already drops a zero fraction; only negative zero would read oddly.
    if bound == 0.0 {
        "0".to_string()
    } else {
        bound.to_string()
    }
}

/// Four-digit years only: the stored form is fixed-width, so it sorts and
/// compares as text, and a five-digit year is a typo anyway.
fn plausible_year(year: i32) -> bool {
    (1..=9999).contains(&year)
}

pub(super) fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| plausible_year(d.year()))
}

/// Accepts `T` or a space between date and time, with or without seconds;
/// the seconds are dropped as a datetime field holds minutes.
pub(super) fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.replacen(' ', "T", 1);
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
        .filter(|at| plausible_year(at.year()))
        .and_then(|at| at.with_second(0)?.with_nanosecond(0))
}

fn format_datetime(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

/// The first date-time range among `fields` that `values` fill: a
/// change's window (start, end), as stored (UTC).
pub fn first_range(
    fields: &[&FieldDef],
    values: &Values,
) -> Option<(NaiveDateTime, NaiveDateTime)> {
    fields
        .iter()
        .filter(|f| f.kind == FieldKind::DatetimeRange)
        .find_map(|f| {
            let range = values.get(&f.key)?;
            let start = parse_datetime(range.get("start")?.as_str()?)?;
            let end = parse_datetime(range.get("end")?.as_str()?)?;
            Some((start, end))
        })
}

/// The date-time ranges among `fields` whose start in `values` is before
/// `now` (a change window already begun or over): each field and its start.
pub fn ranges_begun<'a>(
    fields: &[&'a FieldDef],
    values: &Values,
    now: NaiveDateTime,
) -> Vec<(&'a FieldDef, NaiveDateTime)> {
    fields
        .iter()
        .filter(|f| f.kind == FieldKind::DatetimeRange)
        .filter_map(|f| {
            let start = values.get(&f.key)?.get("start")?.as_str()?;
            let start = parse_datetime(start)?;
            (start < now).then_some((*f, start))
        })
        .collect()
}

fn parse_range(raw: &Raw, key: &str) -> Result<Option<Value>, FieldError> {
    let start = first_filled(raw, &format!("{key}.start"));
    let end = first_filled(raw, &format!("{key}.end"));
    let (start, end) = match (start, end) {
        (None, None) => return Ok(None),
        (Some(start), Some(end)) => (start, end),
        // Half a range is no range: the missing end is needed even when the
        // field itself is optional.
        _ => return Err(FieldError::new("form.required")),
    };
    let not_a_datetime = || FieldError::new("form.not_a_datetime");
    let start = parse_datetime(start).ok_or_else(not_a_datetime)?;
    let end = parse_datetime(end).ok_or_else(not_a_datetime)?;
    // Compared after dropping seconds, so the stored range is ordered too.
    if end <= start {
        return Err(FieldError::new("form.range_order"));
    }
    let mut range = serde_json::Map::new();
    range.insert("start".to_string(), Value::String(format_datetime(start)));
    range.insert("end".to_string(), Value::String(format_datetime(end)));
    Ok(Some(Value::Object(range)))
}

fn parse_multi_select(field: &FieldDef, raw: &Raw) -> Result<Option<Value>, FieldError> {
    let picked = all_filled(raw, &field.key);
    if picked.is_empty() {
        return Ok(None);
    }
    if picked
        .iter()
        .any(|p| !field.choices.iter().any(|c| c.value == *p))
    {
        return Err(FieldError::new("form.unknown_choice"));
    }
    let mut values: Vec<&str> = Vec::new();
    for choice in &field.choices {
        if picked.contains(&choice.value.as_str()) && !values.contains(&choice.value.as_str()) {
            values.push(&choice.value);
        }
    }
    Ok(Some(Value::Array(
        values
            .into_iter()
            .map(|v| Value::String(v.to_string()))
            .collect(),
    )))
}

fn parse_members(raw: &Raw, key: &str, lookup: &dyn Lookup) -> Result<Option<Value>, FieldError> {
    let mut names: Vec<String> = Vec::new();
    for item in list_items(raw, key) {
        let name = item.to_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    // Name every unknown user at once so one correction fixes the field.
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !lookup.user_exists(n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(FieldError::with(
            "form.unknown_user",
            "name",
            unknown.join(", "),
        ));
    }
    Ok(Some(Value::Array(
        names.into_iter().map(Value::String).collect(),
    )))
}

fn parse_resources(raw: &Raw, key: &str, lookup: &dyn Lookup) -> Result<Option<Value>, FieldError> {
    let mut ids: Vec<i64> = Vec::new();
    // Every bad item at once, in the order typed, so one correction fixes the field.
    let mut unknown: Vec<String> = Vec::new();
    for item in list_items(raw, key) {
        // Resources are shown as `#12`, so that is what people paste back.
        match item.strip_prefix('#').unwrap_or(item).parse::<i64>() {
            Ok(id) if ids.contains(&id) => {}
            Ok(id) => {
                if !lookup.resource_exists(id) {
                    unknown.push(id.to_string());
                }
                ids.push(id);
            }
            Err(_) => unknown.push(item.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(FieldError::with(
            "form.unknown_resource",
            "id",
            unknown.join(", "),
        ));
    }
    if ids.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Array(
        ids.into_iter().map(Value::from).collect(),
    )))
}

/// An absolute http(s) URL with a host and nothing a browser would have to
/// guess about (spaces, quotes, angle brackets, backslashes).
fn is_link(text: &str) -> bool {
    if text
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`' | '\\'))
    {
        return false;
    }
    let after_scheme = ["https://", "http://"].iter().find_map(|scheme| {
        let head = text.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &text[scheme.len()..])
    });
    let Some(rest) = after_scheme else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    let (host_ok, port) = match host_port.strip_prefix('[') {
        // An IPv6 literal, whose colons are not a port.
        Some(literal) => match literal.split_once(']') {
            Some((address, after)) => {
                let address_ok = !address.is_empty()
                    && address
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
                match after {
                    "" => (address_ok, None),
                    after => match after.strip_prefix(':') {
                        Some(port) => (address_ok, Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => {
            let (host, port) = match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            let host_ok = host.chars().any(char::is_alphanumeric)
                && host
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
                && !host.starts_with('.')
                && !host.contains("..");
            (host_ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    host_ok && port_ok
}

/// What showing a stored value needs besides the value: the reader's
/// language, their words for yes and no, and how to name a resource (by
/// id: "dw.orders (table · managed)") and a person (by username: "Wang Wei
/// (ops.wang)"); `None` shows the id or username as stored.
pub struct Shown<'a> {
    pub zh: bool,
    pub yes: &'a str,
    pub no: &'a str,
    pub resource: &'a dyn Fn(i64) -> Option<String>,
    pub person: &'a dyn Fn(&str) -> Option<String>,
    /// An uploaded file by its id: its name and size.
    pub file: &'a dyn Fn(i64) -> Option<String>,
}

impl Shown<'_> {
    /// Between the items of a list: a comma, or in Chinese the list comma.
    fn separator(&self) -> &'static str {
        if self.zh { "、" } else { ", " }
    }
}

/// A stored value as people read it: choices by their label, yes or no,
/// ranges with an arrow, resources and people by name.
pub fn display_value(field: &FieldDef, value: &Value, shown: &Shown<'_>) -> String {
    let choice_label = |v: &Value| {
        let text = plain(v);
        match field.choices.iter().find(|c| c.value == text) {
            Some(choice) => choice.label.text(shown.zh).to_string(),
            // A value whose choice was since removed still shows as itself.
            None => text,
        }
    };
    let each = |items: &[Value], one: &dyn Fn(&Value) -> String| {
        items
            .iter()
            .map(one)
            .collect::<Vec<_>>()
            .join(shown.separator())
    };
    let person = |v: &Value| {
        let username = plain(v);
        (shown.person)(&username).unwrap_or(username)
    };
    match (field.kind, value) {
        (FieldKind::Select | FieldKind::Radio, v) => choice_label(v),
        (FieldKind::MultiSelect, Value::Array(items)) => each(items, &choice_label),
        (FieldKind::Checkbox, Value::Bool(yes)) => {
            if *yes { shown.yes } else { shown.no }.to_string()
        }
        (FieldKind::Datetime, v) => plain(v).replace('T', " "),
        (FieldKind::DatetimeRange, Value::Object(range)) => {
            let part = |name: &str| {
                range
                    .get(name)
                    .map(plain)
                    .unwrap_or_default()
                    .replace('T', " ")
            };
            format!("{} → {}", part("start"), part("end"))
        }
        (FieldKind::Resource, Value::Array(ids)) => each(ids, &|id| {
            id.as_i64()
                .and_then(|id| (shown.resource)(id))
                .unwrap_or_else(|| format!("#{}", plain(id)))
        }),
        (FieldKind::File, Value::Array(ids)) => each(ids, &|id| {
            id.as_i64()
                .and_then(|id| (shown.file)(id))
                .unwrap_or_else(|| format!("#{}", plain(id)))
        }),
        (FieldKind::Member, v) => person(v),
        (FieldKind::Members, Value::Array(items)) => each(items, &person),
        (_, v) => plain(v),
    }
}

/// Any value as text; also the fallback for a value of an unexpected shape.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "✓".to_string(),
        Value::Bool(false) => "—".to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Stored values as the input that would produce them, to pre-fill an edit
/// form. Multi-value fields repeat their key; an unticked checkbox submits
/// nothing, as a browser does.
pub fn raw_from_values(fields: &[&FieldDef], values: &Values) -> HashMap<String, Vec<String>> {
    let mut raw = Raw::new();
    for field in fields {
        let Some(value) = values.get(&field.key) else {
            continue;
        };
        match field.kind {
            FieldKind::DatetimeRange => {
                for part in ["start", "end"] {
                    if let Some(text) = value.get(part).and_then(Value::as_str) {
                        raw.insert(format!("{}.{part}", field.key), vec![text.to_string()]);
                    }
                }
            }
            FieldKind::Checkbox => {
                if value.as_bool() == Some(true) {
                    raw.insert(field.key.clone(), vec!["true".to_string()]);
                }
            }
            _ => {
                let items: Vec<String> = match value {
                    Value::Array(items) => items.iter().map(raw_text).collect(),
                    other => vec![raw_text(other)],
                };
                if items.iter().any(|item| !item.is_empty()) {
                    raw.insert(field.key.clone(), items);
                }
            }
        }
    }
    raw
}

/// Values sent as JSON (an API body) as the input a form would send,
/// without the fields' definitions at hand: `{"start", "end"}` becomes a
/// range's two parts, `true` a ticked checkbox (`false` nothing), a list
/// a multi-value field, anything else its text. The fields' own parsing
/// then checks them exactly as it checks a form's.
pub fn raw_from_json(values: &serde_json::Map<String, Value>) -> Raw {
    let mut raw = Raw::new();
    for (key, value) in values {
        match value {
            Value::Object(parts) => {
                for (part, text) in parts {
                    raw.insert(format!("{key}.{part}"), vec![raw_text(text)]);
                }
            }
            Value::Bool(false) | Value::Null => {}
            Value::Array(items) => {
                raw.insert(key.clone(), items.iter().map(raw_text).collect());
            }
            other => {
                raw.insert(key.clone(), vec![raw_text(other)]);
            }
        }
    }
    raw
}

fn raw_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_range_that_began_before_now_is_named_and_one_ahead_is_not() {
        let range = FieldDef::new(
            "window",
            LocalText::new("Window", "窗口"),
            FieldKind::DatetimeRange,
        );
        let raw = |start: &str, end: &str| {
            Raw::from([
                ("window.start".to_string(), vec![start.to_string()]),
                ("window.end".to_string(), vec![end.to_string()]),
            ])
        };
        let now = parse_datetime("2026-12-03T12:00").unwrap();
        let values = |start, end| {
            let mut v = Values::new();
            v.insert(
                "window".into(),
                parse_field(&range, &raw(start, end), &TestLookup)
                    .unwrap()
                    .unwrap(),
            );
            v
        };
        let past = values("2026-12-03T11:59", "2026-12-03T13:00");
        let begun = ranges_begun(&[&range], &past, now);
        assert_eq!(begun.len(), 1);
        assert_eq!(begun[0].1, parse_datetime("2026-12-03T11:59").unwrap());
        let ahead = values("2026-12-03T12:00", "2026-12-03T13:00");
        assert!(ranges_begun(&[&range], &ahead, now).is_empty());
        assert!(ranges_begun(&[&range], &Values::new(), now).is_empty());
    }
    use serde_json::json;

    use super::super::definition::{Choice, LocalText};
    use super::*;

    struct TestLookup;

    impl Lookup for TestLookup {
        fn user_exists(&self, username: &str) -> bool {
            ["ops.wang", "qc.chen"].contains(&username)
        }

        fn resource_exists(&self, id: i64) -> bool {
            (1..=3).contains(&id)
        }

        /// Uploads 7 ("quote.pdf", 2 MiB) and 8 ("photo.png", 10 bytes).
        fn attachment(&self, id: i64) -> Option<Upload> {
            match id {
                7 => Some(Upload {
                    name: "quote.pdf".into(),
                    size: 2 * 1024 * 1024,
                }),
                8 => Some(Upload {
                    name: "photo.png".into(),
                    size: 10,
                }),
                _ => None,
            }
        }
    }

    fn field(kind: FieldKind) -> FieldDef {
        FieldDef::new("f", LocalText::new("Field", "字段"), kind)
    }

    fn required(kind: FieldKind) -> FieldDef {
        FieldDef {
            required: true,
            ..field(kind)
        }
    }

    fn with_choices(kind: FieldKind) -> FieldDef {
        let choice = |value: &str, en: &str, zh: &str| Choice {
            value: value.to_string(),
            label: LocalText::new(en, zh),
        };
        FieldDef {
            choices: vec![
                choice("low", "Low", "低"),
                choice("mid", "Medium", "中"),
                choice("high", "High", "高"),
            ],
            ..field(kind)
        }
    }

    fn raw(pairs: &[(&str, &str)]) -> Raw {
        let mut raw = Raw::new();
        for (key, value) in pairs {
            raw.entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
        raw
    }

    /// Parses `values` submitted under the field's own key.
    fn submit(field: &FieldDef, values: &[&str]) -> Result<Option<Value>, FieldError> {
        let pairs: Vec<(&str, &str)> = values.iter().map(|v| (field.key.as_str(), *v)).collect();
        parse_field(field, &raw(&pairs), &TestLookup)
    }

    fn error(key: &'static str) -> FieldError {
        FieldError::new(key)
    }

    fn error_with(key: &'static str, name: &'static str, value: &str) -> FieldError {
        FieldError::with(key, name, value.to_string())
    }

    // Text

    #[test]
    fn a_text_value_is_trimmed_and_kept_as_a_string() {
        assert_eq!(
            submit(&field(FieldKind::Text), &["  db01 reboot \t"]),
            Ok(Some(json!("db01 reboot")))
        );
    }

    #[test]
    fn a_required_text_field_left_blank_is_refused() {
        let text = required(FieldKind::Text);
        assert_eq!(submit(&text, &[""]), Err(error("form.required")));
        assert_eq!(submit(&text, &["   \n "]), Err(error("form.required")));
        assert_eq!(
            parse_field(&text, &Raw::new(), &TestLookup),
            Err(error("form.required"))
        );
    }

    #[test]
    fn an_optional_text_field_left_blank_or_missing_is_omitted() {
        let text = field(FieldKind::Text);
        assert_eq!(submit(&text, &["  "]), Ok(None));
        assert_eq!(parse_field(&text, &Raw::new(), &TestLookup), Ok(None));
    }

    #[test]
    fn the_first_filled_value_wins_when_a_single_value_key_repeats() {
        assert_eq!(
            submit(&field(FieldKind::Text), &["", "first", "second"]),
            Ok(Some(json!("first")))
        );
    }

    #[test]
    fn text_longer_than_max_length_is_refused_counting_characters_not_bytes() {
        let text = FieldDef {
            max_length: Some(4),
            ..field(FieldKind::Text)
        };
        assert_eq!(submit(&text, &["数据库重"]), Ok(Some(json!("数据库重"))));
        assert_eq!(
            submit(&text, &["数据库重启"]),
            Err(error_with("form.too_long", "max", "4"))
        );
    }

    #[test]
    fn text_must_match_the_pattern_as_a_whole() {
        let text = FieldDef {
            pattern: Some("[A-Z]{3}-[0-9]+".to_string()),
            ..field(FieldKind::Text)
        };
        assert_eq!(submit(&text, &[" CHG-42 "]), Ok(Some(json!("CHG-42"))));
        assert_eq!(submit(&text, &["see CHG-42"]), Err(error("form.pattern")));
        assert_eq!(submit(&text, &["CHG-42 done"]), Err(error("form.pattern")));
    }

    #[test]
    fn a_pattern_with_alternatives_still_has_to_match_the_whole_value() {
        let text = FieldDef {
            pattern: Some("a|b".to_string()),
            ..field(FieldKind::Text)
        };
        assert_eq!(submit(&text, &["b"]), Ok(Some(json!("b"))));
        assert_eq!(submit(&text, &["ab"]), Err(error("form.pattern")));
    }

    #[test]
    fn an_invalid_pattern_is_ignored() {
        for pattern in ["[unclosed", "a)|(b", "  "] {
            let text = FieldDef {
                pattern: Some(pattern.to_string()),
                ..field(FieldKind::Text)
            };
            assert_eq!(
                submit(&text, &["anything"]),
                Ok(Some(json!("anything"))),
                "{pattern}"
            );
        }
    }

    #[test]
    fn control_characters_in_text_are_refused_but_tabs_and_newlines_are_kept() {
        let text = field(FieldKind::Text);
        assert_eq!(submit(&text, &["a\tb\nc"]), Ok(Some(json!("a\tb\nc"))));
        assert_eq!(
            submit(&text, &["bell\u{7}"]),
            Err(error("form.control_chars"))
        );
        assert_eq!(
            submit(&text, &["nul\u{0}x"]),
            Err(error("form.control_chars"))
        );
        assert_eq!(
            submit(&text, &["del\u{7f}"]),
            Err(error("form.control_chars"))
        );
        assert_eq!(
            submit(&field(FieldKind::Textarea), &["esc\u{1b}[0m"]),
            Err(error("form.control_chars"))
        );
    }

    // Textarea

    #[test]
    fn a_textarea_is_trimmed_but_keeps_inner_line_breaks_as_lf() {
        let textarea = field(FieldKind::Textarea);
        assert_eq!(
            submit(&textarea, &["\r\n step 1\r\n\r\nstep 2\r\n "]),
            Ok(Some(json!("step 1\n\nstep 2")))
        );
    }

    #[test]
    fn a_textarea_counts_a_line_break_as_one_character() {
        let textarea = FieldDef {
            max_length: Some(3),
            ..field(FieldKind::Textarea)
        };
        assert_eq!(submit(&textarea, &["a\r\nb"]), Ok(Some(json!("a\nb"))));
        assert_eq!(
            submit(&textarea, &["a\r\nbc"]),
            Err(error_with("form.too_long", "max", "3"))
        );
    }

    #[test]
    fn a_required_textarea_left_blank_is_refused() {
        assert_eq!(
            submit(&required(FieldKind::Textarea), &["\r\n\r\n"]),
            Err(error("form.required"))
        );
    }

    #[test]
    fn a_textarea_pattern_is_enforced_too() {
        let textarea = FieldDef {
            pattern: Some("[a-z\n]+".to_string()),
            ..field(FieldKind::Textarea)
        };
        assert_eq!(submit(&textarea, &["ab\ncd"]), Ok(Some(json!("ab\ncd"))));
        assert_eq!(submit(&textarea, &["ab\nCD"]), Err(error("form.pattern")));
    }

    // Number

    #[test]
    fn an_integer_stays_an_integer_and_a_fraction_stays_a_float() {
        let number = field(FieldKind::Number);
        let parsed = submit(&number, &[" 3 "]).unwrap().unwrap();
        assert!(parsed.is_i64());
        assert_eq!(parsed.to_string(), "3");
        assert_eq!(submit(&number, &["-12"]), Ok(Some(json!(-12))));
        assert_eq!(submit(&number, &["2.5"]), Ok(Some(json!(2.5))));
        assert!(submit(&number, &["3.0"]).unwrap().unwrap().is_f64());
        assert_eq!(submit(&number, &["1e3"]), Ok(Some(json!(1000.0))));
    }

    #[test]
    fn text_that_is_not_a_finite_number_is_refused() {
        let number = field(FieldKind::Number);
        for bad in [
            "abc",
            "1,000",
            "3 4",
            "0x10",
            "NaN",
            "inf",
            "-infinity",
            "1e999",
        ] {
            assert_eq!(
                submit(&number, &[bad]),
                Err(error("form.not_a_number")),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_outside_min_and_max_are_refused_naming_the_bound() {
        let number = FieldDef {
            min: Some(1.0),
            max: Some(10.0),
            ..field(FieldKind::Number)
        };
        assert_eq!(
            submit(&number, &["0"]),
            Err(error_with("form.too_small", "min", "1"))
        );
        assert_eq!(
            submit(&number, &["10.5"]),
            Err(error_with("form.too_large", "max", "10"))
        );
        let fractional = FieldDef {
            min: Some(0.5),
            max: Some(2.5),
            ..field(FieldKind::Number)
        };
        assert_eq!(
            submit(&fractional, &["0.25"]),
            Err(error_with("form.too_small", "min", "0.5"))
        );
        assert_eq!(
            submit(&fractional, &["3"]),
            Err(error_with("form.too_large", "max", "2.5"))
        );
    }

    #[test]
    fn min_and_max_are_inclusive() {
        let number = FieldDef {
            min: Some(1.0),
            max: Some(10.0),
            ..field(FieldKind::Number)
        };
        assert_eq!(submit(&number, &["1"]), Ok(Some(json!(1))));
        assert_eq!(submit(&number, &["10"]), Ok(Some(json!(10))));
        assert_eq!(submit(&number, &["10.0"]), Ok(Some(json!(10.0))));
    }

    #[test]
    fn a_required_number_left_blank_is_refused_and_an_optional_one_omitted() {
        assert_eq!(
            submit(&required(FieldKind::Number), &[" "]),
            Err(error("form.required"))
        );
        assert_eq!(submit(&field(FieldKind::Number), &[" "]), Ok(None));
    }

    // Date and datetime

    #[test]
    fn a_date_is_stored_in_iso_form() {
        let date = field(FieldKind::Date);
        assert_eq!(
            submit(&date, &[" 2026-11-21 "]),
            Ok(Some(json!("2026-11-21")))
        );
        assert_eq!(submit(&date, &["2026-1-5"]), Ok(Some(json!("2026-01-05"))));
    }

    #[test]
    fn an_impossible_or_malformed_date_is_refused() {
        let date = field(FieldKind::Date);
        for bad in [
            "2026-02-30",
            "2026/01/01",
            "tomorrow",
            "21-11-2026",
            "2026-11-21T10:00",
            "12026-01-01",
        ] {
            assert_eq!(
                submit(&date, &[bad]),
                Err(error("form.not_a_date")),
                "{bad}"
            );
        }
        assert_eq!(
            submit(&required(FieldKind::Date), &[""]),
            Err(error("form.required"))
        );
    }

    #[test]
    fn a_datetime_accepts_seconds_or_a_space_and_is_stored_to_the_minute() {
        let datetime = field(FieldKind::Datetime);
        for input in [
            "2026-11-21T09:30",
            "2026-11-21 09:30",
            "2026-11-21T09:30:59",
            "2026-11-21 09:30:05.250",
        ] {
            assert_eq!(
                submit(&datetime, &[input]),
                Ok(Some(json!("2026-11-21T09:30"))),
                "{input}"
            );
        }
    }

    #[test]
    fn a_malformed_datetime_is_refused() {
        let datetime = field(FieldKind::Datetime);
        for bad in [
            "2026-11-21",
            "2026-11-21T25:00",
            "09:30",
            "2026-11-21T09",
            "now",
        ] {
            assert_eq!(
                submit(&datetime, &[bad]),
                Err(error("form.not_a_datetime")),
                "{bad}"
            );
        }
        assert_eq!(
            submit(&required(FieldKind::Datetime), &[]),
            Err(error("form.required"))
        );
    }

    // Datetime range

    fn range_input(start: &str, end: &str) -> Raw {
        raw(&[("f.start", start), ("f.end", end)])
    }

    #[test]
    fn a_datetime_range_is_read_from_its_start_and_end_keys() {
        let range = field(FieldKind::DatetimeRange);
        assert_eq!(
            parse_field(
                &range,
                &range_input("2026-11-21 22:00:00", "2026-11-22T02:00"),
                &TestLookup
            ),
            Ok(Some(
                json!({"start": "2026-11-21T22:00", "end": "2026-11-22T02:00"})
            ))
        );
    }

    #[test]
    fn a_range_whose_end_is_not_after_its_start_is_refused() {
        let range = field(FieldKind::DatetimeRange);
        let refused = Err(error("form.range_order"));
        assert_eq!(
            parse_field(
                &range,
                &range_input("2026-11-21T22:00", "2026-11-21T21:00"),
                &TestLookup
            ),
            refused
        );
        assert_eq!(
            parse_field(
                &range,
                &range_input("2026-11-21T22:00", "2026-11-21T22:00"),
                &TestLookup
            ),
            refused
        );
        // Equal once the seconds are dropped.
        assert_eq!(
            parse_field(
                &range,
                &range_input("2026-11-21T22:00:10", "2026-11-21T22:00:50"),
                &TestLookup
            ),
            refused
        );
    }

    #[test]
    fn a_range_with_only_one_end_is_refused_even_when_optional() {
        let range = field(FieldKind::DatetimeRange);
        assert_eq!(
            parse_field(&range, &range_input("2026-11-21T22:00", " "), &TestLookup),
            Err(error("form.required"))
        );
        assert_eq!(
            parse_field(&range, &raw(&[("f.end", "2026-11-21T22:00")]), &TestLookup),
            Err(error("form.required"))
        );
    }

    #[test]
    fn an_optional_range_left_blank_is_omitted_and_a_required_one_refused() {
        assert_eq!(
            parse_field(
                &field(FieldKind::DatetimeRange),
                &range_input("", ""),
                &TestLookup
            ),
            Ok(None)
        );
        assert_eq!(
            parse_field(
                &required(FieldKind::DatetimeRange),
                &Raw::new(),
                &TestLookup
            ),
            Err(error("form.required"))
        );
    }

    #[test]
    fn a_range_with_a_malformed_end_is_refused() {
        let range = field(FieldKind::DatetimeRange);
        assert_eq!(
            parse_field(
                &range,
                &range_input("2026-11-21T22:00", "later"),
                &TestLookup
            ),
            Err(error("form.not_a_datetime"))
        );
    }

    // Select, radio and multi select

    #[test]
    fn a_select_or_radio_value_must_be_one_of_the_choices() {
        for kind in [FieldKind::Select, FieldKind::Radio] {
            let choice = with_choices(kind);
            assert_eq!(submit(&choice, &[" mid "]), Ok(Some(json!("mid"))));
            assert_eq!(
                submit(&choice, &["Medium"]),
                Err(error("form.unknown_choice"))
            );
            assert_eq!(submit(&choice, &["MID"]), Err(error("form.unknown_choice")));
        }
    }

    #[test]
    fn a_required_select_or_radio_left_blank_is_refused_and_an_optional_one_omitted() {
        for kind in [FieldKind::Select, FieldKind::Radio] {
            assert_eq!(
                submit(
                    &FieldDef {
                        required: true,
                        ..with_choices(kind)
                    },
                    &[""]
                ),
                Err(error("form.required"))
            );
            assert_eq!(submit(&with_choices(kind), &[""]), Ok(None));
        }
    }

    #[test]
    fn a_multi_select_keeps_the_order_of_the_choices_and_drops_duplicates() {
        let multi = with_choices(FieldKind::MultiSelect);
        assert_eq!(
            submit(&multi, &["high", "low", "high", " "]),
            Ok(Some(json!(["low", "high"])))
        );
    }

    #[test]
    fn a_multi_select_refuses_a_value_outside_the_choices() {
        assert_eq!(
            submit(&with_choices(FieldKind::MultiSelect), &["low", "urgent"]),
            Err(error("form.unknown_choice"))
        );
    }

    #[test]
    fn a_multi_select_with_nothing_picked_is_omitted_or_refused_when_required() {
        let multi = with_choices(FieldKind::MultiSelect);
        assert_eq!(submit(&multi, &[]), Ok(None));
        assert_eq!(
            submit(
                &FieldDef {
                    required: true,
                    ..multi
                },
                &["", " "]
            ),
            Err(error("form.required"))
        );
    }

    // Checkbox

    #[test]
    fn a_checkbox_is_ticked_by_the_usual_on_values() {
        let checkbox = field(FieldKind::Checkbox);
        for on in ["true", "on", "1", "yes", " ON ", "Yes"] {
            assert_eq!(submit(&checkbox, &[on]), Ok(Some(json!(true))), "{on}");
        }
        // A hidden "false" fallback beside the box does not untick it.
        assert_eq!(submit(&checkbox, &["false", "on"]), Ok(Some(json!(true))));
    }

    #[test]
    fn an_unticked_checkbox_is_false_and_still_present() {
        let checkbox = field(FieldKind::Checkbox);
        assert_eq!(submit(&checkbox, &[]), Ok(Some(json!(false))));
        assert_eq!(submit(&checkbox, &["false"]), Ok(Some(json!(false))));
        assert_eq!(submit(&checkbox, &["off"]), Ok(Some(json!(false))));
    }

    #[test]
    fn a_required_checkbox_must_be_ticked() {
        let checkbox = required(FieldKind::Checkbox);
        assert_eq!(submit(&checkbox, &[]), Err(error("form.required")));
        assert_eq!(submit(&checkbox, &["on"]), Ok(Some(json!(true))));
    }

    // Member and members

    #[test]
    fn a_member_is_trimmed_lowercased_and_must_exist() {
        let member = field(FieldKind::Member);
        assert_eq!(
            submit(&member, &["  Ops.Wang "]),
            Ok(Some(json!("ops.wang")))
        );
        assert_eq!(
            submit(&member, &["Nobody"]),
            Err(error_with("form.unknown_user", "name", "nobody"))
        );
    }

    #[test]
    fn a_required_member_left_blank_is_refused_and_an_optional_one_omitted() {
        assert_eq!(
            submit(&required(FieldKind::Member), &[" "]),
            Err(error("form.required"))
        );
        assert_eq!(submit(&field(FieldKind::Member), &[" "]), Ok(None));
    }

    #[test]
    fn members_accept_repeated_keys_and_separated_lists_together() {
        let members = field(FieldKind::Members);
        assert_eq!(
            submit(&members, &["QC.Chen", "ops.wang, qc.chen\nops.wang"]),
            Ok(Some(json!(["qc.chen", "ops.wang"])))
        );
        assert_eq!(
            submit(&members, &["ops.wang qc.chen"]),
            Ok(Some(json!(["ops.wang", "qc.chen"])))
        );
        assert_eq!(
            submit(&members, &["ops.wang，qc.chen;"]),
            Ok(Some(json!(["ops.wang", "qc.chen"])))
        );
    }

    #[test]
    fn members_name_every_unknown_user() {
        assert_eq!(
            submit(&field(FieldKind::Members), &["ops.wang, ghost, Intruder"]),
            Err(error_with("form.unknown_user", "name", "ghost, intruder"))
        );
    }

    #[test]
    fn members_left_empty_are_omitted_or_refused_when_required() {
        assert_eq!(submit(&field(FieldKind::Members), &[" , \n", ""]), Ok(None));
        assert_eq!(
            submit(&required(FieldKind::Members), &[" , "]),
            Err(error("form.required"))
        );
    }

    // Resource

    #[test]
    fn resources_are_ids_that_must_exist() {
        let resource = field(FieldKind::Resource);
        assert_eq!(submit(&resource, &["3", "1"]), Ok(Some(json!([3, 1]))));
        assert_eq!(
            submit(&resource, &["1, 7, 9"]),
            Err(error_with("form.unknown_resource", "id", "7, 9"))
        );
    }

    #[test]
    fn resource_ids_accept_a_hash_and_separators_and_drop_duplicates() {
        assert_eq!(
            submit(&field(FieldKind::Resource), &["#2, 1\n2", "#1"]),
            Ok(Some(json!([2, 1])))
        );
    }

    #[test]
    fn a_resource_that_is_not_a_number_is_refused_as_unknown() {
        assert_eq!(
            submit(&field(FieldKind::Resource), &["1, db01, 9"]),
            Err(error_with("form.unknown_resource", "id", "db01, 9"))
        );
    }

    #[test]
    fn resources_left_empty_are_omitted_or_refused_when_required() {
        assert_eq!(submit(&field(FieldKind::Resource), &[""]), Ok(None));
        assert_eq!(
            submit(&required(FieldKind::Resource), &[" "]),
            Err(error("form.required"))
        );
    }

    // Link

    #[test]
    fn a_link_needs_http_or_https_and_a_host() {
        let link = field(FieldKind::Link);
        for good in [
            "https://wiki.example.com/runbooks/db?x=1#top",
            "http://localhost:8080",
            "HTTPS://Example.com",
            "http://user:pw@10.0.0.1/",
            "http://[::1]:3000/x",
            "https://例子.测试/路径",
        ] {
            assert_eq!(submit(&link, &[good]), Ok(Some(json!(good))), "{good}");
        }
        assert_eq!(
            submit(&link, &["  https://example.com  "]),
            Ok(Some(json!("https://example.com")))
        );
    }

    #[test]
    fn a_link_with_spaces_another_scheme_or_no_host_is_refused() {
        let link = field(FieldKind::Link);
        for bad in [
            "example.com",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/a b",
            "https://example.com:port",
            "https://example.com:99999",
            "https://..",
            "https://[zz]/",
            "https://example.com/\"><script>",
        ] {
            assert_eq!(
                submit(&link, &[bad]),
                Err(error("form.not_a_link")),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_link_respects_max_length_and_required() {
        let link = FieldDef {
            max_length: Some(20),
            ..required(FieldKind::Link)
        };
        assert_eq!(
            submit(&link, &["https://example.com/long/path"]),
            Err(error_with("form.too_long", "max", "20"))
        );
        assert_eq!(submit(&link, &[""]), Err(error("form.required")));
        assert_eq!(submit(&field(FieldKind::Link), &[""]), Ok(None));
    }

    // Whole forms

    /// One field of every kind, keyed by the kind's name.
    fn every_kind() -> Vec<FieldDef> {
        FieldKind::ALL
            .into_iter()
            .map(|kind| FieldDef {
                key: kind.as_str().to_string(),
                ..with_choices(kind)
            })
            .collect()
    }

    fn every_kind_input() -> Raw {
        raw(&[
            ("text", " hello "),
            ("textarea", "line 1\r\nline 2"),
            ("number", "2.5"),
            ("date", "2026-11-21"),
            ("datetime", "2026-11-21 09:30:15"),
            ("datetime_range.start", "2026-11-21T22:00"),
            ("datetime_range.end", "2026-11-22T02:00"),
            ("select", "mid"),
            ("multi_select", "high"),
            ("multi_select", "low"),
            ("radio", "low"),
            ("checkbox", "on"),
            ("member", "Ops.Wang"),
            ("members", "qc.chen, ops.wang"),
            ("resource", "#3 1"),
            ("link", "https://example.com/x"),
            ("file", "8 7"),
        ])
    }

    #[test]
    fn parse_form_collects_a_value_for_every_kind_keyed_by_field() {
        let fields = every_kind();
        let refs: Vec<&FieldDef> = fields.iter().collect();
        let values = parse_form(&refs, &every_kind_input(), &TestLookup).unwrap();
        let expected = json!({
            "text": "hello",
            "textarea": "line 1\nline 2",
            "number": 2.5,
            "date": "2026-11-21",
            "datetime": "2026-11-21T09:30",
            "datetime_range": {"start": "2026-11-21T22:00", "end": "2026-11-22T02:00"},
            "select": "mid",
            "multi_select": ["low", "high"],
            "radio": "low",
            "checkbox": true,
            "member": "ops.wang",
            "members": ["qc.chen", "ops.wang"],
            "resource": [3, 1],
            "link": "https://example.com/x",
            "file": [8, 7],
        });
        assert_eq!(serde_json::to_value(&values).unwrap(), expected);
    }

    #[test]
    fn a_file_field_takes_the_forms_own_uploads_within_its_count_size_and_kinds() {
        let mut quote = field(FieldKind::File);
        assert_eq!(submit(&quote, &["8", "7", "8"]), Ok(Some(json!([8, 7]))));
        assert_eq!(
            submit(&quote, &["9"]).unwrap_err().key,
            "form.unknown_attachment",
            "someone else's upload, or none, is not this form's"
        );
        quote.max_files = Some(1);
        assert_eq!(
            submit(&quote, &["7", "8"]).unwrap_err().key,
            "form.too_many_files"
        );
        quote.max_files = None;
        quote.max_mb = Some(1);
        let big = submit(&quote, &["7"]).unwrap_err();
        assert_eq!(
            (big.key, big.args[0].1.as_str()),
            ("form.file_too_large", "quote.pdf")
        );
        quote.max_mb = None;
        quote.accept = vec!["pdf".into()];
        assert_eq!(submit(&quote, &["8"]).unwrap_err().key, "form.file_type");
        assert_eq!(submit(&quote, &["7"]), Ok(Some(json!([7]))));
    }

    #[test]
    fn every_kind_survives_raw_from_values_and_parse_form() {
        let fields = every_kind();
        let refs: Vec<&FieldDef> = fields.iter().collect();
        let values = parse_form(&refs, &every_kind_input(), &TestLookup).unwrap();
        assert_eq!(values.len(), FieldKind::ALL.len());
        let again = parse_form(&refs, &raw_from_values(&refs, &values), &TestLookup).unwrap();
        assert_eq!(again, values);
    }

    #[test]
    fn awkward_values_survive_the_round_trip_too() {
        let fields = every_kind();
        let refs: Vec<&FieldDef> = fields.iter().collect();
        let mut input = every_kind_input();
        input.insert("number".to_string(), vec!["3.0".to_string()]);
        input.insert("textarea".to_string(), vec!["a\n\n\tb".to_string()]);
        input.insert("checkbox".to_string(), vec![]);
        input.insert("multi_select".to_string(), vec!["mid".to_string()]);
        let values = parse_form(&refs, &input, &TestLookup).unwrap();
        assert_eq!(values["checkbox"], json!(false));
        let again = parse_form(&refs, &raw_from_values(&refs, &values), &TestLookup).unwrap();
        assert_eq!(again, values);
        assert!(again["number"].is_f64());
    }

    #[test]
    fn raw_from_values_leaves_out_what_was_not_stored() {
        let fields = every_kind();
        let refs: Vec<&FieldDef> = fields.iter().collect();
        let values = Values::from([("checkbox".to_string(), json!(false))]);
        assert!(raw_from_values(&refs, &values).is_empty());
        assert_eq!(parse_form(&refs, &Raw::new(), &TestLookup), Ok(values));
    }

    #[test]
    fn parse_form_reports_errors_for_every_bad_field_at_once() {
        let title = FieldDef {
            key: "title".to_string(),
            ..required(FieldKind::Text)
        };
        let hosts = FieldDef {
            key: "hosts".to_string(),
            min: Some(1.0),
            ..field(FieldKind::Number)
        };
        let owner = FieldDef {
            key: "owner".to_string(),
            ..field(FieldKind::Member)
        };
        let note = FieldDef {
            key: "note".to_string(),
            ..field(FieldKind::Text)
        };
        let fields = [&title, &hosts, &owner, &note];
        let input = raw(&[("hosts", "0"), ("owner", "ghost"), ("note", "fine")]);
        let errors = parse_form(&fields, &input, &TestLookup).unwrap_err();
        assert_eq!(
            errors,
            BTreeMap::from([
                ("title".to_string(), error("form.required")),
                (
                    "hosts".to_string(),
                    error_with("form.too_small", "min", "1")
                ),
                (
                    "owner".to_string(),
                    error_with("form.unknown_user", "name", "ghost")
                ),
            ])
        );
    }

    // Defaults

    fn with_default(field: FieldDef, default: &str) -> FieldDef {
        FieldDef {
            default: Some(default.to_string()),
            ..field
        }
    }

    #[test]
    fn a_default_is_parsed_like_input() {
        let cases = [
            (with_default(field(FieldKind::Text), " n/a "), json!("n/a")),
            (with_default(field(FieldKind::Number), "5"), json!(5)),
            (
                with_default(field(FieldKind::Date), "2026-1-2"),
                json!("2026-01-02"),
            ),
            (
                with_default(field(FieldKind::Datetime), "2026-01-02 08:00:00"),
                json!("2026-01-02T08:00"),
            ),
            (
                with_default(
                    field(FieldKind::DatetimeRange),
                    "2026-01-02T08:00/2026-01-02T09:00",
                ),
                json!({"start": "2026-01-02T08:00", "end": "2026-01-02T09:00"}),
            ),
            (
                with_default(with_choices(FieldKind::Select), "high"),
                json!("high"),
            ),
            (
                with_default(with_choices(FieldKind::MultiSelect), "high, low"),
                json!(["low", "high"]),
            ),
            (with_default(field(FieldKind::Checkbox), "yes"), json!(true)),
            (with_default(field(FieldKind::Checkbox), "no"), json!(false)),
            (
                with_default(field(FieldKind::Link), "https://example.com"),
                json!("https://example.com"),
            ),
        ];
        for (field, expected) in cases {
            assert_eq!(
                default_value(&field),
                Some(expected.clone()),
                "{:?}",
                field.kind
            );
            assert_eq!(check_default(&field), Ok(()), "{:?}", field.kind);
        }
    }

    #[test]
    fn people_and_resources_have_no_default_value() {
        for kind in [FieldKind::Member, FieldKind::Members, FieldKind::Resource] {
            let field = with_default(field(kind), "ops.wang");
            assert_eq!(default_value(&field), None);
            assert_eq!(check_default(&field), Ok(()));
        }
    }

    #[test]
    fn a_missing_blank_or_invalid_default_gives_no_default_value() {
        assert_eq!(default_value(&field(FieldKind::Text)), None);
        assert_eq!(
            default_value(&with_default(field(FieldKind::Text), "  ")),
            None
        );
        assert_eq!(
            default_value(&with_default(field(FieldKind::Number), "many")),
            None
        );
    }

    #[test]
    fn a_blank_default_passes_the_check_even_on_a_required_field() {
        for kind in FieldKind::ALL {
            assert_eq!(check_default(&required(kind)), Ok(()), "{kind:?}");
            assert_eq!(
                check_default(&with_default(required(kind), " ")),
                Ok(()),
                "{kind:?}"
            );
        }
        assert_eq!(
            check_default(&with_default(required(FieldKind::Checkbox), "false")),
            Ok(())
        );
    }

    #[test]
    fn check_default_refuses_a_default_that_is_not_a_choice() {
        assert_eq!(
            check_default(&with_default(with_choices(FieldKind::Select), "Low")),
            Err(error("form.unknown_choice"))
        );
        assert_eq!(
            check_default(&with_default(with_choices(FieldKind::Radio), "x")),
            Err(error("form.unknown_choice"))
        );
        assert_eq!(
            check_default(&with_default(
                with_choices(FieldKind::MultiSelect),
                "low, urgent"
            )),
            Err(error("form.unknown_choice"))
        );
        assert_eq!(
            check_default(&with_default(field(FieldKind::Checkbox), "maybe")),
            Err(error("form.unknown_choice"))
        );
    }

    #[test]
    fn check_default_refuses_a_number_default_outside_min_and_max() {
        let number = FieldDef {
            min: Some(1.0),
            max: Some(5.0),
            ..field(FieldKind::Number)
        };
        assert_eq!(
            check_default(&with_default(number.clone(), "9")),
            Err(error_with("form.too_large", "max", "5"))
        );
        assert_eq!(
            check_default(&with_default(number.clone(), "0.5")),
            Err(error_with("form.too_small", "min", "1"))
        );
        assert_eq!(
            check_default(&with_default(number, "five")),
            Err(error("form.not_a_number"))
        );
    }

    #[test]
    fn check_default_refuses_text_defaults_breaking_the_text_options() {
        let short = FieldDef {
            max_length: Some(3),
            ..field(FieldKind::Text)
        };
        assert_eq!(
            check_default(&with_default(short, "abcd")),
            Err(error_with("form.too_long", "max", "3"))
        );
        let coded = FieldDef {
            pattern: Some("[0-9]+".to_string()),
            ..field(FieldKind::Text)
        };
        assert_eq!(
            check_default(&with_default(coded, "12a")),
            Err(error("form.pattern"))
        );
        assert_eq!(
            check_default(&with_default(field(FieldKind::Link), "www.example.com")),
            Err(error("form.not_a_link"))
        );
    }

    #[test]
    fn check_default_refuses_bad_dates_and_ranges() {
        assert_eq!(
            check_default(&with_default(field(FieldKind::Date), "2026-13-01")),
            Err(error("form.not_a_date"))
        );
        assert_eq!(
            check_default(&with_default(field(FieldKind::Datetime), "noon")),
            Err(error("form.not_a_datetime"))
        );
        let range = field(FieldKind::DatetimeRange);
        assert_eq!(
            check_default(&with_default(range.clone(), "2026-01-02T08:00")),
            Err(error("form.not_a_datetime"))
        );
        assert_eq!(
            check_default(&with_default(range, "2026-01-02T09:00/2026-01-02T08:00")),
            Err(error("form.range_order"))
        );
    }

    // Display

    /// How the tests read values: no names known, English words.
    fn shown(zh: bool) -> Shown<'static> {
        Shown {
            zh,
            yes: if zh { "是" } else { "Yes" },
            no: if zh { "否" } else { "No" },
            resource: &|_| None,
            person: &|_| None,
            file: &|_| None,
        }
    }

    #[test]
    fn display_value_shows_choice_labels_in_the_readers_language() {
        let select = with_choices(FieldKind::Select);
        assert_eq!(
            display_value(&select, &json!("high"), &shown(false)),
            "High"
        );
        assert_eq!(display_value(&select, &json!("high"), &shown(true)), "高");
        assert_eq!(
            display_value(&select, &json!("retired"), &shown(true)),
            "retired"
        );
        let multi = with_choices(FieldKind::MultiSelect);
        assert_eq!(
            display_value(&multi, &json!(["low", "high"]), &shown(true)),
            "低、高"
        );
        assert_eq!(
            display_value(&multi, &json!(["low", "high"]), &shown(false)),
            "Low, High"
        );
        assert_eq!(
            display_value(
                &with_choices(FieldKind::Radio),
                &json!("mid"),
                &shown(false)
            ),
            "Medium"
        );
    }

    #[test]
    fn display_value_says_yes_or_no_for_a_checkbox_in_the_readers_words() {
        let checkbox = field(FieldKind::Checkbox);
        assert_eq!(display_value(&checkbox, &json!(true), &shown(false)), "Yes");
        assert_eq!(display_value(&checkbox, &json!(false), &shown(false)), "No");
        assert_eq!(display_value(&checkbox, &json!(false), &shown(true)), "否");
    }

    #[test]
    fn display_value_shows_ranges_people_and_resources_readably() {
        assert_eq!(
            display_value(
                &field(FieldKind::DatetimeRange),
                &json!({"start": "2026-11-21T22:00", "end": "2026-11-22T02:00"}),
                &shown(false)
            ),
            "2026-11-21 22:00 → 2026-11-22 02:00"
        );
        assert_eq!(
            display_value(
                &field(FieldKind::Datetime),
                &json!("2026-11-21T22:00"),
                &shown(true)
            ),
            "2026-11-21 22:00"
        );
        let named = Shown {
            resource: &|id| (id == 3).then(|| "dw.orders (table · managed)".to_string()),
            person: &|u| (u == "ops.wang").then(|| "Wang Wei (ops.wang)".to_string()),
            ..shown(false)
        };
        assert_eq!(
            display_value(
                &field(FieldKind::Members),
                &json!(["ops.wang", "qc.chen"]),
                &named
            ),
            "Wang Wei (ops.wang), qc.chen"
        );
        assert_eq!(
            display_value(&field(FieldKind::Member), &json!("ops.wang"), &named),
            "Wang Wei (ops.wang)"
        );
        assert_eq!(
            display_value(&field(FieldKind::Resource), &json!([3, 1]), &named),
            "dw.orders (table · managed), #1"
        );
    }

    #[test]
    fn display_value_shows_plain_values_as_they_are() {
        let en = shown(false);
        assert_eq!(
            display_value(&field(FieldKind::Text), &json!("hello"), &en),
            "hello"
        );
        assert_eq!(
            display_value(&field(FieldKind::Number), &json!(3), &en),
            "3"
        );
        assert_eq!(
            display_value(&field(FieldKind::Number), &json!(2.5), &en),
            "2.5"
        );
        assert_eq!(
            display_value(&field(FieldKind::Date), &json!("2026-11-21"), &en),
            "2026-11-21"
        );
        assert_eq!(
            display_value(&field(FieldKind::Link), &json!("https://example.com"), &en),
            "https://example.com"
        );
    }
}
