//! The persistence model of docs/crash-model.md checked on small hand-made traces: what may be
//! lost, torn or renamed at a crash, and that every state can be named and found again.

use super::*;

fn write(path: &str, ino: Ino, offset: u64, bytes: &[u8]) -> Op {
    Op::Write {
        path: path.into(),
        ino,
        offset,
        bytes: bytes.to_vec(),
    }
}

#[test]
fn writes_tear_at_sector_boundaries() {
    assert_eq!(pieces(0, 10, 512), vec![(0, 10)]);
    assert_eq!(pieces(500, 30, 512), vec![(500, 512), (512, 530)]);
    assert_eq!(pieces(0, 1024, 512), vec![(0, 512), (512, 1024)]);
    let big = pieces(100, 4096 * 100, 512);
    assert!(big.len() <= 64 && big.len() > 32, "{}", big.len());
    assert_eq!(big[0].0, 100);
    assert_eq!(big.last().unwrap().1, 100 + 4096 * 100);
    assert!(big
        .windows(2)
        .all(|w| w[0].1 == w[1].0 && w[0].1 % 512 == 0));
}

#[test]
fn synced_data_is_never_lost_and_unsynced_data_may_be() {
    let trace = Trace {
        ops: vec![
            Op::Create {
                path: "/d/f".into(),
                ino: 1,
            },
            Op::SyncDir { dir: "/d".into() },
            write("/d/f", 1, 0, b"abc"),
            Op::Sync {
                path: "/d/f".into(),
                ino: 1,
                full: false,
            },
            write("/d/f", 1, 3, b"def"),
        ],
        marks: Vec::new(),
    };
    let fr = frontiers(&trace, &[], 512, None);
    assert_eq!(fr.len(), 6);
    // Before the directory sync the name may be gone.
    assert_eq!(fr[1].pending.len(), 1);
    assert!(fr[1].image(&trace, &[Fate::Lost]).is_empty());
    // After the data sync: "abc" always; the later write is persisted, lost or zeroed.
    let last = &fr[5];
    assert_eq!(last.states(&trace), 3);
    let images: Vec<Vec<u8>> = (0..3)
        .map(|i| last.image(&trace, &last.fates(&trace, i))[Path::new("/d/f")].clone())
        .collect();
    assert_eq!(
        images,
        vec![b"abcdef".to_vec(), b"abc".to_vec(), b"abc\0\0\0".to_vec()]
    );
}

#[test]
fn a_rename_not_yet_synced_may_show_the_old_or_the_new_name() {
    let trace = Trace {
        ops: vec![
            Op::Create {
                path: "/d/t".into(),
                ino: 2,
            },
            write("/d/t", 2, 0, b"2\n"),
            Op::Sync {
                path: "/d/t".into(),
                ino: 2,
                full: true,
            },
            Op::Rename {
                from: "/d/t".into(),
                to: "/d/s".into(),
                ino: 2,
            },
        ],
        marks: Vec::new(),
    };
    let initial = vec![(PathBuf::from("/d/s"), 1, b"1\n".to_vec())];
    let fr = &frontiers(&trace, &initial, 512, None)[4];
    let s = |f: &[Fate]| fr.image(&trace, f).get(Path::new("/d/s")).cloned();
    assert_eq!(s(&[Fate::Lost, Fate::Lost]), Some(b"1\n".to_vec()));
    assert_eq!(s(&[Fate::Lost, Fate::Persisted]), Some(b"2\n".to_vec()));
    assert_eq!(fr.state_string(&[Fate::Lost, Fate::Persisted]), "4:L,P");
    assert_eq!(
        fr.parse_fates(&trace, "L,P").unwrap(),
        vec![Fate::Lost, Fate::Persisted]
    );
    assert!(fr.parse_fates(&trace, "L").is_err());
    assert!(fr.parse_fates(&trace, "Z,P").is_err());
}

#[test]
fn every_state_index_round_trips_through_its_state_string() {
    let trace = Trace {
        ops: vec![
            write("/d/f", 1, 500, &[7u8; 600]),
            write("/d/f", 1, 1100, b"x"),
        ],
        marks: Vec::new(),
    };
    let initial = vec![(PathBuf::from("/d/f"), 1, vec![1u8; 500])];
    let fr = &frontiers(&trace, &initial, 512, None)[2];
    // 3 pieces: P, L, Z and 6 torn masks; then P, L, Z.
    assert_eq!(fr.states(&trace), 9 * 3);
    for i in 0..fr.states(&trace) {
        let f = fr.fates(&trace, i);
        let s = fr.state_string(&f);
        let back = fr
            .parse_fates(&trace, s.split_once(':').unwrap().1)
            .unwrap();
        assert_eq!(back, f, "{s}");
    }
    let torn = fr.image(&trace, &[Fate::Torn(0b010), Fate::Lost]);
    let f = &torn[Path::new("/d/f")];
    assert_eq!(f.len(), 1100);
    assert!(f[500..512].iter().all(|&b| b == 0) && f[512..1024].iter().all(|&b| b == 7));
}
