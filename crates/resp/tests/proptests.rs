//! Property tests: what the unit tests check on chosen inputs, checked here on
//! generated ones. Frames survive an encode/parse round trip, and the request
//! parser's answers do not depend on how the input is cut into reads.

use bytes::{Bytes, BytesMut};
use ferrocache_resp::frame::{self, Frame};
use ferrocache_resp::{Limits, ProtocolError, RequestParser};
use proptest::prelude::*;

type Request = Vec<Vec<u8>>;

/// Bytes without CR or LF, for the line-based frame types.
fn line_bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..16,
    )
    .prop_map(Bytes::from)
}

fn any_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Frames without NaN (NaN != NaN), at most 4 levels deep.
fn arb_frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        line_bytes().prop_map(Frame::Simple),
        any_bytes(16).prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        any_bytes(32).prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("not NaN", |d| !d.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "[-+]?[0-9]{1,40}".prop_map(|n| Frame::BigNumber(Bytes::from(n))),
        ("[a-z]{3}", any_bytes(16)).prop_map(|(f, t)| Frame::Verbatim(Bytes::from(f), t)),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let pairs = prop::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            (pairs, inner).prop_map(|(attrs, f)| Frame::Attribute(attrs, Box::new(f))),
        ]
    })
}

/// Feeds `input` cut into pieces of the given sizes (cycled), collecting
/// every request until the first error.
fn feed_chunked(
    input: &[u8],
    sizes: &[usize],
    limits: &Limits,
) -> (Vec<Request>, Option<ProtocolError>) {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty(), "empty request returned");
                    requests.push(args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

fn feed_whole(input: &[u8], limits: &Limits) -> (Vec<Request>, Option<ProtocolError>) {
    feed_chunked(input, &[input.len().max(1)], limits)
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 1..16)
}

/// Input that looks like the protocol often enough to reach deep states.
fn protocol_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\\".to_vec()),
        "-?[0-9]{1,3}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn frames_round_trip(frame in arb_frame()) {
        let mut encoded = Vec::new();
        frame.encode(&mut encoded);
        prop_assert_eq!(frame::parse(&encoded), Ok(Some((frame, encoded.len()))));
    }

    #[test]
    fn frame_prefixes_are_incomplete(frame in arb_frame(), cut in any::<prop::sample::Index>()) {
        let mut encoded = Vec::new();
        frame.encode(&mut encoded);
        let cut = cut.index(encoded.len());
        prop_assert_eq!(frame::parse(&encoded[..cut]), Ok(None));
    }

    #[test]
    fn multibulk_requests_do_not_depend_on_reads(
        requests in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..6), 1..8),
        sizes in chunk_sizes(),
    ) {
        let mut input = Vec::new();
        for request in &requests {
            let args: Vec<&[u8]> = request.iter().map(Vec::as_slice).collect();
            input.extend_from_slice(&Frame::command(&args));
        }
        let limits = Limits::default();
        prop_assert_eq!(feed_whole(&input, &limits), (requests.clone(), None));
        prop_assert_eq!(feed_chunked(&input, &sizes, &limits), (requests, None));
    }

    #[test]
    fn inline_requests_do_not_depend_on_reads(
        requests in prop::collection::vec(prop::collection::vec("[a-zA-Z0-9_:.-]{1,8}", 1..6), 1..8),
        separators in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t"]), 1..4),
        crlf in any::<bool>(),
        sizes in chunk_sizes(),
    ) {
        let mut input = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            input.extend_from_slice(request.join(separators[i % separators.len()]).as_bytes());
            input.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let expected: Vec<Request> =
            requests.iter().map(|r| r.iter().map(|a| a.clone().into_bytes()).collect()).collect();
        let limits = Limits::default();
        prop_assert_eq!(feed_whole(&input, &limits), (expected.clone(), None));
        prop_assert_eq!(feed_chunked(&input, &sizes, &limits), (expected, None));
    }

    #[test]
    fn request_parser_never_panics(
        input in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), protocol_soup()],
        sizes in chunk_sizes(),
        unauthenticated in any::<bool>(),
    ) {
        let limits = Limits { max_bulk_len: 64, max_multibulk_len: 16, max_inline_len: 64, unauthenticated };
        let whole = feed_whole(&input, &limits);
        let (chunked, error) = feed_chunked(&input, &sizes, &limits);
        // Limits are checked against what has arrived so far, so smaller reads
        // may fail sooner, but they never yield a different request.
        prop_assert!(whole.0.starts_with(&chunked));
        if error.is_none() {
            prop_assert_eq!(whole, (chunked, None));
        }
    }

    #[test]
    fn frame_parser_never_panics(input in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), protocol_soup()]) {
        if let Ok(Some((frame, used))) = frame::parse(&input) {
            prop_assert!(used <= input.len());
            let mut encoded = Vec::new();
            frame.encode(&mut encoded);
            let (again, _) = frame::parse(&encoded).unwrap().unwrap();
            let mut reencoded = Vec::new();
            again.encode(&mut reencoded);
            prop_assert_eq!(reencoded, encoded);
        }
    }
}
