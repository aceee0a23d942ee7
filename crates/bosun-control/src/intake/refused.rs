//! A refusal's words, bounded: what an unauthenticated sender can make a
//! recorded refusal say is cut at [`MAX_REFUSAL_MESSAGE`] bytes.

use bosun_api::Check;

use super::Rejected;

/// The longest refusal message kept: a refusal is recorded (and entered
/// in the ledger) whoever sent the input, so what an unauthenticated
/// sender can make it say is bounded.
pub const MAX_REFUSAL_MESSAGE: usize = 512;

/// A refusal by `check` (its message cut at [`MAX_REFUSAL_MESSAGE`]
/// bytes, on a character boundary).
pub(crate) fn reject(check: Check, message: impl Into<String>, jti: Option<String>) -> Rejected {
    let mut message = message.into();
    if cut(&mut message, MAX_REFUSAL_MESSAGE) {
        message.push('…');
    }
    let jti = jti.map(|mut j| {
        cut(&mut j, MAX_REFUSAL_MESSAGE);
        j
    });
    Rejected {
        check,
        message,
        jti,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary; whether it
/// was cut.
fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    true
}
