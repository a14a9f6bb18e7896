//! The backup document: the control plane's whole state machine in one JSON file, for disaster
//! recovery (`GET /v1/backup`, `POST /v1/restore`, `ferrocache backup`).
//!
//! It holds what a Raft snapshot holds of the state — every key with its kept history and
//! revisions, leases, locks, the audit chain and its compaction checkpoint; the cluster map is
//! the key `cluster/map` — but not Raft's own membership, which belongs to the cluster the
//! backup is restored into. The document is
//!
//! ```text
//! { "format": "ferrocache-backup", "format_version": 1,
//!   "revision", "first_revision", "created_at_ms", "source_node", "source_url",
//!   "keys", "versions", "audit_entries", "leases", "locks",
//!   "checksum": "<sha-256 hex>", "content": "<base64>" }
//! ```
//!
//! `content` is the state in the snapshot's own encoding (MessagePack with field names), so a
//! backup is exactly what the state machine stores and nothing is translated twice. The
//! checksum covers the metadata and the content, so a damaged or edited file — a changed value,
//! a changed revision, a cut-off line — is refused before anything is restored, as is a format
//! version this build does not know. What a restore does with the state is described in
//! `state::restore`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::ConfigState;

/// The `format` field of every backup.
pub const FORMAT: &str = "ferrocache-backup";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a backup says about itself; all of it is covered by the checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupMeta {
    pub format: String,
    pub format_version: u32,
    /// The state's revision when the backup was taken.
    pub revision: u64,
    /// Lowest revision whose state the backup can still show (older ones were compacted).
    pub first_revision: u64,
    /// The source node's clock when the backup was taken (Unix milliseconds).
    pub created_at_ms: u64,
    pub source_node: u64,
    pub source_url: String,
    #[serde(flatten)]
    pub summary: crate::state::Summary,
}

/// A backup file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    #[serde(flatten)]
    pub meta: BackupMeta,
    /// Lowercase hex SHA-256 over the metadata and the content (see [`checksum`]).
    pub checksum: String,
    /// The state, MessagePack-encoded as in a snapshot, in base64.
    pub content: String,
}

/// A backup that passed every check, with its state decoded.
#[derive(Debug)]
pub struct Opened {
    pub meta: BackupMeta,
    pub checksum: String,
    pub state: ConfigState,
    /// Size of the encoded state.
    pub content_bytes: u64,
}

/// Only the fields every format version has, read before anything else.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    format_version: Option<u32>,
}

/// Takes a backup of `state`.
pub fn create(state: &ConfigState, source_node: u64, source_url: &str, now_ms: u64) -> Result<Backup, String> {
    let content = crate::raft::encode(state).map_err(|e| format!("cannot encode the state: {e}"))?;
    let meta = BackupMeta {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        revision: state.revision(),
        first_revision: state.first_revision(),
        created_at_ms: now_ms,
        source_node,
        source_url: source_url.to_string(),
        summary: state.summary(),
    };
    Ok(Backup { checksum: checksum(&meta, &content), meta, content: B64.encode(&content) })
}

/// SHA-256 over the metadata (as JSON, fields in their fixed order) and the encoded content,
/// each prefixed with its length so that no bytes can move from one to the other.
pub fn checksum(meta: &BackupMeta, content: &[u8]) -> String {
    // A struct of strings and numbers always serializes.
    let meta = serde_json::to_vec(meta).unwrap_or_default();
    let mut hasher = Sha256::new();
    for part in [meta.as_slice(), content] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    crate::state::hex(&hasher.finalize())
}

/// Reads a backup file and checks it: its format and version, its checksum, that the content
/// decodes into a state matching the metadata, and that the state's audit chain verifies.
/// The error says what is wrong with the file and what to do.
pub fn open(bytes: &[u8]) -> Result<Opened, String> {
    let not_backup = |why: String| format!("this is not a Ferrocache backup ({why}); give a file written by `ferrocache backup save` or GET /v1/backup");
    let unreadable = |e: serde_json::Error| {
        format!("the file is not a readable backup ({e}): it is cut off or damaged, or not a backup at all; use an intact copy")
    };
    let header: Header = serde_json::from_slice(bytes).map_err(unreadable)?;
    if header.format.as_deref() != Some(FORMAT) {
        return Err(not_backup(format!("its \"format\" is not \"{FORMAT}\"")));
    }
    match header.format_version {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "backup format version {v} is not supported: this build reads version {FORMAT_VERSION}; \
                 restore it with the Ferrocache version that wrote it, or a newer one"
            ));
        }
        None => return Err(not_backup("it has no \"format_version\"".to_string())),
    }
    let doc: Backup = serde_json::from_slice(bytes).map_err(unreadable)?;
    let damaged = |why: String| format!("the backup is damaged or was edited: {why}; take the backup again or use an intact copy");
    let content = B64.decode(doc.content.as_bytes()).map_err(|e| damaged(format!("its content is not valid base64 ({e})")))?;
    let expected = checksum(&doc.meta, &content);
    if expected != doc.checksum {
        return Err(damaged(format!("the checksum does not match (the file says {}, its contents give {expected})", doc.checksum)));
    }
    let state: ConfigState = crate::raft::decode(&content).map_err(|e| damaged(format!("its content does not decode ({e})")))?;
    if state.revision() != doc.meta.revision || state.summary() != doc.meta.summary {
        return Err(damaged("its metadata does not describe its content".to_string()));
    }
    let chain = state.verify_audit();
    if !chain.ok {
        let at = chain.first_broken.map_or_else(String::new, |seq| format!(" at entry {seq}"));
        return Err(format!(
            "the backup's audit chain is broken{at} ({}): the source's log was changed before the backup was taken; \
             check it there with `ferrocache audit verify`",
            chain.reason.unwrap_or_default()
        ));
    }
    Ok(Opened { meta: doc.meta, checksum: doc.checksum, state, content_bytes: content.len() as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ContentType, Op, PutOp, Request};

    fn sample() -> ConfigState {
        let mut state = ConfigState::new();
        for (i, value) in ["v1", "v2", "v3"].iter().enumerate() {
            let op = Op::Put(PutOp { key: "app/db".into(), value: value.as_bytes().to_vec(), content_type: ContentType::Text, if_revision: None, lease: None });
            state.apply(&Request { actor: "t".into(), time_ms: 1_000 + i as u64, op }).unwrap();
        }
        state
    }

    fn file(state: &ConfigState) -> Vec<u8> {
        serde_json::to_vec_pretty(&create(state, 1, "http://127.0.0.1:7379", 5_000).unwrap()).unwrap()
    }

    /// The file with its JSON changed by `edit`.
    fn edited(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        edit(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn a_backup_opens_into_the_same_state() {
        let state = sample();
        let opened = open(&file(&state)).unwrap();
        assert_eq!(opened.state, state);
        assert_eq!((opened.meta.revision, opened.meta.summary.keys, opened.meta.summary.versions), (3, 1, 3));
        assert_eq!((opened.meta.source_node, opened.meta.created_at_ms), (1, 5_000));
        assert_eq!(opened.checksum.len(), 64);
        // The checksum is a function of metadata and content only.
        let again = open(&file(&state)).unwrap();
        assert_eq!(again.checksum, opened.checksum);
    }

    #[test]
    fn damaged_or_edited_files_are_refused() {
        let bytes = file(&sample());
        let content_edit = edited(&bytes, |d| {
            let content = d["content"].as_str().unwrap().to_string();
            let mut raw = B64.decode(content).unwrap();
            let at = raw.windows(2).position(|w| w == b"v3").unwrap();
            raw[at + 1] = b'9';
            d["content"] = B64.encode(raw).into();
        });
        let err = open(&content_edit).unwrap_err();
        assert!(err.contains("checksum does not match") && err.contains("damaged or was edited"), "{err}");
        let meta_edit = edited(&bytes, |d| d["revision"] = 2.into());
        assert!(open(&meta_edit).unwrap_err().contains("checksum does not match"));
        let cut = &bytes[..bytes.len() / 2];
        assert!(open(cut).unwrap_err().contains("cut off or damaged"));
        let bad_base64 = edited(&bytes, |d| d["content"] = "%%%".into());
        assert!(open(&bad_base64).unwrap_err().contains("not valid base64"));
    }

    #[test]
    fn unknown_formats_and_versions_are_refused_with_what_to_do() {
        let bytes = file(&sample());
        let future = edited(&bytes, |d| d["format_version"] = 2.into());
        let err = open(&future).unwrap_err();
        assert!(err.contains("format version 2 is not supported") && err.contains("reads version 1"), "{err}");
        let other = edited(&bytes, |d| d["format"] = "etcd-snapshot".into());
        assert!(open(&other).unwrap_err().contains("not a Ferrocache backup"));
        assert!(open(b"{\"items\": []}").unwrap_err().contains("not a Ferrocache backup"));
    }

    #[test]
    fn a_state_whose_audit_chain_is_broken_is_refused() {
        let mut state = sample();
        state.audit_mut()[1].actor = "mallory".into();
        let err = open(&file(&state)).unwrap_err();
        assert!(err.contains("audit chain is broken at entry 2"), "{err}");
    }
}
