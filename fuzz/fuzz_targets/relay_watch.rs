//! The database relay's watchers (PostgreSQL's message lengths, MySQL's
//! login rules): never a panic, and how the bytes arrive in chunks never
//! changes the verdict (a cut seen whole is seen byte by byte, and back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::relay_watch;

fuzz_target!(|input: (bool, Vec<u8>, Vec<u8>, Vec<u16>)| {
    let (postgres, client, server, cuts) = input;
    let cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    let whole = relay_watch(postgres, &client, &server, &[]);
    let chunked = relay_watch(postgres, &client, &server, &cuts);
    assert_eq!(whole, chunked, "cut at {cuts:?}");
});
