//! Segment files and frames (FORMAT.md §3–§4).
//!
//! A log directory holds segment files named `<first seq, 20 digits>.seg`.
//! Each starts with a 40-byte header and continues with frames:
//! `type (1) | length (u32 BE) | payload | crc32 (u32 BE)`, the CRC (zlib's
//! CRC-32) covering type, length and payload. The CRC only detects torn
//! writes; tampering is detected by the hash chain and the signatures.

use super::AuditError;
use std::path::{Path, PathBuf};

/// The segment file magic.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ORCHAUDT";
/// The format version new logs are written in.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this code reads (and extends: a log keeps the
/// version it was created with, FORMAT.md §12).
pub const OLDEST_VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub const HEADER_LEN: usize = 40;
/// Frame type of a record.
pub const FRAME_RECORD: u8 = b'R';
/// Frame type of a checkpoint.
pub const FRAME_CHECKPOINT: u8 = b'C';
/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = 9;
/// The largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 1 << 24;

const CRC_TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), eight bytes at a time.
pub fn crc32(data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut c = 0xFFFF_FFFFu32;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xFF) as usize]
            ^ t[2][((hi >> 8) & 0xFF) as usize]
            ^ t[1][((hi >> 16) & 0xFF) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// A segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version (1 or 2; every segment of a log has its log's).
    pub version: u32,
    /// The log this segment belongs to.
    pub log_id: [u8; 16],
    /// Sequence number of the first record in the segment.
    pub first_seq: u64,
}

impl SegmentHeader {
    /// Encode the header (40 bytes).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&self.version.to_be_bytes());
        out[12..28].copy_from_slice(&self.log_id);
        out[28..36].copy_from_slice(&self.first_seq.to_be_bytes());
        let crc = crc32(&out[..36]);
        out[36..40].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decode a header; `Err` says why it is invalid.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if buf.len() < HEADER_LEN {
            return Err(HeaderError::Truncated(buf.len()));
        }
        if buf[..8] != SEGMENT_MAGIC {
            return Err(HeaderError::Magic);
        }
        let version = be32(&buf[8..12]);
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        if crc32(&buf[..36]) != be32(&buf[36..40]) {
            return Err(HeaderError::Crc);
        }
        let mut log_id = [0u8; 16];
        log_id.copy_from_slice(&buf[12..28]);
        Ok(SegmentHeader { version, log_id, first_seq: be64(&buf[28..36]) })
    }
}

/// Why a segment header is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    #[error("segment header truncated ({0} of {HEADER_LEN} bytes)")]
    Truncated(usize),
    /// Not the segment magic.
    #[error("bad segment magic")]
    Magic,
    /// A format version this build does not read.
    #[error("unsupported format version {0}")]
    Version(u32),
    /// The header's CRC does not match.
    #[error("segment header CRC mismatch")]
    Crc,
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

pub(crate) fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Append one frame to `out`.
pub fn encode_frame(ty: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(ty);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The outcome of reading one frame at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRead {
    /// A valid frame: its type, payload range, and the offset just after it.
    Frame {
        /// `FRAME_RECORD` or `FRAME_CHECKPOINT`.
        ty: u8,
        /// Start of the payload.
        payload_start: usize,
        /// End of the payload (exclusive).
        payload_end: usize,
        /// Offset of the next frame.
        next: usize,
    },
    /// No valid frame here. `reaches_eof` is true when the bad frame is the
    /// last thing in the buffer (its declared end is at or past the end, or
    /// its header is incomplete, or everything left is zero bytes): in the
    /// last segment that is a torn write, anywhere else it is damage.
    Bad {
        /// Why the frame is invalid.
        reason: String,
        /// Whether this is a candidate torn tail.
        reaches_eof: bool,
    },
}

/// Read the frame starting at `at` (which must be `< buf.len()`).
pub fn read_frame(buf: &[u8], at: usize) -> FrameRead {
    let rest = &buf[at..];
    let zeros = rest.iter().all(|&b| b == 0);
    if rest.len() < FRAME_OVERHEAD {
        return FrameRead::Bad { reason: format!("incomplete frame ({} bytes)", rest.len()), reaches_eof: true };
    }
    let ty = rest[0];
    let len = be32(&rest[1..5]) as usize;
    let end = FRAME_OVERHEAD.saturating_add(len);
    if len > MAX_PAYLOAD {
        return FrameRead::Bad {
            reason: format!("frame length {len} exceeds the maximum"),
            reaches_eof: end >= rest.len() || zeros,
        };
    }
    if end > rest.len() {
        return FrameRead::Bad {
            reason: format!("frame of {end} bytes extends past the end of the segment"),
            reaches_eof: true,
        };
    }
    let reaches_eof = end == rest.len() || zeros;
    if crc32(&rest[..5 + len]) != be32(&rest[5 + len..end]) {
        return FrameRead::Bad { reason: "frame CRC mismatch".into(), reaches_eof };
    }
    if ty != FRAME_RECORD && ty != FRAME_CHECKPOINT {
        return FrameRead::Bad { reason: format!("unknown frame type 0x{ty:02x}"), reaches_eof };
    }
    FrameRead::Frame { ty, payload_start: at + 5, payload_end: at + 5 + len, next: at + end }
}

/// Whether the invalid frame at `at`, which [`read_frame`] found to reach the
/// end of the buffer, is a torn write: no valid frame starts after it. A torn
/// write is a prefix of one write, so nothing complete can follow the tear;
/// a damaged length field in front of valid frames is damage, not a tear.
pub fn is_torn_tail(buf: &[u8], at: usize) -> bool {
    (at + 1..buf.len()).all(|p| {
        let ty = buf[p];
        if (ty != FRAME_RECORD && ty != FRAME_CHECKPOINT) || buf.len() - p < FRAME_OVERHEAD {
            return true;
        }
        !matches!(read_frame(buf, p), FrameRead::Frame { .. })
    })
}

/// One step of a [`FrameStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streamed {
    /// A valid frame at offset `at`; its payload is [`FrameStream::payload`].
    Frame {
        /// `FRAME_RECORD` or `FRAME_CHECKPOINT`.
        ty: u8,
        /// Offset of the frame in the segment.
        at: u64,
    },
    /// No valid frame at `at` (see [`FrameRead::Bad`]); `torn` says whether
    /// [`is_torn_tail`] holds for the rest of the segment.
    Bad {
        /// Offset of the invalid frame.
        at: u64,
        /// Why it is invalid.
        reason: String,
        /// Whether the bad frame reaches the end of the segment.
        reaches_eof: bool,
        /// Whether no valid frame follows it.
        torn: bool,
    },
    /// The end of the segment.
    End,
}

/// Reads a segment's frames one at a time, so verifying holds one frame in
/// memory, not the segment. Only a damaged or torn tail is read whole, to be
/// classified exactly as [`read_frame`] and [`is_torn_tail`] would.
pub struct FrameStream {
    file: std::io::BufReader<std::fs::File>,
    pos: u64,
    len: u64,
    frame: Vec<u8>,
}

impl FrameStream {
    /// Open a segment: returns the stream (positioned after the header) and the
    /// header bytes (fewer than [`HEADER_LEN`] if the file is shorter).
    pub fn open(path: &Path) -> std::io::Result<(FrameStream, Vec<u8>)> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = std::io::BufReader::with_capacity(256 << 10, file);
        let mut header = vec![0u8; (len as usize).min(HEADER_LEN)];
        file.read_exact(&mut header)?;
        let pos = header.len() as u64;
        Ok((FrameStream { file, pos, len, frame: Vec::new() }, header))
    }

    /// The segment's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload of the frame last returned as [`Streamed::Frame`].
    pub fn payload(&self) -> &[u8] {
        self.frame.get(5..self.frame.len().saturating_sub(4)).unwrap_or(&[])
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> std::io::Result<Streamed> {
        use std::io::Read;
        let at = self.pos;
        let remaining = self.len - self.pos;
        if remaining == 0 {
            return Ok(Streamed::End);
        }
        if remaining >= FRAME_OVERHEAD as u64 {
            let mut head = [0u8; 5];
            self.file.read_exact(&mut head)?;
            let n = be32(&head[1..5]) as usize;
            let total = FRAME_OVERHEAD + n;
            if n <= MAX_PAYLOAD && total as u64 <= remaining {
                self.frame.clear();
                self.frame.extend_from_slice(&head);
                self.frame.resize(total, 0);
                self.file.read_exact(&mut self.frame[5..])?;
                if let FrameRead::Frame { ty, .. } = read_frame(&self.frame, 0) {
                    self.pos += total as u64;
                    return Ok(Streamed::Frame { ty, at });
                }
            }
        }
        // Invalid here: classify it on the rest of the segment, as the in-memory
        // reader would.
        use std::io::Seek;
        self.file.seek(std::io::SeekFrom::Start(at))?;
        let mut rest = Vec::with_capacity(remaining as usize);
        self.file.read_to_end(&mut rest)?;
        self.pos = self.len;
        match read_frame(&rest, 0) {
            FrameRead::Bad { reason, reaches_eof } => {
                let torn = reaches_eof && is_torn_tail(&rest, 0);
                Ok(Streamed::Bad { at, reason, reaches_eof, torn })
            }
            // The bytes changed between the two reads (a writer is active).
            FrameRead::Frame { .. } => Ok(Streamed::Bad {
                at,
                reason: "the segment changed while it was being read".into(),
                reaches_eof: false,
                torn: false,
            }),
        }
    }
}

/// The file name of the segment whose first record has sequence `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// A segment file found in a log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// First sequence number, from the file name.
    pub first_seq: u64,
    /// File name.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
}

/// List the segment files of a log directory, in order. Other files are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, AuditError> {
    let rd = std::fs::read_dir(dir).map_err(|e| AuditError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| AuditError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else { continue };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(first_seq) = stem.parse::<u64>() else { continue };
        out.push(SegmentFile { first_seq, name: name.to_string(), path: entry.path() });
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // zlib.crc32(bytes(range(256)) * 3) and of its 37-byte prefix
        let data: Vec<u8> = (0..768).map(|i| i as u8).collect();
        assert_eq!(crc32(&data), 0xB0C0_DF2A);
        assert_eq!(crc32(&data[..37]), 0x8222_EFE9);
    }

    #[test]
    fn header_roundtrip_and_damage() {
        let h = SegmentHeader { version: FORMAT_VERSION, log_id: [7; 16], first_seq: 42 };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        let mut bad = b;
        bad[30] ^= 1;
        assert!(SegmentHeader::decode(&bad).is_err());
        assert!(SegmentHeader::decode(&b[..39]).is_err());
    }

    #[test]
    fn frames_and_torn_tails() {
        let mut buf = Vec::new();
        encode_frame(FRAME_RECORD, b"hello", &mut buf);
        let one = buf.len();
        encode_frame(FRAME_CHECKPOINT, b"world", &mut buf);
        assert!(matches!(read_frame(&buf, 0), FrameRead::Frame { ty: FRAME_RECORD, next, .. } if next == one));
        // A cut second frame is a torn tail; a damaged first one is not.
        assert!(matches!(read_frame(&buf[..buf.len() - 1], one), FrameRead::Bad { reaches_eof: true, .. }));
        let mut dmg = buf.clone();
        dmg[6] ^= 1;
        assert!(matches!(read_frame(&dmg, 0), FrameRead::Bad { reaches_eof: false, .. }));
    }
}
