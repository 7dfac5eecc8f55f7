//! The sync v1 codec against the worked examples of scale-out-notes.md §3.4,
//! each receiver rule of §3.2/§3.3, and round trips.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::Protocol;
use lvs_core::conn::{ConnFlags, TcpState};
use lvs_core::sync::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

const ONE: &str = "00 01 00 2c 01 01 00 00
    00 06 00 24 00 00 00 00 00 01 9c 40 00 50 1f 90 00 00 00 00 00 00 03 84
    c0 00 02 02 cb 00 71 0a c6 33 64 0b";

const TWO: &str = "00 01 00 6c 02 01 00 00
    00 06 00 3e 00 00 06 00 00 01 9c 41 00 50 1f 90 00 00 00 00 00 00 03 84 c0 00 02 02 cb 00 71 0a c6 33 64 0b
    01 18 00 00 03 e8 00 00 00 05 00 00 00 00 00 00 07 d0 ff ff ff fb 00 00 00 00
    00 00
    00 06 00 24 00 00 00 00 00 01 9c 40 00 50 1f 90 00 00 00 00 00 00 03 84 c0 00 02 02 cb 00 71 0a c6 33 64 0b";

fn decode(buf: &[u8]) -> Vec<ConnRecord<'_>> {
    let m = SyncMessage::new_checked(buf, 0).unwrap();
    m.into_records()
        .map(|r| ConnRecord::parse(&r.unwrap()).unwrap())
        .collect()
}

fn example_record() -> ConnRecord<'static> {
    ConnRecord {
        protocol: 6,
        flags: 0,
        state: 1,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        addrs: RecordAddrs::V4 {
            caddr: Ipv4Addr::new(192, 0, 2, 2),
            vaddr: Ipv4Addr::new(203, 0, 113, 10),
            daddr: Ipv4Addr::new(198, 51, 100, 11),
        },
        seq: None,
        pe: None,
    }
}

#[test]
fn worked_example_decodes_and_reencodes() {
    let buf = hex(ONE);
    let m = SyncMessage::new_checked(&buf[..], 1).unwrap();
    assert_eq!(
        (
            m.reserved(),
            m.syncid(),
            m.size(),
            m.conn_count(),
            m.version(),
            m.spare()
        ),
        (0, 1, 44, 1, 1, 0)
    );
    let v = m.records().next().unwrap().unwrap();
    assert_eq!(
        (v.offset(), v.ver_size(), v.is_ipv6(), v.protocol()),
        (8, 36, false, 6)
    );
    assert_eq!(v.caddr(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(v.daddr(), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11)));
    let recs = decode(&buf);
    assert_eq!(recs, vec![example_record()]);

    let conn = SyncedConn::from_record(&recs[0]).unwrap();
    assert_eq!(conn.protocol, Some(Protocol::Tcp));
    assert_eq!(conn.state, SyncState::Tcp(TcpState::Established));
    assert_eq!(conn.forwarding, FwdMethod::Masq);
    assert_eq!(conn.flags, ConnFlags::default());
    assert_eq!(
        (conn.cport, conn.vport, conn.dport, conn.timeout_s),
        (40000, 80, 8080, 900)
    );
    assert_eq!(conn.to_record().unwrap(), recs[0]);

    let mut out = [0u8; 1472];
    let mut w = MessageWriter::new(&mut out, 1, DEFAULT_MAXLEN).unwrap();
    w.push(&recs[0]).unwrap();
    assert_eq!(w.as_bytes(), &buf[..]);
}

#[test]
fn second_example_with_seq_and_padding() {
    let buf = hex(TWO);
    let recs = decode(&buf);
    assert_eq!(recs.len(), 2);
    let seq = SeqOption {
        in_seq: SeqData {
            init_seq: 1000,
            delta: 5,
            previous_delta: 0,
        },
        out_seq: SeqData {
            init_seq: 2000,
            delta: (-5i32) as u32,
            previous_delta: 0,
        },
    };
    let first = ConnRecord {
        flags: F_SEQ_MASK,
        cport: 40001,
        seq: Some(seq),
        ..example_record()
    };
    assert_eq!(recs[0], first);
    assert_eq!(recs[0].buffer_len(), 62);
    assert_eq!(recs[1], example_record());
    let m = SyncMessage::new_checked(&buf[..], 0).unwrap();
    let offsets: Vec<usize> = m.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(offsets, [8, 72]);
    let c = SyncedConn::from_record(&recs[0]).unwrap();
    assert_eq!(c.seq, Some((F_SEQ_MASK, seq)));

    let mut out = [0u8; 1472];
    let mut w = MessageWriter::new(&mut out, 1, DEFAULT_MAXLEN).unwrap();
    w.push(&recs[0]).unwrap();
    w.push(&recs[1]).unwrap();
    assert_eq!(w.as_bytes(), &buf[..]);
}

#[test]
fn message_rules() {
    let buf = hex(ONE);
    // Syncid filter: 0 accepts all, 1 matches, 2 does not.
    assert!(SyncMessage::new_checked(&buf[..], 0).is_ok());
    assert_eq!(
        SyncMessage::new_checked(&buf[..], 2).unwrap_err(),
        MessageError::SyncIdMismatch { got: 1, want: 2 }
    );
    // Size larger than the datagram (truncated) and smaller (trailing bytes).
    assert_eq!(
        SyncMessage::new_checked(&buf[..40], 0).unwrap_err(),
        MessageError::SizeMismatch {
            declared: 44,
            actual: 40
        }
    );
    let mut long = buf.clone();
    long.push(0);
    assert_eq!(
        SyncMessage::new_checked(&long[..], 0).unwrap_err(),
        MessageError::SizeMismatch {
            declared: 44,
            actual: 45
        }
    );
    assert_eq!(
        SyncMessage::new_checked(&buf[..3], 0).unwrap_err(),
        MessageError::TooShort { len: 3, need: 4 }
    );
    // Version, reserved, spare.
    for (at, v) in [(5, 2u8), (0, 1), (7, 1)] {
        let mut b = buf.clone();
        b[at] = v;
        assert!(
            matches!(
                SyncMessage::new_checked(&b[..], 0),
                Err(MessageError::NotVersion1 { .. })
            ),
            "{at}"
        );
    }
}

fn first_err(buf: &[u8]) -> RecordError {
    let m = SyncMessage::new_checked(buf, 0).unwrap();
    m.records().find_map(Result::err).expect("an error")
}

#[test]
fn record_rules() {
    let buf = hex(ONE);
    // The header counts two records but holds one.
    let mut b = buf.clone();
    b[4] = 2;
    assert_eq!(
        first_err(&b),
        RecordError::Truncated {
            offset: 44,
            index: 1,
            remaining: 0
        }
    );
    let m = SyncMessage::new_checked(&b[..], 0).unwrap();
    assert!(
        m.records().next().unwrap().is_ok(),
        "records before the error stay valid"
    );
    // ver_size: version nibble, length past the end, shorter than the fixed part.
    let mut b = buf.clone();
    b[10] = 0x10;
    assert_eq!(
        first_err(&b),
        RecordError::BadVersion {
            offset: 8,
            ver_size: 0x1024
        }
    );
    let mut b = buf.clone();
    b[11] = 40;
    assert_eq!(
        first_err(&b),
        RecordError::PastEnd {
            offset: 8,
            len: 40,
            remaining: 36
        }
    );
    let mut b = buf.clone();
    b[11] = 20;
    assert_eq!(
        first_err(&b),
        RecordError::TooShortForType {
            offset: 8,
            len: 20,
            need: 36
        }
    );
    // An odd type is IPv6, and 36 bytes cannot hold it; an even non-zero type is an error.
    let mut b = buf.clone();
    b[8] = 3;
    assert_eq!(
        first_err(&b),
        RecordError::TooShortForType {
            offset: 8,
            len: 36,
            need: 72
        }
    );
    let mut b = buf.clone();
    b[8] = 2;
    assert_eq!(first_err(&b), RecordError::BadType { offset: 8, kind: 2 });
}

/// The worked example with `opts` appended to its only record.
fn with_options(opts: &[u8]) -> Vec<u8> {
    let mut b = hex(ONE);
    b.extend_from_slice(opts);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b[10..12].copy_from_slice(&(len - 8).to_be_bytes());
    b
}

#[test]
fn option_rules() {
    let e = |opts: &[u8]| first_err(&with_options(opts));
    let bad = |kind, problem| RecordError::BadOption {
        offset: 44,
        kind,
        problem,
    };
    assert_eq!(e(&[2, 0]), bad(2, OptionProblem::ZeroLength));
    assert_eq!(e(&[2, 5, 1, 2, 3]), bad(2, OptionProblem::Overrun));
    assert_eq!(e(&[2]), bad(2, OptionProblem::HeaderCut));
    assert_eq!(e(&[1, 4, 0, 0, 0, 0]), bad(1, OptionProblem::SeqLength));
    let mut name = vec![3, 17];
    name.extend_from_slice(&[b'x'; 17]);
    assert_eq!(e(&name), bad(3, OptionProblem::PeNameTooLong));
    let dup = [2, 1, 9, 2, 1, 9];
    assert_eq!(
        first_err(&with_options(&dup)),
        RecordError::BadOption {
            offset: 47,
            kind: 2,
            problem: OptionProblem::Duplicate
        }
    );

    // Per-record skips: the record view is fine, the record is not installed.
    let pe_only = with_options(&[2, 3, b'a', b'b', b'c']);
    let m = SyncMessage::new_checked(&pe_only[..], 0).unwrap();
    let v = m.records().next().unwrap().unwrap();
    assert_eq!(ConnRecord::parse(&v), Err(SkipReason::PeDataWithoutName));
    let unknown = with_options(&[5, 1, 0, 2, 0]);
    let m = SyncMessage::new_checked(&unknown[..], 0).unwrap();
    let v = m.records().next().unwrap().unwrap();
    assert_eq!(
        ConnRecord::parse(&v),
        Err(SkipReason::UnknownOption {
            offset: 44,
            kind: 5
        })
    );
    // An unknown optional option (0x40 bit) is skipped over.
    let optional = with_options(&[0x45, 2, 7, 7]);
    assert_eq!(decode(&optional), vec![example_record()]);
    // 0x41 is the sequence option.
    let mut seq = vec![0x41, 24];
    seq.extend_from_slice(&[0; 24]);
    assert_eq!(
        decode(&with_options(&seq))[0].seq,
        Some(SeqOption::default())
    );
    // PE data plus name round-trips.
    let pe = with_options(&[2, 3, b'a', b'b', b'c', 3, 3, b's', b'i', b'p']);
    let recs = decode(&pe);
    assert_eq!(
        recs[0].pe,
        Some(PeOption {
            data: b"abc",
            name: b"sip"
        })
    );
    let mut out = [0u8; 100];
    let n = recs[0].emit(&mut out).unwrap();
    assert_eq!(&out[..n], &pe[8..]);
}

#[test]
fn skip_rules_by_protocol_and_state() {
    let rec = |protocol, state, flags| ConnRecord {
        protocol,
        state,
        flags,
        ..example_record()
    };
    assert_eq!(
        SyncedConn::from_record(&rec(6, 11, 0)),
        Err(SkipReason::BadState {
            protocol: 6,
            state: 11
        })
    );
    assert_eq!(
        SyncedConn::from_record(&rec(17, 1, 0)),
        Err(SkipReason::BadState {
            protocol: 17,
            state: 1
        })
    );
    assert_eq!(
        SyncedConn::from_record(&rec(132, 14, 0)),
        Err(SkipReason::BadState {
            protocol: 132,
            state: 14
        })
    );
    assert_eq!(
        SyncedConn::from_record(&rec(1, 0, 0)),
        Err(SkipReason::UnknownProtocol { protocol: 1 })
    );
    assert_eq!(
        SyncedConn::from_record(&rec(6, 1, 5)),
        Err(SkipReason::BadForwarding { method: 5 })
    );
    let s = SyncedConn::from_record(&rec(132, 8, 0)).unwrap();
    assert_eq!(s.state, SyncState::Sctp(SctpState::ESTABLISHED));
    // Fwmark template: protocol 0, any state accepted.
    let t = SyncedConn::from_record(&rec(0, 7, F_TEMPLATE | 3)).unwrap();
    assert!(t.flags.has(ConnFlags::TEMPLATE) && t.flags.has(ConnFlags::FWMARK));
    assert_eq!(
        (t.protocol, t.state, t.forwarding),
        (
            None,
            SyncState::Template(TemplateState::Other(7)),
            FwdMethod::DirectRoute
        )
    );
    assert_eq!(t.to_record().unwrap(), rec(0, 7, F_TEMPLATE | 3));
    // Bits outside the backup mask (SYNC, HASHED, NFCT 0x10000) are dropped.
    let n =
        SyncedConn::from_record(&rec(6, 1, 0x10000 | F_SYNC | F_HASHED | F_NOOUTPUT | 2)).unwrap();
    assert_eq!(n.to_record().unwrap().flags, F_NOOUTPUT | 2);
}

#[test]
fn oversized_first_record_gets_its_own_message_and_count_caps_at_255() {
    let mut buf = [0u8; 200];
    let mut w = MessageWriter::new(&mut buf, 0, 20).unwrap();
    w.push(&example_record()).unwrap();
    assert_eq!(w.len(), 44);
    assert!(matches!(
        w.push(&example_record()),
        Err(WriteError::Full { .. })
    ));

    let recs = vec![example_record(); 300];
    let msgs = encode_messages(&recs, 9, MAX_MAXLEN).unwrap();
    assert_eq!(
        msgs.iter().map(|m| m[4] as usize).collect::<Vec<_>>(),
        [255, 45]
    );
}

#[test]
fn version_0_records() {
    // nr 1, syncid 3, size 28; proto TCP, ports, addrs, flags 0x1000 (template), state 1.
    let b =
        hex("01 03 00 1c 00 06 9c 40 00 50 1f 90 c0 00 02 02 cb 00 71 0a c6 33 64 0b 10 40 00 01");
    assert!(matches!(
        SyncMessage::new_checked(&b[..], 3),
        Err(MessageError::NotVersion1 { .. })
    ));
    let m = v0::SyncMessageV0::new_checked(&b, 3).unwrap();
    let recs: Vec<_> = m.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        recs,
        vec![ConnRecord {
            flags: F_TEMPLATE,
            timeout: 0,
            ..example_record()
        }]
    );
    let c = SyncedConn::from_record(&recs[0]).unwrap();
    assert_eq!(
        c.timeout_ms(&lvs_core::conn::Timeouts::new()),
        DEFAULT_SYNC_TIMEOUT_S * 1000
    );
    let mut short = b.clone();
    short[0] = 2;
    let m = v0::SyncMessageV0::new_checked(&short, 0).unwrap();
    assert!(matches!(
        m.records().nth(1),
        Some(Err(RecordError::Truncated { offset: 28, .. }))
    ));
}

// ---- property tests ----

fn arb_addrs() -> impl Strategy<Value = RecordAddrs> {
    prop_oneof![
        any::<[u32; 3]>().prop_map(|[c, v, d]| RecordAddrs::V4 {
            caddr: c.into(),
            vaddr: v.into(),
            daddr: d.into()
        }),
        any::<[u128; 3]>().prop_map(|[c, v, d]| RecordAddrs::V6 {
            caddr: Ipv6Addr::from(c),
            vaddr: Ipv6Addr::from(v),
            daddr: Ipv6Addr::from(d)
        }),
    ]
}

fn arb_conn() -> impl Strategy<Value = SyncedConn> {
    (
        prop_oneof![
            Just(Protocol::Tcp),
            Just(Protocol::Udp),
            Just(Protocol::Sctp)
        ],
        arb_addrs(),
        any::<[u16; 3]>(),
        0u16..11,
        0u8..5,
        any::<[bool; 4]>(),
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(any::<[u32; 6]>()),
    )
        .prop_map(
            |(
                p,
                addrs,
                [cport, vport, dport],
                st,
                fwd,
                [noout, inact, tmpl, nocp],
                timeout_s,
                fwmark,
                seq,
            )| {
                let state = if tmpl {
                    SyncState::Template(if st % 2 == 0 {
                        TemplateState::None
                    } else {
                        TemplateState::Assured
                    })
                } else {
                    match p {
                        Protocol::Tcp => SyncState::Tcp(TcpState::from_u8(st as u8).unwrap()),
                        Protocol::Udp => SyncState::Udp(lvs_core::conn::UdpState::Normal),
                        Protocol::Sctp => SyncState::Sctp(SctpState::new(st).unwrap()),
                    }
                };
                let mut flags = ConnFlags::default();
                flags.set(ConnFlags::NO_OUTPUT, noout);
                flags.set(ConnFlags::INACTIVE, inact);
                flags.set(ConnFlags::TEMPLATE, tmpl);
                let (caddr, vaddr, daddr) = addrs.ips();
                SyncedConn {
                    protocol: Some(p),
                    caddr,
                    cport,
                    vaddr,
                    vport,
                    daddr,
                    dport,
                    state,
                    forwarding: FwdMethod::from_bits(fwd.into()).unwrap(),
                    flags,
                    no_cport: nocp,
                    seq: seq.map(|w| {
                        let d = |i: usize| SeqData {
                            init_seq: w[i],
                            delta: w[i + 1],
                            previous_delta: w[i + 2],
                        };
                        (
                            F_SEQ_MASK,
                            SeqOption {
                                in_seq: d(0),
                                out_seq: d(3),
                            },
                        )
                    }),
                    timeout_s,
                    fwmark,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn connections_round_trip_through_messages(
        conns in proptest::collection::vec(arb_conn(), 0..120),
        maxlen in 120usize..2000,
        syncid in any::<u8>(),
    ) {
        let recs: Vec<ConnRecord<'static>> = conns.iter().map(|c| c.to_record().unwrap()).collect();
        let msgs = encode_messages(&recs, syncid, maxlen).unwrap();
        let mut back = Vec::new();
        for m in &msgs {
            prop_assert!(m.len() <= maxlen, "{} > {}", m.len(), maxlen);
            let view = SyncMessage::new_checked(&m[..], syncid).unwrap();
            prop_assert_eq!(view.size() as usize, m.len());
            prop_assert!(view.conn_count() > 0);
            for r in view.records() {
                let r = r.unwrap();
                prop_assert_eq!(r.offset() % 4, 0);
                back.push(SyncedConn::from_record(&ConnRecord::parse(&r).unwrap()).unwrap());
            }
        }
        prop_assert_eq!(back, conns);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), fix in any::<bool>()) {
        let mut b = bytes;
        if fix && b.len() >= 8 {
            let n = b.len() as u16;
            b[0] = 0;
            b[2..4].copy_from_slice(&n.to_be_bytes());
            b[5] = 1;
            b[6] = 0;
            b[7] = 0;
        }
        if let Ok(m) = SyncMessage::new_checked(&b[..], 0) {
            for r in m.records().flatten() {
                if let Ok(rec) = ConnRecord::parse(&r) {
                    let _ = SyncedConn::from_record(&rec);
                }
            }
        }
        if let Ok(m) = v0::SyncMessageV0::new_checked(&b, 0) {
            for r in m.records().flatten() {
                let _ = SyncedConn::from_record(&r);
            }
        }
    }
}
