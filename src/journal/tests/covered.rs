//! Deliveries that skip the queue's lock (`writer/covered.rs`): a requeue
//! turns them off until the requeued message's `Delivered` is queued.

use super::super::record::Kind;
use super::acks::kinds;
use super::{open, payload, TempDir};
use crate::journal::{Options, SyncPolicy};

#[test]
fn a_requeued_message_is_delivered_with_a_record_of_its_own() {
    let dir = TempDir::new("covered-requeue");
    {
        let options = Options::new("t").sync(SyncPolicy::Buffered);
        let (journal, _) = open(dir.path(), options).unwrap();
        for id in 1..=10 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
        // Writes a range over 1..=64 and publishes it once written.
        journal.deliver(1).unwrap();
        // Covered: nothing written (with the lock or without).
        journal.deliver(2).unwrap();
        journal.deliver(3).unwrap();
        journal.ack(1).unwrap();
        // 2 comes back: its next delivery needs a `Delivered`, even though
        // the published range covers its id.
        journal.requeued(2, 1).unwrap();
        journal.deliver(2).unwrap();
        journal.flush().unwrap();
        // No clean close: a crash, as far as replay can tell.
    }
    assert!(kinds(&dir).contains(&Kind::Delivered));
    let options = Options::new("t").sync(SyncPolicy::Buffered);
    let (_journal, replay) = open(dir.path(), options).unwrap();
    let two = replay.messages.iter().find(|m| m.id == 2).unwrap();
    assert_eq!(two.redeliveries, 1);
    assert!(two.possibly_delivered, "delivered after its requeue");
}
