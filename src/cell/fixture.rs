//! Step 3: a known-good WAL, written through the real append path, read back, verified, and kept
//! in the evidence so that anyone can verify it again (`portability-matrix verify --dir …`).

use std::path::Path;

use anyhow::{Context, Result};

/// The payloads of the known-good fixture.
pub const FIXTURE: [&str; 5] = [
    r#"{"seq":1,"event":"boot","ok":true}"#,
    r#"{"seq":2,"metric":"cpu.load","value":0.42}"#,
    r#"{"seq":3,"metric":"mem.free","value":1048576,"unit":"bytes"}"#,
    r#"{"seq":4,"event":"note","text":"ünïcødé ✓"}"#,
    r#"{"seq":5,"event":"shutdown","ok":true}"#,
];

/// Writes the fixture WAL through the real append path, verifies it, and copies its files into
/// the evidence so it can be verified again later with `portability-matrix verify`.
pub fn known_good_fixture(dir: &Path, keep: &Path) -> Result<wal::verify::Report> {
    std::fs::create_dir_all(dir)?;
    let mut w = wal::Wal::open(dir)?;
    for p in FIXTURE {
        w.append(p.as_bytes())?;
    }
    let back: Vec<wal::Entry> = w.read_from(wal::Seq::ZERO).collect::<Result<_, _>>()?;
    anyhow::ensure!(
        back.iter()
            .map(|e| e.payload.as_slice())
            .eq(FIXTURE.iter().map(|p| p.as_bytes())),
        "the fixture did not read back byte for byte"
    );
    drop(w);
    let report = wal::verify::verify_dir(dir)?;
    std::fs::create_dir_all(keep)?;
    for name in [wal::format::LOG_FILE, wal::format::SAFE_SEQ_FILE] {
        std::fs::copy(dir.join(name), keep.join(name))
            .with_context(|| format!("cannot keep the fixture's {name}"))?;
    }
    Ok(report)
}
