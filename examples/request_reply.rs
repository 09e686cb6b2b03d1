//! Send-receive-reply, as in QNX: a client sends a request and waits for the
//! answer; the server receives, works, and replies to that client.
//!
//! `client.request(&server, msg, timeout)` stamps the request with the
//! client's pid (`reply_to`) and a fresh correlation id, sends it, and waits
//! for the server's message carrying that id. The server answers with
//! `me.reply(request.header(), answer)`. Shown here:
//!
//! 1. several clients at once each get their own answers (correlation);
//! 2. a reply that misses its deadline: `RequestError::NoReply`, and the late
//!    reply landing in the client's inbox afterwards;
//! 3. a request to a server that has ended: `RequestError::Unsent`, with the
//!    request handed back.
//!
//! Run with `cargo run --example request_reply`.

use std::thread;
use std::time::{Duration, Instant};

use postbox::{
    Address, ExitReason, Mailbox, Pid, PostOffice, Process, ProcessHandle, RequestError,
    SendTimeoutError,
};

/// What clients ask the thumbnail server for.
#[derive(Debug)]
enum Request {
    /// A thumbnail of `photo`, `width` pixels wide.
    Thumbnail { photo: u64, width: u32 },
    /// The same, but the photo is huge: takes `work` to render.
    Huge { photo: u64, work: Duration },
    /// Stop serving.
    Shutdown,
}

/// The answers: a description of the thumbnail made.
type Reply = String;

const CLIENTS: u64 = 4;
const REQUESTS_PER_CLIENT: u64 = 2;
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    let office = PostOffice::new();
    let server = office
        .spawn::<Request, _>("thumbnailer", serve)
        .expect("name is free");
    let thumbnailer = office
        .lookup::<Request>("thumbnailer")
        .expect("just spawned");
    println!(
        "thumbnailer {} serves requests one at a time: receive, work, reply\n",
        server.pid()
    );
    correlation(&office);
    timeout(&office);
    ended_server(&office, server, &thumbnailer);
}

/// The server: receive a request, do the work, reply to whoever asked.
fn serve(me: Process<Request>) {
    while let Ok(request) = me.recv() {
        let answer = match request.body() {
            Request::Thumbnail { photo, width } => {
                thread::sleep(Duration::from_millis(1));
                format!("photo {photo} at {width}px")
            }
            Request::Huge { photo, work } => {
                thread::sleep(*work);
                format!("photo {photo} at 64px (huge original)")
            }
            Request::Shutdown => return,
        };
        // The header carries who asked (reply_to) and which request this was
        // (correlation id); reply copies both into the answer.
        if let Err(err) = me.reply::<Reply>(request.header(), answer) {
            println!("   thumbnailer: could not reply: {err}");
        }
    }
}

/// What one client got: (photo asked for, correlation id, reply).
struct ClientReport {
    name: String,
    pid: Pid,
    answers: Vec<(u64, u64, Reply)>,
}

fn correlation(office: &PostOffice) {
    println!("1. correlation: {CLIENTS} clients, {REQUESTS_PER_CLIENT} requests each, all at once");
    let (reports_tx, reports) = Mailbox::<ClientReport>::builder().build();
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|n| {
            let reports_tx = reports_tx.clone();
            office
                .spawn::<Reply, _>(&format!("client-{n}"), move |me| {
                    let server = me.office().lookup::<Request>("thumbnailer").expect("up");
                    let mut answers = Vec::new();
                    for k in 0..REQUESTS_PER_CLIENT {
                        let photo = n * 100 + k;
                        let width = 64 * n as u32;
                        let reply = me
                            .request(&server, Request::Thumbnail { photo, width }, TIMEOUT)
                            .expect("the server answers");
                        let correlation = reply.header().correlation_id().expect("set by reply");
                        assert_eq!(reply.header().source(), Some(server.pid()));
                        answers.push((photo, correlation, reply.into_body()));
                    }
                    let name = me.name().expect("named").to_string();
                    reports_tx
                        .send(ClientReport {
                            name,
                            pid: me.pid(),
                            answers,
                        })
                        .expect("main is waiting");
                })
                .expect("name is free")
        })
        .collect();
    drop(reports_tx);
    for client in clients {
        client.join().expect("client");
    }
    let mut reports: Vec<ClientReport> = reports.iter().map(|m| m.into_body()).collect();
    reports.sort_by_key(|r| r.pid);
    for report in &reports {
        let shown: Vec<String> = report
            .answers
            .iter()
            .map(|(photo, id, reply)| format!("photo {photo} -> {reply:?} (id {id})"))
            .collect();
        println!("   {} {}: {}", report.name, report.pid, shown.join(", "));
        for pair in report.answers.windows(2) {
            // Correlation ids are unique in the program and rise: a reply
            // answers one request only, whoever else is asking.
            assert!(pair[0].1 < pair[1].1);
        }
        for (photo, _, reply) in &report.answers {
            // Each answer is about the photo this client asked for.
            assert!(reply.starts_with(&format!("photo {photo} at ")));
        }
    }
    assert_eq!(reports.len() as u64, CLIENTS);
    println!(
        "   each got its own answers: reply_to picks the inbox, the correlation id (unique in the program) the request"
    );
}

fn timeout(office: &PostOffice) {
    println!("\n2. a reply that misses its deadline");
    let desk = office.process::<Reply>("front-desk").expect("name is free");
    let server = office.lookup::<Request>("thumbnailer").expect("up");

    let start = Instant::now();
    let huge = Request::Huge {
        photo: 900,
        work: Duration::from_millis(200),
    };
    match desk.request(&server, huge, Duration::from_millis(50)) {
        Err(RequestError::NoReply) => println!(
            "   request(huge photo 900, timeout 50ms) -> NoReply after {:.0?}",
            start.elapsed()
        ),
        other => panic!("expected NoReply, got {other:?}"),
    }

    let start = Instant::now();
    let small = Request::Thumbnail {
        photo: 901,
        width: 128,
    };
    let reply = desk
        .request(&server, small, TIMEOUT)
        .expect("the server answers");
    println!(
        "   request(photo 901) -> {:?} (id {}) after {:.0?}: the server finished photo 900 first",
        reply.body(),
        reply.header().correlation_id().expect("a reply"),
        start.elapsed()
    );
    assert_eq!(reply.body(), "photo 901 at 128px");

    // The late answer to the first request came while the second waited: it
    // was set aside, and is now an ordinary message in the inbox.
    let late = desk.try_recv().expect("the late reply is waiting");
    println!(
        "   desk.try_recv() -> the late reply {:?} (id {}), set aside meanwhile",
        late.body(),
        late.header().correlation_id().expect("a reply")
    );
    // The first request's id: the one asked before the second.
    assert!(late.header().correlation_id() < reply.header().correlation_id());
    assert!(late.header().is_reply());
    assert_eq!(late.body(), "photo 900 at 64px (huge original)");
}

fn ended_server(office: &PostOffice, server: ProcessHandle, thumbnailer: &Address<Request>) {
    println!("\n3. a request to a server that has ended");
    let monitor = office.monitor(server.pid());
    thumbnailer.send(Request::Shutdown).expect("still up");
    let down = monitor.recv_timeout(TIMEOUT).expect("the server stops");
    assert_eq!(down.reason(), &ExitReason::Normal);
    server.join().expect("returned normally");
    println!("   thumbnailer {} stopped ({})", down.pid(), down.reason());

    let desk = office.anonymous::<Reply>();
    let request = Request::Thumbnail {
        photo: 902,
        width: 256,
    };
    match desk.request(thumbnailer, request, TIMEOUT) {
        Err(err @ RequestError::Unsent(SendTimeoutError::Closed(_))) => {
            println!("   request(photo 902) -> {err}");
            let back = err.into_message().expect("handed back").into_body();
            println!("   the request came back, nothing lost: {back:?}");
            assert!(matches!(back, Request::Thumbnail { photo: 902, .. }));
        }
        other => panic!("expected Unsent(Closed), got {other:?}"),
    }
}
