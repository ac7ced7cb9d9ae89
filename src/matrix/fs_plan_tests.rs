//! Where a cell's filesystem comes from, and why it is skipped when it can have none.

use super::*;

/// The reason of a SKIP plan; any other plan fails the test.
fn skip_reason(p: FsPlan) -> String {
    match p {
        FsPlan::Skip { reason } => reason,
        other => panic!("expected SKIP, got {other:?}"),
    }
}

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
    let reason = skip_reason(plan_fs(
        "xfs",
        false,
        Some("/sbin/mkfs.xfs".into()),
        Path::new("/tmp"),
        Some("ext4"),
    ));
    assert!(reason.contains("root"), "{reason}");
    assert!(!reason.contains("not installed"), "{reason}");
}

#[test]
fn missing_mkfs_is_skipped_naming_the_program() {
    let reason = skip_reason(plan_fs(
        "btrfs",
        true,
        None,
        Path::new("/tmp"),
        Some("ext4"),
    ));
    assert!(reason.contains("mkfs.btrfs"), "{reason}");
    assert!(!reason.contains("needs root"), "{reason}");
}

#[test]
fn missing_mkfs_names_the_package_from_the_filesystem_table() {
    let no_mkfs = |fs| skip_reason(plan_fs(fs, true, None, Path::new("/tmp"), Some("ext4")));
    let reason = no_mkfs("xfs");
    assert!(reason.contains("xfs: xfsprogs"), "{reason}");
    let reason = no_mkfs("nosuchfs");
    assert!(reason.contains("no package is known"), "{reason}");
}
