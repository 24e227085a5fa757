//! `cargo xtask widget`: the widget's wasm build in `www/pkg/`, which `server/build.rs` embeds
//! into the `onair` binary. Build it before the server, or the server answers `/widget/*` with 503.
//!
//! Two commands: `wasm-pack build` (cargo, then wasm-bindgen), then binaryen's `wasm-opt -Oz` on
//! the wasm it made, in place. wasm-pack's own wasm-opt step stays off (widget/Cargo.toml): it
//! would run whichever `wasm-opt` is on PATH, and Debian's corrupts wasm-bindgen's output.

use std::path::Path;
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
const OUTPUTS: [&str; 2] = [WASM, "onair_widget.js"];

/// The wasm in [`PKG`], which `wasm-opt` rewrites.
const WASM: &str = "onair_widget_bg.wasm";

/// `wasm-opt` arguments before the file names: optimise for size, and allow exactly the wasm
/// features rustc enables by default for wasm32-unknown-unknown (and so uses in its output;
/// wasm-bindgen's externref table needs reference types). Without these flags wasm-opt refuses
/// the input; with more (`--all-features`) it could emit instructions browsers lack.
const WASM_OPT: &[&str] = &[
    "-Oz",
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
];

/// Ensures the build tools, builds, and reports the sizes.
pub(crate) fn run() -> Result<()> {
    println!("==> Checking the tools the widget build needs");
    tools::ensure_tools(Toolset::WidgetBuild)?;
    println!("==> Building the widget into {PKG}/");
    build()
}

/// Builds the widget and prints the sizes of what it made.
pub(crate) fn build() -> Result<()> {
    build_with(|command| command)
}

/// [`build`] with each command passed through `prepare` (the checks add their environment).
pub(crate) fn build_with(prepare: impl Fn(Command) -> Command) -> Result<()> {
    cmd::run(&mut prepare(build_command()))?;
    cmd::run(&mut prepare(optimise_command(&tools::wasm_opt()?)))?;
    print_sizes()
}

pub(crate) fn build_command() -> Command {
    cmd::program("wasm-pack", BUILD)
}

/// `wasm-opt` (the one [`tools`] installs) rewriting the wasm in `www/pkg/` in place.
pub(crate) fn optimise_command(wasm_opt: &Path) -> Command {
    let wasm = format!("{PKG}/{WASM}");
    let mut command = Command::new(wasm_opt);
    command
        .args(WASM_OPT)
        .args([wasm.as_str(), "-o", wasm.as_str()])
        .current_dir(cmd::project_root());
    command
}

/// The two commands, for a progress line.
pub(crate) fn build_label() -> String {
    format!(
        "{}, then wasm-opt {} {PKG}/{WASM} -o {PKG}/{WASM}",
        cmd::display(&build_command()),
        WASM_OPT.join(" ")
    )
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

    #[test]
    fn wasm_opt_rewrites_the_wasm_in_place_for_size() {
        let command = optimise_command(Path::new("/t/binaryen/bin/wasm-opt"));
        assert_eq!(
            cmd::display(&command),
            "/t/binaryen/bin/wasm-opt -Oz --enable-bulk-memory --enable-multivalue \
             --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
             --enable-sign-ext www/pkg/onair_widget_bg.wasm -o www/pkg/onair_widget_bg.wasm"
        );
        assert!(build_label().ends_with(
            "--no-typescript, then wasm-opt -Oz --enable-bulk-memory --enable-multivalue \
             --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
             --enable-sign-ext www/pkg/onair_widget_bg.wasm -o www/pkg/onair_widget_bg.wasm"
        ));
    }
}
