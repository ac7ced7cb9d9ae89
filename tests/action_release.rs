//! The nightly and release flow's scripts: the nightly plan (cells, runners, strictness), the
//! release packaging (whose SHA256SUMS the installer must accept as its pinned checksums), and
//! the docs-and-evidence bundle built from a real cell's evidence.

mod action_support;

use std::path::Path;
use std::process::Command;

use action_support::{repo, sha256, skip, which, write_exe, Reply, Runner, Server};

const BIN: &str = env!("CARGO_BIN_EXE_portability-matrix");

fn matrix_of(json: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["arch"].as_str().unwrap().to_string(),
                c["fs"].as_str().unwrap().to_string(),
                c["runner"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn nightly_plan_runs_each_arch_on_ext4_and_xfs_on_its_runner() {
    let mut r = Runner::new();
    r.set("PM_EVENT", "schedule")
        .set("PM_REF", "refs/heads/main");
    let run = r.run("nightly-plan.sh");
    assert_eq!(run.code, Some(0), "{run}");
    let cells = matrix_of(run.out("matrix"));
    let want = [
        ("amd64", "ext4", "ubuntu-24.04"),
        ("amd64", "xfs", "ubuntu-24.04"),
        ("arm64", "ext4", "ubuntu-24.04-arm"),
        ("arm64", "xfs", "ubuntu-24.04-arm"),
        ("riscv64", "ext4", "ubuntu-24.04"),
        ("riscv64", "xfs", "ubuntu-24.04"),
    ];
    assert_eq!(
        cells,
        want.map(|(a, f, r)| (a.to_string(), f.to_string(), r.to_string()))
    );
    assert_eq!(run.out("release"), "false");
    assert_eq!(run.out("gate-mode"), "nightly");
    assert_eq!(run.out("retention-days"), "30");
    assert_eq!(run.out("iterations"), "20");
    assert_eq!(run.out("seed"), "");
}

#[test]
fn tag_push_is_a_strict_release_run_kept_90_days() {
    let mut r = Runner::new();
    r.set("PM_EVENT", "push").set("PM_REF", "refs/tags/v1.2.0");
    let run = r.run("nightly-plan.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("release"), "true");
    assert_eq!(run.out("gate-mode"), "release");
    assert_eq!(run.out("retention-days"), "90");
    assert!(
        run.summary.contains("release run (v1.2.0)"),
        "{}",
        run.summary
    );
}

/// Only a tag *push* releases: a manual run dispatched on a v* tag is a nightly run.
#[test]
fn manual_run_on_a_tag_is_not_a_release_run() {
    let mut r = Runner::new();
    r.set("PM_EVENT", "workflow_dispatch")
        .set("PM_REF", "refs/tags/v1.2.0");
    let run = r.run("nightly-plan.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.out("release"), "false");
    assert_eq!(run.out("gate-mode"), "nightly");
    assert_eq!(run.out("retention-days"), "30");
}

#[test]
fn manual_run_takes_its_arches_iterations_and_seed() {
    let mut r = Runner::new();
    r.set("PM_EVENT", "workflow_dispatch")
        .set("PM_ARCHES", "x86_64  riscv64 amd64")
        .set("PM_ITERATIONS", "100")
        .set("PM_SEED", "1741910400000000000");
    let run = r.run("nightly-plan.sh");
    assert_eq!(run.code, Some(0), "{run}");
    let arches: Vec<String> = matrix_of(run.out("matrix"))
        .into_iter()
        .map(|(a, f, _)| format!("{a}/{f}"))
        .collect();
    assert_eq!(
        arches,
        ["amd64/ext4", "amd64/xfs", "riscv64/ext4", "riscv64/xfs"]
    );
    assert_eq!(run.out("iterations"), "100");
    assert_eq!(run.out("seed"), "1741910400000000000");
    for (k, v) in [("PM_ARCHES", "amd64 mips"), ("PM_ITERATIONS", "lots")] {
        let mut bad = Runner::new();
        bad.set(k, v);
        let run = bad.run("nightly-plan.sh");
        assert_eq!(run.code, Some(2), "{k}={v}: {run}");
    }
}

/// The release's SHA256SUMS, committed as dist/checksums/<version>.sha256, is what the installer
/// verifies the release's own assets against.
#[test]
fn packaged_release_installs_through_its_own_sha256sums() {
    if sha256(b"probe").is_none() || which("curl").is_none() {
        skip("needs sha256sum and curl");
        return;
    }
    let mut r = Runner::new();
    let tree = r.path("target/cross");
    for arch in ["amd64", "arm64", "riscv64"] {
        write_exe(
            &tree.join(arch).join("portability-matrix"),
            &format!("#!/bin/sh\necho portability-matrix 3.1.4 {arch}\n"),
        );
    }
    let out = r.path("out");
    let package = Command::new("bash")
        .arg(repo().join("dist/package-release.sh"))
        .args(["--version", "v3.1.4", "--binaries"])
        .arg(&tree)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(package.status.success(), "{package:?}");
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "portability-matrix-3.1.4-linux-amd64",
            "portability-matrix-3.1.4-linux-arm64",
            "portability-matrix-3.1.4-linux-riscv64"
        ]
    );

    let server = Server::start();
    for name in &names {
        server.route(
            &format!("/v3.1.4/{name}"),
            vec![Reply::ok(std::fs::read(out.join(name)).unwrap())],
        );
    }
    let pins = r.path("checksums");
    std::fs::create_dir_all(&pins).unwrap();
    std::fs::copy(out.join("SHA256SUMS"), pins.join("3.1.4.sha256")).unwrap();
    r.set("PM_RELEASE_BASE_URL", &server.url())
        .set("PM_CHECKSUMS_DIR", pins.to_str().unwrap())
        .set("PM_VERSION", "3.1.4")
        .set("RUNNER_ARCH", "ARM64");
    let run = r.run("install.sh");
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(
        std::fs::read(run.out("path")).unwrap(),
        std::fs::read(out.join("portability-matrix-3.1.4-linux-arm64")).unwrap()
    );
}

#[test]
fn packaging_without_a_required_arch_fails() {
    let r = Runner::new();
    let tree = r.path("target/cross");
    write_exe(&tree.join("amd64/portability-matrix"), "#!/bin/sh\n");
    let out = Command::new("bash")
        .arg(repo().join("dist/package-release.sh"))
        .args(["--version", "1.0.0", "--binaries"])
        .arg(&tree)
        .arg("--out")
        .arg(r.path("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no arm64 binary"));
}

fn bundle(evidence: &Path, out: &Path, gate: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(repo().join("dist/build_docs_and_evidence.sh"))
        .args(["--version", "v2.0.0", "--evidence"])
        .arg(evidence)
        .arg("--out")
        .arg(out)
        .arg("--gate")
        .arg(gate)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
}

#[test]
fn release_bundle_holds_the_docs_and_every_cells_evidence_reproducibly() {
    if which("tar").is_none() || sha256(b"probe").is_none() {
        skip("needs GNU tar and sha256sum");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A real cell's evidence, then laid out as the downloaded artifacts are:
    // portability-evidence-<arch>-<fs>/run-<N>/…
    let ev = dir.path().join("evidence");
    let cell = Command::new(BIN)
        .env("PM_BLOCK_REPLAY", "off")
        .args(["cell", "--iterations", "10", "--seed", "77", "--evidence"])
        .arg(&ev)
        .output()
        .unwrap();
    assert!(cell.status.success(), "{cell:?}");
    let artifacts = dir.path().join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for arch in std::fs::read_dir(&ev).unwrap().flatten() {
        for fs in std::fs::read_dir(arch.path()).unwrap().flatten() {
            let name = format!(
                "portability-evidence-{}-{}",
                arch.file_name().to_str().unwrap(),
                fs.file_name().to_str().unwrap()
            );
            let copied = Command::new("cp")
                .arg("-R")
                .arg(fs.path())
                .arg(artifacts.join(&name))
                .status()
                .unwrap();
            assert!(copied.success());
        }
    }
    let gate = dir.path().join("gate.json");
    std::fs::write(&gate, "{\"pass\": true}\n").unwrap();

    let out1 = dir.path().join("out1");
    let out2 = dir.path().join("out2");
    let b1 = bundle(&artifacts, &out1, &gate);
    assert!(b1.status.success(), "{b1:?}");
    let b2 = bundle(&artifacts, &out2, &gate);
    assert!(b2.status.success(), "{b2:?}");
    let name = "portability-matrix-2.0.0-docs-and-evidence.tar.gz";
    let sum1 = std::fs::read_to_string(out1.join(format!("{name}.sha256"))).unwrap();
    let sum2 = std::fs::read_to_string(out2.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(sum1, sum2, "the bundle is not reproducible");
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{name}.sha256")])
        .current_dir(&out1)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    assert!(Command::new("tar")
        .arg("-xzf")
        .arg(out1.join(name))
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap()
        .success());
    let top = unpacked.join("portability-matrix-2.0.0");
    let arch = action_support::host_arch();
    let runs: Vec<_> = glob_reports(&top.join("evidence"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&runs[0]).unwrap()).unwrap();
    assert_eq!(report["seed"], 77);
    assert!(runs[0].starts_with(top.join("evidence").join(arch)));
    for f in [
        "README.md",
        "schemas/wal_verify.schema.json",
        "gate.json",
        "MANIFEST.sha256",
    ] {
        assert!(top.join(f).is_file(), "{f} is missing from the bundle");
    }
    let index = std::fs::read_to_string(top.join("INDEX.md")).unwrap();
    assert!(index.contains(&format!("| {arch} |")), "{index}");
    assert!(index.contains("| run-1 | true | 10/10 | 77 |"), "{index}");
    let manifest = Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(&top)
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{manifest:?}");
}

fn glob_reports(evidence: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for a in std::fs::read_dir(evidence).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
            for r in std::fs::read_dir(f.path()).into_iter().flatten().flatten() {
                let p = r.path().join("wal_verify.json");
                if p.is_file() {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn release_bundle_without_evidence_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("artifacts");
    std::fs::create_dir_all(empty.join("portability-evidence-amd64-ext4")).unwrap();
    let gate = dir.path().join("gate.json");
    std::fs::write(&gate, "{}").unwrap();
    let out = bundle(&empty, &dir.path().join("out"), &gate);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no wal_verify.json"));
    assert!(!dir
        .path()
        .join("out/portability-matrix-2.0.0-docs-and-evidence.tar.gz")
        .exists());
}
