//! Demo data: the people of both stories — the change-management tutorial's
//! admin, ops, ops lead, QC and product owner in business "Payments", and the
//! permission request's RD engineer, managers, VP and table owner. Loading
//! is idempotent: what already exists is left as it is.

use diesel::prelude::*;

use super::assignments::{self, Scope};
use super::{StoreResult, businesses, roles, users};
use crate::db::DbConn;
use crate::db::ids::{BusinessId, UserId};
use crate::db::schema::{businesses as b, role_assignments as ra};
use crate::domain::{Email, Name, Username};
use crate::store::users::UserInput;

/// Every demo account signs in with this password.
pub const PASSWORD: &str = "countersign";
/// The business the change-management people work in.
pub const BUSINESS: &str = "Payments";

pub struct DemoPerson {
    pub username: &'static str,
    pub display_name: &'static str,
    pub manager: Option<&'static str>,
    /// Role codes; `true` means within the demo business, `false` global.
    pub roles: &'static [(&'static str, bool)],
    pub story: &'static str,
}

/// Managers come before the people who report to them.
pub const PEOPLE: &[DemoPerson] = &[
    DemoPerson {
        username: "admin",
        display_name: "Admin",
        manager: None,
        roles: &[("admin", false)],
        story: "administrator",
    },
    DemoPerson {
        username: "vp.zhou",
        display_name: "Zhou Qiang",
        manager: None,
        roles: &[("vp", false)],
        story: "VP (special requests)",
    },
    DemoPerson {
        username: "ops.lead",
        display_name: "Zhang Lei",
        manager: None,
        roles: &[("ops_lead", true)],
        story: "ops lead (approves changes)",
    },
    DemoPerson {
        username: "ops.wang",
        display_name: "Wang Wei",
        manager: Some("ops.lead"),
        roles: &[("ops", true)],
        story: "ops (files changes)",
    },
    DemoPerson {
        username: "ops.li",
        display_name: "Li Na",
        manager: Some("ops.lead"),
        roles: &[("ops", true)],
        story: "ops",
    },
    DemoPerson {
        username: "qc.chen",
        display_name: "Chen Jing",
        manager: None,
        roles: &[("qc", true)],
        story: "QC (evaluates changes)",
    },
    DemoPerson {
        username: "product.liu",
        display_name: "Liu Yang",
        manager: None,
        roles: &[("product", true)],
        story: "product owner",
    },
    DemoPerson {
        username: "rd.manager",
        display_name: "Sun Hao",
        manager: Some("vp.zhou"),
        roles: &[],
        story: "RD manager",
    },
    DemoPerson {
        username: "rd.zhao",
        display_name: "Zhao Min",
        manager: Some("rd.manager"),
        roles: &[],
        story: "RD engineer (requests access)",
    },
    DemoPerson {
        username: "owner.manager",
        display_name: "He Jun",
        manager: Some("vp.zhou"),
        roles: &[],
        story: "table owner's manager",
    },
    DemoPerson {
        username: "data.lin",
        display_name: "Lin Tao",
        manager: Some("vp.zhou"),
        roles: &[],
        story: "colleague who stands in for the owner's manager",
    },
    DemoPerson {
        username: "owner.qian",
        display_name: "Qian Yu",
        manager: Some("owner.manager"),
        roles: &[],
        story: "table owner",
    },
    DemoPerson {
        username: "grant.wu",
        display_name: "Wu Fang",
        manager: Some("vp.zhou"),
        roles: &[],
        story: "authoriser (grants access)",
    },
    DemoPerson {
        username: "sec.huang",
        display_name: "Huang Li",
        manager: None,
        roles: &[],
        story: "security reviewer (database changes)",
    },
    DemoPerson {
        username: "dba.xu",
        display_name: "Xu Ming",
        manager: None,
        roles: &[],
        story: "DBA (reviews and runs database changes)",
    },
    DemoPerson {
        username: "grant.zheng",
        display_name: "Zheng Yi",
        manager: Some("vp.zhou"),
        roles: &[],
        story: "authoriser (grants access)",
    },
];

/// Loads the demo people. Returns whether anything was created.
pub fn load(conn: &mut DbConn, password_hash: &str) -> StoreResult<bool> {
    // Several instances started together with `--demo` load it one after
    // the other: the later ones find it there.
    crate::db::lock_setup(conn)?;
    let mut created = false;
    let mut admin_id: Option<UserId> = None;
    for person in PEOPLE {
        let username = Username::parse(person.username).map_err(anyhow::Error::msg)?;
        let id = match users::find_by_username(conn, username.as_str())? {
            Some(existing) => existing.id,
            None => {
                let manager_id = match person.manager {
                    Some(m) => users::find_by_username(conn, m)?.map(|u| u.id),
                    None => None,
                };
                let input = UserInput {
                    display_name: Name::parse(person.display_name).map_err(anyhow::Error::msg)?,
                    email: Email::parse(&format!("{}@example.com", person.username))
                        .map_err(anyhow::Error::msg)?,
                    manager_id,
                    language: None,
                };
                created = true;
                users::create(conn, &username, &input, password_hash, None)?
            }
        };
        let actor = *admin_id.get_or_insert(id);
        for (code, in_business) in person.roles {
            let role = roles::find_by_code(conn, code)?;
            let scope = if *in_business {
                Scope::Business(business(conn, actor)?)
            } else {
                Scope::Global
            };
            let mut exists = ra::table
                .filter(ra::user_id.eq(id))
                .filter(ra::role_id.eq(role.id))
                .into_boxed();
            exists = match scope {
                Scope::Global => exists.filter(ra::business_id.is_null()),
                Scope::Business(bid) => exists.filter(ra::business_id.eq(bid)),
            };
            if exists.count().get_result::<i64>(conn)? == 0 {
                assignments::create(conn, id, role.id, scope, actor)?;
                created = true;
            }
        }
    }
    if let Some(admin) = admin_id {
        created |= super::demo_processes::load(conn, admin)?;
    }
    Ok(created)
}

fn business(conn: &mut DbConn, actor: UserId) -> StoreResult<BusinessId> {
    if let Some(id) = b::table
        .filter(b::name.eq(BUSINESS))
        .select(b::id)
        .first(conn)
        .optional()?
    {
        return Ok(id);
    }
    let name = Name::parse(BUSINESS).map_err(anyhow::Error::msg)?;
    businesses::create(
        conn,
        &name,
        "The payment platform (支付业务) of the change-management tutorial",
        actor,
    )
}
