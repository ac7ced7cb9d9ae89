//! What both guest boots share: where things are mounted, how a line reaches the host, how to
//! wait for a disk. Kept apart from the boot itself so that the record and check sides depend on
//! it and not on each other.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::console::Line;

/// Where the recorded filesystem (or a state) is mounted in the guest.
pub const MNT: &str = "/mnt";
/// The WAL directory inside it.
pub const WAL_DIR: &str = "/mnt/wal";

/// Prints one of our lines on the console.
pub fn say(l: Line) {
    println!("{}", l.render());
}

/// Waits for a device node to appear (devtmpfs adds it when the driver has probed the disk).
pub fn wait_for(dev: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(dev).exists() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{dev} did not appear within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
