//! What the fuzz targets share: how an input that picks a file or syntax
//! with its first byte is read, and the seed workspace's ledger key.

/// `keys/ledger.vkey` of the throwaway workspace the ledger seeds
/// (`fuzz/seeds/ledger/`) come from.
pub const LEDGER_VKEY: &str = "seedws+c57f2f67+AapxROGmy8TsnsklqjOXL8+vbjxAmmjlyAyyq/XfV0QL";

/// The first byte (which file or syntax) and the rest as text, as the
/// product reads a file; `None` when there is no first byte or the rest is
/// not UTF-8 (a file that is not text never reaches a parser).
pub fn picked_text(data: &[u8]) -> Option<(u8, &str)> {
    let (&pick, rest) = data.split_first()?;
    Some((pick, std::str::from_utf8(rest).ok()?))
}
