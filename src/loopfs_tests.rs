//! Loop filesystems made, mounted and removed for real (root and `mkfs.ext4` needed; skipped
//! with the reason otherwise).

#[path = "../tests/common/skip.rs"]
mod skip;

use super::*;
use skip::skip;

fn root_and_mkfs_ext4() -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        skip("loop filesystems need root");
        return None;
    }
    let m = crate::host_tools::find_program("mkfs.ext4");
    if m.is_none() {
        skip("mkfs.ext4 is not installed");
    }
    m
}

fn mounted(p: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&p.display().to_string()))
}

fn attached(image: &Path) -> bool {
    let out = Command::new("losetup").arg("-a").output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&image.display().to_string())
}

#[test]
fn loop_filesystem_is_mounted_and_removed_even_when_the_holder_panics() {
    let Some(mkfs) = root_and_mkfs_ext4() else {
        return;
    };
    let seen = std::sync::Mutex::new(None);
    let r = std::panic::catch_unwind(|| {
        let l = LoopFs::create("ext4", &mkfs, 64 << 20).unwrap();
        assert!(mounted(l.mount_point()), "the image is not mounted");
        assert!(attached(l.image()), "the image is not on a loop device");
        std::fs::write(l.mount_point().join("x"), b"data").unwrap();
        *seen.lock().unwrap() = Some((l.mount_point().to_path_buf(), l.image().to_path_buf()));
        panic!("the cell's holder panics");
    });
    assert!(r.is_err());
    let (mp, image) = seen.lock().unwrap().take().unwrap();
    assert!(!mounted(&mp), "{} is still mounted", mp.display());
    assert!(!attached(&image), "{} is still attached", image.display());
    assert!(
        !image.parent().unwrap().exists(),
        "the private directory is left"
    );
}

#[test]
fn close_returns_only_after_a_detach_held_up_by_another_opener() {
    let Some(mkfs) = root_and_mkfs_ext4() else {
        return;
    };
    let l = LoopFs::create("ext4", &mkfs, 64 << 20).unwrap();
    let image = l.image().to_path_buf();
    // Another process reading the device's status holds it open just like this.
    let holder = std::fs::File::open(l.device().unwrap()).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(holder);
    });
    let (_, r) = l.close();
    r.unwrap();
    assert!(
        !attached(&image),
        "{} is still attached after close",
        image.display()
    );
    releaser.join().unwrap();
}

#[test]
fn a_failed_mkfs_leaves_nothing_behind() {
    let parent = tempfile::tempdir().unwrap();
    // `false` stands in for a mkfs that rejects the image.
    let err =
        LoopFs::create_in(parent.path(), "ext4", Path::new("/bin/false"), 64 << 20).unwrap_err();
    assert!(format!("{err:#}").contains("cannot make ext4"), "{err:#}");
    let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
