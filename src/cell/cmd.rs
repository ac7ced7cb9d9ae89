//! `cmd.txt`: how to reproduce a cell's run, with the versions of everything that ran.

use std::path::Path;

use anyhow::{Context, Result};

use super::options::CellOptions;
use crate::evidence::layout::{CMD_TXT, FIXTURE_DIR};
use crate::platform;
use crate::shell::shell_quote;

pub fn write_cmd(
    run: &Path,
    args: &CellOptions,
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
