//! Fuzzes the capture reader (`camproof_conformance::capture::read_capture`): pcap and
//! pcapng files, as `camproof certify --pcap` reads a vendor's or a tester's capture.
//!
//! Input: the file's bytes. Checked: reading never panics or hangs, whatever the block
//! lengths, link types, timestamps and TCP sequence numbers; a capture that reads
//! writes back as pcap and pcapng that read again to the same flows.
#![no_main]

use camproof_conformance::capture::{read_capture, Dir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((capture, _stats)) = read_capture(data) else {
        return;
    };
    for written in [capture.to_pcap(), capture.to_pcapng()] {
        let (again, _) = read_capture(written.as_slice()).expect("our own capture reads");
        assert_eq!(
            again.flows.len(),
            capture.flows.len(),
            "flows lost in a round trip"
        );
        for (a, b) in again.flows.iter().zip(&capture.flows) {
            for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                assert_eq!(
                    a.stream(dir),
                    b.stream(dir),
                    "bytes changed in a round trip"
                );
            }
        }
    }
});
