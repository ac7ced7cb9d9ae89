//! The read-only verifier: checks a WAL directory against R1-R5 and NO_JSON_CORRUPTION.
//!
//! Unlike recovery it changes nothing and refuses nothing short of "this is not a WAL": it
//! streams the log once (memory bounded by one read window and the largest frame) up to the
//! first frame it cannot read, and reports every violation it sees on the way, so a damaged
//! directory can be inspected as it was found.
//! Stored violations are capped per code; the counts are always exact.
//!
//! A log is read through the [parallel scan](crate::scan::parallel), which checks checksums and
//! JSON on every core and hands the frames back in order; [`verify_sequential_with`] is the same
//! verifier on the one-frame-at-a-time [`Scanner`], kept as the reference the parallel path is
//! tested against (`tests/verify_parallel.rs`): both give the same report, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format;
use crate::paths::Paths;
use crate::recovery::read_safe_seq;
use crate::scan::parallel::{self, Plan};
use crate::scan::{FrameProblem, Scanned, Scanner};
use crate::seq::Seq;
use crate::storage::{OpenMode, PathKind, StdStorage, Storage, StorageFile};

/// Violations of one code kept in a report; the rest are only counted.
pub const MAX_VIOLATIONS_PER_CODE: usize = 100;

/// The invariants the verifier checks, keyed as in `wal_verify.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Invariant {
    /// The first frame's seq is 1.
    #[serde(rename = "R1_FIRST_SEQ_IS_ONE")]
    R1FirstSeqIsOne,
    /// Seqs are contiguous in the committed range.
    #[serde(rename = "R2_SEQ_CONTIGUOUS")]
    R2SeqContiguous,
    /// safe_seq <= the highest seq in the log.
    #[serde(rename = "R3_SAFESEQ_LE_MAXSEQ")]
    R3SafeSeqLeMaxSeq,
    /// The frame at safe_seq exists.
    #[serde(rename = "R4_SAFESEQ_FRAME_EXISTS")]
    R4SafeSeqFrameExists,
    /// No frame has seq > safe_seq.
    #[serde(rename = "R5_NO_PHANTOMS")]
    R5NoPhantoms,
    /// Every payload parses as JSON.
    #[serde(rename = "NO_JSON_CORRUPTION")]
    NoJsonCorruption,
}

impl Invariant {
    /// All of them, in report order.
    pub const ALL: [Invariant; 6] = [
        Invariant::R1FirstSeqIsOne,
        Invariant::R2SeqContiguous,
        Invariant::R3SafeSeqLeMaxSeq,
        Invariant::R4SafeSeqFrameExists,
        Invariant::R5NoPhantoms,
        Invariant::NoJsonCorruption,
    ];

    /// The key used in `wal_verify.json`.
    pub fn key(self) -> &'static str {
        match self {
            Invariant::R1FirstSeqIsOne => "R1_FIRST_SEQ_IS_ONE",
            Invariant::R2SeqContiguous => "R2_SEQ_CONTIGUOUS",
            Invariant::R3SafeSeqLeMaxSeq => "R3_SAFESEQ_LE_MAXSEQ",
            Invariant::R4SafeSeqFrameExists => "R4_SAFESEQ_FRAME_EXISTS",
            Invariant::R5NoPhantoms => "R5_NO_PHANTOMS",
            Invariant::NoJsonCorruption => "NO_JSON_CORRUPTION",
        }
    }
}

/// Violation codes, as in `wal_verify.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// R1: the first frame's seq is not 1.
    FirstSeqNotOne,
    /// R2: a seq does not follow its predecessor.
    SeqGap,
    /// R3: safe_seq is beyond the highest seq in the log.
    SafeseqAhead,
    /// R4: no frame carries safe_seq.
    SafeseqFrameMissing,
    /// R5: a frame with seq > safe_seq.
    PhantomEntry,
    /// A well-formed frame whose payload is not JSON.
    JsonCorrupt,
    /// A frame that fails its checksum, has a bad length or is cut short.
    FrameCorrupt,
}

/// One violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind.
    pub code: Code,
    /// The invariant it breaks.
    pub invariant: Invariant,
    /// A sentence saying what was found.
    pub msg: String,
    /// The seq concerned, where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The byte offset in `wal.log`, where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The result of one invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether it holds.
    pub pass: bool,
    /// "ok", or what broke it.
    pub msg: String,
}

/// What the verifier found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// safe_seq as read (0 when the file is absent).
    pub safe_seq: Seq,
    /// Well-formed frames seen.
    pub frames: u64,
    /// The highest seq among them (0 when none).
    pub max_seq: Seq,
    /// Bytes of `wal.log`.
    pub log_bytes: u64,
    /// Per invariant.
    pub invariants: BTreeMap<Invariant, Check>,
    /// The violations, at most [`MAX_VIOLATIONS_PER_CODE`] per code.
    pub violations: Vec<Violation>,
    /// Violations per code, including those not kept.
    pub violation_counts: BTreeMap<Code, u64>,
    /// Violations per invariant, including those not kept.
    #[serde(skip)]
    invariant_counts: BTreeMap<Invariant, u64>,
}

impl Report {
    /// Whether every invariant holds.
    pub fn pass(&self) -> bool {
        self.violations.is_empty()
    }

    fn add(
        &mut self,
        code: Code,
        invariant: Invariant,
        msg: impl FnOnce() -> String,
        seq: Option<Seq>,
        offset: Option<u64>,
    ) {
        *self.invariant_counts.entry(invariant).or_insert(0) += 1;
        let n = self.violation_counts.entry(code).or_insert(0);
        *n += 1;
        // The message is only made for a violation that is kept: a badly damaged log can have
        // one per frame.
        if *n as usize <= MAX_VIOLATIONS_PER_CODE {
            self.violations.push(Violation {
                code,
                invariant,
                msg: msg(),
                seq: seq.map(Seq::get),
                offset,
            });
        }
    }
}

/// Verifies the WAL in `dir` on the real filesystem.
pub fn verify_dir(dir: impl AsRef<Path>) -> Result<Report> {
    verify_with(&StdStorage, dir.as_ref())
}

/// Verifies the WAL in `dir` through `storage`, reading only, on every core.
pub fn verify_with<S: Storage>(storage: &S, dir: &Path) -> Result<Report> {
    verify_with_plan(storage, dir, Plan::all_cores())
}

/// [`verify_with`], its work divided as `plan` says (threads, window size).
pub fn verify_with_plan<S: Storage>(storage: &S, dir: &Path, plan: Plan) -> Result<Report> {
    let (paths, log, len, mut report, mut walk) = start(storage, dir)?;
    parallel::scan(
        &log,
        format::FILE_HEADER_LEN,
        len,
        plan,
        format::is_json,
        |item, json_ok| walk.item(&mut report, item, json_ok),
    )
    .map_err(Error::io("read", &paths.log))?;
    Ok(walk.finish(report))
}

/// [`verify_with`] on one thread, one frame at a time: the reference the parallel path is
/// tested against.
pub fn verify_sequential_with<S: Storage>(storage: &S, dir: &Path) -> Result<Report> {
    let (paths, log, len, mut report, mut walk) = start(storage, dir)?;
    let mut scanner = Scanner::with_end(&log, format::FILE_HEADER_LEN, len);
    while let Some(item) = scanner
        .next_frame()
        .map_err(Error::io("read", &paths.log))?
    {
        let json_ok = matches!(item, Scanned::Frame { payload, .. } if format::is_json(payload));
        walk.item(&mut report, item, json_ok);
    }
    Ok(walk.finish(report))
}

/// What both paths do before the first frame: the directory and file header checked, safe_seq
/// read, an empty report.
fn start<S: Storage>(storage: &S, dir: &Path) -> Result<(Paths, S::File, u64, Report, FrameWalk)> {
    let paths = Paths::new(dir);
    check_is_wal_dir(storage, &paths)?;
    let safe_seq = read_safe_seq(storage, &paths)?;
    let (log, len) = open_log(storage, &paths)?;
    let report = Report {
        safe_seq,
        frames: 0,
        max_seq: Seq::ZERO,
        log_bytes: len,
        invariants: BTreeMap::new(),
        violations: Vec::new(),
        violation_counts: BTreeMap::new(),
        invariant_counts: BTreeMap::new(),
    };
    let walk = FrameWalk {
        safe_seq,
        prev: None,
        saw_safe: false,
    };
    Ok((paths, log, len, report, walk))
}

/// Refuses anything but a directory holding a `wal.log` file: short of that there is nothing
/// to verify.
fn check_is_wal_dir<S: Storage>(storage: &S, paths: &Paths) -> Result<()> {
    let dir = &paths.dir;
    match storage.kind(dir).map_err(Error::io("stat", dir))? {
        PathKind::Dir => {}
        PathKind::Missing => return Err(Error::NotFound(dir.to_path_buf())),
        PathKind::File => return Err(Error::NotADirectory(dir.to_path_buf())),
    }
    let reason = match storage
        .kind(&paths.log)
        .map_err(Error::io("stat", &paths.log))?
    {
        PathKind::File => return Ok(()),
        PathKind::Missing => "the file does not exist",
        PathKind::Dir => "it is a directory",
    };
    Err(Error::NotAWal {
        path: paths.log.clone(),
        reason: reason.into(),
    })
}

/// Opens `wal.log` read-only and checks its file header; returns it and its length.
fn open_log<S: Storage>(storage: &S, paths: &Paths) -> Result<(S::File, u64)> {
    let log = storage
        .open(&paths.log, OpenMode::Read)
        .map_err(Error::io("open", &paths.log))?;
    let len = log.len().map_err(Error::io("stat", &paths.log))?;
    let mut header = [0u8; format::FILE_HEADER_LEN as usize];
    let have = len.min(format::FILE_HEADER_LEN) as usize;
    log.read_exact_at(&mut header[..have], 0)
        .map_err(Error::io("read", &paths.log))?;
    format::check_file_header(&header[..have]).map_err(|e| Error::NotAWal {
        path: paths.log.clone(),
        reason: e.to_string(),
    })?;
    Ok((log, len))
}

/// What the verifier remembers from one frame to the next as it streams the log.
struct FrameWalk {
    safe_seq: Seq,
    /// The seq of the last well-formed frame.
    prev: Option<Seq>,
    /// Whether a frame carried safe_seq.
    saw_safe: bool,
}

impl FrameWalk {
    /// One item of the scan; `json_ok` is whether a well-formed frame's payload is JSON.
    fn item(&mut self, report: &mut Report, item: Scanned<'_>, json_ok: bool) {
        match item {
            Scanned::Frame {
                offset,
                seq,
                payload,
            } => self.frame(report, offset, seq, payload, json_ok),
            Scanned::Bad {
                offset, problem, ..
            } => self.bad_frame(report, offset, problem),
        }
    }

    /// After the last item: the safe_seq checks, then each invariant's verdict.
    fn finish(self, mut report: Report) -> Report {
        self.check_safe_seq(&mut report);
        report.judge_invariants();
        report
    }

    /// A well-formed frame: R1 (first seq), R2 (contiguous), R5 (no phantom), JSON.
    fn frame(&mut self, report: &mut Report, offset: u64, seq: Seq, payload: &[u8], json_ok: bool) {
        let safe_seq = self.safe_seq;
        report.frames += 1;
        report.max_seq = report.max_seq.max(seq);
        match self.prev {
            None if seq != Seq::FIRST => report.add(
                Code::FirstSeqNotOne,
                Invariant::R1FirstSeqIsOne,
                || format!("the first frame has seq {seq}, not 1"),
                Some(seq),
                Some(offset),
            ),
            Some(p) if p.next() != Some(seq) => report.add(
                Code::SeqGap,
                Invariant::R2SeqContiguous,
                || format!("seq {seq} follows seq {p}"),
                Some(seq),
                Some(offset),
            ),
            _ => {}
        }
        if seq == safe_seq {
            self.saw_safe = true;
        }
        if seq > safe_seq {
            report.add(
                Code::PhantomEntry,
                Invariant::R5NoPhantoms,
                || format!("frame with seq {seq} is beyond safe_seq {safe_seq}"),
                Some(seq),
                Some(offset),
            );
        }
        if !json_ok {
            // The message only for a violation that is kept: the check runs again to say why.
            let why = || format::check_json(payload).err().unwrap_or_default();
            report.add(
                Code::JsonCorrupt,
                Invariant::NoJsonCorruption,
                || format!("the payload of seq {seq} is not JSON: {}", why()),
                Some(seq),
                Some(offset),
            );
        }
        self.prev = Some(seq);
    }

    /// A damaged frame, the last the scan reads: it breaks the invariant of the seq it should
    /// have carried (R1 for the first, R2 inside the committed range, R5 past it).
    fn bad_frame(&self, report: &mut Report, offset: u64, problem: FrameProblem) {
        let safe_seq = self.safe_seq;
        let expect = self.prev.and_then(Seq::next).unwrap_or(Seq::FIRST);
        let invariant = if expect == Seq::FIRST {
            Invariant::R1FirstSeqIsOne
        } else if expect <= safe_seq {
            Invariant::R2SeqContiguous
        } else {
            Invariant::R5NoPhantoms
        };
        let committed = if expect <= safe_seq {
            "committed"
        } else {
            "uncommitted"
        };
        report.add(
            Code::FrameCorrupt,
            invariant,
            || format!("{committed} frame expected to carry seq {expect} at offset {offset}: {problem}"),
            Some(expect),
            Some(offset),
        );
    }

    /// After the last frame: R3 (safe_seq is not ahead of the log) and R4 (its frame exists).
    fn check_safe_seq(&self, report: &mut Report) {
        let safe_seq = self.safe_seq;
        if safe_seq > report.max_seq {
            let max_seq = report.max_seq;
            report.add(
                Code::SafeseqAhead,
                Invariant::R3SafeSeqLeMaxSeq,
                || format!("safe_seq is {safe_seq} but the highest seq in the log is {max_seq}"),
                Some(safe_seq),
                None,
            );
        }
        if safe_seq > Seq::ZERO && !self.saw_safe {
            report.add(
                Code::SafeseqFrameMissing,
                Invariant::R4SafeSeqFrameExists,
                || format!("no frame carries safe_seq {safe_seq}"),
                Some(safe_seq),
                None,
            );
        }
    }
}

impl Report {
    /// Fills in each invariant's verdict from the violations: the first one's message, and how
    /// many more there were.
    fn judge_invariants(&mut self) {
        for inv in Invariant::ALL {
            let mut broken = self.violations.iter().filter(|v| v.invariant == inv);
            let check = match broken.next() {
                None => Check {
                    pass: true,
                    msg: "ok".into(),
                },
                Some(first) => {
                    let more = self.invariant_counts.get(&inv).copied().unwrap_or(1) - 1;
                    let msg = if more == 0 {
                        first.msg.clone()
                    } else {
                        format!("{} (and {more} more)", first.msg)
                    };
                    Check { pass: false, msg }
                }
            };
            self.invariants.insert(inv, check);
        }
    }
}
