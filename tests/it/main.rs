//! Integration tests: the real binary against real servers.

mod clickhouse;
mod faults;
mod files;
mod hardening;
mod http;
mod inputs;
mod langfuse;
mod lint;
mod listen;
mod mysql;
mod postgres;
mod process;
mod proxy;
mod record;
mod redis;
mod s3;
mod secrets;
mod serve;
mod support;
mod tls;
