//! `portability-matrix cell`: one matrix cell, its four steps and its evidence.
//!
//! 1. the WAL's conformance suite (R1-R5, S1-S12, the lock across processes) in the directory;
//! 2. crashes: the seeded crash harness's injected faults, kill -9 runs of a real writer, and
//!    an exploration of the states a power cut can leave (`--seed-steps-only`: the first only);
//! 3. a known-good 5-entry WAL, written and verified (and kept in the evidence, re-verifiable);
//! 4. the atomic-rename check that the safe_seq update rests on.
//!
//! The architecture is the running binary's and the filesystem is read from the mount holding
//! the directory, never taken from arguments, so the evidence says what really ran where.
//! `pass` is true only when all four steps passed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::CellArgs;
use crate::crash::leftovers::Iterations;
use crate::crash::seeded::clock_seed;
use crate::crash::suite::{run_crash_tests, CrashPlan};
use crate::evidence::layout::{self as evidence, AUTONOMY_LOG, CMD_TXT, FIXTURE_DIR, WAL_VERIFY};
use crate::evidence::log::{self, Log};
use crate::evidence::record::{
    self as report, Invariants, StepResult, Steps, Timestamp, WalVerify,
};
use crate::platform;
use crate::self_exec::self_command;
use crate::shell::shell_quote;

/// The payloads of the known-good fixture.
pub const FIXTURE: [&str; 5] = [
    r#"{"seq":1,"event":"boot","ok":true}"#,
    r#"{"seq":2,"metric":"cpu.load","value":0.42}"#,
    r#"{"seq":3,"metric":"mem.free","value":1048576,"unit":"bytes"}"#,
    r#"{"seq":4,"event":"note","text":"ünïcødé ✓"}"#,
    r#"{"seq":5,"event":"shutdown","ok":true}"#,
];

fn step<T>(
    log: &mut Log,
    name: &str,
    f: impl FnOnce(&mut Log) -> Result<(bool, String, T)>,
) -> (StepResult, Option<T>) {
    log.line(&format!("== {name} =="));
    let started = Instant::now();
    let (pass, msg, value) = match f(log) {
        Ok((pass, msg, v)) => (pass, msg, Some(v)),
        Err(e) => (false, format!("{e:#}"), None),
    };
    let millis = started.elapsed().as_millis() as u64;
    log.line(&format!(
        "{name}: {} ({msg}) [{millis} ms]",
        if pass { "PASS" } else { "FAIL" }
    ));
    (StepResult { pass, msg, millis }, value)
}

pub fn run(args: &CellArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(clock_seed);
    let base: PathBuf = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir(),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let work = tempfile::Builder::new()
        .prefix("pm-cell-")
        .tempdir_in(&base)
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
    let run_dir = evidence::claim_run(&args.evidence, arch, &mount.fs_type)?;
    let mut log = Log::create(run_dir.path.join(AUTONOMY_LOG))?;
    let dmesg_before = log::dmesg();
    write_cmd(&run_dir.path, args, seed, &base, &mount)?;
    log.line(&format!(
        "cell {arch}/{} run-{}: seed {seed}, {} iterations, in {} ({} on {}, options {}; {})",
        mount.fs_type,
        run_dir.n,
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

    let (conformance, checks) = step(&mut log, "step 1: conformance suite", |log| {
        let probe = |d: &Path| lock_probe(d);
        let results = wal::conformance::run_all(&work.path().join("conformance"), Some(&probe));
        for r in &results {
            log.line(&format!(
                "  {:<5} {} {} ({})",
                r.id,
                if r.pass { "PASS" } else { "FAIL" },
                r.claim,
                r.msg
            ));
        }
        let failed = results.iter().filter(|r| !r.pass).count();
        Ok((
            failed == 0,
            format!(
                "{} of {} checks passed",
                results.len() - failed,
                results.len()
            ),
            results,
        ))
    });

    let mut invariants = Invariants::new();
    let mut violations = Vec::new();
    let (harness_step, step2) = step(&mut log, "step 2: crash harness", |log| {
        let plan = CrashPlan {
            seed_iterations: true,
            kills: if args.seed_steps_only { 0 } else { args.kills },
            kill_max_delay_ms: 20,
            explore_bound: (!args.seed_steps_only).then_some(args.explore_bound),
            on_disk_states: 100,
        };
        let step2 = run_crash_tests(
            seed,
            args.iterations,
            None,
            &plan,
            &work.path().join("harness"),
            &self_command,
            &mut |l| log.line(&format!("  {l}")),
        )?;
        for (source, r) in step2.reports() {
            report::merge_invariants(&mut invariants, &source, report::invariants(r));
            violations.extend(report::violations(r, &source));
        }
        Ok((step2.pass(), step2.summary(seed), step2))
    });

    let (fixture, fixture_report) = step(&mut log, "step 3: known-good fixture", |_| {
        let r = known_good_fixture(
            &work.path().join("fixture"),
            &run_dir.path.join(FIXTURE_DIR),
        )?;
        let ok = r.pass() && r.frames == 5 && r.safe_seq.get() == 5;
        Ok((
            ok,
            format!(
                "{} frames, safe_seq {}, {} violations",
                r.frames,
                r.safe_seq,
                r.violations.len()
            ),
            r,
        ))
    });
    if let Some(r) = &fixture_report {
        report::merge_invariants(&mut invariants, "fixture", report::invariants(r));
        violations.extend(report::violations(r, "fixture"));
    }
    if invariants.is_empty() {
        for inv in wal::verify::Invariant::ALL {
            invariants.insert(
                inv.key().into(),
                report::InvariantResult {
                    pass: false,
                    msg: "not checked: no WAL was verified".into(),
                },
            );
        }
    }

    let (rename, _) = step(&mut log, "step 4: atomic rename", |_| {
        let msg = rename_check(&work.path().join("rename"), seed)?;
        Ok((true, msg, ()))
    });

    let (harness, kill_runs, power_loss) = match step2 {
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
    let pass = conformance.pass && harness_step.pass && fixture.pass && rename.pass;
    let report = WalVerify {
        timestamp: Timestamp::now(),
        seed,
        arch: arch.into(),
        fs_type: mount.fs_type.clone(),
        total_iterations: args.iterations,
        passed: harness.passed(),
        failed: args.iterations - harness.passed(),
        pass,
        rename_atomic: if rename.pass { "PASS" } else { "FAIL" },
        run_n: run_dir.n,
        invariants,
        violations,
        iterations: harness.outcomes.iter().map(|o| o.record.clone()).collect(),
        schema_version: report::SCHEMA_VERSION,
        commit: args.commit.clone().filter(|c| !c.is_empty()),
        steps: Steps {
            conformance,
            crash_harness: harness_step,
            fixture,
            rename,
        },
        conformance: checks.unwrap_or_default(),
        endian: platform::endian(),
        host_kernel: platform::kernel(),
        mount: mount.clone(),
        dir: base.display().to_string(),
        tool: crate::build_info::current(),
        duration_ms: started.elapsed().as_millis() as u64,
        kill_runs,
        power_loss,
    };
    let out = run_dir.path.join(WAL_VERIFY);
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    log::write_dmesg(&run_dir.path, &dmesg_before, &log::dmesg())?;
    let verdict = if pass { "PASS" } else { "FAIL" };
    log.line(&format!(
        "cell {arch}/{}: {verdict} (conformance {}, harness {}/{}, fixture {}, rename {}) in {:.1} s; evidence {}",
        mount.fs_type,
        pass_word(report.steps.conformance.pass),
        report.passed,
        report.total_iterations,
        pass_word(report.steps.fixture.pass),
        report.rename_atomic,
        started.elapsed().as_secs_f64(),
        run_dir.path.display()
    ));
    if !pass {
        let kept = work.keep();
        log.line(&format!(
            "the cell's WAL directories are kept for inspection in {}",
            kept.display()
        ));
        log.line(&format!(
            "reproduce the crash harness: make portability-crash-harness SEED={seed} ITERATIONS={}",
            args.iterations
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn pass_word(p: bool) -> &'static str {
    if p {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Writes the fixture WAL through the real append path, verifies it, and copies its files into
/// the evidence so it can be verified again later with `portability-matrix verify`.
fn known_good_fixture(dir: &Path, keep: &Path) -> Result<wal::verify::Report> {
    std::fs::create_dir_all(dir)?;
    let mut w = wal::Wal::open(dir)?;
    for p in FIXTURE {
        w.append(p.as_bytes())?;
    }
    let back: Vec<wal::Entry> = w.read_from(wal::Seq::ZERO).collect::<Result<_, _>>()?;
    anyhow::ensure!(
        back.iter()
            .map(|e| e.payload.as_slice())
            .eq(FIXTURE.iter().map(|p| p.as_bytes())),
        "the fixture did not read back byte for byte"
    );
    drop(w);
    let report = wal::verify::verify_dir(dir)?;
    std::fs::create_dir_all(keep)?;
    for name in [wal::format::LOG_FILE, wal::format::SAFE_SEQ_FILE] {
        std::fs::copy(dir.join(name), keep.join(name))
            .with_context(|| format!("cannot keep the fixture's {name}"))?;
    }
    Ok(report)
}

/// Step 4: a sentinel written to `target.tmp` and renamed over `target` (which holds an older
/// value) must read back; while it happens, a reader must only ever see a whole old or a whole
/// new value, never a missing or partial file.
fn rename_check(dir: &Path, seed: u64) -> Result<String> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let target = dir.join("target");
    let tmp = dir.join("target.tmp");
    let write_synced = |p: &Path, v: &str| -> Result<()> {
        let mut f = std::fs::File::create(p)?;
        f.write_all(v.as_bytes())?;
        f.sync_all()?;
        Ok(())
    };
    let rounds = 200u32;
    write_synced(&target, &format!("old-{seed}-0"))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|s| -> Result<u64> {
        let reader = s.spawn(|| -> Result<u64> {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let v = std::fs::read_to_string(&target)
                    .context("a reader found target missing during a rename")?;
                anyhow::ensure!(
                    v.starts_with(&format!("old-{seed}-"))
                        || v.starts_with(&format!("sentinel-{seed}-")),
                    "a reader saw a partial value {v:?}"
                );
                n += 1;
            }
            Ok(n)
        });
        let writer = (1..=rounds).try_for_each(|i| -> Result<()> {
            let sentinel = format!("sentinel-{seed}-{i}");
            write_synced(&tmp, &sentinel)?;
            std::fs::rename(&tmp, &target).context("rename target.tmp -> target")?;
            std::fs::File::open(dir)?.sync_all()?;
            let back = std::fs::read_to_string(&target)?;
            anyhow::ensure!(
                back == sentinel,
                "after rename {i} target holds {back:?}, not {sentinel:?}"
            );
            anyhow::ensure!(!tmp.exists(), "target.tmp still exists after rename {i}");
            Ok(())
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        writer?;
        reads
    })?;
    Ok(format!("{rounds} renames over an existing target read back; a concurrent reader saw {reads} whole values"))
}

/// Asks a second process whether it can open the WAL in `dir`; `Ok(true)` when the lock refused it.
fn lock_probe(dir: &Path) -> Result<bool, String> {
    let out = self_command()?
        .arg("lock-probe")
        .arg("--dir")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot spawn this binary for the lock probe: {e}"))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "the lock probe failed: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The hidden `lock-probe` subcommand: exit 0 when the lock refused the open, 1 when it opened.
pub fn run_lock_probe(dir: &Path) -> Result<ExitCode> {
    match wal::Wal::open(dir) {
        Err(wal::Error::Locked { .. }) => Ok(ExitCode::SUCCESS),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(e) => Err(e.into()),
    }
}

fn write_cmd(
    run: &Path,
    args: &CellArgs,
    seed: u64,
    base: &Path,
    mount: &platform::Mount,
) -> Result<()> {
    let argv: Vec<String> = std::env::args().map(|a| shell_quote(&a)).collect();
    let ev = shell_quote(&args.evidence.display().to_string());
    let step2 = if args.seed_steps_only {
        " --seed-steps-only".to_string()
    } else {
        format!(
            " --kills {} --explore-bound {}",
            args.kills, args.explore_bound
        )
    };
    let text = format!(
        "# How to reproduce this run. The seed drives every random choice of the crash harness.\n\
         # tool: portability-matrix {}\n\
         # host kernel: {}\n\
         # arch: {} ({}-endian); fs: {} on {} at {} (options {}; {})\n\
         # commit certified: {}\n\
         # as invoked:\n\
         {}\n\
         # the same cell, explicitly:\n\
         portability-matrix cell --dir {} --evidence {ev} --iterations {} --seed {seed}{step2}\n\
         # the crash harness alone, same seed:\n\
         portability-matrix crash-harness --seed {seed} --iterations {}\n\
         make portability-crash-harness SEED={seed} ITERATIONS={}\n\
         # step 2's kill -9 runs and power-loss exploration alone, same seed:\n\
         portability-matrix crash-harness --fault kill --kills {} --seed {seed}\n\
         portability-matrix crash-explore --workload standard --seed {seed} --bound {}\n\
         # verify this run's known-good fixture again:\n\
         portability-matrix verify --dir {}\n",
        crate::build_info::VERSION_LINE,
        platform::kernel(),
        platform::arch(),
        platform::endian(),
        mount.fs_type,
        mount.source,
        mount.mount_point.display(),
        mount.options,
        mount.super_options,
        args.commit.as_deref().unwrap_or("unknown"),
        argv.join(" "),
        shell_quote(&base.display().to_string()),
        args.iterations,
        args.iterations,
        args.iterations,
        args.kills,
        args.explore_bound,
        shell_quote(&run.join(FIXTURE_DIR).display().to_string()),
    );
    std::fs::write(run.join(CMD_TXT), text)
        .with_context(|| format!("cannot write {}", run.join(CMD_TXT).display()))
}
