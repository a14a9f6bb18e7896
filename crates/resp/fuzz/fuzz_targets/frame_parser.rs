//! Parses arbitrary bytes as a RESP frame. Whatever parses must re-encode to
//! bytes that parse back to the same frame, and any shorter prefix of the
//! bytes it took must read as incomplete, never as another frame or an error.
#![no_main]

use ferrocache_resp::frame::{self, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((parsed, used))) = frame::parse(data) else {
        return;
    };
    assert!(used > 0 && used <= data.len());
    assert_eq!(frame::parse(&data[..used - 1]), Ok(None));
    let encoded = encode(&parsed);
    let (again, again_used) = frame::parse(&encoded).unwrap().unwrap();
    assert_eq!(again_used, encoded.len());
    // Compared as bytes, so that a NaN double counts as equal to itself.
    assert_eq!(encode(&again), encoded);
});

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out);
    out
}
