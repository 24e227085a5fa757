//! `cargo xtask demo`: the server, with the widget and demo data, in the foreground.
//!
//! The debug build, not the release one: on a fresh 2-core machine the release build (thin LTO,
//! every crate at opt-level 3) took over seven minutes, the debug build a fraction of that, and
//! a demo does not need the speed (password hashing and the widget's compression are optimised
//! in the debug profile too). `cargo xtask test` builds the same binary, so it reuses it.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use crate::{Result, cmd, examples, metadata, widget};

/// Builds the widget and the server and runs `onair serve --demo`, passing `args` on to it.
pub(crate) fn run(args: &[OsString]) -> Result<ExitCode> {
    // `cargo xtask demo -- --port 8080` is natural to type, but `onair` must not see the `--`.
    let args = match args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        _ => args,
    };
    // The widget first: the server build embeds whatever is in www/pkg/ at that moment.
    widget::run()?;
    println!("==> Building onair (the first build takes a few minutes)");
    cmd::run(&mut cmd::cargo(examples::BUILD_DEBUG_SERVER))?;
    let mut server = Command::new(metadata::binary_path("debug", "onair")?);
    server
        .args(["serve", "--demo"])
        .args(args)
        .current_dir(cmd::project_root());
    cmd::echo(&server);
    run_in_foreground(server)
}

/// Replaces this process with the server. `cargo run` already replaced itself with us, so the
/// server becomes the only process in the foreground: Ctrl-C reaches it alone, the prompt returns
/// only after its graceful shutdown, and its exit code is the command's exit code.
#[cfg(unix)]
fn run_in_foreground(mut server: Command) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;

    let error = server.exec();
    Err(format!(
        "could not run `{}`: {error}",
        cmd::display(&server)
    ))
}

/// Without `exec`, wait for the server and pass its exit code on.
#[cfg(not(unix))]
fn run_in_foreground(mut server: Command) -> Result<ExitCode> {
    let status = server
        .status()
        .map_err(|error| format!("could not run `{}`: {error}", cmd::display(&server)))?;
    // Exit codes outside 0..=255 cannot be forwarded exactly; report them as a plain failure.
    let code = status.code().and_then(|code| u8::try_from(code).ok());
    Ok(code.map_or(ExitCode::FAILURE, ExitCode::from))
}
