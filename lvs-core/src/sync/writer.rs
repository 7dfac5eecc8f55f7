//! [`MessageWriter`]: packs records into one datagram the way the master's
//! `ip_vs_sync_conn` fills its send buffer.

use super::error::WriteError;
use super::repr::ConnRecord;
use super::wire::SyncMessage;
use super::{HEADER_LEN, MAX_CONNS_PER_MESSAGE};

/// Builds one version-1 message in a caller buffer.
///
/// Records are appended while they fit in `maxlen` (`sync_maxlen`, 1472 by
/// default): each record after the first is preceded by zero padding to the
/// next multiple of 4 from the message start; the header's size and count
/// are kept current, so [`as_bytes`](Self::as_bytes) is a valid message at
/// every step. As in the kernel, a first record larger than `maxlen` still
/// gets a message of its own (if the buffer holds it). The count is capped
/// at 255, which the kernel does not check.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    limit: usize,
    len: usize,
    count: usize,
    syncid: u8,
}

impl<'b> MessageWriter<'b> {
    /// Starts an empty message of `syncid` in `buf`, limited to `maxlen`
    /// bytes (and to the buffer). Fails if `buf` cannot hold the header.
    pub fn new(buf: &'b mut [u8], syncid: u8, maxlen: usize) -> Result<Self, WriteError> {
        if buf.len() < HEADER_LEN {
            return Err(WriteError::BufferTooSmall {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        // The size field is 16 bits.
        let limit = maxlen.min(buf.len()).min(usize::from(u16::MAX));
        let mut w = MessageWriter {
            buf,
            limit,
            len: HEADER_LEN,
            count: 0,
            syncid,
        };
        w.write_header();
        Ok(w)
    }

    fn write_header(&mut self) {
        // len <= u16::MAX (limit) and count <= 255 hold by construction.
        SyncMessage::new_unchecked(&mut self.buf[..HEADER_LEN]).set_header(
            self.syncid,
            self.len as u16,
            self.count as u8,
        );
    }

    /// Appends `rec`. [`WriteError::Full`] means: send this message and
    /// push the record into a new one.
    pub fn push(&mut self, rec: &ConnRecord<'_>) -> Result<(), WriteError> {
        let need = rec.buffer_len();
        let pad = (4 - self.len % 4) % 4;
        let end = self.len + pad + need;
        if self.count >= MAX_CONNS_PER_MESSAGE {
            return Err(WriteError::Full {
                need: pad + need,
                left: 0,
            });
        }
        if end > self.limit {
            let cap = self.buf.len().min(usize::from(u16::MAX));
            if self.count > 0 {
                return Err(WriteError::Full {
                    need: pad + need,
                    left: self.limit.saturating_sub(self.len),
                });
            }
            if end > cap {
                return Err(WriteError::BufferTooSmall {
                    need: end,
                    have: cap,
                });
            }
        }
        let at = self.len + pad;
        rec.emit(&mut self.buf[at..end])?;
        self.buf[self.len..at].fill(0);
        self.len = end;
        self.count += 1;
        self.write_header();
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether no record was written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Message length so far, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The message so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Ends the message; returns its length.
    pub fn finish(self) -> usize {
        self.len
    }
}

/// Packs `records` into as many messages as needed, in order, each at most
/// `maxlen` bytes (a lone record larger than that gets a message of its
/// own, as in the kernel). Empty input gives no message.
#[cfg(feature = "alloc")]
pub fn encode_messages<'r, I>(
    records: I,
    syncid: u8,
    maxlen: usize,
) -> Result<alloc::vec::Vec<alloc::vec::Vec<u8>>, WriteError>
where
    I: IntoIterator<Item = &'r ConnRecord<'r>>,
{
    use alloc::vec;
    use alloc::vec::Vec;

    let cap = maxlen.max(HEADER_LEN + super::repr::MAX_RECORD_LEN);
    let mut out = Vec::new();
    let mut buf = vec![0u8; cap];
    let mut iter = records.into_iter().peekable();
    while iter.peek().is_some() {
        let mut w = MessageWriter::new(&mut buf, syncid, maxlen)?;
        while let Some(rec) = iter.peek() {
            match w.push(rec) {
                Ok(()) => {
                    iter.next();
                }
                // Never on an empty message, so every pass makes progress.
                Err(WriteError::Full { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        out.push(w.as_bytes().to_vec());
    }
    Ok(out)
}
