//! `cargo xtask widget`: the widget's wasm build in `www/pkg/`, which `server/build.rs` embeds
//! into the `onair` binary. Build it before the server, or the server answers `/widget/*` with 503.

use std::process::Command;

use crate::tools::{self, Toolset};
use crate::{Result, cmd};

/// `wasm-pack build` arguments. `--out-dir` is relative to the crate, so this is `www/pkg/`; the
/// `widget` profile in the workspace Cargo.toml optimises for size.
const BUILD: &[&str] = &[
    "build",
    "widget",
    "--target",
    "web",
    "--profile",
    "widget",
    "--out-dir",
    "../www/pkg",
    "--no-pack",
    "--no-typescript",
];

/// Where the build lands, relative to the workspace root.
const PKG: &str = "www/pkg";

/// The files the server embeds, whose size we report.
const OUTPUTS: [&str; 2] = ["onair_widget_bg.wasm", "onair_widget.js"];

/// Ensures the build tools, builds, and reports the sizes.
pub(crate) fn run() -> Result<()> {
    println!("==> Checking the tools the widget build needs");
    tools::ensure_tools(Toolset::WidgetBuild)?;
    println!("==> Building the widget into {PKG}/");
    build()
}

/// Builds the widget and prints the sizes of what it made.
pub(crate) fn build() -> Result<()> {
    cmd::run(&mut build_command())?;
    print_sizes()
}

pub(crate) fn build_command() -> Command {
    cmd::program("wasm-pack", BUILD)
}

/// Raw bytes, to notice a jump from one build to the next; the gzipped size that visitors download
/// is measured and kept in the README elsewhere. A missing file is an error even after a build
/// that succeeded: the server would silently be built without the widget.
pub(crate) fn print_sizes() -> Result<()> {
    let pkg = cmd::project_root().join(PKG);
    for file in OUTPUTS {
        let metadata = std::fs::metadata(pkg.join(file))
            .map_err(|error| format!("the widget build made no {PKG}/{file}: {error}"))?;
        println!("    {PKG}/{file:<22} {:>9} bytes", metadata.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_writes_where_the_server_embeds_from() {
        assert_eq!(
            cmd::display(&build_command()),
            "wasm-pack build widget --target web --profile widget --out-dir ../www/pkg \
             --no-pack --no-typescript"
        );
    }
}
