//! The tools the commands need, each checked first and installed only when missing, so a warm
//! machine pays a few fast probes and a fresh one sets itself up.

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, cmd, lockfile, metadata};

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian's chromedriver, which matches Debian's chromium. The widget's browser tests name it
/// explicitly so that wasm-pack never tries to download a driver of its own.
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// binaryen from npm, pinned: its `wasm-opt` shrinks the widget. Not Debian's binaryen (108), which
/// mis-writes the two tables wasm-bindgen 0.2.130 emits (widget/Cargo.toml).
const BINARYEN: NpmTool = NpmTool {
    package: "binaryen",
    version: "132.0.0",
    bin: "node_modules/binaryen/bin/wasm-opt",
};

/// terser from npm, pinned: it minifies the widget's JavaScript glue (wasm-bindgen writes it
/// readable, with the doc comments of the exported functions).
const TERSER: NpmTool = NpmTool {
    package: "terser",
    version: "5.51.4",
    bin: "node_modules/terser/bin/terser",
};

/// axe-core from npm, pinned: the accessibility checks of the browser tests run it in Chromium
/// (`tests/tests/accessibility.rs`), which find it through `ONAIR_AXE`.
const AXE_CORE: NpmTool = NpmTool {
    package: "axe-core",
    version: "4.14.1",
    bin: "node_modules/axe-core/axe.min.js",
};

/// schemathesis from PyPI, pinned, in a virtual environment of its own: the API fuzzing test
/// (`tests/tests/api_reference.rs`) runs it against the server's OpenAPI document and finds it
/// through `ONAIR_SCHEMATHESIS`.
const SCHEMATHESIS: PipTool = PipTool {
    package: "schemathesis",
    version: "4.32.5",
    bin: "bin/schemathesis",
};

/// Debian's nginx (from `nginx-light`), the load balancer of the cluster tests.
pub(crate) const NGINX: &str = "/usr/sbin/nginx";

/// Debian's nchan module for nginx, the peer of `cargo xtask bench`.
const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// Which commands need a tool: `demo` and `widget` install only what the widget build needs, so
/// trying the demo does not pull in a browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Toolset {
    /// What the widget build needs (`cargo xtask widget`, and so the demo).
    WidgetBuild,
    /// Everything `test` runs: the widget build plus lints and a headless browser.
    All,
    /// What `bench` needs besides the toolchain: nginx and its nchan module.
    Bench,
}

/// The tools of [`Toolset::Bench`].
const BENCH_TOOLS: &[&str] = &["nginx", "nchan"];

impl Toolset {
    fn includes(self, tool: &Tool) -> bool {
        match self {
            Toolset::All => true,
            Toolset::WidgetBuild => tool.needed_for == Toolset::WidgetBuild,
            Toolset::Bench => BENCH_TOOLS.contains(&tool.name),
        }
    }
}

/// Everything the commands need beyond a bare toolchain. To add a tool, add an entry: a probe
/// that proves it is there and how to install it.
const TOOLS: &[Tool] = &[
    Tool {
        name: "rust target wasm32-unknown-unknown",
        needed_for: Toolset::WidgetBuild,
        probe: Probe::Lists {
            command: Argv::new("rustup", &["target", "list", "--installed"]),
            line: WASM_TARGET,
        },
        install: Install::Run(Argv::new("rustup", &["target", "add", WASM_TARGET])),
    },
    Tool {
        name: "wasm-pack",
        // The widget tests run through it; the build calls wasm-bindgen itself.
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("wasm-pack", &["--version"])),
        install: Install::Crate {
            name: "wasm-pack",
            version_of: None,
        },
    },
    // The CLI must be exactly the library's version (it refuses others), and wasm-pack (for the
    // widget tests) would otherwise download one, which an offline machine cannot.
    Tool {
        name: "wasm-bindgen-cli",
        needed_for: Toolset::WidgetBuild,
        probe: Probe::PrintsLockedVersion {
            command: Argv::new("wasm-bindgen", &["--version"]),
            package: "wasm-bindgen",
        },
        install: Install::Crate {
            name: "wasm-bindgen-cli",
            version_of: Some("wasm-bindgen"),
        },
    },
    // npm's binaryen is wasm-opt compiled to JavaScript: it needs only node, and npm installs it
    // into the target directory (see `NpmTool::dir`), leaving any system binaryen alone.
    Tool {
        name: "binaryen (wasm-opt)",
        needed_for: Toolset::WidgetBuild,
        probe: Probe::Npm(BINARYEN),
        install: Install::Npm(BINARYEN),
    },
    Tool {
        name: "terser",
        needed_for: Toolset::WidgetBuild,
        probe: Probe::Npm(TERSER),
        install: Install::Npm(TERSER),
    },
    Tool {
        name: "axe-core",
        needed_for: Toolset::All,
        probe: Probe::Npm(AXE_CORE),
        install: Install::Npm(AXE_CORE),
    },
    Tool {
        name: "schemathesis",
        needed_for: Toolset::All,
        probe: Probe::Pip(SCHEMATHESIS),
        install: Install::Pip(SCHEMATHESIS),
    },
    Tool {
        name: "chromium",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("/usr/bin/chromium", &["--version"])),
        install: Install::Apt("chromium"),
    },
    Tool {
        name: "chromium-driver",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new(CHROMEDRIVER, &["--version"])),
        install: Install::Apt("chromium-driver"),
    },
    // The cluster tests put nginx in front of several nodes, and start a Redis of their own for
    // the nodes to share (never a system one: each test gets a fresh one on a free port).
    Tool {
        name: "nginx",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new(NGINX, &["-v"])),
        install: Install::Apt("nginx-light"),
    },
    // The stream engine's smoke run (and `bench`) measures against nginx with nchan.
    Tool {
        name: "nchan",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("test", &["-f", NCHAN_MODULE])),
        install: Install::Apt("libnginx-mod-nchan"),
    },
    Tool {
        name: "redis-server",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("redis-server", &["--version"])),
        install: Install::Apt("redis-server"),
    },
    Tool {
        name: "rustfmt",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("cargo", &["fmt", "--version"])),
        install: Install::Run(Argv::new("rustup", &["component", "add", "rustfmt"])),
    },
    Tool {
        name: "clippy",
        needed_for: Toolset::All,
        probe: Probe::Runs(Argv::new("cargo", &["clippy", "--version"])),
        install: Install::Run(Argv::new("rustup", &["component", "add", "clippy"])),
    },
];

/// Installs whatever in `set` is missing and says nothing about what is already there. Debian
/// packages go last, in one `apt-get update` and one `apt-get install`.
pub(crate) fn ensure_tools(set: Toolset) -> Result<()> {
    let mut missing_packages = Vec::new();
    for tool in TOOLS.iter().filter(|tool| set.includes(tool)) {
        let Some(problem) = problem(&tool.probe)? else {
            continue;
        };
        println!("    {} {problem}; installing it", tool.name);
        match tool.install {
            Install::Run(ref argv) => cmd::run(&mut argv.command())?,
            Install::Crate { name, version_of } => install_crate(name, version_of)?,
            Install::Npm(tool) => cmd::run(&mut tool.install_command()?)?,
            Install::Pip(tool) => tool.install()?,
            Install::Apt(package) => {
                missing_packages.push((tool, package));
                continue;
            }
        }
        probe_again(tool)?;
    }
    if missing_packages.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing_packages
        .iter()
        .map(|(_, package)| *package)
        .collect();
    for mut command in apt_commands(&packages, is_root()) {
        cmd::run(&mut command)?;
    }
    missing_packages
        .into_iter()
        .try_for_each(|(tool, _)| probe_again(tool))
}

/// The tool names of `set`, for a progress line.
pub(crate) fn names(set: Toolset) -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|tool| set.includes(tool))
        .map(|tool| tool.name)
        .collect()
}

#[derive(Debug)]
struct Tool {
    name: &'static str,
    /// The smallest set that includes this tool.
    needed_for: Toolset,
    probe: Probe,
    install: Install,
}

/// How to tell that a tool is already installed.
#[derive(Debug)]
enum Probe {
    /// The command starts and exits successfully.
    Runs(Argv),
    /// The command prints `line` as one of its output lines.
    Lists { command: Argv, line: &'static str },
    /// The command prints the version that Cargo.lock pins for `package` (read at run time, so
    /// the table stays constant).
    PrintsLockedVersion {
        command: Argv,
        package: &'static str,
    },
    /// The npm package is installed at its pinned version.
    Npm(NpmTool),
    /// The program of the PyPI package prints its pinned version.
    Pip(PipTool),
}

/// How to install a missing tool.
#[derive(Debug)]
enum Install {
    /// Run one command.
    Run(Argv),
    /// `cargo install` crate `name`; with `version_of`, exactly the version Cargo.lock pins for
    /// that package.
    Crate {
        name: &'static str,
        version_of: Option<&'static str>,
    },
    /// A Debian package, installed with the other missing ones in one batch.
    Apt(&'static str),
    /// `npm install` of the pinned version into [`NpmTool::dir`].
    Npm(NpmTool),
    /// A virtual environment in [`PipTool::dir`] with the pinned version installed.
    Pip(PipTool),
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

    fn command(&self) -> Command {
        cmd::program(self.program, self.args)
    }
}

/// Probes again so an install that "succeeded" without effect fails here, with the tool's name,
/// rather than as a confusing error in a later step.
fn probe_again(tool: &Tool) -> Result<()> {
    match problem(&tool.probe)? {
        None => Ok(()),
        Some(problem) => Err(format!("{} {problem} after installing it", tool.name)),
    }
}

/// What is wrong with the tool, as words to follow its name, or `None` if it is ready to use.
fn problem(probe: &Probe) -> Result<Option<String>> {
    let missing = Some("is missing".to_string());
    match probe {
        Probe::Runs(command) => {
            let runs = cmd::succeeds(&mut command.command());
            Ok(if runs { None } else { missing })
        }
        // A listing that cannot run (no rustup, say) is an error, not "missing": installing would
        // need the same program and fail the same way.
        Probe::Lists { command, line } => {
            let listing = cmd::stdout(&mut command.command())?;
            let listed = listing.lines().any(|listed| listed.trim() == *line);
            Ok(if listed { None } else { missing })
        }
        Probe::PrintsLockedVersion { command, package } => {
            let wanted = lockfile::locked_version(package)?;
            // Not starting at all means not installed, which installing fixes.
            let Ok(printed) = cmd::stdout(&mut command.command()) else {
                return Ok(missing);
            };
            // `wasm-bindgen 0.2.130`
            if printed.split_whitespace().nth(1) == Some(wanted.as_str()) {
                return Ok(None);
            }
            Ok(Some(format!(
                "prints `{}`, but Cargo.lock has {package} {wanted}",
                printed.trim()
            )))
        }
        Probe::Pip(tool) => {
            // `schemathesis, version 4.32.5`
            let Ok(printed) = cmd::stdout(Command::new(tool.program()?).arg("--version")) else {
                return Ok(missing);
            };
            if printed.trim().ends_with(&format!(" {}", tool.version)) {
                return Ok(None);
            }
            Ok(Some(format!(
                "prints `{}`, not {}",
                printed.trim(),
                tool.version
            )))
        }
        Probe::Npm(tool) => {
            // Not `--version`: axe-core is a script, not a program, and binaryen's prints its
            // major alone. The installed package's own manifest says which version it is.
            let manifest = tool
                .dir()?
                .join("node_modules")
                .join(tool.package)
                .join("package.json");
            let mut version = Command::new("node");
            version
                .args(["-p", "require(process.argv[1]).version"])
                .arg(manifest);
            let Ok(printed) = cmd::stdout(&mut version) else {
                return Ok(missing);
            };
            if printed.trim() == tool.version {
                return Ok(None);
            }
            Ok(Some(format!(
                "is {} {}, not {}",
                tool.package,
                printed.trim(),
                tool.version
            )))
        }
    }
}

/// A program or script from an npm package, pinned to one version and installed into the target
/// directory without a package.json of its own (nor a lockfile): the version is pinned here.
#[derive(Clone, Copy, Debug)]
struct NpmTool {
    package: &'static str,
    version: &'static str,
    /// The program or script, relative to [`NpmTool::dir`].
    bin: &'static str,
}

impl NpmTool {
    /// In the target directory, so that `cargo clean` removes it like any other build output,
    /// and a directory of its own per pinned version.
    fn dir(&self) -> Result<PathBuf> {
        Ok(metadata::target_dir()?.join(format!("{}-{}", self.package, self.version)))
    }

    fn program(&self) -> Result<PathBuf> {
        Ok(self.dir()?.join(self.bin))
    }

    fn install_command(&self) -> Result<Command> {
        Ok(self.install_into(&self.dir()?))
    }

    /// `npm install` of exactly the pinned version into `dir`.
    fn install_into(&self, dir: &std::path::Path) -> Command {
        let mut command = Command::new("npm");
        command
            .args(["install", "--prefix"])
            .arg(dir)
            .args(["--no-save", "--no-package-lock", "--no-audit", "--no-fund"])
            .arg(format!("{}@{}", self.package, self.version))
            .current_dir(cmd::project_root());
        command
    }
}

/// A Python program from PyPI at a pinned version, in a virtual environment of its own.
#[derive(Clone, Copy, Debug)]
struct PipTool {
    package: &'static str,
    version: &'static str,
    /// The program, relative to [`PipTool::dir`].
    bin: &'static str,
}

impl PipTool {
    /// In the target directory like the npm tools, a directory per pinned version.
    fn dir(&self) -> Result<PathBuf> {
        Ok(metadata::target_dir()?.join(format!("{}-{}", self.package, self.version)))
    }

    fn program(&self) -> Result<PathBuf> {
        Ok(self.dir()?.join(self.bin))
    }

    /// `python3 -m venv` and `pip install` of exactly the pinned version (with the versions of
    /// its dependencies that pip resolves today).
    fn install(&self) -> Result<()> {
        let dir = self.dir()?;
        cmd::run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&dir),
        )?;
        cmd::run(
            Command::new(dir.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("{}=={}", self.package, self.version)),
        )
    }
}

/// The schemathesis program the API fuzzing test runs.
pub(crate) fn schemathesis() -> Result<PathBuf> {
    SCHEMATHESIS.program()
}

/// The `wasm-opt` the widget build runs: npm's binaryen, never one on PATH.
pub(crate) fn wasm_opt() -> Result<PathBuf> {
    BINARYEN.program()
}

/// The `terser` the widget build runs.
pub(crate) fn terser() -> Result<PathBuf> {
    TERSER.program()
}

/// axe-core's script, for the accessibility checks.
pub(crate) fn axe_core() -> Result<PathBuf> {
    AXE_CORE.program()
}

fn install_crate(name: &str, version_of: Option<&str>) -> Result<()> {
    let version = version_of.map(lockfile::locked_version).transpose()?;
    if cmd::run(&mut cargo_install(name, version.as_deref(), true)).is_ok() {
        return Ok(());
    }
    // `--locked` uses the crate's own Cargo.lock, which may name a dependency version that the
    // registry this machine sees does not have yet (a mirror that lags behind crates.io, say).
    // Resolving afresh picks the newest compatible versions it does have.
    println!("    retrying without --locked");
    cmd::run(&mut cargo_install(name, version.as_deref(), false))
}

/// `cargo install name`: exactly `version` if given, replacing any other installed version, which
/// `cargo install` would otherwise keep. Built `--debug`: these tools process one small wasm
/// file, where their speed does not show, and an unoptimised build takes far less time.
fn cargo_install(name: &str, version: Option<&str>, locked: bool) -> Command {
    let mut command = cmd::cargo(["install", "--debug", name]);
    if let Some(version) = version {
        command.args(["--version", version]);
    }
    if locked {
        command.arg("--locked");
    }
    if version.is_some() {
        command.arg("--force");
    }
    command
}

/// `apt-get update` then `apt-get install` of `packages`, through `sudo` unless already root.
fn apt_commands(packages: &[&str], as_root: bool) -> [Command; 2] {
    let apt_get = |args: &[&str]| {
        let mut command;
        if as_root {
            command = Command::new("apt-get");
            command.env("DEBIAN_FRONTEND", "noninteractive");
        } else {
            // sudo resets the environment; a variable on its command line survives.
            command = Command::new("sudo");
            command.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        }
        command.args(args);
        command
    };
    let mut install = apt_get(&["install", "-y"]);
    install.args(packages);
    [apt_get(&["update"]), install]
}

fn is_root() -> bool {
    cmd::stdout(&mut cmd::program("id", &["-u"])).is_ok_and(|uid| uid.trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widget_build_needs_no_browser_or_lints() {
        assert_eq!(
            names(Toolset::WidgetBuild),
            [
                "rust target wasm32-unknown-unknown",
                "wasm-bindgen-cli",
                "binaryen (wasm-opt)",
                "terser",
            ]
        );
        let all = names(Toolset::All);
        assert_eq!(all.len(), TOOLS.len());
        for tool in [
            "wasm-pack",
            "axe-core",
            "chromium",
            "chromium-driver",
            "nginx",
            "redis-server",
            "rustfmt",
            "clippy",
        ] {
            assert!(all.contains(&tool), "{tool} missing from {all:?}");
        }
    }

    #[test]
    fn the_debian_packages_are_a_browser_a_load_balancer_nchan_and_redis() {
        let packages: Vec<&str> = TOOLS
            .iter()
            .filter_map(|tool| match tool.install {
                Install::Apt(package) => Some(package),
                _ => None,
            })
            .collect();
        assert_eq!(
            packages,
            [
                "chromium",
                "chromium-driver",
                "nginx-light",
                "libnginx-mod-nchan",
                "redis-server"
            ]
        );
        assert_eq!(names(Toolset::Bench), ["nginx", "nchan"]);
        assert!(
            TOOLS
                .iter()
                .filter(|tool| matches!(tool.install, Install::Apt(_)))
                .all(|tool| tool.needed_for == Toolset::All),
            "the widget build needs no Debian package"
        );
    }

    #[test]
    fn a_pinned_crate_replaces_whatever_version_is_installed() {
        let command = cargo_install("wasm-bindgen-cli", Some("0.2.130"), true);
        assert_eq!(
            cmd::display(&command),
            "cargo install --debug wasm-bindgen-cli --version 0.2.130 --locked --force"
        );
        let command = cargo_install("wasm-pack", None, true);
        assert_eq!(
            cmd::display(&command),
            "cargo install --debug wasm-pack --locked"
        );
    }

    #[test]
    fn binaryen_and_terser_come_from_npm_at_the_pinned_versions() {
        let command = BINARYEN.install_into(std::path::Path::new("/t/binaryen-132.0.0"));
        assert_eq!(
            cmd::display(&command),
            "npm install --prefix /t/binaryen-132.0.0 --no-save --no-package-lock --no-audit \
             --no-fund binaryen@132.0.0"
        );
        let command = AXE_CORE.install_into(std::path::Path::new("/t/axe-core-4.14.1"));
        assert!(cmd::display(&command).ends_with(" axe-core@4.14.1"));
    }

    #[test]
    fn apt_runs_directly_as_root_and_through_sudo_otherwise() {
        let lines = |as_root| {
            apt_commands(&["chromium", "chromium-driver"], as_root)
                .iter()
                .map(cmd::display)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines(true),
            [
                "DEBIAN_FRONTEND=noninteractive apt-get update",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver"
            ]
        );
        assert_eq!(
            lines(false),
            [
                "sudo DEBIAN_FRONTEND=noninteractive apt-get update",
                "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver"
            ]
        );
    }
}
