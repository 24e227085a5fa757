//! `cargo xtask widget`: the widget's wasm build in `www/pkg/`, which `server/build.rs` embeds
//! into the `onair` binary. Build it before the server, or the server answers `/widget/*` with 503.
//!
//! Four commands: cargo builds the crate for wasm32, wasm-bindgen makes the JavaScript glue
//! and the final wasm from it (what `wasm-pack build` runs, without wasm-pack, which the build does
//! not need: the widget tests do), binaryen's `wasm-opt -Oz` rewrites the wasm in place, and
//! terser minifies the loader (`www/widget.js`, as written, with its comments) with the glue put
//! into it ([`loader_with_glue`]) into `www/pkg/widget.js`, which the server serves: the page then
//! fetches one script, not a loader and a glue module. The `wasm-opt` and `terser` are the ones [`tools`]
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

/// The cargo build: the `widget` profile in the workspace Cargo.toml optimises for size, and
/// without the `std` feature the crate links no std (widget/Cargo.toml).
const COMPILE: &[&str] = &[
    "build",
    "-p",
    "onair-widget",
    "--target",
    tools::WASM_TARGET,
    "--profile",
    "widget",
    "--no-default-features",
];

/// What [`COMPILE`] makes, relative to the target directory.
const COMPILED: &str = "wasm32-unknown-unknown/widget/onair_widget.wasm";

/// wasm-bindgen's arguments before the input: glue that is a plain script (`let wasm_bindgen =
/// (function …)(…);`, which the loader takes in), no TypeScript declarations, and mangled names
/// left alone (the size wasm-pack's widget profile had).
const BINDGEN: &[&str] = &[
    "--target",
    "no-modules",
    "--no-typescript",
    "--no-demangle",
    "--out-dir",
    PKG,
];

/// Where the build lands, relative to the workspace root.
const PKG: &str = "www/pkg";

/// The files the server embeds, whose size we report.
const OUTPUTS: [&str; 6] = [
    LOADER,
    WASM,
    "strings.fr.json",
    "strings.de.json",
    "strings.it.json",
    "strings.es.json",
];

/// The wasm in [`PKG`], which `wasm-opt` rewrites.
const WASM: &str = "onair_widget_bg.wasm";

/// The glue wasm-bindgen writes into [`PKG`], which goes into the loader (and is then removed).
const GLUE: &str = "onair_widget.js";

/// Where the glue goes in [`LOADER_SOURCE`].
const GLUE_PLACEHOLDER: &str = "__ONAIR_GLUE__";

/// How `--target no-modules` glue starts: what is after it, up to the final `;`, is the glue as
/// an expression.
const GLUE_START: &str = "let wasm_bindgen = ";

/// The loader as written (`www/widget.js`, commented), relative to the workspace root.
const LOADER_SOURCE: &str = "www/widget.js";

/// The loader the server serves at `/widget.js`: [`LOADER_SOURCE`] with the glue, minified, in
/// [`PKG`].
const LOADER: &str = "widget.js";

/// terser's arguments after the input: a classic script (the script tag is not `type=module`)
/// whose names are all inside its function, so all may be mangled; compressed, for browsers that
/// run the wasm anyway. Its strings, the placeholders the server fills in (`__ONAIR_WASM__`…),
/// are left as they are.
const TERSER: &[&str] = &["--compress", "--mangle", "--ecma", "2020"];

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
    let root = cmd::project_root();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).map_err(|error| format!("{path}: {error}"))
    };
    let glue = rename_in_glue(&read(&format!("{PKG}/{GLUE}"))?, &renamed)?;
    let loader = loader_with_glue(&read(LOADER_SOURCE)?, &glue)?;
    std::fs::write(root.join(PKG).join(LOADER), loader)
        .map_err(|error| format!("{PKG}/{LOADER}: {error}"))?;
    std::fs::remove_file(root.join(PKG).join(GLUE))
        .map_err(|error| format!("{PKG}/{GLUE}: {error}"))?;
    cmd::run(&mut prepare(minify_command(&tools::terser()?)))?;
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

/// The loader `source` with `glue` (wasm-bindgen's `--target no-modules` output) in place of its
/// [`GLUE_PLACEHOLDER`], as the expression it assigns: the loader calls it to instantiate the wasm
/// and calls the wasm's exports on it (`glue.mount(…)`), and no global is defined.
pub(crate) fn loader_with_glue(source: &str, glue: &str) -> Result<String> {
    let expression = glue
        .trim()
        .strip_prefix(GLUE_START)
        .and_then(|rest| rest.strip_suffix(';'))
        .ok_or_else(|| format!("the glue does not start with `{GLUE_START}` and end with `;`"))?;
    if source.matches(GLUE_PLACEHOLDER).count() != 1 {
        return Err(format!("{LOADER_SOURCE} must have {GLUE_PLACEHOLDER} once"));
    }
    replace_word(source, GLUE_PLACEHOLDER, expression)
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

/// `terser` (the one [`tools`] installs) rewriting the loader in `www/pkg/` in place: the
/// commented one with wasm-bindgen's glue, readable and with its doc comments, in it. Minified
/// it is under half the bytes.
pub(crate) fn minify_command(terser: &Path) -> Command {
    let loader = format!("{PKG}/{LOADER}");
    let mut command = Command::new(terser);
    command
        .arg(&loader)
        .args(TERSER)
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
         then the glue into {LOADER_SOURCE} as {PKG}/{LOADER}, then terser {PKG}/{LOADER} {} -o \
         {PKG}/{LOADER}, then {}",
        cmd::display(&compile_command()),
        BINDGEN.join(" "),
        WASM_OPT.join(" "),
        TERSER.join(" "),
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
            "cargo build -p onair-widget --target wasm32-unknown-unknown --profile widget \
             --no-default-features"
        );
        assert_eq!(
            cmd::display(&bindgen_command(Path::new("/t"))),
            "wasm-bindgen --target no-modules --no-typescript --no-demangle --out-dir www/pkg \
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
             www/pkg/onair_widget_bg.wasm -o www/pkg/onair_widget_bg.wasm, then the glue"
        ));
    }

    #[test]
    fn terser_minifies_the_loader_with_the_glue_in_place_as_a_script() {
        let command = minify_command(Path::new("/t/terser/bin/terser"));
        assert_eq!(
            cmd::display(&command),
            "/t/terser/bin/terser www/pkg/widget.js --compress --mangle --ecma 2020 \
             -o www/pkg/widget.js"
        );
        assert!(build_label().ends_with(
            "then the glue into www/widget.js as www/pkg/widget.js, then terser www/pkg/widget.js \
             --compress --mangle --ecma 2020 -o www/pkg/widget.js, then cargo run -q -p \
             onair-widget --example strings -- www/pkg"
        ));
    }

    #[test]
    fn the_loader_takes_the_glue_in_as_an_expression() {
        let source = "(function () {\n  var glue = __ONAIR_GLUE__;\n  glue.mount();\n})();\n";
        let glue = "let wasm_bindgen = (function(exports) {\n    return exports;\n})({ __proto__: null });\n";
        assert_eq!(
            loader_with_glue(source, glue).unwrap(),
            "(function () {\n  var glue = (function(exports) {\n    return exports;\n})({ __proto__: null });\n  glue.mount();\n})();\n"
        );
        assert!(loader_with_glue(source, "export function mount() {}").is_err());
        assert!(loader_with_glue("(function () {})();", glue).is_err());
        let twice = "/* __ONAIR_GLUE__ */ var glue = __ONAIR_GLUE__;";
        assert!(loader_with_glue(twice, glue).is_err());
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
