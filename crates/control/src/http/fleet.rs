//! `GET /v1/cluster/metrics`: every node of the cluster map in one Prometheus exposition.
//!
//! The node asked scrapes every node's `/metrics` at once (itself without a request),
//! forwarding the caller's bearer token, and merges the texts: each sample gains a
//! `node="HOST:PORT"` label (the node's client address), and the samples of one metric family
//! from all nodes are written together under one `# HELP`/`# TYPE`, as the text format wants.
//! `ferrocache_node_up{node=...}` says which nodes answered (a node that did not within
//! [`SCRAPE_TIMEOUT`] is 0 and has no other sample). One scrape of this endpoint is a whole
//! cluster for Prometheus, the dashboard and `ferrocache top`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;

const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn cluster_metrics(State(node): State<AppState>, headers: HeaderMap) -> Response {
    let map = match crate::cluster_map::current(&node.sm.data.read().kv) {
        Ok(Some((_, map))) => map,
        Ok(None) => return ApiError::not_found("this control plane has no cluster map: /metrics has the node's own").into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let auth = headers.get(header::AUTHORIZATION).cloned();
    let texts = crate::scrape::scrape_nodes(&node, &map, auth, SCRAPE_TIMEOUT).await;
    let nodes: Vec<(String, Option<String>)> = map.nodes.iter().map(|n| n.addr.clone()).zip(texts).collect();
    ([(header::CONTENT_TYPE, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)], merge(&nodes)).into_response()
}

/// One metric family: its comment lines and its samples from every node.
struct Family {
    name: String,
    comments: Vec<String>,
    samples: Vec<String>,
}

/// Merges expositions by node address (None: the node did not answer).
pub fn merge(nodes: &[(String, Option<String>)]) -> String {
    let mut families: Vec<Family> = vec![Family {
        name: "ferrocache_node_up".into(),
        comments: vec!["# HELP ferrocache_node_up 1 if the node answered this scrape.".into(), "# TYPE ferrocache_node_up gauge".into()],
        samples: Vec::new(),
    }];
    for (addr, text) in nodes {
        let label = format!("node=\"{}\"", addr.replace('\\', "\\\\").replace('"', "\\\""));
        families[0].samples.push(format!("ferrocache_node_up{{{label}}} {}", u8::from(text.is_some())));
        let Some(text) = text else { continue };
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut words = rest.split_whitespace();
                let (Some(kind), Some(name)) = (words.next(), words.next()) else { continue };
                if kind != "HELP" && kind != "TYPE" && kind != "UNIT" {
                    continue;
                }
                let i = match families.iter().position(|f| f.name == name) {
                    Some(i) => i,
                    None => {
                        families.push(Family { name: name.to_string(), comments: Vec::new(), samples: Vec::new() });
                        families.len() - 1
                    }
                };
                if !families[i].comments.iter().any(|c| c == line) {
                    families[i].comments.push(line.to_string());
                }
                current = Some(i);
            } else if !line.is_empty() && !line.starts_with('#') {
                let labelled = match line.find(['{', ' ']) {
                    Some(at) if line.as_bytes()[at] == b'{' => {
                        let sep = if line[at + 1..].starts_with('}') { "" } else { "," };
                        format!("{}{{{label}{sep}{}", &line[..at], &line[at + 1..])
                    }
                    Some(at) => format!("{}{{{label}}}{}", &line[..at], &line[at..]),
                    None => continue,
                };
                match current {
                    Some(i) => families[i].samples.push(labelled),
                    None => families.push(Family { name: String::new(), comments: Vec::new(), samples: vec![labelled] }),
                }
            }
        }
    }
    let mut out = String::new();
    for f in families {
        for line in f.comments.iter().chain(&f.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_gain_the_node_label_and_families_stay_together() {
        let a = "# HELP ferrocache_x X.\n# TYPE ferrocache_x counter\nferrocache_x_total 1\n# HELP ferrocache_y Y.\n# TYPE ferrocache_y gauge\nferrocache_y{cmd=\"get\"} 2\n# EOF\n";
        let b = "# HELP ferrocache_x X.\n# TYPE ferrocache_x counter\nferrocache_x_total 3\n# EOF\n";
        let merged = merge(&[("h:1".into(), Some(a.into())), ("h:2".into(), Some(b.into())), ("h:3".into(), None)]);
        assert_eq!(
            merged,
            "# HELP ferrocache_node_up 1 if the node answered this scrape.\n# TYPE ferrocache_node_up gauge\n\
             ferrocache_node_up{node=\"h:1\"} 1\nferrocache_node_up{node=\"h:2\"} 1\nferrocache_node_up{node=\"h:3\"} 0\n\
             # HELP ferrocache_x X.\n# TYPE ferrocache_x counter\nferrocache_x_total{node=\"h:1\"} 1\nferrocache_x_total{node=\"h:2\"} 3\n\
             # HELP ferrocache_y Y.\n# TYPE ferrocache_y gauge\nferrocache_y{node=\"h:1\",cmd=\"get\"} 2\n"
        );
    }
}
