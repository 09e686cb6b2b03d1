//! The addressing design issue: who a message is addressed to, and how the
//! two ends find each other.
//!
//! | option | postbox | section |
//! | --- | --- | --- |
//! | direct, explicit send | `Process::send_to(&address, msg)` | 1 |
//! | direct, implicit receive | `Process::recv()`: from anyone, `header().source()` says who | 1 |
//! | direct, explicit receive | `Process::recv_from(pid)`: selective receive | 2 |
//! | indirect, one-to-one | `Mailbox`: one sender, one receiver | 3 |
//! | indirect, many-to-one | `Port`: many senders, one receive right | 4 |
//! | indirect, one-to-many | `Topic`: every subscriber gets a copy, `publish` says how many | 5 |
//! | indirect, many-to-many | `Mailbox` with cloned senders and receivers (competing consumers) | 6 |
//! | static association | handles built in code and passed around (sections 3, 4, 6) | 7 |
//! | dynamic association | `PostOffice`: create, connect and destroy by name | 7 |
//!
//! Ownership (who a mailbox belongs to, and so how long it lives) has its own
//! example: `ownership`.
//!
//! Run with `cargo run --example addressing`.

use std::thread;

use postbox::{
    Mailbox, Message, OfficeError, Owner, Port, PostOffice, SendError, Subscriber, Topic,
};

fn main() {
    let office = PostOffice::new();
    direct_send_implicit_receive(&office);
    explicit_receive(&office);
    one_to_one();
    many_to_one();
    one_to_many();
    many_to_many();
    static_and_dynamic_association(&office);
}

/// Prints one explanation line under a section heading.
fn line(what: impl std::fmt::Display) {
    println!("   {what}");
}

/// Direct addressing: the sender names the receiving process.
fn direct_send_implicit_receive(office: &PostOffice) {
    println!("1. direct: explicit send, implicit receive");
    let alice = office.process::<String>("alice").expect("name is free");
    let bob = office.process::<String>("bob").expect("name is free");

    // Explicit send: alice names bob (through his address).
    alice
        .send_to(&bob.address(), "hi bob, it's alice".to_string())
        .expect("bob is alive");
    // Implicit receive: bob takes whatever comes first, from anyone; the
    // header tells him who sent it.
    let msg = bob.recv().expect("alice sent one");
    line(format!(
        "alice {} -> bob {}: bob.recv() got {:?} from {}",
        alice.pid(),
        bob.pid(),
        msg.body(),
        msg.header()
            .source()
            .expect("direct sends carry their source"),
    ));
    assert_eq!(msg.header().source(), Some(alice.pid()));
    // A plain mailbox send has no source: only direct sends are signed.
    let (tx, rx) = Mailbox::<&str>::builder().build();
    tx.send("anonymous").expect("receiver alive");
    assert_eq!(rx.recv().expect("sent").header().source(), None);
    line("a plain mailbox send carries no source (header().source() == None)");
}

/// Explicit receive: take only what one process sent; the rest waits in order.
fn explicit_receive(office: &PostOffice) {
    println!("\n2. direct: explicit receive (selective)");
    let bob = office.process::<&str>("bob").expect("name is free");
    let alice = office.anonymous::<&str>();
    let carol = office.anonymous::<&str>();
    alice.send_to(&bob.address(), "alice #1").expect("alive");
    carol.send_to(&bob.address(), "carol #1").expect("alive");
    alice.send_to(&bob.address(), "alice #2").expect("alive");

    let from_carol = bob.recv_from(carol.pid()).expect("carol sent one");
    line(format!(
        "queued: alice #1, carol #1, alice #2; recv_from(carol {}) -> {:?}",
        carol.pid(),
        from_carol.body()
    ));
    let rest: Vec<&str> = (0..2)
        .map(|_| bob.recv().expect("two left").into_body())
        .collect();
    line(format!(
        "then recv(), recv() -> {rest:?}: skipped messages kept their order"
    ));
    assert_eq!(from_carol.into_body(), "carol #1");
    assert_eq!(rest, ["alice #1", "alice #2"]);
}

/// Indirect, one-to-one: a mailbox between one sender and one receiver.
fn one_to_one() {
    println!("\n3. indirect: one-to-one (Mailbox)");
    let (tx, rx) = Mailbox::<u32>::builder().capacity(4).build();
    let consumer = thread::spawn(move || rx.iter().map(Message::into_body).sum::<u32>());
    for n in 1..=4 {
        tx.send(n).expect("consumer alive");
    }
    drop(tx); // the only sender is gone: the consumer's iter() ends
    let sum = consumer.join().expect("consumer");
    line(format!(
        "sent 1..=4 into a mailbox; the one receiver summed {sum}; neither side knew the other"
    ));
    assert_eq!(sum, 10);
}

/// Indirect, many-to-one: a port has one receive right, owned by its receiver.
fn many_to_one() {
    println!("\n4. indirect: many-to-one (Port)");
    let (tx, port) = Port::<String>::builder().capacity(8).build();
    let clients: Vec<_> = ["mina", "joon", "seo"]
        .into_iter()
        .map(|name| {
            let tx = tx.clone(); // senders clone freely
            thread::spawn(move || tx.send(format!("upload from {name}")).expect("port open"))
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    // `Port` is not `Clone`: no one else can take these.
    let mut got: Vec<String> = port.try_iter().map(Message::into_body).collect();
    got.sort();
    line(format!("3 clients -> 1 port: the owner received {got:?}"));
    assert_eq!(got.len(), 3);
    drop(port); // the owner is done: the port is gone for everyone
    let refused = tx.send("late".to_string());
    assert!(matches!(refused, Err(SendError::Closed(_))));
    line("owner dropped the port: a later send gets Closed with the message back");
}

/// Indirect, one-to-many: a topic copies each message to every subscriber,
/// so the publisher need not know who listens.
fn one_to_many() {
    println!("\n5. indirect: one-to-many (Topic)");
    let topic = Topic::<&str>::new();
    let early: Vec<_> = (0..3).map(|_| topic.subscribe()).collect();
    let reached = topic.publish("closing at 6").expect("3 subscribers");
    let late = topic.subscribe(); // gets only what is published from now on
    assert_eq!(topic.publish("open at 9").expect("4 subscribers"), 4);
    let got = |sub: &Subscriber<&'static str>| -> Vec<&str> {
        sub.try_iter().map(Message::into_body).collect()
    };
    let (each, late_got) = (got(&early[0]), got(&late));
    line(format!(
        "publish returned {reached}: the 3 subscribers each got {each:?}"
    ));
    line(format!(
        "a 4th subscribed in between: it got only {late_got:?}"
    ));
    assert_eq!(reached, 3);
    assert!(early[1..].iter().all(|sub| got(sub) == each));
    assert_eq!(
        (each, late_got),
        (vec!["closing at 6", "open at 9"], vec!["open at 9"])
    );
}

/// Indirect, many-to-many: cloned senders and receivers on one mailbox; each
/// message goes to exactly one receiver (competing consumers).
fn many_to_many() {
    println!("\n6. indirect: many-to-many (Mailbox, competing consumers)");
    const PRODUCERS: u32 = 3;
    const PER_PRODUCER: u32 = 100;
    let (tx, rx) = Mailbox::<u32>::builder().capacity(16).build();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.iter().map(Message::into_body).collect::<Vec<u32>>())
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for n in 0..PER_PRODUCER {
                    tx.send(p * PER_PRODUCER + n).expect("consumers alive");
                }
            })
        })
        .collect();
    drop(tx);
    for producer in producers {
        producer.join().expect("producer");
    }
    let taken: Vec<Vec<u32>> = consumers
        .into_iter()
        .map(|c| c.join().expect("consumer"))
        .collect();
    let mut all: Vec<u32> = taken.iter().flatten().copied().collect();
    all.sort_unstable();
    line(format!(
        "{PRODUCERS} producers sent {} messages; 3 consumers took {:?} ({} in all): each exactly once",
        PRODUCERS * PER_PRODUCER,
        taken.iter().map(Vec::len).collect::<Vec<_>>(),
        all.len()
    ));
    assert_eq!(all, (0..PRODUCERS * PER_PRODUCER).collect::<Vec<_>>());
}

/// Static association: the handles themselves are passed in code (sections 3,
/// 4 and 6). Dynamic association: the two ends meet through a name.
fn static_and_dynamic_association(office: &PostOffice) {
    println!("\n7. static vs dynamic association");
    line("static: sections 3, 4 and 6 built a mailbox and handed its ends to threads in code");

    office
        .create::<String>("orders", Mailbox::builder().capacity(8), Owner::System)
        .expect("name is free");
    // The shop and the printer share only the office and the name.
    let shop = {
        let office = office.clone();
        thread::spawn(move || {
            let tx = office.connect_sender::<String>("orders").expect("created");
            tx.send("print 2 passport photos".to_string())
                .expect("office holds it open");
        })
    };
    shop.join().expect("shop");
    let printer = office
        .connect_receiver::<String>("orders")
        .expect("created");
    let order = printer.recv().expect("the shop sent one");
    line(format!(
        "dynamic: the shop connect_sender(\"orders\"), the printer connect_receiver(\"orders\"): {:?}",
        order.body()
    ));

    let wrong = office.connect_sender::<u64>("orders").unwrap_err();
    assert!(matches!(wrong, OfficeError::TypeMismatch { .. }));
    line(format!("connect with the wrong type: {wrong}"));

    office.destroy("orders").expect("exists");
    let gone = office.connect_sender::<String>("orders").unwrap_err();
    assert!(matches!(gone, OfficeError::NotFound(_)));
    assert!(printer.recv().is_err());
    line(format!(
        "after destroy(\"orders\"): connecting fails ({gone}), the old receiver gets Closed"
    ));

    // Processes are found by name too: lookup gives a typed address.
    let carol = office.process::<String>("carol").expect("name is free");
    let address = office.lookup::<String>("carol").expect("registered");
    address
        .send("found you by name".to_string())
        .expect("alive");
    assert_eq!(carol.recv().expect("sent").into_body(), "found you by name");
    line(format!(
        "office.lookup(\"carol\") -> address of {}: processes meet by name as well",
        address.pid()
    ));
}
