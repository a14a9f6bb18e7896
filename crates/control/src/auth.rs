//! Bearer tokens with roles, optionally scoped to a key prefix.
//!
//! Tokens come from a TOML file:
//!
//! ```toml
//! [[token]]
//! name = "deployer"          # recorded as the actor in the audit log
//! secret = "long random string"
//! role = "write"             # read | write | admin
//! prefix = "app/checkout/"   # optional: only keys (and lock names) under this prefix
//! ```
//!
//! Without tokens every request is allowed and the actor comes from the `X-Ferrocache-Actor`
//! header; a node that would serve the admin API beyond loopback without tokens refuses to
//! start. With tokens, nodes authenticate to each other with the first unscoped admin token.
//! Secrets are kept only as SHA-256 digests and looked up by digest.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::ApiError;
use crate::state::sha256_hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Token {
    pub name: String,
    pub secret: String,
    pub role: Role,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Deserialize)]
struct TokenFile {
    #[serde(default)]
    token: Vec<Token>,
}

/// Reads and checks a token file.
pub fn load_tokens(path: &Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let file: TokenFile = toml::from_str(&text).map_err(|e| format!("token file {}: {e}", path.display()))?;
    if file.token.is_empty() {
        return Err(format!("token file {} defines no [[token]]", path.display()));
    }
    Ok(file.token)
}

/// Who is calling, with what rights. `scope: None` = every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    pub scope: Option<String>,
}

impl Caller {
    /// Refuses keys outside the caller's prefix.
    pub fn check_key(&self, key: &str) -> Result<(), ApiError> {
        match &self.scope {
            Some(prefix) if !key.starts_with(prefix.as_str()) => Err(forbidden(format!(
                "token '{}' may only use keys under '{prefix}', not '{key}'",
                self.name
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses endpoints that are not about keys to prefix-scoped callers.
    pub fn check_unscoped(&self) -> Result<(), ApiError> {
        match &self.scope {
            Some(prefix) => Err(forbidden(format!("token '{}' is limited to keys under '{prefix}'", self.name))),
            None => Ok(()),
        }
    }

    fn check_role(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(forbidden(format!("token '{}' has role {}; this needs {}", self.name, self.role.name(), needed.name())))
        }
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", message)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The tokens a node accepts (empty = no access control).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<String, Token>,
    peer_secret: Option<String>,
}

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Result<Tokens, String> {
        let mut by_digest = HashMap::new();
        for token in &tokens {
            if token.secret.len() < 16 {
                return Err(format!("token '{}': the secret must be at least 16 characters", token.name));
            }
            if by_digest.insert(sha256_hex(token.secret.as_bytes()), token.clone()).is_some() {
                return Err(format!("token '{}': the same secret is used twice", token.name));
            }
        }
        let peer_secret = tokens.iter().find(|t| t.role == Role::Admin && t.prefix.is_none()).map(|t| t.secret.clone());
        if !tokens.is_empty() && peer_secret.is_none() {
            return Err("the tokens need at least one admin token without a prefix: nodes use it to talk to each other".into());
        }
        Ok(Tokens { by_digest, peer_secret })
    }

    pub fn enabled(&self) -> bool {
        !self.by_digest.is_empty()
    }

    /// The secret this node presents to its peers.
    pub fn peer_secret(&self) -> Option<&str> {
        self.peer_secret.as_deref()
    }

    /// Identifies the caller from its `Authorization` header and checks it has `needed`.
    /// Without tokens, everyone is an admin named by `fallback_actor`.
    pub fn authorize(&self, authorization: Option<&str>, needed: Role, fallback_actor: &str) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller { name: fallback_actor.to_string(), role: Role::Admin, scope: None });
        }
        let secret = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("this node requires `Authorization: Bearer <token>`"))?;
        let token = self.by_digest.get(&sha256_hex(secret.trim().as_bytes())).ok_or_else(|| unauthorized("unknown token"))?;
        let caller = Caller { name: token.name.clone(), role: token.role, scope: token.prefix.clone() };
        caller.check_role(needed)?;
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, role: Role, prefix: Option<&str>) -> Token {
        Token { name: name.into(), secret: format!("{name}-secret-0123456789"), role, prefix: prefix.map(String::from) }
    }

    #[test]
    fn roles_and_scopes() {
        let tokens = Tokens::new(vec![
            token("root", Role::Admin, None),
            token("reader", Role::Read, None),
            token("app", Role::Write, Some("app/")),
        ])
        .unwrap();
        assert_eq!(tokens.peer_secret(), Some("root-secret-0123456789"));
        let auth = |secret: &str, role| tokens.authorize(Some(&format!("Bearer {secret}")), role, "x");
        assert_eq!(auth("root-secret-0123456789", Role::Admin).unwrap().name, "root");
        assert_eq!(auth("reader-secret-0123456789", Role::Write).unwrap_err().status, 403);
        assert_eq!(auth("nope-nope-nope-nope", Role::Read).unwrap_err().status, 401);
        assert_eq!(tokens.authorize(None, Role::Read, "x").unwrap_err().status, 401);
        let app = auth("app-secret-0123456789", Role::Write).unwrap();
        assert!(app.check_key("app/db").is_ok());
        assert_eq!(app.check_key("other").unwrap_err().code, "forbidden");
        assert!(app.check_unscoped().is_err());
    }

    #[test]
    fn without_tokens_everyone_is_admin_named_by_header() {
        let caller = Tokens::default().authorize(None, Role::Admin, "ci").unwrap();
        assert_eq!((caller.name.as_str(), caller.role, caller.scope), ("ci", Role::Admin, None));
    }

    #[test]
    fn bad_token_sets_are_refused() {
        assert!(Tokens::new(vec![token("w", Role::Write, None)]).unwrap_err().contains("admin token"));
        let mut short = token("root", Role::Admin, None);
        short.secret = "short".into();
        assert!(Tokens::new(vec![short]).unwrap_err().contains("16 characters"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, "[[token]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nrole = \"admin\"\n").unwrap();
        assert_eq!(load_tokens(&path).unwrap()[0].role, Role::Admin);
        std::fs::write(&path, "[[token]]\nname = \"a\"\nrole = \"boss\"\n").unwrap();
        assert!(load_tokens(&path).is_err());
    }
}
