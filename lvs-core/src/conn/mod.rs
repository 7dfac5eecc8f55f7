//! Connections: the table, IPVS's TCP state machine and timeouts.
//!
//! A director keeps one entry per client flow (and one per persistence
//! template) and finds it for every packet, from the client side and, for
//! NAT, from the real-server side. That makes the table the hottest data
//! structure of the director, and a SYN flood makes it the first thing an
//! attacker fills. The design follows from that:
//!
//! * **No allocation, storage from the embedder.** A table is built over a
//!   slice of [`Slot`]s the embedder provides (a static array on a
//!   microcontroller, a `Vec` with `alloc`), so its size is a deployment
//!   decision and exhaustion is an ordinary [`InsertError::Full`], not an
//!   allocation failure. General-purpose maps do not fit: `heapless::IndexMap`
//!   returns wrong answers above 65,536 entries and `hashbrown` needs an
//!   allocator.
//! * **One cache line per entry, no separate index.** Entries are placed by
//!   a keyed hash of (protocol, client address, client port) with linear
//!   probing and never move, so a handle is a stable slot index and a
//!   lookup hit typically reads one line. The key is the same for inbound
//!   packets and NAT replies, as in IPVS, so both directions share one
//!   probe window. Probe windows are bounded, which bounds the cost of any
//!   hash collision an attacker might find.
//! * **Timers without scans.** A hierarchical timer wheel, linked through the
//!   slots, makes arming and refreshing O(1) and expiry amortised O(1);
//!   [`ConnTable::next_timeout`] tells an event loop how long it may sleep.
//! * **Shedding half-open entries first.** Half-open TCP entries sit on their
//!   own wheel so that [`ConnTable::evict_half_open`] (IPVS's drop_entry
//!   policy) frees room under a SYN flood without touching established
//!   connections.
//!
//! The TCP state machine ([`transition`]) is the kernel's pair of tables as
//! data, and [`Timeouts`] holds the per-state timeouts with their defaults.

pub mod entry;
pub mod hash;
pub mod table;
pub mod tcp;
pub mod timeouts;

pub use entry::{ConnAddr, ConnFlags, ConnHandle, Connection};
pub use hash::ConnHasher;
pub use table::{
    ConnMut, ConnTable, InsertError, MAX_DISPLACEMENT, MAX_SLOTS, Slot, capacity_for_slots,
    slots_for_capacity,
};
pub use tcp::{Direction, TcpEvent, TcpState, UdpState, state_name, transition, transition_raw};
pub use timeouts::{INITIAL_TIMEOUT_MS, TEMPLATE_REARM_MS, Timeouts};
