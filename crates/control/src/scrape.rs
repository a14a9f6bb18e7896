//! Scraping every node of the cluster map at once: the one place that reads the nodes'
//! `/metrics`, shared by `GET /v1/cluster/metrics`, the alert rules and the dashboard's history.

use std::sync::Arc;
use std::time::Duration;

use ferrocache_topology::map::ClusterMap;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::node::Node;

/// Each node's exposition, in the map's node order (None: it did not answer within
/// `timeout`). The node asking renders its own without a request. `auth`, when given,
/// replaces the peer token the node's client presents (the caller's token is forwarded).
pub async fn scrape_nodes(node: &Arc<Node>, map: &ClusterMap, auth: Option<HeaderValue>, timeout: Duration) -> Vec<Option<String>> {
    let scrapes = map.nodes.iter().map(|n| {
        let (node, auth, admin) = (node.clone(), auth.clone(), n.admin.clone());
        async move {
            if admin == node.url {
                return crate::http::render_metrics(&node).ok();
            }
            let mut req = node.client.get(format!("{}/metrics", admin.trim_end_matches('/'))).timeout(timeout);
            if let Some(auth) = auth {
                req = req.header(AUTHORIZATION, auth);
            }
            let resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            resp.text().await.ok()
        }
    });
    futures::future::join_all(scrapes).await
}
