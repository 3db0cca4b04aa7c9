//! What the benchmark and the tests share: a minimal AWS Lambda Runtime API on
//! loopback, under which a function's binary runs exactly as on Lambda.

pub mod load;
pub mod runtime_api;

/// A workspace binary from the debug build (`cargo build --workspace --bins`),
/// for the tests that run the functions as processes.
pub fn debug_binary(name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/debug")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}
