//! The scan spread over every core: what the verifier reads a whole log with.
//!
//! For a whole log the costly part of a scan is not finding the frames (each 16-byte header
//! says where the next frame starts) but checking them: CRC-32C, and for the verifier a JSON
//! check of every payload. So this scan reads the log in windows of a few MiB; one cheap
//! sequential pass over a window finds its frames, checking each length before it is used
//! exactly as [`Scanner`](super::Scanner) does; then the checksums and the caller's own check
//! of each payload run on every core; then the caller is handed the frames in file order, up to
//! the first damaged one, which ends the scan. The caller therefore sees the very items the
//! sequential [`Scanner`](super::Scanner) would give it, in the same order, plus the result of
//! its check: `tests/verify_parallel.rs` holds the verifier's two paths to the same reports.
//!
//! The calling thread reads ahead (a few windows in flight) and cuts each window into runs of
//! frames that the worker threads, and the calling thread when it has nothing to read, take in
//! turn. No thread waits for another to finish a window until the read-ahead is full, so the
//! scan keeps going on a machine whose cores are busy with other work.
//!
//! Memory is bounded whatever the log's size: the windows in flight (or one frame, when a
//! frame is larger than them all: 16 MiB at most) and 25 bytes of bookkeeping per frame in them.

use std::collections::VecDeque;
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::{FrameProblem, Scanned};
use crate::format::{self, FrameHeader, FRAME_HEADER_LEN};
use crate::seq::Seq;
use crate::storage::StorageFile;

/// Bytes read per window by default: small enough to stay near the cores' caches, large enough
/// that handing out its work costs nothing measurable.
pub const DEFAULT_WINDOW: usize = 2 << 20;

/// By default a run of work holds at least this many bytes of frames.
pub const DEFAULT_MIN_SHARE: usize = 64 << 10;

/// Windows read ahead of the one being handed to the caller.
const IN_FLIGHT: usize = 4;

/// Runs of frames per thread a full window is cut into.
const RUNS_PER_THREAD: usize = 4;

/// How a parallel scan divides its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Threads that check frames, the calling thread included.
    pub threads: NonZeroUsize,
    /// Bytes read per window (a frame larger than this is read whole).
    pub window: usize,
    /// The fewest bytes of frames in a run of work (0: every window is cut into the most runs).
    pub min_share: usize,
}

impl Plan {
    /// One thread per processor this process may run on, [`DEFAULT_WINDOW`]-byte windows.
    pub fn all_cores() -> Plan {
        Plan {
            threads: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            window: DEFAULT_WINDOW,
            min_share: DEFAULT_MIN_SHARE,
        }
    }
}

/// A frame found in a window: where it starts in the window, and its decoded header.
struct Located {
    start: usize,
    header: FrameHeader,
}

/// What each frame's check found, one byte per frame.
const CRC_OK: u8 = 1;
const CHECK_OK: u8 = 2;

/// One window of the log: its bytes, the frames found in them, how it ends, and its checking.
#[derive(Default)]
struct Window {
    /// File offset of `buf[0]`, where the window's first frame starts.
    pos: u64,
    buf: Vec<u8>,
    frames: Vec<Located>,
    /// Bytes of the whole frames found, from `buf[0]`.
    consumed: usize,
    /// The damaged frame just after them that ends the scan, if the window shows one.
    stop: Option<(FrameProblem, Option<Seq>)>,
    /// Whether the window reaches the end of the scan.
    last: bool,
    /// What the frame after the window's frames is known to need, when it is not complete.
    need: usize,
    /// Where each run of work starts, as an index into `frames`, and where the last one ends.
    runs: Vec<usize>,
    /// One byte of `CRC_OK | CHECK_OK` per frame.
    results: Vec<AtomicU8>,
    /// Runs not yet checked.
    pending: AtomicUsize,
}

/// A run of a window's frames to check.
type Job = (Arc<Window>, usize);

impl Window {
    /// Reads the window starting at `pos`, finds its frames and cuts them into runs.
    fn load<F: StorageFile>(
        &mut self,
        file: &F,
        pos: u64,
        end: u64,
        want: usize,
        plan: Plan,
    ) -> io::Result<()> {
        let want = (want as u64).min(end - pos) as usize;
        let have = read_window(file, &mut self.buf, pos, want)?;
        self.buf.truncate(have);
        self.pos = pos;
        self.last = have < want || pos + want as u64 == end;
        self.stop = locate(&self.buf, self.last, &mut self.frames, &mut self.need);
        self.consumed = self
            .frames
            .last()
            .map_or(0, |f| f.start + f.header.frame_len() as usize);
        self.results.clear();
        self.results
            .resize_with(self.frames.len(), AtomicU8::default);
        // Runs of about equal bytes, at least `min_share` each.
        let most = plan.threads.get() * RUNS_PER_THREAD;
        let runs = match self.consumed.checked_div(plan.min_share) {
            Some(n) => n.min(most),
            None => most,
        }
        .clamp(1, self.frames.len().max(1));
        let share = self.consumed.div_ceil(runs).max(1);
        self.runs.clear();
        self.runs.push(0);
        for r in 1..runs {
            let at = self.frames.partition_point(|f| f.start < r * share);
            self.runs.push(at);
        }
        self.runs.push(self.frames.len());
        self.pending = AtomicUsize::new(runs);
        Ok(())
    }

    /// Where the scan goes on after this window, if it does.
    fn next_pos(&self) -> Option<u64> {
        let done = self.stop.is_some() || (self.last && self.consumed == self.buf.len());
        (!done).then_some(self.pos + self.consumed as u64)
    }

    /// Checks run `run`: each frame's checksum, then `check` on a payload whose checksum holds.
    fn check_run<C: Fn(&[u8]) -> bool>(&self, run: usize, check: &C) {
        let (from, to) = (self.runs[run], self.runs[run + 1]);
        for (f, r) in self.frames[from..to].iter().zip(&self.results[from..to]) {
            let frame = &self.buf[f.start..][..f.header.frame_len() as usize];
            let (hb, payload) = frame
                .split_first_chunk::<FRAME_HEADER_LEN>()
                .expect("located");
            let result = if format::frame_crc(hb, payload) != f.header.crc {
                0
            } else if check(payload) {
                CRC_OK | CHECK_OK
            } else {
                CRC_OK
            };
            r.store(result, Ordering::Relaxed);
        }
        self.pending.fetch_sub(1, Ordering::Release);
    }

    /// Hands the window's frames to `visit`, then its damaged frame; `false` once the scan is
    /// over.
    fn deliver<V: FnMut(Scanned<'_>, bool)>(&self, visit: &mut V) -> bool {
        for (f, r) in self.frames.iter().zip(&self.results) {
            let offset = self.pos + f.start as u64;
            let r = r.load(Ordering::Relaxed);
            if r & CRC_OK == 0 {
                visit(
                    bad(offset, FrameProblem::Checksum, Some(f.header.seq)),
                    false,
                );
                return false;
            }
            let payload = &self.buf[f.start + FRAME_HEADER_LEN..][..f.header.len as usize];
            let seq = f.header.seq;
            visit(
                Scanned::Frame {
                    offset,
                    seq,
                    payload,
                },
                r & CHECK_OK != 0,
            );
        }
        if let Some((problem, claimed_seq)) = self.stop {
            visit(
                bad(self.pos + self.consumed as u64, problem, claimed_seq),
                false,
            );
            return false;
        }
        self.next_pos().is_some()
    }
}

/// The queue of runs to check, shared by the worker threads and the calling thread.
struct Jobs {
    queue: Mutex<Receiver<Job>>,
    /// Set once the scan is over: runs still queued are dropped unchecked.
    over: AtomicBool,
}

impl Jobs {
    /// A worker: checks runs until the calling thread hangs up.
    fn work<C: Fn(&[u8]) -> bool>(&self, check: &C) {
        loop {
            let job = self.queue.lock().expect("no worker panics").recv();
            let Ok((w, run)) = job else { return };
            if !self.over.load(Ordering::Relaxed) {
                w.check_run(run, check);
            }
        }
    }

    /// Checks one queued run on the calling thread, if one is there for the taking.
    fn help<C: Fn(&[u8]) -> bool>(&self, check: &C) -> bool {
        let job = match self.queue.try_lock() {
            Ok(q) => q.try_recv().ok(),
            Err(_) => None,
        };
        job.map(|(w, run)| w.check_run(run, check)).is_some()
    }
}

/// Scans the frames from `start` to `end` of `file` and hands `visit` each [`Scanned`] item the
/// sequential scanner would return, in order, with the result of `check` on a well-formed
/// frame's payload (`false` beside a damaged frame). `check` runs on several threads at once.
pub fn scan<F, C, V>(
    file: &F,
    start: u64,
    end: u64,
    plan: Plan,
    check: C,
    visit: V,
) -> io::Result<()>
where
    F: StorageFile,
    C: Fn(&[u8]) -> bool + Sync,
    V: FnMut(Scanned<'_>, bool),
{
    let (tx, rx) = mpsc::channel();
    let jobs = Jobs {
        queue: Mutex::new(rx),
        over: AtomicBool::new(false),
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..plan.threads.get())
            .map(|_| s.spawn(|| jobs.work(&check)))
            .collect();
        let result = drive(file, start, end, plan, &check, visit, &jobs, tx);
        jobs.over.store(true, Ordering::Relaxed);
        // Joined, not only waited for: the scope alone returns once the workers' closures are
        // done, while their threads may still be exiting, and a leak checker (the fuzz targets
        // run under one) counts what an exiting thread still holds.
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
        result
    })
}

/// The calling thread's part: reads ahead, queues the runs, helps check them, and hands the
/// oldest window to `visit` once it is checked.
#[allow(clippy::too_many_arguments)]
fn drive<F, C, V>(
    file: &F,
    start: u64,
    end: u64,
    plan: Plan,
    check: &C,
    mut visit: V,
    jobs: &Jobs,
    tx: Sender<Job>,
) -> io::Result<()>
where
    F: StorageFile,
    C: Fn(&[u8]) -> bool,
    V: FnMut(Scanned<'_>, bool),
{
    let window = plan.window.max(FRAME_HEADER_LEN);
    let budget = window * IN_FLIGHT;
    let mut in_flight: VecDeque<Arc<Window>> = VecDeque::new();
    let mut spare: Vec<Window> = Vec::new();
    let mut next = (start < end).then_some((start, window));
    let mut read_error = None;
    loop {
        // Read ahead while there is room.
        while let Some((pos, want)) = next {
            let bytes: usize = in_flight.iter().map(|w| w.buf.len()).sum();
            if !in_flight.is_empty() && bytes + want > budget {
                break;
            }
            let mut w = spare.pop().unwrap_or_default();
            if let Err(e) = w.load(file, pos, end, want, plan) {
                // Reported only if the windows before it do not end the scan first.
                read_error = Some(e);
                next = None;
                break;
            }
            next = w.next_pos().map(|p| (p, window.max(w.need)));
            let w = Arc::new(w);
            for run in 0..w.runs.len() - 1 {
                tx.send((Arc::clone(&w), run))
                    .expect("the queue outlives the scan");
            }
            in_flight.push_back(w);
        }
        let Some(oldest) = in_flight.pop_front() else {
            return read_error.map_or(Ok(()), Err);
        };
        while oldest.pending.load(Ordering::Acquire) > 0 {
            if !jobs.help(check) {
                std::thread::yield_now();
            }
        }
        if !oldest.deliver(&mut visit) {
            return Ok(());
        }
        // Keep the window's buffers for the next one, unless a huge frame swelled them.
        if let Ok(mut w) = Arc::try_unwrap(oldest) {
            if w.buf.capacity() > 2 * window {
                w.buf = Vec::new();
            }
            spare.push(w);
        }
    }
}

/// Reads up to `want` bytes at `pos` into `buf`; returns how many the file had (fewer only if
/// it shrank during the scan, which then ends there, as the sequential scanner's does).
fn read_window<F: StorageFile>(
    file: &F,
    buf: &mut Vec<u8>,
    pos: u64,
    want: usize,
) -> io::Result<usize> {
    buf.resize(want, 0);
    let mut have = 0;
    while have < want {
        match file.read_at(&mut buf[have..want], pos + have as u64) {
            Ok(0) => break,
            Ok(k) => have += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(have)
}

/// The sequential pass: finds the whole frames at the start of `bytes` (lengths checked before
/// use). Returns the damaged frame that ends the scan, if the window shows one; otherwise
/// `need` is what the first frame not found needs, so the next window is read large enough.
fn locate(
    bytes: &[u8],
    last: bool,
    frames: &mut Vec<Located>,
    need: &mut usize,
) -> Option<(FrameProblem, Option<Seq>)> {
    frames.clear();
    *need = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let Some(hb) = rest.first_chunk::<FRAME_HEADER_LEN>() else {
            *need = FRAME_HEADER_LEN;
            return last.then_some((FrameProblem::Truncated, None));
        };
        let header = FrameHeader::decode(hb);
        if !format::len_in_range(header.len) {
            return Some((FrameProblem::BadLength(header.len), Some(header.seq)));
        }
        let total = header.frame_len() as usize;
        if rest.len() < total {
            *need = total;
            return last.then_some((FrameProblem::Truncated, Some(header.seq)));
        }
        frames.push(Located { start: at, header });
        at += total;
    }
    None
}

/// A damaged frame as the scan reports it.
fn bad<'a>(offset: u64, problem: FrameProblem, claimed_seq: Option<Seq>) -> Scanned<'a> {
    Scanned::Bad {
        offset,
        problem,
        claimed_seq,
    }
}
