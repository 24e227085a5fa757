//! Writes the files of the chat box's languages but English (which the wasm has) into the
//! directory given, `strings.{lang}.json` each: `cargo xtask widget` runs this into `www/pkg/`,
//! which the server embeds and the loader fetches from for a visitor of that language.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: cargo run -p onair-widget --example strings -- <directory>");
        std::process::exit(2);
    };
    for code in ["fr", "de", "it", "es"] {
        let json = onair_widget::strings_json(code).expect("a language of the chat box");
        let path = std::path::Path::new(&dir).join(format!("strings.{code}.json"));
        std::fs::write(&path, json).unwrap_or_else(|error| {
            eprintln!("{}: {error}", path.display());
            std::process::exit(1);
        });
    }
}

/// The files are written natively; there is nothing to do in a wasm build of the examples.
#[cfg(target_arch = "wasm32")]
fn main() {}
