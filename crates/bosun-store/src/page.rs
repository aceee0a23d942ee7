//! Listing in pages: a [`Page`] asks for at most `limit` items after a
//! [`Cursor`], and a [`Listed`] answers with the items and the cursor of the
//! next page (none after the last). A cursor is opaque: the backend that
//! made it encodes a position in its own order, and it is good only for
//! the same listing (same filter) of the same backend.

/// Where a listing continues, as the backend encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor of a backend's own encoding.
    pub fn new(position: impl Into<String>) -> Cursor {
        Cursor(position.into())
    }

    /// The encoded position.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of a listing: at most `limit` items after `after` (from the
/// start when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The cursor of the previous page's answer.
    pub after: Option<Cursor>,
    /// The most items to return.
    pub limit: usize,
}

impl Page {
    /// The first page of at most `limit` items.
    pub fn first(limit: usize) -> Page {
        Page { after: None, limit }
    }

    /// The page of at most `limit` items after `cursor`.
    pub fn after(cursor: Cursor, limit: usize) -> Page {
        Page {
            after: Some(cursor),
            limit,
        }
    }
}

/// The items of one page, and where the next one starts (`None`: this was
/// the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// The cursor of the next page, if there are more items.
    pub next: Option<Cursor>,
}

/// Pages an answer is read in by the provided methods that return a whole
/// listing (`events`, `blockers`).
pub const ALL_PAGE: usize = 10_000;

/// Reads every page of a listing, in order.
pub(crate) fn all_pages<T>(
    mut page: impl FnMut(&Page) -> crate::Result<Listed<T>>,
) -> crate::Result<Vec<T>> {
    let mut out = Vec::new();
    let mut at = Page::first(ALL_PAGE);
    loop {
        let l = page(&at)?;
        out.extend(l.items);
        match l.next {
            Some(c) => at = Page::after(c, ALL_PAGE),
            None => return Ok(out),
        }
    }
}
