//! Deployment: a cluster spec ([`spec`]) becomes a plan of actions ([`plan`]) that the
//! `ferrocache deploy` command carries out against a target: processes on this machine under
//! our own supervisor ([`local`]), or files for systemd and Kubernetes to run.
//!
//! This crate holds what can be decided without a network: parsing and checking the spec,
//! computing the actions that take a running cluster to it, and supervising local processes.
//! The actions themselves (probing nodes, writing the cluster map, moving slots) are the
//! `ferrocache cluster` operations, run by the CLI.

pub mod local;
pub mod plan;
pub mod render;
pub mod spec;
