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

/// A log of three sector-straddling writes, the last synced: the block faults' hand-made case.
fn faulty_trace() -> (Trace, Vec<Frontier>) {
    let log = Path::new("/d/wal.log");
    let trace = Trace {
        ops: vec![
            write("/d/wal.log", 1, 0, &[1u8; 300]),
            write("/d/wal.log", 1, 300, &[2u8; 400]),
            write("/d/wal.log", 1, 700, &[3u8; 500]),
            Op::Sync {
                path: "/d/wal.log".into(),
                ino: 1,
                full: false,
            },
        ],
        marks: Vec::new(),
    };
    let initial = vec![(PathBuf::from("/d/wal.log"), 1, Vec::new())];
    let frs = frontiers(&trace, &initial, 512, Some(log));
    (trace, frs)
}

#[test]
fn block_faults_strike_only_the_last_write_to_the_log_and_only_when_asked_for() {
    let (trace, frs) = faulty_trace();
    let initial = vec![(PathBuf::from("/d/wal.log"), 1, Vec::new())];
    assert!(frontiers(&trace, &initial, 512, None)
        .iter()
        .all(|f| f.block.is_none() && f.fault_states(&trace) == 0));
    // At crash point 3 the last write (op 2, bytes 700..1200, sectors 512..1200) is pending.
    let b = frs[3].block.as_ref().unwrap();
    assert_eq!((b.target.op, b.slot), (2, Some(2)));
    assert_eq!(
        b.faults,
        vec![
            Fate::Misdirected(-1),
            Fate::Misdirected(1),
            Fate::Duplicated
        ]
    );
    // After the sync it is synced: stale joins, and the fault is a fate after the pending ones.
    let b = frs[4].block.as_ref().unwrap();
    assert_eq!(b.slot, None);
    assert!(b.faults.contains(&Fate::Stale));
    assert_eq!(frs[4].fault_states(&trace), 4);
    let all: Vec<String> = (0..4)
        .map(|i| frs[4].state_string(&frs[4].fault_fates(&trace, i)))
        .collect();
    assert_eq!(all, ["4:M-1", "4:M+1", "4:S", "4:D"]);
    assert!(frs[4].parse_fates(&trace, "").unwrap().is_empty());
    assert!(frs[4].parse_fates(&trace, "P").is_err());
    assert!(
        frs[3].parse_fates(&trace, "D,P,P").is_err(),
        "only the last write"
    );
    assert!(
        frs[3].parse_fates(&trace, "P,P,S").is_err(),
        "stale is for synced writes"
    );
}

#[test]
fn each_block_fault_rewrites_the_bytes_it_names() {
    let (trace, frs) = faulty_trace();
    let fr = &frs[4];
    let img = |code: &str| {
        fr.image(&trace, &fr.parse_fates(&trace, code).unwrap())[Path::new("/d/wal.log")].clone()
    };
    let good = img("");
    assert_eq!(good.len(), 1200);
    // Misdirected one sector before: sectors 512..1200 as written land on 0..688; the write's
    // own range 700..1200 keeps what it held (nothing: zeros, the length stays).
    let m = img("M-1");
    assert_eq!(m.len(), 1200);
    assert_eq!(&m[..688], &good[512..1200]);
    assert!(m[700..].iter().all(|&b| b == 0) && m[688..700] == good[688..700]);
    // One sector after: 512..1200 lands on 1024..1200 (clipped to the file).
    let m = img("M+1");
    assert_eq!(&m[1024..1200], &good[512..688]);
    assert!(m[700..1024].iter().all(|&b| b == 0) && m[..700] == good[..700]);
    // Stale: the first sector of the synced write, 700..1024, reverted (zeros: it was new).
    let s = img("S");
    assert!(s[700..1024].iter().all(|&b| b == 0) && s[1024..] == good[1024..]);
    // Duplicated: the previous write's 400 bytes of 2s at 700, the rest of the write's range
    // back to what it held.
    let d = img("D");
    assert!(d[700..1100].iter().all(|&b| b == 2) && d[1100..].iter().all(|&b| b == 0));
    assert_eq!(&d[..700], &good[..700]);
}
