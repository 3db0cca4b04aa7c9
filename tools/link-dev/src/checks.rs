//! The checks `make test` runs against built artefacts and the running stack:
//! every `invoke/` payload through `cargo lambda invoke`, and each arm64 bootstrap's
//! architecture and size.

use std::path::Path;
use std::process::Command;

use crate::{expectations, invoke, prepare_event, Error, Expected, LocalTable};

/// What one invocation answered, against what it should have.
pub fn compare(name: &str, exp: &Expected, app: &str, answer: &str) -> Result<(), String> {
    let resp: serde_json::Value = serde_json::from_str(answer).map_err(|_| {
        format!(
            "{name}: not a response: {}",
            answer.chars().take(300).collect::<String>()
        )
    })?;
    let header = |k: &str| {
        resp["headers"]
            .as_object()
            .and_then(|h| h.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)))
            .and_then(|(_, v)| v.as_str())
    };
    let mut problems = Vec::new();
    if exp.function == "reconcile" {
        // Not an HTTP answer: the run's counts.
        // It ran (not busy, not halted) and looked at the seeded connection:
        // a run with no time left (a deadline misread) checks nothing.
        if resp["busy"] != false
            || !resp["halted"].is_null()
            || resp["checked"].as_u64().is_none_or(|c| c < 1)
        {
            problems.push(format!("not a finished run that checked something: {resp}"));
        }
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{name}: {}", problems.join("; ")))
        };
    }
    if resp["statusCode"].as_u64() != Some(u64::from(exp.status)) {
        problems.push(format!("status {} != {}", resp["statusCode"], exp.status));
    }
    if let Some(location) = &exp.location {
        let want = location.replace(invoke::APP, app);
        if header("location") != Some(want.as_str()) {
            problems.push(format!("location {:?} != {want}", header("location")));
        }
    }
    if let Some(prefix) = &exp.location_prefix {
        let want = prefix.replace(invoke::APP, app);
        if !header("location").is_some_and(|l| l.starts_with(&want)) {
            problems.push(format!(
                "location {:?} does not start with {want}",
                header("location")
            ));
        }
    }
    if let Some(code) = &exp.error {
        let body: serde_json::Value =
            serde_json::from_str(resp["body"].as_str().unwrap_or("{}")).unwrap_or_default();
        if body["error"].as_str() != Some(code.as_str()) {
            problems.push(format!("body {}", resp["body"]));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}", problems.join("; ")))
    }
}

/// Where the running stack is.
pub struct Stack<'a> {
    pub table: &'a LocalTable,
    pub sim_url: &'a str,
    pub watch_port: u16,
    /// The demo app's URL, which the callback's redirects point at.
    pub app: &'a str,
    pub webhook_secret: &'a str,
    /// Where the prepared (re-pointed, signed) events are written.
    pub scratch: &'a Path,
}

/// Sends every event through `cargo lambda invoke` to `cargo lambda watch` and
/// checks each answer; returns (passed, failures).
pub async fn invoke_all(dir: &Path, stack: &Stack<'_>) -> Result<(usize, Vec<String>), Error> {
    std::fs::create_dir_all(stack.scratch)?;
    let mut passed = 0;
    let mut failures = Vec::new();
    for (name, exp) in expectations(dir)? {
        stack.table.seed(stack.sim_url, &exp.seed).await?;
        let raw = std::fs::read_to_string(dir.join(format!("{name}.json")))?
            .replace(invoke::APP, stack.app);
        let file = stack.scratch.join(format!("event-{name}.json"));
        std::fs::write(
            &file,
            prepare_event(&raw, exp.sign.as_deref(), stack.webhook_secret)?,
        )?;
        let out = Command::new("cargo")
            .args(["lambda", "invoke", &exp.function, "--invoke-port"])
            .arg(stack.watch_port.to_string())
            .arg("--data-file")
            .arg(&file)
            .output()?;
        let answer = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        match compare(&name, &exp, stack.app, answer.trim()) {
            Ok(()) => {
                passed += 1;
                println!("    ok   {name}");
            }
            Err(problem) => {
                println!("    FAIL {problem}");
                failures.push(problem);
            }
        }
    }
    Ok((passed, failures))
}

/// ELF `e_machine` for AArch64.
const EM_AARCH64: u16 = 0xB7;

/// Checks that `path` is an arm64 ELF executable no larger than `max_mib`;
/// returns its size in MiB.
/// The development identity switch's header name, as it would stand in a build
/// that has the switch.
const DEV_HEADER: &[u8] = b"x-user-id";

pub fn check_bootstrap(path: &Path, max_mib: f64) -> Result<f64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return Err(format!("{} is not an ELF file", path.display()));
    }
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if machine != EM_AARCH64 {
        return Err(format!(
            "{} is not arm64 (e_machine={machine:#x})",
            path.display()
        ));
    }
    // A deployed build never has the development identity switch (the
    // `dev-identity` feature): its header name would be in the binary.
    if bytes.windows(DEV_HEADER.len()).any(|w| w == DEV_HEADER) {
        return Err(format!(
            "{} has the development identity switch (built with the dev-identity feature)",
            path.display()
        ));
    }
    let mib = bytes.len() as f64 / 1_048_576.0;
    if mib > max_mib {
        return Err(format!(
            "{} is {mib:.2} MiB, over the {max_mib} MiB budget",
            path.display()
        ));
    }
    Ok(mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstraps_are_checked_for_architecture_and_size() {
        let dir = std::env::temp_dir().join(format!("link-dev-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let elf = |machine: u16, len: usize| {
            let mut b = vec![0u8; len.max(20)];
            b[..4].copy_from_slice(b"\x7fELF");
            b[18..20].copy_from_slice(&machine.to_le_bytes());
            b
        };
        let arm = dir.join("arm");
        std::fs::write(&arm, elf(EM_AARCH64, 2 * 1_048_576)).unwrap();
        assert!((check_bootstrap(&arm, 6.0).unwrap() - 2.0).abs() < 1e-9);
        assert!(check_bootstrap(&arm, 1.0).unwrap_err().contains("budget"));
        let x86 = dir.join("x86");
        std::fs::write(&x86, elf(0x3E, 100)).unwrap();
        assert!(check_bootstrap(&x86, 6.0)
            .unwrap_err()
            .contains("not arm64"));
        let mut dev = elf(EM_AARCH64, 1_000);
        dev[500..509].copy_from_slice(b"x-user-id");
        let dev_build = dir.join("dev");
        std::fs::write(&dev_build, dev).unwrap();
        assert!(check_bootstrap(&dev_build, 6.0)
            .unwrap_err()
            .contains("development identity switch"));
        let text = dir.join("text");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert!(check_bootstrap(&text, 6.0)
            .unwrap_err()
            .contains("not an ELF"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn answers_are_compared_with_their_expectation() {
        let exp = Expected {
            function: "callback".into(),
            status: 302,
            location: Some(format!(
                "{}/link/error?status=error&error_code=x",
                invoke::APP
            )),
            location_prefix: None,
            error: None,
            seed: Default::default(),
            sign: None,
        };
        let ok = r#"{"statusCode":302,"headers":{"Location":"http://localhost:1234/link/error?status=error&error_code=x"}}"#;
        assert!(compare("e", &exp, "http://localhost:1234", ok).is_ok());
        assert!(compare("e", &exp, invoke::APP, ok).is_err());
        assert!(compare("e", &exp, "http://localhost:1234", "boom").is_err());
    }
}
