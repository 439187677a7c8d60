//! Every CDP/1 decoder over arbitrary bytes: framing, then each message body.
#![no_main]

use camproof_protocol::cdp::messages::{
    AlertCode, ClientAuth, ClientHello, ResumeAccept, ResumeHello, ServerHello,
};
use camproof_protocol::cdp::{AppMessage, FrameDecoder, FrameType, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whole body decoders on the raw input.
    let _ = ClientHello::decode(data);
    let _ = ServerHello::decode(data);
    let _ = ClientAuth::decode(data);
    let _ = ResumeHello::decode(data);
    let _ = ResumeAccept::decode(data);
    let _ = AlertCode::decode(data);
    if let Ok(m) = AppMessage::decode(data) {
        assert_eq!(m.encode(), data, "AppMessage re-encodes differently");
    }

    // The stream decoder, fed in two pieces, then each frame's body by its type.
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut decoder = FrameDecoder::new(MAX_FRAME_LEN);
    decoder.push(&data[..split]);
    decoder.push(&data[split..]);
    while let Ok(Some(frame)) = decoder.next_frame() {
        assert!(frame.body.len() < MAX_FRAME_LEN);
        match frame.kind {
            // An app's hello has the ClientHello layout.
            FrameType::ClientHello | FrameType::AppHello => {
                if let Ok(m) = ClientHello::decode(&frame.body) {
                    assert_eq!(m.encode(), frame.body, "ClientHello re-encodes differently");
                }
            }
            FrameType::ServerHello => {
                if let Ok((m, _)) = ServerHello::decode(&frame.body) {
                    assert_eq!(m.encode(), frame.body, "ServerHello re-encodes differently");
                }
            }
            FrameType::ClientAuth => {
                if let Ok((m, _)) = ClientAuth::decode(&frame.body) {
                    assert_eq!(m.encode(), frame.body, "ClientAuth re-encodes differently");
                }
            }
            FrameType::ResumeHello => {
                if let Ok(m) = ResumeHello::decode(&frame.body) {
                    assert_eq!(m.encode(), frame.body);
                }
            }
            FrameType::ResumeAccept => {
                if let Ok(m) = ResumeAccept::decode(&frame.body) {
                    assert_eq!(m.encode(), frame.body);
                }
            }
            FrameType::Alert => {
                let _ = AlertCode::decode(&frame.body);
            }
            FrameType::Record => {}
        }
    }
});
