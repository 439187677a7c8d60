//! Fuzzes the capture reader (`camproof_conformance::capture::read_capture`): pcap and
//! pcapng files, as `camproof certify --pcap` reads a vendor's or a tester's capture.
//!
//! Input: the file's bytes. Checked: reading never panics or hangs, whatever the block
//! lengths, link types, timestamps and TCP sequence numbers; a capture that reads writes
//! back as pcap and pcapng that read again to the same flows with the same bytes each
//! way. (Flows are compared by their endpoints: a capture whose timestamps go backwards
//! is written in time order, so its flows may come back in another order.)
#![no_main]

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use camproof_conformance::capture::{read_capture, Capture, Dir};
use libfuzzer_sys::fuzz_target;

/// Each flow's bytes each way, by its endpoints.
fn streams(c: &Capture) -> BTreeMap<(SocketAddrV4, SocketAddrV4), [Vec<u8>; 2]> {
    c.flows
        .iter()
        .map(|f| {
            let both = [f.stream(Dir::ClientToServer), f.stream(Dir::ServerToClient)];
            ((f.client, f.server), both)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok((capture, _stats)) = read_capture(data) else {
        return;
    };
    let want = streams(&capture);
    for written in [capture.to_pcap(), capture.to_pcapng()] {
        let (again, _) = read_capture(written.as_slice()).expect("our own capture reads");
        assert_eq!(streams(&again), want, "a round trip changed the flows");
    }
});
