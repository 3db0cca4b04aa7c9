//! The documents keep one source for each fact: no page repeats the template's
//! parameters (they are described in `template.yaml`), the configuration page
//! lists exactly the variables the code reads, and every test the security model
//! names as a check's proof exists.

use std::collections::BTreeSet;

use link_shared::config::vars;

use crate::root;

/// The project's Markdown pages: the README, BENCHMARKS.md and docs/.
fn pages() -> Vec<(String, String)> {
    let mut files = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(root()).unwrap_or(&p).display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The first cell of each Markdown table row.
fn first_cells(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .filter_map(|l| l.split('|').nth(1))
}

/// The names in backticks in a piece of text.
fn code_spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

#[test]
fn no_page_repeats_the_template_parameters() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let t: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let params: BTreeSet<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert!(params.len() > 40, "{params:?}");
    let mut tabled = Vec::new();
    for (page, body) in pages() {
        for cell in first_cells(&body) {
            for name in code_spans(cell) {
                if params.contains(name) {
                    tabled.push(format!("{page}: {name}"));
                }
            }
        }
    }
    assert!(
        tabled.is_empty(),
        "template parameters in a table outside template.yaml: {tabled:?}"
    );
}

#[test]
fn the_configuration_page_lists_exactly_the_variables_the_code_reads() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let listed: BTreeSet<&str> = first_cells(&page).flat_map(code_spans).collect();
    let read: BTreeSet<&str> = vars::ALL.iter().copied().collect();
    assert_eq!(
        listed, read,
        "docs/configuration.md against config::vars::ALL"
    );
}

/// `module::test` in `shared/tests/api/<module>.rs`; `path::tests::test` (a
/// unit test) in `shared/src/<path>.rs` or `shared/src/<path>/mod.rs`;
/// `file.rs::test` in that file; a whole test file. `*`: any test there.
fn test_exists(reference: &str) -> bool {
    let defined_in = |path: std::path::PathBuf, name: &str| {
        std::fs::read_to_string(path)
            .is_ok_and(|text| name == "*" || text.contains(&format!("fn {name}(")))
    };
    if let Some((file, name)) = reference.rsplit_once(".rs::") {
        return defined_in(root().join(format!("{file}.rs")), name);
    }
    if reference.ends_with(".rs") || reference.ends_with(".mjs") {
        return root().join(reference).is_file();
    }
    let parts: Vec<&str> = reference.split("::").collect();
    match parts.as_slice() {
        [module, name] => [
            "shared/tests/api",
            "tools/link-dev/tests/checks",
            "tools/lambda-bench/tests",
        ]
        .iter()
        .any(|dir| defined_in(root().join(format!("{dir}/{module}.rs")), name)),
        [path @ .., "tests", name] => {
            let base = root().join("shared/src").join(path.join("/"));
            defined_in(base.with_extension("rs"), name)
                || defined_in(base.join("mod.rs"), name)
                || defined_in(base.join("tests.rs"), name)
        }
        _ => false,
    }
}

#[test]
fn every_test_the_security_model_names_exists() {
    let flow = std::fs::read_to_string(root().join("docs/flow.md")).unwrap();
    let table = flow
        .split("## Security model")
        .nth(1)
        .expect("docs/flow.md has the security model")
        .split("\n\n")
        .find(|block| block.starts_with("| check"))
        .expect("the security model's table");
    let mut named = 0;
    let mut missing = Vec::new();
    for row in table.lines().skip(2) {
        let proof = row.rsplit('|').nth(1).unwrap_or("");
        for reference in code_spans(proof) {
            named += 1;
            if !test_exists(reference) {
                missing.push(reference.to_string());
            }
        }
    }
    assert!(named > 60, "only {named} tests named");
    assert!(missing.is_empty(), "named but not found: {missing:?}");
}

/// `.env.local` holds a developer's sandbox key: the docs call it ignored by
/// git, and it must never be tracked again.
#[test]
fn the_local_env_file_is_never_tracked() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .expect("git runs")
    };
    if !git(&["rev-parse", "--is-inside-work-tree"])
        .status
        .success()
    {
        eprintln!("not a git checkout: nothing to check");
        return;
    }
    let tracked = git(&["ls-files", "--", ".env.local"]);
    assert!(
        String::from_utf8_lossy(&tracked.stdout).trim().is_empty(),
        ".env.local is tracked by git"
    );
    assert!(
        git(&["check-ignore", "-q", ".env.local"]).status.success(),
        ".env.local is not ignored by git"
    );
}

/// Every page refers only to files a reader of the repository has: each
/// relative link resolves, and each path in backticks that names a file of the
/// project (`shared/…`, `tools/…`, `docs/…`, …) exists.
#[test]
fn pages_refer_only_to_files_in_the_repository() {
    let tops = [
        "shared/",
        "tools/",
        "functions/",
        "docs/",
        "scripts/",
        "client/",
        "demo/",
        "tests/",
        "invoke/",
        "../",
    ];
    // Files the pages tell a reader to create (both ignored by git).
    let made_by_the_reader = ["demo/ofauth-link-embed.js", ".env.local"];
    let mut missing = Vec::new();
    let mut checked = 0;
    for (page, body) in pages() {
        let dir = root().join(&page).parent().unwrap().to_path_buf();
        // Markdown links: `](target)`.
        for link in body.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            if !dir.join(target).exists() {
                missing.push(format!("{page}: link {target}"));
            }
        }
        // Paths in backticks.
        for span in code_spans(&body) {
            let path = span.split("::").next().unwrap_or(span);
            if !tops.iter().any(|t| path.starts_with(t))
                || path.contains(['*', '<', '{', ' ', '…'])
                || made_by_the_reader.contains(&path)
            {
                continue;
            }
            checked += 1;
            let base = if path.starts_with("../") {
                &dir
            } else {
                &root()
            };
            if !base.join(path).exists() {
                missing.push(format!("{page}: `{span}`"));
            }
        }
    }
    assert!(checked > 50, "only {checked} references checked");
    assert!(missing.is_empty(), "not in the repository: {missing:#?}");
}

/// docs/platform.md's consumer (`# platform-consumer-example`), run on a
/// user's events delivered in thousands of orders, with duplicates: whatever
/// the order, it keeps nothing of the connections the user's erasure lists,
/// keeps the connection they made after it and another user's, each at its
/// newest version.
#[test]
fn the_documented_consumer_keeps_nothing_an_erasure_covers_in_any_order() {
    let page = std::fs::read_to_string(root().join("docs/platform.md")).unwrap();
    let consumer: String = page
        .split("# platform-consumer-example\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/platform.md has the consumer example")
        .to_string();
    let check = r#"
import random

def ev(kind, conn, user, version, status):
    return {"detail-type": kind, "detail": {"eventId": f"{conn}:{version}", "connectionId": conn,
            "userId": user, "newStatus": status, "version": version}}

events = [
    ev("Connection Bound", "conn_a", "u1", 2, "active"),
    ev("Connection Expired", "conn_a", "u1", 3, "expired"),
    ev("Connection Reconnected", "conn_a", "u1", 4, "active"),
    ev("Connection Disconnected", "conn_a", "u1", 5, "disconnected"),
    ev("Connection Bound", "conn_b", "u1", 2, "active"),
    ev("Connection Disconnected", "conn_b", "u1", 3, "disconnected"),
    {"detail-type": "User Data Erased", "detail": {"eventId": "erasure:x", "userId": "u1", "version": 1,
     "connections": [{"connectionId": "conn_a", "version": 6}, {"connectionId": "conn_b", "version": 3}]}},
    ev("Connection Bound", "conn_c", "u1", 2, "active"),
    ev("Connection Bound", "conn_z", "u2", 2, "active"),
    ev("Connection Expired", "conn_z", "u2", 3, "expired"),
]
rng = random.Random(7)
for _ in range(5000):
    delivered = events + rng.sample(events, 3)
    rng.shuffle(delivered)
    state = {"connections": {}, "erased": {}}
    for e in delivered:
        apply(state, e)
    assert set(state["connections"]) == {"conn_c", "conn_z"}, (state, delivered)
    assert state["connections"]["conn_c"] == {"user": "u1", "status": "active", "version": 2}
    assert state["connections"]["conn_z"] == {"user": "u2", "status": "expired", "version": 3}
    assert state["erased"] == {"conn_a": 6, "conn_b": 3}
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!("{consumer}\n{check}"))
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
