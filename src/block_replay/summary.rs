//! The `block_replay` section of `wal_verify.json`: what ran (kernel, accelerator, filesystem),
//! what was replayed and checked, and a reproducer for each violating state.
//!
//! Why its own type here: the section is block replay's summary, embedded in the evidence as it
//! is (as the crash sections are), so the evidence record depends on this module and never the
//! reverse. A section always says PASS, FAIL or SKIP; SKIP carries the reason and claims
//! nothing.

use serde::Serialize;

use super::kernel::GuestKernel;

/// PASS, FAIL or SKIP, and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct BlockReplay {
    pub status: &'static str,
    /// Why it was skipped, or why it could not finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

impl BlockReplay {
    pub fn skip(reason: impl Into<String>) -> BlockReplay {
        BlockReplay {
            status: "SKIP",
            reason: Some(reason.into()),
            run: None,
        }
    }

    /// Whether the section lets the cell pass (a SKIP does; the policy may still require it).
    pub fn passes(&self) -> bool {
        self.status != "FAIL"
    }
}

/// A block replay that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub kernel: GuestKernel,
    pub guest_arch: String,
    /// kvm or tcg (of the record boot).
    pub accelerator: &'static str,
    /// The architecture whose kernel and binary checked the states: the guest's own, or
    /// another one's (`--check-arch`: recovery across byte orders).
    pub check_arch: String,
    /// The check boot's kernel, when it is not the record boot's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_kernel: Option<GuestKernel>,
    pub check_accelerator: &'static str,
    /// Why KVM was not used, when it was tried.
    pub accelerator_notes: Vec<String>,
    pub fs: String,
    pub mkfs_options: Vec<String>,
    pub mkfs_version: Option<String>,
    /// The options every mount of the filesystem in the guest had, as `mount -o` takes them,
    /// one per item; empty: the kernel's defaults.
    pub mount_options: Vec<String>,
    pub fs_bytes: u64,
    pub workload: &'static str,
    pub protocol: &'static str,
    pub seed: u64,
    /// Subsets of an epoch explored exhaustively up to this many, sampled beyond.
    pub subset_bound: u32,
    /// Torn writes drawn per epoch.
    pub tears: u32,
    pub log_entries: u64,
    pub log_writes: u64,
    pub flushes: u64,
    pub log_bytes: u64,
    pub log_sha256: String,
    /// The recorded log and the pristine image's log, when kept beside the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_kept: Option<String>,
    /// Appends the guest's workload made (and acknowledged).
    pub appends: u64,
    pub flush_points: u64,
    pub states_replayed: u64,
    pub states_distinct: u64,
    pub states_checked: u64,
    pub exhaustive: bool,
    pub violations: u64,
    pub seconds: f64,
    pub record_seconds: f64,
    pub check_seconds: f64,
    /// States checked per second of the check boot's checking.
    pub states_per_second: f64,
    /// The command that records the same log again.
    pub record_command: String,
    pub failures: Vec<StateFailure>,
}

impl Run {
    /// One line: the guest, what was replayed and checked, and the verdict's counts.
    pub fn describe(&self) -> String {
        format!(
            "{} guest on {} {}, {}: {} log entries, {} flushes, {} states replayed, {} checked, {} violation(s)",
            self.guest_arch,
            self.kernel.package,
            self.kernel.version,
            self.accelerator,
            self.log_entries,
            self.flushes,
            self.states_replayed,
            self.states_checked,
            self.violations
        )
    }
}

/// A violating state and how to see it again.
#[derive(Debug, Clone, Serialize)]
pub struct StateFailure {
    /// `<flush point>` or `<flush point>/<positions in its epoch>`.
    pub state: String,
    pub flush_point: u64,
    pub subset: Vec<u32>,
    pub check: String,
    pub msg: String,
    /// One command that rebuilds exactly that disk image for inspection.
    pub rebuild: String,
}
