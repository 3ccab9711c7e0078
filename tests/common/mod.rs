//! Helpers shared by the end-to-end tests. Each test binary uses only some of them.
#![allow(dead_code)]

pub mod alertmanager;
pub mod apt;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod deployment;
pub mod http;
pub mod in_process;
pub mod prometheus;
pub mod report;
pub mod scram;
pub mod slipstream;
pub mod tls;
pub mod traffic;
pub mod wait;
