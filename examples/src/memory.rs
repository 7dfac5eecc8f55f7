//! The memory a director takes up front, stated at start and checked before anything is
//! allocated.
//!
//! Why: every worker preallocates its connection tables (lvs-core's [`ConnTable`] never grows
//! on the packet path) and its receive rings. With the default sizes that is about 134 MB per
//! worker, so `--fanout 512` asked for 69 GB and the process died on a failed allocation in
//! the middle of spawning workers. Here the figure is computed from the slot sizes lvs-core
//! uses, logged, and compared with what the kernel says is available (`MemAvailable` in
//! `/proc/meminfo`), so that an impossible configuration is refused with a message naming
//! the flags that lower it, before any socket is opened or thread spawned.
//!
//! [`ConnTable`]: lvs_core::conn::ConnTable

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use lvs_core::conn::{MAX_SLOTS, Slot, slots_for_capacity};

/// Default IPv4 connection-table capacity (entries): 2^20, IPVS's largest `conn_tab_bits`
/// (`CONFIG_IP_VS_TAB_BITS` up to 20) as the table size.
pub const DEFAULT_CONN_TABLE_V4: usize = 1 << 20;
/// Default IPv6 connection-table capacity (entries): 2^18 (IPv6 slots are twice as big).
pub const DEFAULT_CONN_TABLE_V6: usize = 1 << 18;
/// Smallest connection-table capacity a flag accepts: 2^8, IPVS's smallest `conn_tab_bits`
/// (`CONFIG_IP_VS_TAB_BITS` 8).
pub const MIN_CONN_TABLE: usize = 1 << 8;
/// Largest connection-table capacity a flag accepts: 2^27 entries (lvs-core uses at most
/// [`MAX_SLOTS`] slots, about 2^28; 2^27 entries take 2^27 × 4/3 slots).
pub const MAX_CONN_TABLE: usize = 1 << 27;
/// Share of `MemAvailable` the director may plan to take; the rest is left to the kernel
/// (socket buffers, page cache) and to the allocations that are not counted here.
pub const AVAILABLE_SHARE_PERCENT: u64 = 90;

/// Bytes one connection table of `capacity` entries of slot type `S` takes.
fn table_bytes<S>(capacity: usize) -> u64 {
    let slots = slots_for_capacity(capacity).min(MAX_SLOTS) as u64;
    slots.saturating_mul(size_of::<S>() as u64)
}

/// What one worker preallocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerMemory {
    /// IPv4 connection-table capacity (entries).
    pub conn_v4: usize,
    /// IPv6 connection-table capacity (entries).
    pub conn_v6: usize,
    /// Bytes of the IPv4 connection table (64-byte slots, 4/3 slots per entry).
    pub conn_v4_bytes: u64,
    /// Bytes of the IPv6 connection table (128-byte slots, 4/3 slots per entry).
    pub conn_v6_bytes: u64,
    /// Bytes of the worker's receive rings (all its ports).
    pub rings_bytes: u64,
}

impl WorkerMemory {
    /// The memory of one worker with these table capacities and ring bytes.
    pub fn new(conn_v4: usize, conn_v6: usize, rings_bytes: u64) -> Self {
        WorkerMemory {
            conn_v4,
            conn_v6,
            conn_v4_bytes: table_bytes::<Slot<Ipv4Addr>>(conn_v4),
            conn_v6_bytes: table_bytes::<Slot<Ipv6Addr>>(conn_v6),
            rings_bytes,
        }
    }

    /// Bytes of one worker.
    pub fn total(&self) -> u64 {
        self.conn_v4_bytes
            .saturating_add(self.conn_v6_bytes)
            .saturating_add(self.rings_bytes)
    }
}

impl fmt::Display for WorkerMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} per worker: IPv4 table {} entries {}, IPv6 table {} entries {}, rings {}",
            Bytes(self.total()),
            self.conn_v4,
            Bytes(self.conn_v4_bytes),
            self.conn_v6,
            Bytes(self.conn_v6_bytes),
            Bytes(self.rings_bytes)
        )
    }
}

/// A byte count printed in MB or GB (decimal, as `free -h --si`), or bytes when small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if self.0 >= 1_000_000_000 {
            write!(f, "{:.1} GB", b / 1e9)
        } else if self.0 >= 1_000_000 {
            write!(f, "{:.1} MB", b / 1e6)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// A plan that does not fit in the memory available.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryError {
    /// Workers asked for (`--fanout`).
    pub workers: u16,
    /// What each takes.
    pub per_worker: WorkerMemory,
    /// Bytes available (`MemAvailable`).
    pub available: u64,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} workers (--fanout {}) need {} up front ({}) but {} is available \
             (MemAvailable; at most {}% is planned): lower --conn-table-v4 (now {}) and \
             --conn-table-v6 (now {}), or --fanout",
            self.workers,
            self.workers,
            Bytes(total(self.workers, &self.per_worker)),
            self.per_worker,
            Bytes(self.available),
            AVAILABLE_SHARE_PERCENT,
            self.per_worker.conn_v4,
            self.per_worker.conn_v6,
        )
    }
}

impl std::error::Error for MemoryError {}

/// Bytes `workers` workers take.
pub fn total(workers: u16, per_worker: &WorkerMemory) -> u64 {
    per_worker.total().saturating_mul(u64::from(workers))
}

/// Whether `workers` workers fit in `available` bytes (at most [`AVAILABLE_SHARE_PERCENT`] of
/// it). Returns the total planned. With `available` unknown (no `/proc/meminfo`) nothing is
/// refused.
pub fn check_fits(
    workers: u16,
    per_worker: &WorkerMemory,
    available: Option<u64>,
) -> Result<u64, MemoryError> {
    let need = total(workers, per_worker);
    match available {
        Some(avail) if need > avail / 100 * AVAILABLE_SHARE_PERCENT => Err(MemoryError {
            workers,
            per_worker: *per_worker,
            available: avail,
        }),
        _ => Ok(need),
    }
}

/// `MemAvailable` from the text of `/proc/meminfo`, in bytes.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut it = line.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// `MemAvailable` of this host, in bytes (None where `/proc/meminfo` cannot be read).
pub fn mem_available() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// States at INFO what `workers` workers configured by `args` take (`rings_per_worker`: bytes
/// of one worker's receive rings) and refuses, before anything is allocated, a plan that does
/// not fit in this host's available memory.
pub fn check_args(
    args: &crate::cli::DirectorArgs,
    workers: u16,
    rings_per_worker: u64,
) -> Result<WorkerMemory, MemoryError> {
    let w = WorkerMemory::new(
        args.conn_table_v4 as usize,
        args.conn_table_v6 as usize,
        rings_per_worker,
    );
    let available = mem_available();
    let need = check_fits(workers, &w, available)?;
    tracing::info!(
        workers,
        total = %Bytes(need),
        available = %available.map_or("unknown".to_string(), |a| Bytes(a).to_string()),
        "memory: {w}"
    );
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tables_take_what_the_slots_say() {
        let w = WorkerMemory::new(DEFAULT_CONN_TABLE_V4, DEFAULT_CONN_TABLE_V6, 0);
        // 2^20 + 2^20/3 slots of 64 bytes; 2^18 + 2^18/3 slots of 128 bytes.
        assert_eq!(w.conn_v4_bytes, 1_398_101 * 64);
        assert_eq!(w.conn_v6_bytes, 349_525 * 128);
        assert_eq!(w.total(), 134_217_664);
        let small = WorkerMemory::new(MIN_CONN_TABLE, MIN_CONN_TABLE, 4096);
        assert_eq!(small.total(), 341 * 64 + 341 * 128 + 4096);
        assert_eq!(
            w.to_string(),
            "134.2 MB per worker: IPv4 table 1048576 entries 89.5 MB, \
             IPv6 table 262144 entries 44.7 MB, rings 0 bytes"
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let w = WorkerMemory::new(DEFAULT_CONN_TABLE_V4, DEFAULT_CONN_TABLE_V6, 1 << 22);
        let gb = 1_000_000_000;
        // One worker in 4 GB fits; 512 do not (69 GB).
        assert_eq!(check_fits(1, &w, Some(4 * gb)), Ok(w.total()));
        let e = check_fits(512, &w, Some(4 * gb)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("512 workers (--fanout 512) need 70.9 GB"),
            "{msg}"
        );
        for part in [
            "but 4.0 GB is available",
            "lower --conn-table-v4 (now 1048576) and --conn-table-v6 (now 262144), or --fanout",
            "IPv4 table 1048576 entries 89.5 MB",
        ] {
            assert!(msg.contains(part), "{part} in {msg}");
        }
        // The share: exactly 90% fits, a byte more does not.
        let one = WorkerMemory::new(MIN_CONN_TABLE, MIN_CONN_TABLE, 0);
        let avail = one.total() / 9 * 10 + 100;
        assert!(check_fits(1, &one, Some(avail)).is_ok());
        assert!(check_fits(1, &one, Some(one.total())).is_err());
        // Unknown memory refuses nothing; huge products saturate instead of wrapping.
        assert!(check_fits(u16::MAX, &w, None).is_ok());
        let max = WorkerMemory::new(MAX_CONN_TABLE, MAX_CONN_TABLE, u64::MAX);
        assert!(check_fits(2, &max, Some(u64::MAX)).is_err());
    }

    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(3_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: 5 MB\n"), None);
        assert!(mem_available().is_some_and(|b| b > 0));
    }
}
