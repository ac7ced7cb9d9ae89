//! A guest ready to boot: its architecture, the cached kernel, the binary that becomes its
//! `/init`, and the initramfs made of them.
//!
//! Why apart from the run: a block replay may record with one architecture and check with
//! another (`--check-arch`: the states a big-endian writer left, recovered by a little-endian
//! reader), so "what a guest of this architecture needs, and whether this machine has it" is
//! asked once per guest. Every answer that is "no" is a sentence naming what installs it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::initramfs::{self, Contents};
use super::kernel::{self, GuestKernel};
use super::qemu;

/// One guest architecture, ready to boot.
pub struct Guest {
    pub arch: String,
    pub kernel: GuestKernel,
    /// The binary that becomes /init.
    pub bin: PathBuf,
}

/// Whether a program is on PATH.
pub fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

impl Guest {
    /// Checks that a guest of `arch` can boot here: qemu-system, the cached kernel, a binary.
    pub fn prepare(arch: &str, given_bin: Option<&Path>) -> Result<Guest> {
        let Some(q) = qemu::system_binary(arch) else {
            bail!("no block-replay guest for {arch} yet (amd64, arm64, s390x and riscv64 only)");
        };
        if !on_path(q) {
            bail!(
                "{q} is not installed (scripts/install-guest.sh {arch} installs {})",
                qemu::system_package(arch)
            );
        }
        let kernel = kernel::find(arch)?;
        let bin = binary(arch, given_bin)?;
        Ok(Guest {
            arch: arch.to_string(),
            kernel,
            bin,
        })
    }

    /// Writes its initramfs, with the modules that mounting `fs` needs.
    pub fn write_initrd(&self, path: &Path, fs: &str) -> Result<()> {
        let archive = initramfs::build(&Contents {
            arch: &self.arch,
            fs,
            modules_root: &self.kernel.modules,
            busybox: &self.kernel.busybox,
            init: &self.bin,
            init_is_native: self.arch == crate::platform::arch(),
        })?;
        std::fs::write(path, archive).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The binary for a guest of `arch`: given (or `PM_GUEST_BIN`), this one when it is of that
/// architecture, or the cross-built one.
fn binary(arch: &str, given: Option<&Path>) -> Result<PathBuf> {
    if let Some(b) = given.map(Path::to_path_buf) {
        anyhow::ensure!(
            b.is_file(),
            "the guest binary {} does not exist",
            b.display()
        );
        return Ok(b);
    }
    if arch == crate::platform::arch() {
        return std::env::current_exe().context("cannot find this binary");
    }
    let cross = PathBuf::from("target/cross")
        .join(arch)
        .join("portability-matrix");
    if cross.is_file() {
        return Ok(cross);
    }
    bail!(
        "no {arch} binary for the guest: build one with scripts/cross-build.sh {arch} (it is \
         looked for in target/cross/{arch}/) or pass --guest-bin"
    )
}
