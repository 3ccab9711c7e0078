//! slipstream: exact sliding-window SLIs from a stream of gateway request events.
pub mod config;
pub mod decode;
