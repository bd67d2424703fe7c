//! Integration tests: the real binary against real servers.

mod http;
mod inputs;
mod postgres;
mod process;
mod secrets;
mod support;
mod tls;
