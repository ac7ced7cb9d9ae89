//! The action's installer (`dist/install.sh`) against a real HTTP server on 127.0.0.1 serving
//! fake release assets: the right asset for each runner and requested arch, verified against
//! checksums pinned in the repository, failing closed on every way the verification can fail.

mod action_support;

use std::path::{Path, PathBuf};

use action_support::{sha256, skip, which, write_exe, Reply, Runner, Server};

const VERSION: &str = "1.2.0";

fn asset(arch: &str) -> String {
    format!("portability-matrix-{VERSION}-linux-{arch}")
}

/// A fake release binary: a script that answers `--version` and says which asset it is.
fn asset_body(version: &str, arch: &str) -> String {
    format!("#!/bin/sh\necho \"portability-matrix {version} (fake {arch})\"\n")
}

/// A server with every arch's asset of VERSION, and a checksums dir pinning them.
struct Release {
    server: Server,
    checksums: tempfile::TempDir,
}

impl Release {
    fn new() -> Option<Release> {
        let Some(_) = sha256(b"probe") else {
            skip("sha256sum is not installed, so the test cannot pin checksums");
            return None;
        };
        if which("curl").is_none() {
            skip("curl is not installed");
            return None;
        }
        let server = Server::start();
        let checksums = tempfile::tempdir().unwrap();
        let mut pins = String::new();
        for arch in ["amd64", "arm64", "riscv64", "s390x"] {
            let body = asset_body(VERSION, arch);
            server.route(
                &format!("/v{VERSION}/{}", asset(arch)),
                vec![Reply::ok(body.clone())],
            );
            pins += &format!("{}  {}\n", sha256(body.as_bytes()).unwrap(), asset(arch));
        }
        std::fs::write(checksums.path().join(format!("{VERSION}.sha256")), pins).unwrap();
        Some(Release { server, checksums })
    }

    fn runner(&self) -> Runner {
        let mut r = Runner::new();
        r.set("PM_RELEASE_BASE_URL", &self.server.url())
            .set("PM_CHECKSUMS_DIR", self.checksums.path().to_str().unwrap())
            .set("PM_VERSION", VERSION)
            .set("PM_DOWNLOAD_RETRIES", "3");
        r
    }

    fn pin(&self, text: &str) {
        std::fs::write(
            self.checksums.path().join(format!("{VERSION}.sha256")),
            text,
        )
        .unwrap();
    }
}

/// Every regular file under a directory.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn x64_runner_gets_the_amd64_asset_verified_against_the_pinned_checksum() {
    let Some(rel) = Release::new() else { return };
    let r = rel.runner();
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        rel.server.hits(),
        vec![format!("/v{VERSION}/{}", asset("amd64"))]
    );
    let path = run.out("path");
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        asset_body(VERSION, "amd64")
    );
    assert_eq!(run.out("arch"), "amd64");
    assert_eq!(run.out("foreign"), "false");
    assert_eq!(run.out("driver"), path);
    assert_eq!(run.out("source"), "release");
    assert_eq!(run.out("version"), VERSION);
    assert!(run.stdout.contains("::group::"), "{run}");
}

#[test]
fn arm64_runner_gets_the_arm64_asset() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("RUNNER_ARCH", "ARM64");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        rel.server.hits(),
        vec![format!("/v{VERSION}/{}", asset("arm64"))]
    );
    assert_eq!(run.out("arch"), "arm64");
    assert!(std::fs::read_to_string(run.out("path"))
        .unwrap()
        .contains("fake arm64"));
}

#[test]
fn uname_m_decides_the_arch_when_runner_arch_is_unset() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    let fake = r.path("fake-bin");
    write_exe(
        &fake.join("uname"),
        "#!/bin/sh\ncase \"$1\" in -m) echo aarch64 ;; *) echo Linux ;; esac\n",
    );
    r.unset("RUNNER_ARCH")
        .unset("RUNNER_OS")
        .prepend_path(&fake);
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("host-arch"), "arm64");
    assert_eq!(
        rel.server.hits(),
        vec![format!("/v{VERSION}/{}", asset("arm64"))]
    );
}

#[test]
fn foreign_arch_installs_the_cell_binary_and_the_hosts_driver() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("PM_ARCH", "riscv64");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        rel.server.hits(),
        vec![
            format!("/v{VERSION}/{}", asset("riscv64")),
            format!("/v{VERSION}/{}", asset("amd64"))
        ]
    );
    assert_eq!(run.out("foreign"), "true");
    assert_eq!(run.out("qemu-platform"), "riscv64");
    assert!(run.out("path").ends_with("/riscv64/portability-matrix"));
    assert!(run.out("driver").ends_with("/amd64/portability-matrix"));
    assert_eq!(
        Path::new(run.out("path"))
            .parent()
            .unwrap()
            .parent()
            .unwrap(),
        Path::new(run.out("binaries"))
    );
}

#[test]
fn checksum_mismatch_fails_closed_and_leaves_no_binary() {
    let Some(rel) = Release::new() else { return };
    rel.pin(&format!("{}  {}\n", "ab".repeat(32), asset("amd64")));
    let r = rel.runner();
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("checksum mismatch"), "{run}");
    assert_eq!(rel.server.hits().len(), 1, "it did download");
    assert!(
        files_under(&r.temp()).is_empty(),
        "unverified files were left: {:?}",
        files_under(&r.temp())
    );
    assert!(!run.outputs.contains_key("path"), "{run}");
}

#[test]
fn missing_checksum_for_the_asset_fails_before_downloading() {
    let Some(rel) = Release::new() else { return };
    let body = asset_body(VERSION, "arm64");
    rel.pin(&format!(
        "{}  {}\n",
        sha256(body.as_bytes()).unwrap(),
        asset("arm64")
    ));
    let r = rel.runner();
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("no checksum for"), "{run}");
    assert!(rel.server.hits().is_empty(), "{:?}", rel.server.hits());
}

#[test]
fn explicit_version_without_pinned_checksums_fails_closed() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("PM_VERSION", "9.9.9");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("no checksums pinned"), "{run}");
    assert!(rel.server.hits().is_empty());
}

#[test]
fn server_error_then_success_is_retried() {
    let Some(rel) = Release::new() else { return };
    let path = format!("/v{VERSION}/{}", asset("amd64"));
    rel.server.route(
        &path,
        vec![Reply::status(500), Reply::ok(asset_body(VERSION, "amd64"))],
    );
    let r = rel.runner();
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(rel.server.hits(), vec![path.clone(), path]);
    assert!(std::fs::read_to_string(run.out("path"))
        .unwrap()
        .contains("fake amd64"));
}

#[test]
fn server_that_keeps_failing_fails_the_install_after_the_retries() {
    let Some(rel) = Release::new() else { return };
    let path = format!("/v{VERSION}/{}", asset("amd64"));
    rel.server.route(&path, vec![Reply::status(500)]);
    let mut r = rel.runner();
    r.set("PM_DOWNLOAD_RETRIES", "1");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("after 2 attempts"), "{run}");
    assert_eq!(rel.server.hits().len(), 2);
    assert!(files_under(&r.temp()).is_empty());
}

#[test]
fn binary_input_skips_the_download() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    let given = r.path("my-build/portability-matrix");
    write_exe(&given, &asset_body("0.0.1", "mine"));
    r.set("PM_BINARY", given.to_str().unwrap());
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert!(rel.server.hits().is_empty(), "{:?}", rel.server.hits());
    assert_eq!(run.out("path"), given.to_str().unwrap());
    assert_eq!(run.out("source"), "binary");
    assert_eq!(run.out("version"), "0.0.1");
    let linked = Path::new(run.out("binaries")).join("amd64/portability-matrix");
    assert_eq!(std::fs::canonicalize(linked).unwrap(), given);
}

#[test]
fn binary_in_a_cross_build_tree_brings_the_hosts_driver_along() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    let tree = r.path("bins");
    write_exe(
        &tree.join("riscv64/portability-matrix"),
        &asset_body("0.0.1", "riscv64"),
    );
    write_exe(
        &tree.join("amd64/portability-matrix"),
        &asset_body("0.0.1", "amd64"),
    );
    r.set("PM_ARCH", "riscv64").set(
        "PM_BINARY",
        tree.join("riscv64/portability-matrix").to_str().unwrap(),
    );
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert!(rel.server.hits().is_empty());
    assert_eq!(run.out("binaries"), tree.to_str().unwrap());
    assert_eq!(
        run.out("driver"),
        tree.join("amd64/portability-matrix").to_str().unwrap()
    );
}

#[test]
fn binary_input_that_does_not_exist_is_an_error() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("PM_BINARY", "/nonexistent/portability-matrix");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("does not exist"), "{run}");
}

#[test]
fn missing_hash_tool_fails_closed() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    // A PATH with what the installer needs, except sha256sum and shasum.
    let bin = r.path("restricted-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "dirname", "basename", "mkdir", "mktemp", "curl", "cut", "chmod", "mv", "rm", "sort",
        "tail", "awk", "cp", "ln", "cat", "uname",
    ] {
        let Some(p) = which(tool) else {
            skip(&format!("{tool} is not installed"));
            return;
        };
        std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
    }
    r.set("PATH", bin.to_str().unwrap());
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr
            .contains("neither sha256sum nor shasum is installed"),
        "{run}"
    );
    assert!(rel.server.hits().is_empty());
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("PM_RELEASE_BASE_URL", "http://example.com/releases");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("must use https"), "{run}");
}

#[test]
fn major_version_ref_installs_the_newest_pinned_release_of_that_major() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    // The runner checks an action out into …/_actions/<owner>/<repo>/<ref>.
    let action = r.path("_actions/org/portability-matrix/v1");
    let pins = action.join("dist/checksums");
    std::fs::create_dir_all(&pins).unwrap();
    let pinned =
        std::fs::read_to_string(rel.checksums.path().join(format!("{VERSION}.sha256"))).unwrap();
    std::fs::write(pins.join(format!("{VERSION}.sha256")), &pinned).unwrap();
    for older_or_other in ["1.0.0", "1.1.9", "2.0.0"] {
        std::fs::write(pins.join(format!("{older_or_other}.sha256")), "").unwrap();
    }
    r.unset("PM_VERSION")
        .unset("PM_CHECKSUMS_DIR")
        .set("GITHUB_ACTION_PATH", action.to_str().unwrap());
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("version"), VERSION);
    assert_eq!(
        rel.server.hits(),
        vec![format!("/v{VERSION}/{}", asset("amd64"))]
    );
}

#[test]
fn branch_ref_builds_from_source_with_cargo() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    // A cargo that records how it was called and "builds" a binary where cargo would.
    let fake = r.path("fake-bin");
    let log = r.path("cargo-args");
    write_exe(
        &fake.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"$@\" > {}\nmkdir -p \"$CARGO_TARGET_DIR/release\"\nprintf '#!/bin/sh\\necho portability-matrix 0.1.0-src\\n' > \"$CARGO_TARGET_DIR/release/portability-matrix\"\nchmod +x \"$CARGO_TARGET_DIR/release/portability-matrix\"\n",
            log.display()
        ),
    );
    r.unset("PM_VERSION")
        .set("PM_ACTION_REF", "main")
        .prepend_path(&fake);
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert!(rel.server.hits().is_empty());
    assert_eq!(run.out("source"), "source");
    assert_eq!(run.out("version"), "0.1.0-src");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.starts_with("build --release --locked"), "{args}");
    assert!(
        args.contains(&format!(
            "--manifest-path {}",
            action_support::repo().join("Cargo.toml").display()
        )),
        "{args}"
    );
    assert!(run.stdout.contains("::notice"), "{run}");
}

#[test]
fn unsupported_arch_and_mode_are_rejected() {
    let Some(rel) = Release::new() else { return };
    let mut r = rel.runner();
    r.set("PM_ARCH", "mips");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("arch 'mips'"), "{run}");
    r.unset("PM_ARCH").set("PM_MODE", "matrix");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("mode must be cell or gate"), "{run}");
    r.set("PM_MODE", "gate").set("PM_ARCH", "riscv64");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr.contains("gate runs on the runner's own"),
        "{run}"
    );
    assert!(rel.server.hits().is_empty());
}
