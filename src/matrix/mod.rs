//! `portability-matrix matrix`: the full matrix on one machine.
//!
//! Every architecture x filesystem cell runs as a child process of that architecture's own
//! binary (foreign ones statically cross-built and executed under QEMU user emulation, see
//! `emulation`), on a filesystem made fresh for it on a loop device (`loopfs`), with one seed for
//! the whole run. The cells write their own evidence; the matrix checks that the evidence names
//! the requested architecture and filesystem, adds what only it knows (`annotate`), prints the
//! table and writes `<evidence>/matrix.json` (`summary`).
//!
//! Exit 0 when every cell that ran passed, 1 when one failed (or was skipped and
//! `--fail-on-skip` covers it), 2 when the run could not be made or was interrupted.

mod annotate;
mod cells;
mod child;
pub mod emulation;
mod interrupt;
mod judge;
mod loopfs;
mod skip_record;
mod summary;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{MatrixArgs, SkipPolicy};
use crate::shell::shell_quote;
use cells::{Host, Request, Status};

pub fn run(args: &MatrixArgs) -> Result<ExitCode> {
    interrupt::install();
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(crate::crash::seeded::clock_seed);
    let mut plan: Vec<(String, String)> = Vec::new();
    for a in &args.arch.0 {
        for f in &args.fs.0 {
            plan.push((a.clone(), f.clone()));
        }
    }
    for c in &args.extra_cells {
        if !plan.iter().any(|(a, f)| *a == c.arch && *f == c.fs) {
            plan.push((c.arch.clone(), c.fs.clone()));
        }
    }
    std::fs::create_dir_all(&args.evidence)
        .with_context(|| format!("cannot create {}", args.evidence.display()))?;
    let evidence = std::path::absolute(&args.evidence)
        .with_context(|| format!("cannot resolve {}", args.evidence.display()))?;
    let host = Host::detect();
    println!(
        "matrix: seed {seed}; {} cells ({}); {} iterations each; host {} ({}){}",
        plan.len(),
        plan.iter()
            .map(|(a, f)| format!("{a}/{f}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.iterations,
        host.arch,
        host.kernel,
        if host.root { "" } else { "; not root" }
    );

    let mut outcomes = Vec::new();
    for (i, (arch, fs)) in plan.iter().enumerate() {
        let index = i + 1;
        let rerun = rerun_line(args, arch, fs, seed);
        if interrupt::interrupted() {
            outcomes.push(cells::Outcome::not_run(
                index,
                arch,
                fs,
                args.iterations,
                "not run: the matrix was interrupted",
            ));
            continue;
        }
        println!("== matrix cell {index} of {}: {arch}/{fs} ==", plan.len());
        let req = Request {
            index,
            arch,
            fs,
            seed,
            iterations: args.iterations,
            evidence: &evidence,
            binaries: &args.binaries,
            image_size: args.image_size,
            timeout: (args.cell_timeout > 0).then(|| Duration::from_secs(args.cell_timeout)),
            commit: args.commit.as_deref().filter(|c| !c.is_empty()),
            emulation: args.emulation,
            host: &host,
            rerun,
        };
        let mut o = cells::run_cell(&req);
        if o.status == Status::Skip {
            match skip_record::write(&req, &o) {
                Ok(dir) => o.run_dir = Some(dir.display().to_string()),
                Err(e) => {
                    let why = o.reason.take().unwrap_or_default();
                    o.status = Status::Fail;
                    o.reason = Some(format!("skipped ({why}), and the record of it: {e:#}"));
                }
            }
        }
        println!(
            "== matrix cell {index} {arch}/{fs}: {}{} ({:.1} s)",
            o.status.word(),
            o.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            o.seconds
        );
        outcomes.push(o);
    }

    let interrupted = interrupt::interrupted();
    print!("{}", summary::table(&outcomes));
    let m = summary::Matrix::new(
        seed,
        args.iterations,
        &host,
        &outcomes,
        interrupted,
        started.elapsed(),
    );
    let out = evidence.join("matrix.json");
    std::fs::write(&out, serde_json::to_string_pretty(&m)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("matrix: {}; {}", m.verdict_line(), out.display());

    if interrupted {
        anyhow::bail!(
            "the matrix was interrupted; the cells that ran are in {}",
            out.display()
        );
    }
    let failed = outcomes.iter().any(|o| o.status == Status::Fail);
    let skipped_required = outcomes.iter().any(|o| {
        o.status == Status::Skip
            && match args.fail_on_skip {
                Some(SkipPolicy::Any) => true,
                Some(SkipPolicy::Seed) => o.seed_cell,
                None => false,
            }
    });
    if skipped_required {
        eprintln!("matrix: a cell that --fail-on-skip requires was skipped");
    }
    Ok(if failed || skipped_required {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The `matrix` command line that runs one cell again with the same seed.
fn rerun_line(args: &MatrixArgs, arch: &str, fs: &str, seed: u64) -> String {
    let q = |p: &std::path::Path| shell_quote(&p.display().to_string());
    format!(
        "portability-matrix matrix --arch {arch} --fs {fs} --seed {seed} --iterations {} --binaries {} --evidence {} --image-size {}{}",
        args.iterations,
        q(&args.binaries),
        q(&args.evidence),
        args.image_size,
        match args.emulation {
            crate::cli::EmulationMode::Auto => "",
            crate::cli::EmulationMode::Explicit => " --emulation explicit",
        }
    )
}
