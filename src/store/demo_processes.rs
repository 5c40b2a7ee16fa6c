//! Demo processes: the tutorial's environment change, a database change
//! whose reviews run side by side, and the permission request of seed 004
//! for RD, non-RD and agent applicants — designed,
//! enabled, deployed, published as services in the catalog — and the
//! resource registry they request. Loading is idempotent.

use diesel::prelude::*;

use super::resources::ResourceInput;
use super::services::ServiceInput;
use super::{StoreResult, catalog, processes, resources, services, users};
use crate::db::DbConn;
use crate::db::ids::{CatalogNodeId, UserId};
use crate::db::schema::{catalog_nodes as cn, processes as p, resources as r};
use crate::domain::{Name, Username};
use crate::flow::*;

fn t(en: &str, zh: &str) -> LocalText {
    LocalText::new(en, zh)
}

/// A field of the demo; free text takes at most a page (2,000 characters).
fn field(key: &str, label: LocalText, kind: FieldKind, required: bool) -> FieldDef {
    let max_length = matches!(kind, FieldKind::Textarea).then_some(2000);
    FieldDef {
        required,
        max_length,
        ..FieldDef::new(key, label, kind)
    }
}

fn approval(key: &str, name: LocalText, handlers: Vec<HandlerRule>, mode: Mode) -> NodeDef {
    NodeDef {
        handlers,
        mode,
        ..NodeDef::new(key, name, NodeKind::Approval)
    }
}

/// The tutorial's environment change: ops files it, the ops lead of the
/// business approves, ops writes the summary, QC evaluates.
pub fn environment_change() -> ProcessDef {
    let mut def = ProcessDef::new(t("Environment change", "环境变更"), ProcessKind::Change);
    def.business_required = true;
    def.description = "Server replacement and other environment changes, reviewed by the ops lead and evaluated by QC.".into();
    let submit = &mut def.nodes[0];
    submit.name = t("Change request", "变更申请");
    let mut scope = field("scope", t("Scope", "变更范围"), FieldKind::Select, true);
    scope.choices = vec![
        Choice {
            value: "application".into(),
            label: t("Application configuration", "应用配置"),
        },
        Choice {
            value: "infrastructure".into(),
            label: t("Infrastructure", "基础设施"),
        },
        Choice {
            value: "environment".into(),
            label: t("Environment", "环境"),
        },
    ];
    submit.fields = vec![
        field("reason", t("Reason", "变更原因"), FieldKind::Textarea, true),
        scope,
        field(
            "affected_hosts",
            t("Affected hosts", "影响主机"),
            FieldKind::Textarea,
            false,
        ),
        field(
            "window",
            t("Change window", "变更时间"),
            FieldKind::DatetimeRange,
            true,
        ),
        field(
            "rollback_plan",
            t("Rollback plan", "回滚方案"),
            FieldKind::Textarea,
            true,
        ),
        FieldDef {
            help: t(
                "Only for an outage: a hard freeze does not stop an emergency change.",
                "仅用于故障处理：紧急变更不受硬封网限制。",
            ),
            ..field(
                "emergency",
                t("Emergency change", "紧急变更"),
                FieldKind::Checkbox,
                false,
            )
        },
    ];
    // On the change calendar: the window, the hosts it touches, and an
    // emergency path past hard freezes.
    def.change = Some(ChangeDef {
        window: "window".into(),
        items: vec!["affected_hosts".into()],
        emergency: Some("emergency".into()),
        conflict_role: None,
    });
    def.nodes.push(approval(
        "lead_review",
        t("Ops lead review", "变更审核"),
        vec![HandlerRule::Role {
            role: "ops_lead".into(),
            in_business: true,
        }],
        Mode::Any,
    ));
    let mut summary = NodeDef::new(
        "summary",
        t("Change and summary", "变更操作及总结"),
        NodeKind::Task,
    );
    summary.handlers = vec![HandlerRule::Applicant];
    summary.fields = vec![
        field(
            "change_summary",
            t("Change summary", "变更总结"),
            FieldKind::Textarea,
            true,
        ),
        field(
            "completed_at",
            t("Completed at", "完成时间"),
            FieldKind::Datetime,
            true,
        ),
    ];
    def.nodes.push(summary);
    let mut review = NodeDef::new(
        "evaluation",
        t("Change evaluation", "变更评估"),
        NodeKind::Review,
    );
    review.handlers = vec![HandlerRule::Role {
        role: "qc".into(),
        in_business: true,
    }];
    let mut complaints = field(
        "complaints",
        t("Complaints", "投诉情况"),
        FieldKind::Number,
        true,
    );
    complaints.min = Some(0.0);
    review.fields = vec![
        field(
            "metrics_impact",
            t("Business metrics impact", "业务关键指标影响"),
            FieldKind::Textarea,
            true,
        ),
        complaints,
    ];
    def.nodes.push(review);
    def
}

/// A database change: security and the DBA review it at once (a
/// parallel gateway), then a high-risk change is run by the DBA and any
/// other by its applicant (an exclusive gateway).
pub fn database_change() -> ProcessDef {
    let mut def = ProcessDef::new(t("Database change", "数据库变更"), ProcessKind::Change);
    def.description =
        "Schema and data changes: security and the DBA review at once; the DBA runs high-risk ones."
            .into();
    let submit = &mut def.nodes[0];
    submit.name = t("Change request", "变更申请");
    let mut risk = field("risk", t("Risk", "风险等级"), FieldKind::Select, true);
    risk.choices = vec![
        Choice {
            value: "low".into(),
            label: t("Low", "低"),
        },
        Choice {
            value: "high".into(),
            label: t("High", "高"),
        },
    ];
    submit.fields = vec![
        field("reason", t("Reason", "变更原因"), FieldKind::Textarea, true),
        field("database", t("Database", "数据库"), FieldKind::Text, true),
        field(
            "statements",
            t("Statements", "变更语句"),
            FieldKind::Textarea,
            true,
        ),
        risk,
    ];
    let in_branch = |mut node: NodeDef, gateway: &str, branch: usize| {
        node.branch = Some(BranchRef {
            gateway: gateway.into(),
            branch,
        });
        node
    };
    let named = |who: &str| {
        vec![HandlerRule::Users {
            usernames: vec![who.into()],
        }]
    };
    def.nodes.push(in_branch(
        approval(
            "security_review",
            t("Security review", "安全审核"),
            named("sec.huang"),
            Mode::Any,
        ),
        "reviews",
        0,
    ));
    def.nodes.push(in_branch(
        approval(
            "dba_review",
            t("DBA review", "DBA 审核"),
            named("dba.xu"),
            Mode::Any,
        ),
        "reviews",
        1,
    ));
    let run = |key: &str, name: LocalText, handlers: Vec<HandlerRule>, result: &str| NodeDef {
        handlers,
        fields: vec![field(
            result,
            t("What was done", "执行结果"),
            FieldKind::Textarea,
            true,
        )],
        ..NodeDef::new(key, name, NodeKind::Task)
    };
    def.nodes.push(in_branch(
        run(
            "dba_runs",
            t("The DBA runs it", "DBA 执行"),
            named("dba.xu"),
            "dba_result",
        ),
        "execution",
        0,
    ));
    def.nodes.push(in_branch(
        run(
            "applicant_runs",
            t("The applicant runs it", "申请人执行"),
            vec![HandlerRule::Applicant],
            "result",
        ),
        "execution",
        1,
    ));
    let branch = |en: &str, zh: &str, condition: Option<Condition>| BranchDef {
        name: t(en, zh),
        condition,
    };
    def.gateways = vec![
        GatewayDef {
            key: "reviews".into(),
            name: t("Reviews", "并行审核"),
            kind: GatewayKind::Parallel,
            branches: vec![
                branch("Security", "安全", None),
                branch("Database", "数据库", None),
            ],
        },
        GatewayDef {
            key: "execution".into(),
            name: t("Who runs it", "执行人"),
            kind: GatewayKind::Exclusive,
            branches: vec![
                branch(
                    "High risk",
                    "高风险",
                    Some(Condition::all_of(vec![Predicate::FieldEquals {
                        field: "risk".into(),
                        value: "high".into(),
                    }])),
                ),
                branch("Otherwise", "其他", None),
            ],
        },
    ];
    def
}

/// Seed 004's permission request. The first node after submit depends on
/// who applies; the rest is shared: the owners' managers of managed tables
/// (all must approve), a VP for special requests, and the authorisers
/// (any one grants).
pub fn access_request(who: &str) -> ProcessDef {
    let (name, first) = match who {
        "rd" => (
            t("Access request (RD)", "权限申请(RD)"),
            approval(
                "manager",
                t("Manager approval", "上级审批"),
                vec![HandlerRule::ApplicantManager],
                Mode::Any,
            ),
        ),
        "non_rd" => (
            t("Access request (non-RD)", "权限申请(非RD)"),
            approval(
                "managers",
                t("Managers' approval", "上级逐级审批"),
                vec![HandlerRule::ManagerChain { levels: 2 }],
                Mode::Sequence,
            ),
        ),
        _ => (
            t("Access request (agent)", "权限申请(代理商)"),
            approval(
                "product",
                t("Product owner approval", "产品负责人审批"),
                vec![HandlerRule::Role {
                    role: "product".into(),
                    in_business: false,
                }],
                Mode::Any,
            ),
        ),
    };
    let mut def = ProcessDef::new(name, ProcessKind::Access);
    def.description = "Access to tables and dashboards of the data platform.".into();
    let submit = &mut def.nodes[0];
    submit.name = t("Application", "提交申请");
    submit.fields = vec![
        field(
            "resources",
            t("Tables and dashboards", "申请的表和驾驶舱"),
            FieldKind::Resource,
            true,
        ),
        field("reason", t("Reason", "申请理由"), FieldKind::Textarea, true),
        field(
            "special",
            t("Special request", "特殊申请"),
            FieldKind::Checkbox,
            false,
        ),
    ];
    def.nodes.push(first);
    let mut owners = approval(
        "owners_managers",
        t("Owners' managers", "托管表负责人上级审批"),
        vec![HandlerRule::ResourceOwnersManagers {
            field: "resources".into(),
        }],
        Mode::All,
    );
    owners.condition = Some(Condition::all_of(vec![Predicate::ResourceManaged {
        field: "resources".into(),
    }]));
    def.nodes.push(owners);
    let mut vp = approval(
        "vp",
        t("VP approval", "VP 审批"),
        vec![HandlerRule::Role {
            role: "vp".into(),
            in_business: false,
        }],
        Mode::Any,
    );
    vp.condition = Some(Condition::all_of(vec![Predicate::FieldEquals {
        field: "special".into(),
        value: "true".into(),
    }]));
    def.nodes.push(vp);
    def.nodes.push(approval(
        "authorisers",
        t("Authorisation", "授权"),
        vec![HandlerRule::Users {
            usernames: vec!["grant.wu".into(), "grant.zheng".into()],
        }],
        Mode::Any,
    ));
    def
}

fn folder(conn: &mut DbConn, en: &str, zh: &str, actor: UserId) -> StoreResult<CatalogNodeId> {
    if let Some(id) = cn::table
        .filter(cn::name_en.eq(en))
        .select(cn::id)
        .first(conn)
        .optional()?
    {
        return Ok(id);
    }
    let root = catalog::root(conn)?.id;
    catalog::add_folder(
        conn,
        root,
        &Name::parse(en).map_err(anyhow::Error::msg)?,
        zh,
        actor,
    )
}

/// Designs, enables, deploys and publishes one process unless a process of
/// that name exists. Returns whether it was created.
fn publish(
    conn: &mut DbConn,
    def: ProcessDef,
    folder_id: CatalogNodeId,
    roles: Vec<String>,
    actor: UserId,
) -> StoreResult<bool> {
    let exists: i64 = p::table
        .filter(p::name.eq(&def.name.en))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    let (name_en, name_zh, description) = (
        def.name.en.clone(),
        def.name.zh.clone(),
        def.description.clone(),
    );
    let id = processes::create(conn, &def, actor)?;
    processes::set_enabled(conn, id, 1, true, actor)?;
    let (version, _) = processes::deploy(conn, id, "First version", actor, false)?
        .map_err(|problems| anyhow::anyhow!("demo process {name_en} has problems: {problems:?}"))?;
    let input = ServiceInput {
        name_en: Name::parse(&name_en).map_err(anyhow::Error::msg)?,
        name_zh,
        description,
        process: id,
        version,
        roles,
    };
    let service = services::create(conn, &input, actor)?;
    catalog::attach(conn, folder_id, service, actor)?;
    Ok(true)
}

/// The tables and dashboards of the permission-request story.
fn resources(conn: &mut DbConn, actor: UserId) -> StoreResult<()> {
    let owner = users::active_id(
        conn,
        &Username::parse("owner.qian").map_err(anyhow::Error::msg)?,
    )?;
    let product = users::active_id(
        conn,
        &Username::parse("product.liu").map_err(anyhow::Error::msg)?,
    )?;
    let items = [
        (
            "dw.orders",
            "table",
            owner,
            true,
            "Order facts of the data mart (managed)",
        ),
        (
            "dw.payments",
            "table",
            owner,
            true,
            "Payment facts (managed)",
        ),
        ("dw.clicks", "table", owner, false, "Click stream, ad-hoc"),
        (
            "Sales cockpit",
            "dashboard",
            product,
            false,
            "驾驶舱: daily sales",
        ),
    ];
    for (name, kind, owner, managed, description) in items {
        let exists: i64 = r::table.filter(r::name.eq(name)).count().get_result(conn)?;
        if exists == 0 {
            let input = ResourceInput {
                name: Name::parse(name).map_err(anyhow::Error::msg)?,
                kind: Name::parse(kind).map_err(anyhow::Error::msg)?,
                owner,
                managed,
                description: description.into(),
            };
            resources::create(conn, &input, actor)?;
        }
    }
    Ok(())
}

/// Loads everything above; `actor` is the demo administrator.
pub fn load(conn: &mut DbConn, actor: UserId) -> StoreResult<bool> {
    resources(conn, actor)?;
    let change = folder(conn, "Environment change", "环境变更", actor)?;
    let mut created = publish(
        conn,
        environment_change(),
        change,
        vec!["ops".into()],
        actor,
    )?;
    created |= publish(conn, database_change(), change, vec!["ops".into()], actor)?;
    let access = folder(conn, "Access requests", "权限申请", actor)?;
    for who in ["rd", "non_rd", "agent"] {
        created |= publish(conn, access_request(who), access, Vec::new(), actor)?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::validate::{Known, validate};

    #[test]
    fn the_demo_processes_have_no_problems() {
        let roles: Vec<String> = ["admin", "ops", "ops_lead", "qc", "product", "vp"]
            .map(String::from)
            .to_vec();
        for def in [
            environment_change(),
            database_change(),
            access_request("rd"),
            access_request("non_rd"),
            access_request("agent"),
        ] {
            assert_eq!(
                validate(
                    &def,
                    &Known {
                        roles: &roles,
                        businesses: &[],
                    },
                ),
                vec![],
                "{}",
                def.name.en
            );
        }
    }
}
