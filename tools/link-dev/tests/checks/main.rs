//! The project's consistency checks, one test binary: every `events/` file
//! against its handler and `openapi.yaml` (`events`), `template.yaml` against the
//! code (`template`), the smoke checks against an open door (`smoke`), and the
//! documents against the code and the template (`docs`).

mod docs;
mod events;
mod openapi;
mod smoke;
mod template;

use std::path::PathBuf;

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
