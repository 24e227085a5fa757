//! `cargo xtask measure` and `cargo xtask screenshots`: the onair-tests examples that drive
//! headless Chromium, run after building the widget and the server they need, so the numbers
//! and pictures in the README come from one command each.

use std::ffi::OsString;
use std::process::Command;

use crate::tools::{self, Toolset};
use crate::{Result, cmd, metadata, widget};

/// `cargo build` of the release server, which `bench` runs too.
pub(crate) const BUILD_RELEASE_SERVER: &[&str] =
    &["build", "--release", "-p", "onair-server", "--bin", "onair"];
/// `cargo build` of the debug server, which `demo` and `test` run too (one build for all three).
pub(crate) const BUILD_DEBUG_SERVER: &[&str] = &["build", "-p", "onair-server", "--bin", "onair"];

/// What the widget costs a page (bytes, time to the first status) against a release server;
/// `args` go to the example, e.g. `--loads 20`.
pub(crate) fn measure(args: &[OsString]) -> Result<()> {
    prepare()?;
    // The release build embeds whatever www/pkg/ holds, so it comes after the widget build.
    cmd::run(&mut cmd::cargo(BUILD_RELEASE_SERVER))?;
    let binary = metadata::binary_path("release", "onair")?;
    cmd::run(&mut example_command(
        "widget_metrics",
        ("ONAIR_RELEASE_BIN", binary.into_os_string()),
        args,
    ))
}

/// The README's pictures, into docs/screenshots/.
pub(crate) fn screenshots() -> Result<()> {
    prepare()?;
    cmd::run(&mut cmd::cargo(BUILD_DEBUG_SERVER))?;
    let binary = metadata::binary_path("debug", "onair")?;
    cmd::run(&mut example_command(
        "screenshots",
        ("ONAIR_BIN", binary.into_os_string()),
        &[],
    ))
}

/// Chromium and the widget build's tools, then the widget itself.
fn prepare() -> Result<()> {
    println!("==> Checking the tools (Chromium, chromedriver, the widget build's)");
    tools::ensure_tools(Toolset::All)?;
    println!("==> Building the widget into www/pkg/");
    widget::build()
}

/// `cargo run -p onair-tests --example NAME -- ARGS`, told which server binary to run.
fn example_command(name: &str, binary: (&str, OsString), args: &[OsString]) -> Command {
    let mut command = cmd::cargo(["run", "-p", "onair-tests", "--example", name]);
    if !args.is_empty() {
        command.arg("--").args(args);
    }
    command.env(binary.0, binary.1);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_run_through_cargo_with_the_server_they_were_given() {
        let command = example_command(
            "widget_metrics",
            ("ONAIR_RELEASE_BIN", "/t/release/onair".into()),
            &["--loads".into(), "3".into()],
        );
        assert_eq!(
            cmd::display(&command),
            "ONAIR_RELEASE_BIN=/t/release/onair cargo run -p onair-tests --example \
             widget_metrics -- --loads 3"
        );
        let command = example_command("screenshots", ("ONAIR_BIN", "/t/onair".into()), &[]);
        assert_eq!(
            cmd::display(&command),
            "ONAIR_BIN=/t/onair cargo run -p onair-tests --example screenshots"
        );
    }
}
