//! The MySQL probe's session: one connection kept between attempts, its
//! transactions read-only and its statements under a time limit. Each
//! attempt is one statement (read-only flag, `max_connections`, one column
//! per required table, and about once a second the connected threads); it
//! gives the connection back when the server is close to `max_connections`,
//! and the wait loop backs off when the server refuses with "too many
//! connections", so a fleet of gates cannot starve the app it waits for.

use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{Connection, Row};

use super::errors::{classify, cut, database_error};
use super::watch::Login;
use super::Requirements;
use crate::not_ready::{Class, NotReady};
use crate::probe::postgres::{boxed, missing_tables, sql_cut, sql_truth, TableName};
use crate::probe::relay::{self, Dial};
use crate::probe::slots::SlotCount;

/// Where the server's connected threads can be read, tried in order:
/// MariaDB and MySQL 5.6 have the first, MySQL 5.7+ the second.
const THREAD_SOURCES: [&str; 2] = [
    "information_schema.GLOBAL_STATUS",
    "performance_schema.global_status",
];

pub(crate) struct MySqlProbe {
    options: MySqlConnectOptions,
    what: String,
    req: Arc<Requirements>,
    conn: Option<Session>,
    /// Sidecar mode: checked again after it is ready, so keep the connection.
    monitoring: bool,
    /// Index into [`THREAD_SOURCES`]; past its end, slots are not counted.
    threads_from: usize,
    /// Longest a statement may run (`max_statement_time` on MariaDB,
    /// `max_execution_time` on MySQL): the attempt timeout, so a statement
    /// the gate gave up on does not run on.
    statement_time: Duration,
}

struct Session {
    conn: MySqlConnection,
    slots: Option<SlotCount>,
    /// What the relay under this connection saw (`relay.rs`).
    relay: relay::Verdict,
}

struct Status {
    read_only: bool,
    max_connections: i64,
    missing_tables: Vec<TableName>,
    threads: Option<i64>,
}

impl MySqlProbe {
    pub(crate) fn new(
        options: MySqlConnectOptions,
        req: Arc<Requirements>,
        statement_time: Duration,
    ) -> Self {
        let what = match options.get_socket() {
            Some(path) => path.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        MySqlProbe {
            options,
            what,
            req,
            conn: None,
            monitoring: false,
            threads_from: 0,
            statement_time,
        }
    }

    /// Keeps the connection after a successful check too (sidecar mode).
    pub(crate) fn keep_when_ready(&mut self) {
        self.monitoring = true;
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let reused = self.conn.is_some();
        match boxed(self.check_on_session()).await {
            // The kept connection had died (restart, wait_timeout, KILL):
            // that says nothing about the server now; once more on a new one.
            Err(e) if reused && self.conn.is_none() && e.class != Class::TooManyConnections => {
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
        let (result, keep) = boxed(self.attempt(&mut session)).await;
        if keep && (result.is_err() || self.monitoring) {
            self.conn = Some(session);
        } else {
            let _ = tokio::time::timeout(Duration::from_millis(200), session.conn.close()).await;
        }
        result
    }

    /// A new connection, its transactions read-only and its statements
    /// time-limited (the variable MariaDB knows, else MySQL's).
    async fn connect(&self) -> Result<Session, NotReady> {
        // The gate connects; sqlx talks through the relay (probe/relay.rs).
        let to = match self.options.get_socket() {
            Some(path) => Dial::Socket(path),
            None => Dial::Tcp(self.options.get_host(), self.options.get_port()),
        };
        let refused = |e| NotReady::from_io(&e, &self.what);
        let (socket, relay) = relay::dial(to, Login::default(), "", &self.what, refused).await?;
        let options = self.options.clone().socket(socket);
        let mut conn = match boxed(MySqlConnection::connect_with(&options)).await {
            Ok(conn) => conn,
            Err(e) => return Err(self.explain(&relay, e)),
        };
        boxed(plain(&mut conn, "SET SESSION TRANSACTION READ ONLY".into()))
            .await
            .map_err(|e| self.explain(&relay, e))?;
        let seconds = self.statement_time.as_secs_f64().max(0.001);
        let mariadb = format!("SET SESSION max_statement_time = {seconds:.3}");
        if boxed(plain(&mut conn, mariadb)).await.is_err() {
            let millis = self.statement_time.as_millis().max(1);
            let mysql = format!("SET SESSION max_execution_time = {millis}");
            let _ = boxed(plain(&mut conn, mysql)).await;
        }
        Ok(Session {
            conn,
            slots: None,
            relay,
        })
    }

    /// One attempt on an open connection: the verdict, and whether the
    /// connection may be kept.
    async fn attempt(&mut self, session: &mut Session) -> (Result<(), NotReady>, bool) {
        let count = session.slots.is_none_or(SlotCount::stale);
        let status = match boxed(self.status(session, count)).await {
            Ok(status) => status,
            Err(e) => return (Err(e), false),
        };
        if let Some(threads) = status.threads {
            session.slots = Some(SlotCount::now(
                status.max_connections - threads,
                status.max_connections,
            ));
        }
        let crowded = session.slots.is_some_and(SlotCount::crowded);
        let fail = |e: NotReady| (Err(NotReady { crowded, ..e }), !crowded);
        if status.read_only {
            // Not kept: after a failover, a new connection finds the new primary.
            return (
                Err(NotReady::new(
                    Class::Starting,
                    "server is read-only (a replica, or read_only is set)",
                )
                .hint("point the URL at the primary, which the migrations write to")),
                false,
            );
        }
        if !status.missing_tables.is_empty() {
            // information_schema shows only what the user may see.
            return fail(missing_tables(&status.missing_tables).hint(
                "the schema is not migrated yet (check the logs of the service that runs the migrations), or the user has no privilege on the table: GRANT SELECT on it",
            ));
        }
        if let Some(sql) = &self.req.sql {
            if let Err((e, keep)) =
                boxed(self.custom_check(&mut session.conn, &session.relay, sql)).await
            {
                return (Err(NotReady { crowded, ..e }), keep && !crowded);
            }
        }
        (Ok(()), !crowded)
    }

    /// The one status statement; an unreadable thread count moves on to
    /// the next place to read it from (and, past the last, to none).
    async fn status(&mut self, session: &mut Session, count: bool) -> Result<Status, NotReady> {
        loop {
            let source = THREAD_SOURCES.get(self.threads_from).filter(|_| count);
            let sql = status_sql(&self.req.tables, source.copied());
            let mut query = sqlx::query(&sql);
            for t in &self.req.tables {
                let (schema, name) = (t.schema.clone(), t.name.clone());
                query = query.bind(schema).bind(name.clone()).bind(name);
            }
            match boxed(query.fetch_one(&mut session.conn)).await {
                Ok(row) => return self.read_status(&row, source.is_some()),
                Err(sqlx::Error::Database(e))
                    if source.is_some()
                        && e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                            .is_some_and(|e| matches!(e.number(), 1109 | 1142 | 1146 | 3167)) =>
                {
                    self.threads_from += 1;
                }
                Err(e) => return Err(self.explain(&session.relay, e)),
            }
        }
    }

    fn read_status(&self, row: &MySqlRow, counted: bool) -> Result<Status, NotReady> {
        let bad = |e: sqlx::Error| {
            NotReady::new(
                Class::Other,
                format!("{} answered the status query unexpectedly: {e}", self.what),
            )
        };
        let read_only: Option<i64> = row.try_get(0).map_err(bad)?;
        let max_connections: Option<i64> = row.try_get(1).map_err(bad)?;
        let threads: Option<i64> = row.try_get(2).map_err(bad)?;
        let mut missing_tables = Vec::new();
        for (i, table) in self.req.tables.iter().enumerate() {
            let found: Option<i64> = row.try_get(3 + i).map_err(bad)?;
            if found.unwrap_or(0) == 0 {
                missing_tables.push(table.clone());
            }
        }
        Ok(Status {
            read_only: read_only.unwrap_or(0) != 0,
            max_connections: max_connections.unwrap_or(0),
            missing_tables,
            threads: threads.filter(|_| counted),
        })
    }

    /// `--sql` in a read-only transaction that is always rolled back; the
    /// error says whether the connection may be kept.
    async fn custom_check(
        &self,
        conn: &mut MySqlConnection,
        relay: &relay::Verdict,
        sql: &str,
    ) -> Result<(), (NotReady, bool)> {
        let begin = "START TRANSACTION READ ONLY".to_string();
        if let Err(e) = boxed(plain(conn, begin)).await {
            return Err((self.explain(relay, e), false));
        }
        // A prepared statement: one statement, never several.
        let row = boxed(sqlx::query(sql).fetch_optional(&mut *conn)).await;
        let undone = boxed(plain(conn, "ROLLBACK".into())).await.is_ok();
        match row {
            Ok(Some(row)) => match truth(&row) {
                Ok(truth) => sql_truth(Some(truth)).map_err(|e| (e, undone)),
                Err(()) => Err((
                    NotReady::new(Class::BadCheck, "--sql's first column is not a number or boolean")
                        .hint("make the query return true when ready, e.g. SELECT COUNT(*) > 0 FROM ... (this does not fix itself: exit 3 with --fail-fast)"),
                    false,
                )),
            },
            Ok(None) => sql_truth(None).map_err(|e| (e, undone)),
            Err(sqlx::Error::Database(e)) => {
                let not_ready = match e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    Some(e) => database_error(e, self.options.get_username(), self.options.get_database(), "--sql failed"),
                    None => NotReady::new(Class::Other, format!("--sql failed: {}", e.message())),
                };
                Err((not_ready, false))
            }
            Err(other) => Err((
                match relay.cut() {
                    Some(c) => sql_cut(c),
                    None => self.classify(other),
                },
                false,
            )),
        }
    }

    /// An error on a session: the relay's reason when it cut the
    /// connection, else what sqlx says.
    fn explain(&self, relay: &relay::Verdict, err: sqlx::Error) -> NotReady {
        match relay.cut() {
            Some(c) => cut(c, &self.what),
            None => self.classify(err),
        }
    }

    fn classify(&self, err: sqlx::Error) -> NotReady {
        classify(
            err,
            &self.what,
            self.options.get_username(),
            self.options.get_database(),
        )
    }
}

/// A statement sent as text (not prepared): the session and transaction
/// statements, which MySQL does not prepare.
async fn plain(conn: &mut MySqlConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sql.as_str()).await.map(drop)
}

/// The first column as a truth value: MySQL's booleans are numbers.
fn truth(row: &MySqlRow) -> Result<Option<bool>, ()> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(0) {
        return Ok(v.map(|v| v != 0));
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(0) {
        return Ok(v);
    }
    match row.try_get::<Option<u64>, _>(0) {
        Ok(v) => Ok(v.map(|v| v != 0)),
        Err(_) => Err(()),
    }
}

/// The status statement: read-only flag, `max_connections`, connected
/// threads (from `threads`, when counting), and per required table whether
/// it exists (the name compared exactly; an unqualified name in the URL's
/// database).
fn status_sql(tables: &[TableName], threads: Option<&str>) -> String {
    let threads = match threads {
        Some(from) => format!(
            "(SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM {from} WHERE VARIABLE_NAME = 'THREADS_CONNECTED')"
        ),
        None => "NULL".into(),
    };
    let mut sql = format!(
        "SELECT CAST(@@global.read_only AS SIGNED), CAST(@@max_connections AS SIGNED), {threads}"
    );
    for _ in tables {
        sql.push_str(
            ", (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CAST(TABLE_NAME AS BINARY) = CAST(? AS BINARY))",
        );
    }
    sql
}
