//! CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of every journal
//! record and file header.
//!
//! Two implementations with the same results: slicing-by-8 tables (portable) and the SSE4.2
//! `crc32` instruction (`_mm_crc32_u64`, 8 bytes per instruction), picked at run time when the CPU
//! has it. This module holds the journal's only `unsafe`: calling the `#[target_feature]`
//! function after the runtime check.
#![allow(unsafe_code)]

const POLY: u32 = 0x82F6_3B78;

/// Slicing-by-8 tables, computed at compile time.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

/// Continues a CRC32C over `data` with the portable tables (`crc` is a previous result, 0 to
/// start).
pub fn crc32c_sw(crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ t[0][((c ^ u32::from(b)) & 0xff) as usize];
    }
    !c
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn crc32c_sse42(crc: u32, data: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let mut c = u64::from(!crc);
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(ch);
        c = _mm_crc32_u64(c, u64::from_le_bytes(w));
    }
    let mut c = c as u32;
    for &b in chunks.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    !c
}

/// Whether the SSE4.2 path is used on this CPU.
pub fn hardware_accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sse4.2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Continues a CRC32C over `data` (`crc` is a previous result, 0 to start): SSE4.2 when the CPU
/// has it, tables otherwise.
///
/// ```
/// use lpscore::journal::crc32c::crc32c;
/// assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
/// assert_eq!(crc32c(crc32c(0, b"1234"), b"56789"), 0xE306_9283);
/// ```
#[inline]
pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2 (checked just above, cached by std), which is the
            // only requirement of this `#[target_feature]` function; it reads only `data`.
            return unsafe { crc32c_sse42(crc, data) };
        }
    }
    crc32c_sw(crc, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 (iSCSI) B.4 test vectors and the classic check value.
        assert_eq!(crc32c_sw(0, b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_sw(0, &[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c_sw(0, &[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c_sw(0, &inc), 0x46DD_794E);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c_sw(0, &dec), 0x113F_DB5C);
        assert_eq!(crc32c_sw(0, b""), 0);
    }

    #[test]
    fn hardware_matches_tables() {
        let data: Vec<u8> = (0..4099u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4000] {
                let s = &data[start..start + len];
                assert_eq!(crc32c(0, s), crc32c_sw(0, s), "start {start} len {len}");
                let (a, b) = s.split_at(len / 3);
                assert_eq!(crc32c(crc32c(0, a), b), crc32c_sw(0, s));
            }
        }
    }
}
