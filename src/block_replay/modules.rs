//! Which kernel modules a guest loads, in which order, and their bytes.
//!
//! Why apart from the archive: the guest has no modprobe and no `modules.dep`, so the order is
//! decided here. A fixed set every guest loads (virtio, the disk, loop, ext4 and xfs with their
//! helpers) is listed by hand, each after what it needs; a filesystem outside it (btrfs) comes
//! with the modules its own `.modinfo` says it depends on, resolved from the kernel package,
//! and only in a guest that mounts it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The modules a guest loads, in this order (each after what it depends on), as paths under
/// `lib/modules/<release>/kernel/`. What a kernel builds in (its `modules.builtin`) is left out:
/// Debian 12's cloud kernels build ext4 in and virtio as modules, Debian 13's s390x kernel the
/// reverse. A module may come compressed (`.ko.xz`, Debian 13); it is put in uncompressed.
pub fn fixed(arch: &str) -> Vec<&'static str> {
    let mut m = vec![
        "drivers/virtio/virtio_ring.ko",
        "drivers/virtio/virtio.ko",
        "drivers/virtio/virtio_pci_modern_dev.ko",
        "drivers/virtio/virtio_pci_legacy_dev.ko",
        "drivers/virtio/virtio_pci.ko",
    ];
    if arch == "arm64" {
        m.push("drivers/virtio/virtio_mmio.ko");
    }
    m.extend([
        "drivers/block/virtio_blk.ko",
        "drivers/block/loop.ko",
        "crypto/crc32c_generic.ko",
        "lib/crc16.ko",
        "fs/mbcache.ko",
        "fs/jbd2/jbd2.ko",
        "fs/ext4/ext4.ko",
        "lib/libcrc32c.ko",
        "fs/xfs/xfs.ko",
    ]);
    m
}

/// The module of a filesystem outside the [`fixed`] set, which goes in with its
/// dependencies only when that filesystem is asked for (btrfs pulls in raid6_pq, whose
/// algorithm benchmark at load costs every other guest's boot time).
pub fn fs_module(fs: &str) -> Option<&'static str> {
    match fs {
        "btrfs" => Some("fs/btrfs/btrfs.ko"),
        _ => None,
    }
}

/// `m` and every module it needs, dependencies first, as paths under `kernel/`; modules the
/// kernel builds in are left out.
///
/// Why read from the modules themselves: the kernel package carries no `modules.dep` (depmod
/// writes it when the package is installed, and it is never installed here). Each module names
/// the modules it needs in its `.modinfo` section (`depends=zstd_compress,raid6_pq,xor,...`),
/// which is what depmod reads too; a name is found as `<name>.ko` or `<name>.ko.xz` under
/// `kernel/`, `-` and `_` alike.
pub fn with_dependencies(root: &Path, builtin: &str, m: &str) -> Result<Vec<String>> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    index_modules(&root.join("kernel"), "", &mut by_name)?;
    let mut out = Vec::new();
    let mut path = vec![m.to_string()];
    resolve(root, builtin, &by_name, m, &mut out, &mut path)?;
    Ok(out)
}

fn module_name(file: &str) -> Option<String> {
    let stem = file
        .strip_suffix(".ko.xz")
        .or_else(|| file.strip_suffix(".ko"))?;
    Some(stem.replace('-', "_"))
}

/// Every module file under `dir`, by module name, as its path under `kernel/` without `.xz`.
fn index_modules(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in entries {
        let e = e?;
        let file = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            file.clone()
        } else {
            format!("{rel}/{file}")
        };
        if e.file_type()?.is_dir() {
            index_modules(&e.path(), &r, out)?;
        } else if let Some(name) = module_name(&file) {
            out.insert(name, r.trim_end_matches(".xz").to_string());
        }
    }
    Ok(())
}

fn resolve(
    root: &Path,
    builtin: &str,
    by_name: &BTreeMap<String, String>,
    m: &str,
    out: &mut Vec<String>,
    chain: &mut Vec<String>,
) -> Result<()> {
    if out.iter().any(|x| x == m) {
        return Ok(());
    }
    let Some(bytes) = module_bytes(root, builtin, m)? else {
        return Ok(());
    };
    for dep in depends(&bytes) {
        let name = dep.replace('-', "_");
        let built_in = || {
            builtin
                .lines()
                .filter_map(|l| module_name(l.trim().rsplit('/').next()?))
                .any(|b| b == name)
        };
        let Some(path) = by_name.get(&name) else {
            if built_in() {
                continue;
            }
            bail!(
                "{m} depends on {dep}, which the kernel package has neither as a module nor \
                 built in"
            );
        };
        anyhow::ensure!(
            !chain.contains(path),
            "modules depend on each other in a loop: {} -> {path}",
            chain.join(" -> ")
        );
        chain.push(path.clone());
        resolve(root, builtin, by_name, path, out, chain)?;
        chain.pop();
    }
    out.push(m.to_string());
    Ok(())
}

/// The names a module's `.modinfo` lists as `depends=`, which are NUL-terminated `key=value`
/// strings; none when it has no such entry.
pub fn depends(ko: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(at) = ko.windows(KEY.len()).position(|w| w == KEY) else {
        return Vec::new();
    };
    let value = &ko[at + KEY.len()..];
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end])
        .split(',')
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect()
}

/// A module's bytes, uncompressed; `None` when the kernel builds it in.
fn module_bytes(root: &Path, builtin: &str, m: &str) -> Result<Option<Vec<u8>>> {
    let plain = root.join("kernel").join(m);
    if plain.is_file() {
        return std::fs::read(&plain)
            .map(Some)
            .with_context(|| format!("cannot read {}", plain.display()));
    }
    let xz = root.join("kernel").join(format!("{m}.xz"));
    if xz.is_file() {
        let out = Command::new("xz")
            .arg("-dc")
            .arg(&xz)
            .output()
            .with_context(|| format!("cannot run xz to decompress {}", xz.display()))?;
        anyhow::ensure!(out.status.success(), "xz -dc {} failed", xz.display());
        return Ok(Some(out.stdout));
    }
    let key = format!("kernel/{m}");
    if builtin.lines().any(|l| l.trim() == key) {
        return Ok(None);
    }
    bail!(
        "the kernel has no module {m} (neither {} nor .xz) and does not build it in",
        plain.display()
    )
}

/// The modules a guest of `arch` that mounts `fs` loads, in load order, as (file name,
/// uncompressed bytes); what the kernel builds in is left out.
pub fn for_guest(root: &Path, arch: &str, fs: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let builtin = std::fs::read_to_string(root.join("modules.builtin")).unwrap_or_default();
    let mut wanted: Vec<String> = fixed(arch).into_iter().map(String::from).collect();
    if let Some(m) = fs_module(fs) {
        for d in with_dependencies(root, &builtin, m)? {
            if !wanted.contains(&d) {
                wanted.push(d);
            }
        }
    }
    let mut out = Vec::new();
    for m in &wanted {
        let Some(bytes) = module_bytes(root, &builtin, m)? else {
            continue;
        };
        let name = m.rsplit('/').next().unwrap_or(m).to_string();
        out.push((name, bytes));
    }
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    #[test]
    fn the_modules_come_in_dependency_order_with_mmio_on_arm64_only() {
        let amd = fixed("amd64");
        let pos = |m: &[&str], s: &str| m.iter().position(|x| x.ends_with(s)).unwrap();
        assert!(pos(&amd, "/virtio_ring.ko") < pos(&amd, "/virtio.ko"));
        assert!(pos(&amd, "/virtio_pci.ko") < pos(&amd, "/virtio_blk.ko"));
        assert!(pos(&amd, "/libcrc32c.ko") < pos(&amd, "/xfs.ko"));
        assert!(!amd.iter().any(|m| m.ends_with("virtio_mmio.ko")));
        assert!(fixed("arm64").iter().any(|m| m.ends_with("virtio_mmio.ko")));
    }

    /// A module file whose `.modinfo` says what it depends on, as the kernel's build writes it.
    fn ko(depends: &str) -> Vec<u8> {
        format!("\x7fELF...code...\0license=GPL\0depends={depends}\0intree=Y\0").into_bytes()
    }

    fn put(root: &Path, m: &str, bytes: Vec<u8>) {
        let p = root.join("kernel").join(m);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// The fixed set and btrfs with its dependencies, as in Debian 12's amd64 cloud kernel
    /// (xxhash built in, so no file); returns `modules.builtin`.
    pub fn fake_kernel(root: &Path) -> &'static str {
        for m in fixed("amd64") {
            put(root, m, ko(""));
        }
        put(
            root,
            "fs/btrfs/btrfs.ko",
            ko("zstd_compress,raid6_pq,xor,libcrc32c"),
        );
        put(root, "lib/zstd/zstd_compress.ko", ko("xxhash"));
        put(root, "lib/raid6/raid6_pq.ko", ko(""));
        put(root, "crypto/xor.ko", ko(""));
        let builtin = "kernel/lib/xxhash.ko\n";
        std::fs::write(root.join("modules.builtin"), builtin).unwrap();
        builtin
    }

    #[test]
    fn btrfs_comes_after_what_its_modinfo_says_it_depends_on() {
        let d = tempfile::tempdir().unwrap();
        let builtin = fake_kernel(d.path());
        assert_eq!(
            with_dependencies(d.path(), builtin, "fs/btrfs/btrfs.ko").unwrap(),
            [
                "lib/zstd/zstd_compress.ko",
                "lib/raid6/raid6_pq.ko",
                "crypto/xor.ko",
                "lib/libcrc32c.ko",
                "fs/btrfs/btrfs.ko"
            ]
        );
        let names: Vec<String> = for_guest(d.path(), "amd64", "btrfs")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.last().map(String::as_str), Some("btrfs.ko"));
        assert_eq!(names.iter().filter(|n| *n == "libcrc32c.ko").count(), 1);
        // A dependency the package does not have is named.
        put(d.path(), "lib/raid6/raid6_pq.ko", ko("no_such_mod"));
        let e = with_dependencies(d.path(), builtin, "fs/btrfs/btrfs.ko").unwrap_err();
        assert!(e.to_string().contains("depends on no_such_mod"), "{e}");
    }

    #[test]
    fn depends_reads_only_the_modinfo_entry() {
        assert_eq!(depends(&ko("a,b-c")), ["a", "b-c"]);
        assert!(depends(&ko("")).is_empty());
        assert!(depends(b"no modinfo here, depends=x").is_empty());
    }

    #[test]
    fn a_module_the_kernel_neither_has_nor_builds_in_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let e = module_bytes(d.path(), "", "fs/xfs/xfs.ko").unwrap_err();
        assert!(e.to_string().contains("has no module fs/xfs/xfs.ko"), "{e}");
        let builtin = "kernel/fs/xfs/xfs.ko\n";
        assert!(module_bytes(d.path(), builtin, "fs/xfs/xfs.ko")
            .unwrap()
            .is_none());
    }
}
