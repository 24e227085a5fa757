//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.

use std::ffi::OsString;
use std::process::Command;
use std::time::Instant;

use crate::tools::{self, CHROMEDRIVER, Toolset, WASM_TARGET};
use crate::{Result, cmd, examples, metadata, widget};

/// Runs the checks; `args` are `test`'s own arguments.
pub(crate) fn run(args: &[OsString]) -> Result<()> {
    let options = Options::parse(args);
    let steps = plan(&options);
    let mut context = Context {
        runner_args: options.runner_args,
        env: Vec::new(),
    };

    let started = Instant::now();
    let total = steps.len();
    for (index, step) in steps.into_iter().enumerate() {
        let number = index + 1;
        println!("==> [{number}/{total}] {}", step.label);
        let step_started = Instant::now();
        let outcome = step.action.run(&mut context);
        let seconds = step_started.elapsed().as_secs_f64();
        if let Err(message) = outcome {
            return Err(format!(
                "step {number}/{total} ({}) failed after {seconds:.1}s: {message}",
                step.name
            ));
        }
        println!("    {} ok in {seconds:.1}s", step.name);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("==> all {total} steps passed in {seconds:.1}s");
    Ok(())
}

const FMT: &[&str] = &["fmt", "--all", "--check"];
const CLIPPY: &[&str] = &[
    "clippy",
    "--workspace",
    "--all-targets",
    "--",
    "-D",
    "warnings",
];
/// The widget compiles onair-shared to wasm: catch anything that only builds natively (threads,
/// files, the system clock) here rather than in the widget build.
const WASM_CHECK: &[&str] = &["check", "-p", "onair-shared", "--target", WASM_TARGET];
const DOCTESTS: &[&str] = &["test", "--workspace", "--doc"];
/// A small run of `cargo xtask bench` (onair and nchan, 300 streams, 3 changes) against the debug
/// server, built in the test profile: it proves the bench and its nchan peer still work, and that
/// no stream fails, misses or repeats a change. The figures of a run this small mean nothing.
const BENCH_SMOKE: &[&str] = &[
    "test",
    "-p",
    "onair-tests",
    "--bench",
    "versus_nchan",
    "--",
    "--streams",
    "300",
    "--changes",
    "3",
    "--runs",
    "1",
];
/// Debian's driver named explicitly: wasm-pack would otherwise look on PATH and, failing that,
/// download one, which an offline machine cannot and which might not match Debian's chromium.
const WIDGET_TESTS: &[&str] = &[
    "test",
    "--headless",
    "--chrome",
    "--chromedriver",
    CHROMEDRIVER,
    "widget",
    // The hooks the tests drive the chat box with (widget/Cargo.toml), not in the shipped build.
    "--features",
    "test-hooks",
];

#[derive(Debug)]
struct Options {
    /// Skip the static checks (fmt, clippy, wasm32) for a faster edit-test loop.
    quick: bool,
    /// Passed to the test runner, e.g. `-- api::status` to filter tests.
    runner_args: Vec<OsString>,
}

impl Options {
    fn parse(args: &[OsString]) -> Self {
        // `--quick` is ours only before `--`: after it, everything belongs to the test binaries.
        let separator = args
            .iter()
            .position(|arg| arg == "--")
            .unwrap_or(args.len());
        let (ours, theirs) = args.split_at(separator);
        let is_quick = |arg: &&OsString| *arg == "--quick";
        Self {
            quick: ours.iter().any(|arg| is_quick(&arg)),
            runner_args: ours
                .iter()
                .filter(|arg| !is_quick(arg))
                .chain(theirs)
                .cloned()
                .collect(),
        }
    }
}

/// State the steps share.
#[derive(Debug)]
struct Context {
    runner_args: Vec<OsString>,
    /// Variables set for every later command. Kept here rather than in our own environment,
    /// because `std::env::set_var` is unsafe and the workspace forbids unsafe code.
    env: Vec<(&'static str, OsString)>,
}

impl Context {
    fn prepare(&self, mut command: Command) -> Command {
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }
}

#[derive(Debug)]
struct Step {
    /// A short name for the result and failure lines.
    name: &'static str,
    /// What the progress line shows: the command itself where the step is one command.
    label: String,
    action: Action,
}

#[derive(Debug)]
enum Action {
    /// One command. The progress line already shows it, so it is not printed again.
    Run {
        program: &'static str,
        args: &'static [&'static str],
    },
    /// Anything more; it prints each command it spawns.
    Task(fn(&mut Context) -> Result<()>),
}

impl Step {
    fn cargo(name: &'static str, args: &'static [&'static str]) -> Self {
        Self::run(name, "cargo", args)
    }

    fn run(name: &'static str, program: &'static str, args: &'static [&'static str]) -> Self {
        Self {
            name,
            label: cmd::display(&cmd::program(program, args)),
            action: Action::Run { program, args },
        }
    }

    fn task(name: &'static str, label: String, run: fn(&mut Context) -> Result<()>) -> Self {
        Self {
            name,
            label,
            action: Action::Task(run),
        }
    }
}

impl Action {
    fn run(self, context: &mut Context) -> Result<()> {
        match self {
            Action::Run { program, args } => {
                cmd::run_announced(&mut context.prepare(cmd::program(program, args)))
            }
            Action::Task(task) => task(context),
        }
    }
}

fn plan(options: &Options) -> Vec<Step> {
    let setup_label = format!("setup: {}", tools::names(Toolset::All).join(", "));
    let mut steps = vec![Step::task("setup", setup_label, set_up)];
    if !options.quick {
        steps.push(Step::cargo("fmt", FMT));
        steps.push(Step::cargo("clippy", CLIPPY));
        steps.push(Step::cargo("wasm32 check", WASM_CHECK));
    }
    // Before the server: its build embeds the widget from www/pkg/.
    steps.push(Step::task(
        "widget build",
        widget::build_label(),
        build_widget,
    ));
    let build_label = cmd::display(&cmd::cargo(examples::BUILD_DEBUG_SERVER));
    steps.push(Step::task("build", build_label, build_server));
    steps.push(Step::task("tests", tests_label(options), run_tests));
    steps.push(Step::cargo("doctests", DOCTESTS));
    let bench_label = cmd::display(&cmd::cargo(BENCH_SMOKE));
    steps.push(Step::task("bench smoke", bench_label, run_bench_smoke));
    steps.push(Step::run("widget tests", "wasm-pack", WIDGET_TESTS));
    steps
}

/// Installs what is missing, and tells the accessibility checks where axe-core is and the API
/// fuzzing test where schemathesis is.
fn set_up(context: &mut Context) -> Result<()> {
    tools::ensure_tools(Toolset::All)?;
    let axe = tools::axe_core()?;
    println!("    ONAIR_AXE={}", axe.display());
    context.env.push(("ONAIR_AXE", axe.into_os_string()));
    let schemathesis = tools::schemathesis()?;
    println!("    ONAIR_SCHEMATHESIS={}", schemathesis.display());
    context
        .env
        .push(("ONAIR_SCHEMATHESIS", schemathesis.into_os_string()));
    Ok(())
}

/// The bench measures `ONAIR_RELEASE_BIN`; the smoke run gives it the debug build.
fn run_bench_smoke(context: &mut Context) -> Result<()> {
    let mut command = context.prepare(cmd::cargo(BENCH_SMOKE));
    if let Some((_, binary)) = context.env.iter().find(|(key, _)| *key == "ONAIR_BIN") {
        command.env("ONAIR_RELEASE_BIN", binary);
    }
    cmd::run_announced(&mut command)
}

fn build_widget(context: &mut Context) -> Result<()> {
    widget::build_with(|command| context.prepare(command))
}

/// Builds the `onair` binary once and hands its path to the end-to-end tests, which run it
/// rather than each building or finding their own.
fn build_server(context: &mut Context) -> Result<()> {
    cmd::run_announced(&mut context.prepare(cmd::cargo(examples::BUILD_DEBUG_SERVER)))?;
    let binary = metadata::binary_path("debug", "onair")?;
    println!("    ONAIR_BIN={}", binary.display());
    context.env.push(("ONAIR_BIN", binary.into_os_string()));
    Ok(())
}

/// nextest runs each test in its own process and reports better, but it is optional.
fn run_tests(context: &mut Context) -> Result<()> {
    let mut runner = if cmd::succeeds(&mut cmd::cargo(["nextest", "--version"])) {
        cmd::cargo(["nextest", "run", "--workspace", "--no-fail-fast"])
    } else {
        println!("    cargo-nextest is not installed; using cargo test");
        cmd::cargo(["test", "--workspace", "--no-fail-fast"])
    };
    runner.args(&context.runner_args);
    cmd::run(&mut context.prepare(runner))
}

fn tests_label(options: &Options) -> String {
    let mut label = String::from("cargo nextest run --workspace --no-fail-fast");
    for arg in &options.runner_args {
        label.push(' ');
        label.push_str(&arg.to_string_lossy());
    }
    label + " (cargo test if nextest is missing)"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Options::parse(&args)
    }

    #[test]
    fn quick_is_taken_out_and_the_rest_goes_to_the_runner() {
        let options = parse(&[
            "--quick",
            "-p",
            "onair-tests",
            "--",
            "api::status",
            "--quick",
        ]);
        assert!(options.quick);
        assert_eq!(
            options.runner_args,
            ["-p", "onair-tests", "--", "api::status", "--quick"]
        );
    }

    #[test]
    fn quick_after_the_separator_belongs_to_the_test_binaries() {
        let options = parse(&["--", "--quick"]);
        assert!(!options.quick);
    }

    #[test]
    fn quick_skips_the_static_checks_only() {
        let names = |options: &Options| plan(options).iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(&parse(&[])),
            [
                "setup",
                "fmt",
                "clippy",
                "wasm32 check",
                "widget build",
                "build",
                "tests",
                "doctests",
                "bench smoke",
                "widget tests"
            ]
        );
        assert_eq!(
            names(&parse(&["--quick"])),
            [
                "setup",
                "widget build",
                "build",
                "tests",
                "doctests",
                "bench smoke",
                "widget tests"
            ]
        );
    }

    #[test]
    fn progress_lines_show_the_commands() {
        let labels: Vec<String> = plan(&parse(&[])).into_iter().map(|s| s.label).collect();
        assert_eq!(
            labels[2],
            "cargo clippy --workspace --all-targets -- -D warnings"
        );
        assert!(labels[4].starts_with(
            "cargo build -p onair-widget --target wasm32-unknown-unknown --profile widget \
             --no-default-features, then wasm-bindgen --target no-modules "
        ));
        assert_eq!(labels[5], "cargo build -p onair-server --bin onair");
        assert_eq!(
            labels[8],
            "cargo test -p onair-tests --bench versus_nchan -- --streams 300 --changes 3 --runs 1"
        );
        assert_eq!(
            labels[9],
            "wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver widget \
             --features test-hooks"
        );
    }
}
