//! The kinds of fault and what one kind reports: a leaf below the kinds and the step that runs
//! them, so that neither reaches back into the other.

use crate::evidence::record::{FaultKindRecord, FaultViolation};

/// The kinds of fault, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Seam,
    FileSizeLimit,
    FullDisk,
    BlockIoErrors,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Seam,
        Kind::FileSizeLimit,
        Kind::FullDisk,
        Kind::BlockIoErrors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Seam => "seam",
            Kind::FileSizeLimit => "file-size-limit",
            Kind::FullDisk => "full-disk",
            Kind::BlockIoErrors => "block-io-errors",
        }
    }
}

/// The command that replays one kind with a seed.
pub fn replay_line(kind: Kind, seed: u64) -> String {
    format!(
        "portability-matrix fault-harness --kind {} --seed {seed} --dir <a directory on the filesystem under test>",
        kind.name()
    )
}

/// What one kind found, on its way to the evidence.
pub struct KindOutcome {
    kind: Kind,
    skipped: Option<String>,
    pub runs: u64,
    pub injected: u64,
    pub wal: String,
    pub millis: u64,
    pub violations: Vec<FaultViolation>,
}

impl KindOutcome {
    pub fn new(kind: Kind) -> KindOutcome {
        KindOutcome {
            kind,
            skipped: None,
            runs: 0,
            injected: 0,
            wal: String::new(),
            millis: 0,
            violations: Vec::new(),
        }
    }

    /// What recovery without the fault did, as the end of a kind's sentence.
    pub fn recovery_verdict(&self) -> &'static str {
        if self.violations.is_empty() {
            "kept every acknowledged entry"
        } else {
            "broke a promise (see violations)"
        }
    }

    pub fn skip(&mut self, why: String) {
        self.wal = "not run".into();
        self.skipped = Some(why);
    }

    pub fn record(self) -> FaultKindRecord {
        FaultKindRecord {
            kind: self.kind.name(),
            status: match (&self.skipped, self.violations.is_empty()) {
                (Some(_), _) => "SKIP",
                (None, true) => "PASS",
                (None, false) => "FAIL",
            },
            reason: self.skipped,
            runs: self.runs,
            injected: self.injected,
            wal: self.wal,
            millis: self.millis,
            violations: self.violations,
        }
    }
}
