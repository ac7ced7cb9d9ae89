//! What the gate is asked about: the repository whose workflow run holds the evidence
//! (`RepoSlug`) and the commit being released (`Sha`).
//!
//! Both are parsed once, on the command line, into these types; the GitHub transport builds
//! routes from a `RepoSlug` and the evidence readers call a run STALE by comparing a recorded
//! commit with the `Sha`, so neither ever looks at a raw string again.

use std::fmt;

/// A GitHub repository, OWNER/NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    pub fn parse(s: &str) -> Result<RepoSlug, String> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match s.split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(RepoSlug {
                owner: owner.into(),
                name: name.into(),
            }),
            _ => Err(format!("{s:?} is not a repository; write it as OWNER/NAME")),
        }
    }
}

impl fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The commit being released: evidence from any other commit is STALE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha(String);

impl Sha {
    /// Accepts 7 to 64 hex digits; a short SHA matches the full SHAs it is a prefix of.
    pub fn parse(s: &str) -> Result<Sha, String> {
        let s = s.trim().to_ascii_lowercase();
        if (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha(s))
        } else {
            Err(format!("{s:?} is not a commit SHA (7 to 64 hex digits)"))
        }
    }

    pub fn matches(&self, other: &str) -> bool {
        other.to_ascii_lowercase().starts_with(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
