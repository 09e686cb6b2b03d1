//! A durable mailbox survives `kill -9`.
//!
//! The example runs itself twice. The child (`crash_recovery --child DIR`)
//! opens a durable priority mailbox in DIR with `SyncPolicy::Buffered`,
//! sends a burst of jobs into it, and a worker works through them, holding
//! up to four at a time and acking the oldest; the child says on stdout when
//! each send returned (confirmed) and when the worker took and acked a job.
//! The parent kills it with SIGKILL in the middle of the burst, opens DIR
//! itself and checks what came back against what the child said: every
//! confirmed job is back or was acked, nothing else is back, nothing twice,
//! urgent jobs first and each priority in send order, and the jobs in the
//! worker's hands are back, flagged as redeliveries. It exits with an error
//! if anything does not agree.
//!
//! ```text
//! cargo run --release --example crash_recovery
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use postbox::{Durable, Mailbox, Message, Raw, Receiver, Sender, SyncPolicy};

/// Jobs in the burst, and the confirmed sends the parent waits for before
/// it kills the child.
const JOBS: u64 = 20_000;
const KILL_AFTER: usize = 5_000;
/// Deliveries the worker holds before it acks the oldest.
const HAND: usize = 4;

/// The mailbox's priority levels, highest first, with their names.
const LEVELS: [(u8, &str); 3] = [(2, "urgent"), (1, "normal"), (0, "low")];

/// Job `n`'s priority: one in ten urgent, three normal, the rest low.
fn priority(n: u64) -> u8 {
    match n % 10 {
        0 => 2,
        1..=3 => 1,
        _ => 0,
    }
}

fn open(dir: &Path) -> (Sender<String>, Receiver<String>) {
    Mailbox::<String>::builder()
        .priority(3)
        .unbounded()
        .durable(Durable::at(dir).codec(Raw).sync(SyncPolicy::Buffered))
        .open()
        .expect("open the durable mailbox")
}

/// The job number a body names.
fn job(body: &str) -> u64 {
    body.strip_prefix("job ")
        .and_then(|n| n.parse().ok())
        .expect("a job")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice() {
        if flag == "--child" {
            child(Path::new(dir));
        }
    }
    let dir = std::env::temp_dir().join(format!("postbox-crash-recovery-{}", std::process::id()));
    let result = parent(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(why) = result {
        println!("\nTHE LOG DOES NOT AGREE WITH THE CHILD: {why}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The child: a burst of jobs and a worker acking them, until it is killed.
fn child(dir: &Path) -> ! {
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        out.write_all(format!("{line}\n").as_bytes()).unwrap();
        out.flush().unwrap();
    };
    let (tx, rx) = open(dir);
    std::thread::spawn(move || {
        let mut hand = VecDeque::new();
        loop {
            let delivery = rx.recv_ack().expect("the sender lives");
            say(format!("got {}", job(delivery.body())));
            hand.push_back(delivery);
            if hand.len() == HAND {
                let oldest = hand.pop_front().expect("a full hand");
                std::hint::black_box((0..2_000u64).sum::<u64>()); // the work
                say(format!("acked {}", job(oldest.ack().body())));
            }
        }
    });
    for n in 0..JOBS {
        let msg = Message::new(format!("job {n}")).priority(priority(n));
        tx.send(msg).expect("send");
        say(format!("sent {n}"));
    }
    loop {
        std::thread::park(); // until the kill
    }
}

fn parent(dir: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().expect("this program");
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    println!(
        "child {}: a burst of {JOBS} jobs into a durable priority mailbox (SyncPolicy::Buffered); \
         its worker holds {HAND} and acks the oldest",
        child.id()
    );
    let start = Instant::now();
    let (mut sent, mut got, mut acked) = (BTreeSet::new(), Vec::new(), BTreeSet::new());
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let (mut line, mut killed) = (String::new(), false);
    // Every whole line counts, those read after the kill too: the child said
    // them before it died. A line the kill cut short was not said.
    while out.read_line(&mut line).is_ok_and(|_| line.ends_with('\n')) {
        let (what, n) = line.trim_end().split_once(' ').expect("a line");
        let n: u64 = n.parse().expect("a job number");
        match what {
            "sent" => _ = sent.insert(n),
            "got" => got.push(n),
            _ => _ = acked.insert(n),
        }
        line.clear();
        if sent.len() == KILL_AFTER && !std::mem::replace(&mut killed, true) {
            child.kill().expect("SIGKILL the child");
        }
    }
    let status = child.wait().expect("reap the child");
    // In the hands of the worker, oldest first (it may have been acking
    // the oldest as it died).
    let hand: Vec<u64> = got.iter().filter(|n| !acked.contains(n)).copied().collect();
    println!(
        "killed it after {:.1?} ({status}): {} sends confirmed; the worker took {} jobs, \
         acked {}, held {hand:?}",
        start.elapsed(),
        sent.len(),
        got.len(),
        acked.len(),
    );

    let opened = Instant::now();
    let (_tx, rx) = open(dir);
    let back: Vec<_> = std::iter::from_fn(|| rx.try_recv_ack().ok()).collect();
    println!(
        "\nreopened the log in {:.1?}: {} jobs came back, in this order:",
        opened.elapsed(),
        back.len()
    );
    let mut per_level: HashMap<u8, Vec<u64>> = HashMap::new();
    for d in &back {
        let jobs = per_level.entry(d.header().priority()).or_default();
        jobs.push(job(d.body()));
    }
    for (level, name) in LEVELS {
        let jobs = per_level.remove(&level).unwrap_or_default();
        let first: Vec<String> = jobs.iter().take(6).map(u64::to_string).collect();
        let more = if jobs.len() > 6 { ", ..." } else { "" };
        let first = if jobs.is_empty() {
            "-".into()
        } else {
            first.join(", ")
        };
        println!("  {name:<6} {:>5}  jobs {first}{more}", jobs.len());
    }
    for d in back.iter().filter(|d| d.is_redelivered()) {
        let (n, r) = (job(d.body()), d.header().redeliveries());
        let why = match (acked.contains(&n), got.contains(&n)) {
            (true, _) => "acked just before the kill (acks are logged lazily: at least once)",
            (false, true) => "in the worker's hands at the kill",
            (false, false) => "next in line (deliveries are logged as ranges of ids)",
        };
        println!("  job {n} came back flagged (redeliveries {r}): {why}");
    }

    // The checks. Sends go in order, so the job after the last confirmed one
    // may be back (logged, its send not yet returned); nothing after it.
    let next = sent.len() as u64;
    // Logged for sure: confirmed, or taken by the worker.
    let logged: BTreeSet<u64> = sent.iter().chain(&got).copied().collect();
    let (mut seen, mut last, mut last_priority) = (BTreeSet::new(), HashMap::new(), u8::MAX);
    let mut flagged_unsaid = Vec::new();
    for d in &back {
        let (n, p) = (job(d.body()), d.header().priority());
        check(n <= next, || {
            format!("job {n} came back but was never sent")
        })?;
        check(seen.insert(n), || format!("job {n} came back twice"))?;
        check(p == priority(n), || format!("job {n} lost its priority"))?;
        check(p <= last_priority, || {
            format!("job {n} after a lower priority")
        })?;
        let before = last.insert(p, n);
        check(before.is_none_or(|b| b < n), || {
            format!("job {n} out of order")
        })?;
        last_priority = p;
        // Flagged if the worker took it.
        match (d.is_redelivered(), got.contains(&n)) {
            (false, true) => return Err(format!("job {n} was taken, came back unflagged")),
            (true, false) => flagged_unsaid.push(n),
            _ => {}
        }
    }
    // A delivery is logged as a range of the next 64 ids, which the next
    // deliveries share: a job never taken may come back flagged, within 64
    // after one the worker took (one sender numbers the jobs in order), or
    // within the range of the take under way at the kill.
    let in_taken_range = |n: u64| got.iter().any(|&m| m <= n && n - m < 64);
    flagged_unsaid.retain(|&n| !in_taken_range(n));
    let first = flagged_unsaid.iter().min().copied().unwrap_or(0);
    check(flagged_unsaid.iter().all(|&n| n - first < 64), || {
        format!("{flagged_unsaid:?} flagged, not taken nor in a delivery range")
    })?;
    for &n in &logged {
        // The oldest in the hand may have been acked, not yet said.
        let may_be_acked = acked.contains(&n) || hand.first() == Some(&n);
        check(seen.contains(&n) || may_be_acked, || {
            format!("job {n} is lost")
        })?;
    }
    let back_logged = logged.intersection(&seen).count();
    let both = acked.intersection(&seen).count();
    let dying = logged.len() - (back_logged + acked.len() - both);
    println!(
        "\nchecked: the {} jobs confirmed or taken = {back_logged} back + {} acked before the \
         kill - {both} acked and back + {dying} acked as the child died",
        logged.len(),
        acked.len(),
    );
    if seen.contains(&next) {
        println!("  and job {next} came back too: logged, though its send had not returned");
    }
    println!(
        "  nothing unsent came back, nothing twice; urgent first, each priority in send order; \
         the jobs held by the worker came back flagged"
    );
    back.into_iter().for_each(|d| _ = d.ack());
    drop((_tx, rx));
    println!(
        "acked them all: the log is down to {} segment file",
        segments(dir)
    );
    Ok(())
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    ok.then_some(()).ok_or_else(why)
}

fn segments(dir: &Path) -> usize {
    let files = std::fs::read_dir(dir).expect("the log's directory");
    let names = files.map(|f| f.expect("a file").file_name());
    names
        .filter(|n| n.to_string_lossy().ends_with(".seg"))
        .count()
}
