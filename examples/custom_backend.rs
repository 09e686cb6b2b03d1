//! Plugging your own queueing discipline into a normal mailbox.
//!
//! `DeadlineQueue` (in `examples/support/deadline_queue.rs`) implements
//! `postbox::Queue` outside the crate: it hands out the request whose deadline
//! comes first. The mailbox on top of it is the usual one: ids, receipts,
//! statistics and closing work exactly as with the built-in backends.
//!
//! Run with `cargo run --example custom_backend`.

#[path = "support/deadline_queue.rs"]
mod deadline_queue;

use std::thread;
use std::time::{Duration, Instant};

use deadline_queue::DeadlineQueue;
use postbox::{Mailbox, Message, TrySendError};

/// A photo-studio request; its deadline travels in the message header.
#[derive(Debug)]
struct Request {
    user: &'static str,
    style: &'static str,
}

fn main() {
    let (tx, rx) = Mailbox::<Request>::builder()
        .backend(DeadlineQueue::bounded(16))
        .build();
    println!(
        "custom backend: DeadlineQueue, capacity {}",
        rx.capacity().expect("bounded")
    );

    // Submitted in this order; each carries its own deadline.
    let requests = [
        ("mina", "watercolor", Some(900)),
        ("joon", "passport", Some(150)),
        ("seo", "studio portrait", None), // no deadline: after all that have one
        ("hana", "anime", Some(400)),
        ("tae", "film noir", Some(150)), // same deadline as joon: FIFO, after joon
        ("yuri", "sketch", None),
    ];
    let start = Instant::now();
    println!("\nsubmitted (in this order):");
    for (user, style, ms) in requests {
        let mut msg = Message::new(Request { user, style });
        if let Some(ms) = ms {
            msg = msg.expires_at(start + Duration::from_millis(ms));
        }
        let due = ms.map_or("no deadline".to_string(), |ms| format!("due in {ms:>3} ms"));
        println!("  {user:<5} {style:<16} {due}");
        tx.send(msg).expect("the receiver is alive");
    }

    println!("\nserved (earliest deadline first):");
    let mut served = Vec::new();
    for msg in rx.try_iter() {
        let due = match msg.header().expires_at() {
            Some(at) => format!("due in {:>3} ms", (at - start).as_millis()),
            None => "no deadline".to_string(),
        };
        let Request { user, style } = msg.body();
        println!("  {user:<5} {style:<16} {due}");
        served.push(*user);
    }
    assert_eq!(served, ["joon", "tae", "hana", "mina", "seo", "yuri"]);

    // Backpressure and blocking come from the backend too: fill it up, then a
    // worker frees one slot while a blocked send waits for it.
    for n in 0..16 {
        tx.try_send(Request {
            user: "bulk",
            style: if n % 2 == 0 { "anime" } else { "sketch" },
        })
        .expect("room for 16");
    }
    match tx.try_send(Request {
        user: "late",
        style: "sketch",
    }) {
        Err(TrySendError::Full(msg)) => println!(
            "\nfull at {} queued: try_send handed back {}'s request",
            tx.len(),
            msg.body().user
        ),
        other => panic!("expected Full, got {other:?}"),
    }
    let worker = {
        let rx = rx.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            rx.recv().expect("16 queued")
        })
    };
    let waited = Instant::now();
    tx.send(Request {
        user: "late",
        style: "sketch",
    })
    .expect("the receiver is alive");
    let freed = worker.join().expect("worker");
    println!(
        "blocking send waited {:.1?} until a worker took {}'s request",
        waited.elapsed(),
        freed.body().user
    );

    // Closing: the backend wakes everyone and hands back what it holds.
    let left = rx.close();
    let err = tx
        .send(Request {
            user: "after",
            style: "close",
        })
        .expect_err("the mailbox is closed");
    println!(
        "closed: close() handed back {} queued requests; a later send fails: {err}",
        left.len()
    );

    let stats = rx.stats();
    println!(
        "stats: sent {}, received {}, dropped {}, queued {}",
        stats.sent, stats.received, stats.dropped, stats.len
    );
    assert_eq!(
        stats.sent,
        stats.received + stats.dropped + stats.len as u64
    );
}
