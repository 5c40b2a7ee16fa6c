//! The layers point down: `flow` (pure) ← `db` ← `store` ← `notify` and
//! `web`. This reads every source file's `crate::…` paths and fails, naming
//! the file, when one reaches a layer above its own.

use std::path::{Path, PathBuf};

/// Each folder of `src/` with the parts of the crate it must not use.
/// `flow` uses nothing of ours at all.
const RULES: &[(&str, &[&str])] = &[
    (
        "flow",
        &[
            "db",
            "store",
            "notify",
            "web",
            "api",
            "jobs",
            "config",
            "startup",
            "domain",
            "i18n",
            "error",
            "token",
            "password",
            "telemetry",
            "metrics",
        ],
    ),
    ("db", &["store", "notify", "web", "api", "jobs", "startup"]),
    ("store", &["notify", "web", "api", "jobs", "startup"]),
    ("notify", &["web", "api", "startup"]),
    ("ldap", &["web", "api", "jobs", "startup"]),
    ("oidc", &["web", "api", "jobs", "startup"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file's code names as `crate::x`, comments left out.
fn crate_paths(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_layer_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for (layer, forbidden) in RULES {
        let mut files = Vec::new();
        sources(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no sources under src/{layer}");
        for file in files {
            let name = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            for used in crate_paths(&text) {
                if !forbidden.contains(&used.as_str()) {
                    continue;
                }
                upward.push(format!(
                    "src/{name} uses crate::{used}, a layer above {layer}"
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_check_sees_paths_in_code_and_not_in_comments() {
    let found = crate_paths(
        "use crate::db::DbConn;\n// crate::web is not used\nlet x = crate::store::now(); crate::flow::x();",
    );
    assert_eq!(found, ["db", "store", "flow"]);
}
