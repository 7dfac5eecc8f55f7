//! The TCP state machine against the kernel tables, cell by cell.
//!
//! The expected values are the reference notes' markdown, pasted verbatim and
//! parsed here, so they are independent of the arrays in `tcp.rs`: a typo in
//! either fails this test.

use lvs_core::conn::{Direction, TcpEvent, TcpState, transition};

const NORMAL_MD: &str = "
| dir/event | NO | ES | SS | SR | FW | TW | CL | CW | LA | LI | SA |
|---|---|---|---|---|---|---|---|---|---|---|---|
| IN syn | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| IN fin | CL | CW | SS | TW | TW | TW | CL | CW | LA | LI | TW |
| IN ack | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| IN rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | SR |
| OUT syn | SS | ES | SS | SR | SS | SS | SS | SS | SS | LI | SR |
| OUT fin | TW | FW | SS | TW | FW | TW | CL | TW | LA | LI | TW |
| OUT ack | ES | ES | SS | ES | FW | TW | CL | CW | LA | ES | ES |
| OUT rst | CL | CL | SS | CL | CL | TW | CL | CL | CL | CL | CL |
| IN-ONLY syn | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| IN-ONLY fin | CL | FW | SS | TW | FW | TW | CL | CW | LA | LI | TW |
| IN-ONLY ack | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| IN-ONLY rst | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | CL |
";

const SECURE_DIFF_MD: &str = "
- IN syn: SA→SA.
- IN fin: SA→SA.
- IN ack: SR→SR and SA→SA, so an ACK does not establish the connection.
- IN rst: SA→CL.
- OUT syn: SR→SA and SA→SA.
- IN-ONLY syn: NO/FW/TW/CL/CW/LA/LI/SA all go to SA.
";

fn abbrev(s: &str) -> TcpState {
    match s {
        "NO" => TcpState::None,
        "ES" => TcpState::Established,
        "SS" => TcpState::SynSent,
        "SR" => TcpState::SynRecv,
        "FW" => TcpState::FinWait,
        "TW" => TcpState::TimeWait,
        "CL" => TcpState::Close,
        "CW" => TcpState::CloseWait,
        "LA" => TcpState::LastAck,
        "LI" => TcpState::Listen,
        "SA" => TcpState::SynAck,
        other => panic!("unknown state {other:?}"),
    }
}

fn dir_ev(d: &str, e: &str) -> (Direction, TcpEvent) {
    let dir = match d {
        "IN" => Direction::Input,
        "OUT" => Direction::Output,
        "IN-ONLY" => Direction::InputOnly,
        other => panic!("unknown direction {other:?}"),
    };
    let ev = match e {
        "syn" => TcpEvent::Syn,
        "fin" => TcpEvent::Fin,
        "ack" => TcpEvent::Ack,
        "rst" => TcpEvent::Rst,
        other => panic!("unknown event {other:?}"),
    };
    (dir, ev)
}

type Expected = Vec<((Direction, TcpEvent), Vec<TcpState>)>;

fn parse_normal() -> (Vec<TcpState>, Expected) {
    let mut lines = NORMAL_MD.lines().filter(|l| l.starts_with('|'));
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = cells(lines.next().unwrap());
    let cols: Vec<TcpState> = header[1..].iter().map(|c| abbrev(c)).collect();
    let mut rows = Vec::new();
    for l in lines {
        let c = cells(l);
        if c[0].starts_with('-') {
            continue;
        }
        let (d, e) = c[0].split_once(' ').unwrap();
        rows.push((dir_ev(d, e), c[1..].iter().map(|x| abbrev(x)).collect()));
    }
    (cols, rows)
}

fn secure_table() -> (Vec<TcpState>, Expected) {
    let (cols, mut rows) = parse_normal();
    let mut changed = 0;
    for l in SECURE_DIFF_MD.lines().filter_map(|l| l.strip_prefix("- ")) {
        let (head, body) = l.split_once(": ").unwrap();
        let (d, e) = head.split_once(' ').unwrap();
        let key = dir_ev(d, e);
        let row = &mut rows.iter_mut().find(|r| r.0 == key).unwrap().1;
        let mut set = |from: TcpState, to: TcpState| {
            let i = cols.iter().position(|c| *c == from).unwrap();
            row[i] = to;
            changed += 1;
        };
        if let Some((list, to)) = body.split_once(" all go to ") {
            let to = abbrev(to.trim_end_matches('.'));
            for f in list.split('/') {
                set(abbrev(f), to);
            }
        } else {
            let body = body.split(',').next().unwrap().trim_end_matches('.');
            for pair in body.split(" and ") {
                let (f, t) = pair.split_once('→').unwrap();
                set(abbrev(f.trim()), abbrev(t.trim()));
            }
        }
    }
    assert_eq!(changed, 15, "secure_tcp differences parsed");
    (cols, rows)
}

fn check(secure: bool, cols: &[TcpState], rows: &Expected) {
    assert_eq!(cols.len(), 11);
    assert_eq!(rows.len(), 12);
    let mut cells = 0;
    for ((dir, ev), want) in rows {
        for (from, to) in cols.iter().zip(want) {
            assert_eq!(
                transition(secure, *dir, Some(*ev), *from),
                *to,
                "secure={secure} {dir:?} {ev:?} from {}",
                from.name()
            );
            cells += 1;
        }
    }
    assert_eq!(cells, 11 * 4 * 3);
}

#[test]
fn normal_table_cell_by_cell() {
    let (cols, rows) = parse_normal();
    check(false, &cols, &rows);
}

#[test]
fn secure_table_cell_by_cell() {
    let (cols, rows) = secure_table();
    check(true, &cols, &rows);
    // The two tables really differ where the notes say.
    let (_, normal) = parse_normal();
    let diff: usize = normal
        .iter()
        .zip(&rows)
        .map(|(a, b)| a.1.iter().zip(&b.1).filter(|(x, y)| x != y).count())
        .sum();
    // Every listed difference really changes a cell.
    assert_eq!(diff, 15);
}

#[test]
fn no_flag_closes_in_every_state_and_direction() {
    for secure in [false, true] {
        for dir in [Direction::Input, Direction::Output, Direction::InputOnly] {
            for s in TcpState::ALL {
                assert_eq!(transition(secure, dir, None, s), TcpState::Close);
            }
        }
    }
}

#[test]
fn event_from_flags_order() {
    // FIN=1 SYN=2 RST=4 PSH=8 ACK=16
    for flags in 0u8..=255 {
        let want = if flags & 4 != 0 {
            Some(TcpEvent::Rst)
        } else if flags & 2 != 0 {
            Some(TcpEvent::Syn)
        } else if flags & 1 != 0 {
            Some(TcpEvent::Fin)
        } else if flags & 16 != 0 {
            Some(TcpEvent::Ack)
        } else {
            None
        };
        assert_eq!(TcpEvent::from_flags(flags), want, "{flags:#x}");
    }
}

#[test]
fn names_and_activity() {
    let names = [
        "NONE",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "SYNACK",
    ];
    for (i, n) in names.iter().enumerate() {
        let s = TcpState::from_u8(i as u8).unwrap();
        assert_eq!(s.name(), *n);
        assert_eq!(
            s.is_active(),
            matches!(*n, "ESTABLISHED" | "SYN_SENT" | "SYN_RECV" | "SYNACK"),
            "{n}"
        );
    }
}
