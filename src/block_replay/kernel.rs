//! The guest kernel of an architecture, as `scripts/install-guest.sh` left it in the cache:
//! where its files are, and the package, version and checksums the evidence records.
//!
//! Why a file written by the script and read here: the script is what the project runs on a
//! fresh machine and in CI to fetch the kernel (apt, dpkg); the binary never talks to a package
//! registry. It only finds what was fetched, and says which command fetches what is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// A cached guest kernel.
#[derive(Debug, Clone, Serialize)]
pub struct GuestKernel {
    /// The Debian package, such as linux-image-6.1.0-57-cloud-amd64.
    pub package: String,
    pub version: String,
    /// sha256 of the .deb as downloaded.
    pub deb_sha256: String,
    pub vmlinuz_sha256: String,
    pub release: String,
    pub busybox_version: String,
    #[serde(skip)]
    pub vmlinuz: PathBuf,
    #[serde(skip)]
    pub modules: PathBuf,
    #[serde(skip)]
    pub busybox: PathBuf,
}

/// The cache root: `${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix/guest`
/// (`PM_GUEST_CACHE` overrides, like the script's `GUEST_CACHE`).
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("PM_GUEST_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("portability-matrix").join("guest")
}

fn read_env(p: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// The cached kernel of `arch`, or why there is none (with the command that fetches it).
pub fn find(arch: &str) -> Result<GuestKernel> {
    let dir = cache_root().join(arch);
    let fetch = format!("scripts/install-guest.sh {arch}");
    let env = read_env(&dir.join("kernel.env")).with_context(|| {
        format!(
            "no guest kernel for {arch} in {} (run {fetch})",
            dir.display()
        )
    })?;
    let bb =
        read_env(&dir.join("busybox.env")).with_context(|| format!("no busybox (run {fetch})"))?;
    let get = |m: &BTreeMap<String, String>, k: &str| {
        m.get(k)
            .cloned()
            .with_context(|| format!("{} names no {k}; run {fetch} again", dir.display()))
    };
    let k = GuestKernel {
        package: get(&env, "KERNEL_PACKAGE")?,
        version: get(&env, "KERNEL_VERSION")?,
        deb_sha256: get(&env, "KERNEL_DEB_SHA256")?,
        vmlinuz_sha256: get(&env, "KERNEL_VMLINUZ_SHA256")?,
        release: get(&env, "KERNEL_RELEASE")?,
        busybox_version: get(&bb, "BUSYBOX_VERSION")?,
        vmlinuz: dir.join(get(&env, "KERNEL_VMLINUZ")?),
        modules: dir.join(get(&env, "KERNEL_MODULES")?),
        busybox: dir.join("busybox"),
    };
    for p in [&k.vmlinuz, &k.modules, &k.busybox] {
        anyhow::ensure!(p.exists(), "{} is missing; run {fetch} again", p.display());
    }
    Ok(k)
}
