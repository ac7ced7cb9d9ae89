//! How a cell is planned: which filesystem, which binary, and why it is skipped.

use super::*;

#[test]
fn root_with_mkfs_gets_a_fresh_loop_filesystem() {
    let p = plan_fs(
        "xfs",
        true,
        Some("/sbin/mkfs.xfs".into()),
        Path::new("/tmp"),
        Some("xfs"),
    );
    assert_eq!(
        p,
        FsPlan::Loop {
            mkfs: "/sbin/mkfs.xfs".into()
        }
    );
}

#[test]
fn without_root_the_temp_dir_serves_when_it_is_that_filesystem() {
    let p = plan_fs("tmpfs", false, None, Path::new("/tmp"), Some("tmpfs"));
    assert_eq!(p, FsPlan::Existing { dir: "/tmp".into() });
}

#[test]
fn without_root_another_filesystem_is_skipped_naming_root() {
    match plan_fs(
        "xfs",
        false,
        Some("/sbin/mkfs.xfs".into()),
        Path::new("/tmp"),
        Some("ext4"),
    ) {
        FsPlan::Skip { reason } => {
            assert!(reason.contains("root"), "{reason}");
            assert!(!reason.contains("not installed"), "{reason}");
        }
        other => panic!("expected SKIP, got {other:?}"),
    }
}

#[test]
fn missing_mkfs_is_skipped_naming_the_program() {
    match plan_fs("btrfs", true, None, Path::new("/tmp"), Some("ext4")) {
        FsPlan::Skip { reason } => {
            assert!(reason.contains("mkfs.btrfs"), "{reason}");
            assert!(!reason.contains("needs root"), "{reason}");
        }
        other => panic!("expected SKIP, got {other:?}"),
    }
}

#[test]
fn seed_cells_are_the_six_of_the_seed_document() {
    assert!(is_seed_cell("riscv64", "xfs"));
    assert!(!is_seed_cell("s390x", "ext4"));
    assert!(!is_seed_cell("amd64", "btrfs"));
}
