//! A device wrapper that writes every received and transmitted frame to a pcap file.
//!
//! The classic libpcap format (magic `0xa1b2c3d4`, version 2.4, microsecond timestamps), which
//! tcpdump, Wireshark and scapy read. Timestamps are the `now` passed in, so a capture of a
//! virtual-time test shows virtual time. Frames pass through untouched and uncopied; the only
//! cost is the write into a buffered writer. A write error stops the capture (counted, and
//! reported by [`PcapDevice::finish`]) rather than failing the data path.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use xdptcp_stack::iface::{DeviceCaps, Medium};
use xdptcp_stack::time::Instant;

use crate::device::{Device, FrameId, FrameList};

/// Classic pcap magic (microsecond timestamps), written in the host's byte order.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// LINKTYPE_RAW (raw IPv4/IPv6, no link header).
pub const LINKTYPE_RAW: u32 = 101;
/// Largest frame recorded whole; longer frames are truncated in the file.
pub const SNAPLEN: u32 = 65_535;

/// Captures the traffic of an inner device. See the [module documentation](self).
#[derive(Debug)]
pub struct PcapDevice<D, W: Write = BufWriter<File>> {
    inner: D,
    out: W,
    error: Option<io::ErrorKind>,
    records: u64,
}

impl<D: Device> PcapDevice<D, BufWriter<File>> {
    /// Captures into a new file at `path` (truncated if it exists).
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Self> {
        PcapDevice::new(inner, BufWriter::new(File::create(path)?))
    }
}

impl<D: Device, W: Write> PcapDevice<D, W> {
    /// Captures into `out`; writes the file header now.
    pub fn new(inner: D, mut out: W) -> io::Result<Self> {
        let linktype = match inner.caps().medium {
            Medium::Ethernet => LINKTYPE_ETHERNET,
            Medium::Ip => LINKTYPE_RAW,
        };
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&PCAP_MAGIC.to_ne_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_ne_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_ne_bytes());
        // thiszone and sigfigs stay zero.
        hdr[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
        hdr[20..24].copy_from_slice(&linktype.to_ne_bytes());
        out.write_all(&hdr)?;
        Ok(PcapDevice { inner, out, error: None, records: 0 })
    }

    /// Frames recorded so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The first write error, if the capture stopped.
    pub fn error(&self) -> Option<io::ErrorKind> {
        self.error
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Flushes the capture and returns the inner device and the writer, or the first error.
    pub fn finish(mut self) -> io::Result<(D, W)> {
        if let Some(kind) = self.error {
            return Err(io::Error::new(kind, "pcap capture stopped on a write error"));
        }
        self.out.flush()?;
        Ok((self.inner, self.out))
    }

    fn record(out: &mut W, error: &mut Option<io::ErrorKind>, now: Instant, frame: &[u8]) -> bool {
        if error.is_some() {
            return false;
        }
        let micros = now.total_micros();
        let incl = frame.len().min(SNAPLEN as usize);
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_ne_bytes());
        hdr[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_ne_bytes());
        hdr[8..12].copy_from_slice(&(incl as u32).to_ne_bytes());
        hdr[12..16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        let res = out.write_all(&hdr).and_then(|()| out.write_all(&frame[..incl]));
        if let Err(e) = res {
            *error = Some(e.kind());
            return false;
        }
        true
    }
}

impl<D: Device, W: Write> Device for PcapDevice<D, W> {
    fn caps(&self) -> DeviceCaps {
        self.inner.caps()
    }

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    fn receive(&mut self, now: Instant, out: &mut FrameList) {
        let before = out.len();
        self.inner.receive(now, out);
        for &id in &out.as_slice()[before..] {
            if Self::record(&mut self.out, &mut self.error, now, self.inner.frame(id)) {
                self.records += 1;
            }
        }
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        self.inner.frame(id)
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        self.inner.frame_mut(id)
    }

    fn release(&mut self, id: FrameId) {
        self.inner.release(id);
    }

    fn allocate(&mut self, now: Instant) -> Option<FrameId> {
        self.inner.allocate(now)
    }

    fn transmit(&mut self, now: Instant, id: FrameId, len: usize) {
        let frame = self.inner.frame(id);
        let n = len.min(frame.len());
        if Self::record(&mut self.out, &mut self.error, now, &frame[..n]) {
            self.records += 1;
        }
        self.inner.transmit(now, id, len);
    }

    fn flush(&mut self, now: Instant) {
        self.inner.flush(now);
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn wait(&mut self, timeout: std::time::Duration) {
        self.inner.wait(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::LoopbackPair;

    /// A minimal reader of what we write: (linktype, [(ts_micros, orig_len, bytes)]).
    fn parse(file: &[u8]) -> (u32, Vec<(u64, u32, Vec<u8>)>) {
        let u32_at =
            |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        assert_eq!(u32_at(file, 0), PCAP_MAGIC);
        assert_eq!(u16::from_ne_bytes([file[4], file[5]]), 2);
        assert_eq!(u16::from_ne_bytes([file[6], file[7]]), 4);
        assert_eq!(u32_at(file, 16), SNAPLEN);
        let linktype = u32_at(file, 20);
        let mut at = 24;
        let mut recs = Vec::new();
        while at < file.len() {
            let ts = u64::from(u32_at(file, at)) * 1_000_000 + u64::from(u32_at(file, at + 4));
            let incl = u32_at(file, at + 8) as usize;
            let orig = u32_at(file, at + 12);
            recs.push((ts, orig, file[at + 16..at + 16 + incl].to_vec()));
            at += 16 + incl;
        }
        (linktype, recs)
    }

    fn frame(tag: u8, len: usize) -> Vec<u8> {
        // Broadcast Ethernet frame with an unknown EtherType and a tagged payload.
        let mut f = vec![tag; len];
        f[..6].fill(0xff);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, tag]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    #[test]
    fn records_rx_and_tx_with_timestamps() {
        let (mut a, b) = LoopbackPair::default().build();
        let mut cap = PcapDevice::new(b, Vec::new()).expect("vec writes cannot fail");
        let t1 = Instant::from_micros(1_500_000);
        for tag in [1u8, 2] {
            let mut tx = a.tx_batch(t1);
            let mut buf = tx.buffer().expect("free buffer");
            let f = frame(tag, 60 + usize::from(tag));
            buf[..f.len()].copy_from_slice(&f);
            buf.send(f.len());
        }
        assert_eq!(cap.rx_batch(t1, &mut FrameList::default()).len(), 2);
        let t2 = Instant::from_micros(2_000_007);
        {
            let mut tx = cap.tx_batch(t2);
            let mut buf = tx.buffer().expect("free buffer");
            let f = frame(3, 100);
            buf[..100].copy_from_slice(&f);
            buf.send(100);
            let unsent = tx.buffer().expect("free buffer");
            drop(unsent); // not recorded: it never left
        }
        assert_eq!(cap.records(), 3);
        let (_, bytes) = cap.finish().expect("no write error");
        let (linktype, recs) = parse(&bytes);
        assert_eq!(linktype, LINKTYPE_ETHERNET);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0], (1_500_000, 61, frame(1, 61)));
        assert_eq!(recs[1], (1_500_000, 62, frame(2, 62)));
        assert_eq!(recs[2], (2_000_007, 100, frame(3, 100)));
        // The frame reached the other end unchanged.
        let mut ids = FrameList::default();
        let rx = a.rx_batch(t2, &mut ids);
        assert_eq!(rx.frame(0), Some(&frame(3, 100)[..]));
    }

    #[test]
    fn tcpdump_reads_the_capture() {
        let Ok(out) = std::process::Command::new("tcpdump").arg("--version").output() else {
            eprintln!("skipped: tcpdump not installed");
            return;
        };
        assert!(out.status.success());
        let path = std::env::temp_dir().join(format!("xdptcp-pcap-{}.pcap", std::process::id()));
        let (mut a, b) = LoopbackPair::default().build();
        let mut cap = PcapDevice::create(b, &path).expect("temp file");
        for tag in 1..=4u8 {
            let mut tx = a.tx_batch(Instant::from_millis(u64::from(tag)));
            let mut buf = tx.buffer().expect("free buffer");
            buf[..64].copy_from_slice(&frame(tag, 64));
            buf.send(64);
        }
        assert_eq!(cap.rx_batch(Instant::from_millis(9), &mut FrameList::default()).len(), 4);
        cap.finish().expect("flush");
        let out = std::process::Command::new("tcpdump")
            .args(["-n", "-e", "-r"])
            .arg(&path)
            .output()
            .expect("tcpdump runs");
        let _ = std::fs::remove_file(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let records = text.lines().filter(|l| l.starts_with("00:00:00.00")).count();
        assert_eq!(records, 4, "{text}");
        assert!(text.contains("02:00:00:00:00:03 > ff:ff:ff:ff:ff:ff"), "{text}");
    }
}
