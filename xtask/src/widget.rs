//! `cargo xtask widget`: the widget's wasm build in `www/pkg/`, which `server/build.rs` embeds
//! into the `onair` binary. Build it before the server, or the server answers `/widget/*` with 503.
//!
//! Four commands: cargo builds the crate for wasm32, wasm-bindgen makes the JavaScript glue
//! and the final wasm from it (what `wasm-pack build` runs, without wasm-pack, which the build does
//! not need: the widget tests do), binaryen's `wasm-opt -Oz` rewrites the wasm in place, and
//! terser minifies the glue in place and the loader (`www/widget.js`, as written, with its
//! comments) into `www/pkg/widget.js`, which the server serves. The `wasm-opt` and `terser` are the ones [`tools`]
//! installs, not whichever are on PATH: Debian's wasm-opt corrupts wasm-bindgen's output.
//!
//! Between the last two, the names the wasm and the glue know each other by are shortened: wasm-opt
//! renames every import and export (`__wbg_setAttribute_f75317b2b5cabfb4` becomes `a`) and prints
//! what it renamed, and [`rename_in_glue`] makes the same change in the glue. Those names were
//! written twice, once in each file, and their hashes do not compress (1.7 KB of brotli).

use std::path::Path;
use std::process::Command;

use crate::tools::{self, Toolset};
use crate::{Result, cmd, metadata};

/// The cargo build: the `widget` profile in the workspace Cargo.toml optimises for size.
const COMPILE: &[&str] = &[
    "build",
    "-p",
    "onair-widget",
    "--target",
    tools::WASM_TARGET,
    "--profile",
    "widget",
];

/// What [`COMPILE`] makes, relative to the target directory.
const COMPILED: &str = "wasm32-unknown-unknown/widget/onair_widget.wasm";

/// wasm-bindgen's arguments before the input: an ES module for browsers, no TypeScript
/// declarations, and mangled names left alone (the size wasm-pack's widget profile had).
const BINDGEN: &[&str] = &[
    "--target",
    "web",
    "--no-typescript",
    "--no-demangle",
    "--out-dir",
    PKG,
];

/// Where the build lands, relative to the workspace root.
const PKG: &str = "www/pkg";

/// The files the server embeds, whose size we report.
const OUTPUTS: [&str; 7] = [
    LOADER,
    WASM,
    GLUE,
    "strings.fr.json",
    "strings.de.json",
    "strings.it.json",
    "strings.es.json",
];

/// The wasm in [`PKG`], which `wasm-opt` rewrites.
const WASM: &str = "onair_widget_bg.wasm";

/// The glue in [`PKG`], which terser rewrites.
const GLUE: &str = "onair_widget.js";

/// The loader as written (`www/widget.js`, commented), relative to the workspace root.
const LOADER_SOURCE: &str = "www/widget.js";

/// The loader the server serves at `/widget.js`: [`LOADER_SOURCE`] minified, in [`PKG`].
const LOADER: &str = "widget.js";

/// terser's arguments for the loader, after the input: a classic script (the script tag is not
/// `type=module`), compressed and mangled inside its function; its strings, the placeholders the
/// server fills in (`__ONAIR_WASM__`…), are left as they are.
const TERSER_LOADER: &[&str] = &["--compress", "--mangle"];

/// terser's arguments after the input: an ES module (so top-level names may be mangled; the
/// exports keep theirs), compressed and mangled, for browsers that run the wasm anyway.
const TERSER: &[&str] = &["--module", "--compress", "--mangle", "--ecma", "2020"];

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
    // After `-Oz`: passes run in the order given. Prints the renaming as JSON on stdout.
    "--minify-imports-and-exports-and-modules",
];

/// The module wasm-bindgen's imports come from, as the glue names it, and what
/// `--minify-imports-and-exports-and-modules` renames every module to.
const IMPORT_MODULE: (&str, &str) = ("\"./onair_widget_bg.js\"", "\"a\"");

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
    cmd::run(&mut prepare(compile_command()))?;
    cmd::run(&mut prepare(bindgen_command(&metadata::target_dir()?)))?;
    let renamed = cmd::stdout(&mut prepare(optimise_command(&tools::wasm_opt()?)))?;
    let glue = cmd::project_root().join(PKG).join(GLUE);
    let text = std::fs::read_to_string(&glue).map_err(|error| format!("{PKG}/{GLUE}: {error}"))?;
    std::fs::write(&glue, rename_in_glue(&text, &renamed)?)
        .map_err(|error| format!("{PKG}/{GLUE}: {error}"))?;
    let terser = tools::terser()?;
    cmd::run(&mut prepare(minify_command(&terser)))?;
    cmd::run(&mut prepare(minify_loader_command(&terser)))?;
    cmd::run(&mut prepare(strings_command()))?;
    print_sizes()
}

pub(crate) fn compile_command() -> Command {
    cmd::cargo(COMPILE)
}

/// `wasm-bindgen` writing the glue and the wasm into `www/pkg/` from the build in `target_dir`.
pub(crate) fn bindgen_command(target_dir: &Path) -> Command {
    let mut command = cmd::program("wasm-bindgen", BINDGEN);
    command.arg(target_dir.join(COMPILED));
    command
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

/// The glue with the wasm's imports and exports renamed as `wasm-opt` reported (`renamed`, its
/// stdout: `{"imports": [[module, name, new name], …], "exports": [[name, new name], …]}`). In
/// wasm-bindgen's glue an import is a key of the object the wasm is instantiated with and an
/// export is read as `wasm.name`; a name that is not found there is an error, not a glue that
/// fails in the browser.
pub(crate) fn rename_in_glue(glue: &str, renamed: &str) -> Result<String> {
    let renamed: serde_json::Value = serde_json::from_str(renamed)
        .map_err(|error| format!("wasm-opt printed no renaming: {error}"))?;
    let pairs = |key: &str, from: usize, to: usize| -> Result<Vec<(String, String)>> {
        let list = renamed[key]
            .as_array()
            .ok_or_else(|| format!("wasm-opt's renaming has no {key}"))?;
        list.iter()
            .map(|pair| match (pair[from].as_str(), pair[to].as_str()) {
                (Some(old), Some(new)) => Ok((old.to_owned(), new.to_owned())),
                _ => Err(format!("wasm-opt's renaming: unexpected {pair}")),
            })
            .collect()
    };
    let mut glue = replace_word(glue, IMPORT_MODULE.0, IMPORT_MODULE.1)?;
    for (old, new) in pairs("imports", 1, 2)? {
        glue = replace_word(&glue, &old, &new)?;
    }
    for (old, new) in pairs("exports", 0, 1)? {
        // Exports the glue does not use (`__abort_handler`) are renamed in the wasm alone.
        if let Ok(renamed) = replace_word(&glue, &format!("wasm.{old}"), &format!("wasm.{new}")) {
            glue = renamed;
        }
    }
    Ok(glue)
}

/// `text` with every `old` that is a whole JavaScript name (not part of a longer one) replaced
/// by `new`; an error when there is none.
fn replace_word(text: &str, old: &str, new: &str) -> Result<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find(old) {
        let (head, tail) = (&rest[..at], &rest[at + old.len()..]);
        let before = head.chars().last().or_else(|| out.chars().last());
        let whole = !before.is_some_and(is_name) && !tail.chars().next().is_some_and(is_name);
        out.push_str(head);
        out.push_str(if whole { new } else { old });
        found |= whole;
        rest = tail;
    }
    out.push_str(rest);
    if found {
        Ok(out)
    } else {
        Err(format!("the glue has no `{old}` to rename"))
    }
}

/// `terser` (the one [`tools`] installs) rewriting the glue in `www/pkg/` in place: wasm-bindgen
/// writes it readable, doc comments included, and minified it is under half the bytes.
pub(crate) fn minify_command(terser: &Path) -> Command {
    let glue = format!("{PKG}/{GLUE}");
    let mut command = Command::new(terser);
    command
        .arg(&glue)
        .args(TERSER)
        .args(["-o", glue.as_str()])
        .current_dir(cmd::project_root());
    command
}

/// `terser` writing the loader the server serves (`www/pkg/widget.js`) from the commented one in
/// `www/widget.js`: 968 bytes of brotli as written, 576 minified.
pub(crate) fn minify_loader_command(terser: &Path) -> Command {
    let loader = format!("{PKG}/{LOADER}");
    let mut command = Command::new(terser);
    command
        .arg(LOADER_SOURCE)
        .args(TERSER_LOADER)
        .args(["-o", loader.as_str()])
        .current_dir(cmd::project_root());
    command
}

/// The files of the languages but English (`www/pkg/strings.{lang}.json`), which the wasm
/// leaves out: the loader fetches the visitor's, if not English, beside the wasm. Written by the
/// widget crate itself, natively, from the strings in `widget/src/i18n.rs`.
pub(crate) fn strings_command() -> Command {
    cmd::cargo([
        "run",
        "-q",
        "-p",
        "onair-widget",
        "--example",
        "strings",
        "--",
        PKG,
    ])
}

/// The four commands, for a progress line.
pub(crate) fn build_label() -> String {
    format!(
        "{}, then wasm-bindgen {} <target>/{COMPILED}, then wasm-opt {} {PKG}/{WASM} -o {PKG}/{WASM}, \
         then terser {PKG}/{GLUE} {} -o {PKG}/{GLUE}, then terser {LOADER_SOURCE} {} -o \
         {PKG}/{LOADER}, then {}",
        cmd::display(&compile_command()),
        BINDGEN.join(" "),
        WASM_OPT.join(" "),
        TERSER.join(" "),
        TERSER_LOADER.join(" "),
        cmd::display(&strings_command())
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
            cmd::display(&compile_command()),
            "cargo build -p onair-widget --target wasm32-unknown-unknown --profile widget"
        );
        assert_eq!(
            cmd::display(&bindgen_command(Path::new("/t"))),
            "wasm-bindgen --target web --no-typescript --no-demangle --out-dir www/pkg \
             /t/wasm32-unknown-unknown/widget/onair_widget.wasm"
        );
    }

    #[test]
    fn wasm_opt_rewrites_the_wasm_in_place_for_size() {
        let command = optimise_command(Path::new("/t/binaryen/bin/wasm-opt"));
        assert_eq!(
            cmd::display(&command),
            "/t/binaryen/bin/wasm-opt -Oz --enable-bulk-memory --enable-multivalue \
             --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
             --enable-sign-ext --minify-imports-and-exports-and-modules \
             www/pkg/onair_widget_bg.wasm -o www/pkg/onair_widget_bg.wasm"
        );
        assert!(build_label().contains(
            "<target>/wasm32-unknown-unknown/widget/onair_widget.wasm, then wasm-opt -Oz --enable-bulk-memory --enable-multivalue \
             --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
             --enable-sign-ext --minify-imports-and-exports-and-modules \
             www/pkg/onair_widget_bg.wasm -o www/pkg/onair_widget_bg.wasm, then terser"
        ));
    }

    #[test]
    fn terser_minifies_the_glue_in_place_as_a_module() {
        let command = minify_command(Path::new("/t/terser/bin/terser"));
        assert_eq!(
            cmd::display(&command),
            "/t/terser/bin/terser www/pkg/onair_widget.js --module --compress --mangle --ecma 2020 \
             -o www/pkg/onair_widget.js"
        );
        assert!(build_label().ends_with(
            "then terser www/pkg/onair_widget.js --module --compress --mangle --ecma 2020 -o \
             www/pkg/onair_widget.js, then terser www/widget.js --compress --mangle -o \
             www/pkg/widget.js, then cargo run -q -p onair-widget --example strings -- \
             www/pkg"
        ));
    }

    #[test]
    fn terser_writes_the_served_loader_from_the_commented_one() {
        let command = minify_loader_command(Path::new("/t/terser/bin/terser"));
        assert_eq!(
            cmd::display(&command),
            "/t/terser/bin/terser www/widget.js --compress --mangle -o www/pkg/widget.js"
        );
    }

    #[test]
    fn the_glue_learns_the_names_wasm_opt_gave() {
        let glue = r#"function g() {
    const import0 = {
        __wbg_set_a1: function(arg0) { arg0.x = 1; },
        __wbg_set_a1_b2: function(arg0) { return wasm.__wbindgen_malloc(arg0); },
    };
    return { "./onair_widget_bg.js": import0 };
}
export function mount() { wasm.mount(); wasm.mountain(); }"#;
        let renamed = r#"{"imports": [["./onair_widget_bg.js", "__wbg_set_a1", "a"],
            ["./onair_widget_bg.js", "__wbg_set_a1_b2", "b"]],
            "exports": [["mount", "c"], ["__wbindgen_malloc", "d"], ["__abort_handler", "e"]]}"#;
        assert_eq!(
            rename_in_glue(glue, renamed).unwrap(),
            r#"function g() {
    const import0 = {
        a: function(arg0) { arg0.x = 1; },
        b: function(arg0) { return wasm.d(arg0); },
    };
    return { "a": import0 };
}
export function mount() { wasm.c(); wasm.mountain(); }"#
        );
        let unknown =
            r#"{"imports": [["./onair_widget_bg.js", "__wbg_gone", "a"]], "exports": []}"#;
        assert!(rename_in_glue(glue, unknown).is_err());
        assert!(rename_in_glue(glue, "not json").is_err());
    }
}
