//! Fuzzes the NETIP media reassembler over arbitrarily split 1412 payloads.
#![no_main]

use camproof_protocol::netip::media::MediaReassembler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (step, rest) = match data.split_first() {
        Some((&b, rest)) => (usize::from(b).max(1), rest),
        None => return,
    };
    let mut media = MediaReassembler::new(1024 * 1024);
    for chunk in rest.chunks(step) {
        media.handle_payload(chunk);
        while let Some(frame) = media.poll_frame() {
            if let Ok(frame) = frame {
                // Whatever decodes must encode again.
                let _ = frame.encode();
            }
        }
    }
});
