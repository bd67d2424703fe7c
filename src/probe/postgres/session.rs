//! The PostgreSQL probe's session: one connection kept between attempts,
//! idle and never inside a transaction, so it holds no lock a migration
//! could wait on. It gives the connection back when the server is close to
//! `max_connections`, and the wait loop backs off when the server refuses
//! with "too many connections", so a fleet of gates cannot starve the app
//! it waits for.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::Connection;

use super::errors::{classify, cut};
use super::sql::{self, custom_check, judge_prisma, Ask, Status};
use super::tls::Tls;
use super::watch::Frames;
use super::{boxed, missing_tables, sql_cut, Requirements};
use crate::not_ready::{Class, NotReady};
use crate::probe::relay::{self, Dial, Verdict};
use crate::probe::slots::SlotCount;

pub(crate) struct PostgresProbe {
    options: PgConnectOptions,
    /// How connections speak TLS (`tls.rs`): the gate's, not sqlx's.
    tls: Tls,
    what: String,
    req: Arc<Requirements>,
    conn: Option<Session>,
    /// Sidecar mode: checked again after it is ready, so keep the connection.
    monitoring: bool,
}

/// A kept connection and what its session looked like when it was opened.
struct Session {
    conn: PgConnection,
    /// What the relay under this connection saw (`probe/relay.rs`).
    relay: Verdict,
    /// Read-only default, statement timeout, role and "not inside a
    /// transaction", as first seen; a `--sql` that changes them loses the
    /// connection.
    baseline: Option<String>,
    /// `_prisma_migrations` was seen, so the Prisma columns can be asked
    /// for in the same statement as the rest.
    prisma_table: bool,
    /// The last count of free connection slots: when, how many, of how many.
    slots: Option<SlotCount>,
    /// The session's role is a superuser (asked once, before the first `--sql`).
    superuser: Option<bool>,
    /// The last attempt on it was ready: a sidecar's checks of a ready
    /// server skip the migration progress.
    was_ready: bool,
}

/// The result of one attempt on an open connection.
struct Attempt {
    result: Result<(), NotReady>,
    /// Whether the connection is healthy and may be kept for the next attempt.
    keep: bool,
}

impl Attempt {
    fn drop_with(e: NotReady) -> Attempt {
        Attempt {
            result: Err(e),
            keep: false,
        }
    }
}

impl PostgresProbe {
    pub(crate) fn new(options: PgConnectOptions, tls: Tls, req: Arc<Requirements>) -> Self {
        let what = match options.get_socket() {
            Some(path) => path.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        PostgresProbe {
            options,
            tls,
            what,
            req,
            conn: None,
            monitoring: false,
        }
    }

    /// Keeps the connection after a successful check too (sidecar mode).
    pub(crate) fn keep_when_ready(&mut self) {
        self.monitoring = true;
    }

    pub(crate) async fn check(&mut self, _budget: Duration) -> Result<(), NotReady> {
        let reused = self.conn.is_some();
        let result = boxed(self.check_on_session()).await;
        match result {
            // The kept connection had died (server restart, idle timeout,
            // terminated backend): that says nothing about the server now.
            Err(e)
                if reused
                    && self.conn.is_none()
                    && matches!(e.class, Class::Refused | Class::Starting) =>
            {
                boxed(self.check_on_session()).await
            }
            other => other,
        }
    }

    async fn check_on_session(&mut self) -> Result<(), NotReady> {
        // Taken out, so a cancelled attempt drops (closes) the connection.
        let mut session = match self.conn.take() {
            Some(session) => session,
            None => boxed(self.connect()).await?,
        };
        let Attempt { result, keep } = boxed(self.attempt(&mut session)).await;
        session.was_ready = result.is_ok();
        if keep {
            self.conn = Some(session);
        } else {
            // Ready targets are not checked again; say goodbye properly.
            let _ = tokio::time::timeout(Duration::from_millis(200), session.conn.close()).await;
        }
        result
    }

    /// A new connection. The gate connects to the server; sqlx talks to it
    /// through the relay (`probe/relay.rs`), which bounds what it may read.
    async fn connect(&self) -> Result<Session, NotReady> {
        let port = self.options.get_port();
        let suffix = format!("/.s.PGSQL.{port}");
        let host = self.options.get_host();
        let socket_path = match self.options.get_socket() {
            Some(dir) => Some(format!("{}{suffix}", dir.display())),
            None if host.starts_with('/') => Some(format!("{host}{suffix}")),
            None => None,
        };
        let to = match &socket_path {
            Some(path) => Dial::Socket(path.as_ref()),
            None => Dial::Tcp(host, port),
        };
        let server = relay::connect(to)
            .await
            .map_err(|e| self.classify(sqlx::Error::Io(e)))?;
        let socket = socket_path.is_some();
        let server = boxed(self.tls.negotiate(server, socket, host, &self.what)).await?;
        let (socket, relay) = relay::start(server, Frames::default(), &suffix, &self.what)?;
        // TLS, if any, is below the relay: sqlx speaks plain to it.
        let options = self
            .options
            .clone()
            .socket(socket)
            .ssl_mode(PgSslMode::Disable);
        match boxed(PgConnection::connect_with(&options)).await {
            Ok(conn) => Ok(Session {
                conn,
                relay,
                baseline: None,
                prisma_table: false,
                slots: None,
                superuser: None,
                was_ready: false,
            }),
            Err(e) => Err(self.explain_in(&relay, e, "login failed")),
        }
    }

    async fn attempt(&self, session: &mut Session) -> Attempt {
        let status = match boxed(self.read_status(session)).await {
            Ok(status) => status,
            Err(dropped) => return dropped,
        };
        // Keep the connection only while the server has room for the app.
        if let Some(free) = status.free_slots {
            session.slots = Some(SlotCount::now(free.into(), status.max_connections.into()));
        }
        let crowded = session.slots.is_some_and(SlotCount::crowded);
        boxed(self.judge(session, status, crowded)).await
    }

    /// Reads the server's status; an error is the attempt's end.
    async fn read_status(&self, session: &mut Session) -> Result<Status, Attempt> {
        let mut ask = Ask {
            prisma: self.req.needs_prisma_table() && session.prisma_table,
            slots: session.slots.is_none_or(SlotCount::stale),
            progress: !session.was_ready,
        };
        let mut status = match boxed(sql::status(&mut session.conn, &self.req, ask)).await {
            Ok(status) => status,
            Err(e) => return Err(Attempt::drop_with(self.explain(&session.relay, e))),
        };
        if self.req.needs_prisma_table() && status.has_prisma_table && !ask.prisma {
            // Just appeared: ask again with the Prisma columns, this once.
            session.prisma_table = true;
            ask.prisma = true;
            status = match boxed(sql::status(&mut session.conn, &self.req, ask)).await {
                Ok(status) => status,
                Err(e) => return Err(Attempt::drop_with(self.explain(&session.relay, e))),
            };
        }
        match &session.baseline {
            None => session.baseline = Some(status.session.clone()),
            Some(seen) if self.req.sql.is_some() && *seen != status.session => {
                return Err(Attempt::drop_with(
                    NotReady::new(Class::Other, "--sql changed the session (read-only default, timeouts, search_path or role)")
                        .hint("make --sql a single SELECT that returns true when ready; readygate reconnects meanwhile"),
                ))
            }
            Some(_) => {}
        }
        Ok(status)
    }

    /// Judges a status: recovery, failed migrations, missing tables,
    /// `--sql`; `crowded` decides whether the connection is kept.
    async fn judge(&self, session: &mut Session, status: Status, crowded: bool) -> Attempt {
        // "Table missing" says little while a migration runs: say where it stands.
        let asked = !session.was_ready;
        let fail = |mut e: NotReady| {
            if e.class == Class::Schema {
                if let Some(progress) = sql::progress(&self.req, &status, asked) {
                    e.reason = format!("{} ({progress})", e.reason);
                }
            }
            Attempt {
                result: Err(NotReady { crowded, ..e }),
                keep: !crowded,
            }
        };
        if status.in_recovery {
            // Not kept: after a failover, a new connection finds the new primary.
            return Attempt::drop_with(
                NotReady::new(
                    Class::Starting,
                    "server is in recovery (a standby, or still replaying WAL)",
                )
                .hint("point the URL at the primary, which the migrations write to"),
            );
        }
        // A failed migration is the root cause of any table still missing.
        let prisma = match (&status.prisma, self.req.needs_prisma_table()) {
            (_, false) => Ok(()),
            (Some(prisma), true) => judge_prisma(&self.req, prisma),
            (None, true) => Err(NotReady::new(Class::Schema, "table \"_prisma_migrations\" does not exist")
                .hint("no Prisma migration has run yet: check the migrating service's logs for `prisma migrate deploy`")),
        };
        if let Err(failed) = &prisma {
            if failed.class == Class::FailedMigration {
                return fail(failed.clone());
            }
        }
        if !status.missing_tables.is_empty() {
            return fail(missing_tables(&status.missing_tables));
        }
        if let Err(not_ready) = prisma {
            return fail(not_ready);
        }
        if let Some(sql) = &self.req.sql {
            if let Err(e) = boxed(self.refuse_superuser(session)).await {
                return fail(e);
            }
            let relay = session.relay.clone();
            let explain = |e| match relay.cut() {
                Some(c) => sql_cut(c),
                None => self.classify(e),
            };
            match boxed(custom_check(&mut session.conn, sql, explain)).await {
                Ok(()) => {}
                // Anything but a boolean row may have been a statement that
                // changed the session (BEGIN, SET ...): do not keep it.
                Err((not_ready, keep)) => {
                    return Attempt {
                        keep: keep && !crowded,
                        result: Err(NotReady {
                            crowded,
                            ..not_ready
                        }),
                    }
                }
            }
        }
        Attempt {
            result: Ok(()),
            keep: self.monitoring && !crowded,
        }
    }

    /// `--sql` as a superuser, or as a member of `pg_write_server_files` or
    /// `pg_execute_server_program`, could write files or run programs, which
    /// no transaction stops: refused unless allowed.
    async fn refuse_superuser(&self, session: &mut Session) -> Result<(), NotReady> {
        if self.req.sql_as_superuser {
            return Ok(());
        }
        let superuser = match session.superuser {
            Some(known) => known,
            None => {
                let ask = sqlx::query_scalar::<_, bool>(
                    "SELECT pg_catalog.current_setting('is_superuser') = 'on'
                       OR pg_catalog.pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')
                       OR pg_catalog.pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')",
                );
                let known = boxed(ask.fetch_one(&mut session.conn))
                    .await
                    .map_err(|e| self.explain(&session.relay, e))?;
                session.superuser = Some(known);
                known
            }
        };
        match superuser {
            false => Ok(()),
            true => Err(NotReady::new(
                Class::BadCheck,
                format!(
                    "--sql would run as {:?}, a superuser or a role that can write server files or run programs",
                    self.options.get_username()
                ),
            )
            .hint("connect as a role that can only read what the check needs (GRANT SELECT), or allow it with --sql-as-superuser")),
        }
    }

    /// An error on a session: the relay's reason when it cut the
    /// connection, else what sqlx says.
    fn explain(&self, relay: &Verdict, err: sqlx::Error) -> NotReady {
        self.explain_in(relay, err, "query failed")
    }

    /// [`Self::explain`], with what was going on ("login failed").
    fn explain_in(&self, relay: &Verdict, err: sqlx::Error, context: &str) -> NotReady {
        match relay.cut() {
            Some(c) => cut(c, &self.what),
            None => self.classify_in(err, context),
        }
    }

    fn classify(&self, err: sqlx::Error) -> NotReady {
        self.classify_in(err, "query failed")
    }

    fn classify_in(&self, err: sqlx::Error, context: &str) -> NotReady {
        classify(
            err,
            &self.what,
            self.options.get_username(),
            self.options.get_database(),
            context,
        )
    }
}
