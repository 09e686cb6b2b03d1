//! Idle memory (issue 13, goal 4): an idle mailbox holds at most twice the
//! heap an idle crossbeam pair carrying the same message holds, and an idle
//! named process at most 1 KiB; measured exactly with a counting global
//! allocator. One test in its own binary, so no other test allocates
//! meanwhile; figures at scale are printed by `cargo bench --bench scale`.

#[path = "../benches/common/alloc.rs"]
mod alloc;

use std::hint::black_box;

use postbox::{Mailbox, Message, Port, PostOffice};

/// Objects made per figure: enough that the office's maps grow past their
/// first sizes.
const N: usize = 4_096;

/// Heap bytes per object `make` makes, the objects all kept alive.
fn bytes_each<T>(mut make: impl FnMut(usize) -> T) -> f64 {
    let mut keep = Vec::with_capacity(N);
    let before = alloc::live();
    for i in 0..N {
        keep.push(make(i));
    }
    let bytes = alloc::live() - before;
    black_box(&keep);
    bytes as f64 / N as f64
}

#[test]
fn idle_mailboxes_and_processes_stay_small() {
    for cap in [None, Some(16)] {
        let peer = bytes_each(|_| match cap {
            Some(n) => crossbeam_channel::bounded::<Message<u64>>(n),
            None => crossbeam_channel::unbounded::<Message<u64>>(),
        });
        let builder = || match cap {
            Some(n) => Mailbox::<u64>::builder().capacity(n),
            None => Mailbox::<u64>::builder().unbounded(),
        };
        let fifo = bytes_each(|_| builder().build());
        assert!(
            fifo <= 2.0 * peer,
            "an idle FIFO mailbox ({cap:?}) holds {fifo} bytes, crossbeam {peer}"
        );
        let port = bytes_each(|_| match cap {
            Some(n) => Port::<u64>::builder().capacity(n).build(),
            None => Port::<u64>::builder().unbounded().build(),
        });
        assert!(
            port <= 2.0 * peer,
            "an idle port ({cap:?}) holds {port} bytes, crossbeam {peer}"
        );
        // A priority mailbox makes its levels' queues on its first push.
        let prio = bytes_each(|_| builder().priority(8).build());
        assert!(
            prio <= 2.0 * peer,
            "an idle priority(8) mailbox ({cap:?}) holds {prio} bytes, crossbeam {peer}"
        );
    }

    // An inbox's queue is made by its first use: a million idle processes
    // do not hold a million channels.
    let office = PostOffice::new();
    let names: Vec<String> = (0..N).map(|i| format!("worker-{i}")).collect();
    let process = bytes_each(|i| {
        office
            .process_with::<u64>(&names[i], Port::builder().unbounded())
            .unwrap()
    });
    assert!(
        process <= 1024.0,
        "an idle named process holds {process} bytes"
    );
}
