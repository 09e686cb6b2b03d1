//! The ownership design issue: who a mailbox belongs to decides how long it
//! lives, and what happens to the messages in it when it goes.
//!
//! | owner | lives until | section |
//! | --- | --- | --- |
//! | `Owner::System` (the office) | `office.destroy(name)` | 1 |
//! | `Owner::Creator(pid)` (a process) | that process ends: returns or panics | 2 |
//! | the receiver (`Port`) | the `Port` is dropped | 3 |
//!
//! Whichever way a mailbox goes, the end is the same: blocked senders and
//! receivers wake with `Closed` (senders get their message back), what was
//! still queued goes to the office's dead letters with the mailbox's name and
//! the reason, and the name is free again.
//!
//! Run with `cargo run --example ownership`.

use std::thread;
use std::time::Duration;

use postbox::{
    DeadLetterReason, ExitReason, Mailbox, OfficeError, Owner, Port, PostOffice, SendError,
};

/// How long the blocked threads of section 2 get to start waiting.
const SETTLE: Duration = Duration::from_millis(50);

fn main() {
    // A panic in a spawned process goes through the panic hook like any
    // thread's; the default hook prints several lines and a backtrace note.
    // This one prints one short line: the monitor below reports the reason.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let thread = thread::current();
        eprintln!(
            "   [panic hook] thread '{}' panicked: {text}",
            thread.name().unwrap_or("?")
        );
    }));

    let office = PostOffice::new();
    system_owned(&office);
    creator_owned(&office);
    receiver_owned(&office);
}

/// Prints one explanation line under a section heading.
fn line(what: impl std::fmt::Display) {
    println!("   {what}");
}

/// `Owner::System`: the mailbox outlives the process that created it.
fn system_owned(office: &PostOffice) {
    println!("1. Owner::System: lives until office.destroy");
    let uploader = office
        .spawn::<(), _>("uploader", |me| {
            let office = me.office();
            office
                .create::<String>("archive", Mailbox::builder(), Owner::System)
                .expect("name is free");
            let tx = office.connect_sender::<String>("archive").expect("created");
            tx.send("mina.jpg".to_string()).expect("open");
            tx.send("joon.jpg".to_string()).expect("open");
        })
        .expect("name is free");
    let pid = uploader.pid();
    uploader.join().expect("the uploader returns normally");

    assert!(office.contains("archive"));
    let rx = office.connect_receiver::<String>("archive").expect("alive");
    let files: Vec<String> = rx.try_iter().map(|m| m.into_body()).collect();
    line(format!(
        "process 'uploader' {pid} created \"archive\" and ended; the mailbox is still there with {files:?}"
    ));
    assert_eq!(files, ["mina.jpg", "joon.jpg"]);

    office.destroy("archive").expect("exists");
    assert!(!office.contains("archive"));
    assert!(rx.recv().is_err());
    line("office.destroy(\"archive\"): its receivers get Closed, the name is free");
}

/// `Owner::Creator(pid)`: the mailbox goes when its creator ends, here by a
/// panic.
fn creator_owned(office: &PostOffice) {
    println!("\n2. Owner::Creator(pid): lives until its creator ends");

    // The renderer tells main (through a mailbox passed in code) when its
    // mailboxes exist, then waits for a batch and crashes on it.
    let (ready_tx, ready) = Mailbox::<()>::builder().build();
    let renderer = office
        .spawn::<u32, _>("renderer", move |me| {
            let office = me.office();
            let owner = Owner::Creator(me.pid());
            office
                .create::<String>("renders", Mailbox::builder().capacity(2), owner)
                .expect("name is free");
            office
                .create::<String>("render-results", Mailbox::builder(), owner)
                .expect("name is free");
            ready_tx.send(()).expect("main is waiting");
            let batch = me.recv().expect("main sends a batch").into_body();
            panic!("out of GPU memory on batch {batch}");
        })
        .expect("name is free");
    ready.recv().expect("the renderer is ready");
    let monitor = office.monitor(renderer.pid());
    line(format!(
        "process 'renderer' {} created \"renders\" (capacity 2) and \"render-results\", both Owner::Creator({})",
        renderer.pid(),
        renderer.pid()
    ));

    // Fill "renders", then block one thread sending a third and another
    // receiving on the empty "render-results".
    let tx = office.connect_sender::<String>("renders").expect("created");
    tx.send("profile mina".to_string()).expect("room");
    tx.send("profile joon".to_string()).expect("room");
    let blocked_sender = thread::spawn(move || tx.send("profile seo".to_string()));
    let results = office
        .connect_receiver::<String>("render-results")
        .expect("created");
    let blocked_receiver = thread::spawn(move || results.recv());
    thread::sleep(SETTLE);
    line("queued 2 renders; one thread blocked sending a 3rd, one blocked receiving results");

    office
        .lookup::<u32>("renderer")
        .expect("alive")
        .send(7)
        .expect("alive");
    let down = monitor
        .recv_timeout(Duration::from_secs(10))
        .expect("the renderer ends");
    line(format!(
        "monitor: Down from {}, reason: {}",
        down.pid(),
        down.reason()
    ));
    assert_eq!(
        down.reason(),
        &ExitReason::Panicked("out of GPU memory on batch 7".to_string())
    );
    assert!(renderer.join().is_err(), "join reports the panic too");

    match blocked_sender.join().expect("sender thread") {
        Err(SendError::Closed(msg)) => line(format!(
            "blocked sender woke with Closed, its message handed back: {:?}",
            msg.body()
        )),
        other => panic!("expected Closed, got {other:?}"),
    }
    let woke = blocked_receiver.join().expect("receiver thread");
    assert!(woke.is_err());
    line(format!("blocked receiver woke with: {}", woke.unwrap_err()));

    let letters = office.dead_letters().drain::<String>();
    for letter in &letters {
        line(format!(
            "dead letter: {:?} from \"{}\" ({})",
            letter.body(),
            letter.mailbox(),
            letter.reason()
        ));
        assert_eq!(letter.mailbox(), "renders");
        assert_eq!(letter.reason(), DeadLetterReason::Destroyed);
    }
    assert_eq!(letters.len(), 2);

    assert!(!office.contains("renders") && !office.contains("render-results"));
    office
        .create::<String>("renders", Mailbox::builder(), Owner::System)
        .expect("the name is free again");
    office.destroy("renders").expect("just created");
    line(
        "\"renders\" and \"render-results\" are gone; the name \"renders\" could be created again",
    );
}

/// A port: the receiver owns it, and dropping it destroys it.
fn receiver_owned(office: &PostOffice) {
    println!("\n3. receiver-owned Port: lives until the Port is dropped");
    let port = office
        .port::<String>("uploads", Port::builder().capacity(8))
        .expect("name is free");
    let client = office.connect_sender::<String>("uploads").expect("a port");
    for name in ["hana.jpg", "tae.jpg", "yuri.jpg"] {
        client.send(name.to_string()).expect("port open");
    }
    let first = port.recv().expect("three queued").into_body();
    line(format!(
        "a client connected by name and sent 3 uploads; the port's owner took {first:?}"
    ));

    // The receive right and the lifetime are the owner's alone.
    let refused = office.connect_receiver::<String>("uploads").unwrap_err();
    assert!(matches!(refused, OfficeError::ReceiverOwned(_)));
    assert!(matches!(
        office.destroy("uploads"),
        Err(OfficeError::ReceiverOwned(_))
    ));
    line(format!(
        "connect_receiver and destroy by name refuse: {refused}"
    ));

    drop(port);
    match client.send("late.jpg".to_string()) {
        Err(SendError::Closed(msg)) => line(format!(
            "owner dropped the port: the client's next send gets Closed, {:?} handed back",
            msg.body()
        )),
        other => panic!("expected Closed, got {other:?}"),
    }
    let letters = office.dead_letters().drain::<String>();
    let bodies: Vec<&str> = letters.iter().map(|l| l.body().as_str()).collect();
    line(format!(
        "the {} left queued went to dead letters: {bodies:?} from \"{}\" ({})",
        letters.len(),
        letters[0].mailbox(),
        letters[0].reason()
    ));
    assert_eq!(bodies, ["tae.jpg", "yuri.jpg"]);
    assert!(letters
        .iter()
        .all(|l| l.mailbox() == "uploads" && l.reason() == DeadLetterReason::Destroyed));
    assert!(!office.contains("uploads"));
    assert!(office.dead_letters().is_empty());
    line("the name \"uploads\" is free, and every message is accounted for");
}
