//! Randomness from the operating system.

/// The operating system's CSPRNG (`getrandom(2)` on Linux), as the `CryptoRng` the core takes.
///
/// It panics only if the operating system cannot provide randomness at all, in which case no
/// key or nonce could be made safely anyway.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// `N` random bytes as hex digits, for names that must not clash (temporary files, uploads).
pub(crate) fn random_hex<const N: usize>() -> String {
    let r: [u8; N] = cairn_core::random_bytes(&mut os_rng());
    r.iter().map(|b| format!("{b:02x}")).collect()
}
