//! Classic pcap files: replayable, deterministic input and inspectable output.
//!
//! Why: a Director driven from a pcap file needs no privileges and no namespaces, so tests and
//! benchmarks can feed it captured traffic and diff what it sends against an expected capture
//! (which Wireshark or tcpdump can open).
//!
//! The reader accepts the microsecond (`a1b2c3d4`) and nanosecond (`a1b23c4d`) magic numbers in
//! either byte order. Record lengths come from the file, so they are bounded: a record longer
//! than [`MAX_RECORD_LEN`] is an error, and a buffer is never grown past that. The writer always
//! writes native byte order.
//!
//! A capture holds frames as they were on the wire, so records are lent with
//! [`Offload::NONE`](super::Offload::NONE), and writing a frame with pending offloads is refused
//! (the default [`FrameTx::send_offload`]): a file has nowhere to keep them.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use super::{FramePort, FrameTx, OnFrame, PacketKind, RxFrame, RxMeta};

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Longest record accepted (and the snap length written): 256 KiB.
pub const MAX_RECORD_LEN: usize = 256 * 1024;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Records lent in one [`FramePort::recv_batch`] call at most.
const READ_BATCH: usize = 64;

/// Timestamp resolution of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// Microseconds (the classic format).
    Micro,
    /// Nanoseconds.
    Nano,
}

/// What went wrong reading or writing a pcap file.
#[derive(Debug)]
#[non_exhaustive]
pub enum PcapError {
    /// The underlying reader or writer failed.
    Io(io::Error),
    /// The file does not start with a pcap magic number.
    BadMagic(u32),
    /// The file holds another link type than the caller wanted.
    UnsupportedLinkType(u32),
    /// A record's captured length is over [`MAX_RECORD_LEN`].
    RecordTooLong {
        /// The captured length the record header claims.
        len: u32,
    },
    /// The file ends inside a header or a record.
    Truncated,
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "pcap I/O: {e}"),
            Self::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            Self::UnsupportedLinkType(l) => write!(f, "pcap link type {l} is not Ethernet"),
            Self::RecordTooLong { len } => {
                write!(f, "pcap record of {len} bytes exceeds {MAX_RECORD_LEN}")
            }
            Self::Truncated => write!(f, "pcap file ends inside a header or record"),
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<PcapError> for io::Error {
    fn from(e: PcapError) -> Self {
        match e {
            PcapError::Io(e) => e,
            PcapError::Truncated => io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// The header of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// Bytes captured (the length of the record's data).
    pub caplen: usize,
    /// Length of the frame on the wire.
    pub orig_len: usize,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end of file before the first byte.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, PcapError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(PcapError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// A pcap file reader.
#[derive(Debug)]
pub struct PcapReader<R> {
    r: R,
    swapped: bool,
    resolution: TsResolution,
    linktype: u32,
    snaplen: u32,
}

impl<R: Read> PcapReader<R> {
    /// Reads the global header.
    pub fn new(mut r: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        if !read_full(&mut r, &mut h)? {
            return Err(PcapError::Truncated);
        }
        let magic = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, resolution) = match magic {
            MAGIC_MICROS => (false, TsResolution::Micro),
            MAGIC_NANOS => (false, TsResolution::Nano),
            m if m.swap_bytes() == MAGIC_MICROS => (true, TsResolution::Micro),
            m if m.swap_bytes() == MAGIC_NANOS => (true, TsResolution::Nano),
            m => return Err(PcapError::BadMagic(m)),
        };
        let mut me = Self {
            r,
            swapped,
            resolution,
            linktype: 0,
            snaplen: 0,
        };
        me.snaplen = me.u32_at(&h, 16);
        me.linktype = me.u32_at(&h, 20) & 0x0fff_ffff;
        Ok(me)
    }

    fn u32_at(&self, b: &[u8], off: usize) -> u32 {
        let v = u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
        if self.swapped { v.swap_bytes() } else { v }
    }

    /// The file's link type (`LINKTYPE_*`).
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The file's snap length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The file's timestamp resolution.
    pub fn resolution(&self) -> TsResolution {
        self.resolution
    }

    /// Reads the next record into `buf` (replacing its contents); `Ok(None)` at the end.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let mut h = [0u8; 16];
        if !read_full(&mut self.r, &mut h)? {
            return Ok(None);
        }
        let sec = self.u32_at(&h, 0);
        let frac = self.u32_at(&h, 4);
        let caplen = self.u32_at(&h, 8);
        let orig_len = self.u32_at(&h, 12);
        if caplen as usize > MAX_RECORD_LEN {
            return Err(PcapError::RecordTooLong { len: caplen });
        }
        let nanos = match self.resolution {
            TsResolution::Micro => u64::from(frac) * 1_000,
            TsResolution::Nano => u64::from(frac),
        };
        let timestamp = Duration::from_secs(u64::from(sec)) + Duration::from_nanos(nanos);
        buf.clear();
        buf.resize(caplen as usize, 0);
        if caplen > 0 && !read_full(&mut self.r, buf)? {
            return Err(PcapError::Truncated);
        }
        Ok(Some(RecordHeader {
            timestamp,
            caplen: caplen as usize,
            orig_len: (orig_len as usize).max(caplen as usize),
        }))
    }
}

/// A pcap file writer (native byte order, Ethernet unless told otherwise).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    resolution: TsResolution,
}

impl<W: Write> PcapWriter<W> {
    /// Writes an Ethernet global header.
    pub fn new(w: W, resolution: TsResolution) -> Result<Self, PcapError> {
        Self::with_linktype(w, resolution, LINKTYPE_ETHERNET)
    }

    /// Writes a global header with the given link type.
    pub fn with_linktype(
        mut w: W,
        resolution: TsResolution,
        linktype: u32,
    ) -> Result<Self, PcapError> {
        let magic = match resolution {
            TsResolution::Micro => MAGIC_MICROS,
            TsResolution::Nano => MAGIC_NANOS,
        };
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&magic.to_ne_bytes());
        h.extend_from_slice(&2u16.to_ne_bytes());
        h.extend_from_slice(&4u16.to_ne_bytes());
        h.extend_from_slice(&0i32.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h.extend_from_slice(&(MAX_RECORD_LEN as u32).to_ne_bytes());
        h.extend_from_slice(&linktype.to_ne_bytes());
        w.write_all(&h)?;
        Ok(Self { w, resolution })
    }

    /// Appends one record. Frames longer than [`MAX_RECORD_LEN`] are refused.
    pub fn write(&mut self, timestamp: Duration, frame: &[u8]) -> Result<(), PcapError> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|l| *l as usize <= MAX_RECORD_LEN)
            .ok_or(PcapError::RecordTooLong {
                len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            })?;
        let frac = match self.resolution {
            TsResolution::Micro => timestamp.subsec_micros(),
            TsResolution::Nano => timestamp.subsec_nanos(),
        };
        let sec = u32::try_from(timestamp.as_secs()).unwrap_or(u32::MAX);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_ne_bytes());
        h[4..8].copy_from_slice(&frac.to_ne_bytes());
        h[8..12].copy_from_slice(&len.to_ne_bytes());
        h[12..16].copy_from_slice(&len.to_ne_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(frame)?;
        Ok(())
    }

    /// Flushes buffered records.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.w.flush().map_err(PcapError::Io)
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.flush()?;
        Ok(self.w)
    }
}

/// A frame port over pcap files: frames are read from one file and sent frames are appended to
/// another (stamped with the time of the frame being handled, so a replay is deterministic).
#[derive(Debug)]
pub struct PcapPort<R: Read, W: Write> {
    name: String,
    reader: PcapReader<R>,
    writer: Option<PcapWriter<W>>,
    record: Vec<u8>,
    buf: Vec<u8>,
    headroom: usize,
    last_ts: Duration,
}

impl PcapPort<BufReader<File>, BufWriter<File>> {
    /// Opens `input` for reading and, if given, creates `output` (nanosecond resolution).
    /// The input must be an Ethernet capture.
    pub fn open(input: &Path, output: Option<&Path>) -> Result<Self, PcapError> {
        let reader = PcapReader::new(BufReader::new(File::open(input)?))?;
        let writer = match output {
            Some(p) => Some(PcapWriter::new(
                BufWriter::new(File::create(p)?),
                TsResolution::Nano,
            )?),
            None => None,
        };
        Self::new(input.display().to_string(), reader, writer)
    }
}

impl<R: Read, W: Write> PcapPort<R, W> {
    /// Builds a port from a reader and an optional writer. The reader must be Ethernet.
    pub fn new(
        name: String,
        reader: PcapReader<R>,
        writer: Option<PcapWriter<W>>,
    ) -> Result<Self, PcapError> {
        if reader.linktype() != LINKTYPE_ETHERNET {
            return Err(PcapError::UnsupportedLinkType(reader.linktype()));
        }
        Ok(Self {
            name,
            reader,
            writer,
            record: Vec::new(),
            buf: Vec::new(),
            headroom: super::DEFAULT_HEADROOM,
            last_ts: Duration::ZERO,
        })
    }

    /// The output writer, if any (to flush or take it at the end).
    pub fn writer_mut(&mut self) -> Option<&mut PcapWriter<W>> {
        self.writer.as_mut()
    }
}

/// The transmit half lent during a receive.
struct PcapTx<'a, W: Write> {
    writer: Option<&'a mut PcapWriter<W>>,
    ts: Duration,
}

impl<W: Write> FrameTx for PcapTx<'_, W> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.write(self.ts, frame).map_err(io::Error::from),
            None => Ok(()),
        }
    }
}

impl<R: Read, W: Write> FrameTx for PcapPort<R, W> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        PcapTx {
            writer: self.writer.as_mut(),
            ts: self.last_ts,
        }
        .send(frame)
    }
}

impl<R: Read, W: Write> FramePort for PcapPort<R, W> {
    fn name(&self) -> &str {
        &self.name
    }

    /// Lends up to 64 records; the timeout is ignored (a file never waits). Returns
    /// [`io::ErrorKind::UnexpectedEof`] once the file is exhausted.
    fn recv_batch(
        &mut self,
        _timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize> {
        let mut n = 0;
        while n < READ_BATCH {
            let Some(h) = self.reader.next_into(&mut self.record)? else {
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "end of pcap input",
                    ));
                }
                break;
            };
            self.buf.clear();
            self.buf.resize(self.headroom, 0);
            self.buf.extend_from_slice(&self.record);
            self.last_ts = h.timestamp;
            let meta = RxMeta {
                timestamp: h.timestamp,
                kind: PacketKind::Host,
                wire_len: h.orig_len,
                csum_partial: false,
                offload: super::Offload::NONE,
            };
            let mut tx = PcapTx {
                writer: self.writer.as_mut(),
                ts: h.timestamp,
            };
            on_frame(RxFrame::new(&mut self.buf, self.headroom, meta), &mut tx);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sample(res: TsResolution) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), res).unwrap();
        w.write(Duration::new(1_700_000_000, 123_456_789), &[1, 2, 3])
            .unwrap();
        w.write(Duration::new(5, 0), &[]).unwrap();
        w.into_inner().unwrap()
    }

    /// Rewrites a native-order file into the other byte order.
    fn swap_file(native: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let sw32 = |b: &[u8]| {
            u32::from_ne_bytes(b.try_into().unwrap())
                .swap_bytes()
                .to_ne_bytes()
        };
        let sw16 = |b: &[u8]| {
            u16::from_ne_bytes(b.try_into().unwrap())
                .swap_bytes()
                .to_ne_bytes()
        };
        out.extend_from_slice(&sw32(&native[0..4]));
        out.extend_from_slice(&sw16(&native[4..6]));
        out.extend_from_slice(&sw16(&native[6..8]));
        for off in (8..24).step_by(4) {
            out.extend_from_slice(&sw32(&native[off..off + 4]));
        }
        let mut p = 24;
        while p < native.len() {
            for off in (p..p + 16).step_by(4) {
                out.extend_from_slice(&sw32(&native[off..off + 4]));
            }
            let caplen = u32::from_ne_bytes(native[p + 8..p + 12].try_into().unwrap()) as usize;
            out.extend_from_slice(&native[p + 16..p + 16 + caplen]);
            p += 16 + caplen;
        }
        out
    }

    fn read_all(bytes: Vec<u8>) -> (TsResolution, Vec<(RecordHeader, Vec<u8>)>) {
        let mut r = PcapReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!(r.linktype(), LINKTYPE_ETHERNET);
        assert_eq!(r.snaplen(), MAX_RECORD_LEN as u32);
        let mut v = Vec::new();
        let mut buf = Vec::new();
        while let Some(h) = r.next_into(&mut buf).unwrap() {
            v.push((h, buf.clone()));
        }
        (r.resolution(), v)
    }

    #[test]
    fn round_trips_both_resolutions_and_byte_orders() {
        for res in [TsResolution::Micro, TsResolution::Nano] {
            let native = sample(res);
            for bytes in [native.clone(), swap_file(&native)] {
                let (got_res, recs) = read_all(bytes);
                assert_eq!(got_res, res);
                assert_eq!(recs.len(), 2);
                let want_ns = match res {
                    TsResolution::Micro => 123_456_000,
                    TsResolution::Nano => 123_456_789,
                };
                assert_eq!(recs[0].0.timestamp, Duration::new(1_700_000_000, want_ns));
                assert_eq!(recs[0].1, vec![1, 2, 3]);
                assert_eq!(recs[0].0.orig_len, 3);
                assert_eq!(recs[1].0.timestamp, Duration::new(5, 0));
                assert!(recs[1].1.is_empty());
            }
        }
    }

    #[test]
    fn rejects_bad_magic_oversized_and_truncated_records() {
        assert!(matches!(
            PcapReader::new(Cursor::new(vec![0u8; 24])),
            Err(PcapError::BadMagic(0))
        ));
        assert!(matches!(
            PcapReader::new(Cursor::new(vec![0xd4, 0xc3])),
            Err(PcapError::Truncated)
        ));

        let mut big = sample(TsResolution::Micro)[..24].to_vec();
        big.extend_from_slice(&[0; 8]);
        big.extend_from_slice(&u32::MAX.to_ne_bytes());
        big.extend_from_slice(&u32::MAX.to_ne_bytes());
        let mut r = PcapReader::new(Cursor::new(big)).unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            r.next_into(&mut buf),
            Err(PcapError::RecordTooLong { len: u32::MAX })
        ));
        assert!(buf.capacity() < MAX_RECORD_LEN);

        let full = sample(TsResolution::Micro);
        for cut in 25..full.len() {
            let mut r = PcapReader::new(Cursor::new(full[..cut].to_vec())).unwrap();
            let mut results = Vec::new();
            loop {
                match r.next_into(&mut buf) {
                    Ok(Some(_)) => results.push(()),
                    Ok(None) => break,
                    Err(e) => {
                        assert!(matches!(e, PcapError::Truncated), "cut {cut}: {e}");
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn writer_refuses_oversized_frames() {
        let mut w = PcapWriter::new(Vec::new(), TsResolution::Micro).unwrap();
        let big = vec![0u8; MAX_RECORD_LEN + 1];
        assert!(matches!(
            w.write(Duration::ZERO, &big),
            Err(PcapError::RecordTooLong { .. })
        ));
    }

    #[test]
    fn port_replays_and_records() {
        let input = PcapReader::new(Cursor::new(sample(TsResolution::Nano))).unwrap();
        let out = PcapWriter::new(Vec::new(), TsResolution::Nano).unwrap();
        let mut port = PcapPort::new("mem".into(), input, Some(out)).unwrap();
        let mut seen = Vec::new();
        let n = port
            .recv_batch(None, &mut |mut f: RxFrame<'_>, tx: &mut dyn FrameTx| {
                assert_eq!(f.headroom(), crate::io::DEFAULT_HEADROOM);
                seen.push(f.data().to_vec());
                if let Some(b) = f.data_mut().first_mut() {
                    *b = 9;
                }
                tx.send(f.data()).unwrap();
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, vec![vec![1, 2, 3], vec![]]);
        let err = port.recv_batch(None, &mut |_, _| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let bytes = port.writer.take().unwrap().into_inner().unwrap();
        let (_, recs) = read_all(bytes);
        assert_eq!(recs[0].1, vec![9, 2, 3]);
        assert_eq!(
            recs[0].0.timestamp,
            Duration::new(1_700_000_000, 123_456_789)
        );
    }
}
