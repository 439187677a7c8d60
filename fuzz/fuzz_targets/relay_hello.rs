//! Fuzzes the relay's first messages (`camproof_protocol::relay`): the hello every
//! camera and viewer sends, read by the relay in two steps (head, then the token it
//! announces) or whole, and the ready message a viewer reads.
//!
//! Input: the bytes a client sent. Checked: decoding never panics; the two-step read
//! and the whole read agree; an accepted hello is canonical (it encodes back to the same
//! bytes) and its token is within the limit; an accepted ready message encodes back too.
#![no_main]

use camproof_protocol::relay::{RelayHello, RelayReady, HELLO_HEAD_LEN, MAX_TOKEN_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = RelayHello::decode(data);
    if let Ok(hello) = &whole {
        assert!(hello.token.len() <= MAX_TOKEN_LEN);
        assert_eq!(hello.encode(), data, "decoding is not canonical");
    }
    // The relay reads the head first, then exactly the token length it announces.
    if let Some(head) = data.get(..HELLO_HEAD_LEN) {
        let mut fixed = [0u8; HELLO_HEAD_LEN];
        fixed.copy_from_slice(head);
        match RelayHello::decode_head(&fixed) {
            Ok(h) => {
                let complete = data.len() == HELLO_HEAD_LEN + h.token_len;
                assert_eq!(whole.is_ok(), complete, "head and whole reads disagree");
                if let Ok(hello) = &whole {
                    assert_eq!((hello.role, hello.stream_id), (h.role, h.stream_id));
                }
            }
            Err(_) => assert!(whole.is_err(), "a refused head made a whole hello"),
        }
    } else {
        assert!(whole.is_err(), "a hello shorter than its head");
    }
    if let Some(bytes) = data.get(..RelayReady::LEN) {
        let mut fixed = [0u8; RelayReady::LEN];
        fixed.copy_from_slice(bytes);
        if let Ok(ready) = RelayReady::decode(&fixed) {
            assert_eq!(ready.encode(), fixed);
        }
    }
});
