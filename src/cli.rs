//! The command line, in one place: one `Cli`, one `Command` enum, one `…Args` struct per
//! subcommand. Doc comments are the help text. Everything is parsed into typed values here
//! (paths, numbers, enums); the subcommands never parse strings themselves.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cell::CellOptions;
use crate::cell_id::CellId;
use crate::crash::explore;
use crate::crash::seeded::clock_seed;
use crate::crash::suite::CrashPlan;
use crate::crash::workload::{Protocol, Workload};
use crate::crash_explore::ExploreRequest;
use crate::crash_harness::HarnessOptions;
use crate::gate::{GateConfig, GateMode, PolicyChoice, RepoSlug, Sha};
use crate::matrix::{EmulationMode, MatrixConfig, SkipPolicy};

/// Certifies a write-ahead log's crash-safety invariants across CPU architectures and
/// filesystems, keeps the evidence, and gates releases on it.
///
/// Exit codes: 0 the check passed (the cell certifies, the WAL verifies, the gate lets the
/// release through); 1 it did not; 2 it could not be decided (bad arguments, unreadable input,
/// an environment that cannot run the check).
#[derive(Debug, Parser)]
#[command(name = "portability-matrix", version = crate::build_info::VERSION_LINE, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the four steps of one matrix cell on the filesystem holding --dir and write its
    /// evidence to <evidence>/<arch>/<fs>/run-<N>/.
    Cell(CellArgs),
    /// Check a WAL directory against R1-R5 and JSON integrity, read-only, and report.
    Verify(VerifyArgs),
    /// Run the seeded randomized crash harness.
    CrashHarness(CrashHarnessArgs),
    /// Write a large valid WAL, for fixtures and benchmarks.
    Generate(GenerateArgs),
    /// Explore every state a power cut could leave during a recorded workload, check each
    /// (recovery, acknowledged entries, S1, R1-R5, S6), or replay one state.
    CrashExplore(CrashExploreArgs),
    /// Open a WAL and append until killed, printing `ack <seq>` after each append returns.
    /// Used by the kill -9 runs.
    #[command(hide = true)]
    CrashWriter(CrashWriterArgs),
    /// Keep crash states on disk for a binary of the other byte order to recover: the
    /// leftovers of writers killed with SIGKILL and the model's power-loss states (some struck
    /// by a block fault), with a manifest. Used by the matrix's byte-order crossing.
    #[command(hide = true)]
    CrashStates(CrashStatesArgs),
    /// Recover a copy of every state `crash-states` wrote and report what was recovered;
    /// with --against, compare with another binary's report (exit 1 when they differ). Used by
    /// the matrix's byte-order crossing.
    #[command(hide = true)]
    RecoverStates(RecoverStatesArgs),
    /// Run a cell's fault step alone: a writer meets a short write, EIO, ENOSPC or a failed
    /// sync (from the storage seam, the kernel's file-size limit, a full filesystem of the type
    /// holding --dir) and must refuse the failed append, stop, and lose nothing acknowledged.
    FaultHarness(FaultHarnessArgs),
    /// Under a file-size limit, open a WAL and append until an append fails, printing each
    /// step. Used by the fault step's file-size-limit kind.
    #[command(hide = true)]
    FaultWriter(FaultWriterArgs),
    /// Decide whether a release may proceed: read every cell's evidence (the workflow run's
    /// artifacts on GitHub, or a folder), apply the phase policy and the waivers, and print the
    /// decision. Exit 0 pass, 1 blocked (release mode), 2 the gate could not decide.
    Gate(GateArgs),
    /// Try to open a WAL directory from a second process and report whether its lock refused
    /// the open (exit 0 refused, 1 opened). Used by the conformance suite's lock check.
    #[command(hide = true)]
    LockProbe(LockProbeArgs),
    /// Run the full matrix: every architecture x filesystem cell as a child process, each on a
    /// freshly made loop-mounted filesystem, foreign architectures under QEMU user emulation;
    /// print the table and write <evidence>/matrix.json.
    ///
    /// Exit 0 when every cell that ran passed, 1 when one failed (SKIP is not a failure unless
    /// --fail-on-skip says so), 2 when the matrix could not run or was interrupted.
    Matrix(MatrixArgs),
    /// Power loss on the real filesystem: boot a Debian kernel of --arch under qemu-system,
    /// record every block write of the standard workload on a real --fs, then check every
    /// state a power cut could leave (each flush point, and subsets of each flush's writes) in a
    /// second boot of the same kernel. Needs qemu-system and the kernel package
    /// (scripts/install-guest.sh ARCH); nothing is loaded into or mounted on the host.
    ///
    /// Exit 0 every state passed, 1 a state violated the oracle or R1-R5/S1/S6, 2 block
    /// replay could not run here (the reason is printed).
    BlockReplay(BlockReplayArgs),
    /// Rebuild one replayed state's disk image from a block replay's two logs, for inspection.
    ReplayState(ReplayStateArgs),
    /// Print the Debian package that installs `mkfs.<FS>` (exit 2 for a filesystem the tool
    /// has no package for). Used by the action's cell script.
    #[command(hide = true)]
    FsPackage(FsPackageArgs),
}

#[derive(Debug, Args)]
pub struct BlockReplayArgs {
    /// The guest's architecture (default: this binary's).
    #[arg(long, value_enum)]
    pub arch: Option<GuestArch>,
    /// The filesystem the workload runs on, made by the host's mkfs.
    #[arg(long, value_enum, default_value_t = GuestFs::Ext4)]
    pub fs: GuestFs,
    /// Mount the filesystem in the guest with these options, as `mount -o` takes them
    /// (`noauto_da_alloc`), in the record boot and for every state; recorded in the evidence.
    /// Default: the kernel's defaults.
    #[arg(long, value_parser = parse_mount_options)]
    pub mount_options: Option<String>,
    /// Seed of the workload's payloads and of the subset sampling (default: from the clock).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Keep the logs, the initramfs and both consoles in this new or empty directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Subsets of one flush's writes explored exhaustively up to this many; beyond, this many
    /// are drawn from the seed.
    #[arg(long, default_value_t = crate::block_replay::host::DEFAULT_SUBSETS, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub subsets: u32,
    /// Torn writes per flush epoch: the flush point's prefix plus some sectors (drawn from the
    /// seed) of one multi-sector write of the epoch, as a disk that stops mid-write leaves it.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub tears: u32,
    /// The protocol under test (variants other than `real` need a `--features defects` build).
    #[arg(long, value_enum, default_value_t = Protocol::Real)]
    pub protocol: Protocol,
    /// The binary that runs as the guest's /init (default: this one when it is of --arch, else
    /// target/cross/<arch>/portability-matrix).
    #[arg(long, env = "PM_GUEST_BIN")]
    pub guest_bin: Option<PathBuf>,
    /// Check the replayed states in a guest of this architecture instead of --arch's: the
    /// states a writer of one byte order left, recovered by a reader of the other.
    #[arg(long, value_enum)]
    pub check_arch: Option<GuestArch>,
    /// Never try KVM, even where /dev/kvm opens.
    #[arg(long)]
    pub no_kvm: bool,
    /// Write the `block_replay` section as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A block-replay guest architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestArch {
    Amd64,
    Arm64,
    /// Big-endian; Debian 13's kernel (scripts/install-guest.sh s390x), always TCG here.
    S390x,
    /// Debian 13's kernel behind OpenSBI (scripts/install-guest.sh riscv64), always TCG here.
    Riscv64,
}

impl GuestArch {
    /// Its Debian name.
    pub fn name(self) -> &'static str {
        match self {
            GuestArch::Amd64 => "amd64",
            GuestArch::Arm64 => "arm64",
            GuestArch::S390x => "s390x",
            GuestArch::Riscv64 => "riscv64",
        }
    }
}

/// A filesystem block replay can make and mount in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestFs {
    Ext4,
    Xfs,
    /// Made by the host's mkfs.btrfs (btrfs-progs); the guest loads btrfs.ko and what it
    /// depends on.
    Btrfs,
}

impl BlockReplayArgs {
    pub fn to_request(&self) -> crate::block_replay::host::Request {
        let arch = self.arch.map_or(crate::platform::arch(), GuestArch::name);
        crate::block_replay::host::Request {
            arch: arch.into(),
            fs: match self.fs {
                GuestFs::Ext4 => "ext4",
                GuestFs::Xfs => "xfs",
                GuestFs::Btrfs => "btrfs",
            }
            .into(),
            mount_options: self.mount_options.clone(),
            seed: self.seed.unwrap_or_else(clock_seed),
            protocol: self.protocol,
            subset_bound: self.subsets,
            tears: self.tears,
            keep: self.keep.clone(),
            guest_bin: self.guest_bin.clone(),
            check_arch: self.check_arch.map(|a| a.name().to_string()),
            try_kvm: !self.no_kvm,
            evidence_dir: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReplayStateArgs {
    /// The pristine image's log (pristine.log of a kept block replay).
    #[arg(long)]
    pub pristine: PathBuf,
    /// The recorded log (record.log).
    #[arg(long)]
    pub log: PathBuf,
    /// The recorded disk's size in bytes (the filesystem and the marker region).
    #[arg(long)]
    pub disk_bytes: u64,
    /// The state: a flush point (12) or a flush point and positions in its epoch (12/0,2).
    #[arg(long)]
    pub state: crate::block_replay::replay::StateSpec,
    /// The image to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct FsPackageArgs {
    /// A filesystem type, such as xfs.
    #[arg(value_parser = crate::cell_id::fs_name)]
    pub fs: String,
}

#[derive(Debug, Args)]
pub struct CellArgs {
    /// Directory to run in; its filesystem is the one certified. Default: a fresh directory
    /// under the system temp dir.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the evidence tree goes.
    #[arg(long, default_value = "evidence")]
    pub evidence: PathBuf,
    /// Crash-harness iterations (a cell certifies with at least 10).
    #[arg(long, default_value_t = 20, value_parser = crash_count)]
    pub iterations: u32,
    /// Seed for the crash harness (default: generated from the clock and printed).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// The commit the binary certifies, recorded in the evidence.
    #[arg(long, env = "GITHUB_SHA")]
    pub commit: Option<String>,
    /// kill -9 runs in step 2 (a writer process killed at a seeded random moment; a cell
    /// certifies with at least 10).
    #[arg(long, default_value_t = 100, value_parser = crash_count)]
    pub kills: u32,
    /// Power-loss states per crash point explored exhaustively; more are sampled.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub explore_bound: u64,
    /// Run only the seed's original four steps: step 2 without kill -9 runs and without the
    /// power-loss exploration. Below the minimums of crash testing: it does not certify.
    #[arg(long)]
    pub seed_steps_only: bool,
    /// Explore power loss without block faults (misdirected, stale and duplicated writes to
    /// the log); the evidence records that they were off.
    #[arg(long)]
    pub no_block_faults: bool,
    /// Skip the fault step (a full disk, short writes, failed syncs); the evidence says it was
    /// turned off.
    #[arg(long)]
    pub no_faults: bool,
    /// Print every kill and iteration, not one updating progress line (autonomy.log keeps
    /// them either way).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Block replay (power loss on the real filesystem in a guest kernel of the cell's
    /// architecture): `auto` runs it where qemu-system and the kernel package are installed
    /// (scripts/install-guest.sh ARCH), `off` records it as skipped.
    #[arg(long, value_enum, env = "PM_BLOCK_REPLAY", default_value_t = BlockReplayChoice::Auto)]
    pub block_replay: BlockReplayChoice,
}

/// Whether a cell runs block replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlockReplayChoice {
    /// Wherever it can run.
    Auto,
    /// Never (the evidence says SKIP, not requested).
    Off,
}

#[derive(Debug, Args)]
pub struct FaultHarnessArgs {
    /// The run's seed (default: generated from the clock and printed).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Which kind of fault (default: every kind, as a cell runs them).
    #[arg(long, value_enum, default_value_t = FaultKindArg::All)]
    pub kind: FaultKindArg,
    /// Directory for the writers' WALs; the full disk is made of the filesystem type holding
    /// it (default: a fresh temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the `faults` section as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The block-io-errors kind boots a guest as block replay does: `auto` wherever it can
    /// run, `off` records it as skipped.
    #[arg(long, value_enum, env = "PM_BLOCK_REPLAY", default_value_t = BlockReplayChoice::Auto)]
    pub block_replay: BlockReplayChoice,
}

/// The kinds of fault the fault step injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultKindArg {
    /// Every kind below.
    All,
    /// Seeded faults at the storage seam, in memory.
    Seam,
    /// A real short write and EFBIG, under a file-size limit.
    FileSizeLimit,
    /// A loop filesystem of the type holding --dir, filled (root only).
    FullDisk,
    /// EIO from the disk (QEMU's blkdebug) under ext4 or xfs of the type holding --dir, in a
    /// guest kernel of this machine's architecture, as block replay boots it.
    BlockIoErrors,
}

impl FaultKindArg {
    pub fn to_kind(self) -> Option<crate::faults::Kind> {
        use crate::faults::Kind;
        match self {
            FaultKindArg::All => None,
            FaultKindArg::Seam => Some(Kind::Seam),
            FaultKindArg::FileSizeLimit => Some(Kind::FileSizeLimit),
            FaultKindArg::FullDisk => Some(Kind::FullDisk),
            FaultKindArg::BlockIoErrors => Some(Kind::BlockIoErrors),
        }
    }
}

#[derive(Debug, Args)]
pub struct FaultWriterArgs {
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long)]
    pub seed: u64,
    /// RLIMIT_FSIZE for the writer, in bytes.
    #[arg(long)]
    pub file_size_limit: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The WAL directory to check. Nothing in it is changed.
    #[arg(long)]
    pub dir: PathBuf,
    /// Architecture to record in the report (default: this binary's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Filesystem to record in the report (default: detected from the mount holding --dir).
    #[arg(long)]
    pub fs: Option<String>,
    /// Write the JSON report here (default: print it to stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CrashHarnessArgs {
    /// The run's seed (default: generated from the clock and printed).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Number of iterations.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Directory for the iterations' WALs (default: a fresh temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Replay only this iteration (0-based) of the run with --seed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(..i64::from(u32::MAX)))]
    pub iteration: Option<u32>,
    /// Write the iterations as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which crashes: all (the seed's injected faults, kill -9 runs, power-loss exploration),
    /// or one kind.
    #[arg(long, value_enum, default_value_t = HarnessFault::All)]
    pub fault: HarnessFault,
    /// Number of kill -9 runs (a cell's default).
    #[arg(long, default_value_t = 100)]
    pub kills: u32,
    /// Longest delay before a kill, in milliseconds (each delay is drawn from the seed).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub kill_max_delay_ms: u64,
    /// Power-loss states per crash point explored exhaustively; more are sampled (a cell's
    /// default).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub explore_bound: u64,
    /// Power-loss states also checked on the filesystem holding --dir (a cell's default).
    #[arg(long, default_value_t = 100)]
    pub on_disk: u64,
    /// Explore power loss without block faults (misdirected, stale and duplicated writes).
    #[arg(long)]
    pub no_block_faults: bool,
    /// Print every kill and iteration, not one updating progress line.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// The kinds of crash the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HarnessFault {
    /// Everything below.
    All,
    /// The seed's iterations: hand-made leftovers (phantom, torn tail, stale .tmp) injected.
    Seed,
    /// A writer process killed with SIGKILL.
    Kill,
    /// Power loss, explored over the standard workload.
    PowerLoss,
}

#[derive(Debug, Args)]
pub struct CrashExploreArgs {
    /// The recorded workload.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Standard)]
    pub workload: WorkloadArg,
    /// Appends of the `appends` workload.
    #[arg(long, default_value_t = 10)]
    pub appends: u32,
    /// Seed of the payloads and of the sampling (default: generated from the clock and printed).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Torn writes tear at multiples of this many bytes.
    #[arg(long, default_value_t = 512, value_parser = parse_sector)]
    pub sector: u64,
    /// States per crash point explored exhaustively; beyond it, this many are sampled.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub bound: u64,
    /// The protocol under test: the real one, or a known-broken variant (those exist only in
    /// builds with `--features defects`).
    #[arg(long, value_enum, default_value_t = Protocol::Real)]
    pub protocol: Protocol,
    /// Leave out block faults: the states where the last write to the log was misdirected
    /// (landed a sector before or after), stale (a synced sector reverted) or duplicated (the
    /// previous frames written again in its place). On by default; a reproducer of a state
    /// without them carries this flag.
    #[arg(long)]
    pub no_block_faults: bool,
    /// Also check this many states on the filesystem holding --dir.
    #[arg(long, default_value_t = 0)]
    pub on_disk: u64,
    /// Directory for the on-disk states (default: a fresh temp directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Replay exactly one state, as a reproducer names it (`<crash point>:<fate>,…`).
    #[arg(long)]
    pub replay: Option<String>,
    /// With --replay: also write the state's files into this directory.
    #[arg(long, requires = "replay")]
    pub keep: Option<PathBuf>,
    /// Explore this many times (timing runs; each repeat explores the same states).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Write the summary as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// Create, 4 appends, a batch of 3, a dead writer's leftovers, recovery, 3 appends.
    Standard,
    /// Create, then --appends single appends.
    Appends,
}

#[derive(Debug, Args)]
pub struct CrashWriterArgs {
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long)]
    pub seed: u64,
    /// Stop after this many entries.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_entries: u64,
}

#[derive(Debug, Args)]
pub struct CrashStatesArgs {
    /// A new or empty directory for the states and their manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub seed: u64,
    /// Writers killed with SIGKILL, each leftover kept as a state.
    #[arg(long, default_value_t = 20)]
    pub kills: u32,
    /// The longest delay before a kill.
    #[arg(long, default_value_t = 20)]
    pub max_delay_ms: u64,
    /// Power-loss states of the standard workload, as the persistence model leaves them.
    #[arg(long, default_value_t = 40)]
    pub power_states: u32,
    /// Power-loss states struck by a block fault.
    #[arg(long, default_value_t = 10)]
    pub damaged_states: u32,
}

impl CrashStatesArgs {
    pub fn to_request(&self) -> crate::crash::states::WriteRequest {
        crate::crash::states::WriteRequest {
            out: self.out.clone(),
            seed: self.seed,
            kills: self.kills,
            max_delay_ms: self.max_delay_ms,
            power_states: self.power_states,
            damaged_states: self.damaged_states,
        }
    }
}

#[derive(Debug, Args)]
pub struct RecoverStatesArgs {
    /// A directory `crash-states` wrote (it is left as it is: recovery runs on copies).
    #[arg(long)]
    pub dir: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Another binary's report of the same states: exit 1 unless every state was recovered
    /// identically.
    #[arg(long)]
    pub against: Option<PathBuf>,
}

/// Parses a sector size: a power of two from 512 to 1 MiB.
pub fn parse_sector(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n.is_power_of_two() && (512..=1 << 20).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a sector size (a power of two from 512 to 1048576, e.g. 512 or 4096)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write the WAL into (created if missing; must not hold a WAL yet).
    #[arg(long)]
    pub dir: PathBuf,
    /// Approximate size of wal.log, in bytes; accepts K, M, G suffixes (powers of 1024).
    #[arg(long, value_parser = parse_size)]
    pub size: u64,
    /// Approximate payload size in bytes.
    #[arg(long, default_value_t = 200)]
    pub payload_bytes: usize,
    /// Entries committed per batch.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Read the evidence from this folder instead of GitHub: the evidence layout
    /// (<arch>/<fs>/run-<N>/wal_verify.json), the one actions/download-artifact leaves
    /// (portability-evidence-<arch>-<fs>/.../wal_verify.json), or a single artifact's
    /// run-<N>/ folders (download-artifact v5 and later). Wins over --repo/--run-id.
    #[arg(long)]
    pub evidence_dir: Option<PathBuf>,
    /// The repository whose workflow run uploaded the evidence artifacts, as OWNER/NAME
    /// (default: the environment variable GITHUB_REPOSITORY). The token is read from the
    /// environment variable GITHUB_TOKEN.
    #[arg(long, value_parser = RepoSlug::parse)]
    pub repo: Option<RepoSlug>,
    /// The workflow run whose artifacts are the evidence (default: the environment variable
    /// GITHUB_RUN_ID).
    #[arg(long)]
    pub run_id: Option<u64>,
    /// The commit being released: evidence from another commit (or recording none) is STALE.
    /// Without it, evidence is not checked for staleness (default: the environment variable
    /// GITHUB_SHA).
    #[arg(long, value_parser = Sha::parse)]
    pub sha: Option<Sha>,
    /// The GitHub REST API base (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub api_url: String,
    /// The policy: a built-in phase (`phase1`, `phase2`) or the path of a policy file (TOML,
    /// see docs/gate.md).
    #[arg(long, value_parser = PolicyChoice::parse, default_value = "phase1")]
    pub policy: PolicyChoice,
    /// The waiver folder: every INV-NNN.toml directly in it is loaded. Default: edge/waivers
    /// when it exists (no waivers otherwise).
    #[arg(long)]
    pub waivers: Option<PathBuf>,
    /// release: exit 1 when a gated cell blocks. nightly: report and warn, exit 0 unless the
    /// gate could not decide.
    #[arg(long, value_enum, default_value_t = GateMode::Release)]
    pub mode: GateMode,
    /// Write the decision as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Append the decision as markdown here (in a workflow: the step summary).
    #[arg(long, env = "GITHUB_STEP_SUMMARY")]
    pub summary: Option<PathBuf>,
    /// Largest artifact zip downloaded; a bigger one is UNREADABLE. Accepts K, M, G.
    #[arg(long, value_parser = parse_size, default_value = "64M")]
    pub max_artifact_size: u64,
    /// Largest wal_verify.json read (uncompressed). Accepts K, M, G.
    #[arg(long, value_parser = parse_size, default_value = "16M")]
    pub max_entry_size: u64,
    /// Transient GitHub failures (5xx, rate limits, refused connections) are retried with
    /// backoff until this long after the gate began fetching, such as 2m or 30s; then the gate
    /// gives up (exit 2). A rate limit that resets later than that is not waited for.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2m")]
    pub retry_budget: std::time::Duration,
    /// The first retry's delay; each further retry doubles it (up to 30 s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s", hide = true)]
    pub retry_delay: std::time::Duration,
    /// Decide as if today were this date (YYYY-MM-DD, UTC), for waiver expiry.
    #[arg(long, value_parser = parse_date, hide = true)]
    pub today: Option<jiff::civil::Date>,
}

impl GateArgs {
    /// The gate's configuration: the same values, without clap, and --repo defaulted from
    /// GITHUB_REPOSITORY (an error when that is malformed).
    pub fn to_config(&self) -> anyhow::Result<GateConfig> {
        let repo = match &self.repo {
            Some(repo) => Some(repo.clone()),
            None => from_env("GITHUB_REPOSITORY", "--repo OWNER/NAME", RepoSlug::parse)?,
        };
        let run_id = match self.run_id {
            Some(id) => Some(id),
            None => from_env("GITHUB_RUN_ID", "--run-id ID", |v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{v:?} is not a workflow run id (a whole number)"))
            })?,
        };
        let sha = match &self.sha {
            Some(sha) => Some(sha.clone()),
            None => from_env("GITHUB_SHA", "--sha SHA", Sha::parse)?,
        };
        Ok(GateConfig {
            evidence_dir: self.evidence_dir.clone(),
            repo,
            run_id,
            sha,
            api_url: self.api_url.clone(),
            policy: self.policy.clone(),
            waivers: self.waivers.clone(),
            mode: self.mode,
            out: self.out.clone(),
            summary: self.summary.clone(),
            max_artifact_size: self.max_artifact_size,
            max_entry_size: self.max_entry_size,
            retry_budget: self.retry_budget,
            retry_delay: self.retry_delay,
            today: self.today,
        })
    }
}

/// A flag's default from the workflow's environment variable, read here rather than by clap so
/// that a malformed value is blamed on the variable, not on a flag nobody passed.
fn from_env<T>(
    var: &str,
    flag: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Option<T>> {
    let value = match std::env::var(var) {
        Ok(v) if v.is_empty() => return Ok(None),
        Ok(v) => v,
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => v.to_string_lossy().into_owned(),
    };
    parse(&value).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "the environment variable {var} (the default of {}) is malformed: {e} (or unset it, \
             or pass {flag})",
            flag.split(' ').next().unwrap_or(flag)
        )
    })
}

/// Parses "2026-03-31".
pub fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a date; write it as YYYY-MM-DD"))
}

#[derive(Debug, Args)]
pub struct LockProbeArgs {
    #[arg(long)]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Architectures, by Debian name (amd64 arm64 riscv64 s390x), separated by spaces or commas.
    #[arg(long, default_value = "amd64 arm64 riscv64", value_parser = parse_names)]
    pub arch: NameList,
    /// Filesystems; any name with a mkfs.<name> works (ext4 xfs btrfs), separated by spaces or
    /// commas.
    #[arg(long, default_value = "ext4 xfs", value_parser = parse_names)]
    pub fs: NameList,
    /// One more cell beyond --arch x --fs, as ARCH/FS (e.g. s390x/ext4); repeatable.
    #[arg(long = "extra-cell", value_parser = parse_cell)]
    pub extra_cells: Vec<CellId>,
    /// Crash-harness iterations per cell (a cell certifies with at least 10).
    #[arg(long, default_value_t = 20, value_parser = crash_count)]
    pub iterations: u32,
    /// The one seed of the whole matrix run (default: generated from the clock and printed).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Where the evidence tree and matrix.json go.
    #[arg(long, default_value = "evidence")]
    pub evidence: PathBuf,
    /// Directory of cell binaries, <DIR>/<arch>/portability-matrix (scripts/cross-build.sh
    /// writes them). The native cell falls back to this binary when its entry is missing.
    #[arg(long, default_value = "target/cross")]
    pub binaries: PathBuf,
    /// Size of each loop filesystem image (sparse); K, M, G suffixes. xfs needs at least 300M.
    #[arg(long, default_value = "512M", value_parser = parse_size)]
    pub image_size: u64,
    /// Stop a cell that runs longer than this many seconds (0: no limit); it is then FAIL.
    #[arg(long, default_value_t = 1800)]
    pub cell_timeout: u64,
    /// Exit 1 when a cell was skipped: `seed` for the seed's six cells (amd64, arm64, riscv64
    /// x ext4, xfs), `any` for every cell.
    #[arg(long, value_enum)]
    pub fail_on_skip: Option<SkipPolicy>,
    /// How foreign binaries are executed: `auto` uses a registered binfmt_misc handler and falls
    /// back to running qemu-<arch>-static explicitly; `explicit` always names the emulator.
    #[arg(long, value_enum, default_value = "auto")]
    pub emulation: EmulationMode,
    /// The commit the binaries certify, recorded in every cell's evidence.
    #[arg(long, env = "GITHUB_SHA")]
    pub commit: Option<String>,
}

impl MatrixArgs {
    /// The matrix's own configuration: the cells as cell identities, the time limit as a
    /// duration, an empty commit as none.
    pub fn to_config(&self) -> MatrixConfig {
        MatrixConfig {
            archs: self.arch.0.clone(),
            filesystems: self.fs.0.clone(),
            extra_cells: self.extra_cells.clone(),
            iterations: self.iterations,
            seed: self.seed,
            evidence: self.evidence.clone(),
            binaries: self.binaries.clone(),
            image_size: self.image_size,
            cell_timeout: (self.cell_timeout > 0)
                .then(|| std::time::Duration::from_secs(self.cell_timeout)),
            fail_on_skip: self.fail_on_skip,
            emulation: self.emulation,
            commit: self.commit.clone().filter(|c| !c.is_empty()),
        }
    }
}

/// A list of architecture or filesystem names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

/// A count of crash tests for a cell: at least 1, since a cell that runs none proves nothing
/// about crashes (fewer than the minimum still runs, and is written as not certified).
fn crash_count(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if n == 0 {
        let m = crate::coverage::Minimums::DEFAULT;
        return Err(format!(
            "0 runs no crash test, and a cell without crash testing certifies nothing; a cell \
             certifies with at least {} iterations and {} kills",
            m.iterations, m.kills
        ));
    }
    Ok(n)
}

/// A seed: a whole number from 0 to 2^64 - 1 (so "-1" is refused as a value, not taken for a flag).
fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| {
        format!(
            "{s:?} is not a seed; a seed is a whole number from 0 to {} (a run's seed is in its \
             wal_verify.json and cmd.txt)",
            u64::MAX
        )
    })
}

/// Mount options for block replay's guest, checked before anything boots.
fn parse_mount_options(s: &str) -> Result<String, String> {
    crate::block_replay::console::check_mount_options(s)
        .map(|()| s.to_string())
        .map_err(|e| format!("{e:#}"))
}

/// Parses "amd64 arm64", "ext4,xfs": a non-empty list without repeats.
pub fn parse_names(s: &str) -> Result<NameList, String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
        if !crate::cell_id::is_name(w) {
            return Err(format!(
                "{w:?} is not an architecture or filesystem name (1 to 32 lowercase letters, digits and _)"
            ));
        }
        let w = w.to_string();
        if !out.contains(&w) {
            out.push(w);
        }
    }
    if out.is_empty() {
        return Err("the list is empty".into());
    }
    Ok(NameList(out))
}

/// Parses "s390x/ext4".
pub fn parse_cell(s: &str) -> Result<CellId, String> {
    let (arch, fs) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not a cell; write ARCH/FS, e.g. s390x/ext4"))?;
    CellId::new(arch, fs)
}

/// Parses "1073741824", "512M", "1G", "64K".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (examples: 4096, 64K, 512M, 1G)"))
}

// What the user typed, turned into what each command takes: defaults that depend on the
// machine (the temp dir, a seed from the clock) are resolved here, once.

impl CellArgs {
    pub fn to_options(&self) -> CellOptions {
        CellOptions {
            base: self.dir.clone().unwrap_or_else(std::env::temp_dir),
            evidence: self.evidence.clone(),
            iterations: self.iterations,
            seed: self.seed.unwrap_or_else(clock_seed),
            commit: self.commit.clone().filter(|c| !c.is_empty()),
            kills: self.kills,
            explore_bound: self.explore_bound,
            seed_steps_only: self.seed_steps_only,
            faults: !self.no_faults,
            block_faults: !self.no_block_faults,
            verbose: self.verbose,
            block_replay: self.block_replay == BlockReplayChoice::Auto,
        }
    }
}

impl CrashHarnessArgs {
    pub fn to_options(&self) -> HarnessOptions {
        let all = self.fault == HarnessFault::All && self.iteration.is_none();
        let plan = CrashPlan {
            seed_iterations: matches!(self.fault, HarnessFault::All | HarnessFault::Seed),
            kills: if all || self.fault == HarnessFault::Kill {
                self.kills
            } else {
                0
            },
            kill_max_delay_ms: self.kill_max_delay_ms,
            explore_bound: (all || self.fault == HarnessFault::PowerLoss)
                .then_some(self.explore_bound),
            on_disk_states: self.on_disk,
            block_faults: !self.no_block_faults,
        };
        HarnessOptions {
            seed: self.seed.unwrap_or_else(clock_seed),
            iterations: self.iterations,
            only: self.iteration,
            dir: self.dir.clone(),
            out: self.out.clone(),
            plan,
            verbose: self.verbose,
        }
    }
}

impl CrashExploreArgs {
    pub fn to_request(&self) -> ExploreRequest {
        let workload = match self.workload {
            WorkloadArg::Standard => Workload::Standard,
            WorkloadArg::Appends => Workload::Appends(self.appends),
        };
        ExploreRequest {
            options: explore::Options {
                workload,
                seed: self.seed.unwrap_or_else(clock_seed),
                sector: self.sector,
                bound: self.bound,
                protocol: self.protocol,
                on_disk: None,
                block_faults: !self.no_block_faults,
            },
            on_disk: self.on_disk,
            dir: self.dir.clone(),
            replay: self.replay.clone(),
            keep: self.keep.clone(),
            repeat: self.repeat,
            out: self.out.clone(),
        }
    }
}
