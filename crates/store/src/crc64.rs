//! CRC-64/Jones, the checksum Redis puts at the end of a DUMP payload and
//! an RDB file (reflected polynomial `0x95ac9329ac4bc9b5`, initial value 0,
//! no final xor): `crc64(0, "123456789") == 0xe9c6d914c4b8d9ca`.
//!
//! Why this one rather than a crate: no well-kept CRC-64 crate is in the
//! lock file, and using Redis's own checksum means a Redis payload restored
//! here (or ours there) fails on its version, not on a checksum that only
//! one side can compute. Slice-by-8 tables (built at compile time) keep it
//! off the profile of DUMP and slot migration: a byte at a time it would
//! cost more than the encoding itself.

/// The reflected Jones polynomial.
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// `TABLES[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
static TABLES: [[u64; 256]; 8] = tables();

const fn tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// Continues the checksum `crc` over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = crc ^ u64::from_le_bytes(word);
        crc = (0..8).fold(0, |acc, i| acc ^ TABLES[7 - i][((x >> (8 * i)) & 0xff) as usize]);
    }
    for &b in chunks.remainder() {
        crc = TABLES[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bit at a time, straight from the definition.
    fn slow(data: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            }
        }
        crc
    }

    #[test]
    fn matches_redis_check_value() {
        // Redis's crc64.c self-test.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        // The footer of redis-server 7.0.15's `DUMP` of the string "hello":
        // type 0, length 5, the bytes, RDB version 10, then the CRC (LE).
        let body = b"\x00\x05hello\x0a\x00";
        assert_eq!(crc64(0, body).to_le_bytes(), *b"\x63\x72\xdf\x76\x65\x34\x20\x0a");
    }

    #[test]
    fn slicing_agrees_with_the_definition_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(crc64(0, &data[..len]), slow(&data[..len]), "{len}");
        }
        let split = crc64(crc64(0, &data[..77]), &data[77..]);
        assert_eq!(split, slow(&data));
    }
}
