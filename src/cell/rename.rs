//! Step 4: the atomic rename the safe_seq update rests on, checked on the cell's filesystem.

use std::path::Path;

use anyhow::{Context, Result};

/// Step 4: a sentinel written to `target.tmp` and renamed over `target` (which holds an older
/// value) must read back; while it happens, a reader must only ever see a whole old or a whole
/// new value, never a missing or partial file.
pub fn rename_check(dir: &Path, seed: u64) -> Result<String> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let target = dir.join("target");
    let tmp = dir.join("target.tmp");
    let write_synced = |p: &Path, v: &str| -> Result<()> {
        let mut f = std::fs::File::create(p)?;
        f.write_all(v.as_bytes())?;
        f.sync_all()?;
        Ok(())
    };
    let rounds = 200u32;
    write_synced(&target, &format!("old-{seed}-0"))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|s| -> Result<u64> {
        let reader = s.spawn(|| -> Result<u64> {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let v = std::fs::read_to_string(&target)
                    .context("a reader found target missing during a rename")?;
                anyhow::ensure!(
                    v.starts_with(&format!("old-{seed}-"))
                        || v.starts_with(&format!("sentinel-{seed}-")),
                    "a reader saw a partial value {v:?}"
                );
                n += 1;
            }
            Ok(n)
        });
        let writer = (1..=rounds).try_for_each(|i| -> Result<()> {
            let sentinel = format!("sentinel-{seed}-{i}");
            write_synced(&tmp, &sentinel)?;
            std::fs::rename(&tmp, &target).context("rename target.tmp -> target")?;
            std::fs::File::open(dir)?.sync_all()?;
            let back = std::fs::read_to_string(&target)?;
            anyhow::ensure!(
                back == sentinel,
                "after rename {i} target holds {back:?}, not {sentinel:?}"
            );
            anyhow::ensure!(!tmp.exists(), "target.tmp still exists after rename {i}");
            Ok(())
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        writer?;
        reads
    })?;
    Ok(format!("{rounds} renames over an existing target read back; a concurrent reader saw {reads} whole values"))
}
