//! A downloaded artifact, a zip held in memory, read as evidence.
//!
//! Only the `wal_verify.json` entries are decompressed, each under a size cap; nothing is ever
//! written to a path taken from the archive, and an archive holding an entry whose name escapes
//! its root (`../x`, `/etc/x`) is not evidence at all. Which entry counts (the newest run's) and
//! what it says are decided as for a folder, by `evidence::pick_newest` and
//! `evidence::classify`.

use std::io::{Read, Seek};

use super::evidence::{classify, excerpt, over_entry_cap, pick_newest};
use super::observation::Observation;
use super::target::Sha;
use crate::cell_id::CellId;
use crate::evidence::layout::WAL_VERIFY as FILE;

/// Whether a download starts like a zip archive (a local file header, or the end record of an
/// empty archive).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Whether an archive entry name is relative and stays inside the archive: no leading slash or
/// backslash, no `..` component, no drive letter, no NUL. Stricter than `enclosed_name`, which
/// accepts some of these and rewrites them.
fn plain_name(name: &str) -> bool {
    !name.starts_with(['/', '\\'])
        && !name.contains([':', '\0'])
        && name.split(['/', '\\']).all(|c| c != "..")
}

/// What a downloaded artifact (a zip, held in memory) says about `cell`.
pub fn read_zip(
    bytes: &[u8],
    cell: &CellId,
    sha: Option<&Sha>,
    entry_cap: u64,
    source: &str,
) -> Observation {
    if !looks_like_zip(bytes) {
        let head = excerpt(bytes, 40);
        let note = format!("the download is not a zip archive (it begins {head:?})");
        return Observation::unreadable(cell, note, source);
    }
    let mut zip = match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => {
            let note = format!("the zip cannot be read: {e}");
            return Observation::unreadable(cell, note, source);
        }
    };
    let (names, indices) = match entry_names(&mut zip) {
        Ok(found) => found,
        Err(why) => return Observation::unreadable(cell, why, source),
    };
    let i = match pick_newest(&names) {
        Ok(i) => i,
        Err(why) => return Observation::unreadable(cell, why, source),
    };
    let source = format!("{source}:{}", names[i]);
    match read_entry_capped(&mut zip, indices[i], entry_cap) {
        Ok(buf) => classify(&buf, cell, sha, &source),
        Err(why) => Observation::unreadable(cell, why, &source),
    }
}

/// An archive's entry names ('/'-separated, relative) and their indices; an error when one
/// cannot be read or escapes the archive.
fn entry_names<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
) -> Result<(Vec<String>, Vec<usize>), String> {
    let mut names = Vec::new();
    let mut indices = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| format!("the zip cannot be read: {e}"))?;
        let Some(safe) = entry.enclosed_name().filter(|_| plain_name(entry.name())) else {
            return Err(format!(
                "the zip holds an entry named {:?}, which escapes the archive; it is not evidence",
                entry.name()
            ));
        };
        let rel: Vec<String> = safe
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        names.push(rel.join("/"));
        indices.push(i);
    }
    Ok((names, indices))
}

/// Decompresses one entry, never more than `cap` bytes of it.
fn read_entry_capped<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    cap: u64,
) -> Result<Vec<u8>, String> {
    let mut entry = zip
        .by_index(index)
        .map_err(|e| format!("cannot read {FILE}: {e}"))?;
    if entry.size() > cap {
        return Err(over_entry_cap(Some(entry.size()), cap));
    }
    let mut buf = Vec::new();
    (&mut entry)
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {FILE}: {e}"))?;
    if buf.len() as u64 > cap {
        return Err(over_entry_cap(None, cap));
    }
    Ok(buf)
}
