//! The queueing-discipline design issue: FIFO or priority.
//!
//! A priority mailbox built with `priority(10)` accepts priorities `0..10`; a
//! higher number is more urgent (as in RabbitMQ), and equal priorities leave
//! in arrival order. A priority outside the levels is refused with
//! `InvalidPriority`, and the message is handed back.
//!
//! Run with `cargo run --example priority`.

use postbox::{Mailbox, Message, SendError, TrySendError};

/// Priority levels of the mailbox: priorities 0..=9.
const LEVELS: u8 = 10;

fn main() {
    let (tx, rx) = Mailbox::<String>::builder()
        .priority(LEVELS)
        .capacity(32)
        .build();
    println!("priority mailbox: {LEVELS} levels (0 = least urgent, 9 = most)");

    let submitted = [
        (0, "free: mina"),
        (5, "paid: joon"),
        (0, "free: seo"),
        (9, "urgent: hana"),
        (5, "paid: tae"),
        (0, "free: yuri"),
        (9, "urgent: dami"),
        (5, "paid: minho"),
    ];
    println!("\nsubmitted:");
    for (priority, job) in submitted {
        println!("  priority {priority}  {job}");
        tx.send(Message::new(job.to_string()).priority(priority))
            .expect("valid priority, the receiver is alive");
    }

    println!("\nreceived (highest first, FIFO within a level):");
    let mut order = Vec::new();
    for msg in rx.try_iter() {
        println!("  priority {}  {}", msg.header().priority(), msg.body());
        order.push(msg.into_body());
    }
    assert_eq!(
        order,
        [
            "urgent: hana",
            "urgent: dami",
            "paid: joon",
            "paid: tae",
            "paid: minho",
            "free: mina",
            "free: seo",
            "free: yuri",
        ]
    );

    println!("\noutside the levels:");
    match tx.try_send(Message::new("vip: ??".to_string()).priority(LEVELS)) {
        Err(err @ TrySendError::InvalidPriority(_)) => {
            println!("  try_send: {err}");
            let msg = err.into_message().expect("handed back");
            println!(
                "  handed back: {:?} with priority {}; resend at the top level",
                msg.body(),
                msg.header().priority()
            );
            // The whole message came back, header included: lower the
            // priority and send it again.
            assert_eq!(msg.header().priority(), LEVELS);
            tx.send(msg.priority(LEVELS - 1)).expect("valid now");
        }
        other => panic!("expected InvalidPriority, got {other:?}"),
    }
    match tx.send(Message::new("vip: !!".to_string()).priority(u8::MAX)) {
        Err(SendError::InvalidPriority(msg)) => {
            println!(
                "  send with priority 255: refused, {:?} handed back",
                msg.body()
            )
        }
        other => panic!("expected InvalidPriority, got {other:?}"),
    }
    let msg = rx.recv().expect("queued");
    println!(
        "  received: {:?} at priority {}",
        msg.body(),
        msg.header().priority()
    );

    // A FIFO mailbox accepts any priority and ignores it.
    let (tx, rx) = Mailbox::<&str>::builder().fifo().build();
    tx.send(Message::new("first").priority(0)).expect("alive");
    tx.send(Message::new("second").priority(200))
        .expect("alive");
    let fifo: Vec<&str> = rx.try_iter().map(Message::into_body).collect();
    println!("\nFIFO mailbox, priorities 0 then 200: received {fifo:?}");
    assert_eq!(fifo, ["first", "second"]);
}
