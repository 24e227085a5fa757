//! Versions pinned in the workspace's Cargo.lock, for tools that must match a library exactly.

use crate::{Result, cmd};

/// The version of `package` in Cargo.lock, as `cargo pkgid` reads it (which refuses a name
/// that several locked versions share, rather than guess which one a tool should match).
pub(crate) fn locked_version(package: &str) -> Result<String> {
    let printed = cmd::stdout(&mut cmd::cargo(["pkgid", "--offline", package]))
        .map_err(|error| format!("`cargo pkgid {package}`: {error}"))?;
    version_of(printed.trim(), package)
}

/// The version in a package id spec: `…#name@1.2.3`, `…#name:1.2.3`, or `…/name#1.2.3`.
fn version_of(spec: &str, package: &str) -> Result<String> {
    let fragment = spec
        .rsplit_once('#')
        .map(|(_, fragment)| fragment)
        .ok_or_else(|| format!("`cargo pkgid {package}` printed `{spec}`, without a version"))?;
    let version = match fragment.split_once(['@', ':']) {
        Some((name, version)) if name == package => version,
        Some(_) => {
            return Err(format!(
                "`cargo pkgid {package}` named another package: `{spec}`"
            ));
        }
        None => fragment,
    };
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`cargo pkgid {package}` printed `{spec}`, without a version"
        ));
    }
    Ok(version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_each_spec_form() {
        for spec in [
            "registry+https://github.com/rust-lang/crates.io-index#wasm-bindgen@0.2.130",
            "registry+https://github.com/rust-lang/crates.io-index#wasm-bindgen:0.2.130",
            "https://github.com/rust-lang/crates.io-index/wasm-bindgen#0.2.130",
        ] {
            assert_eq!(
                version_of(spec, "wasm-bindgen").unwrap(),
                "0.2.130",
                "{spec}"
            );
        }
    }

    #[test]
    fn a_spec_without_a_version_or_of_another_package_is_an_error() {
        assert!(version_of("path+file:///w/widget", "onair-widget").is_err());
        assert!(version_of("registry+x#other@1.0.0", "wasm-bindgen").is_err());
    }

    #[test]
    fn the_workspace_lock_pins_the_widgets_wasm_bindgen() {
        let version = locked_version("wasm-bindgen").unwrap();
        assert!(version.starts_with("0.2."), "{version}");
        let lock = std::fs::read_to_string(cmd::project_root().join("Cargo.lock")).unwrap();
        assert!(
            lock.contains(&format!("name = \"wasm-bindgen\"\nversion = \"{version}\"")),
            "{version}"
        );
    }

    #[test]
    fn a_name_locked_in_two_versions_is_an_error_rather_than_a_guess() {
        // Cargo.lock holds two versions of `syn` today; should that change, any name listed
        // twice there will do.
        let error = locked_version("syn").unwrap_err();
        assert!(error.contains("cargo pkgid syn"), "{error}");
    }
}
