//! Three `ferrocache server` processes: kill -9 the control-plane leader during a stream of
//! writes. Every acknowledged write must be present on every surviving member, each writer's
//! acknowledged revisions must strictly increase, a new leader must be elected, and the killed
//! member must catch up after a restart from its disk.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Node, TempDir, eventually, free_port, get_json, http, spawn};

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Ack {
    key: String,
    value: String,
    revision: u64,
}

/// Writes `key` through the nodes in turn until one acknowledges it (or 20 s pass).
fn write(ports: &[u16], key: &str, value: &str) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut turn = 0;
    while Instant::now() < deadline {
        let port = ports[turn % ports.len()];
        turn += 1;
        if let Some((200, body)) = http(port, "PUT", &format!("/v1/kv/{key}"), value) {
            return serde_json::from_str::<serde_json::Value>(&body).ok()?["revision"].as_u64();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn leader(port: u16) -> Option<u64> {
    get_json(port, "/v1/status")?["leader"].as_u64()
}

#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let dirs: Vec<TempDir> = (0..3).map(|i| TempDir::new(&format!("faults-{i}"))).collect();
    let start = |i: usize, join: bool| {
        let id = (i + 1).to_string();
        let join_url = format!("http://127.0.0.1:{}", ports[0]);
        let mut extra = vec!["--node-id", id.as_str()];
        if join {
            extra.extend(["--join", join_url.as_str()]);
        }
        Node { port: ports[i], child: spawn(ports[i], &dirs[i].0, &extra) }
    };
    let mut nodes = vec![start(0, false)];
    eventually(20, "node 1 to lead", || leader(ports[0]).filter(|l| *l == 1));
    nodes.push(start(1, true));
    nodes.push(start(2, true));
    eventually(30, "three voters", || {
        let status = get_json(ports[0], "/v1/status")?;
        let voters = status["members"].as_array()?.iter().filter(|m| m["voter"] == true).count();
        (voters == 3).then_some(())
    });

    // Two writers, each on its own keys, write until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(vec![Vec::<Ack>::new(), Vec::new()]));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, acks, ports) = (stop.clone(), acks.clone(), ports.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) || n >= 2_000 {
                        break;
                    }
                    let (key, value) = (format!("w{w}/k{}", n % 20), format!("v{n}"));
                    if let Some(revision) = write(&ports, &key, &value) {
                        acks.lock().unwrap()[w].push(Ack { key, value, revision });
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(800));
    let old = eventually(10, "an agreed leader", || leader(ports[1]).filter(|l| leader(ports[2]) == Some(*l)));
    let old_index = (old - 1) as usize;
    nodes[old_index].kill();
    let survivors: Vec<u16> = ports.iter().enumerate().filter(|(i, _)| *i != old_index).map(|(_, p)| *p).collect();
    let new = eventually(20, "a new leader", || leader(survivors[0]).filter(|l| *l != old && leader(survivors[1]) == Some(*l)));
    let acked_before = acks.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    assert!(acked_before > 0, "writes were flowing when the leader died");
    eventually(20, "writes after the failover", || {
        (acks.lock().unwrap().iter().map(Vec::len).sum::<usize>() >= acked_before + 20).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_ne!(new, old);

    let acks = acks.lock().unwrap().clone();
    let mut last_values = std::collections::BTreeMap::new();
    for writer in &acks {
        assert!(writer.windows(2).all(|p| p[0].revision < p[1].revision), "acknowledged revisions must increase");
        for ack in writer {
            last_values.insert(ack.key.clone(), ack.value.clone());
        }
    }
    eprintln!("acknowledged writes: {} before the kill, {} in all", acked_before, acks.iter().map(Vec::len).sum::<usize>());
    for port in &survivors {
        for (key, value) in &last_values {
            let got = get_json(*port, &format!("/v1/kv/{key}")).unwrap_or_else(|| panic!("{key} missing on :{port}"));
            assert_eq!(got["value"].as_str(), Some(value.as_str()), "{key} on :{port}");
        }
    }

    // The killed member restarts from its disk and catches up.
    nodes[old_index] = start(old_index, false);
    let (probe_key, probe_value) = last_values.iter().next_back().unwrap();
    eventually(20, "the restarted member to catch up", || {
        let got = get_json(ports[old_index], &format!("/v1/kv/{probe_key}?consistency=stale"))?;
        (got["value"].as_str() == Some(probe_value.as_str())).then_some(())
    });
    let revision = |port| get_json(port, "/v1/status").and_then(|s| s["revision"].as_u64());
    eventually(20, "the restarted member's revision to match", || {
        (revision(ports[old_index]) == revision(survivors[0])).then_some(())
    });
}
