//! What a cell runs, once the command line has been read: every default resolved (the base
//! directory, the seed), so that what runs is exactly what the evidence records.

use std::path::PathBuf;

/// What `cell` runs, resolved from the command line.
pub struct CellOptions {
    /// Where the cell's work directory is made: its filesystem is the one certified.
    pub base: PathBuf,
    /// The root of the evidence tree.
    pub evidence: PathBuf,
    /// The seed's crash-harness iterations.
    pub iterations: u32,
    pub seed: u64,
    /// The commit certified, when given (`--commit`, `GITHUB_SHA`); otherwise the git checkout
    /// the cell runs in is asked.
    pub commit: Option<String>,
    /// kill -9 runs of step 2.
    pub kills: u32,
    /// The power-loss exploration's exhaustive bound per crash point.
    pub explore_bound: u64,
    /// Step 2 without kill -9 runs and power-loss exploration: the seed's four steps only.
    pub seed_steps_only: bool,
    /// Run the fault step (off with `--no-faults`).
    pub faults: bool,
    /// Explore block faults in step 2's power loss (off with `--no-block-faults`).
    pub block_faults: bool,
    /// Every kill and iteration on the terminal too, not only in `autonomy.log`.
    pub verbose: bool,
    /// Whether to run block replay where it can run (qemu-system and the guest kernel present).
    pub block_replay: bool,
}
