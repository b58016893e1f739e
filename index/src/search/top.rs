//! Documents of a snapshot with a score, and the bounded heap that keeps the best `n` of a
//! candidate pass (lexical, vector or place).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A document of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocRef {
    pub segment: usize,
    pub ord: u32,
}

/// A document with a score, ordered best first (ties: lower segment, then lower ordinal).
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub doc: DocRef,
    pub score: f32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then_with(|| self.doc.cmp(&other.doc))
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `n` best of what it is offered.
#[derive(Debug)]
pub(crate) struct TopN {
    n: usize,
    heap: BinaryHeap<Scored>,
}

impl TopN {
    pub(crate) fn new(n: usize) -> TopN {
        TopN { n, heap: BinaryHeap::with_capacity(n + 1) }
    }

    pub(crate) fn offer(&mut self, item: Scored) {
        if self.n == 0 {
            return;
        }
        if self.heap.len() == self.n {
            let worst = self.heap.peek().expect("n > 0");
            if item >= *worst {
                return;
            }
        }
        self.heap.push(item);
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    /// The score a document must beat to enter, once `n` are kept.
    pub(crate) fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.n).then(|| self.heap.peek().map(|worst| worst.score)).flatten()
    }

    /// Best first.
    pub(crate) fn into_sorted(self) -> Vec<Scored> {
        let mut items = self.heap.into_vec();
        items.sort();
        items
    }
}
