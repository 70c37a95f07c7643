//! Rust functions: which tool compiles a crate for the function's architecture on this
//! machine, its command line, where the binary lands, and when a cargo target folder must
//! forget what another copy of the crate built there. Pure: [`crate::build::cargo`] probes the
//! machine (PATH, rustup) and runs what is decided here.
//!
//! The build always names its target triple, so the binary is for Lambda's instruction set
//! whatever this machine is, and always in release mode.
//!
//! (Over 500 lines with its tests: about 370 lines of rules, and a case for each tool and
//! target.)

use std::path::{Path, PathBuf};

use super::method::{Build, Command};

/// The glibc cargo-zigbuild links against: Amazon Linux 2's, the oldest of Lambda's
/// `provided` runtimes (AL2023 has 2.34), so the binary runs on either. Without it zig would
/// link against its newest glibc, whose symbol versions Lambda's cannot resolve.
pub const LAMBDA_GLIBC: &str = "2.26";

/// A glibc version, `(major, minor)`.
pub type GlibcVersion = (u32, u32);

/// The glibc of a Lambda runtime's operating system: `provided.al2023` has 2.34,
/// `provided.al2` 2.26. `None` for any other runtime (a binary there is not one
/// quickdeploy's Rust builds make for Lambda's OS-only runtimes).
pub fn runtime_glibc(runtime: &str) -> Option<GlibcVersion> {
    match runtime {
        "provided.al2023" => Some((2, 34)),
        "provided.al2" => Some((2, 26)),
        _ => None,
    }
}

/// The newest glibc an ELF binary needs: the highest of its `GLIBC_x.y` version
/// requirements (`.gnu.version_r`). `None` when it needs none (linked statically, or
/// against musl). An error when the bytes are not a 64-bit ELF file.
pub fn glibc_needed(elf: &[u8]) -> Result<Option<GlibcVersion>, String> {
    use object::read::elf::{FileHeader as _, SectionTable};
    type Header = object::elf::FileHeader64<object::Endianness>;
    let bad = |e: object::read::Error| format!("not a 64-bit ELF binary Lambda can run: {e}");
    let header = Header::parse(elf).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let sections: SectionTable<'_, Header> = header.sections(endian, elf).map_err(bad)?;
    let Some((mut needs, link)) = sections.gnu_verneed(endian, elf).map_err(bad)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, elf, link).map_err(bad)?;
    let mut newest = None;
    while let Some((_, mut versions)) = needs.next().map_err(bad)? {
        while let Some(v) = versions.next().map_err(bad)? {
            let name = v.name(endian, strings).map_err(bad)?;
            let version = std::str::from_utf8(name)
                .ok()
                .and_then(|n| n.strip_prefix("GLIBC_"))
                .and_then(|n| n.split_once('.'))
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
            newest = newest.max(version);
        }
    }
    Ok(newest)
}

/// Refuses a binary that needs a newer glibc than one of the functions' runtimes has: it
/// would deploy, then fail to start (`GLIBC_2.34' not found`) on every invocation. The error
/// names the runtime, both versions and the fixes.
pub fn check_glibc(needed: Option<GlibcVersion>, runtimes: &[String]) -> Result<(), String> {
    let Some(needed) = needed else {
        return Ok(());
    };
    let oldest = runtimes
        .iter()
        .filter_map(|r| Some((runtime_glibc(r)?, r)))
        .min();
    match oldest {
        Some((has, runtime)) if has < needed => Err(format!(
            "the built bootstrap needs glibc {}.{} and {runtime} has {}.{}: it would not start. Build with cargo-zigbuild (`pip install cargo-zigbuild ziglang`, then put that bin folder on PATH) or cargo-lambda (`pip install cargo-lambda`), which link against glibc {LAMBDA_GLIBC}; or build on a machine with glibc {}.{} or older; or move the function to provided.al2023 (glibc 2.34)",
            needed.0, needed.1, has.0, has.1, has.0, has.1
        )),
        _ => Ok(()),
    }
}

/// How a Rust function is compiled for its architecture on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RustTool {
    /// `cargo lambda build`, which cross-compiles (with zig) for either architecture and
    /// links against Amazon Linux's glibc; it writes `bootstrap` itself.
    CargoLambda,
    /// `cargo zigbuild --target <triple>.<glibc>`: zig links for either architecture against
    /// [`LAMBDA_GLIBC`].
    Zigbuild,
    /// Plain `cargo build --target <triple>`: the target's standard library from rustup and,
    /// for another architecture than this machine's, a cross linker (`linker`, passed as
    /// `CARGO_TARGET_<TRIPLE>_LINKER`; `None` when none is needed or the user set it).
    Cargo {
        /// The cross linker to pass, when quickdeploy found it.
        linker: Option<String>,
    },
}

/// What this machine has for building Rust, as [`crate::build::runner`] finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
    /// `cargo-lambda` is installed.
    pub cargo_lambda: bool,
    /// `cargo-zigbuild` is installed.
    pub zigbuild: bool,
    /// The targets `rustup target list --installed` names; `None` without rustup.
    pub targets: Option<Vec<String>>,
    /// The cross linkers found on PATH, of [`linker_candidates`].
    pub linkers: Vec<String>,
    /// `CARGO_TARGET_<TRIPLE>_LINKER` is set already (the user chose a linker).
    pub linker_set: bool,
}

/// Lambda's name for the machine's architecture (`x86_64`, `arm64`).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// The target triple of a Lambda architecture; an error for a name Lambda does not have.
pub fn triple(architecture: &str) -> Result<&'static str, String> {
    match architecture {
        "x86_64" => Ok("x86_64-unknown-linux-gnu"),
        "arm64" => Ok("aarch64-unknown-linux-gnu"),
        other => Err(format!(
            "Architectures names {other:?}: Lambda runs x86_64 or arm64"
        )),
    }
}

/// True when building for `architecture` is cross-compiling on this machine.
pub fn is_cross(architecture: &str) -> bool {
    architecture != host_architecture()
}

/// The cross linkers looked for on PATH for `triple` (Debian's and Ubuntu's names).
pub fn linker_candidates(triple: &str) -> &'static [&'static str] {
    match triple {
        "aarch64-unknown-linux-gnu" => &["aarch64-linux-gnu-gcc"],
        "x86_64-unknown-linux-gnu" => &["x86_64-linux-gnu-gcc"],
        _ => &[],
    }
}

/// The variable cargo reads a target's linker from: `CARGO_TARGET_<TRIPLE>_LINKER`.
pub fn linker_var(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace('-', "_")
    )
}

/// The tool for a build for `architecture`: cargo-lambda when installed, else
/// cargo-zigbuild, else plain cargo when it has what it needs (the target's standard
/// library and, cross-compiling, a linker); else an error naming exactly what is missing
/// and how to install it.
pub fn tool(architecture: &str, have: &Toolchain) -> Result<RustTool, String> {
    let triple = triple(architecture)?;
    if have.cargo_lambda {
        return Ok(RustTool::CargoLambda);
    }
    if have.zigbuild {
        return Ok(RustTool::Zigbuild);
    }
    if !is_cross(architecture) {
        // The host's own target is always there (rustup or not), and cc links for it.
        return Ok(RustTool::Cargo { linker: None });
    }
    let mut missing = Vec::new();
    match &have.targets {
        None => missing.push(format!(
            "rustup, to add the Rust target {triple} (https://rustup.rs)"
        )),
        Some(t) if !t.iter().any(|t| t == triple) => missing.push(format!(
            "the Rust target {triple} (`rustup target add {triple}`)"
        )),
        Some(_) => {}
    }
    let linker = have.linkers.first().cloned();
    if linker.is_none() && !have.linker_set {
        let gcc = linker_candidates(triple).first().copied().unwrap_or("a cc");
        missing.push(format!(
            "a linker for {triple}: {gcc} (Debian/Ubuntu: `apt-get install gcc-{}`), or set {} to one",
            gcc.trim_end_matches("-gcc").replace('_', "-"),
            linker_var(triple)
        ));
    }
    if missing.is_empty() {
        return Ok(RustTool::Cargo {
            linker: linker.filter(|_| !have.linker_set),
        });
    }
    Err(format!(
        "the function runs on {architecture} and this machine is {}: cross-compiling needs cargo-zigbuild with zig (`pip install cargo-zigbuild ziglang`, then put that bin folder on PATH), or cargo-lambda (`pip install cargo-lambda`), or plain cargo, which lacks {}",
        host_architecture(),
        missing.join(" and ")
    ))
}

/// The command that compiles `binary` of the crate in `build.source` for the build's
/// architecture, into `target_dir`. cargo-lambda leaves `bootstrap` in `work`; the others
/// leave the binary at [`binary_path`].
pub fn command(
    build: &Build,
    binary: &str,
    tool: &RustTool,
    target_dir: &Path,
    work: &Path,
) -> Result<Command, String> {
    let triple = triple(&build.architecture)?;
    let mut args: Vec<String> = match tool {
        RustTool::CargoLambda => vec!["lambda".into(), "build".into()],
        RustTool::Zigbuild => vec!["zigbuild".into()],
        RustTool::Cargo { .. } => vec!["build".into()],
    };
    args.extend([
        "--release".into(),
        "--bin".into(),
        binary.into(),
        "--target-dir".into(),
        target_dir.display().to_string(),
    ]);
    let mut env = Vec::new();
    match tool {
        RustTool::CargoLambda => args.extend([
            if build.architecture == "arm64" {
                "--arm64".into()
            } else {
                "--x86-64".into()
            },
            "--lambda-dir".into(),
            work.display().to_string(),
            "--flatten".into(),
            binary.into(),
        ]),
        RustTool::Zigbuild => {
            args.extend(["--target".into(), format!("{triple}.{LAMBDA_GLIBC}")]);
        }
        RustTool::Cargo { linker } => {
            args.extend(["--target".into(), triple.into()]);
            if let Some(l) = linker {
                env.push((linker_var(triple), l.clone()));
            }
        }
    }
    Ok(Command {
        program: "cargo".into(),
        args,
        cwd: build.source.clone(),
        env,
    })
}

/// Where `cargo build --release --target <triple>` (or zigbuild, which drops the glibc
/// suffix from the folder) puts `binary` in `target_dir`.
pub fn binary_path(target_dir: &Path, triple: &str, binary: &str) -> PathBuf {
    target_dir.join(triple).join("release").join(binary)
}

/// The crate's package name, from its `Cargo.toml` text; `None` for a virtual manifest.
pub fn package_name(cargo_toml: &str) -> Option<String> {
    let doc: toml::Table = toml::from_str(cargo_toml).ok()?;
    doc.get("package")?.get("name")?.as_str().map(str::to_owned)
}

/// The binary a Rust build packages: the one named (`BuildProperties.Binary`, or `binary`
/// in quickdeploy.toml), else the crate's package name; `None` when neither names one.
pub fn binary_name(named: Option<&str>, cargo_toml: &str) -> Option<String> {
    named
        .map(str::to_owned)
        .or_else(|| package_name(cargo_toml))
}

/// What quickdeploy last built into a target folder for one binary and triple, kept beside
/// it: cargo decides freshness by modification times and paths relative to the crate, so two
/// copies of a crate sharing a target folder (`CARGO_TARGET_DIR`) look alike to it, and an
/// older copy would be handed the binary a newer copy built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The hash of the crate's files that built the binary.
    pub stamp: String,
    /// The crate's folder.
    pub source: PathBuf,
    /// The binary's size and modification time (ns) right after that build: a build by
    /// anything else (plain cargo) moves them.
    pub binary: (u64, u64),
}

impl Marker {
    /// The marker as stored.
    pub fn to_text(&self) -> String {
        format!(
            "quickdeploy-rust-build/1\nstamp={}\nbinary={}:{}\nsource={}\n",
            self.stamp,
            self.binary.0,
            self.binary.1,
            self.source.display()
        )
    }

    /// A stored marker; `None` when it is not one (then nothing is known).
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != "quickdeploy-rust-build/1" {
            return None;
        }
        let (mut stamp, mut source, mut binary) = (None, None, None);
        for line in lines {
            match line.split_once('=')? {
                ("stamp", v) => stamp = Some(v.to_owned()),
                ("source", v) => source = Some(PathBuf::from(v)),
                ("binary", v) => {
                    let (len, ns) = v.split_once(':')?;
                    binary = Some((len.parse().ok()?, ns.parse().ok()?));
                }
                _ => {}
            }
        }
        Some(Self {
            stamp: stamp?,
            source: source?,
            binary: binary?,
        })
    }
}

/// True when the crate's own artifacts in the target folder must be removed before building
/// (`cargo clean -p`, its dependencies stay): when nothing says what built the binary there,
/// when something else built it since, or when another copy of the crate with other content
/// did. The same folder (cargo's own rules hold) or the same content keeps them.
pub fn must_forget(
    marker: Option<&Marker>,
    source: &Path,
    stamp: &str,
    binary: Option<(u64, u64)>,
) -> bool {
    match marker {
        None => true,
        Some(m) if binary != Some(m.binary) => true,
        Some(m) => m.source != source && m.stamp != stamp,
    }
}

/// The command that removes the crate's artifacts for `triple` (release) from
/// `target_dir`: `cargo clean -p <package>`; for a virtual manifest (no package to name),
/// that target's whole release folder.
pub fn clean_command(
    source: &Path,
    package: Option<&str>,
    triple: &str,
    target_dir: &Path,
) -> Command {
    let mut args = vec!["clean".to_owned()];
    if let Some(p) = package {
        args.extend(["-p".into(), p.into()]);
    }
    args.extend([
        "--release".into(),
        "--target".into(),
        triple.into(),
        "--target-dir".into(),
        target_dir.display().to_string(),
    ]);
    Command {
        program: "cargo".into(),
        args,
        cwd: source.to_owned(),
        env: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other() -> &'static str {
        if host_architecture() == "arm64" {
            "x86_64"
        } else {
            "arm64"
        }
    }

    #[test]
    fn a_binary_is_checked_against_the_oldest_runtime_glibc() {
        let al2023 = ["provided.al2023".to_owned()];
        let both = ["provided.al2023".to_owned(), "provided.al2".to_owned()];
        assert_eq!(check_glibc(None, &both), Ok(()));
        assert_eq!(check_glibc(Some((2, 34)), &al2023), Ok(()));
        assert_eq!(check_glibc(Some((2, 26)), &both), Ok(()));
        let err = check_glibc(Some((2, 34)), &both).expect_err("al2 has 2.26");
        assert!(
            err.contains("needs glibc 2.34 and provided.al2 has 2.26")
                && err.contains("cargo-zigbuild"),
            "{err}"
        );
        assert!(check_glibc(Some((2, 35)), &al2023).is_err());
        // Not an OS-only runtime: nothing to check against.
        assert_eq!(
            check_glibc(Some((2, 99)), &["python3.12".to_owned()]),
            Ok(())
        );
    }

    #[test]
    fn the_glibc_a_binary_needs_is_read_from_its_version_requirements() {
        // This test binary itself: dynamically linked against the host's glibc.
        let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        let needed = glibc_needed(&me).expect("an ELF file").expect("glibc");
        assert!(((2, 2)..(3, 0)).contains(&needed), "{needed:?}");
        assert!(glibc_needed(b"#!/bin/sh\necho not elf\n").is_err());
    }

    fn build(arch: &str) -> Build {
        Build {
            ids: vec!["Fn".into()],
            method: crate::build::method::Method::Rust {
                binary: Some("api".into()),
            },
            source: "/app/rs".into(),
            out: "/app/.quickdeploy/build/Fn".into(),
            target: "/app/.quickdeploy/build/Fn".into(),
            architecture: arch.into(),
            ignore: Vec::new(),
            runtimes: vec!["provided.al2023".into()],
        }
    }

    #[test]
    fn the_tool_is_cargo_lambda_then_zigbuild_then_plain_cargo() {
        let lambda = Toolchain {
            cargo_lambda: true,
            zigbuild: true,
            ..Toolchain::default()
        };
        assert_eq!(tool(other(), &lambda), Ok(RustTool::CargoLambda));
        let zig = Toolchain {
            zigbuild: true,
            ..Toolchain::default()
        };
        assert_eq!(tool(other(), &zig), Ok(RustTool::Zigbuild));
        assert_eq!(
            tool(host_architecture(), &Toolchain::default()),
            Ok(RustTool::Cargo { linker: None }),
            "this machine's architecture needs nothing more"
        );
        let t = triple(other()).expect("triple");
        let cross = Toolchain {
            targets: Some(vec![t.into()]),
            linkers: vec!["cross-gcc".into()],
            ..Toolchain::default()
        };
        assert_eq!(
            tool(other(), &cross),
            Ok(RustTool::Cargo {
                linker: Some("cross-gcc".into())
            })
        );
        let chosen = Toolchain {
            linker_set: true,
            ..cross
        };
        assert_eq!(
            tool(other(), &chosen),
            Ok(RustTool::Cargo { linker: None }),
            "the user's linker is cargo's to read"
        );
        assert!(tool("sparc", &lambda).is_err());
    }

    #[test]
    fn a_cross_build_without_tools_names_exactly_what_is_missing() {
        let t = triple(other()).expect("triple");
        let gcc = linker_candidates(t)[0];
        let nothing = tool(other(), &Toolchain::default()).expect_err("nothing");
        assert!(nothing.contains("cargo-zigbuild"), "{nothing}");
        assert!(nothing.contains("rustup"), "{nothing}");
        assert!(nothing.contains(gcc), "{nothing}");
        let no_target = tool(
            other(),
            &Toolchain {
                targets: Some(vec!["wasm32-unknown-unknown".into()]),
                linkers: vec![gcc.into()],
                ..Toolchain::default()
            },
        )
        .expect_err("no target");
        assert!(
            no_target.contains(&format!("`rustup target add {t}`")),
            "{no_target}"
        );
        assert!(
            !no_target.contains("apt-get"),
            "the linker is there: {no_target}"
        );
        let no_linker = tool(
            other(),
            &Toolchain {
                targets: Some(vec![t.into()]),
                ..Toolchain::default()
            },
        )
        .expect_err("no linker");
        assert!(no_linker.contains(&linker_var(t)), "{no_linker}");
        assert!(!no_linker.contains("rustup target add"), "{no_linker}");
        assert_eq!(
            linker_var("aarch64-unknown-linux-gnu"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"
        );
        let arm = tool(
            "arm64",
            &Toolchain {
                targets: Some(Vec::new()),
                ..Toolchain::default()
            },
        );
        if host_architecture() == "x86_64" {
            let why = arm.expect_err("no linker");
            assert!(
                why.contains("apt-get install gcc-aarch64-linux-gnu"),
                "{why}"
            );
        }
    }

    #[test]
    fn command_lines_name_the_target_triple() {
        let (t, w) = (Path::new("/c/t"), Path::new("/w"));
        let arm = build("arm64");
        let line = |b: &Build, tool: &RustTool| {
            command(b, "api", tool, t, w).expect("command").to_string()
        };
        assert_eq!(
            line(&arm, &RustTool::CargoLambda),
            "cargo lambda build --release --bin api --target-dir /c/t --arm64 --lambda-dir /w --flatten api"
        );
        assert_eq!(
            line(&arm, &RustTool::Zigbuild),
            "cargo zigbuild --release --bin api --target-dir /c/t --target aarch64-unknown-linux-gnu.2.26"
        );
        let x86 = build("x86_64");
        assert_eq!(
            line(&x86, &RustTool::Cargo { linker: None }),
            "cargo build --release --bin api --target-dir /c/t --target x86_64-unknown-linux-gnu"
        );
        let cross = command(
            &arm,
            "api",
            &RustTool::Cargo {
                linker: Some("aarch64-linux-gnu-gcc".into()),
            },
            t,
            w,
        )
        .expect("command");
        assert_eq!(
            cross.env,
            [(
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(),
                "aarch64-linux-gnu-gcc".into()
            )]
        );
        assert_eq!(cross.cwd, Path::new("/app/rs"));
        assert_eq!(
            binary_path(t, "aarch64-unknown-linux-gnu", "api"),
            Path::new("/c/t/aarch64-unknown-linux-gnu/release/api")
        );
        assert_eq!(
            clean_command(Path::new("/app/rs"), Some("api"), "x", t).to_string(),
            "cargo clean -p api --release --target x --target-dir /c/t"
        );
        assert!(command(&build("mips"), "api", &RustTool::Zigbuild, t, w).is_err());
    }

    #[test]
    fn the_binary_is_the_named_one_else_the_package() {
        assert_eq!(binary_name(Some("api"), "junk"), Some("api".into()));
        let toml = "[package]\nname = \"hello\"\nversion = \"0.1.0\"\n";
        assert_eq!(binary_name(None, toml), Some("hello".into()));
        assert_eq!(binary_name(None, "[workspace]\n"), None);
        assert_eq!(package_name("[workspace]\n"), None);
    }

    #[test]
    fn a_shared_target_folder_forgets_what_another_copy_built() {
        let m = Marker {
            stamp: "s1".into(),
            source: "/a/rs".into(),
            binary: (10, 99),
        };
        assert_eq!(Marker::parse(&m.to_text()), Some(m.clone()));
        assert_eq!(Marker::parse("junk"), None);
        let a = Path::new("/a/rs");
        let b = Path::new("/b/rs");
        let bin = Some((10, 99));
        assert!(
            !must_forget(Some(&m), a, "s2", bin),
            "same folder: cargo's rules"
        );
        assert!(!must_forget(Some(&m), b, "s1", bin), "same content");
        assert!(
            must_forget(Some(&m), b, "s2", bin),
            "another copy, other content"
        );
        assert!(
            must_forget(Some(&m), a, "s1", Some((10, 100))),
            "built by others since"
        );
        assert!(must_forget(Some(&m), a, "s1", None), "the binary went");
        assert!(must_forget(None, a, "s1", bin), "nothing known");
    }
}
