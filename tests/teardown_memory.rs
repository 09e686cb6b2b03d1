//! Memory left behind by dropped mailboxes and monitors (issue 10, defects 4
//! and 5), measured exactly with a counting global allocator. One test in
//! its own binary, so no other test allocates meanwhile; figures at scale
//! are printed by `cargo bench --bench teardown`.

#[path = "../benches/common/alloc.rs"]
mod alloc;

use std::time::Duration;

use postbox::{Mailbox, PostOffice, Requeue};

/// Heap bytes an iteration may leave behind (the bound).
const PER_ITERATION: isize = 50;

/// Runs `iteration` `n` times after a warm-up and returns the heap bytes
/// left behind per iteration.
fn left_behind(n: usize, mut iteration: impl FnMut()) -> isize {
    for _ in 0..100 {
        iteration();
    }
    let before = alloc::live();
    for _ in 0..n {
        iteration();
    }
    (alloc::live() - before) / n as isize
}

#[test]
fn dropped_mailboxes_and_monitors_leave_nothing_behind() {
    // Defect 5: the delayed-requeue timer let go of a mailbox only when the
    // delay ran out (~500 bytes per mailbox for the hour).
    let per_mailbox = left_behind(2_000, || {
        let (tx, rx) = Mailbox::<u64>::builder().build();
        tx.send(7).unwrap();
        rx.recv_ack()
            .unwrap()
            .nack(Requeue::After(Duration::from_secs(3600)));
        assert_eq!(rx.stats().delayed, 1);
    });
    assert!(
        per_mailbox < PER_ITERATION,
        "a dropped mailbox with a delayed requeue left {per_mailbox} bytes"
    );

    // Defect 4: a dropped monitor stayed on the watched process's list
    // (~1.7 KB per watch until the process ended).
    let office = PostOffice::new();
    let worker = office.process::<u64>("worker").unwrap();
    let per_monitor = left_behind(2_000, || drop(office.monitor(worker.pid())));
    assert!(
        per_monitor < PER_ITERATION,
        "a dropped monitor left {per_monitor} bytes"
    );
    drop(worker);
}
