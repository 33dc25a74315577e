//! Sparse paged memory with an incrementally maintained Merkle root.
//!
//! Memory is held in 4 KiB pages, allocated on first write. Writes only mark
//! pages dirty; hashing happens when a root or a path is asked for, and then
//! only dirty pages and their ancestors are rehashed. Execution never hashes.
//! The hashes above the pages are shared between clones until written, like
//! the pages, so the checkpoints and snapshots a trace keeps of a large image
//! cost only what each one changed. A run of read-only pages can be mapped
//! from words held elsewhere ([`Memory::map_rom`]): a model's weights are
//! then held once, by the engine that computes on them and the image alike.

use std::sync::Arc;

use alloy_primitives::B256;
use rayon::prelude::*;

use crate::keccak::{hash_leaf_pairs, hash_pairs};
use crate::merkle::{LEAF_BITS, LEAF_SIZE, Leaf, Path, TREE_DEPTH, ZERO_HASHES};

/// log2 of the page size.
pub const PAGE_BITS: u32 = 12;
/// Bytes in a page.
pub const PAGE_SIZE: usize = 1 << PAGE_BITS;
/// log2 of the pages in one chunk of the page table.
const CHUNK_BITS: u32 = 10;
/// Pages in one chunk of the page table.
const CHUNK_PAGES: usize = 1 << CHUNK_BITS;
/// Chunks covering the 4 GiB address space.
const NUM_CHUNKS: usize = 1 << (32 - PAGE_BITS - CHUNK_BITS);
/// Height of a page's own subtree (leaves to page root).
const PAGE_HEIGHT: usize = (PAGE_BITS - LEAF_BITS) as usize;
/// Levels from page roots to the memory root.
const UPPER_HEIGHT: usize = TREE_DEPTH - PAGE_HEIGHT;
/// Leaves in a page.
const PAGE_LEAVES: usize = PAGE_SIZE / LEAF_SIZE;
/// Nodes of a page's subtree above its leaves.
const PAGE_NODES: usize = PAGE_LEAVES - 1;
/// Dirty pages from which rehashing is spread over threads.
const PARALLEL_PAGES: usize = 64;
/// log2 of the nodes in one block of a level above the pages.
const BLOCK_BITS: u32 = 8;
/// Nodes in one block of a level above the pages (8 KiB of hashes).
const BLOCK_NODES: usize = 1 << BLOCK_BITS;

#[derive(Clone)]
struct Page {
    data: [u8; PAGE_SIZE],
    /// The page's subtree root, valid unless the page is dirty.
    root: B256,
    dirty: bool,
}

impl Page {
    fn zeroed() -> Page {
        Page {
            data: [0; PAGE_SIZE],
            root: ZERO_HASHES[PAGE_HEIGHT],
            dirty: false,
        }
    }

    fn rehash(&mut self) {
        self.root = page_root(&self.data);
        self.dirty = false;
    }
}

/// The leaf at `index_in_page` of a page's bytes.
fn page_leaf(data: &[u8; PAGE_SIZE], index_in_page: usize) -> Leaf {
    let start = index_in_page * LEAF_SIZE;
    data[start..start + LEAF_SIZE]
        .try_into()
        .expect("leaf inside page")
}

/// Every node of a page's subtree above its leaves, one level after
/// another from the leaves' parents (level `k` starts at
/// [`level_start`]`(k)`) to the page root, last. Each level is hashed as
/// one batch, and on the stack: rehashing every page of a large image
/// allocates nothing.
fn page_nodes(data: &[u8; PAGE_SIZE]) -> [B256; PAGE_NODES] {
    let mut nodes = [B256::ZERO; PAGE_NODES];
    hash_leaf_pairs(data, &mut nodes[..PAGE_LEAVES / 2]);
    for k in 1..PAGE_HEIGHT {
        let (below, above) = nodes.split_at_mut(level_start(k));
        hash_pairs(
            &below[level_start(k - 1)..],
            &mut above[..PAGE_LEAVES >> (k + 1)],
        );
    }
    nodes
}

/// The root of a page's subtree.
fn page_root(data: &[u8; PAGE_SIZE]) -> B256 {
    if data.iter().all(|&b| b == 0) {
        ZERO_HASHES[PAGE_HEIGHT]
    } else {
        page_nodes(data)[PAGE_NODES - 1]
    }
}

/// Words in a page.
const PAGE_WORDS: usize = PAGE_SIZE / 4;

/// Read-only pages mapped from words held elsewhere (a model's weights,
/// which the native engine reads in place): the image shares them instead
/// of copying them into pages, and their roots are hashed once, when
/// mapped. A write to one of them (none from the VM, which writes above
/// `CODE_END` only) first copies that page into the page table.
#[derive(Clone)]
struct Rom {
    /// Index of the first page.
    first: usize,
    /// The words from the first page's start; the last page's words past
    /// their end are zero.
    words: Arc<[u32]>,
    /// Each page's subtree root.
    roots: Arc<[B256]>,
}

impl Rom {
    /// The page `index`'s position in the ROM, if it is one of its pages.
    #[inline(always)]
    fn page(&self, index: usize) -> Option<usize> {
        let at = index.wrapping_sub(self.first);
        (at < self.roots.len()).then_some(at)
    }

    /// The word at a 4-aligned address (zero outside the ROM).
    #[inline(always)]
    fn word(&self, addr: u32) -> u32 {
        let at = (addr as usize >> 2).wrapping_sub(self.first * PAGE_WORDS);
        self.words.get(at).copied().unwrap_or(0)
    }

    /// The bytes of its page `at`.
    fn bytes(&self, at: usize) -> [u8; PAGE_SIZE] {
        let mut out = [0u8; PAGE_SIZE];
        let start = at * PAGE_WORDS;
        let words = &self.words[start..(start + PAGE_WORDS).min(self.words.len())];
        for (bytes, w) in out.chunks_exact_mut(4).zip(words) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Where level `k` of [`page_nodes`] starts: `k` = 0 holds the leaves'
/// parents.
const fn level_start(k: usize) -> usize {
    PAGE_LEAVES - (PAGE_LEAVES >> k)
}

type Chunk = [Option<Arc<Page>>; CHUNK_PAGES];

/// A two-level page table whose pages are shared between clones until
/// written (copy on write), so cloning a memory image costs little.
#[derive(Clone)]
struct PageTable {
    chunks: Vec<Option<Box<Chunk>>>,
}

impl PageTable {
    fn new() -> PageTable {
        PageTable {
            chunks: (0..NUM_CHUNKS).map(|_| None).collect(),
        }
    }

    #[inline(always)]
    fn get(&self, index: usize) -> Option<&Page> {
        match &self.chunks[index >> CHUNK_BITS] {
            Some(chunk) => chunk[index & (CHUNK_PAGES - 1)].as_deref(),
            None => None,
        }
    }

    /// The page, allocated by `fresh` if absent, and unshared if shared.
    #[inline(always)]
    fn get_mut(&mut self, index: usize, fresh: impl FnOnce() -> Page) -> &mut Page {
        let chunk = self.chunks[index >> CHUNK_BITS]
            .get_or_insert_with(|| Box::new([const { None }; CHUNK_PAGES]));
        let slot = chunk[index & (CHUNK_PAGES - 1)].get_or_insert_with(|| Arc::new(fresh()));
        Arc::make_mut(slot)
    }

    /// Frees the page at `index`, if allocated.
    fn remove(&mut self, index: usize) {
        if let Some(chunk) = &mut self.chunks[index >> CHUNK_BITS] {
            chunk[index & (CHUNK_PAGES - 1)] = None;
        }
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &Page)> {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(c, chunk)| chunk.as_ref().map(|ch| (c, ch)))
            .flat_map(|(c, ch)| {
                ch.iter()
                    .enumerate()
                    .filter_map(move |(i, p)| p.as_deref().map(|p| ((c << CHUNK_BITS) | i, p)))
            })
    }

    /// Unshared references to the pages at `sorted` indices, all allocated.
    fn many_mut(&mut self, sorted: &[u32]) -> Vec<&mut Page> {
        let mut out = Vec::with_capacity(sorted.len());
        let mut rest = sorted;
        for (c, chunk) in self.chunks.iter_mut().enumerate() {
            let n = rest
                .iter()
                .take_while(|&&i| (i as usize >> CHUNK_BITS) == c)
                .count();
            if n == 0 {
                continue;
            }
            let (here, later) = rest.split_at(n);
            rest = later;
            let chunk = chunk.as_mut().expect("dirty page is allocated");
            let mut wanted = here
                .iter()
                .map(|&i| i as usize & (CHUNK_PAGES - 1))
                .peekable();
            for (i, slot) in chunk.iter_mut().enumerate() {
                if wanted.peek() == Some(&i) {
                    wanted.next();
                    out.push(Arc::make_mut(
                        slot.as_mut().expect("dirty page is allocated"),
                    ));
                }
            }
        }
        out
    }
}

/// The hashes of one tree level above the pages, in blocks of
/// [`BLOCK_NODES`] shared between clones until written (copy on write): an
/// absent block's nodes are all the level's zero hash.
#[derive(Clone)]
struct Level {
    /// Height of the level's nodes above the leaves.
    height: usize,
    blocks: Vec<Option<Arc<[B256; BLOCK_NODES]>>>,
}

impl Level {
    fn new(height: usize) -> Level {
        let nodes = 1usize << (TREE_DEPTH - height);
        Level {
            height,
            blocks: vec![None; nodes.div_ceil(BLOCK_NODES)],
        }
    }

    fn get(&self, index: u32) -> B256 {
        match &self.blocks[(index >> BLOCK_BITS) as usize] {
            Some(block) => block[index as usize & (BLOCK_NODES - 1)],
            None => ZERO_HASHES[self.height],
        }
    }

    /// Sets node `index`, unsharing its block.
    fn set(&mut self, index: u32, hash: B256) {
        let zero = ZERO_HASHES[self.height];
        let slot = &mut self.blocks[(index >> BLOCK_BITS) as usize];
        if slot.is_none() && hash == zero {
            return;
        }
        let block = slot.get_or_insert_with(|| Arc::new([zero; BLOCK_NODES]));
        Arc::make_mut(block)[index as usize & (BLOCK_NODES - 1)] = hash;
    }
}

/// The VM's 2^32-byte memory.
#[derive(Clone)]
pub struct Memory {
    pages: PageTable,
    /// Pages written since the last root computation.
    dirty: Vec<u32>,
    /// Hashes above the page roots: `upper[k]` holds level `PAGE_HEIGHT + k + 1`.
    upper: Vec<Level>,
    /// Read-only pages mapped from elsewhere, under any page of the table.
    rom: Option<Rom>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("pages", &self.page_count())
            .finish_non_exhaustive()
    }
}

impl Memory {
    /// All-zero memory.
    pub fn new() -> Memory {
        Memory {
            pages: PageTable::new(),
            dirty: Vec::new(),
            upper: (1..=UPPER_HEIGHT)
                .map(|k| Level::new(PAGE_HEIGHT + k))
                .collect(),
            rom: None,
        }
    }

    /// Maps `words` read-only from the page-aligned `addr`, to be read (and
    /// hashed) in place: memory written there so far is replaced. The
    /// pages' roots are hashed here, once, on all threads.
    ///
    /// # Panics
    ///
    /// If `addr` is not page-aligned, the words run past 2^32, or a ROM is
    /// already mapped.
    pub fn map_rom(&mut self, addr: u32, words: Arc<[u32]>) {
        assert!(self.rom.is_none(), "one ROM per memory");
        assert_eq!(Self::page_offset(addr), 0, "a ROM starts a page");
        let first = Self::page_index(addr);
        let count = words.len().div_ceil(PAGE_WORDS);
        assert!(
            first + count <= 1 << (32 - PAGE_BITS),
            "the ROM fits in memory"
        );
        for index in first..first + count {
            self.pages.remove(index);
        }
        self.dirty
            .retain(|&i| !(first..first + count).contains(&(i as usize)));
        let mut rom = Rom {
            first,
            words,
            roots: Arc::new([]),
        };
        let roots: Vec<B256> = (0..count)
            .into_par_iter()
            .with_min_len(16)
            .map(|at| page_root(&rom.bytes(at)))
            .collect();
        rom.roots = roots.into();
        self.rom = Some(rom);
        self.rehash_upper((first..first + count).map(|i| i as u32).collect());
    }

    /// Number of pages holding memory (allocated, or mapped read-only).
    pub fn page_count(&self) -> usize {
        let rom = self.rom.as_ref().map_or(0, |rom| {
            (0..rom.roots.len())
                .filter(|&at| self.pages.get(rom.first + at).is_none())
                .count()
        });
        self.pages.iter().count() + rom
    }

    /// A page absent from the table as it reads: its ROM page, or zeros.
    fn fresh_page(rom: Option<&Rom>, index: usize) -> Page {
        match rom.and_then(|rom| rom.page(index).map(|at| (rom, at))) {
            Some((rom, at)) => Page {
                data: rom.bytes(at),
                root: rom.roots[at],
                dirty: false,
            },
            None => Page::zeroed(),
        }
    }

    /// The word at a 4-aligned address of a page absent from the table.
    #[inline(always)]
    fn unpaged_word(&self, addr: u32) -> u32 {
        match &self.rom {
            Some(rom) => rom.word(addr),
            None => 0,
        }
    }

    #[inline(always)]
    fn page_index(addr: u32) -> usize {
        (addr >> PAGE_BITS) as usize
    }

    #[inline(always)]
    fn page_offset(addr: u32) -> usize {
        addr as usize & (PAGE_SIZE - 1)
    }

    #[inline(always)]
    fn page_mut(&mut self, addr: u32) -> &mut Page {
        let index = Self::page_index(addr);
        let rom = self.rom.as_ref();
        let page = self.pages.get_mut(index, || Self::fresh_page(rom, index));
        if !page.dirty {
            page.dirty = true;
            self.dirty.push(index as u32);
        }
        page
    }

    /// Reads a byte.
    #[inline(always)]
    pub fn read_u8(&self, addr: u32) -> u8 {
        match self.pages.get(Self::page_index(addr)) {
            Some(page) => page.data[Self::page_offset(addr)],
            None => self.unpaged_word(addr & !3).to_le_bytes()[addr as usize & 3],
        }
    }

    /// Reads a little-endian word at a 4-aligned address.
    #[inline(always)]
    pub fn read_u32(&self, addr: u32) -> u32 {
        debug_assert_eq!(addr % 4, 0);
        match self.pages.get(Self::page_index(addr)) {
            Some(page) => {
                let o = Self::page_offset(addr);
                u32::from_le_bytes(
                    page.data[o..o + 4]
                        .try_into()
                        .expect("aligned word in page"),
                )
            }
            None => self.unpaged_word(addr),
        }
    }

    /// Writes a byte.
    #[inline(always)]
    pub fn write_u8(&mut self, addr: u32, value: u8) {
        let o = Self::page_offset(addr);
        self.page_mut(addr).data[o] = value;
    }

    /// Writes a little-endian word at a 4-aligned address.
    #[inline(always)]
    pub fn write_u32(&mut self, addr: u32, value: u32) {
        debug_assert_eq!(addr % 4, 0);
        let o = Self::page_offset(addr);
        self.page_mut(addr).data[o..o + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Copies `bytes` into memory at `addr`, wrapping at 2^32.
    pub fn write_bytes(&mut self, addr: u32, bytes: &[u8]) {
        let mut addr = addr;
        let mut rest = bytes;
        while !rest.is_empty() {
            let o = Self::page_offset(addr);
            let n = rest.len().min(PAGE_SIZE - o);
            self.page_mut(addr).data[o..o + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            addr = addr.wrapping_add(n as u32);
        }
    }

    /// Reads `len` bytes starting at `addr`, wrapping at 2^32.
    pub fn read_bytes(&self, addr: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut addr = addr;
        while out.len() < len {
            let o = Self::page_offset(addr);
            let n = (len - out.len()).min(PAGE_SIZE - o);
            let index = Self::page_index(addr);
            match self.pages.get(index) {
                Some(page) => out.extend_from_slice(&page.data[o..o + n]),
                None => match self.rom.as_ref().and_then(|rom| rom.page(index)) {
                    Some(at) => out.extend_from_slice(&self.rom_bytes(at)[o..o + n]),
                    None => out.resize(out.len() + n, 0),
                },
            }
            addr = addr.wrapping_add(n as u32);
        }
        out
    }

    /// The 32-byte leaf with this index.
    pub fn leaf(&self, leaf_index: u32) -> Leaf {
        let addr = leaf_index << LEAF_BITS;
        let mut leaf = [0; LEAF_SIZE];
        match self.pages.get(Self::page_index(addr)) {
            Some(page) => leaf = page_leaf(&page.data, Self::page_offset(addr) / LEAF_SIZE),
            None => {
                for (bytes, w) in leaf.chunks_exact_mut(4).zip((addr..).step_by(4)) {
                    bytes.copy_from_slice(&self.unpaged_word(w).to_le_bytes());
                }
            }
        }
        leaf
    }

    /// The bytes of ROM page `at`.
    fn rom_bytes(&self, at: usize) -> [u8; PAGE_SIZE] {
        self.rom.as_ref().expect("a ROM page").bytes(at)
    }

    /// The Merkle root, rehashing only what changed since the last call.
    pub fn root(&mut self) -> B256 {
        self.flush();
        self.node(UPPER_HEIGHT, 0)
    }

    /// The Merkle root if nothing was written since the last hash.
    pub fn hashed_root(&self) -> Option<B256> {
        self.dirty.is_empty().then(|| self.node(UPPER_HEIGHT, 0))
    }

    /// A node above the page level: `level` 0 is a page root, `UPPER_HEIGHT`
    /// the memory root. Requires a flushed tree.
    fn node(&self, level: usize, index: u32) -> B256 {
        if level == 0 {
            let index = index as usize;
            return match self.pages.get(index) {
                Some(page) => page.root,
                None => match self
                    .rom
                    .as_ref()
                    .and_then(|rom| Some(rom.roots[rom.page(index)?]))
                {
                    Some(root) => root,
                    None => ZERO_HASHES[PAGE_HEIGHT],
                },
            };
        }
        self.upper[level - 1].get(index)
    }

    fn flush(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut pages = self.pages.many_mut(&dirty);
        if dirty.len() < PARALLEL_PAGES {
            pages.iter_mut().for_each(|page| page.rehash());
        } else {
            pages
                .par_iter_mut()
                .with_min_len(16)
                .for_each(|page| page.rehash());
        }
        self.rehash_upper(dirty);
    }

    /// Rehashes the ancestors of the pages at `indices` (sorted, unique)
    /// above the page roots.
    fn rehash_upper(&mut self, mut indices: Vec<u32>) {
        for level in 1..=UPPER_HEIGHT {
            for i in indices.iter_mut() {
                *i >>= 1;
            }
            indices.dedup();
            let children: Vec<B256> = indices
                .iter()
                .flat_map(|&i| [self.node(level - 1, 2 * i), self.node(level - 1, 2 * i + 1)])
                .collect();
            let mut hashes = vec![B256::ZERO; indices.len()];
            hash_pairs(&children, &mut hashes);
            let nodes = &mut self.upper[level - 1];
            for (&i, h) in indices.iter().zip(hashes) {
                nodes.set(i, h);
            }
        }
    }

    /// The Merkle path of a leaf against [`Memory::root`].
    pub fn path(&mut self, leaf_index: u32) -> Path {
        self.flush();
        self.hashed_path(leaf_index).expect("flushed")
    }

    /// The Merkle path of a leaf if nothing was written since the last
    /// hash: a read that needs no `&mut` and no clone.
    pub fn hashed_path(&self, leaf_index: u32) -> Option<Path> {
        if !self.dirty.is_empty() {
            return None;
        }
        let addr = leaf_index << LEAF_BITS;
        let page_index = Self::page_index(addr) as u32;
        let mut path = [B256::ZERO; TREE_DEPTH];
        let in_page = (leaf_index as usize) % PAGE_LEAVES;
        let rom_page = self
            .rom
            .as_ref()
            .and_then(|rom| rom.page(page_index as usize));
        let rom_data;
        let data = match (self.pages.get(page_index as usize), rom_page) {
            (Some(page), _) => Some(&page.data),
            (None, Some(at)) => {
                rom_data = self.rom_bytes(at);
                Some(&rom_data)
            }
            (None, None) => None,
        };
        match data {
            Some(data) => {
                path[0] = B256::from(page_leaf(data, in_page ^ 1));
                let nodes = page_nodes(data);
                for k in 0..PAGE_HEIGHT - 1 {
                    path[k + 1] = nodes[level_start(k) + ((in_page >> (k + 1)) ^ 1)];
                }
            }
            None => path[..PAGE_HEIGHT].copy_from_slice(&ZERO_HASHES[..PAGE_HEIGHT]),
        }
        for level in 0..UPPER_HEIGHT {
            path[PAGE_HEIGHT + level] = self.node(level, (page_index >> level) ^ 1);
        }
        Some(path)
    }

    /// The pages holding memory as `(page index, bytes)`, in order, for
    /// snapshots.
    pub(crate) fn pages(&self) -> Vec<(u32, Vec<u8>)> {
        let mut pages: Vec<(u32, Vec<u8>)> = self
            .pages
            .iter()
            .map(|(i, p)| (i as u32, p.data.to_vec()))
            .collect();
        if let Some(rom) = &self.rom {
            pages.extend(
                (0..rom.roots.len())
                    .filter(|&at| self.pages.get(rom.first + at).is_none())
                    .map(|at| ((rom.first + at) as u32, rom.bytes(at).to_vec())),
            );
            pages.sort_unstable_by_key(|&(i, _)| i);
        }
        pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::fold_path;

    #[test]
    fn empty_memory_has_the_zero_root() {
        assert_eq!(Memory::new().root(), ZERO_HASHES[TREE_DEPTH]);
    }

    #[test]
    fn paths_fold_to_the_root() {
        let mut m = Memory::new();
        m.write_bytes(0x1000_0000 - 3, &[7; 70]);
        m.write_u32(0xFFFF_FFFC, 0xDEAD_BEEF);
        let root = m.root();
        for addr in [
            0,
            0x0FFF_FFE0,
            0x1000_0000,
            0x1000_0020,
            0xFFFF_FFE0,
            0x8000_0000,
        ] {
            let index = addr >> LEAF_BITS;
            assert_eq!(
                fold_path(index, &m.leaf(index), &m.path(index)),
                root,
                "{addr:#x}"
            );
        }
    }

    #[test]
    fn clones_share_hashes_until_written() {
        let mut m = Memory::new();
        m.write_bytes(0x1000_0000, &[3; 3 * PAGE_SIZE]);
        let before = m.root();
        let mut copy = m.clone();
        m.write_u32(0x1000_1000, 9);
        let after = m.root();
        assert_ne!(after, before);
        assert_eq!(copy.hashed_root(), Some(before));
        assert_eq!(copy.root(), before);
        copy.write_u32(0x1000_1000, 9);
        assert_eq!(copy.root(), after);
        assert_eq!(copy.path(0x80_0000), m.path(0x80_0000));
    }

    #[test]
    fn a_rom_reads_and_hashes_as_the_same_words_written() {
        // Three pages and a part, with zero words among them.
        let words: Vec<u32> = (0..3 * PAGE_WORDS as u32 + 100)
            .map(|i| {
                if i % 7 == 0 {
                    0
                } else {
                    i.wrapping_mul(0x9E37_79B9)
                }
            })
            .collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let base = 0x1000_0000;
        let mut written = Memory::new();
        written.write_bytes(0, &[1, 2, 3]);
        written.write_bytes(base, &bytes);
        let mut mapped = Memory::new();
        mapped.write_bytes(0, &[1, 2, 3]);
        mapped.write_u32(base + 8, 5);
        mapped.map_rom(base, words.into());
        assert_eq!(mapped.page_count(), written.page_count());
        assert_eq!(mapped.root(), written.root());
        for addr in [
            base,
            base + 4,
            base + 4096 + 60,
            base + 3 * 4096 + 396,
            base + 3 * 4096 + 400,
        ] {
            assert_eq!(mapped.read_u32(addr), written.read_u32(addr), "{addr:#x}");
            assert_eq!(
                mapped.read_u8(addr + 1),
                written.read_u8(addr + 1),
                "{addr:#x}"
            );
            let leaf = addr >> LEAF_BITS;
            assert_eq!(mapped.leaf(leaf), written.leaf(leaf));
            assert_eq!(mapped.hashed_path(leaf), written.hashed_path(leaf));
        }
        assert_eq!(
            mapped.read_bytes(base - 10, 5 * 4096),
            written.read_bytes(base - 10, 5 * 4096)
        );
        assert_eq!(mapped.pages(), written.pages());
        // A write copies its page out of the ROM; clones keep theirs.
        let before = mapped.clone();
        for m in [&mut mapped, &mut written] {
            m.write_u32(base + 4096 + 8, 7);
            m.write_u32(base + 5 * 4096, 9);
        }
        assert_eq!(mapped.root(), written.root());
        assert_eq!(
            mapped.read_bytes(base, 6 * 4096),
            written.read_bytes(base, 6 * 4096)
        );
        assert_eq!(
            before.read_u32(base + 4096 + 8),
            bytes_word(&bytes, 4096 + 8)
        );
    }

    fn bytes_word(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn zeroing_a_page_restores_the_zero_root() {
        let mut m = Memory::new();
        m.write_u32(0x4000, 1);
        assert_ne!(m.root(), ZERO_HASHES[TREE_DEPTH]);
        m.write_u32(0x4000, 0);
        assert_eq!(m.root(), ZERO_HASHES[TREE_DEPTH]);
    }
}
