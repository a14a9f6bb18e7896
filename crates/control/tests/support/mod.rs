//! Support for the fault tests: clusters of node processes, the register workload, and the
//! history checker.

#![allow(dead_code)]

pub mod cluster;
pub mod history;
pub mod register;
