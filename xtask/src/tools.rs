//! The tools `cargo xtask test` needs, each checked first and installed only when missing, so a
//! warm machine pays a few fast probes and a fresh one sets itself up.

use crate::{Result, cmd};

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Everything the checks need beyond a bare toolchain. To add a tool (wasm-pack, wasm-bindgen-cli
/// pinned to the version in Cargo.lock, Debian's chromium and chromium-driver through apt-get),
/// add an entry: a probe that proves it is there and the command that installs it.
const TOOLS: &[Tool] = &[
    Tool {
        name: "rust target wasm32-unknown-unknown",
        probe: Probe::Lists {
            command: Argv::new("rustup", &["target", "list", "--installed"]),
            line: WASM_TARGET,
        },
        install: Argv::new("rustup", &["target", "add", WASM_TARGET]),
    },
    Tool {
        name: "rustfmt",
        probe: Probe::Runs(Argv::new("cargo", &["fmt", "--version"])),
        install: Argv::new("rustup", &["component", "add", "rustfmt"]),
    },
    Tool {
        name: "clippy",
        probe: Probe::Runs(Argv::new("cargo", &["clippy", "--version"])),
        install: Argv::new("rustup", &["component", "add", "clippy"]),
    },
];

/// Installs whatever in [`TOOLS`] is missing and says nothing about what is already there.
pub(crate) fn ensure_tools() -> Result<()> {
    TOOLS.iter().try_for_each(ensure)
}

/// The tool names, for the progress line of the setup step.
pub(crate) fn names() -> Vec<&'static str> {
    TOOLS.iter().map(|tool| tool.name).collect()
}

#[derive(Debug)]
struct Tool {
    name: &'static str,
    probe: Probe,
    install: Argv,
}

/// How to tell that a tool is already installed.
#[derive(Debug)]
enum Probe {
    /// The command starts and exits successfully.
    Runs(Argv),
    /// The command prints `line` as one of its output lines.
    Lists { command: Argv, line: &'static str },
}

/// A command line in a constant table.
#[derive(Debug)]
struct Argv {
    program: &'static str,
    args: &'static [&'static str],
}

impl Argv {
    const fn new(program: &'static str, args: &'static [&'static str]) -> Self {
        Self { program, args }
    }

    fn command(&self) -> std::process::Command {
        cmd::program(self.program, self.args)
    }
}

fn ensure(tool: &Tool) -> Result<()> {
    if is_installed(&tool.probe)? {
        return Ok(());
    }
    println!("    {} is missing; installing it", tool.name);
    cmd::run(&mut tool.install.command())?;
    // Probe again so an install that "succeeded" without effect fails here, with the tool's name,
    // rather than as a confusing error in a later step.
    if is_installed(&tool.probe)? {
        return Ok(());
    }
    Err(format!(
        "{} is still missing after `{}`",
        tool.name,
        cmd::display(&tool.install.command())
    ))
}

fn is_installed(probe: &Probe) -> Result<bool> {
    match probe {
        Probe::Runs(command) => Ok(cmd::succeeds(&mut command.command())),
        // A listing that cannot run (no rustup, say) is an error, not "missing": installing would
        // need the same program and fail the same way.
        Probe::Lists { command, line } => {
            let listing = cmd::stdout(&mut command.command())?;
            Ok(listing.lines().any(|listed| listed.trim() == *line))
        }
    }
}
