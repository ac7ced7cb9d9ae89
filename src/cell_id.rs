//! A cell's identity: an architecture (Debian's name) and a filesystem type, and the seed's six.
//!
//! A cell's names become part of paths (`evidence/<arch>/<fs>/`), artifact names
//! (`portability-evidence-<arch>-<fs>`) and commands (`mkfs.<fs>`), so they obey one rule
//! everywhere, here: 1 to 32 lowercase ASCII letters, digits or `_`. That leaves no room for a
//! path separator, a dash that would make an artifact name ambiguous, or anything a shell would
//! read. The command line, the matrix, the gate and the tests take their names through this
//! module; `dist/run-cell.sh` applies the same rule ([`NAME_PATTERN`]).
//!
//! This file uses only `std` and `serde`, so the integration tests include it as it is and
//! share the one list of seed cells.

use std::fmt;

/// The rule, as the extended regular expression `dist/run-cell.sh` tests names with.
#[allow(dead_code)] // the rule's text, for the script; a test holds them equal
pub const NAME_PATTERN: &str = "^[a-z0-9_]{1,32}$";

/// The seed's six cells, in the seed's numbering (cell 1 is amd64/ext4).
pub const SEED_CELLS: [(&str, &str); 6] = [
    ("amd64", "ext4"),
    ("amd64", "xfs"),
    ("arm64", "ext4"),
    ("arm64", "xfs"),
    ("riscv64", "ext4"),
    ("riscv64", "xfs"),
];

/// One matrix cell: an architecture (Debian name) and a filesystem type, both valid names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellId {
    pub arch: String,
    pub fs: String,
}

/// Whether `w` is a valid architecture or filesystem name.
pub fn is_name(w: &str) -> bool {
    (1..=32).contains(&w.len())
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `w` as an architecture name, or a sentence saying what one looks like.
pub fn arch_name(w: &str) -> Result<String, String> {
    checked(w, "an architecture name", "amd64")
}

/// `w` as a filesystem type, or a sentence saying what one looks like.
pub fn fs_name(w: &str) -> Result<String, String> {
    checked(w, "a filesystem type", "ext4")
}

fn checked(w: &str, what: &str, example: &str) -> Result<String, String> {
    if is_name(w) {
        Ok(w.to_string())
    } else {
        Err(format!(
            "{w:?} is not {what} (1 to 32 lowercase letters, digits and _, such as {example})"
        ))
    }
}

impl CellId {
    pub fn new(arch: &str, fs: &str) -> Result<CellId, String> {
        Ok(CellId {
            arch: arch_name(arch)?,
            fs: fs_name(fs)?,
        })
    }

    /// Parses "arch/fs".
    pub fn parse(s: &str) -> Result<CellId, String> {
        match s.split_once('/') {
            Some((arch, fs)) => CellId::new(arch, fs),
            None => Err(format!(
                "{s:?} is not a cell; write it as \"arch/fs\", such as \"amd64/ext4\""
            )),
        }
    }

    /// The seed's number for this cell (1-6), if it is one of the six.
    pub fn seed_number(&self) -> Option<u8> {
        seed_number(&self.arch, &self.fs)
    }
}

/// The seed's number of `arch`/`fs` (1-6), if it is one of the six.
pub fn seed_number(arch: &str, fs: &str) -> Option<u8> {
    SEED_CELLS
        .iter()
        .position(|(a, f)| *a == arch && *f == fs)
        .map(|i| i as u8 + 1)
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.arch, self.fs)
    }
}

impl serde::Serialize for CellId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_accepts_debian_names_and_nothing_a_path_or_shell_reads() {
        for ok in [
            "amd64", "riscv64", "ext4", "xfs", "btrfs", "s390x", "f2fs", "a_b",
        ] {
            assert!(is_name(ok), "{ok}");
        }
        let long = "a".repeat(33);
        for bad in [
            "",
            "Ext4",
            "ext-4",
            "ext.4",
            "../x",
            "a/b",
            "x y",
            "a;b",
            long.as_str(),
        ] {
            assert!(!is_name(bad), "{bad:?}");
            assert!(CellId::new("amd64", bad).is_err(), "{bad:?}");
            assert!(CellId::new(bad, "ext4").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_action_script_applies_the_same_rule() {
        let script = include_str!("../dist/run-cell.sh");
        assert!(
            script.contains(&format!("name_rule='{NAME_PATTERN}'")),
            "dist/run-cell.sh must test names with {NAME_PATTERN}"
        );
    }

    #[test]
    fn a_cell_parses_from_arch_slash_fs_and_knows_its_seed_number() {
        let c = CellId::parse("arm64/ext4").unwrap();
        assert_eq!((c.arch.as_str(), c.fs.as_str()), ("arm64", "ext4"));
        assert_eq!(c.seed_number(), Some(3));
        assert_eq!(CellId::parse("s390x/ext4").unwrap().seed_number(), None);
        assert!(CellId::parse("amd64-ext4").unwrap_err().contains("arch/fs"));
        assert_eq!(c.to_string(), "arm64/ext4");
    }
}
