//! Hash slots: CRC16-XMODEM (poly 0x1021, init 0) of the key's hash tag.

/// Number of hash slots in a cluster.
pub const SLOT_COUNT: u16 = 16384;

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// `CRC16[k][v]`: the CRC of byte `v` followed by `k` zero bytes. The CRC
/// is linear, so four bytes (the register XORed into the first two) are
/// four independent lookups instead of a chain of four: every keyed
/// command computes its key's slot, and the byte-at-a-time chain showed in
/// profiles of pipelined GETs.
static CRC16: [[u16; 256]; 4] = {
    let one = crc16_table();
    let mut tables = [one; 4];
    let mut k = 1;
    while k < 4 {
        let mut v = 0;
        while v < 256 {
            let crc = tables[k - 1][v];
            tables[k][v] = (crc << 8) ^ one[(crc >> 8) as usize];
            v += 1;
        }
        k += 1;
    }
    tables
};

/// CRC16-XMODEM of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let [t0, t1, t2, t3] = &CRC16;
    let mut chunks = data.chunks_exact(4);
    let mut crc = 0u16;
    for c in &mut chunks {
        crc = t3[((crc >> 8) as u8 ^ c[0]) as usize] ^ t2[(crc as u8 ^ c[1]) as usize] ^ t1[c[2] as usize] ^ t0[c[3] as usize];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| (crc << 8) ^ t0[((crc >> 8) as u8 ^ b) as usize])
}

/// The part of the key that is hashed: the text between the first `{` and
/// the first `}` after it, when that is non-empty; otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key)
        && let Some(len) = memchr::memchr(b'}', &key[open + 1..])
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// The hash slot of `key`, in `0..SLOT_COUNT`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOT_COUNT - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // CRC16-XMODEM check value and Redis Cluster's documented examples.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    proptest! {
        #[test]
        fn slot_in_range(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!(key_slot(&key) < SLOT_COUNT);
        }

        #[test]
        fn tagged_keys_share_a_slot(tag in "[a-z0-9]{1,10}", a in "[a-z0-9]{0,10}", b in "[a-z0-9]{0,10}") {
            let k1 = format!("{a}{{{tag}}}x");
            let k2 = format!("{b}{{{tag}}}y{b}");
            prop_assert_eq!(key_slot(k1.as_bytes()), key_slot(k2.as_bytes()));
            prop_assert_eq!(key_slot(k1.as_bytes()), key_slot(tag.as_bytes()));
        }

        #[test]
        fn bitwise_crc_matches_table(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut crc: u16 = 0;
            for &b in &data {
                crc ^= (b as u16) << 8;
                for _ in 0..8 {
                    crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
                }
            }
            prop_assert_eq!(crc16(&data), crc);
        }
    }
}
