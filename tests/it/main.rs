//! Integration tests: the real binary against real servers.

mod clickhouse;
mod http;
mod inputs;
mod postgres;
mod process;
mod redis;
mod secrets;
mod support;
mod tls;
