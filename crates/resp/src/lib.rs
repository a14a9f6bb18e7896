//! RESP2/RESP3 wire format, without I/O.
//!
//! Three jobs, one module each:
//! - [`request`]: the server side's incremental parser for client requests
//!   (multibulk arrays of bulk strings, and inline commands for `telnet`/`nc`),
//!   enforcing Redis's protocol limits;
//! - [`frame`]: a general frame type and parser for every RESP3 type, used by
//!   clients, tests and (later) replication;
//! - [`write`]: the reply encoder the server writes into; it downgrades RESP3
//!   types to their RESP2 shapes when the connection speaks RESP2.
//!
//! Nothing here performs I/O, so all of it is unit-, property- and fuzz-tested.

pub mod frame;
pub mod request;
pub mod write;

pub use frame::Frame;
pub use request::{Limits, ProtocolError, RequestParser};
pub use write::ReplyBuf;
