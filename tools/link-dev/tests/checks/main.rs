//! The project's consistency checks, one test binary: every `invoke/` payload
//! against its handler and `openapi.yaml` (`events`), `template.yaml` against the
//! code (`template`), the smoke checks against an open door (`smoke`), the
//! documents against the code and the template (`docs`), and one version and
//! what a release publishes (`release`).

mod docs;
mod invoke;
mod openapi;
mod release;
mod smoke;
mod structure;
mod template;

use std::path::PathBuf;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
