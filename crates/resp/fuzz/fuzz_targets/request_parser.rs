//! Feeds arbitrary bytes to the request parser in reads of a size taken from
//! the first input byte, and checks that the answers agree with those for
//! the whole input at once: the state kept between reads must not change
//! what is parsed.
#![no_main]

use bytes::BytesMut;
use ferrocache_resp::{Limits, ProtocolError, RequestParser};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let read_size = usize::from(control & 0x3f) + 1;
    // Small limits, so that inputs of a few KiB reach every limit check.
    let limits = Limits {
        max_bulk_len: 256,
        max_multibulk_len: 32,
        max_inline_len: 128,
        unauthenticated: control & 0x40 != 0,
    };
    let whole = run(input, input.len().max(1), &limits);
    let chunked = run(input, read_size, &limits);
    // Limits apply to what has arrived so far, so smaller reads may fail
    // sooner, but they never yield a different request.
    assert!(whole.0.starts_with(&chunked.0));
    if chunked.1.is_none() {
        assert_eq!(whole, chunked);
    }
});

fn run(input: &[u8], read_size: usize, limits: &Limits) -> Outcome {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for read in input.chunks(read_size) {
        buf.extend_from_slice(read);
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty());
                    requests.push(args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}
