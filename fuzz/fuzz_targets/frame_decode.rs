//! Frame decoding: the header decoder, the file-header and safe_seq parsers, and the streaming
//! scanner over arbitrary bytes. Every frame the scanner accepts must re-encode to exactly the
//! bytes it was read from, frames must follow each other without gaps, and nothing may be read
//! past the end of the input.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wal::format::{self, FrameHeader, FRAME_HEADER_LEN};
use wal::mem::MemStorage;
use wal::scan::{Scanned, Scanner};
use wal::storage::{OpenMode, Storage};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = data.first_chunk::<FRAME_HEADER_LEN>() {
        let h = FrameHeader::decode(h);
        assert_eq!(h.frame_len(), FRAME_HEADER_LEN as u64 + u64::from(h.len));
    }
    let _ = format::check_file_header(data);
    if let Some(s) = format::decode_safe_seq(data) {
        // Leading zeros are accepted; anything else must be exactly the canonical encoding.
        let canonical = format::encode_safe_seq(s);
        assert_eq!(format::decode_safe_seq(&canonical), Some(s));
        if data.len() == 2 || data[0] != b'0' {
            assert_eq!(canonical, data, "safe_seq does not round-trip");
        }
    }
    let m = MemStorage::new();
    m.create_dir_all(Path::new("/f"));
    m.write_file(Path::new("/f/log"), data).unwrap();
    let f = m.open(Path::new("/f/log"), OpenMode::Read).unwrap();
    let mut scanner = Scanner::new(&f, 0).unwrap();
    let mut pos = 0u64;
    while let Some(item) = scanner.next_frame().unwrap() {
        match item {
            Scanned::Frame { offset, seq, payload } => {
                assert_eq!(offset, pos, "a gap before a frame");
                let mut again = Vec::new();
                format::encode_frame(seq, payload, &mut again);
                let end = offset as usize + again.len();
                assert!(end <= data.len(), "a frame past the end of the input");
                assert_eq!(&data[offset as usize..end], &again[..], "a frame does not re-encode");
                pos = end as u64;
            }
            Scanned::Bad { offset, .. } => {
                assert_eq!(offset, pos);
                break;
            }
        }
    }
    assert!(scanner.next_frame().unwrap().is_none(), "the scan went on after its end");
});
