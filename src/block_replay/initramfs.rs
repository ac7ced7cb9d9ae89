//! The guest's initramfs: a newc cpio archive holding this binary as `/init`, busybox (for
//! `losetup`), and the few kernel modules the guest needs, nothing else.
//!
//! Why written here rather than by `cpio`: the format is a 110-byte text header per file, and
//! writing it in Rust keeps the archive exactly determined by its inputs (no timestamps, fixed
//! inode numbers, sorted), with no tool to install. The kernel unpacks an uncompressed archive
//! as well as a compressed one.
//!
//! The binary must run with nothing else in the guest. A static binary (the cross-built cell
//! binaries are) goes in alone. A dynamically linked one of the host's own architecture (a
//! development build) goes in with its loader and libraries, as `ldd` names them, at the same
//! paths; it is stripped of debug information first when `strip` is there, to keep the archive
//! small.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::modules;

/// Where the guest finds its modules, in load order.
pub const MODULE_DIR: &str = "/modules";
/// The order file the guest reads.
pub const MODULE_ORDER: &str = "/modules/order";

/// A newc archive being built, in memory.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            if mode & S_IFDIR != 0 { 2 } else { 1 },
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, &[], (0, 0));
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, S_IFREG | mode, data, (0, 0));
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | 0o600, &[], (major, minor));
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        // The kernel reads the archive in 512-byte blocks.
        while !self.out.len().is_multiple_of(512) {
            self.out.push(0);
        }
        self.out
    }
}

/// What goes into a guest's initramfs.
pub struct Contents<'a> {
    pub arch: &'a str,
    /// The filesystem the guest mounts: one outside the fixed set ([`fs_module`]) adds its
    /// module and what it depends on.
    pub fs: &'a str,
    /// `lib/modules/<release>` of the extracted kernel package.
    pub modules_root: &'a Path,
    pub busybox: &'a Path,
    /// The binary that becomes `/init`.
    pub init: &'a Path,
    /// Whether `init` is of the host's architecture (only then can its libraries be added).
    pub init_is_native: bool,
}

/// Builds the archive.
pub fn build(c: &Contents) -> Result<Vec<u8>> {
    let mut files: BTreeMap<String, (u32, Vec<u8>)> = BTreeMap::new();
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let mut order = String::new();
    for (name, bytes) in modules::for_guest(c.modules_root, c.arch, c.fs)? {
        files.insert(format!("{MODULE_DIR}/{name}"), (0o644, bytes));
        order.push_str(&name);
        order.push('\n');
    }
    files.insert(MODULE_ORDER.into(), (0o644, order.into_bytes()));
    files.insert("/bin/busybox".into(), (0o755, read(c.busybox)?));
    let (init, libs) = init_binary(c.init, c.init_is_native)?;
    files.insert("/init".into(), (0o755, init));
    for lib in libs {
        files.insert(lib.display().to_string(), (0o755, read(&lib)?));
    }
    let mut dirs: Vec<String> = vec![
        "/dev".into(),
        "/proc".into(),
        "/sys".into(),
        "/mnt".into(),
        "/tmp".into(),
    ];
    for f in files.keys() {
        let mut p = Path::new(f).parent();
        while let Some(d) = p {
            if d != Path::new("/") {
                dirs.push(d.display().to_string());
            }
            p = d.parent();
        }
    }
    dirs.sort();
    dirs.dedup();
    let mut cpio = Cpio::default();
    for d in &dirs {
        cpio.dir(d);
    }
    cpio.char_dev("/dev/console", 5, 1);
    cpio.char_dev("/dev/null", 1, 3);
    for (name, (mode, data)) in &files {
        cpio.file(name, *mode, data);
    }
    Ok(cpio.finish())
}

/// Whether an ELF file asks for a program interpreter (is dynamically linked).
pub fn is_dynamic(bytes: &[u8]) -> bool {
    // An ELF64 file's program headers: PT_INTERP is type 3. The byte order of the header
    // fields follows e_ident[EI_DATA].
    if bytes.len() < 64 || &bytes[0..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let le = bytes[5] == 1;
    let u = |at: usize, n: usize| -> u64 {
        let mut v = 0u64;
        for i in 0..n {
            let b = u64::from(bytes[at + if le { n - 1 - i } else { i }]);
            v = v << 8 | b;
        }
        v
    };
    let (phoff, phentsize, phnum) = (u(32, 8) as usize, u(54, 2) as usize, u(56, 2) as usize);
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bytes.len() && u(at, 4) == 3
    })
}

/// The bytes of `/init` and the libraries to add beside it.
fn init_binary(init: &Path, native: bool) -> Result<(Vec<u8>, Vec<PathBuf>)> {
    let bytes = std::fs::read(init).with_context(|| format!("cannot read {}", init.display()))?;
    if !is_dynamic(&bytes) {
        return Ok((bytes, Vec::new()));
    }
    if !native {
        bail!(
            "{} is dynamically linked and not of this machine's architecture: the guest needs a \
             static binary (scripts/cross-build.sh builds them)",
            init.display()
        );
    }
    let out = Command::new("ldd")
        .arg(init)
        .output()
        .context("cannot run ldd to find the binary's libraries")?;
    anyhow::ensure!(out.status.success(), "ldd {} failed", init.display());
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    let stripped = strip_copy(init).unwrap_or(bytes);
    Ok((stripped, libs))
}

/// A copy of the binary without debug information, when `strip` is there.
fn strip_copy(bin: &Path) -> Option<Vec<u8>> {
    let tmp = tempfile::NamedTempFile::new().ok()?;
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(tmp.path())
        .arg(bin)
        .status()
        .ok()?
        .success();
    ok.then(|| std::fs::read(tmp.path()).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> u32 {
        u32::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap()
    }

    /// Reads a newc archive back: (name, mode, data, rdev major).
    fn entries(a: &[u8]) -> Vec<(String, u32, Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(&a[at..at + 6], b"070701");
            let f = |i: usize| hex(&a[at + 6 + 8 * i..at + 14 + 8 * i]);
            let (mode, size, rmaj, namesize) = (f(1), f(6) as usize, f(9), f(11) as usize);
            let name = String::from_utf8(a[at + 110..at + 110 + namesize - 1].to_vec()).unwrap();
            let data_at = (at + 110 + namesize).div_ceil(4) * 4;
            let data = a[data_at..data_at + size].to_vec();
            at = (data_at + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                break;
            }
            out.push((name, mode, data, rmaj));
        }
        assert_eq!(a.len() % 512, 0);
        out
    }

    #[test]
    fn a_newc_archive_reads_back_with_its_files_devices_and_directories() {
        let mut c = Cpio::default();
        c.dir("/dev");
        c.char_dev("/dev/console", 5, 1);
        c.file("/init", 0o755, b"hello");
        c.file("/a/odd", 0o644, b"xyz");
        let e = entries(&c.finish());
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].0, "dev");
        assert_eq!(e[0].1 & 0o170000, S_IFDIR);
        assert_eq!((e[1].1 & 0o170000, e[1].3), (S_IFCHR, 5));
        assert_eq!(
            (e[2].0.as_str(), e[2].2.as_slice()),
            ("init", &b"hello"[..])
        );
        assert_eq!(e[2].1, S_IFREG | 0o755);
        assert_eq!(e[3].2, b"xyz");
    }

    #[test]
    fn a_guest_initramfs_holds_init_busybox_and_the_modules() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("mods");
        for m in modules::fixed("amd64") {
            let p = root.join("kernel").join(m);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if m.contains("ext4") || m.contains("jbd2") {
                continue; // built in, as in Debian 12's cloud kernels
            }
            std::fs::write(&p, m.as_bytes()).unwrap();
        }
        std::fs::write(
            root.join("modules.builtin"),
            "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n",
        )
        .unwrap();
        let bb = d.path().join("busybox");
        std::fs::write(&bb, b"bb").unwrap();
        let init = d.path().join("init");
        std::fs::write(&init, b"not an elf, so static").unwrap();
        let a = build(&Contents {
            arch: "amd64",
            fs: "ext4",
            modules_root: &root,
            busybox: &bb,
            init: &init,
            init_is_native: true,
        })
        .unwrap();
        let e = entries(&a);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        for n in [
            "init",
            "bin/busybox",
            "modules/xfs.ko",
            "modules/order",
            "dev/console",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(
            !names.contains(&"modules/ext4.ko"),
            "a built-in module is not loaded"
        );
        let order = &e.iter().find(|x| x.0 == "modules/order").unwrap().2;
        assert!(String::from_utf8_lossy(order).starts_with("virtio_ring.ko\nvirtio.ko\n"));
    }

    #[test]
    fn btrfs_and_what_it_needs_go_in_only_when_the_guest_mounts_btrfs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("mods");
        modules::tests::fake_kernel(&root);
        let (bb, init) = (d.path().join("busybox"), d.path().join("init"));
        std::fs::write(&bb, b"bb").unwrap();
        std::fs::write(&init, b"static").unwrap();
        let order = |fs| {
            let a = build(&Contents {
                arch: "amd64",
                fs,
                modules_root: &root,
                busybox: &bb,
                init: &init,
                init_is_native: true,
            })
            .unwrap();
            let e = entries(&a);
            String::from_utf8(e.into_iter().find(|x| x.0 == "modules/order").unwrap().2).unwrap()
        };
        let btrfs = order("btrfs");
        let at = |m: &str| btrfs.lines().position(|l| l == m).unwrap();
        assert!(at("raid6_pq.ko") < at("btrfs.ko") && at("libcrc32c.ko") < at("btrfs.ko"));
        assert_eq!(btrfs.matches("libcrc32c.ko").count(), 1, "{btrfs}");
        assert!(!order("xfs").contains("btrfs"), "loaded when not asked for");
    }

    #[test]
    fn this_test_binary_is_recognized_as_dynamic_or_static() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let statically = cfg!(target_feature = "crt-static");
        assert_eq!(is_dynamic(&me), !statically);
        assert!(!is_dynamic(b"\x7fELF short"));
    }
}
