//! Integration tests: the real binary against real servers.

mod clickhouse;
mod examples;
mod http;
mod inputs;
mod langfuse;
mod postgres;
mod process;
mod redis;
mod secrets;
mod serve;
mod support;
mod tls;
