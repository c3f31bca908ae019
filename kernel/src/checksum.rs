//! The parameter checksum of checkpoints, the playground and the firmware: FNV-1a 64 over
//! the little-endian bytes of each value's `to_bits()`, so a checkpoint, a browser run and a
//! firmware run of the same parameters print the same 16 hex digits.

/// FNV-1a 64 offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `bytes` into the running FNV-1a 64 hash `h`.
pub fn fnv1a_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a 64 of `params` (their bits, little-endian), starting from [`FNV_OFFSET`].
pub fn fnv1a_f32(params: &[f32]) -> u64 {
    params.iter().fold(FNV_OFFSET, |h, p| {
        fnv1a_bytes(h, &p.to_bits().to_le_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" it is the published value.
        assert_eq!(fnv1a_bytes(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_bytes(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        // 1.0f32 = 0x3f800000, little-endian bytes 00 00 80 3f.
        assert_eq!(
            fnv1a_f32(&[1.0]),
            fnv1a_bytes(FNV_OFFSET, &[0x00, 0x00, 0x80, 0x3f])
        );
    }
}
