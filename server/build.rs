//! Embeds the widget's wasm build (`www/pkg/`, made by `cargo xtask widget`)
//! into the binary under content-hashed names, so a release binary serves it
//! with no files beside it. Without a build the server still compiles and
//! answers `/widget/*` with 503 `widget_not_built`.

use std::path::{Path, PathBuf};
use std::{env, fs};

const WASM: &str = "onair_widget_bg.wasm";
/// The loader with wasm-bindgen's glue in it, minified (`www/widget.js` is the commented source,
/// served without a build).
const LOADER: &str = "widget.js";
/// The languages whose words are files of their own (English is in the wasm).
const LANGS: [&str; 4] = ["fr", "de", "it", "es"];

fn strings_file(lang: &str) -> String {
    format!("strings.{lang}.json")
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let pkg = manifest.join("../www/pkg");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("widget_assets.rs");
    // A path that does not exist makes cargo run this again on every build;
    // without a widget build, watch `www/`, which changes when one appears.
    if pkg.is_dir() {
        println!("cargo:rerun-if-changed={}", pkg.display());
        let files = [LOADER.to_owned(), WASM.to_owned()]
            .into_iter()
            .chain(LANGS.map(strings_file));
        for file in files {
            println!("cargo:rerun-if-changed={}", pkg.join(file).display());
        }
    } else {
        println!(
            "cargo:rerun-if-changed={}",
            manifest.join("../www").display()
        );
    }

    let strings: Option<Vec<Vec<u8>>> = LANGS
        .iter()
        .map(|lang| fs::read(pkg.join(strings_file(lang))).ok())
        .collect();
    let loader = pkg.join(LOADER);
    let code = match (fs::read(&loader), fs::read(pkg.join(WASM)), strings) {
        (Ok(glue), Ok(wasm), Some(strings)) => {
            let mut parts: Vec<&[u8]> = vec![&glue, &wasm];
            parts.extend(strings.iter().map(Vec::as_slice));
            let hash = format!("{:016x}", fnv1a(&parts));
            let short = &hash[..12];
            let strings: Vec<String> = LANGS
                .iter()
                .map(|lang| {
                    format!(
                        "(\"{lang}\", include_bytes!({:?}))",
                        canonical(&pkg.join(strings_file(lang)))
                    )
                })
                .collect();
            format!(
                "pub(crate) const BUILT: bool = true;\n\
                 pub(crate) const WASM_NAME: &str = \"onair_widget_bg-{short}.wasm\";\n\
                 pub(crate) const STRINGS_STEM: &str = \"strings-{short}\";\n\
                 pub(crate) static LOADER: &str = include_str!({:?});\n\
                 pub(crate) static WASM: &[u8] = include_bytes!({:?});\n\
                 pub(crate) static STRINGS: [(&str, &[u8]); {}] = [{}];\n",
                canonical(&loader),
                canonical(&pkg.join(WASM)),
                LANGS.len(),
                strings.join(", "),
            )
        }
        _ => format!(
            "pub(crate) const BUILT: bool = false;\n\
              pub(crate) const WASM_NAME: &str = \"onair_widget_bg.wasm\";\n\
              pub(crate) const STRINGS_STEM: &str = \"strings\";\n\
              pub(crate) static LOADER: &str = include_str!({:?});\n\
              pub(crate) static WASM: &[u8] = &[];\n\
              pub(crate) static STRINGS: [(&str, &[u8]); 0] = [];\n",
            canonical(&manifest.join("../www/widget.js"))
        ),
    };
    fs::write(&out, code).expect("write widget_assets.rs");
}

fn canonical(path: &Path) -> String {
    fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// FNV-1a: enough to tell builds apart for cache busting; not security.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}
