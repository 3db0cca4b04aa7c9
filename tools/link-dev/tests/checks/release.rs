//! One version for the service, and what a release publishes: the workspace's
//! version is every crate's, the client package's, `openapi.yaml`'s and the
//! template's Serverless Application Repository entry's (in its
//! `SemanticVersion` and its description), `CHANGELOG.md`'s newest release is
//! it, that entry is one `sam publish` accepts, and `LICENSE` is the license
//! `Cargo.toml` names.

use serde_json::Value as Json;
use serde_norway::Value;

use crate::root;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cargo(path: &str) -> toml::Value {
    toml::from_str(&read(path)).unwrap()
}

/// The workspace's version (`[workspace.package]`).
fn version() -> String {
    cargo("Cargo.toml")["workspace"]["package"]["version"]
        .as_str()
        .expect("Cargo.toml has [workspace.package] version")
        .to_string()
}

/// The template's `Metadata: AWS::ServerlessRepo::Application`.
fn serverless_repo() -> Value {
    let t: Value = serde_norway::from_str(&read("template.yaml")).unwrap();
    let app = t["Metadata"]["AWS::ServerlessRepo::Application"].clone();
    assert!(
        app.is_mapping(),
        "template.yaml has no AWS::ServerlessRepo::Application"
    );
    app
}

fn text<'a>(app: &'a Value, key: &str) -> &'a str {
    app[key]
        .as_str()
        .unwrap_or_else(|| panic!("ServerlessRepo {key} is not a plain string: {:?}", app[key]))
}

/// MAJOR.MINOR.PATCH with an optional pre-release, as SemVer 2.0 (and the
/// Serverless Application Repository) has it.
fn is_semver(v: &str) -> bool {
    let (core, pre) = v.split_once('-').unwrap_or((v, "x"));
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (n == &"0" || !n.starts_with('0'))
        })
        && !pre.is_empty()
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[test]
fn one_version_everywhere() {
    let v = version();
    assert!(is_semver(&v), "the workspace's version {v:?} is not SemVer");
    // The code's own (the shared crate's CARGO_PKG_VERSION: what the functions
    // log, the read API answers and the events carry).
    assert_eq!(link_shared::VERSION, v);
    // Every crate takes the workspace's version.
    let members = cargo("Cargo.toml")["workspace"]["members"].clone();
    let members = members.as_array().unwrap();
    assert!(members.len() >= 7, "{members:?}");
    for m in members {
        let manifest = format!("{}/Cargo.toml", m.as_str().unwrap());
        let package = cargo(&manifest)["package"].clone();
        assert_eq!(
            package["version"]
                .get("workspace")
                .and_then(toml::Value::as_bool),
            Some(true),
            "{manifest}: version must be `version.workspace = true`"
        );
    }
    // The client package, and its lock file's record of it.
    let package: Json = serde_json::from_str(&read("client/package.json")).unwrap();
    assert_eq!(package["version"], v.as_str(), "client/package.json");
    let lock: Json = serde_json::from_str(&read("client/package-lock.json")).unwrap();
    assert_eq!(lock["version"], v.as_str(), "client/package-lock.json");
    assert_eq!(
        lock["packages"][""]["version"],
        v.as_str(),
        "client/package-lock.json"
    );
    // The contract.
    let openapi: Value = serde_norway::from_str(&read("openapi.yaml")).unwrap();
    assert_eq!(
        openapi["info"]["version"].as_str(),
        Some(v.as_str()),
        "openapi.yaml"
    );
    // The template's Serverless Application Repository entry.
    let app = serverless_repo();
    assert_eq!(
        text(&app, "SemanticVersion"),
        v,
        "template.yaml SemanticVersion"
    );
    assert!(
        text(&app, "Description").contains(&v),
        "the ServerlessRepo Description names the version {v}"
    );
}

#[test]
fn the_changelog_s_newest_release_is_the_version() {
    let v = version();
    let changelog = read("CHANGELOG.md");
    let releases: Vec<&str> = changelog
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter(|l| !l.starts_with("Unreleased]"))
        .collect();
    let newest = releases
        .first()
        .expect("CHANGELOG.md has a release heading");
    let (number, date) = newest
        .split_once("] - ")
        .unwrap_or_else(|| panic!("`## [{newest}` is not `## [X.Y.Z] - YYYY-MM-DD`"));
    assert_eq!(number, v, "CHANGELOG.md's newest release");
    let d: Vec<&str> = date.split('-').collect();
    assert!(
        d.len() == 3
            && [4, 2, 2]
                .iter()
                .zip(&d)
                .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit())),
        "the release's date {date:?} is not YYYY-MM-DD"
    );
    // Each release once, newest first.
    let numbers: Vec<Vec<u64>> = releases
        .iter()
        .map(|r| {
            let n = r.split(']').next().unwrap();
            n.split('-')
                .next()
                .unwrap()
                .split('.')
                .map(|p| p.parse().unwrap())
                .collect()
        })
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] > w[1]),
        "CHANGELOG.md's releases are not newest first, each once: {releases:?}"
    );
    assert!(
        changelog.contains("## [Unreleased]"),
        "CHANGELOG.md keeps an [Unreleased] section for what is not released yet"
    );
}

/// The entry as the Serverless Application Repository's API takes it
/// (CreateApplication: lengths and patterns), and as `sam package` needs it
/// (LicenseUrl and ReadmeUrl are local files it uploads; no intrinsic functions).
#[test]
fn the_serverless_repo_entry_is_publishable() {
    let app = serverless_repo();
    for (key, value) in app.as_mapping().unwrap() {
        assert!(
            !matches!(value, Value::Tagged(_)),
            "ServerlessRepo {key:?} uses an intrinsic function, which sam publish does not resolve"
        );
    }
    let name = text(&app, "Name");
    assert!(
        (1..=140).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "Name {name:?}"
    );
    let description = text(&app, "Description");
    assert!(
        (1..=256).contains(&description.chars().count()),
        "Description has {} characters (1-256)",
        description.chars().count()
    );
    let author = text(&app, "Author");
    assert!(
        (1..=127).contains(&author.len())
            && author
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !author.starts_with('-')
            && !author.ends_with('-')
            && !author.contains("--"),
        "Author {author:?}: lowercase letters, digits and single hyphens inside"
    );
    let license = cargo("Cargo.toml")["workspace"]["package"]["license"].clone();
    assert_eq!(Some(text(&app, "SpdxLicenseId")), license.as_str());
    for key in ["LicenseUrl", "ReadmeUrl"] {
        let file = text(&app, key);
        assert!(
            root().join(file).is_file(),
            "{key} {file:?} is a file beside template.yaml (sam package uploads it)"
        );
    }
    let labels = app["Labels"].as_sequence().expect("Labels");
    assert!((1..=10).contains(&labels.len()), "1-10 Labels");
    for label in labels {
        let l = label.as_str().unwrap();
        assert!(
            (1..=127).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-_:/@".contains(&b)),
            "label {l:?}"
        );
    }
    for key in ["HomePageUrl", "SourceCodeUrl"] {
        let u = url::Url::parse(text(&app, key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(u.scheme(), "https", "{key}");
    }
}

#[test]
fn the_license_is_the_one_cargo_names() {
    let cargo_license = cargo("Cargo.toml")["workspace"]["package"]["license"].clone();
    assert_eq!(cargo_license.as_str(), Some("MIT"));
    let license = read("LICENSE");
    assert!(
        license.starts_with("MIT License\n"),
        "LICENSE is the MIT License"
    );
    assert!(license.contains("Copyright (c) 2026 OFAuth Link backend contributors"));
    assert!(license.contains("Permission is hereby granted, free of charge, to any person"));
    let package: Json = serde_json::from_str(&read("client/package.json")).unwrap();
    assert_eq!(package["license"], "MIT", "client/package.json");
    let openapi: Value = serde_norway::from_str(&read("openapi.yaml")).unwrap();
    assert_eq!(openapi["info"]["license"]["name"].as_str(), Some("MIT"));
}

#[test]
fn semver_is_checked() {
    for good in ["0.9.0", "1.0.0", "10.20.30", "1.0.0-rc.1"] {
        assert!(is_semver(good), "{good}");
    }
    for bad in ["0.9", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-rc!", "1..0"] {
        assert!(!is_semver(bad), "{bad}");
    }
}
