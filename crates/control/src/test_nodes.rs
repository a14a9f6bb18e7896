//! Map nodes for unit tests: node `n` has the id `n` in 40 hex digits and listens on
//! 127.0.0.1:7000+n, so a test can name nodes by number and find them by address.

use ferrocache_topology::map::{Node, NodeId, NodeState};

pub fn id(n: u8) -> NodeId {
    NodeId::try_from(format!("{n:040x}")).unwrap()
}

/// Node `n`, up, weight 1, no zone, no boot record.
pub fn node(n: u8) -> Node {
    Node { id: id(n), addr: format!("127.0.0.1:{}", 7000 + u16::from(n)), admin: String::new(), zone: None, weight: 1, state: NodeState::Up, boot: None }
}
