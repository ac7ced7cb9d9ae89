//! `portability-matrix generate`: writes a large valid WAL through the real append path.
//!
//! Benchmarks and fixtures need logs far bigger than the tests write. Going through
//! `Wal::append_batch` (not a raw writer) means the file is exactly what a production writer
//! leaves, checksums, safe_seq and all.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

/// Writes a WAL of about `size` bytes of `payload_bytes`-byte entries into `dir` (created if
/// missing; it must not hold a WAL yet), committing `batch` entries at a time.
pub fn run(dir: &Path, size: u64, payload_bytes: usize, batch: usize) -> Result<ExitCode> {
    if payload_bytes < 20 {
        bail!("--payload-bytes must be at least 20 to hold a telemetry record");
    }
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut wal = wal::Wal::open(dir)?;
    if wal.safe_seq() != wal::Seq::ZERO {
        bail!(
            "{} already holds a WAL (safe_seq {}); generate into an empty directory",
            dir.display(),
            wal.safe_seq()
        );
    }
    let started = std::time::Instant::now();
    let frame = payload_bytes as u64 + wal::format::FRAME_HEADER_LEN as u64;
    let total = (size.saturating_sub(wal::format::FILE_HEADER_LEN) / frame).max(1);
    let mut next = 1u64;
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(batch);
    while next <= total {
        pending.clear();
        while pending.len() < batch && next <= total {
            pending.push(record(next, payload_bytes));
            next += 1;
        }
        wal.append_batch(&pending)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let bytes = total * frame + wal::format::FILE_HEADER_LEN;
    eprintln!(
        "generated {} entries, {:.1} MiB in {}, {:.0} MiB/s",
        total,
        bytes as f64 / 1048576.0,
        dir.display(),
        bytes as f64 / 1048576.0 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// A telemetry record of exactly `size` bytes.
fn record(i: u64, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"seq":{i},"host":"node-{}","metric":"disk.io","value":{},"pad":""#,
        i % 64,
        i % 1000
    );
    let mut out = head.into_bytes();
    let pad = size.saturating_sub(out.len() + 2);
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(b"\"}");
    out
}
