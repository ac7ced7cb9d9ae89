//! Every command the README and docs/ show in a shell block works as written.
//!
//! The test reads every line of every ```sh block of `README.md` and `docs/*.md` and holds it
//! to the checklist below: each documented command is either run here, as written, or listed
//! with the reason it is not (it needs root and QEMU, GitHub, or an hour), and a `make` line
//! must name a target the Makefile has. A command added to the docs without an entry here fails
//! the test, and so does an entry whose command left the docs: the checklist and the docs move
//! together.
//!
//! "As written" means: in a fresh directory, with `portability-matrix` on PATH being the binary
//! under test (what `make install` gives), `target/release/portability-matrix` being that same
//! binary, and `/tmp/` being a fresh directory, so that runs do not collide. Lines of one block
//! run in order in one shell, as a reader pastes them. The README names the evidence of an
//! amd64/ext4 cell; here it is this machine's cell, whatever its arch and temp filesystem.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::skip;

/// What the test does with a documented command.
enum Check {
    /// Run it; it must exit with this code.
    Run(i32),
    /// A `make` line: the target must exist; `.ci/run` runs the ones it names.
    Make,
    /// Not run here, and why.
    Skip(&'static str),
}

use Check::*;

const GITHUB: &str = "needs a GitHub workflow run (the gate's GitHub path is tested against a fake GitHub in tests/gate_github.rs)";
const ROOT_QEMU: &str = "needs root; the full matrix's prerequisites are installed by .ci/run";
const TEMPLATE: &str = "is a template with a placeholder for the reader to fill in";
const BENCHMARK: &str = "is a benchmark of docs/performance.md (a 1 GiB log, release builds, cross builds); its numbers come from running it";
const S390X_CELL: &str = "reads the evidence of the matrix's s390x cell (root, QEMU, a cross-built s390x binary): tests/matrix_byte_order.rs runs that cell and the comparison";
const GUEST: &str = "boots a Debian kernel under qemu-system (root, the kernel package, tens of seconds): tests/block_replay.rs runs block replay for real where it can";
const CARGO: &str =
    "is a cargo or fuzzing command: .ci/run runs the tests, the defects build and the fuzzing";
const DEFECTS: &str = "needs the build with the `defects` feature that the block's first line makes (this binary has only the real protocol); the crash:: tests run every variant against the explorer";

/// Every documented command, by its text (a trailing `# comment` removed).
const CHECKLIST: &[(&str, Check)] = &[
    ("make portability-matrix", Make),
    ("make test", Make),
    ("make build", Make),
    ("sudo make portability-matrix-full MATRIX_FS=\"ext4 xfs\"", Make),
    ("sudo make portability-matrix-full MATRIX_FS=\"ext4 xfs btrfs\"", Make),
    ("make gate", Make),
    ("make portability-crash-harness", Make),
    ("make portability-crash-harness SEED=1741910400000000000", Make),
    ("make portability-crash-harness ITERATIONS=100", Make),
    ("make portability-crash-harness SEED=1741910400000000000 ITERATIONS=20", Make),
    ("make portability-crash-harness SEED=$SEED ITERATIONS=20", Make),
    ("gh run download <run-id> -n portability-evidence-amd64-xfs -D failing", Skip(GITHUB)),
    ("cat failing/run-1/cmd.txt", Skip(GITHUB)),
    ("SEED=$(python3 -c \"import json; print(json.load(open('failing/run-1/wal_verify.json'))['seed'])\")", Skip(GITHUB)),
    ("target/release/portability-matrix cell --dir /mnt/xfs/repro --seed \"$SEED\" --iterations 20", Skip(GITHUB)),
    ("SEED=$(jq .seed evidence/amd64/ext4/run-1/wal_verify.json)", Run(0)),
    ("portability-matrix crash-harness --seed $SEED --iteration 7", Run(0)),
    ("grep '^portability-matrix crash-harness' evidence/amd64/ext4/run-1/cmd.txt", Run(0)),
    ("portability-matrix gate --evidence-dir evidence --mode nightly", Run(0)),
    ("portability-matrix gate --evidence-dir artifacts --sha \"$(git rev-parse HEAD)\" --out gate.json", Run(1)),
    ("portability-matrix gate --evidence-dir artifacts --sha \"$(git rev-parse HEAD)\"", Run(1)),
    ("portability-matrix gate --repo OWNER/NAME --run-id 123 --policy phase2 --mode nightly", Skip(TEMPLATE)),
    ("portability-matrix crash-harness --fault kill --kills 100 --seed 7", Run(0)),
    ("portability-matrix crash-explore --seed 7", Run(0)),
    ("portability-matrix crash-explore --workload appends --appends 10 --sector 4096 --on-disk 50", Run(0)),
    ("portability-matrix crash-explore --seed 7 --replay 12:P,L --keep /tmp/state", Run(0)),
    ("portability-matrix cell --seed-steps-only ...", Skip(TEMPLATE)),
    ("scripts/fuzz.sh [SECONDS]", Skip(TEMPLATE)),
    ("portability-matrix crash-explore --workload standard --seed 7 --sector 512 --protocol real --replay 12:P,L", Run(0)),
    ("portability-matrix crash-explore --seed 7 --replay 12:P,L --keep /tmp/pm-state", Run(0)),
    ("portability-matrix verify --dir /tmp/pm-state/recovered", Run(0)),
    ("portability-matrix fault-harness --seed 7", Run(0)),
    ("portability-matrix fault-harness --kind file-size-limit --seed 7 --dir /tmp/pm-faults", Run(0)),
    ("portability-matrix fault-harness --kind block-io-errors --seed 7 --dir /tmp/pm-faults", Run(0)),
    ("cargo run --release --features defects -- crash-explore --protocol no-dir-sync --seed 1", Skip(CARGO)),
    ("cargo test --features defects --bin portability-matrix -- crash::", Skip(CARGO)),
    ("scripts/fuzz.sh", Skip(CARGO)),
    ("scripts/fuzz.sh 3600", Skip(CARGO)),
    ("sudo apt-get install btrfs-progs", Skip(ROOT_QEMU)),
    ("cd evidence/s390x/ext4/run-1/byte_order", Skip(S390X_CELL)),
    ("portability-matrix recover-states --dir written-by-s390x --against written-by-s390x.recovered-by-s390x.json", Skip(S390X_CELL)),
    ("cargo build --release", Skip(BENCHMARK)),
    ("git clone <the project> /tmp/ci && mkdir -p /tmp/cold-home", Skip(TEMPLATE)),
    ("cd /tmp/ci && time env HOME=/tmp/cold-home CI=true bash .ci/run < /dev/null", Skip(BENCHMARK)),
    ("target/release/portability-matrix generate --dir /tmp/big --size 1G --payload-bytes 200", Skip(BENCHMARK)),
    ("cat /tmp/big/wal.log > /dev/null", Skip(BENCHMARK)),
    ("/usr/bin/time -v target/release/portability-matrix verify --dir /tmp/big --out /tmp/v.json", Skip(BENCHMARK)),
    ("/usr/bin/time -v target/release/portability-matrix crash-explore --workload appends --appends 10 --seed 1 --repeat 200", Skip(BENCHMARK)),
    ("/usr/bin/time target/release/portability-matrix crash-explore --workload appends --appends 10 --seed 1 --repeat 200", Skip(BENCHMARK)),
    ("/usr/bin/time target/release/portability-matrix crash-explore --workload appends --appends 10 --seed 1 --repeat 200 --no-block-faults", Skip(BENCHMARK)),
    ("target/release/portability-matrix crash-harness --fault kill --kills 100 --seed 1", Run(0)),
    ("/usr/bin/time -v target/release/portability-matrix cell --evidence /tmp/ev --seed 5", Skip(BENCHMARK)),
    ("/usr/bin/time -v target/release/portability-matrix cell --evidence /tmp/ev --seed 5 --no-faults", Skip(BENCHMARK)),
    ("strace -f -c -w -e trace=fsync,fdatasync target/release/portability-matrix cell --evidence /tmp/ev --seed 5", Skip(BENCHMARK)),
    ("RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc RUSTFLAGS=\"-C target-feature=+crt-static\" /usr/bin/cargo build --release --no-default-features --target aarch64-unknown-linux-gnu --target-dir /tmp/pm-arm64", Skip(BENCHMARK)),
    ("B=/tmp/pm-arm64/aarch64-unknown-linux-gnu/release/portability-matrix", Skip(BENCHMARK)),
    ("PM_EXEC_WRAPPER=/usr/bin/qemu-aarch64-static /usr/bin/time -v qemu-aarch64-static $B cell --evidence /tmp/ev --seed 5", Skip(BENCHMARK)),
    ("qemu-aarch64-static $B crash-explore --workload appends --appends 10 --seed 1 --repeat 50", Skip(BENCHMARK)),
    ("apt-get install time", Skip(BENCHMARK)),
    ("cargo test --features github --test gate_github -- --ignored --nocapture gate_download_cost", Skip(CARGO)),
    ("target/release/portability-matrix generate --dir /tmp/wal256 --size 256M", Skip(BENCHMARK)),
    ("pip install crc32c", Skip(BENCHMARK)),
    ("rm -rf target && time make portability-matrix", Skip(BENCHMARK)),
    ("rm -rf target && time make test", Skip(BENCHMARK)),
    ("cat /tmp/wal256/wal.log > /dev/null", Skip(BENCHMARK)),
    ("for i in 1 2 3 4 5 6 7 8 9; do /usr/bin/time -f \"tool %e s wall, %U+%S s cpu, %M KiB\" target/release/portability-matrix verify --dir /tmp/wal256 --out /tmp/v.json; /usr/bin/time -f \"python %e s wall, %U+%S s cpu, %M KiB\" python3 scripts/reference_verify.py /tmp/wal256 >/dev/null; done", Skip(BENCHMARK)),
    ("hyperfine -w 1 -r 9 'target/release/portability-matrix verify --dir /tmp/wal256 --out /tmp/v.json' 'python3 scripts/reference_verify.py /tmp/wal256'", Skip(BENCHMARK)),
    ("scripts/install-guest.sh amd64", Skip(GUEST)),
    ("scripts/install-guest.sh arm64", Skip(GUEST)),
    ("portability-matrix block-replay --arch s390x --check-arch amd64 --fs ext4 --seed 1", Skip(GUEST)),
    ("portability-matrix block-replay --fs ext4 --seed 1 --tears 2", Skip(GUEST)),
    ("portability-matrix block-replay --fs ext4 --seed 1 --keep /tmp/br", Skip(GUEST)),
    ("portability-matrix replay-state --pristine /tmp/br/pristine.log --log /tmp/br/record.log --disk-bytes 68157440 --state 10 --out /tmp/state.img", Skip(GUEST)),
    ("scripts/install-guest.sh s390x", Skip(GUEST)),
    ("scripts/install-guest.sh riscv64", Skip(GUEST)),
    ("scripts/cross-build.sh amd64 arm64 s390x riscv64", Skip(BENCHMARK)),
    ("/usr/bin/time -v target/cross/amd64/portability-matrix block-replay --fs ext4 --seed 1 --no-kvm", Skip(BENCHMARK)),
    ("/usr/bin/time -v target/cross/amd64/portability-matrix block-replay --arch arm64 --fs xfs --seed 1", Skip(BENCHMARK)),
    ("cargo build --release --features defects", Skip(CARGO)),
    ("target/release/portability-matrix block-replay --fs ext4 --seed 1 --protocol no-tmp-sync", Skip(GUEST)),
    ("target/release/portability-matrix block-replay --fs ext4 --mount-options noauto_da_alloc --seed 1 --protocol no-tmp-sync", Skip(GUEST)),
    ("target/release/portability-matrix block-replay --fs xfs --seed 1 --protocol no-tmp-sync", Skip(GUEST)),
    ("target/release/portability-matrix block-replay --fs btrfs --seed 1 --protocol no-tmp-sync", Skip(GUEST)),
    ("target/release/portability-matrix crash-explore --seed 1 --protocol no-tmp-sync", Skip(DEFECTS)),
];

/// One ```sh block: where it is and its commands, continuation lines joined.
struct Block {
    file: String,
    commands: Vec<String>,
}

fn blocks() -> Vec<Block> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if !matches!(l.trim(), "```sh" | "```bash" | "```shell") {
                continue;
            }
            let mut commands = Vec::new();
            let mut pending = String::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                let l = strip_comment(l);
                if let Some(head) = l.strip_suffix('\\') {
                    pending.push_str(head.trim());
                    pending.push(' ');
                    continue;
                }
                pending.push_str(l.trim());
                let cmd = std::mem::take(&mut pending);
                if !cmd.is_empty() {
                    commands.push(cmd);
                }
            }
            out.push(Block {
                file: f.file_name().unwrap().to_string_lossy().into_owned(),
                commands,
            });
        }
    }
    out
}

/// The line without a trailing `# comment` (a `#` outside quotes, after a space).
fn strip_comment(l: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let b = l.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && (i == 0 || b[i - 1] == b' ') => return l[..i].trim_end(),
            _ => {}
        }
    }
    l.trim_end()
}

fn check_of(cmd: &str) -> Option<&'static Check> {
    CHECKLIST.iter().find(|(c, _)| *c == cmd).map(|(_, k)| k)
}

#[test]
fn every_documented_command_is_on_the_checklist_and_every_entry_is_documented() {
    let documented: Vec<(String, String)> = blocks()
        .into_iter()
        .flat_map(|b| b.commands.into_iter().map(move |c| (b.file.clone(), c)))
        .collect();
    let unchecked: Vec<String> = documented
        .iter()
        .filter(|(_, c)| check_of(c).is_none())
        .map(|(f, c)| format!("{f}: {c}"))
        .collect();
    assert!(
        unchecked.is_empty(),
        "documented commands that tests/documented_commands.rs does not check; add each to its \
         CHECKLIST:\n  {}",
        unchecked.join("\n  ")
    );
    for (cmd, check) in CHECKLIST {
        if let Skip(why) = check {
            eprintln!("documented, not run by this test: {cmd}\n  (it {why})");
        }
    }
    let stale: Vec<&str> = CHECKLIST
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !documented.iter().any(|(_, d)| d == c))
        .collect();
    assert!(
        stale.is_empty(),
        "checklist entries no longer in the docs: {stale:#?}"
    );
}

#[test]
fn every_documented_make_line_names_a_target_the_makefile_has() {
    let makefile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile")).unwrap();
    for (cmd, check) in CHECKLIST {
        if !matches!(check, Make) {
            continue;
        }
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "make").unwrap();
        let target = words[at + 1];
        assert!(
            makefile
                .lines()
                .any(|l| l.starts_with(&format!("{target}:"))),
            "`{cmd}`: the Makefile has no target {target}"
        );
        for var in words[at + 2..].iter().filter_map(|w| w.split_once('=')) {
            assert!(
                makefile.contains(&format!("{} ?=", var.0)),
                "`{cmd}`: the Makefile does not read {}",
                var.0
            );
        }
    }
}

/// A fresh directory where `portability-matrix` is the binary under test.
struct Sandbox {
    dir: tempfile::TempDir,
    path_var: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_portability-matrix"),
            bin.join("portability-matrix"),
        )
        .unwrap();
        let path_var = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Sandbox { dir, path_var }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The command as this sandbox runs it.
    fn localize(&self, cmd: &str, cell: &str) -> String {
        let tmp = format!("{}/", self.dir.path().join("tmp").display());
        // /tmp/ first: the binary itself may live under /tmp (a target dir there).
        cmd.replace("/tmp/", &tmp)
            .replace(
                "target/release/portability-matrix",
                env!("CARGO_BIN_EXE_portability-matrix"),
            )
            .replace("amd64/ext4", cell)
    }

    fn shell(&self, script: &str) -> std::process::Output {
        Command::new("bash")
            .args(["-c", script])
            .current_dir(self.work())
            .env("PATH", &self.path_var)
            .env("PM_BLOCK_REPLAY", "off")
            .env_remove("GITHUB_SHA")
            .env("GIT_CEILING_DIRECTORIES", self.dir.path())
            .output()
            .unwrap()
    }
}

#[test]
fn every_runnable_documented_command_works_as_written() {
    if Command::new("jq").arg("--version").output().is_err() {
        skip("jq is not installed, and the README reads the seed with it");
        return;
    }
    let s = Sandbox::new();
    std::fs::create_dir_all(s.work()).unwrap();
    // The evidence the README's commands read: one real cell, then the same laid out as
    // download-artifact leaves it.
    let cell = s.shell("portability-matrix cell --evidence evidence --iterations 10 --seed 5");
    assert_eq!(cell.status.code(), Some(0), "{cell:?}");
    let arch_fs = std::fs::read_dir(s.work().join("evidence"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .map(|arch| {
            let fs = std::fs::read_dir(arch.path())
                .unwrap()
                .flatten()
                .next()
                .unwrap();
            format!(
                "{}/{}",
                arch.file_name().to_string_lossy(),
                fs.file_name().to_string_lossy()
            )
        })
        .unwrap();
    let (arch, fs) = arch_fs.split_once('/').unwrap();
    let artifact = s
        .work()
        .join(format!("artifacts/portability-evidence-{arch}-{fs}"));
    std::fs::create_dir_all(&artifact).unwrap();
    let copied = Command::new("cp")
        .arg("-r")
        .arg(s.work().join(format!("evidence/{arch_fs}/run-1")))
        .arg(&artifact)
        .status()
        .unwrap();
    assert!(copied.success());
    // The gate's commands ask git for HEAD: the work directory is a checkout of its own.
    let git = s.shell(
        "git init -q && git -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m t",
    );
    assert!(git.status.success(), "{git:?}");
    let mut ran = 0;
    for b in blocks() {
        // One shell per block: earlier lines (SEED=…) set what later ones use.
        let mut script = String::from("set -u\n");
        let mut run_here = Vec::new();
        for cmd in &b.commands {
            let Some(Run(expected)) = check_of(cmd) else {
                continue;
            };
            let local = s.localize(cmd, &arch_fs);
            let i = run_here.len();
            let is_assignment = cmd.split_once('=').is_some_and(|(v, _)| {
                !v.is_empty() && v.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
            if is_assignment {
                script.push_str(&format!(
                    "{local} || {{ echo \"FAILED {i} $?\"; exit 1; }}\n"
                ));
            } else {
                script.push_str(&format!(
                    "( {local} ) > out.txt 2>&1; rc=$?\nif [ $rc -ne {expected} ]; then echo \"FAILED {i} $rc\"; cat out.txt; exit 1; fi\n"
                ));
            }
            run_here.push(cmd.clone());
            ran += 1;
        }
        let out = s.shell(&script);
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let which = text
                .lines()
                .find_map(|l| l.strip_prefix("FAILED "))
                .and_then(|l| l.split_whitespace().next()?.parse::<usize>().ok())
                .and_then(|i| run_here.get(i));
            panic!(
                "{}: `{}` did not work as written:\n{text}{}",
                b.file,
                which.map_or("?", |c| c.as_str()),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(ran >= 15, "only {ran} documented commands ran");
}
