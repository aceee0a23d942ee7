//! Times on the wire: [`Timestamp`] (RFC 3339 in JSON), made from the Unix
//! seconds the store keeps.

pub use jiff::Timestamp;

/// The instant `secs` Unix seconds name, clamped to the range a
/// [`Timestamp`] can hold (a corrupt or absurd stored value never panics).
pub fn at(secs: i64) -> Timestamp {
    let s = secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Like [`at`], for the store's "0 means never" fields: `None` for 0 or
/// less.
pub fn at_opt(secs: i64) -> Option<Timestamp> {
    (secs > 0).then(|| at(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_on_the_wire() {
        let j = serde_json::to_string(&at(1_796_559_795)).unwrap();
        assert_eq!(j, "\"2026-12-06T12:23:15Z\"");
        assert_eq!(at_opt(0), None);
    }

    proptest! {
        #[test]
        fn any_i64_is_a_time(s in any::<i64>()) {
            let _ = at(s);
            let _ = at_opt(s);
        }
    }
}
