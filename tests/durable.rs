//! Durable mailboxes (issue 12): what a log keeps across a reopen, in one
//! process (the crash tests run a child process: `durable_crash.rs`).

use std::path::PathBuf;
use std::time::Duration;

use postbox::{
    Codec, CodecError, DeadLetterReason, Durable, Mailbox, Message, OpenError, Raw, Requeue,
    SendError, SyncPolicy,
};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "postbox-durable-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fifo(dir: &TempDir) -> (postbox::Sender<String>, postbox::Receiver<String>) {
    Mailbox::<String>::builder()
        .durable(Durable::at(&dir.0).codec(Raw).sync(SyncPolicy::Buffered))
        .open()
        .unwrap()
}

fn bodies(rx: &postbox::Receiver<String>) -> Vec<String> {
    rx.try_iter().map(|m| m.into_body()).collect()
}

#[test]
fn queued_messages_survive_dropped_handles_in_order() {
    let dir = TempDir::new("order");
    {
        let (tx, _rx) = fifo(&dir);
        for n in 0..100 {
            tx.send(format!("job {n}")).unwrap();
        }
    }
    let (_tx, rx) = fifo(&dir);
    let got = bodies(&rx);
    assert_eq!(
        got,
        (0..100).map(|n| format!("job {n}")).collect::<Vec<_>>()
    );
}

#[test]
fn received_and_acked_messages_do_not_come_back() {
    let dir = TempDir::new("acked");
    {
        let (tx, rx) = fifo(&dir);
        for n in 0..10 {
            tx.send(format!("{n}")).unwrap();
        }
        // Plain receives are acknowledgements; explicit acks too.
        assert_eq!(rx.recv().unwrap().into_body(), "0");
        assert_eq!(rx.recv().unwrap().into_body(), "1");
        rx.recv_ack().unwrap().ack();
        // Rejected: a dead letter, gone from the log.
        rx.recv_ack().unwrap().nack(Requeue::No);
    }
    let (_tx, rx) = fifo(&dir);
    assert_eq!(bodies(&rx), ["4", "5", "6", "7", "8", "9"]);
}

#[test]
fn a_clean_close_keeps_counts_and_requeues() {
    let dir = TempDir::new("requeue");
    {
        let (tx, rx) = fifo(&dir);
        tx.send("a".to_string()).unwrap();
        tx.send("b".to_string()).unwrap();
        rx.recv_ack().unwrap().nack(Requeue::Yes); // a: redelivered once
        let b_then = rx.recv_ack().unwrap(); // a again (front)
        assert_eq!(b_then.body(), "a");
        drop(b_then); // unanswered: requeued again
    }
    let (_tx, rx) = fifo(&dir);
    let a = rx.recv_ack().unwrap();
    assert_eq!((a.body().as_str(), a.header().redeliveries()), ("a", 2));
    a.ack();
    let b = rx.recv_ack().unwrap();
    // Never delivered, and the mailbox closed cleanly: not flagged.
    assert_eq!((b.body().as_str(), b.header().redeliveries()), ("b", 0));
    b.ack();
}

#[test]
fn priority_levels_and_headers_are_rebuilt() {
    let dir = TempDir::new("priority");
    let open = || {
        Mailbox::<String>::builder()
            .priority(4)
            .capacity(2)
            .durable(Durable::at(&dir.0).codec(Raw))
            .open()
            .unwrap()
    };
    {
        let (tx, _rx) = open();
        tx.send(
            Message::new("low".to_string())
                .priority(0)
                .correlation_id(7),
        )
        .unwrap();
        tx.send(Message::new("high".to_string()).priority(3))
            .unwrap();
    }
    {
        // Restored beyond the capacity: they were accepted once.
        let (tx, rx) = open();
        assert!(tx.try_send("more".to_string()).unwrap_err().is_full());
        let high = rx.recv().unwrap();
        assert_eq!(
            (high.body().as_str(), high.header().priority()),
            ("high", 3)
        );
        let low = rx.recv().unwrap();
        assert_eq!(low.header().correlation_id(), Some(7));
        assert!(low.header().id().as_u64() < high.header().id().as_u64());
        // New ids never repeat a restored one.
        tx.send("new".to_string()).unwrap();
        let new = rx.recv().unwrap();
        assert!(new.header().id().as_u64() > high.header().id().as_u64());
    }
}

#[test]
fn ttl_runs_while_the_process_is_down() {
    let dir = TempDir::new("ttl");
    {
        let (tx, _rx) = fifo(&dir);
        tx.send(Message::new("stale".to_string()).ttl(Duration::from_millis(20)))
            .unwrap();
        tx.send(Message::new("fresh".to_string()).ttl(Duration::from_secs(3600)))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(40));
    let (_tx, rx) = fifo(&dir);
    assert_eq!(bodies(&rx), ["fresh"]);
    assert_eq!(rx.stats().dead_letters.get(DeadLetterReason::Expired), 1);
}

#[test]
fn the_directory_has_one_owner() {
    let dir = TempDir::new("lock");
    let first = fifo(&dir);
    let second = Mailbox::<String>::builder()
        .durable(Durable::at(&dir.0).codec(Raw))
        .open();
    assert!(matches!(second, Err(OpenError::Locked { .. })));
    drop(first);
    assert!(Mailbox::<String>::builder()
        .durable(Durable::at(&dir.0).codec(Raw))
        .open()
        .is_ok());
}

#[test]
fn another_codec_is_refused() {
    let dir = TempDir::new("codec");
    drop(fifo(&dir));
    let bytes = Mailbox::<Vec<u8>>::builder()
        .durable(Durable::at(&dir.0).codec(Raw))
        .open();
    assert!(matches!(bytes, Err(OpenError::FormatMismatch { .. })));
}

/// A body the codec refuses is handed back; nothing is logged.
#[test]
fn an_unencodable_body_is_handed_back() {
    struct EvenOnly;
    impl Codec<u32> for EvenOnly {
        fn name(&self) -> String {
            "even-only".into()
        }
        fn encode(&self, body: &u32, out: &mut Vec<u8>) -> Result<(), CodecError> {
            if body % 2 == 1 {
                return Err(CodecError::new("even-only", "odd"));
            }
            out.extend_from_slice(&body.to_le_bytes());
            Ok(())
        }
        fn decode(&self, bytes: &[u8]) -> Result<u32, CodecError> {
            let bytes: [u8; 4] = bytes
                .try_into()
                .map_err(|_| CodecError::new("even-only", "length"))?;
            Ok(u32::from_le_bytes(bytes))
        }
    }
    let dir = TempDir::new("encode");
    {
        let (tx, rx) = Mailbox::<u32>::builder()
            .durable(Durable::at(&dir.0).codec(EvenOnly))
            .open()
            .unwrap();
        tx.send(2).unwrap();
        match tx.send(3) {
            Err(SendError::NotLogged(msg)) => assert_eq!(msg.into_body(), 3),
            other => panic!("expected NotLogged, got {other:?}"),
        }
        assert_eq!(rx.len(), 1);
        assert_eq!(tx.stats().sent, 1);
    }
    let (_tx, rx) = Mailbox::<u32>::builder()
        .durable(Durable::at(&dir.0).codec(EvenOnly))
        .open()
        .unwrap();
    assert_eq!(
        rx.try_iter().map(|m| m.into_body()).collect::<Vec<_>>(),
        [2]
    );
}

/// Async sends and receives on a durable mailbox.
#[test]
fn async_on_a_durable_mailbox() {
    let dir = TempDir::new("async");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    {
        let (tx, rx) = fifo(&dir);
        rt.block_on(async {
            for n in 0..5 {
                tx.send_async(format!("{n}")).await.unwrap();
            }
            rx.recv_ack_async().await.unwrap().ack();
        });
    }
    let (_tx, rx) = fifo(&dir);
    assert_eq!(bodies(&rx), ["1", "2", "3", "4"]);
}

/// Receipts say when the log holds a message durably: at once for
/// `Always`; for `Buffered`, once written (which the send waits for).
#[test]
fn receipts_say_when_a_message_is_durable() {
    for sync in [SyncPolicy::Always, SyncPolicy::Buffered] {
        let dir = TempDir::new("receipt");
        let (tx, rx) = Mailbox::<String>::builder()
            .durable(Durable::at(&dir.0).codec(Raw).sync(sync))
            .open()
            .unwrap();
        let receipt = tx.send_tracked("kept".to_string()).unwrap();
        assert!(receipt.is_durable(), "{sync:?}");
        drop((tx, rx));
    }
    // A plain mailbox's receipts never say durable.
    let (tx, _rx) = Mailbox::<String>::builder().build();
    assert!(!tx.send_tracked("memory".to_string()).unwrap().is_durable());
}

/// `Every(d)`: durable within the interval, not at once.
#[test]
fn every_policy_receipts_become_durable_later() {
    let dir = TempDir::new("every");
    let (tx, _rx) = Mailbox::<String>::builder()
        .durable(
            Durable::at(&dir.0)
                .codec(Raw)
                .sync(SyncPolicy::Every(Duration::from_millis(20))),
        )
        .open()
        .unwrap();
    let receipt = tx.send_tracked("soon".to_string()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !receipt.is_durable() {
        assert!(std::time::Instant::now() < deadline, "never became durable");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An office mailbox can be durable; destroying it removes its messages
/// from the log, dropping the office keeps them.
#[test]
fn office_mailboxes_can_be_durable() {
    use postbox::{Owner, PostOffice};
    let dir = TempDir::new("office");
    let builder = || Mailbox::<String>::builder().durable(Durable::at(&dir.0).codec(Raw));
    {
        let office = PostOffice::new();
        office
            .create_durable("jobs", builder(), Owner::System)
            .unwrap();
        office
            .connect_sender::<String>("jobs")
            .unwrap()
            .send("kept".to_string())
            .unwrap();
        // A second open of the same directory is refused, typed.
        let again = office.create_durable("jobs-2", builder(), Owner::System);
        assert!(matches!(
            again,
            Err(postbox::CreateError::Open(OpenError::Locked { .. }))
        ));
    }
    {
        let office = PostOffice::new();
        office
            .create_durable("jobs", builder(), Owner::System)
            .unwrap();
        let rx = office.connect_receiver::<String>("jobs").unwrap();
        assert_eq!(rx.try_recv().unwrap().into_body(), "kept");
        office
            .connect_sender::<String>("jobs")
            .unwrap()
            .send("destroyed".to_string())
            .unwrap();
        drop(rx);
        office.destroy("jobs").unwrap();
    }
    let (_tx, rx) = Mailbox::<String>::builder()
        .durable(Durable::at(&dir.0).codec(Raw))
        .open()
        .unwrap();
    assert!(rx.try_recv().is_err(), "destroy removes the messages");
}

/// A durable port dropped keeps its messages for the next open.
#[test]
fn a_dropped_durable_port_keeps_its_messages() {
    use postbox::Port;
    let dir = TempDir::new("port");
    {
        let (tx, port) = Port::<String>::builder()
            .durable(Durable::at(&dir.0).codec(Raw))
            .open()
            .unwrap();
        tx.send("for later".to_string()).unwrap();
        drop(port);
    }
    let (_tx, port) = Port::<String>::builder()
        .durable(Durable::at(&dir.0).codec(Raw))
        .open()
        .unwrap();
    assert_eq!(port.try_recv().unwrap().into_body(), "for later");
}

/// A `u32` codec that refuses to decode odd numbers when `strict`, under
/// one name either way (so both open the same log).
struct OddCodec {
    strict: bool,
}

impl Codec<u32> for OddCodec {
    fn name(&self) -> String {
        "u32-le".into()
    }
    fn encode(&self, body: &u32, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(&body.to_le_bytes());
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<u32, CodecError> {
        let bytes: [u8; 4] = bytes
            .try_into()
            .map_err(|_| CodecError::new("u32-le", "length"))?;
        let n = u32::from_le_bytes(bytes);
        if self.strict && n % 2 == 1 {
            return Err(CodecError::new("u32-le", "odd"));
        }
        Ok(n)
    }
}

/// An undecodable message fails the open and changes nothing: the
/// messages decoded before it went nowhere (not to dead letters), and
/// the next open finds the log as it was, counts included.
#[test]
fn an_undecodable_message_fails_the_open_and_changes_nothing() {
    let dir = TempDir::new("undecodable");
    let open = |strict: bool, dead: Option<postbox::Sender<u32>>| {
        let builder = Mailbox::<u32>::builder().unbounded();
        let builder = match dead {
            Some(tx) => builder.dead_letters(tx),
            None => builder,
        };
        builder
            .durable(Durable::at(&dir.0).codec(OddCodec { strict }))
            .open()
    };
    {
        let (tx, rx) = open(false, None).unwrap();
        for n in [2, 4, 5, 6] {
            tx.send(n).unwrap();
        }
        rx.recv_ack().unwrap().nack(Requeue::Yes); // 2: redelivered once
    }
    let (dead_tx, dead_rx) = Mailbox::<u32>::builder().unbounded().build();
    match open(true, Some(dead_tx)) {
        Err(OpenError::Undecodable { .. }) => {}
        other => panic!("expected Undecodable, got {:?}", other.map(drop)),
    }
    assert_eq!(dead_rx.try_iter().count(), 0);
    let (_tx, rx) = open(false, None).unwrap();
    let restored: Vec<(u32, u32)> = rx
        .try_iter()
        .map(|m| (*m.body(), m.header().redeliveries()))
        .collect();
    assert_eq!(restored, [(2, 1), (4, 0), (5, 0), (6, 0)]);
    assert_eq!(rx.stats().redelivered, 0);
}

/// Restored messages over a lower `max_redeliveries` go to dead letters
/// at the open, in log order; the others are queued in order.
#[test]
fn restored_messages_over_max_redeliveries_are_dead_lettered_in_order() {
    let dir = TempDir::new("max-redeliveries");
    {
        let (tx, rx) = fifo(&dir);
        for body in ["a", "b", "c", "d"] {
            tx.send(body.to_string()).unwrap();
        }
        // a and c given back twice each (held together, so that each
        // requeue to the front does not bring back the same one), b acked,
        // d never delivered.
        let held: Vec<_> = (0..3).map(|_| rx.recv_ack().unwrap()).collect();
        for delivery in held {
            if delivery.body() == "b" {
                delivery.ack();
            } else {
                delivery.nack(Requeue::Yes);
            }
        }
        let held: Vec<_> = (0..2).map(|_| rx.recv_ack().unwrap()).collect();
        let mut again: Vec<&str> = held.iter().map(|d| d.body().as_str()).collect();
        again.sort_unstable();
        assert_eq!(again, ["a", "c"]);
        for delivery in held {
            delivery.nack(Requeue::Yes);
        }
    }
    let (dead_tx, dead_rx) = Mailbox::<String>::builder().unbounded().build();
    let (_tx, rx) = Mailbox::<String>::builder()
        .max_redeliveries(1)
        .dead_letters(dead_tx)
        .durable(Durable::at(&dir.0).codec(Raw).sync(SyncPolicy::Buffered))
        .open()
        .unwrap();
    let dead: Vec<(String, u32)> = dead_rx
        .try_iter()
        .map(|m| {
            let count = m.header().redeliveries();
            (m.into_body(), count)
        })
        .collect();
    assert_eq!(dead, [("a".to_string(), 2), ("c".to_string(), 2)]);
    assert_eq!(bodies(&rx), ["d"]);
    assert_eq!(
        rx.stats()
            .dead_letters
            .get(DeadLetterReason::MaxRedeliveries),
        2
    );
}
