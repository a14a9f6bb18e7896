//! A second "host" on this machine for partition tests: a network namespace joined to this one
//! by a veth pair, each end with its own address. Processes started in it (`ip netns exec`)
//! reach this side and are reached from it until [`Netns::cut`] takes the link down; processes
//! inside still reach each other (a client on the cut-off side keeps talking to a node there).
//! Needs root and iproute2, as CI has; everything is removed when dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

pub struct Netns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
    /// The address on this side of the link.
    pub host_ip: IpAddr,
    /// The address inside the namespace.
    pub inner_ip: IpAddr,
    /// The link's end inside the namespace.
    inner_dev: String,
    host_dev: String,
}

/// Runs `ip ARGS...`; panics with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("cannot run ip (iproute2, needs root): {e}"));
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl Netns {
    /// Creates the namespace and its link, named and addressed after this test process.
    pub fn create() -> Netns {
        let pid = std::process::id();
        let (a, b) = (((pid >> 8) % 200 + 20) as u8, (pid % 256) as u8);
        let ns = Netns {
            name: format!("fc-e2e-{pid}"),
            host_ip: IpAddr::V4(Ipv4Addr::new(10, a, b, 1)),
            inner_ip: IpAddr::V4(Ipv4Addr::new(10, a, b, 2)),
            inner_dev: format!("fcn{pid}"),
            host_dev: format!("fch{pid}"),
        };
        ip(&["netns", "add", &ns.name]);
        ip(&["link", "add", &ns.host_dev, "type", "veth", "peer", "name", &ns.inner_dev]);
        ip(&["link", "set", &ns.inner_dev, "netns", &ns.name]);
        ip(&["addr", "add", &format!("{}/24", ns.host_ip), "dev", &ns.host_dev]);
        ip(&["link", "set", &ns.host_dev, "up"]);
        ns.inside(&["addr", "add", &format!("{}/24", ns.inner_ip), "dev", &ns.inner_dev]);
        ns.inside(&["link", "set", "lo", "up"]);
        ns.heal();
        ns
    }

    /// Runs `ip ARGS...` inside the namespace.
    fn inside(&self, args: &[&str]) {
        ip(&[&["netns", "exec", &self.name, "ip"], args].concat());
    }

    /// The shell command that cuts the link from inside the namespace (for a process there
    /// that times the cut on its own clock).
    pub fn cut_command(&self) -> String {
        format!("ip link set {} down", self.inner_dev)
    }

    /// Takes the link down: nothing crosses between the namespace and this side.
    pub fn cut(&self) {
        self.inside(&["link", "set", &self.inner_dev, "down"]);
    }

    /// Brings the link (back) up.
    pub fn heal(&self) {
        self.inside(&["link", "set", &self.inner_dev, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
        let _ = Command::new("ip").args(["link", "del", &self.host_dev]).output();
    }
}
