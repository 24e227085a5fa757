//! Project automation for onair, run as `cargo xtask <command>`.
//!
//! Std only on purpose: xtask is compiled before it can do anything, so it must build in seconds
//! and must not depend on the crates that other people are editing.

mod bench;
mod checks;
mod cmd;
mod demo;
mod examples;
mod lockfile;
mod metadata;
mod tools;
mod widget;

use std::ffi::OsString;
use std::process::ExitCode;

/// Errors are messages for the person at the terminal; nothing here recovers from them.
type Result<T> = std::result::Result<T, String>;

const USAGE: &str = "\
Usage: cargo xtask <command> [args...]

Commands:
  test [--quick] [args...]  Run every check in order, stopping at the first failure:
                            toolchain setup, fmt, clippy, wasm32 check of onair-shared,
                            widget build, build of `onair`, tests (nextest if installed;
                            they include the end-to-end tests in headless Chromium),
                            doctests, a smoke run of `bench`, widget tests in headless
                            Chromium.
                            --quick skips fmt, clippy and the wasm32 check; other args go
                            to the test runner, e.g. `cargo xtask test -- api::status`.
  widget                    Build the widget into www/pkg/, where the server build embeds
                            it from (cargo, wasm-bindgen, wasm-opt -Oz of binaryen 132 and
                            terser, both from npm and installed if missing), and print the
                            sizes of its wasm and JS.
  demo [args...]            Build the widget and the server (debug), then run
                            `onair serve --demo [args...]`.
  measure [--loads N]       Build the widget and the release server, then measure in
                            headless Chromium what the widget costs a customer page:
                            bytes transferred and time to the first status (the README's
                            numbers; example `widget_metrics` of onair-tests).
  screenshots               Build the widget and the server, then take the README's
                            pictures into docs/screenshots/ (example `screenshots`).
  bench [args...]           Install nginx and nchan if missing, build release binaries and
                            run the stream engine against nchan: idle streams, memory per
                            stream, latency of changes (the README's table; bench
                            `versus_nchan` of onair-tests). Default: 10 000 and 18 500
                            streams, 10 changes, 3 alternating runs each.
  ci                        What .ci/run runs: the same as `test`.
  help                      Show this message.
";

/// Exit code for a command line we do not understand, as most CLI parsers use.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();

    let outcome = match command.as_ref().map(|command| command.to_str()) {
        None | Some(Some("help" | "-h" | "--help")) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        // `ci` is an alias so that CI and the README share one command.
        Some(Some("test" | "ci")) => checks::run(&rest).map(|()| ExitCode::SUCCESS),
        Some(Some("demo")) => demo::run(&rest),
        Some(Some("widget")) if rest.is_empty() => widget::run().map(|()| ExitCode::SUCCESS),
        Some(Some("bench")) => bench::run(&rest).map(|()| ExitCode::SUCCESS),
        Some(Some("measure")) => examples::measure(&rest).map(|()| ExitCode::SUCCESS),
        Some(Some("screenshots")) if rest.is_empty() => {
            examples::screenshots().map(|()| ExitCode::SUCCESS)
        }
        // Hidden: only the toolchain setup of `test`, handy on a fresh machine.
        Some(Some("setup")) if rest.is_empty() => {
            tools::ensure_tools(tools::Toolset::All).map(|()| ExitCode::SUCCESS)
        }
        _ => return usage_error(&command.unwrap_or_default(), &rest),
    };
    outcome.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

fn usage_error(command: &OsString, rest: &[OsString]) -> ExitCode {
    let command = command.to_string_lossy();
    if ["setup", "widget", "screenshots"].contains(&command.as_ref()) {
        eprintln!("error: `{command}` takes no arguments, got {rest:?}\n");
    } else {
        eprintln!("error: unknown command `{command}`\n");
    }
    eprint!("{USAGE}");
    ExitCode::from(USAGE_ERROR)
}
