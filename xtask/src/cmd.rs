//! Spawning commands. Every command is printed before it runs, so a CI log shows exactly what to
//! paste into a terminal to reproduce a failure.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Result;

/// The workspace root, so every command behaves the same from whichever directory
/// `cargo xtask` was typed in.
///
/// Taken from the `CARGO_MANIFEST_DIR` that `cargo run` sets for this run, and only without it
/// from the one this binary was compiled with: two checkouts sharing a target directory (a CI
/// clone beside a working copy) build the same xtask binary, and cargo may run the other
/// checkout's, whose compiled-in path points there.
pub(crate) fn project_root() -> PathBuf {
    let xtask_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    xtask_dir
        .parent()
        .map_or_else(|| xtask_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command run from the workspace root.
pub(crate) fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(cargo_program());
    command.args(args).current_dir(project_root());
    command
}

/// `program` with `args`, run from the workspace root; `cargo` means the same cargo as [`cargo`].
pub(crate) fn program(program: &str, args: &[&str]) -> Command {
    if program == "cargo" {
        return cargo(args);
    }
    let mut command = Command::new(program);
    command.args(args).current_dir(project_root());
    command
}

/// Prints and runs `command`; an error unless it exits successfully.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    echo(command);
    run_announced(command)
}

/// Runs `command` without printing it, for when a progress line has just shown it.
pub(crate) fn run_announced(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .map_err(|error| spawn_error(command, &error))?;
    if status.success() {
        return Ok(());
    }
    Err(format!("`{}` failed: {status}", display(command)))
}

/// Prints and runs `command` with its output hidden: a probe for whether something is installed.
/// A command that cannot even start counts as "no".
pub(crate) fn succeeds(command: &mut Command) -> bool {
    echo(command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Prints and runs `command`, returning what it wrote to stdout. Its stderr stays on the terminal
/// so warnings and errors are not lost.
pub(crate) fn stdout(command: &mut Command) -> Result<String> {
    echo(command);
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| spawn_error(command, &error))?;
    if !output.status.success() {
        return Err(format!("`{}` failed: {}", display(command), output.status));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("`{}` printed something that is not UTF-8", display(command)))
}

pub(crate) fn echo(command: &Command) {
    println!("$ {}", display(command));
}

/// The command as a shell line: environment overrides, program, quoted arguments.
pub(crate) fn display(command: &Command) -> String {
    let env = command
        .get_envs()
        .filter_map(|(key, value)| Some(format!("{}={}", key.to_string_lossy(), quote(value?))));
    let program = std::iter::once(program_name(command.get_program()));
    let args = command.get_args().map(quote);
    env.chain(program).chain(args).collect::<Vec<_>>().join(" ")
}

/// Cargo sets `CARGO` for the programs it runs, pointing at the exact toolchain that built us;
/// using it keeps nested cargo calls on that toolchain.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `$CARGO` is a long toolchain path; `cargo` is what a person would type.
fn program_name(program: &OsStr) -> String {
    if program == cargo_program() {
        return "cargo".to_string();
    }
    quote(program)
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let is_plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !word.is_empty() && word.chars().all(is_plain) {
        return word.into_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn spawn_error(command: &Command, error: &std::io::Error) -> String {
    let hint = if error.kind() == std::io::ErrorKind::NotFound {
        " (is it installed and on PATH?)"
    } else {
        ""
    };
    format!("could not run `{}`: {error}{hint}", display(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_words_a_shell_would_split() {
        let mut command = Command::new("onair");
        command
            .args(["serve", "--demo", "--name", "Joe's shop", ""])
            .env("ONAIR_BIN", "/tmp/a b");
        assert_eq!(
            display(&command),
            r"ONAIR_BIN='/tmp/a b' onair serve --demo --name 'Joe'\''s shop' ''"
        );
    }

    #[test]
    fn display_shows_cargo_by_its_short_name() {
        let command = cargo(["fmt", "--all", "--check"]);
        assert_eq!(display(&command), "cargo fmt --all --check");
    }
}
