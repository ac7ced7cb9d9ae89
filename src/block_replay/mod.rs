//! Block replay: power loss on the real filesystem, in a real kernel of the cell's architecture.
//!
//! The power-loss explorer of [`crate::crash`] derives crash states from a persistence model; the
//! real filesystem's own behaviour after a power cut is argued there, not measured. Here a
//! Debian kernel boots under qemu-system with this binary as its `/init` ([`initramfs`],
//! [`modules`], [`guest`], [`guest_env`]). It runs the standard workload with the real WAL on a
//! real ext4, xfs or btrfs whose disk
//! QEMU's `blklogwrites` driver logs write by write ([`logwrites`]), marking every issued and
//! acknowledged append on the same disk ([`guest_record`], [`marks`]). The host then derives every state a power
//! cut could leave, one per flush point and subsets of each flush's epoch ([`replay`]), and a
//! second boot of the same kernel mounts each (journal recovery by the real filesystem), runs
//! WAL recovery and checks the acknowledged-durability oracle, R1-R5, S1 and S6
//! ([`guest_check`]). Host and guest talk through the kernel command line and the serial console
//! ([`console`]); [`qemu`] boots, [`kernel`] finds the cached kernel package, [`guest_image`] readies a guest, [`host`] runs the
//! whole and [`summary`] is the evidence section. Nothing is loaded into the host's kernel and
//! nothing is mounted on the host.
//!
//! `docs/crash-model.md` ("Block replay") describes what is claimed and what is not yet done.

pub mod console;
pub mod guest;
pub mod guest_check;
pub mod guest_env;
pub mod guest_image;
pub mod guest_record;
pub mod host;
pub mod initramfs;
pub mod kernel;
pub mod logwrites;
pub mod marks;
pub mod modules;
pub mod qemu;
pub mod replay;
pub mod summary;
