//! Zstandard level 3 for the pure-Rust encoder: the match finder of zstd's level 3.
//!
//! ruzstd writes valid Zstandard frames but only implements a level-1-like match finder
//! (`CompressionLevel::Default`, level 3, panics as unimplemented). The ratio of a zstd level is
//! decided by its match finder; the entropy stage (Huffman literals, FSE sequence tables) is
//! ruzstd's. This module is zstd's level-3 match finder, the "double fast" strategy with the
//! parameters of zstd's table for inputs over 256 KiB (`clevels.h`): window 2^21 bytes,
//! long table 2^17 entries hashed on 8 bytes, short table 2^16 entries hashed on 5 bytes, a
//! repeat-offset check, and a step that grows with the distance from the last match (search
//! strength 8). It plugs into ruzstd through its public `Matcher` trait.
//!
//! Measured against the reference libzstd (`tests/level3.rs`): libzstd decodes every frame, and
//! the frames are 8% larger than `zstd -3` on recordings and text, 28% on executables, the cost
//! of ruzstd's entropy stage, which has no repeat-offset codes (a stricter match finder was
//! tried and only made it worse); they are 17–27% smaller than ruzstd's own `Fastest`.

use ruzstd::encoding::{CompressionLevel, Matcher, Sequence};

const WINDOW_LOG: u32 = 21;
const LONG_HASH_LOG: u32 = 17;
const SHORT_HASH_LOG: u32 = 16;
/// zstd's `minMatch` for level 3: the short table hashes this many bytes.
const SHORT_MATCH: u32 = 5;
/// zstd's `kSearchStrength`: after 2^8 bytes without a match the step grows by one.
const SEARCH_STRENGTH: u32 = 8;
/// The largest block ruzstd accepts (the format's limit).
const BLOCK_SIZE: usize = 128 * 1024;
const NONE: u32 = u32::MAX;

/// zstd's level-3 match finder over ruzstd's `Matcher` interface. Positions are absolute within
/// the frame (a chunk of at most 16 MiB, so `u32` is enough); `history` keeps the window before
/// the current block plus the block itself, starting at absolute position `base`.
pub struct Level3Matcher {
    history: Vec<u8>,
    base: usize,
    /// Absolute start of the last committed block.
    block_start: usize,
    long_table: Vec<u32>,
    short_table: Vec<u32>,
    /// The last two match offsets (zstd's `rep[0]`, `rep[1]`).
    rep: [usize; 2],
    spare: Option<Vec<u8>>,
}

impl Default for Level3Matcher {
    fn default() -> Self {
        Level3Matcher {
            history: Vec::new(),
            base: 0,
            block_start: 0,
            long_table: vec![NONE; 1 << LONG_HASH_LOG],
            short_table: vec![NONE; 1 << SHORT_HASH_LOG],
            rep: [1, 4],
            spare: None,
        }
    }
}

fn read64(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

fn read32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// zstd's `ZSTD_hash8`.
fn hash_long(v: u64) -> usize {
    (v.wrapping_mul(0xCF1B_BCDC_B7A5_6463) >> (64 - LONG_HASH_LOG)) as usize
}

/// zstd's `ZSTD_hash5`: the low five bytes only.
fn hash_short(v: u64) -> usize {
    ((v << (64 - 8 * SHORT_MATCH)).wrapping_mul(889_523_592_379) >> (64 - SHORT_HASH_LOG)) as usize
}

/// Length of the common prefix of `data[a..]` and `data[b..]`, not reading at or past `end`.
fn common_length(data: &[u8], a: usize, b: usize, end: usize) -> usize {
    let n = end - a.max(b);
    data[a..a + n]
        .iter()
        .zip(&data[b..b + n])
        .take_while(|(x, y)| x == y)
        .count()
}

impl Level3Matcher {
    fn window() -> usize {
        1 << WINDOW_LOG
    }

    /// Index into `history` of absolute position `abs`.
    fn at(&self, abs: usize) -> usize {
        abs - self.base
    }

    /// True when the table entry `candidate` can be matched from absolute position `pos`.
    fn usable(&self, candidate: u32, pos: usize) -> bool {
        candidate != NONE
            && (candidate as usize) >= self.base
            && (candidate as usize) < pos
            && pos - candidate as usize <= Self::window()
    }

    fn insert(&mut self, abs: usize) {
        let v = read64(&self.history, self.at(abs));
        self.long_table[hash_long(v)] = abs as u32;
        self.short_table[hash_short(v)] = abs as u32;
    }

    /// Inserts every position of the last block that has 8 bytes to hash (for blocks that are
    /// stored without matching, so that later blocks can still refer to them).
    fn insert_block(&mut self) {
        let end = self.base + self.history.len();
        let mut pos = self.block_start;
        while pos + 8 <= end {
            self.insert(pos);
            pos += 1;
        }
    }

    /// Finds the matches of the last block (zstd's `ZSTD_compressBlock_doubleFast`, without
    /// dictionaries) and reports them as sequences.
    fn find_matches(&mut self, mut emit: impl FnMut(usize, usize, usize, usize)) -> usize {
        let end = self.base + self.history.len();
        let start = self.block_start;
        // The last position that still has 8 bytes to hash.
        let limit = end.saturating_sub(8);
        let mut anchor = start;
        // zstd never matches the very first byte of a frame.
        let mut ip = if start == 0 { 1 } else { start };
        while ip < limit {
            let cur = read64(&self.history, self.at(ip));
            let (hl, hs) = (hash_long(cur), hash_short(cur));
            let (long_cand, short_cand) = (self.long_table[hl], self.short_table[hs]);
            self.long_table[hl] = ip as u32;
            self.short_table[hs] = ip as u32;

            let found = self.repeat_match(ip, end).or_else(|| {
                if self.usable(long_cand, ip)
                    && read64(&self.history, self.at(long_cand as usize)) == cur
                {
                    return Some((ip, long_cand as usize));
                }
                if self.usable(short_cand, ip)
                    && read32(&self.history, self.at(short_cand as usize)) == cur as u32
                {
                    // A long match one byte later beats the short one (zstd's `_search_next_long`).
                    let next = ip + 1;
                    let hl1 = hash_long(read64(&self.history, self.at(next)));
                    let long1 = self.long_table[hl1];
                    self.long_table[hl1] = next as u32;
                    if self.usable(long1, next)
                        && read64(&self.history, self.at(long1 as usize))
                            == read64(&self.history, self.at(next))
                    {
                        return Some((next, long1 as usize));
                    }
                    return Some((ip, short_cand as usize));
                }
                None
            });
            let Some((mut at, mut from)) = found else {
                ip += ((ip - anchor) >> SEARCH_STRENGTH) + 1;
                continue;
            };
            // Extend backwards over literals that also match.
            while at > anchor
                && from > self.base
                && self.history[self.at(at - 1)] == self.history[self.at(from - 1)]
            {
                at -= 1;
                from -= 1;
            }
            let len = common_length(&self.history, self.at(at), self.at(from), self.at(end));
            let offset = at - from;
            emit(anchor, at, offset, len);
            self.rep = [offset, self.rep[0]];
            let match_end = at + len;
            // Fill the tables with two positions of the match (zstd's choice: cheap and enough).
            for p in [ip + 2, match_end.saturating_sub(2)] {
                if p > ip && p + 8 <= end && p < match_end {
                    self.insert(p);
                }
            }
            ip = match_end;
            anchor = ip;
            // Immediate repeats of the second-last offset, as zstd checks right after a match.
            while ip < limit {
                let r = self.rep[1];
                if r == 0 || r > ip - self.base {
                    break;
                }
                if read32(&self.history, self.at(ip)) != read32(&self.history, self.at(ip - r)) {
                    break;
                }
                let len = common_length(&self.history, self.at(ip), self.at(ip - r), self.at(end));
                self.rep.swap(0, 1);
                self.insert(ip);
                emit(anchor, ip, r, len);
                ip += len;
                anchor = ip;
            }
        }
        anchor
    }

    /// A match at `ip + 1` with the last offset (zstd checks this first at every position).
    fn repeat_match(&self, ip: usize, end: usize) -> Option<(usize, usize)> {
        let r = self.rep[0];
        let next = ip + 1;
        if r == 0 || r > next - self.base || next + 4 > end {
            return None;
        }
        (read32(&self.history, self.at(next)) == read32(&self.history, self.at(next - r)))
            .then_some((next, next - r))
    }
}

impl Matcher for Level3Matcher {
    fn get_next_space(&mut self) -> Vec<u8> {
        let mut space = self.spare.take().unwrap_or_default();
        space.clear();
        space.resize(BLOCK_SIZE, 0);
        space
    }

    fn get_last_space(&mut self) -> &[u8] {
        let from = self.at(self.block_start);
        &self.history[from..]
    }

    fn commit_space(&mut self, space: Vec<u8>) {
        // Keep the window before the new block; drop older bytes once they are a window's worth.
        let keep = Self::window();
        if self.history.len() > 2 * keep {
            let drop = self.history.len() - keep;
            self.history.drain(..drop);
            self.base += drop;
        }
        self.block_start = self.base + self.history.len();
        self.history.extend_from_slice(&space);
        self.spare = Some(space);
    }

    fn skip_matching(&mut self) {
        self.insert_block();
    }

    fn start_matching(&mut self, mut handle_sequence: impl for<'a> FnMut(Sequence<'a>)) {
        let mut found = Vec::new();
        let anchor = self
            .find_matches(|lit_start, at, offset, len| found.push((lit_start, at, offset, len)));
        // ruzstd's FSE table builder panics when every sequence of a block has the literal
        // length code 0 (a one-symbol distribution). Then the first match gives up its first
        // byte as a literal: same offset, one byte shorter (matches are at least 4 long).
        if found.iter().all(|(lit_start, at, _, _)| lit_start == at) {
            if let Some(first) = found.first_mut() {
                first.1 += 1;
                first.3 -= 1;
            }
        }
        for (lit_start, at, offset, len) in found {
            handle_sequence(Sequence::Triple {
                literals: &self.history[lit_start - self.base..at - self.base],
                offset,
                match_len: len,
            });
        }
        let end = self.base + self.history.len();
        if anchor < end {
            handle_sequence(Sequence::Literals {
                literals: &self.history[anchor - self.base..],
            });
        }
    }

    fn reset(&mut self, _level: CompressionLevel) {
        let spare = self.spare.take();
        *self = Level3Matcher {
            spare,
            ..Level3Matcher::default()
        };
    }

    fn window_size(&self) -> u64 {
        Self::window() as u64
    }
}
