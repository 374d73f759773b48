//! The in-memory buffer of one day partition: events that are in the WAL but
//! not yet in a segment. Strings are interned as they arrive, so a day of
//! repetitive logs costs little memory; a flush turns it into a segment.

use super::codec::{self, FxMap, NNUM, NTEXT};
use crate::IncomingEvent;

#[derive(Default)]
pub struct Interner {
    pub strs: Vec<Box<str>>,
    map: FxMap<Box<str>, u32>,
}

impl Interner {
    #[inline]
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.map.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        self.strs.push(s.into());
        self.map.insert(s.into(), id);
        id
    }
    pub fn get(&self, s: &str) -> Option<u32> { self.map.get(s).copied() }
}

/// A tuple holds the string id + 1 of every text field (0 = absent).
pub type Tuple = [u32; NTEXT];

#[derive(Clone, Copy)]
pub struct Row {
    pub time: i64,
    pub pc: u32,
    /// User id + 1; 0 = none.
    pub user: u32,
    pub tuple: u32,
    pub kind: u8,
    pub mask: u8,
    pub nums: [u64; NNUM],
}

#[derive(Default)]
pub struct MemPart {
    pub strings: Interner,
    pub pcs: Interner,
    pub users: Interner,
    pub tuples: Vec<Tuple>,
    tuple_map: FxMap<Tuple, u32>,
    pub rows: Vec<Row>,
}

impl MemPart {
    pub fn push(&mut self, e: &IncomingEvent) {
        let ev = &e.event;
        let mut t: Tuple = [0; NTEXT];
        for (i, s) in codec::texts(&ev.detail).iter().enumerate() {
            if let Some(s) = s {
                t[i] = self.strings.id(s) + 1;
            }
        }
        let tuple = match self.tuple_map.get(&t) {
            Some(&id) => id,
            None => {
                let id = self.tuples.len() as u32;
                self.tuples.push(t);
                self.tuple_map.insert(t, id);
                id
            }
        };
        let (mask, nums) = codec::nums(&ev.detail, ev.time_ms);
        let row = Row {
            time: ev.time_ms,
            pc: self.pcs.id(&ev.pc),
            user: ev.user.as_deref().map(|u| self.users.id(u) + 1).unwrap_or(0),
            tuple,
            kind: ev.kind.code(),
            mask,
            nums,
        };
        self.rows.push(row);
    }

    pub fn tuple_texts(&self, t: u32) -> [Option<String>; NTEXT] {
        let tup = &self.tuples[t as usize];
        std::array::from_fn(|i| if tup[i] == 0 { None } else { Some(self.strings.strs[tup[i] as usize - 1].to_string()) })
    }

    /// Tuples whose texts contain every word (folded); brute force over the distinct strings.
    pub fn match_words(&self, words: &[String]) -> codec::FxSet<u32> {
        let mut result: Option<codec::FxSet<u32>> = None;
        for w in words {
            let strs: Vec<bool> = self.strings.strs.iter().map(|s| codec::folded(s).contains(w.as_str())).collect();
            let set: codec::FxSet<u32> = self
                .tuples
                .iter()
                .enumerate()
                .filter(|(_, t)| t.iter().any(|&s| s != 0 && strs[s as usize - 1]))
                .map(|(i, _)| i as u32)
                .collect();
            result = Some(match result {
                None => set,
                Some(prev) => prev.intersection(&set).copied().collect(),
            });
        }
        result.unwrap_or_default()
    }
}
