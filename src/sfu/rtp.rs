//! RTP and RTCP for publishing H.264 to an SFU: a packetizer, a Sender Report builder and a feedback parser.
//! Pure: no I/O, no clock (the caller passes the times).
//!
//! - [`Packetizer`] turns one Annex-B access unit into RTP packets per RFC 6184 packetization-mode 1: a NAL unit
//!   that fits [`MAX_PAYLOAD`] is sent as it is, a larger one as FU-A fragments; the marker bit is set on the last
//!   packet of the access unit. SPS and PPS travel as their own packets in front of every IDR, because the encoder
//!   emits them there (no STAP-A: Janus relays packets unchanged, and single NAL units are what every receiver
//!   handles). webrtc-rs has an `H264Payloader`, but it holds SPS/PPS back to glue them to the next NAL unit as
//!   a STAP-A and silently drops the pair when that does not fit; this one has no state beyond the sequence number.
//! - [`sender_report`] builds the 28-byte RTCP SR sent once a second to the mountpoint's RTCP port: Janus learns
//!   from it where to send its PLIs (JANUS-FACTS §2).
//! - [`parse_rtcp`] reads what comes back (PLI, FIR, REMB inside compound packets). Network input: it never
//!   panics, and stops at the first malformed packet, keeping what it already read.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use sightline_media::h264::nal_units;

/// Largest RTP payload: with the 12-byte RTP header, 40 bytes of IPv6/UDP and room for an SFU's own SRTP and
/// header extensions, a packet still fits a 1280-byte-MTU path after the SFU re-encrypts it.
pub const MAX_PAYLOAD: usize = 1200;

/// RTP header bytes (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// Bytes of FU-A indicator and header in front of every fragment.
const FU_A_HEADER_LEN: usize = 2;
/// NAL unit type of an FU-A fragment.
const FU_A_TYPE: u8 = 28;
/// NAL unit types never sent: access unit delimiter (9) and filler data (12) carry nothing a receiver needs.
const SKIPPED_NAL_TYPES: [u8; 2] = [9, 12];

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// RTCP packet types.
const PT_SR: u8 = 200;
const PT_PSFB: u8 = 206;
/// Payload-specific feedback formats (RFC 4585, RFC 5104, draft-alvestrand-rmcat-remb).
const FMT_PLI: u8 = 1;
const FMT_FIR: u8 = 4;
const FMT_AFB: u8 = 15;

/// Turns access units into RTP packets for one stream (one SSRC, one payload type).
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: u32,
    /// The sequence number of the next packet; starts random (RFC 3550 §5.1) and wraps.
    seq: u16,
    pt: u8,
}

impl Packetizer {
    /// A packetizer for stream `ssrc` with payload type `pt` (its low 7 bits) and a random first sequence number.
    pub fn new(ssrc: u32, pt: u8) -> Self {
        Self {
            ssrc,
            seq: rand::random(),
            pt: pt & 0x7f,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Appends the RTP packets of one Annex-B access unit (start codes included) to `out`, all with timestamp
    /// `rtp_ts`, the marker bit on the last. An access unit without NAL units adds nothing.
    pub fn packetize(&mut self, au_annexb: &[u8], rtp_ts: u32, out: &mut Vec<Bytes>) {
        let first = out.len();
        for nal in nal_units(au_annexb) {
            let Some(&header) = nal.first() else { continue };
            if SKIPPED_NAL_TYPES.contains(&(header & 0x1f)) {
                continue;
            }
            if nal.len() <= MAX_PAYLOAD {
                out.push(self.packet(rtp_ts, &[], nal));
                continue;
            }
            // FU-A (RFC 6184 §5.8): the NAL header's F and NRI bits go into the indicator, its type into the FU
            // header; the header byte itself is not repeated.
            let indicator = (header & 0xe0) | FU_A_TYPE;
            let body = &nal[1..];
            let mut chunks = body.chunks(MAX_PAYLOAD - FU_A_HEADER_LEN).peekable();
            let mut start = true;
            while let Some(chunk) = chunks.next() {
                let mut fu = header & 0x1f;
                if start {
                    fu |= 0x80;
                }
                if chunks.peek().is_none() {
                    fu |= 0x40;
                }
                start = false;
                out.push(self.packet(rtp_ts, &[indicator, fu], chunk));
            }
        }
        if let Some(last) = out.get_mut(first..).and_then(|p| p.last_mut()) {
            let mut b = BytesMut::from(&last[..]);
            b[1] |= 0x80;
            *last = b.freeze();
        }
    }

    fn packet(&mut self, ts: u32, prefix: &[u8], payload: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(RTP_HEADER_LEN + prefix.len() + payload.len());
        b.put_u8(0x80); // V=2, no padding, no extension, no CSRC
        b.put_u8(self.pt); // marker set later on the last packet
        b.put_u16(self.seq);
        b.put_u32(ts);
        b.put_u32(self.ssrc);
        b.put_slice(prefix);
        b.put_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        b.freeze()
    }
}

/// The 64-bit NTP timestamp of `t` (seconds since 1900 in the high word, the fraction in the low word). Times
/// before 1970 count as 1970.
pub fn ntp_time(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// An RTCP Sender Report (RFC 3550 §6.4.1, no report blocks) for stream `ssrc`: `rtp_ts` is the RTP time
/// matching the wall-clock `ntp`; `packets` and `octets` are the packets and payload octets sent so far (they
/// wrap, as the RFC says).
pub fn sender_report(ssrc: u32, ntp: SystemTime, rtp_ts: u32, packets: u32, octets: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(28);
    b.put_u8(0x80); // V=2, no padding, RC=0
    b.put_u8(PT_SR);
    b.put_u16(6); // length in 32-bit words minus one
    b.put_u32(ssrc);
    b.put_u64(ntp_time(ntp));
    b.put_u32(rtp_ts);
    b.put_u32(packets);
    b.put_u32(octets);
    b.freeze()
}

/// What an RTCP packet from the SFU asks of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// Picture Loss Indication: send a keyframe.
    Pli,
    /// Full Intra Request: send a keyframe.
    Fir,
    /// Receiver Estimated Maximum Bitrate, bit/s (saturates at `u64::MAX`).
    Remb(u64),
    /// Any other RTCP packet (receiver report, SDES, NACK, …).
    Other,
}

/// The feedback in one RTCP datagram (a compound packet or a single one), in order. Reading stops at the first
/// packet that is not valid RTCP (wrong version, length beyond the datagram); what came before it is kept. At
/// most one entry per 4 bytes of input.
pub fn parse_rtcp(buf: &[u8]) -> Vec<Feedback> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 4 {
        if rest[0] >> 6 != 2 {
            break;
        }
        let fmt = rest[0] & 0x1f;
        let pt = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let Some(pkt) = rest.get(..len) else { break };
        rest = &rest[len..];
        out.push(match (pt, fmt) {
            // Common header, sender SSRC, media SSRC: 12 bytes at least.
            (PT_PSFB, FMT_PLI) if pkt.len() >= 12 => Feedback::Pli,
            // Plus at least one 8-byte FCI entry.
            (PT_PSFB, FMT_FIR) if pkt.len() >= 20 => Feedback::Fir,
            (PT_PSFB, FMT_AFB) => remb(pkt).map_or(Feedback::Other, Feedback::Remb),
            _ => Feedback::Other,
        });
    }
    out
}

/// The bitrate of a REMB (application-layer feedback whose FCI starts with `"REMB"`): 6-bit exponent and
/// 18-bit mantissa after the SSRC count.
fn remb(pkt: &[u8]) -> Option<u64> {
    let fci = pkt.get(12..20)?;
    if &fci[..4] != b"REMB" {
        return None;
    }
    let exp = u32::from(fci[5] >> 2);
    let mantissa =
        (u128::from(fci[5] & 0x03) << 16) | (u128::from(fci[6]) << 8) | u128::from(fci[7]);
    // 18 bits shifted by at most 63: fits a u128.
    Some(u64::try_from(mantissa << exp).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::payload_feedbacks::full_intra_request::{FirEntry, FullIntraRequest};
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::sender_report::SenderReport;
    use rtc::rtp::codec::h264::H264Packet;
    use rtc::rtp::packetizer::Depacketizer;
    use rtc::shared::marshal::{Marshal, Unmarshal};
    use std::time::Duration;

    /// Deterministic bytes without zeros (so no start code appears inside a NAL unit).
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize, nonzero: bool) -> Vec<u8> {
            (0..n)
                .map(|_| {
                    let b = self.next() as u8;
                    if nonzero { b.max(1) } else { b }
                })
                .collect()
        }
    }

    fn nal(header: u8, len: usize, rng: &mut XorShift) -> Vec<u8> {
        let mut v = vec![header];
        v.extend(rng.bytes(len - 1, true));
        v
    }

    /// SPS, PPS and a 20 kB IDR slice, each behind a 4-byte start code.
    fn idr_au(rng: &mut XorShift) -> (Vec<u8>, Vec<Vec<u8>>) {
        let nals = vec![
            nal(0x67, 25, rng),
            nal(0x68, 4, rng),
            nal(0x65, 20_000, rng),
        ];
        let mut au = Vec::new();
        for n in &nals {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(n);
        }
        (au, nals)
    }

    fn parse(p: &Bytes) -> rtc::rtp::packet::Packet {
        rtc::rtp::packet::Packet::unmarshal(&mut p.clone()).expect("valid RTP")
    }

    #[test]
    fn a_large_idr_round_trips_through_fu_a() {
        let mut rng = XorShift(0x5eed);
        let (au, nals) = idr_au(&mut rng);
        let mut p = Packetizer::new(0xdead_beef, 96);
        let mut out = Vec::new();
        p.packetize(&au, 90_000, &mut out);
        // SPS and PPS alone, the IDR in ceil(19_999 / 1198) fragments.
        assert_eq!(out.len(), 2 + 19_999usize.div_ceil(MAX_PAYLOAD - 2));
        let mut depack = H264Packet::default();
        let mut rebuilt = Vec::new();
        let first_seq = parse(&out[0]).header.sequence_number;
        for (i, pkt) in out.iter().enumerate() {
            assert!(pkt.len() <= RTP_HEADER_LEN + MAX_PAYLOAD);
            let rtp = parse(pkt);
            assert_eq!(rtp.header.version, 2);
            assert_eq!(rtp.header.payload_type, 96);
            assert_eq!(rtp.header.ssrc, 0xdead_beef);
            assert_eq!(rtp.header.timestamp, 90_000);
            assert_eq!(rtp.header.sequence_number, first_seq.wrapping_add(i as u16));
            assert_eq!(
                rtp.header.marker,
                i == out.len() - 1,
                "marker only on the last"
            );
            rebuilt.extend_from_slice(
                &depack
                    .depacketize(&rtp.payload)
                    .expect("valid H.264 payload"),
            );
        }
        assert_eq!(
            rebuilt, au,
            "webrtc-rs's depacketizer rebuilds the access unit"
        );
        // First fragment: S bit and the IDR type; indicator keeps NRI.
        let f = parse(&out[2]).payload;
        assert_eq!((f[0], f[1]), ((nals[2][0] & 0xe0) | 28, 0x80 | 5));
    }

    #[test]
    fn small_units_are_single_packets_with_the_marker_and_aud_is_skipped() {
        let mut rng = XorShift(7);
        let mut au = vec![0, 0, 1, 0x09, 0xf0];
        let slice = nal(0x41, 300, &mut rng);
        au.extend_from_slice(&[0, 0, 1]);
        au.extend_from_slice(&slice);
        let mut p = Packetizer::new(1, 96);
        let mut out = Vec::new();
        p.packetize(&au, 3000, &mut out);
        assert_eq!(out.len(), 1);
        let rtp = parse(&out[0]);
        assert!(rtp.header.marker);
        assert_eq!(&rtp.payload[..], &slice[..]);
        // Nothing to send: nothing appended, and the previous packet keeps its marker.
        p.packetize(&[0, 0, 0, 1], 6000, &mut out);
        p.packetize(&[], 6000, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut rng = XorShift(11);
        let (au, _) = idr_au(&mut rng);
        let mut p = Packetizer::new(1, 96);
        p.seq = 65_534;
        let mut out = Vec::new();
        p.packetize(&au, 0, &mut out);
        let seqs: Vec<u16> = out
            .iter()
            .map(|b| parse(b).header.sequence_number)
            .collect();
        assert_eq!(&seqs[..4], &[65_534, 65_535, 0, 1]);
        assert_eq!(p.seq, seqs.last().unwrap().wrapping_add(1));
    }

    #[test]
    fn sender_report_layout() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let sr = sender_report(0x0102_0304, t, 123_456, 10, 12_345);
        assert_eq!(sr.len(), 28);
        assert_eq!(&sr[..4], &[0x80, 200, 0, 6]);
        let parsed = SenderReport::unmarshal(&mut sr.clone()).expect("webrtc-rs reads it");
        assert_eq!(parsed.ssrc, 0x0102_0304);
        assert_eq!(parsed.rtp_time, 123_456);
        assert_eq!((parsed.packet_count, parsed.octet_count), (10, 12_345));
        assert_eq!(parsed.ntp_time >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(parsed.ntp_time & 0xffff_ffff, 1 << 31, "half a second");
        assert!(parsed.reports.is_empty());
        assert_eq!(parse_rtcp(&sr), vec![Feedback::Other]);
    }

    #[test]
    fn pli_fir_and_remb_are_recognised_alone_and_in_compounds() {
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        }
        .marshal()
        .unwrap();
        assert_eq!(pli.len(), 12, "Janus's PLI is 12 bytes");
        assert_eq!(parse_rtcp(&pli), vec![Feedback::Pli]);
        let fir = FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![FirEntry {
                ssrc: 2,
                sequence_number: 1,
            }],
        }
        .marshal()
        .unwrap();
        assert_eq!(parse_rtcp(&fir), vec![Feedback::Fir]);
        let remb = ReceiverEstimatedMaximumBitrate {
            sender_ssrc: 1,
            bitrate: 2_500_000.0,
            ssrcs: vec![2],
        }
        .marshal()
        .unwrap();
        let Feedback::Remb(bps) = parse_rtcp(&remb)[0] else {
            panic!("not a REMB: {:?}", parse_rtcp(&remb));
        };
        // 18-bit mantissa: within 2^-17 of the value.
        assert!((2_499_000..=2_500_000).contains(&bps), "{bps}");
        let rr = ReceiverReport {
            ssrc: 1,
            ..Default::default()
        }
        .marshal()
        .unwrap();
        let compound = [&rr[..], &remb[..], &pli[..], &fir[..]].concat();
        assert_eq!(
            parse_rtcp(&compound),
            vec![
                Feedback::Other,
                Feedback::Remb(bps),
                Feedback::Pli,
                Feedback::Fir
            ]
        );
        // A truncated tail keeps what came before it.
        assert_eq!(
            parse_rtcp(&compound[..rr.len() + remb.len() + 5]),
            vec![Feedback::Other, Feedback::Remb(bps)]
        );
        // Exponent 63 with a full mantissa saturates instead of overflowing.
        let mut big = remb.to_vec();
        big[17] = 0xff;
        big[18] = 0xff;
        big[19] = 0xff;
        assert_eq!(parse_rtcp(&big), vec![Feedback::Remb(u64::MAX)]);
        // An application feedback that is not a REMB.
        let mut afb = remb.to_vec();
        afb[12..16].copy_from_slice(b"ABCD");
        assert_eq!(parse_rtcp(&afb), vec![Feedback::Other]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = XorShift(0x0123_4567_89ab_cdef);
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        }
        .marshal()
        .unwrap();
        let mut p = Packetizer::new(9, 96);
        let mut out = Vec::new();
        for i in 0..20_000 {
            let len = (rng.next() % 64) as usize;
            let mut buf = rng.bytes(len, false);
            if i % 2 == 0 && !buf.is_empty() {
                // Mostly-valid headers reach the deeper branches.
                buf[0] = 0x80 | (buf[0] & 0x1f);
                if buf.len() > 1 {
                    buf[1] = [200, 201, 205, 206][i % 4];
                }
            }
            let fb = parse_rtcp(&buf);
            assert!(fb.len() <= buf.len() / 4);
            let mut mangled = [&pli[..], &buf[..]].concat();
            let cut = (rng.next() as usize) % (mangled.len() + 1);
            mangled.truncate(cut);
            let _ = parse_rtcp(&mangled);
            out.clear();
            p.packetize(&buf, 0, &mut out);
            assert!(out.iter().all(|b| b.len() <= RTP_HEADER_LEN + MAX_PAYLOAD));
        }
    }
}
