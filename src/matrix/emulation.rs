//! How a cell binary of a given architecture gets executed on this host: natively, through a
//! binfmt_misc handler (the kernel hands the foreign ELF to QEMU by itself), or through
//! `qemu-<arch>-static` named explicitly, or not at all (then the cell is SKIP, with the reason).
//!
//! Nothing here decides what the cell *is*: a binary of the wrong architecture may well run
//! natively. The cell's own `wal_verify.json` says which architecture really ran, and the
//! matrix checks it against the request afterwards.

use std::path::{Path, PathBuf};

/// Where the kernel lists binfmt_misc handlers.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// How `matrix` reaches QEMU for a foreign architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmulationMode {
    /// binfmt_misc when a handler is registered and enabled, else qemu-<arch>-static.
    Auto,
    /// qemu-<arch>-static (or qemu-<arch>) named explicitly, whatever is registered.
    Explicit,
}

impl EmulationMode {
    /// The handler list [`plan`] consults: with explicit emulation an empty path, which has none.
    pub fn binfmt_dir(self) -> &'static Path {
        match self {
            EmulationMode::Auto => Path::new(BINFMT_DIR),
            EmulationMode::Explicit => Path::new(""),
        }
    }

    /// The option that asks for this mode again on a `matrix` command line (none for the
    /// default).
    pub fn rerun_option(self) -> &'static str {
        match self {
            EmulationMode::Auto => "",
            EmulationMode::Explicit => " --emulation explicit",
        }
    }
}

/// QEMU's name for a Debian architecture (`qemu-<name>-static`, binfmt handler `qemu-<name>`).
pub fn qemu_name(debian_arch: &str) -> &str {
    match debian_arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "armhf" | "armel" => "arm",
        "ppc64el" => "ppc64le",
        "loong64" => "loongarch64",
        "mips64el" => "mips64el",
        other => other,
    }
}

/// How one cell's binary is executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    /// The host's own architecture.
    Native,
    /// A registered, enabled binfmt_misc handler runs it; the binary is executed directly.
    Binfmt {
        handler: String,
        interpreter: PathBuf,
        /// The QEMU binary behind the interpreter (symlinks resolved), for its version.
        emulator: PathBuf,
    },
    /// No handler: run `qemu-<arch>-static <binary> …` and tell the cell through
    /// `PM_EXEC_WRAPPER` so that it can spawn itself the same way.
    Explicit { emulator: PathBuf },
    /// Cannot run here.
    Unavailable { reason: String },
}

impl Exec {
    pub fn emulated(&self) -> bool {
        matches!(self, Exec::Binfmt { .. } | Exec::Explicit { .. })
    }

    /// Short word for the table and matrix.json.
    pub fn kind(&self) -> &'static str {
        match self {
            Exec::Native => "native",
            Exec::Binfmt { .. } => "binfmt_misc",
            Exec::Explicit { .. } => "explicit",
            Exec::Unavailable { .. } => "unavailable",
        }
    }

    /// The emulator's program path, when there is one.
    pub fn emulator_path(&self) -> Option<&Path> {
        match self {
            Exec::Binfmt { emulator, .. } | Exec::Explicit { emulator } => Some(emulator),
            _ => None,
        }
    }

    /// The emulator and how it was reached, for the evidence.
    pub fn describe(&self) -> Option<String> {
        match self {
            Exec::Binfmt {
                handler,
                interpreter,
                emulator,
            } => Some(format!(
                "{} via binfmt_misc handler {handler} (interpreter {})",
                emulator.display(),
                interpreter.display()
            )),
            Exec::Explicit { emulator } => {
                Some(format!("{} invoked explicitly", emulator.display()))
            }
            _ => None,
        }
    }
}

/// A binfmt_misc handler as the kernel shows it in `<BINFMT_DIR>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub enabled: bool,
    pub interpreter: PathBuf,
    pub flags: String,
}

/// Parses a handler file ("enabled\ninterpreter /usr/…\nflags: OCF\noffset 0\nmagic …").
pub fn parse_handler(text: &str) -> Option<Handler> {
    let mut lines = text.lines();
    let enabled = match lines.next()?.trim() {
        "enabled" => true,
        "disabled" => false,
        _ => return None,
    };
    let mut interpreter = None;
    let mut flags = String::new();
    for l in lines {
        if let Some(p) = l.strip_prefix("interpreter ") {
            interpreter = Some(PathBuf::from(p.trim()));
        } else if let Some(f) = l.strip_prefix("flags:") {
            flags = f.trim().to_string();
        }
    }
    Some(Handler {
        enabled,
        interpreter: interpreter?,
        flags,
    })
}

/// Decides how to run a binary of `arch` on a host of `host_arch`. `binfmt_dir` and
/// `find_program` are the seams to the host (the kernel's handler list, a PATH lookup).
pub fn plan(
    arch: &str,
    host_arch: &str,
    binfmt_dir: &Path,
    find_program: &dyn Fn(&str) -> Option<PathBuf>,
) -> Exec {
    if arch == host_arch {
        return Exec::Native;
    }
    let q = qemu_name(arch);
    let handler_name = format!("qemu-{q}");
    let static_name = format!("qemu-{q}-static");
    let handler_file = binfmt_dir.join(&handler_name);
    let mut why_not_binfmt = match std::fs::read_to_string(&handler_file) {
        Ok(text) => match parse_handler(&text) {
            Some(h) if h.enabled => {
                // With the F flag the kernel holds the interpreter open; without it the file
                // must exist at exec time.
                if h.flags.contains('F') || h.interpreter.exists() {
                    let emulator = std::fs::canonicalize(&h.interpreter)
                        .ok()
                        .filter(|p| {
                            p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with("qemu-"))
                        })
                        .or_else(|| find_program(&static_name))
                        .unwrap_or_else(|| h.interpreter.clone());
                    return Exec::Binfmt {
                        handler: handler_name,
                        interpreter: h.interpreter,
                        emulator,
                    };
                }
                format!(
                    "binfmt_misc handler {handler_name} names {}, which does not exist",
                    h.interpreter.display()
                )
            }
            Some(_) => format!("binfmt_misc handler {handler_name} is disabled"),
            None => format!("{} is not a binfmt_misc handler", handler_file.display()),
        },
        Err(_) => format!("no binfmt_misc handler {handler_name} is registered"),
    };
    for name in [static_name.as_str(), &format!("qemu-{q}")] {
        if let Some(p) = find_program(name) {
            return Exec::Explicit { emulator: p };
        }
    }
    why_not_binfmt.push_str(&format!(
        " and neither {static_name} nor qemu-{q} is installed (scripts/install-matrix-deps.sh \
         installs qemu-user-static)"
    ));
    Exec::Unavailable {
        reason: why_not_binfmt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n\
        flags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n\
        mask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn fake_binfmt(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in entries {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn handler_file_is_parsed() {
        let h = parse_handler(AARCH64).unwrap();
        assert!(h.enabled);
        assert_eq!(
            h.interpreter,
            Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        assert_eq!(h.flags, "POCF");
        assert!(
            !parse_handler(&AARCH64.replace("enabled", "disabled"))
                .unwrap()
                .enabled
        );
        assert_eq!(parse_handler("garbage\n"), None);
    }

    #[test]
    fn host_arch_runs_natively_whatever_is_registered() {
        let d = fake_binfmt(&[]);
        assert_eq!(plan("amd64", "amd64", d.path(), &|_| None), Exec::Native);
    }

    #[test]
    fn enabled_handler_with_fix_binary_flag_is_used() {
        let d = fake_binfmt(&[("qemu-aarch64", AARCH64)]);
        let e = plan("arm64", "amd64", d.path(), &|n| {
            (n == "qemu-aarch64-static").then(|| PathBuf::from("/usr/bin/qemu-aarch64-static"))
        });
        assert!(matches!(e, Exec::Binfmt { ref handler, .. } if handler == "qemu-aarch64"));
        assert!(e.emulated());
    }

    #[test]
    fn disabled_handler_falls_back_to_explicit_qemu() {
        let d = fake_binfmt(&[("qemu-riscv64", &AARCH64.replace("enabled", "disabled"))]);
        let e = plan("riscv64", "amd64", d.path(), &|n| {
            (n == "qemu-riscv64-static").then(|| PathBuf::from("/opt/qemu-riscv64-static"))
        });
        assert_eq!(
            e,
            Exec::Explicit {
                emulator: PathBuf::from("/opt/qemu-riscv64-static")
            }
        );
    }

    #[test]
    fn no_handler_and_no_qemu_is_unavailable_with_the_reason() {
        let d = fake_binfmt(&[]);
        match plan("s390x", "amd64", d.path(), &|_| None) {
            Exec::Unavailable { reason } => {
                assert!(reason.contains("qemu-s390x"), "{reason}");
                assert!(reason.contains("qemu-s390x-static"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
