//! A cell from start to end: a fresh work directory on the filesystem under test, a claimed run
//! directory, the four steps, then `wal_verify.json`, `dmesg.txt` and the verdict.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use tempfile::TempDir;

use super::cmd::write_cmd;
use super::options::CellOptions;
use super::steps::{run_steps, StepResults};
use crate::block_replay::summary::BlockReplay;
use crate::coverage::Minimums;
use crate::crash::leftovers::Iterations;
use crate::evidence::layout::{claim_run, RunDir, AUTONOMY_LOG, FIXTURE_DIR, WAL_VERIFY};
use crate::evidence::log::{self, Log};
use crate::evidence::record::{self as report, CoverageRecord, Steps, Timestamp, WalVerify};
use crate::git;
use crate::platform::{self, Mount};

/// The commit the run certifies, and where that came from.
struct Certified {
    commit: Option<String>,
    /// Whether the checkout had uncommitted changes (only for a commit read from git).
    dirty: Option<bool>,
    /// How the commit was found, or why none was.
    note: String,
}

fn certified_commit(args: &CellOptions) -> Certified {
    if let Some(c) = &args.commit {
        return Certified {
            commit: Some(c.clone()),
            dirty: None,
            note: "given (--commit or GITHUB_SHA)".into(),
        };
    }
    match git::checkout(crate::build_info::COMMIT) {
        git::Checkout::Commit { sha, dirty } => Certified {
            note: if dirty {
                "the git checkout's HEAD, with uncommitted changes to tracked files".into()
            } else {
                "the git checkout's HEAD, clean".into()
            },
            commit: Some(sha),
            dirty: Some(dirty),
        },
        git::Checkout::Unknown(why) => Certified {
            commit: None,
            dirty: None,
            note: format!("unknown: {why}"),
        },
    }
}

/// Where a cell runs and where its evidence goes.
struct Workspace {
    work: TempDir,
    mount: Mount,
    arch: &'static str,
    run_dir: RunDir,
    log: Log,
    dmesg_before: String,
    certified: Certified,
}

pub fn run(args: &CellOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let mut ws = prepare(args)?;
    let keep_fixture = ws.run_dir.path.join(FIXTURE_DIR);
    let steps = run_steps(
        args,
        ws.work.path(),
        &ws.mount.fs_type,
        &keep_fixture,
        &mut ws.log,
    );
    let block_replay = block_replay_step(args, &ws.mount.fs_type, &ws.run_dir.path, &mut ws.log);
    let pass = steps.pass() && block_replay.passes();
    let record = evidence_record(args, &ws, steps, block_replay, started);
    let out = ws.run_dir.path.join(WAL_VERIFY);
    std::fs::write(&out, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    log::write_dmesg(&ws.run_dir.path, &ws.dmesg_before, &log::dmesg())?;
    report_verdict(args, ws, &record, started);
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Makes the work directory, checks what filesystem it is on, claims the run directory and
/// starts its log and `cmd.txt`.
fn prepare(args: &CellOptions) -> Result<Workspace> {
    let base = &args.base;
    if base.exists() && !base.is_dir() {
        anyhow::bail!(
            "--dir {} is not a directory; give a directory (made if missing) on the filesystem to certify",
            base.display()
        );
    }
    std::fs::create_dir_all(base).with_context(|| format!("cannot create {}", base.display()))?;
    let work = tempfile::Builder::new()
        .prefix("pm-cell-")
        .tempdir_in(base)
        .with_context(|| format!("cannot create a work directory in {}", base.display()))?;
    let mount = platform::mount_of(work.path())?;
    let arch = platform::arch();
    if let Some(family) = crate::filesystems::statfs_family(work.path()) {
        anyhow::ensure!(
            family == mount.fs_type || (family == "ext4" && mount.fs_type.starts_with("ext")),
            "the mount table says {} is {} but statfs says {family}",
            work.path().display(),
            mount.fs_type
        );
    }
    let run_dir = claim_run(&args.evidence, arch, &mount.fs_type)?;
    let mut log = Log::create(run_dir.path.join(AUTONOMY_LOG), args.verbose)?;
    let dmesg_before = log::dmesg();
    let certified = certified_commit(args);
    write_cmd(
        &run_dir.path,
        args,
        certified.commit.as_deref(),
        &certified.note,
        base,
        &mount,
    )?;
    log.line(&format!(
        "cell {arch}/{} run-{}: seed {}, {} iterations, in {} ({} on {}, options {}; {})",
        mount.fs_type,
        run_dir.n,
        args.seed,
        args.iterations,
        work.path().display(),
        mount.fs_type,
        mount.source,
        mount.options,
        mount.super_options
    ));
    log.line(&format!(
        "tool {}; kernel {}",
        crate::build_info::VERSION_LINE,
        platform::kernel()
    ));
    log.line(&format!(
        "commit certified: {} ({})",
        certified.commit.as_deref().unwrap_or("none"),
        certified.note
    ));
    Ok(Workspace {
        work,
        mount,
        arch,
        run_dir,
        log,
        dmesg_before,
        certified,
    })
}

/// `wal_verify.json` from what the steps found.
fn evidence_record(
    args: &CellOptions,
    ws: &Workspace,
    steps: StepResults,
    block_replay: BlockReplay,
    started: Instant,
) -> WalVerify {
    let pass = steps.pass() && block_replay.passes();
    let coverage = steps
        .crash_results
        .as_ref()
        .map(|r| r.coverage())
        .unwrap_or_default();
    let (harness, kill_runs, power_loss) = match steps.crash_results {
        Some(s) => (
            s.run,
            s.kills.map(|k| k.summary),
            s.power.map(|p| p.summary),
        ),
        None => (
            Iterations {
                outcomes: Vec::new(),
            },
            None,
            None,
        ),
    };
    WalVerify {
        timestamp: Timestamp::now(),
        seed: args.seed,
        arch: ws.arch.into(),
        fs_type: ws.mount.fs_type.clone(),
        total_iterations: args.iterations,
        passed: harness.passed(),
        failed: args.iterations - harness.passed(),
        pass,
        rename_atomic: if steps.rename.pass { "PASS" } else { "FAIL" },
        run_n: ws.run_dir.n,
        invariants: steps.invariants,
        violations: steps.violations,
        iterations: harness.outcomes.iter().map(|o| o.record.clone()).collect(),
        schema_version: report::SCHEMA_VERSION,
        commit: ws.certified.commit.clone(),
        commit_dirty: ws.certified.dirty,
        steps: Steps {
            conformance: steps.conformance,
            crash_harness: steps.crash,
            fixture: steps.fixture,
            rename: steps.rename,
            faults: steps.faults_step,
        },
        conformance: steps.checks,
        endian: platform::endian(),
        host_kernel: platform::kernel(),
        mount: ws.mount.clone(),
        dir: args.base.display().to_string(),
        tool: crate::build_info::current(),
        duration_ms: started.elapsed().as_millis() as u64,
        kill_runs,
        power_loss,
        coverage: CoverageRecord::new(coverage, Minimums::DEFAULT),
        faults: steps.faults,
        block_replay,
    }
}

/// Block replay on the cell's architecture and filesystem, where it can run; its logs go beside
/// the evidence when they are small.
fn block_replay_step(
    args: &CellOptions,
    fs: &str,
    run_dir: &std::path::Path,
    log: &mut Log,
) -> BlockReplay {
    log.line("== block replay ==");
    let section = if args.block_replay {
        crate::block_replay::host::run(&crate::block_replay::host::Request {
            arch: platform::arch().into(),
            fs: fs.into(),
            mount_options: None,
            seed: args.seed,
            protocol: crate::crash::workload::Protocol::Real,
            subset_bound: crate::block_replay::host::DEFAULT_SUBSETS,
            tears: 0,
            keep: None,
            guest_bin: None,
            check_arch: None,
            try_kvm: true,
            evidence_dir: Some(run_dir.to_path_buf()),
        })
    } else {
        BlockReplay::skip("not requested (--block-replay off or PM_BLOCK_REPLAY=off)")
    };
    match (&section.run, &section.reason) {
        (Some(r), _) => log.line(&format!(
            "block replay: {} ({}) [{:.1} s]",
            section.status,
            r.describe(),
            r.seconds
        )),
        (None, Some(why)) => log.line(&format!("block replay: {} ({why})", section.status)),
        (None, None) => log.line(&format!("block replay: {}", section.status)),
    }
    if let Some(r) = &section.run {
        for f in &r.failures {
            log.line(&format!(
                "  state {} ({}): {}; rebuild: {}",
                f.state, f.check, f.msg, f.rebuild
            ));
        }
    }
    section
}

/// The verdict line; after a failure, the WAL directories are kept and the replay is named.
fn report_verdict(args: &CellOptions, ws: Workspace, record: &WalVerify, started: Instant) {
    let Workspace {
        work,
        mut log,
        run_dir,
        ..
    } = ws;
    let verdict = pass_word(record.pass);
    log.line(&format!(
        "cell {}/{}: {verdict} (conformance {}, harness {}/{}, fixture {}, rename {}, faults {}) in {:.1} s; evidence {}",
        record.arch,
        record.fs_type,
        pass_word(record.steps.conformance.pass),
        record.passed,
        record.total_iterations,
        pass_word(record.steps.fixture.pass),
        record.rename_atomic,
        match &record.steps.faults {
            Some(s) => pass_word(s.pass),
            None => "off",
        },
        started.elapsed().as_secs_f64(),
        run_dir.path.display()
    ));
    if !record.pass {
        let kept: PathBuf = work.keep();
        log.line(&format!(
            "the cell's WAL directories are kept for inspection in {}",
            kept.display()
        ));
        log.line(&format!(
            "reproduce step 2 exactly: {}",
            super::cmd::crash_harness_line(args)
        ));
    }
}

fn pass_word(p: bool) -> &'static str {
    if p {
        "PASS"
    } else {
        "FAIL"
    }
}
