//! Checks of the paged listings (`ops_page`, `rejections_page`,
//! `events_page`, `blockers_page`): pages walked by their cursors give
//! every item once, in the order of one big page, and the last page has no
//! cursor.

use bosun_model::OpState;

use super::fixtures::*;
use crate::records::*;
use crate::{Backend, Cursor, Listed, Page, StoreError};

/// Walks a listing in pages of `size` and returns every item.
fn walk<T: std::fmt::Debug>(
    size: usize,
    mut page: impl FnMut(&Page) -> crate::Result<Listed<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut at = Page::first(size);
    for _ in 0..1000 {
        let l = page(&at).unwrap();
        assert!(l.items.len() <= size, "a page holds at most its limit");
        out.extend(l.items);
        match l.next {
            Some(c) => at = Page::after(c, size),
            None => return out,
        }
    }
    panic!("a listing that never ends")
}

/// Ops, rejections, events and blockers page through their cursors, and
/// a cursor a listing did not make is refused.
pub fn lists_page_with_a_cursor(b: &dyn Backend) {
    let ops: Vec<NewOp> = (0..7)
        .map(|i| {
            let mut op = new_op(
                &format!("pg{i}"),
                "claude",
                i + 1,
                &["h1"],
                false,
                OpState::Approved,
            );
            // Two ops per second: the order within a second is the
            // backend's insertion order.
            op.received_at = 100 + i64::try_from(i / 2).unwrap_or(0);
            op
        })
        .collect();
    b.submit_ops(&ops, &[]).unwrap();
    let all = b.list_ops(None, 100).unwrap();
    assert_eq!(all.len(), 7);
    for size in [1, 2, 3, 7, 8] {
        let paged = walk(size, |p| b.ops_page(None, p));
        assert_eq!(paged, all, "ops in pages of {size}");
        let running = walk(size, |p| b.ops_page(Some(OpState::Running), p));
        assert!(running.is_empty());
    }
    let last = b.ops_page(None, &Page::first(7)).unwrap();
    assert_eq!(last.next, None, "a page that holds the rest is the last");

    let rej = rejection;
    for n in 0..5 {
        b.record_rejection(&rej(n)).unwrap();
    }
    let messages: Vec<String> = walk(2, |p| b.rejections_page(p))
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(messages, ["bad 4", "bad 3", "bad 2", "bad 1", "bad 0"]);

    let events = b.events(None).unwrap();
    assert_eq!(walk(3, |p| b.events_page(None, p)), events);
    let one = jti("pg3");
    assert_eq!(
        walk(1, |p| b.events_page(Some(&one), p)),
        b.events(Some(&one)).unwrap()
    );

    for i in 0..5 {
        b.file_blocker(&NewBlocker {
            kind: "bar".into(),
            subject: format!("h{i}"),
            reason: "bar failed".into(),
            owner: "operator".into(),
            filed_by: "controller".into(),
            op: None,
            at: 100,
        })
        .unwrap();
    }
    let newest = b.blockers(true).unwrap();
    b.resolve_blocker(newest[1].id, "alice", "fixed", 101)
        .unwrap();
    let newest = b.blockers(true).unwrap();
    assert_eq!(newest.len(), 5);
    assert_eq!(walk(2, |p| b.blockers_page(true, p)), newest);
    let active: Vec<u64> = walk(2, |p| b.blockers_page(false, p))
        .iter()
        .map(|x| x.id)
        .collect();
    let expect: Vec<u64> = newest
        .iter()
        .filter(|x| x.id != newest[1].id)
        .map(|x| x.id)
        .collect();
    assert_eq!(active, expect);

    let bad = b.ops_page(None, &Page::after(Cursor::new("not a cursor"), 2));
    assert!(matches!(bad, Err(StoreError::BadCursor { .. })), "{bad:?}");
}
