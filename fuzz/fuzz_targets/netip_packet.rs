//! Fuzzes the NETIP stream decoder, fragment reassembly and typed request/reply decoding.
#![no_main]

use camproof_protocol::netip::{FragmentReassembler, PacketDecoder, Reply, Request, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks how the stream is cut into reads, so splits get fuzzed too.
    let (step, rest) = match data.split_first() {
        Some((&b, rest)) => (usize::from(b).max(1), rest),
        None => return,
    };
    let mut decoder = PacketDecoder::new(MAX_PAYLOAD);
    let mut fragments = FragmentReassembler::new(64 * 1024);
    for chunk in rest.chunks(step) {
        decoder.handle_bytes(chunk);
        while let Some(result) = decoder.poll_packet() {
            let Ok(packet) = result else { continue };
            let _ = Request::from_packet(&packet);
            let _ = Reply::decode(packet.message_id(), packet.payload());
            if let Ok(Some(whole)) = fragments.handle_packet(packet) {
                let _ = Request::from_packet(&whole);
            }
        }
    }
});
