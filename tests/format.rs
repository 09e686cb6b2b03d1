//! Message format: header fields, body access, length limits, and the shape
//! of errors (messages handed back intact, `Debug` without `T: Debug`,
//! lowercase `Display`).

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BACKENDS;
use postbox::{
    BodyLen, Confirm, Header, Mailbox, Message, MessageId, Pid, ReceiptError, RecvError,
    RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, Wait,
};

/// A body type with no `Debug`, `Clone` or `PartialEq`.
struct Opaque(u32);

#[test]
fn new_message_has_a_default_header() {
    let m = Message::new(Opaque(1));
    let h = m.header();
    assert_eq!(h.id(), MessageId::UNSENT);
    assert_eq!(h.priority(), 0);
    assert_eq!(h.correlation_id(), None);
    assert_eq!(h.reply_to(), None);
    assert_eq!(h.expires_at(), None);
    assert_eq!(h.source(), None);
    assert_eq!(h.redeliveries(), 0);
    assert!(!h.is_tracked());
    assert!(!h.is_expired_at(Instant::now()));

    let d = Header::default();
    assert_eq!(
        (d.id(), d.priority(), d.correlation_id(), d.expires_at()),
        (MessageId::UNSENT, 0, None, None)
    );
}

#[test]
fn builder_methods_set_header_fields() {
    let at = Instant::now() + Duration::from_secs(5);
    let m = Message::new("job")
        .priority(7)
        .correlation_id(42)
        .reply_to(Pid::from_u64(3))
        .expires_at(at);
    let h = m.header();
    assert_eq!(h.priority(), 7);
    assert_eq!(h.correlation_id(), Some(42));
    assert_eq!(h.reply_to(), Some(Pid::from_u64(3)));
    assert_eq!(h.expires_at(), Some(at));
    assert_eq!(h.id(), MessageId::UNSENT);

    // Later calls overwrite.
    let m = m.priority(1).correlation_id(43);
    assert_eq!(
        (m.header().priority(), m.header().correlation_id()),
        (1, Some(43))
    );
}

#[test]
fn ttl_sets_an_expiry_from_now() {
    let d = Duration::from_secs(30);
    let before = Instant::now();
    let m = Message::new(()).ttl(d);
    let after = Instant::now();
    let at = m.header().expires_at().expect("an expiry");
    assert!(at >= before + d && at <= after + d);
    assert!(!m.header().is_expired_at(after));
    assert!(m.header().is_expired_at(at), "expired at its instant");
    assert!(m.header().is_expired_at(at + Duration::from_nanos(1)));

    // Zero: already expired. Too large to represent: never expires.
    let m = Message::new(()).ttl(Duration::ZERO);
    assert!(m.header().is_expired_at(Instant::now()));
    let m = Message::new(()).ttl(Duration::MAX);
    assert_eq!(m.header().expires_at(), None);
    assert!(!m
        .header()
        .is_expired_at(Instant::now() + Duration::from_secs(1 << 40)));
}

#[test]
fn header_fields_survive_the_mailbox() {
    for b in BACKENDS {
        let (tx, rx) = b.build::<String>();
        let at = Instant::now() + Duration::from_secs(60);
        let sent = Message::new("photo".to_string())
            .priority(5)
            .correlation_id(77)
            .reply_to(Pid::from_u64(12))
            .expires_at(at);
        let receiver = common::spawn("receiver", move || rx.recv_timeout(common::TIMEOUT));
        tx.send_timeout(sent, common::TIMEOUT).unwrap();
        let got = receiver.join().unwrap();
        let h = got.header();
        assert_ne!(h.id(), MessageId::UNSENT, "{b:?}");
        assert_eq!(h.priority(), 5, "{b:?}");
        assert_eq!(h.correlation_id(), Some(77));
        assert_eq!(h.reply_to(), Some(Pid::from_u64(12)));
        assert_eq!(h.expires_at(), Some(at));
        assert_eq!(
            h.source(),
            None,
            "{b:?}: plain mailbox sends have no source"
        );
        assert_eq!(h.redeliveries(), 0);
        assert!(!h.is_tracked());
        assert_eq!(got.body(), "photo");
    }
}

#[test]
fn plain_bodies_and_messages_are_both_accepted() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let m: Message<u32> = 5.into();
    assert_eq!(*m.body(), 5);
    assert_eq!(m.header().id(), MessageId::UNSENT);
    assert_eq!(Message::from(6).into_body(), 6);
    tx.send(1).unwrap();
    tx.send(Message::new(2)).unwrap();
    tx.send(m).unwrap();
    let got: Vec<u32> = rx.try_iter().map(Message::into_body).collect();
    assert_eq!(got, [1, 2, 5]);
}

#[test]
fn parts_round_trip_and_body_access() {
    let m = Message::new(vec![1u8, 2]).priority(2).correlation_id(9);
    let (header, body) = m.into_parts();
    assert_eq!(body, [1, 2]);
    assert_eq!((header.priority(), header.correlation_id()), (2, Some(9)));
    let mut m = Message::from_parts(header.clone(), body);
    m.body_mut().push(3);
    assert_eq!(m.body(), &[1, 2, 3]);
    assert_eq!(m.header().priority(), 2);
    assert_eq!(m.header().correlation_id(), Some(9));

    // Clone copies the header and the body.
    let c = m.clone();
    assert_eq!(c.body(), m.body());
    assert_eq!(c.header().correlation_id(), Some(9));
    assert_eq!(m.into_body(), [1, 2, 3]);
}

#[test]
fn forwarding_a_received_message_gives_it_a_fresh_id_and_keeps_its_fields() {
    let (tx1, rx1) = Mailbox::<u32>::builder().build();
    let (tx2, rx2) = Mailbox::<u32>::builder().priority(4).build();
    tx1.send(Message::new(1).priority(3).correlation_id(5))
        .unwrap();
    let mut first = rx1.recv().unwrap();
    *first.body_mut() += 10;
    let (header, body) = first.into_parts();
    tx2.send(Message::from_parts(header, body)).unwrap();
    let second = rx2.recv().unwrap();
    assert_eq!(*second.body(), 11);
    assert_eq!(second.header().correlation_id(), Some(5));
    assert_eq!(second.header().priority(), 3);
    assert_eq!(second.header().source(), None);
    assert_ne!(second.header().id(), MessageId::UNSENT);

    // Resent to the same mailbox: a new id there.
    tx1.send(2).unwrap();
    let m = rx1.recv().unwrap();
    let old = m.header().id();
    tx1.send(m).unwrap();
    assert_ne!(rx1.recv().unwrap().header().id(), old);
}

/// A message refused before the mailbox accepted it was never sent: it comes
/// back as it went in, id included (`MessageId::UNSENT` for a new message), as
/// `Header::id` documents ("UNSENT until a mailbox accepts the message").
#[test]
fn refused_messages_are_handed_back_unsent() {
    let (tx, rx) = Mailbox::<u32>::builder().capacity(1).build();
    tx.send(0).unwrap();
    let full = tx.try_send(1).unwrap_err().into_message().unwrap();
    assert_eq!(full.header().id(), MessageId::UNSENT, "Full");
    let timeout = tx
        .send_timeout(2, Duration::from_millis(1))
        .unwrap_err()
        .into_message()
        .unwrap();
    assert_eq!(timeout.header().id(), MessageId::UNSENT, "Timeout");
    drop(rx);
    let closed = tx.send(3).unwrap_err().into_message().unwrap();
    assert_eq!(closed.header().id(), MessageId::UNSENT, "Closed");
}

#[test]
fn max_body_len_boundary_for_each_body_type() {
    // String: bytes.
    let (tx, rx) = Mailbox::<String>::builder().max_body_len(5).build();
    tx.send("12345".to_string()).unwrap();
    tx.send(String::new()).unwrap();
    let err = tx.send("123456".to_string()).unwrap_err();
    assert!(matches!(err, SendError::TooLong(_)), "{err:?}");
    assert_eq!(err.into_inner().as_deref(), Some("123456"));
    // "héllo" is five characters but six bytes.
    assert!(tx.try_send("héllo".to_string()).is_err());
    assert_eq!(rx.try_iter().count(), 2);
    assert_eq!(rx.stats().sent, 2, "refused bodies are not counted");

    // Vec<u8>: elements.
    let (tx, rx) = Mailbox::<Vec<u8>>::builder().max_body_len(3).build();
    tx.try_send(vec![1, 2, 3]).unwrap();
    match tx.try_send(vec![1, 2, 3, 4]) {
        Err(TrySendError::TooLong(m)) => assert_eq!(m.into_body(), [1, 2, 3, 4]),
        other => panic!("expected TooLong, got {other:?}"),
    }
    assert_eq!(rx.recv().unwrap().into_body(), [1, 2, 3]);

    // &str.
    let (tx, rx) = Mailbox::<&str>::builder().max_body_len(2).build();
    tx.send("ab").unwrap();
    let err = tx.send_timeout("abc", Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, SendTimeoutError::TooLong(_)), "{err:?}");
    assert_eq!(err.into_inner(), Some("abc"));
    assert_eq!(rx.recv().unwrap().into_body(), "ab");

    // Box<[u8]>.
    let (tx, rx) = Mailbox::<Box<[u8]>>::builder().max_body_len(4).build();
    tx.send(vec![0u8; 4].into_boxed_slice()).unwrap();
    let err = tx
        .send_with(
            vec![7u8; 5].into_boxed_slice(),
            Wait::Blocking,
            Confirm::Queued,
        )
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::TooLong(_)), "{err:?}");
    assert_eq!(err.into_inner().as_deref(), Some(&[7u8; 5][..]));
    assert_eq!(rx.recv().unwrap().into_body().len(), 4);

    // Zero: only empty bodies.
    let (tx, _rx) = Mailbox::<Vec<u8>>::builder().max_body_len(0).build();
    tx.send(Vec::new()).unwrap();
    assert!(tx.send(vec![0]).is_err());
}

#[test]
fn too_long_hands_back_the_whole_message_from_every_send() {
    let at = Instant::now() + Duration::from_secs(9);
    let long = || {
        Message::new(vec![1u8; 9])
            .priority(1)
            .correlation_id(4)
            .reply_to(Pid::from_u64(2))
            .expires_at(at)
    };
    let check = |m: Message<Vec<u8>>, how: &str| {
        assert_eq!(m.body(), &vec![1u8; 9], "{how}");
        assert_eq!(m.header().priority(), 1, "{how}");
        assert_eq!(m.header().correlation_id(), Some(4), "{how}");
        assert_eq!(m.header().reply_to(), Some(Pid::from_u64(2)), "{how}");
        assert_eq!(m.header().expires_at(), Some(at), "{how}");
        assert_eq!(m.header().id(), MessageId::UNSENT, "{how}");
        assert!(!m.header().is_tracked(), "{how}");
    };
    for backend in ["fifo", "priority"] {
        let builder = Mailbox::<Vec<u8>>::builder().max_body_len(8);
        let builder = if backend == "fifo" {
            builder.fifo()
        } else {
            builder.priority(2)
        };
        let (tx, rx) = builder.build();
        match tx.try_send(long()) {
            Err(TrySendError::TooLong(m)) => check(m, "try_send"),
            other => panic!("{backend}: {other:?}"),
        }
        match tx.send(long()) {
            Err(SendError::TooLong(m)) => check(m, "send"),
            other => panic!("{backend}: {other:?}"),
        }
        match tx.send_timeout(long(), Duration::from_secs(1)) {
            Err(SendTimeoutError::TooLong(m)) => check(m, "send_timeout"),
            other => panic!("{backend}: {other:?}"),
        }
        match tx.send_deadline(long(), Instant::now()) {
            Err(SendTimeoutError::TooLong(m)) => check(m, "send_deadline"),
            other => panic!("{backend}: {other:?}"),
        }
        match tx.send_tracked(long()) {
            Err(SendError::TooLong(m)) => check(m, "send_tracked"),
            other => panic!("{backend}: {other:?}"),
        }
        match tx.clone().with_confirm(Confirm::Received).post(long()) {
            Err(SendTimeoutError::TooLong(m)) => check(m, "post"),
            other => panic!("{backend}: {other:?}"),
        }
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
        assert_eq!(rx.stats().sent, 0);
    }
}

/// A user type measured by its own `BodyLen`.
struct Frame {
    payload: Vec<u8>,
    _checksum: u32,
}

impl BodyLen for Frame {
    fn body_len(&self) -> usize {
        self.payload.len()
    }
}

#[test]
fn body_len_for_a_user_type_and_the_built_in_ones() {
    let (tx, rx) = Mailbox::<Frame>::builder().max_body_len(2).build();
    let frame = |n| Frame {
        payload: vec![0; n],
        _checksum: 0,
    };
    tx.send(frame(2)).unwrap();
    let err = tx.send(frame(3)).unwrap_err();
    assert!(matches!(err, SendError::TooLong(_)));
    assert_eq!(err.into_inner().map(|f| f.payload.len()), Some(3));
    assert_eq!(rx.recv().unwrap().body().payload.len(), 2);

    assert_eq!("héllo".to_string().body_len(), 6);
    assert_eq!("abc".body_len(), 3);
    assert_eq!(Box::<str>::from("ab").body_len(), 2);
    assert_eq!((&[1u8, 2][..]).body_len(), 2);
    assert_eq!(vec![0u8; 4].into_boxed_slice().body_len(), 4);
    assert_eq!(vec!["a", "b", "c"].body_len(), 3, "elements, not bytes");
    assert_eq!(VecDeque::from([1u64, 2]).body_len(), 2);
    assert_eq!(Arc::<[u8]>::from(&[1u8, 2, 3][..]).body_len(), 3);
    assert_eq!(Arc::<str>::from("abcd").body_len(), 4);
}

#[test]
fn invalid_priority_hands_back_the_message_with_its_priority() {
    let (tx, rx) = Mailbox::<Opaque>::builder().priority(3).build();
    let err = tx
        .try_send(Message::new(Opaque(5)).priority(3))
        .unwrap_err();
    assert!(matches!(err, TrySendError::InvalidPriority(_)), "{err:?}");
    assert!(err.to_string().contains('3'), "names the priority: {err}");
    let m = err.into_message().unwrap();
    assert_eq!((m.body().0, m.header().priority()), (5, 3));
    assert_eq!(m.header().id(), MessageId::UNSENT);
    assert!(rx.is_empty());
}

#[test]
fn error_debug_does_not_need_body_debug() {
    let (tx, rx) = Mailbox::<Opaque>::builder().capacity(1).build();
    tx.try_send(Opaque(0)).unwrap();
    assert_eq!(
        format!("{:?}", tx.try_send(Opaque(1)).unwrap_err()),
        "Full(..)"
    );
    let timeout = tx
        .send_timeout(Opaque(2), Duration::from_millis(1))
        .unwrap_err();
    assert_eq!(format!("{timeout:?}"), "Timeout(..)");
    let full = tx
        .send_with(Opaque(3), Wait::NonBlocking, Confirm::Queued)
        .unwrap_err();
    assert_eq!(format!("{full:?}"), "Full(..)");

    // Unconfirmed shows its receipt.
    rx.recv().unwrap();
    let unconfirmed = tx
        .send_with(
            Opaque(4),
            Wait::Timeout(Duration::from_millis(1)),
            Confirm::Received,
        )
        .unwrap_err();
    let text = format!("{unconfirmed:?}");
    assert!(text.starts_with("Unconfirmed(Receipt {"), "{text}");
    assert!(text.contains("Queued"), "{text}");

    rx.recv().unwrap();
    let (ltx, _lrx) = Mailbox::<Vec<u8>>::builder().max_body_len(0).build();
    assert_eq!(
        format!("{:?}", ltx.send(vec![1]).unwrap_err()),
        "TooLong(..)"
    );
    let (ptx, _prx) = Mailbox::<Opaque>::builder().priority(1).build();
    assert_eq!(
        format!(
            "{:?}",
            ptx.send(Message::new(Opaque(0)).priority(1)).unwrap_err()
        ),
        "InvalidPriority(..)"
    );
    drop(rx);
    assert_eq!(
        format!("{:?}", tx.send(Opaque(5)).unwrap_err()),
        "Closed(..)"
    );
}

/// Every error's message: lowercase first letter, no trailing period, as in
/// std and crossbeam.
#[test]
fn error_display_texts_are_lowercase() {
    let m = || Message::new(Opaque(0)).priority(9);
    let texts: Vec<String> = vec![
        TrySendError::Full(m()).to_string(),
        TrySendError::Closed(m()).to_string(),
        TrySendError::TooLong(m()).to_string(),
        TrySendError::InvalidPriority(m()).to_string(),
        SendError::Closed(m()).to_string(),
        SendError::TooLong(m()).to_string(),
        SendError::InvalidPriority(m()).to_string(),
        SendTimeoutError::Full(m()).to_string(),
        SendTimeoutError::Timeout(m()).to_string(),
        SendTimeoutError::Closed(m()).to_string(),
        SendTimeoutError::TooLong(m()).to_string(),
        SendTimeoutError::InvalidPriority(m()).to_string(),
        RecvError.to_string(),
        TryRecvError::Empty.to_string(),
        TryRecvError::Closed.to_string(),
        RecvTimeoutError::Timeout.to_string(),
        RecvTimeoutError::Closed.to_string(),
        ReceiptError::Timeout.to_string(),
        ReceiptError::Closed.to_string(),
        postbox::PushError::Full(m()).to_string(),
        postbox::PushError::Timeout(m()).to_string(),
        postbox::PushError::Closed(m()).to_string(),
        postbox::PopError::Empty.to_string(),
        postbox::PopError::Timeout.to_string(),
        postbox::PopError::Closed.to_string(),
    ];
    for text in &texts {
        let first = text.chars().next().expect("a message");
        assert!(first.is_lowercase(), "capitalised: {text:?}");
        assert!(!text.ends_with('.'), "trailing period: {text:?}");
    }
    // InvalidPriority says which priority.
    assert!(texts[3].contains('9'), "{}", texts[3]);
}

#[test]
fn error_helpers_and_conversions() {
    let m = || Message::new(1u32);
    let e = TrySendError::Full(m());
    assert!(e.is_full() && !e.is_closed() && !e.is_unconfirmed());
    assert_eq!(e.message().map(|m| *m.body()), Some(1));
    assert_eq!(e.into_inner(), Some(1));
    assert!(TrySendError::Closed(m()).is_closed());

    let e: SendTimeoutError<u32> = TrySendError::Full(m()).into();
    assert!(e.is_full());
    let e: SendTimeoutError<u32> = TrySendError::Closed(m()).into();
    assert!(e.is_closed());
    let e: SendTimeoutError<u32> = SendError::Closed(m()).into();
    assert!(e.is_closed());
    let e: SendTimeoutError<u32> = SendError::TooLong(m()).into();
    assert!(matches!(e, SendTimeoutError::TooLong(_)));
    let e: SendTimeoutError<u32> = SendError::InvalidPriority(m()).into();
    assert!(matches!(e, SendTimeoutError::InvalidPriority(_)));
    assert!(SendTimeoutError::Timeout(m()).is_timeout());

    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Closed);
    assert_eq!(RecvTimeoutError::from(RecvError), RecvTimeoutError::Closed);
    assert!(RecvTimeoutError::Timeout.is_timeout() && !RecvTimeoutError::Timeout.is_closed());
    assert!(RecvTimeoutError::Closed.is_closed());
    assert!(TryRecvError::Empty.is_empty() && TryRecvError::Closed.is_closed());
    assert_eq!(
        postbox::PushError::Timeout(m()).into_message().into_body(),
        1
    );
}

/// Errors are real `std::error::Error`s for any body, so `?` into
/// `Box<dyn Error + Send + Sync>` works in user code.
#[test]
fn errors_implement_std_error_for_any_body() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<TrySendError<Opaque>>();
    is_error::<SendError<Opaque>>();
    is_error::<SendTimeoutError<Opaque>>();
    is_error::<RecvError>();
    is_error::<TryRecvError>();
    is_error::<RecvTimeoutError>();
    is_error::<ReceiptError>();
    is_error::<postbox::PushError<Opaque>>();
    is_error::<postbox::PopError>();

    fn user_code() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (tx, rx) = Mailbox::<Opaque>::builder().build();
        drop(rx);
        tx.send(Opaque(0))?;
        Ok(())
    }
    let err = user_code().unwrap_err();
    assert_eq!(err.to_string(), "sending on a closed mailbox");
}

#[test]
fn ids_and_pids_print_and_compare() {
    assert_eq!(MessageId::UNSENT.as_u64(), 0);
    assert_eq!(MessageId::default(), MessageId::UNSENT);
    assert_eq!(MessageId::UNSENT.to_string(), "#0");
    let (tx, rx) = Mailbox::<u8>::builder().build();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let a = rx.recv().unwrap().header().id();
    let b = rx.recv().unwrap().header().id();
    assert_eq!(a.to_string(), format!("#{}", a.as_u64()));
    assert!(a < b, "one handle's ids increase");

    let p = Pid::from_u64(7);
    assert_eq!(p.as_u64(), 7);
    assert_eq!(p.to_string(), "<7>");
    assert!(Pid::from_u64(1) < Pid::from_u64(2));
    let set: std::collections::HashSet<Pid> = [p, p, Pid::from_u64(8)].into();
    assert_eq!(set.len(), 2);
}

#[test]
fn message_and_header_debug() {
    let m = Message::new(5u8).correlation_id(1);
    let text = format!("{m:?}");
    assert!(
        text.contains("Message") && text.contains("body: 5"),
        "{text}"
    );
    assert!(text.contains("correlation_id: Some(1)"), "{text}");
    let text = format!("{:?}", Message::new(Opaque(0)).header());
    assert!(text.starts_with("Header"), "{text}");
}
