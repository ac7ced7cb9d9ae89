//! The writer every fault kind runs, and the checks after it.
//!
//! A fault kind differs in where the fault comes from (a wrapped storage, the kernel's file-size
//! limit, a full filesystem), not in what the writer does or what must hold afterwards. So one
//! writer appends entries whose bytes are a function of the seed and the seq until an append
//! fails, reports each acknowledgement as it happens (a line a parent process can read, when
//! the writer runs in a child), then tries one more append, which a poisoned writer refuses.
//! And one judgement applies to every kind: the failing append was not acknowledged, the writer
//! was poisoned, and after reopening without the fault recovery keeps every acknowledged entry
//! with its bytes while R1-R5 and S1 hold.

use std::path::Path;

use wal::{Storage, Wal};

use crate::crash::check::{check_state, Expect};
use crate::crash::kill::writer_payload;
use crate::evidence::record::FaultViolation;

/// What one writer run did, as it reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Why opening the WAL failed (the start-up path met the fault).
    pub open_failed: Option<String>,
    /// The highest acknowledged seq.
    pub acked: u64,
    /// The seq whose append failed, and the error.
    pub failed: Option<(u64, String)>,
    /// After the failure: whether the next append was refused as poisoned.
    pub poisoned: Option<bool>,
}

impl WriterReport {
    /// Whether the writer met a fault at all.
    pub fn met_fault(&self) -> bool {
        self.open_failed.is_some() || self.failed.is_some()
    }

    /// The highest seq an append was called for.
    pub fn issued(&self) -> u64 {
        self.failed.as_ref().map_or(self.acked, |(s, _)| *s)
    }

    /// What happened, in a phrase ("3 acknowledged, then append 4 failed: …").
    pub fn describe(&self) -> String {
        match (&self.open_failed, &self.failed) {
            (Some(e), _) => format!("the open failed: {e}"),
            (None, Some((seq, e))) => {
                format!("{} acknowledged, then append {seq} failed: {e}", self.acked)
            }
            (None, None) => format!("{} acknowledged, no fault met", self.acked),
        }
    }

    /// Reads the lines [`write_until_failure`] printed.
    pub fn parse(lines: &[String]) -> WriterReport {
        let mut r = WriterReport::default();
        for l in lines {
            let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
            match word {
                "open-failed" => r.open_failed = Some(rest.to_string()),
                "ack" => r.acked = rest.parse().unwrap_or(r.acked),
                "failed" => {
                    let (seq, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                    r.failed = Some((seq.parse().unwrap_or(0), msg.to_string()));
                }
                "poisoned" => r.poisoned = Some(rest.starts_with("yes")),
                _ => {}
            }
        }
        r
    }
}

/// Opens the WAL in `dir` and appends the seed's entries one by one, up to `max`, until one
/// fails; then tries one more. Every step is also said through `out`, one line each.
pub fn write_until_failure<S: Storage>(
    storage: S,
    dir: &Path,
    seed: u64,
    max: u64,
    out: &mut dyn FnMut(&str),
) -> WriterReport {
    let mut r = WriterReport::default();
    let mut wal = match Wal::open_with(storage, dir) {
        Ok(w) => w,
        Err(e) => {
            out(&format!("open-failed {e}"));
            r.open_failed = Some(e.to_string());
            return r;
        }
    };
    out(&format!("ready {}", wal.safe_seq()));
    r.acked = wal.safe_seq().get();
    while r.acked < max {
        let seq = r.acked + 1;
        match wal.append(&writer_payload(seed, seq)) {
            Ok(_) => {
                out(&format!("ack {seq}"));
                r.acked = seq;
            }
            Err(e) => {
                out(&format!("failed {seq} {e}"));
                r.failed = Some((seq, e.to_string()));
                let again = wal.append(&writer_payload(seed, seq + 1));
                let poisoned = matches!(again, Err(wal::Error::Poisoned(_)));
                out(&format!(
                    "poisoned {} {}",
                    if poisoned { "yes" } else { "no" },
                    match again {
                        Ok(s) => format!("(append {s} was acknowledged)"),
                        Err(e) => e.to_string(),
                    }
                ));
                r.poisoned = Some(poisoned);
                break;
            }
        }
    }
    r
}

/// The checks after a writer run, on `dir` reopened through `storage` without the fault. Each
/// violation carries `replay`, the command that replays the kind with this seed.
pub fn judge<S: Storage + Clone>(
    report: &WriterReport,
    storage: &S,
    dir: &Path,
    seed: u64,
    replay: &str,
) -> Vec<FaultViolation> {
    let mut out = Vec::new();
    let mut v = |check: &str, msg: String| {
        out.push(FaultViolation {
            check: check.into(),
            msg,
            seed,
            replay: replay.into(),
        })
    };
    if let Some((seq, e)) = &report.failed {
        if report.poisoned != Some(true) {
            v(
                "poisoned",
                format!("append {seq} failed ({e}), yet the writer accepted the next append"),
            );
        }
    }
    let appended = move |seq: u64, p: &[u8]| writer_payload(seed, seq) == p;
    let exp = Expect {
        acked: report.acked,
        issued: report.issued(),
        appended: &appended,
    };
    if let Some(f) = check_state(storage, dir, &exp, None).finding {
        v(
            f.check,
            format!(
                "after reopening without the fault ({} acknowledged): {}",
                report.acked, f.msg
            ),
        );
    }
    out
}
