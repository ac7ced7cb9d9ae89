//! What the host tells the guest (kernel command line words) and what the guest tells the host
//! (lines on the serial console): the one contract between the two sides, in one place.
//!
//! Why a text protocol: the serial console is the only channel a bare guest has without a
//! network or a shared filesystem, and the kernel may print its own messages on it at any
//! moment. So every line of ours starts with `PMBR `, carries one fact as `key=value` words
//! (the message last), and the host ignores every other line. A state's verdict is one line,
//! so a check that dies half-way loses nothing already reported.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::crash::workload::Protocol;

/// Every console line of ours starts with this.
pub const PREFIX: &str = "PMBR ";

/// What a guest boot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the workload on the recorded disk and power off.
    Record,
    /// Build every replayed state, mount it, recover, check.
    Check,
    /// The `block-io-errors` fault kind: meet an EIO on each disk (`crate::faults::block_io`).
    IoFaults,
    /// Its second boot: reopen each disk's WAL without the fault and check it.
    IoCheck,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Record => "record",
            Mode::Check => "check",
            Mode::IoFaults => "io-faults",
            Mode::IoCheck => "io-check",
        }
    }
}

/// The guest's instructions, carried as `pm.<key>=<value>` words of the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestParams {
    pub mode: Mode,
    pub fs: String,
    pub seed: u64,
    pub protocol: Protocol,
    /// The filesystem's size in bytes: the marker region starts there.
    pub fs_bytes: u64,
    /// The whole recorded disk (filesystem and marker region).
    pub disk_bytes: u64,
    /// Subsets per epoch explored exhaustively; beyond, this many are sampled.
    pub bound: u32,
    /// Torn writes per epoch.
    pub tears: u32,
    /// What the io-check boot expects of each disk (`crate::faults::block_io`); empty otherwise.
    pub expect: String,
    /// The filesystem's mount options, comma-separated as `mount -o` takes them, for every
    /// mount of the recorded filesystem and of each state; empty: the kernel's defaults.
    pub mount_options: String,
}

/// Refuses mount options that would not survive the kernel command line as one word, or that
/// are empty: what `--mount-options` accepts.
pub fn check_mount_options(opts: &str) -> Result<()> {
    anyhow::ensure!(
        !opts.is_empty(),
        "mount options are empty; leave the option out for the kernel's defaults"
    );
    anyhow::ensure!(
        opts.len() <= 200,
        "mount options are {} bytes long; at most 200 fit on the guest's kernel command line",
        opts.len()
    );
    if let Some(c) = opts
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_,=.:/+-".contains(*c)))
    {
        bail!(
            "mount options may hold letters, digits and _ , = . : / + - only, not {c:?} \
             (they travel to the guest on its kernel command line), e.g. noauto_da_alloc"
        );
    }
    anyhow::ensure!(
        opts.split(',').all(|o| !o.is_empty()),
        "mount options {opts:?} have an empty option between commas"
    );
    Ok(())
}

impl GuestParams {
    pub fn to_cmdline(&self) -> String {
        let mode = self.mode.name();
        let expect = if self.expect.is_empty() {
            String::new()
        } else {
            format!(" pm.expect={}", self.expect)
        };
        let mount_options = if self.mount_options.is_empty() {
            String::new()
        } else {
            format!(" pm.mountopts={}", self.mount_options)
        };
        format!(
            "pm.mode={mode} pm.fs={} pm.seed={} pm.protocol={} pm.fsbytes={} pm.diskbytes={} pm.bound={} pm.tears={}{expect}{mount_options}",
            self.fs,
            self.seed,
            self.protocol.name(),
            self.fs_bytes,
            self.disk_bytes,
            self.bound,
            self.tears
        )
    }

    pub fn from_cmdline(cmdline: &str) -> Result<GuestParams> {
        let kv: BTreeMap<&str, &str> = cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("pm.")?.split_once('='))
            .collect();
        let get = |k: &str| {
            kv.get(k)
                .copied()
                .with_context(|| format!("the kernel command line has no pm.{k}="))
        };
        let num = |k: &str| -> Result<u64> {
            get(k)?
                .parse()
                .with_context(|| format!("pm.{k} is not a number"))
        };
        let mode = match get("mode")? {
            "record" => Mode::Record,
            "check" => Mode::Check,
            "io-faults" => Mode::IoFaults,
            "io-check" => Mode::IoCheck,
            m => bail!("pm.mode={m} is not record, check, io-faults or io-check"),
        };
        let protocol = <Protocol as clap::ValueEnum>::from_str(get("protocol")?, false)
            .map_err(|e| anyhow::anyhow!("pm.protocol: {e}"))?;
        Ok(GuestParams {
            mode,
            fs: get("fs")?.to_string(),
            seed: num("seed")?,
            protocol,
            fs_bytes: num("fsbytes")?,
            disk_bytes: num("diskbytes")?,
            bound: u32::try_from(num("bound")?).context("pm.bound is too large")?,
            // Absent from the command lines of builds before torn writes: none.
            tears: match kv.get("tears") {
                Some(t) => t.parse().context("pm.tears is not a number")?,
                None => 0,
            },
            expect: kv.get("expect").map(|e| e.to_string()).unwrap_or_default(),
            // Absent: the kernel's defaults.
            mount_options: match kv.get("mountopts") {
                Some(o) => {
                    check_mount_options(o).context("pm.mountopts")?;
                    o.to_string()
                }
                None => String::new(),
            },
        })
    }

    /// The data argument of mount(2): the mount options, or none.
    pub fn mount_data(&self) -> Option<&str> {
        (!self.mount_options.is_empty()).then_some(self.mount_options.as_str())
    }
}

/// One of our console lines: its kind (the first word) and its `key=value` words; a `msg=`
/// word takes the rest of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
}

impl Line {
    pub fn new(kind: &str) -> Line {
        Line {
            kind: kind.into(),
            fields: BTreeMap::new(),
        }
    }

    pub fn with(mut self, k: &str, v: impl ToString) -> Line {
        self.fields.insert(k.into(), v.to_string());
        self
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }

    pub fn num(&self, k: &str) -> Option<u64> {
        self.get(k)?.parse().ok()
    }

    /// The line as printed: `PMBR <kind> k=v … msg=<rest>`. Values other than `msg` have their
    /// spaces replaced, so the line always reads back.
    pub fn render(&self) -> String {
        let mut s = format!("{PREFIX}{}", self.kind);
        for (k, v) in &self.fields {
            if k != "msg" {
                s.push_str(&format!(" {k}={}", v.replace(char::is_whitespace, "_")));
            }
        }
        if let Some(m) = self.fields.get("msg") {
            s.push_str(&format!(" msg={}", m.replace(['\n', '\r'], " ")));
        }
        s
    }

    /// Reads one console line; `None` for anything that is not ours (kernel messages, noise).
    pub fn parse(raw: &str) -> Option<Line> {
        let raw = raw.trim_end_matches(['\r', '\n']);
        let rest = &raw[raw.find(PREFIX)? + PREFIX.len()..];
        let (head, msg) = match rest.find(" msg=") {
            Some(i) => (&rest[..i], Some(&rest[i + 5..])),
            None => (rest, None),
        };
        let mut words = head.split_whitespace();
        let mut line = Line::new(words.next()?);
        for w in words {
            let (k, v) = w.split_once('=')?;
            line.fields.insert(k.into(), v.into());
        }
        if let Some(m) = msg {
            line.fields.insert("msg".into(), m.into());
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_params_survive_the_kernel_command_line() {
        let p = GuestParams {
            mode: Mode::Check,
            fs: "xfs".into(),
            seed: 42,
            protocol: Protocol::Real,
            fs_bytes: 1 << 20,
            disk_bytes: 2 << 20,
            bound: 8,
            tears: 2,
            expect: String::new(),
            mount_options: String::new(),
        };
        let cmdline = format!("console=ttyS0 quiet {} panic=-1", p.to_cmdline());
        assert_eq!(GuestParams::from_cmdline(&cmdline).unwrap(), p);
        assert!(!cmdline.contains("pm.mountopts"), "{cmdline}");
        assert_eq!(p.mount_data(), None);
        let with = GuestParams {
            mount_options: "noauto_da_alloc,commit=5".into(),
            ..p
        };
        let back = GuestParams::from_cmdline(&with.to_cmdline()).unwrap();
        assert_eq!(back.mount_data(), Some("noauto_da_alloc,commit=5"));
        assert_eq!(back, with);
        assert!(GuestParams::from_cmdline("console=ttyS0").is_err());
    }

    #[test]
    fn mount_options_that_would_not_survive_the_kernel_command_line_are_refused() {
        for ok in [
            "noauto_da_alloc",
            "data=journal,commit=5",
            "compress=zstd:1",
        ] {
            check_mount_options(ok).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("noauto_da_alloc pm.mode=record", "not ' '"),
            ("a\"b", "not '\"'"),
            ("a,,b", "empty option"),
        ] {
            let e = check_mount_options(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(check_mount_options(&"a".repeat(201)).is_err());
    }

    #[test]
    fn a_console_line_reads_back_even_after_kernel_noise() {
        let l = Line::new("state")
            .with("n", 3)
            .with("spec", "12/0,2")
            .with("check", "oracle")
            .with(
                "msg",
                "acknowledged entry 4 was lost: recovery kept 3 entries",
            );
        let back = Line::parse(&format!("[   3.1] xfs: noise{}\r\n", l.render())).unwrap();
        assert_eq!(back, l);
        assert!(Line::parse("[    0.000] Linux version 6.1").is_none());
        assert!(Line::parse("PMBR").is_none());
    }
}
