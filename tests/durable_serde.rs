//! The `Postcard` codec through a durable mailbox (feature `serde`):
//! `cargo test --features serde --test durable_serde`.
#![cfg(feature = "serde")]

use postbox::{Durable, Mailbox, Message, OpenError, Postcard, Raw};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Job {
    user: u64,
    tier: String,
    tags: Vec<String>,
}

#[test]
fn serde_bodies_survive_a_reopen() {
    let dir = std::env::temp_dir().join(format!("postbox-serde-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let jobs: Vec<Job> = (0..50)
        .map(|n| Job {
            user: n,
            tier: if n % 3 == 0 {
                "paid".into()
            } else {
                "free".into()
            },
            tags: vec![format!("batch-{}", n / 10)],
        })
        .collect();
    {
        let (tx, _rx) = Mailbox::<Job>::builder()
            .priority(2)
            .durable(Durable::at(&dir).codec(Postcard))
            .open()
            .unwrap();
        for job in &jobs {
            let priority = u8::from(job.tier == "paid");
            tx.send(Message::new(job.clone()).priority(priority))
                .unwrap();
        }
    }
    {
        let (_tx, rx) = Mailbox::<Job>::builder()
            .priority(2)
            .durable(Durable::at(&dir).codec(Postcard))
            .open()
            .unwrap();
        let got: Vec<Job> = rx.try_iter().map(|m| m.into_body()).collect();
        let mut expected: Vec<Job> = jobs.iter().filter(|j| j.tier == "paid").cloned().collect();
        expected.extend(jobs.iter().filter(|j| j.tier != "paid").cloned());
        assert_eq!(got, expected, "paid first, each level in send order");
    }
    // The codec's name includes the body type: a log of `Job`s does not
    // open as a log of strings.
    let other = Mailbox::<String>::builder()
        .durable(Durable::at(&dir).codec(Raw))
        .open();
    assert!(matches!(other, Err(OpenError::FormatMismatch { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}
