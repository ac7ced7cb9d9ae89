//! Where a cell's filesystem comes from, and why it is skipped when it can have none.

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
fn missing_mkfs_names_the_package_from_the_filesystem_table() {
    match plan_fs("xfs", true, None, Path::new("/tmp"), Some("ext4")) {
        FsPlan::Skip { reason } => assert!(reason.contains("xfs: xfsprogs"), "{reason}"),
        other => panic!("expected SKIP, got {other:?}"),
    }
    match plan_fs("nosuchfs", true, None, Path::new("/tmp"), Some("ext4")) {
        FsPlan::Skip { reason } => assert!(reason.contains("no package is known"), "{reason}"),
        other => panic!("expected SKIP, got {other:?}"),
    }
}
