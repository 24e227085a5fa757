//! `cargo xtask bench`: the stream engine against nginx + nchan, side by side (the README's
//! numbers; bench `versus_nchan` of onair-tests). Installs nginx and nchan when missing, builds
//! release binaries and runs the bench with a descriptor limit that holds 18 500 streams.

use std::ffi::OsString;
use std::process::Command;

use crate::tools::{self, Toolset};
use crate::{Result, cmd, examples, metadata};

/// What a bare `cargo xtask bench` measures.
const DEFAULT_ARGS: &[&str] = &["--streams", "10000,18500", "--changes", "10", "--runs", "3"];

/// Open files the bench and the servers it starts may have: 18 500 streams are 18 500
/// descriptors on each side.
const DESCRIPTORS: u32 = 65_536;

pub(crate) fn run(args: &[OsString]) -> Result<()> {
    println!("==> Checking the tools (nginx, nchan)");
    tools::ensure_tools(Toolset::Bench)?;
    cmd::run(&mut cmd::cargo(examples::BUILD_RELEASE_SERVER))?;
    let binary = metadata::binary_path("release", "onair")?;
    cmd::run(bench_command(args).env("ONAIR_RELEASE_BIN", binary))
}

/// `cargo bench -p onair-tests --bench versus_nchan -- ARGS` under `ulimit -n` (root may raise
/// it; otherwise the limit stays and the bench says how many streams opened).
fn bench_command(args: &[OsString]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -n {DESCRIPTORS} 2>/dev/null || echo \"    could not raise the open files limit; it stays $(ulimit -n)\"; exec \"$0\" \"$@\""
        ))
        .arg(cmd::cargo::<[&str; 0], &str>([]).get_program())
        .args(["bench", "-p", "onair-tests", "--bench", "versus_nchan", "--"])
        .current_dir(cmd::project_root());
    if args.is_empty() {
        command.args(DEFAULT_ARGS);
    } else {
        command.args(args);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_runs_under_a_raised_descriptor_limit_with_its_defaults() {
        let command = bench_command(&[]);
        let shown = cmd::display(&command);
        assert!(shown.starts_with("sh -c "), "{shown}");
        assert!(shown.contains("ulimit -n 65536"), "{shown}");
        assert!(
            shown.ends_with(
                "bench -p onair-tests --bench versus_nchan -- --streams 10000,18500 --changes 10 --runs 3"
            ),
            "{shown}"
        );
        let shown = cmd::display(&bench_command(&["--runs".into(), "1".into()]));
        assert!(
            shown.ends_with("--bench versus_nchan -- --runs 1"),
            "{shown}"
        );
    }
}
