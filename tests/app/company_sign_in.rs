//! Company sign-in against a real OpenLDAP (Debian's `slapd`, started by
//! each test with its own configuration and a small directory in LDIF):
//! directory passwords, the attacks on them (wrong, empty, filter
//! characters in the name), the sync of people, managers and groups, the
//! manager chain and group roles deciding who is asked, a leaver's work
//! moving to their manager, and local passwords kept to administrators
//! when an administrator says so.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use countersign::config::{LdapConfig, MailConfig};
use countersign::db::schema::{directory_syncs, role_assignments, roles, users};
use countersign::domain::{Name, RoleCode};
use countersign::flow::*;
use countersign::ldap::{Directory, Verdict};
use countersign::store::roles::RoleInput;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::approval_rules::{assignments, deploy, row};
use crate::helpers::*;

const BASE: &str = "dc=example,dc=com";
const PEOPLE: &str = "ou=people,dc=example,dc=com";
const READER: &str = "cn=reader,dc=example,dc=com";
const READER_PASSWORD: &str = "reader-secret";
const ROOT: &str = "cn=admin,dc=example,dc=com";
const ROOT_PASSWORD: &str = "root-secret";

/// The company: He Jun runs it; Lead Li reports to him, Alice to Lead
/// Li; Dave is a DBA; Ghost's manager is nobody in the directory; Nomail
/// has no address.
const DIRECTORY: &str = r#"dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=reader,dc=example,dc=com
objectClass: person
cn: reader
sn: reader
userPassword: reader-secret

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: uid=boss,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: boss
cn: He Jun
sn: He
displayName: He Jun
mail: boss@example.com
userPassword: boss-password

dn: uid=lead,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: lead
cn: Lead Li
sn: Li
mail: lead@example.com
manager: uid=boss,ou=people,dc=example,dc=com
userPassword: lead-password

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice Liu
sn: Liu
displayName: 刘爱丽
mail: alice@example.com
preferredLanguage: zh-CN
manager: uid=lead,ou=people,dc=example,dc=com
userPassword: alice-password

dn: uid=dave,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: dave
cn: Dave Du
sn: Du
mail: dave@example.com
manager: uid=boss,ou=people,dc=example,dc=com
userPassword: dave-password

dn: uid=ghost,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: ghost
cn: Ghost Gu
sn: Gu
mail: ghost@example.com
manager: uid=nobody,ou=people,dc=example,dc=com
userPassword: ghost-password

dn: uid=nomail,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: nomail
cn: No Mail
sn: Mail
userPassword: nomail-password

dn: cn=dba,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: dba
member: uid=dave,ou=people,dc=example,dc=com
member: cn=reader,dc=example,dc=com

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=boss,ou=people,dc=example,dc=com
member: cn=reader,dc=example,dc=com
"#;

/// An OpenLDAP server of the test's own on a free port; stopped when
/// dropped.
struct Slapd {
    child: Child,
    url: String,
    /// With TLS: its `ldaps://` address and the CA that signed its certificate.
    ldaps: Option<(String, std::path::PathBuf)>,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Slapd {
    /// Loads `DIRECTORY` and starts it; `None`, with a note, when slapd is
    /// not installed and `REQUIRE_SLAPD` is not set.
    fn start() -> Option<Slapd> {
        Self::launch(false)
    }

    /// `start`, also speaking TLS (StartTLS and `ldaps://`) with a
    /// certificate from a CA of the test's own.
    fn start_with_tls() -> Option<Slapd> {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Option<Slapd> {
        let slapd = std::path::Path::new("/usr/sbin/slapd");
        if !slapd.is_file() {
            assert!(
                std::env::var_os("REQUIRE_SLAPD").is_none(),
                "REQUIRE_SLAPD is set but slapd is not installed"
            );
            eprintln!("note: slapd is not installed; skipping");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("db");
        std::fs::create_dir(&data).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {pid}\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{BASE}\"\n\
                 rootdn \"{ROOT}\"\n\
                 rootpw {ROOT_PASSWORD}\n\
                 directory {data}\n\
                 access to attrs=userPassword by self read by anonymous auth by * none\n\
                 access to * by dn.exact=\"{READER}\" read by self read by * none\n",
                pid = dir.path().join("slapd.pid").display(),
                data = data.display(),
            ),
        )
        .unwrap();
        let ca = dir.path().join("ca.pem");
        if tls {
            make_certificates(dir.path());
            let mut text = std::fs::read_to_string(&conf).unwrap();
            text.insert_str(
                0,
                &format!(
                    "TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n",
                    ca = ca.display(),
                    cert = dir.path().join("server.pem").display(),
                    key = dir.path().join("server.key").display(),
                ),
            );
            std::fs::write(&conf, text).unwrap();
        }
        let ldif = dir.path().join("directory.ldif");
        std::fs::write(&ldif, DIRECTORY).unwrap();
        let loaded = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .expect("run slapadd");
        assert!(
            loaded.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let (listener, port) = free_port();
        drop(listener);
        let url = format!("ldap://127.0.0.1:{port}");
        let (listener, tls_port) = free_port();
        drop(listener);
        let ldaps = tls.then(|| (format!("ldaps://127.0.0.1:{tls_port}"), ca));
        let listen = match &ldaps {
            Some((ldaps, _)) => format!("{url}/ {ldaps}/"),
            None => format!("{url}/"),
        };
        let child = Command::new(slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(listen)
            .arg("-d")
            .arg("0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [Some(port), tls.then_some(tls_port)].into_iter().flatten() {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "slapd did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(Slapd {
            child,
            url,
            ldaps,
            _dir: dir,
        })
    }

    fn config(&self) -> LdapConfig {
        let mut config = LdapConfig::new(&self.url, READER, READER_PASSWORD, PEOPLE);
        config.group_base = "ou=groups,dc=example,dc=com".into();
        // The tests sync when they mean to.
        config.sync_every = None;
        config
    }

    /// A connection bound as the directory's administrator, to change it.
    async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&self.url).await.unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(ROOT, ROOT_PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    async fn remove(&self, dn: &str) {
        let mut ldap = self.admin().await;
        ldap.delete(dn).await.unwrap().success().unwrap();
    }

    /// Adds a person at `uid=<uid>,ou=people` (a new entry, with an
    /// entryUUID of its own).
    async fn add_person(&self, uid: &str, name: &str, password: &str) {
        use std::collections::HashSet;
        let mut ldap = self.admin().await;
        let dn = format!("uid={uid},{PEOPLE}");
        let mail = format!("{uid}@example.com");
        let attrs = vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from([uid])),
            ("cn", HashSet::from([name])),
            ("sn", HashSet::from([name])),
            ("mail", HashSet::from([mail.as_str()])),
            ("userPassword", HashSet::from([password])),
        ];
        ldap.add(&dn, attrs).await.unwrap().success().unwrap();
    }

    async fn leave_group(&self, group: &str, member: &str) {
        let mut ldap = self.admin().await;
        let mods = vec![ldap3::Mod::Delete(
            "member",
            std::collections::HashSet::from([member]),
        )];
        ldap.modify(group, mods).await.unwrap().success().unwrap();
    }
}

/// A CA (`ca.pem`) and a certificate it signed for 127.0.0.1
/// (`server.pem`, `server.key`), made with openssl in `dir`.
fn make_certificates(dir: &std::path::Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=countersign test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The app with the directory configured, and a local administrator.
async fn app_with(slapd: &Slapd) -> TestApp {
    let config = slapd.config();
    let app = TestApp::spawn_configured(MailConfig::files(), |c| c.ldap = Some(config)).await;
    app.create_user("admin", true);
    app
}

/// (origin, display name, email, language, manager's username, active).
type Synced = (String, String, String, Option<String>, Option<String>, bool);

fn person(app: &TestApp, username: &str) -> Option<Synced> {
    let username = username.to_string();
    app.query(move |c| {
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<countersign::db::ids::UserId>,
            bool,
        );
        let row: Option<Row> = users::table
            .filter(users::username.eq(&username))
            .select((
                users::origin,
                users::display_name,
                users::email,
                users::language,
                users::manager_id,
                users::active,
            ))
            .first(c)
            .optional()?;
        let Some((origin, name, email, language, manager, active)) = row else {
            return Ok(None);
        };
        let manager = match manager {
            Some(id) => Some(
                users::table
                    .find(id)
                    .select(users::username)
                    .first::<String>(c)?,
            ),
            None => None,
        };
        Ok(Some((origin, name, email, language, manager, active)))
    })
}

/// Syncs the whole directory from the admin page; the report page.
async fn sync_now(app: &TestApp) -> Page {
    app.sign_in("admin").await;
    let page = app.post("/admin/directory/sync", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.path.starts_with("/admin/directory/syncs/"),
        "{}",
        page.path
    );
    page
}

fn count(page: &Page, what: &str) -> usize {
    page.text(&format!("#sync-counts [data-count={what}]"))
        .unwrap_or_default()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn a_directory_person_signs_in_with_their_directory_password_and_is_made_from_their_entry() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    let alice = TestApp::browser();
    let page = sign_in_as(&app, &alice, "alice", "alice-password").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.path, "/");
    // Named, addressed and spoken to as the directory says.
    assert_eq!(
        person(&app, "alice"),
        Some((
            "ldap".into(),
            "刘爱丽".into(),
            "alice@example.com".into(),
            Some("zh-CN".into()),
            None,
            true
        ))
    );
    assert_eq!(page.attr("html", "lang").as_deref(), Some("zh-CN"));
    // No local password: the profile says where it is kept, and setting
    // one is refused.
    let profile = get(&alice, &app.url("/profile")).await;
    assert!(profile.text("#company-note").is_some());
    assert_eq!(profile.count("#password-form"), 0);
    let refused = post_as(
        &app,
        &alice,
        "/profile/password",
        &[
            ("current", "alice-password"),
            ("new_password", "a-local-password-1"),
            ("confirm", "a-local-password-1"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let hash: String = app.query(|c| {
        users::table
            .filter(users::username.eq("alice"))
            .select(users::password_hash)
            .first(c)
    });
    assert_eq!(hash, countersign::store::company::NO_LOCAL_PASSWORD);
    // Nor may an administrator give them one.
    let id = app.user_id("alice");
    app.sign_in("admin").await;
    let reset = app
        .post(
            &format!("/admin/users/{id}/password"),
            &[("new_password", "a-local-password-1")],
        )
        .await;
    assert_ne!(reset.status, StatusCode::OK);
    let edit = app.get(&format!("/admin/users/{id}")).await;
    assert!(edit.text("#company-note").is_some());
    let after: String = app.query(|c| {
        users::table
            .filter(users::username.eq("alice"))
            .select(users::password_hash)
            .first(c)
    });
    assert_eq!(after, countersign::store::company::NO_LOCAL_PASSWORD);
}

#[actix_web::test]
async fn a_wrong_password_an_empty_one_and_filter_characters_in_the_name_are_all_refused() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    let attempts = [
        ("alice", "not-her-password", StatusCode::UNAUTHORIZED),
        ("alice", "", StatusCode::UNPROCESSABLE_ENTITY),
        ("nobody", "alice-password", StatusCode::UNAUTHORIZED),
        ("alic*", "alice-password", StatusCode::UNAUTHORIZED),
        ("*", "alice-password", StatusCode::UNAUTHORIZED),
        ("alice)(uid=*", "alice-password", StatusCode::UNAUTHORIZED),
    ];
    for (username, password, status) in attempts {
        let browser = TestApp::browser();
        let page = sign_in_as(&app, &browser, username, password).await;
        assert_eq!(page.status, status, "{username:?} / {password:?}");
        assert_eq!(page.path, "/sign-in", "{username:?}");
        let home = get(&browser, &app.url("/")).await;
        assert_eq!(home.path, "/sign-in?next=/", "{username:?} signed in");
    }
    let made: i64 = app.query(|c| {
        users::table
            .filter(users::origin.eq("ldap"))
            .count()
            .get_result(c)
    });
    assert_eq!(made, 0, "a refused sign-in makes nobody");

    // Below the form: the directory itself is never asked to bind with
    // an empty password (which it would take as anonymous), and a name
    // is a literal, not a pattern matching Alice.
    let directory = Directory::new(slapd.config());
    for (username, password) in [
        ("alice", ""),
        ("alic*", "alice-password"),
        ("*", "alice-password"),
        ("alice)(|(uid=*", "alice-password"),
    ] {
        let verdict = directory.sign_in(username, password).await.unwrap();
        assert!(
            matches!(verdict, Verdict::Refused),
            "{username:?} / {password:?}: {verdict:?}"
        );
    }
    assert!(matches!(
        directory.sign_in("alice", "alice-password").await.unwrap(),
        Verdict::Person(_)
    ));
}

#[actix_web::test]
async fn a_sync_makes_everyone_with_their_managers_and_reports_what_it_did() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    let page = sync_now(&app).await;
    assert_eq!(count(&page, "created"), 5, "boss, lead, alice, dave, ghost");
    assert_eq!(count(&page, "deactivated"), 0);
    assert_eq!(count(&page, "unmatched"), 1);
    assert!(page.text("#unmatched").unwrap().contains("ghost"));
    assert!(page.text("#skipped").unwrap().contains("uid=nomail"));
    assert!(
        page.text("#skipped")
            .unwrap()
            .contains("no valid email address")
    );
    assert_eq!(person(&app, "alice").unwrap().4.as_deref(), Some("lead"));
    assert_eq!(person(&app, "lead").unwrap().4.as_deref(), Some("boss"));
    assert_eq!(person(&app, "boss").unwrap().4, None);
    assert_eq!(person(&app, "ghost").unwrap().4, None);
    // The same directory again changes nothing.
    let again = sync_now(&app).await;
    assert_eq!(count(&again, "created"), 0);
    assert_eq!(count(&again, "updated"), 0);
    assert_eq!(count(&again, "unchanged"), 5);
    // The list of syncs shows both, in the reader's language too.
    let list = app.get("/admin/directory").await;
    assert_eq!(list.count("table.syncs tbody tr"), 2);
    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;
    let zh = app.get(&again.path).await;
    assert_eq!(zh.h1(), "目录同步报告");
}

#[actix_web::test]
async fn the_manager_chain_from_the_directory_decides_who_approves() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    sync_now(&app).await;
    let mut node = NodeDef::new(
        "managers",
        LocalText::new("Managers", "上级"),
        NodeKind::Approval,
    );
    node.mode = Mode::Sequence;
    node.handlers = vec![HandlerRule::ManagerChain { levels: 2 }];
    let service = deploy(&app, vec![node]);
    let alice = TestApp::browser();
    sign_in_as(&app, &alice, "alice", "alice-password").await;
    let page = post_as(
        &app,
        &alice,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "A new laptop")],
    )
    .await;
    let id: i32 = page
        .path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path));
    assert_eq!(
        asked(&app, id),
        vec![
            row("managers", "lead", "pending", None),
            row("managers", "boss", "waiting", None),
        ]
    );
}

/// Who the ticket's steps after filing ask: (step, person, status, decision).
fn asked(app: &TestApp, id: i32) -> Vec<(String, String, String, Option<String>)> {
    let mut rows = assignments(app, id);
    rows.retain(|(node, ..)| node != "submit");
    rows
}

/// A role `code` of the test's own.
fn make_role(app: &TestApp, code: &str) -> countersign::db::ids::RoleId {
    let admin = app.user_id("admin");
    let code = RoleCode::parse(code).unwrap();
    app.db
        .write_sync(move |c| {
            countersign::store::roles::create(
                c,
                &code,
                &RoleInput {
                    name_en: Name::parse("Database administrator").unwrap(),
                    name_zh: Name::parse("数据库管理员").unwrap(),
                    description: String::new(),
                },
                admin,
            )
        })
        .unwrap()
}

/// The roles `username` holds: (code, from a group).
fn roles_of(app: &TestApp, username: &str) -> Vec<(String, bool)> {
    let username = username.to_string();
    app.query(move |c| {
        role_assignments::table
            .inner_join(roles::table)
            .inner_join(users::table.on(users::id.eq(role_assignments::user_id)))
            .filter(users::username.eq(&username))
            .order(roles::code)
            .select((roles::code, role_assignments::from_group))
            .load(c)
    })
}

#[actix_web::test]
async fn a_group_mapped_to_a_role_decides_who_is_asked_and_leaving_it_takes_the_role_back() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    let dba = make_role(&app, "dba");
    let admin = app.user_id("admin");
    let payments = app.create_business("Payments", admin);
    app.sign_in("admin").await;
    // A mapping names its group as the directory does, in any case.
    let page = app
        .post(
            "/admin/directory/groups",
            &[
                ("group", "CN=DBA, OU=Groups,DC=example,DC=com"),
                ("role_id", &dba.0.to_string()),
                ("business_id", &payments.0.to_string()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.texts("table.group-roles tbody tr td code"),
        vec!["cn=dba,ou=groups,dc=example,dc=com"]
    );
    // The same mapping twice is refused beside the field, input kept.
    let twice = app
        .post(
            "/admin/directory/groups",
            &[
                ("group", "cn=dba,ou=groups,dc=example,dc=com"),
                ("role_id", &dba.0.to_string()),
                ("business_id", &payments.0.to_string()),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.field_error("group").is_some());
    assert_eq!(
        twice.input_value("#group-form", "group").as_deref(),
        Some("cn=dba,ou=groups,dc=example,dc=com")
    );
    let report = sync_now(&app).await;
    assert!(report.text("#roles").unwrap().contains("dave"));
    assert_eq!(roles_of(&app, "dave"), vec![("dba".to_string(), true)]);
    let scope: Option<countersign::db::ids::BusinessId> = app.query(|c| {
        role_assignments::table
            .inner_join(users::table.on(users::id.eq(role_assignments::user_id)))
            .filter(users::username.eq("dave"))
            .select(role_assignments::business_id)
            .first(c)
    });
    assert_eq!(scope, Some(payments));

    // Whoever holds the role is asked.
    let mut node = NodeDef::new("dba", LocalText::new("DBA", "DBA"), NodeKind::Approval);
    node.handlers = vec![HandlerRule::Role {
        role: "dba".into(),
        in_business: false,
    }];
    let service = deploy(&app, vec![node]);
    let id = file_as_directory_person(&app, "alice", "alice-password", service).await;
    assert_eq!(asked(&app, id), vec![row("dba", "dave", "pending", None)]);

    // A role given by hand stays; the group's goes with the group.
    let lead = app.user_id("lead");
    app.db
        .write_sync(move |c| {
            countersign::store::assignments::create(
                c,
                lead,
                dba,
                countersign::store::assignments::Scope::Global,
                admin,
            )
        })
        .unwrap();
    slapd
        .leave_group(
            "cn=dba,ou=groups,dc=example,dc=com",
            "uid=dave,ou=people,dc=example,dc=com",
        )
        .await;
    let report = sync_now(&app).await;
    assert!(report.text("#roles li.revoked").unwrap().contains("dave"));
    assert_eq!(roles_of(&app, "dave"), vec![]);
    assert_eq!(roles_of(&app, "lead"), vec![("dba".to_string(), false)]);
}

/// Files a ticket on `service` as a directory person; its id.
async fn file_as_directory_person(
    app: &TestApp,
    username: &str,
    password: &str,
    service: i32,
) -> i32 {
    let browser = TestApp::browser();
    let signed = sign_in_as(app, &browser, username, password).await;
    assert_eq!(signed.path, "/", "{username} signs in");
    let page = post_as(
        app,
        &browser,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("what", "Access to the ledger")],
    )
    .await;
    page.path
        .strip_prefix("/tickets/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a ticket page: {}", page.path))
}

#[actix_web::test]
async fn someone_removed_from_the_directory_is_deactivated_their_session_ends_and_their_work_moves_to_their_manager()
 {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    sync_now(&app).await;
    let mut node = NodeDef::new(
        "manager",
        LocalText::new("Manager", "上级"),
        NodeKind::Approval,
    );
    node.handlers = vec![HandlerRule::ApplicantManager];
    let service = deploy(&app, vec![node]);
    let id = file_as_directory_person(&app, "alice", "alice-password", service).await;
    assert_eq!(
        asked(&app, id),
        vec![row("manager", "lead", "pending", None)]
    );
    let lead = TestApp::browser();
    sign_in_as(&app, &lead, "lead", "lead-password").await;
    assert_eq!(get(&lead, &app.url("/inbox")).await.path, "/inbox");

    slapd.remove("uid=lead,ou=people,dc=example,dc=com").await;
    let report = sync_now(&app).await;
    assert_eq!(count(&report, "deactivated"), 1);
    assert!(report.text("#deactivated").unwrap().contains("lead"));
    assert!(!person(&app, "lead").unwrap().5);
    // The step moved up the chain, to Lead Li's manager.
    assert_eq!(
        asked(&app, id),
        vec![
            row("manager", "lead", "transferred", None),
            row("manager", "boss", "pending", None),
        ]
    );
    // Lead Li's open session ends on their next request, and their
    // directory password no longer signs them in.
    let next = get(&lead, &app.url("/inbox")).await;
    assert!(next.path.starts_with("/sign-in"), "{}", next.path);
    let again = sign_in_as(&app, &TestApp::browser(), "lead", "lead-password").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn when_company_sign_in_is_required_only_administrators_use_a_local_password() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    app.create_user("local.lin", false);
    // A local account named as someone in the directory is not taken
    // over: the sync leaves it alone, and the directory password does
    // not open it.
    app.create_user("dave", false);
    let report = sync_now(&app).await;
    let skipped = report.text("#skipped").unwrap();
    assert!(skipped.contains("uid=dave"), "{skipped}");
    assert!(skipped.contains("a local account has this username"));
    assert_eq!(person(&app, "dave").unwrap().0, "local");
    let taken = sign_in_as(&app, &TestApp::browser(), "dave", "dave-password").await;
    assert_eq!(taken.status, StatusCode::UNAUTHORIZED);
    let page = app
        .post("/admin/directory/policy", &[("policy", "company")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.attr("#policy-form input[checked]", "value").as_deref(),
        Some("company")
    );
    // A local person with the right password is told to use the company
    // account; an administrator still signs in locally.
    let local = sign_in_as(&app, &TestApp::browser(), "local.lin", PASSWORD).await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);
    assert_eq!(
        local.form_error().as_deref(),
        Some("Sign in with your company account: local passwords are for administrators only.")
    );
    let admin = sign_in_as(&app, &TestApp::browser(), "admin", PASSWORD).await;
    assert_eq!(admin.path, "/");
    let dave = sign_in_as(&app, &TestApp::browser(), "dave", PASSWORD).await;
    assert_eq!(dave.status, StatusCode::FORBIDDEN);
    // A directory person signs in as ever.
    let alice = sign_in_as(&app, &TestApp::browser(), "alice", "alice-password").await;
    assert_eq!(alice.path, "/");
}

#[actix_web::test]
async fn a_directory_that_cannot_be_reached_says_so_and_local_administrators_still_sign_in() {
    let (listener, port) = free_port();
    drop(listener);
    let mut config = LdapConfig::new(
        &format!("ldap://127.0.0.1:{port}"),
        READER,
        READER_PASSWORD,
        PEOPLE,
    );
    config.sync_every = None;
    config.timeout = Duration::from_secs(2);
    let app = TestApp::spawn_configured(MailConfig::files(), |c| c.ldap = Some(config)).await;
    app.create_user("admin", true);
    let page = sign_in_as(&app, &TestApp::browser(), "alice", "alice-password").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.form_error()
            .unwrap()
            .contains("company directory cannot be reached")
    );
    let admin = app.sign_in("admin").await;
    assert_eq!(admin.path, "/");
    // A sync that cannot read the directory is recorded as failed and
    // deactivates nobody.
    let report = sync_now(&app).await;
    assert!(report.text("#sync-error").is_some());
    let error: Option<String> = app.query(|c| {
        directory_syncs::table
            .select(directory_syncs::error)
            .first(c)
    });
    assert!(error.is_some());
}

#[actix_web::test]
async fn the_scheduled_sync_runs_once_a_period_whatever_the_number_of_instances() {
    let Some(slapd) = Slapd::start() else { return };
    let mut config = slapd.config();
    config.sync_every = Some(chrono::Duration::minutes(60));
    let app = TestApp::spawn_configured(MailConfig::files(), |c| c.ldap = Some(config)).await;
    // A second instance on the same database, with the same schedule.
    let mut second = slapd.config();
    second.sync_every = Some(chrono::Duration::minutes(60));
    app.second_instance_configured(MailConfig::files(), |c| c.ldap = Some(second))
        .await;
    let scheduled = |app: &TestApp| -> Vec<(Option<String>, bool)> {
        app.query(|c| {
            directory_syncs::table
                .filter(directory_syncs::trigger.eq("schedule"))
                .order(directory_syncs::id)
                .select((
                    directory_syncs::slot,
                    directory_syncs::finished_at.is_not_null(),
                ))
                .load(c)
        })
    };
    // Each sync is awaited as it is recorded; the clock is moved, not waited for.
    let wait_for = async |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rows = scheduled(&app);
            if rows.len() >= n && rows.iter().all(|(_, done)| *done) {
                return rows;
            }
            assert!(Instant::now() < deadline, "scheduled syncs: {rows:?}");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let first = wait_for(1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    app.advance(chrono::Duration::minutes(61));
    let both = wait_for(2).await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_ne!(both[0].0, both[1].0);
    assert!(person(&app, "alice").is_some());
}

#[actix_web::test]
async fn the_directory_is_reached_over_starttls_or_ldaps_and_a_certificate_it_cannot_trust_is_refused()
 {
    let Some(slapd) = Slapd::start_with_tls() else {
        return;
    };
    let (ldaps, ca) = slapd.ldaps.clone().unwrap();
    let ca = countersign::config::read_ldap_ca_file(ca.to_str().unwrap()).unwrap();
    let starttls = LdapConfig {
        starttls: true,
        ca_certs: ca.clone(),
        ..slapd.config()
    };
    let over_ldaps = LdapConfig {
        url: ldaps.clone(),
        ca_certs: ca,
        ..slapd.config()
    };
    for config in [&starttls, &over_ldaps] {
        let verdict = Directory::new(config.clone())
            .sign_in("alice", "alice-password")
            .await;
        assert!(
            matches!(verdict, Ok(Verdict::Person(_))),
            "{}: {verdict:?}",
            config.url
        );
    }
    // Without the company's CA the certificate is not trusted, and
    // nothing is sent: no password crosses an unverified connection.
    for config in [&starttls, &over_ldaps] {
        let untrusted = LdapConfig {
            ca_certs: Vec::new(),
            ..config.clone()
        };
        let verdict = Directory::new(untrusted)
            .sign_in("alice", "alice-password")
            .await;
        assert!(verdict.is_err(), "{}: {verdict:?}", config.url);
    }
    // And through the sign-in page, over StartTLS.
    let app = TestApp::spawn_configured(MailConfig::files(), |c| c.ldap = Some(starttls)).await;
    let page = sign_in_as(&app, &TestApp::browser(), "alice", "alice-password").await;
    assert_eq!(page.path, "/");
}

#[actix_web::test]
async fn the_directory_sync_command_syncs_everyone_and_says_what_changed_or_what_is_missing() {
    let Some(slapd) = Slapd::start() else { return };
    let app = TestApp::spawn().await;
    let url = app.database_url();
    let env = [
        ("LDAP_URL", slapd.url.as_str()),
        ("LDAP_BIND_DN", READER),
        ("LDAP_BIND_PASSWORD", READER_PASSWORD),
        ("LDAP_USER_BASE", PEOPLE),
        ("LDAP_GROUP_BASE", "ou=groups,dc=example,dc=com"),
    ];
    let out = crate::cli::countersign_with(&app, &url, &["directory", "sync"], "", &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 created"), "{stdout}");
    assert!(stdout.contains("manager not found for ghost"), "{stdout}");
    // The service account's password is never printed.
    assert!(!stdout.contains(READER_PASSWORD));
    assert_eq!(person(&app, "alice").unwrap().4.as_deref(), Some("lead"));
    let trigger: String = app.query(|c| {
        directory_syncs::table
            .select(directory_syncs::trigger)
            .first(c)
    });
    assert_eq!(trigger, "cli");

    for (env, said) in [
        (
            vec![("LDAP_URL", slapd.url.as_str())],
            "LDAP_USER_BASE must be set with LDAP_URL",
        ),
        (
            vec![
                ("LDAP_URL", slapd.url.as_str()),
                ("LDAP_USER_BASE", PEOPLE),
                ("LDAP_CA_FILE", "/nonexistent/ca.pem"),
            ],
            "LDAP_CA_FILE \"/nonexistent/ca.pem\" cannot be read",
        ),
        (
            vec![("LDAP_URL", "http://directory.example.com")],
            "LDAP_URL must start with ldap:// or ldaps://",
        ),
        (vec![], "no company directory is configured"),
    ] {
        let out = crate::cli::countersign_with(&app, &url, &["directory", "sync"], "", &env);
        assert!(!out.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[actix_web::test]
async fn people_from_the_directory_get_exactly_what_their_roles_allow() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    let admin_role = app.role_id("admin");
    app.sign_in("admin").await;
    app.post(
        "/admin/directory/groups",
        &[
            ("group", "cn=admins,ou=groups,dc=example,dc=com"),
            ("role_id", &admin_role.0.to_string()),
            ("business_id", "global"),
        ],
    )
    .await;
    let admin_pages = [
        "/admin",
        "/admin/users",
        "/admin/directory",
        "/admin/assignments",
        "/admin/audit",
    ];
    // Alice is in no group: every administration page and action is
    // refused her.
    let alice = TestApp::browser();
    sign_in_as(&app, &alice, "alice", "alice-password").await;
    for path in admin_pages {
        let page = get(&alice, &app.url(path)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "GET {path}");
    }
    let mapping: i32 = app.query(|c| {
        countersign::db::schema::group_roles::table
            .select(countersign::db::schema::group_roles::id)
            .first(c)
    });
    for path in [
        "/admin/directory/sync".to_string(),
        "/admin/directory/policy".to_string(),
        "/admin/directory/groups".to_string(),
        format!("/admin/directory/groups/{mapping}/delete"),
    ] {
        let page = post_as(
            &app,
            &alice,
            &path,
            &[
                ("policy", "company"),
                ("group", "cn=x"),
                ("role_id", "1"),
                ("business_id", "global"),
            ],
        )
        .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    let mappings: i64 = app.query(|c| {
        countersign::db::schema::group_roles::table
            .count()
            .get_result(c)
    });
    assert_eq!(mappings, 1, "nothing she posted changed anything");
    assert_eq!(
        app.query(|c| directory_syncs::table.count().get_result::<i64>(c)),
        0
    );

    // He Jun is in the administrators' group: he administers as soon as
    // he signs in, and stops when he leaves it.
    let boss = TestApp::browser();
    sign_in_as(&app, &boss, "boss", "boss-password").await;
    for path in admin_pages {
        let page = get(&boss, &app.url(path)).await;
        assert_eq!(page.status, StatusCode::OK, "GET {path}");
    }
    assert_eq!(roles_of(&app, "boss"), vec![("admin".to_string(), true)]);
    slapd
        .leave_group(
            "cn=admins,ou=groups,dc=example,dc=com",
            "uid=boss,ou=people,dc=example,dc=com",
        )
        .await;
    // His own sync takes it away: its report is no longer his to read.
    let page = post_as(&app, &boss, "/admin/directory/sync", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(roles_of(&app, "boss"), vec![]);
    let after = get(&boss, &app.url("/admin/users")).await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_new_person_given_a_former_one_s_name_gets_an_account_of_their_own() {
    let Some(slapd) = Slapd::start() else { return };
    let app = app_with(&slapd).await;
    sync_now(&app).await;
    let old = app.user_id("alice");
    // Alice leaves; a new Alice joins with her name and DN.
    slapd.remove("uid=alice,ou=people,dc=example,dc=com").await;
    slapd
        .add_person("alice", "Alice Two", "new-alice-password")
        .await;
    // Until a sync says the first Alice left, the name is hers: the new
    // one is not let into her account.
    let early = sign_in_as(&app, &TestApp::browser(), "alice", "new-alice-password").await;
    assert_eq!(early.status, StatusCode::UNAUTHORIZED);
    assert!(
        person(&app, "alice").unwrap().5,
        "the first Alice is untouched"
    );
    let report = sync_now(&app).await;
    assert!(report.text("#deactivated").unwrap().contains("alice"));
    // Now the new Alice signs in to an account of her own; the first
    // keeps hers (and its history) under a name that says she left.
    let page = sign_in_as(&app, &TestApp::browser(), "alice", "new-alice-password").await;
    assert_eq!(page.path, "/");
    let new = app.user_id("alice");
    assert_ne!(new, old);
    assert_eq!(person(&app, "alice").unwrap().1, "Alice Two");
    let renamed: (String, bool) = app.query(move |c| {
        users::table
            .find(old)
            .select((users::username, users::active))
            .first(c)
    });
    assert_eq!(renamed, (format!("alice.left-{}", old.0), false));
}
