//! Settings an administrator changes on a page, one row each: today who
//! may sign in with a password kept by countersign.

use diesel::prelude::*;

use super::StoreResult;
use super::audit::{self, Audit};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::settings as s;

/// Who signs in with a local password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInPolicy {
    /// Everyone with a local account (the default).
    Anyone,
    /// Only administrators; everyone else through the company directory
    /// or an OpenID provider.
    CompanyOnly,
}

impl SignInPolicy {
    pub fn code(self) -> &'static str {
        match self {
            SignInPolicy::Anyone => "anyone",
            SignInPolicy::CompanyOnly => "company",
        }
    }

    pub fn parse(code: &str) -> Option<SignInPolicy> {
        match code {
            "anyone" => Some(SignInPolicy::Anyone),
            "company" => Some(SignInPolicy::CompanyOnly),
            _ => None,
        }
    }
}

const SIGN_IN: &str = "sign_in";

pub fn sign_in_policy(conn: &mut DbConn) -> StoreResult<SignInPolicy> {
    let value: Option<String> = s::table
        .find(SIGN_IN)
        .select(s::value)
        .first(conn)
        .optional()?;
    Ok(value
        .as_deref()
        .and_then(SignInPolicy::parse)
        .unwrap_or(SignInPolicy::Anyone))
}

pub fn set_sign_in_policy(
    conn: &mut DbConn,
    policy: SignInPolicy,
    actor: UserId,
) -> StoreResult<()> {
    let before = sign_in_policy(conn)?;
    if before == policy {
        return Ok(());
    }
    diesel::delete(s::table.find(SIGN_IN)).execute(conn)?;
    diesel::insert_into(s::table)
        .values((s::name.eq(SIGN_IN), s::value.eq(policy.code())))
        .execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "settings.sign_in", "settings", 0)
            .with_detail(serde_json::json!({ "from": before.code(), "to": policy.code() })),
    )
}

#[cfg(test)]
mod tests {
    use super::SignInPolicy;

    #[test]
    fn policies_read_back_as_written() {
        for p in [SignInPolicy::Anyone, SignInPolicy::CompanyOnly] {
            assert_eq!(SignInPolicy::parse(p.code()), Some(p));
        }
        assert_eq!(SignInPolicy::parse("everyone"), None);
    }
}
