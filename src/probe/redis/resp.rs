//! RESP2, the Redis wire format, as far as the probes need it: commands out,
//! replies in. Every reply is bounded (bytes, elements, nesting) before
//! anything is allocated, so a server that declares `$4000000000` costs
//! nothing but an error.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The most one reply may take, all parts together. The probes' largest
/// answers (`CLUSTER INFO`, `ROLE`) are a few kilobytes.
pub(crate) const REPLY_MAX: usize = 1 << 20;
/// The most elements one array may declare.
const ELEMENTS_MAX: usize = 4096;
/// The deepest nesting of arrays.
const DEPTH_MAX: usize = 4;

/// One reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    /// The text of a simple or bulk string.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Value::Simple(s) => Some(s.clone()),
            Value::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Why a reply could not be read.
#[derive(Debug)]
pub(crate) enum ReplyError {
    Io(io::Error),
    /// The bytes are not RESP, or break a bound; the text says which.
    Protocol(String),
}

impl From<io::Error> for ReplyError {
    fn from(e: io::Error) -> Self {
        ReplyError::Io(e)
    }
}

/// A command as RESP: an array of bulk strings.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one whole reply.
pub(crate) async fn read<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Value, ReplyError> {
    let mut budget = REPLY_MAX;
    // Arrays still being filled: how many elements each declared, and those read.
    let mut open: Vec<(usize, Vec<Value>)> = Vec::new();
    loop {
        let line = read_line(r, &mut budget).await?;
        let (tag, rest) = line
            .split_first()
            .ok_or_else(|| not_resp("an empty line"))?;
        let rest = String::from_utf8_lossy(rest).into_owned();
        let mut value = match tag {
            b'+' => Value::Simple(rest),
            b'-' => Value::Error(rest),
            b':' => Value::Int(
                rest.parse()
                    .map_err(|_| not_resp("an integer reply that is not a number"))?,
            ),
            b'$' => match length(&rest)? {
                None => Value::Nil,
                Some(n) => Value::Bulk(read_bulk(r, n, &mut budget).await?),
            },
            b'*' => match length(&rest)? {
                None => Value::Nil,
                Some(0) => Value::Array(Vec::new()),
                Some(n) if n > ELEMENTS_MAX => {
                    return Err(ReplyError::Protocol(format!(
                        "declared an array of {n} elements, more than the {ELEMENTS_MAX} a probe reply may hold"
                    )))
                }
                Some(_) if open.len() == DEPTH_MAX => {
                    return Err(ReplyError::Protocol(format!(
                        "nested arrays deeper than {DEPTH_MAX}"
                    )))
                }
                Some(n) => {
                    open.push((n, Vec::with_capacity(n.min(16))));
                    continue;
                }
            },
            _ => return Err(not_resp("a line that is not RESP")),
        };
        // Hand the value to the array it completes, closing every array it fills.
        loop {
            let Some((declared, items)) = open.last_mut() else {
                return Ok(value);
            };
            items.push(value);
            if items.len() < *declared {
                break;
            }
            let Some((_, items)) = open.pop() else {
                unreachable!("an array was just filled")
            };
            value = Value::Array(items);
        }
    }
}

fn not_resp(what: &str) -> ReplyError {
    ReplyError::Protocol(format!("answered {what}, not the Redis protocol"))
}

/// A length: `-1` is nil, anything else must be a count.
fn length(text: &str) -> Result<Option<usize>, ReplyError> {
    if text == "-1" {
        return Ok(None);
    }
    text.parse::<usize>()
        .map(Some)
        .map_err(|_| not_resp("a length that is not a number"))
}

/// One line without its CRLF, charged to the budget.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    budget: &mut usize,
) -> Result<Vec<u8>, ReplyError> {
    let mut line = Vec::new();
    let limit = *budget as u64;
    let n = r.take(limit).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    *budget -= n;
    if !line.ends_with(b"\r\n") {
        return Err(match n as u64 == limit {
            true => too_large(),
            false => io::Error::from(io::ErrorKind::UnexpectedEof).into(),
        });
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// A bulk string's `n` bytes and its CRLF, refused before allocating when
/// the budget cannot hold them.
async fn read_bulk<R: AsyncBufRead + Unpin>(
    r: &mut R,
    n: usize,
    budget: &mut usize,
) -> Result<Vec<u8>, ReplyError> {
    let total = n
        .checked_add(2)
        .filter(|t| *t <= *budget)
        .ok_or_else(too_large)?;
    let mut bytes = vec![0; total];
    r.read_exact(&mut bytes).await?;
    *budget -= total;
    if !bytes.ends_with(b"\r\n") {
        return Err(not_resp("a string longer than it declared"));
    }
    bytes.truncate(n);
    Ok(bytes)
}

fn too_large() -> ReplyError {
    ReplyError::Protocol(format!(
        "sent a reply larger than {} MiB, more than any probe command returns",
        REPLY_MAX >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Value, ReplyError> {
        let mut r = bytes;
        read(&mut r).await
    }

    #[tokio::test]
    async fn reads_every_reply_kind() {
        assert_eq!(
            parse(b"+PONG\r\n").await.unwrap(),
            Value::Simple("PONG".into())
        );
        assert_eq!(
            parse(b"-WRONGPASS no\r\n").await.unwrap(),
            Value::Error("WRONGPASS no".into())
        );
        assert_eq!(parse(b":42\r\n").await.unwrap(), Value::Int(42));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Value::Nil);
        assert_eq!(
            parse(b"$2\r\nhi\r\n").await.unwrap(),
            Value::Bulk(b"hi".to_vec())
        );
        assert_eq!(
            parse(b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n").await.unwrap(),
            Value::Array(vec![
                Value::Array(vec![Value::Int(1)]),
                Value::Bulk(b"x".to_vec())
            ])
        );
        assert_eq!(parse(b"*0\r\n").await.unwrap(), Value::Array(vec![]));
    }

    #[tokio::test]
    async fn lying_lengths_are_refused_before_allocation() {
        for bad in [
            &b"$4000000000\r\n"[..],
            b"*4000000000\r\n",
            b"$18446744073709551615\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"$3\r\nabcdef\r\n",
            b"?what\r\n",
            b":x\r\n",
        ] {
            assert!(
                matches!(parse(bad).await, Err(ReplyError::Protocol(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless = vec![b'+'; REPLY_MAX + 10];
        assert!(matches!(
            parse(&endless).await,
            Err(ReplyError::Protocol(_))
        ));
        assert!(matches!(parse(b"+PON").await, Err(ReplyError::Io(_))));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&[b"AUTH", b"u", b"p w"]),
            b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$3\r\np w\r\n".to_vec()
        );
    }
}
