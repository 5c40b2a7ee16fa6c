//! Parsed input: newtypes that can only hold valid values. Parsing fails
//! with a message-catalog key that the web layer shows beside the field.

use std::fmt;

/// A catalog key naming what is wrong with an input.
pub type Problem = &'static str;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A sign-in name: 2–32 lowercase letters, digits, `.`, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    /// A person as a person field takes them: a username, or what the
    /// picker shows, "He Jun (owner.manager)".
    pub fn parse_person(input: &str) -> Result<Username, Problem> {
        let input = input.trim();
        if let Some(inner) = input
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once('('))
            .map(|(_, inner)| inner)
            && let Ok(username) = Username::parse(inner)
        {
            return Ok(username);
        }
        // A name typed where a username belongs says what to type instead.
        Username::parse(input).map_err(|problem| match problem {
            "errors.username_format" => "errors.person_format",
            other => other,
        })
    }

    pub fn parse(input: &str) -> Result<Username, Problem> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("errors.required");
        }
        if s.chars().count() > USERNAME_MAX {
            return Err("errors.username_too_long");
        }
        if s.chars().count() < 2
            || !s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return Err("errors.username_format");
        }
        Ok(Username(s))
    }
}

/// An email address as people type it: one `@`, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(input: &str) -> Result<Email, Problem> {
        let s = input.trim();
        if s.is_empty() {
            return Err("errors.required");
        }
        if s.len() > 254 {
            return Err("errors.too_long");
        }
        let valid = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Email(s.to_string()))
        } else {
            Err("errors.email_format")
        }
    }
}

/// A human-readable name (a person, a business, a role): 1–80 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);
string_newtype!(Name);

impl Name {
    pub const MAX: usize = 80;

    pub fn parse(input: &str) -> Result<Name, Problem> {
        let s = input.trim();
        if s.is_empty() {
            return Err("errors.required");
        }
        if s.chars().count() > Self::MAX {
            return Err("errors.too_long");
        }
        if s.chars().any(|c| c.is_control()) {
            return Err("errors.control_chars");
        }
        Ok(Name(s.to_string()))
    }
}

/// The most characters of a username (and of a role's code).
pub const USERNAME_MAX: usize = 32;
/// The most characters of free text such as a description or note.
pub const NOTE_MAX: usize = 2000;
/// The most characters of a password.
pub const PASSWORD_MAX: usize = 128;

/// Free text such as a description or note: at most `NOTE_MAX` characters.
pub fn parse_note(input: &str) -> Result<String, Problem> {
    let s = input.trim();
    if s.chars().count() > NOTE_MAX {
        return Err("errors.too_long");
    }
    Ok(s.to_string())
}

/// A role's stable code (`ops_lead`): 2–32 lowercase letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCode(String);
string_newtype!(RoleCode);

impl RoleCode {
    pub fn parse(input: &str) -> Result<RoleCode, Problem> {
        let s = input.trim();
        if s.is_empty() {
            return Err("errors.required");
        }
        if s.len() > USERNAME_MAX {
            return Err("errors.too_long");
        }
        if s.len() < 2
            || !s.starts_with(|c: char| c.is_ascii_lowercase())
            || !s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err("errors.code_format");
        }
        Ok(RoleCode(s.to_string()))
    }
}

/// A new password: 8–128 characters. Never displayed, so no `Display`.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(input: &str) -> Result<NewPassword, Problem> {
        let n = input.chars().count();
        if n == 0 {
            return Err("errors.required");
        }
        if n < 8 {
            return Err("errors.password_too_short");
        }
        if n > PASSWORD_MAX {
            return Err("errors.too_long");
        }
        Ok(NewPassword(input.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

pub use crate::flow::ProcessKind;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_field_takes_a_username_or_what_the_picker_shows() {
        let picked = |s| Username::parse_person(s).map(|u| u.as_str().to_string());
        assert_eq!(picked("owner.manager").as_deref(), Ok("owner.manager"));
        assert_eq!(
            picked(" He Jun (owner.manager) ").as_deref(),
            Ok("owner.manager")
        );
        assert_eq!(
            picked("何军 (Owner.Manager)").as_deref(),
            Ok("owner.manager")
        );
        // Parentheses around something that is no username are just text.
        assert_eq!(picked("He Jun (the boss!)"), Err("errors.person_format"));
        assert_eq!(picked("He Jun"), Err("errors.person_format"));
    }

    #[test]
    fn usernames_are_trimmed_and_lowercased() {
        assert_eq!(Username::parse("  Ops.Wang ").unwrap().as_str(), "ops.wang");
    }

    #[test]
    fn usernames_with_spaces_or_symbols_are_refused() {
        assert_eq!(Username::parse("ops wang"), Err("errors.username_format"));
        assert_eq!(Username::parse("a"), Err("errors.username_format"));
        assert_eq!(Username::parse("王"), Err("errors.username_format"));
        assert_eq!(Username::parse(""), Err("errors.required"));
        assert_eq!(
            Username::parse(&"a".repeat(33)),
            Err("errors.username_too_long")
        );
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("lead@example.com").is_ok());
        for bad in [
            "lead",
            "lead@",
            "@example.com",
            "lead@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert_eq!(Email::parse(bad), Err("errors.email_format"), "{bad}");
        }
    }

    #[test]
    fn names_are_limited_to_eighty_characters() {
        assert!(Name::parse(&"名".repeat(80)).is_ok());
        assert_eq!(Name::parse(&"名".repeat(81)), Err("errors.too_long"));
        assert_eq!(Name::parse("   "), Err("errors.required"));
    }

    #[test]
    fn role_codes_are_snake_case() {
        assert!(RoleCode::parse("ops_lead").is_ok());
        assert_eq!(RoleCode::parse("Ops Lead"), Err("errors.code_format"));
        assert_eq!(RoleCode::parse("1ops"), Err("errors.code_format"));
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert_eq!(
            NewPassword::parse("short").unwrap_err(),
            "errors.password_too_short"
        );
        assert!(NewPassword::parse("long enough").is_ok());
    }
}
