//! Where cargo puts its build output.

use std::path::PathBuf;

use crate::{Result, cmd};

/// The path of binary `name` built with `profile` (`debug` or `release`).
pub(crate) fn binary_path(profile: &str, name: &str) -> Result<PathBuf> {
    let file_name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    Ok(target_dir()?.join(profile).join(file_name))
}

/// Asks cargo rather than assuming `./target`: `cargo metadata` honours `CARGO_TARGET_DIR`,
/// `build.target-dir` in config files and anything else cargo knows about, and `.ci/run`
/// moves the target directory out of the checkout.
pub(crate) fn target_dir() -> Result<PathBuf> {
    let mut command = cmd::cargo(["metadata", "--format-version", "1", "--no-deps"]);
    let metadata = cmd::stdout(&mut command)?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)
        .map_err(|error| format!("`cargo metadata` printed no JSON: {error}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` names no target directory".to_owned())
}
