//! Decoding ahead of the engine, on another thread: what lets `replay` use two cores.
//!
//! Decoding reads no engine state (see [`batch::decode`]), so a [`BlockDecoder`] can turn
//! payloads into a [`DecodedBlock`] on one thread while the engine counts the block before
//! it on another. Blocks are owned and reused (cleared, not freed), so the hand-over costs
//! no allocation per event; [`Engine::ingest_block`] then does exactly what
//! [`Engine::ingest_all`] does after decoding, in the same order.
//!
//! Which side is the busier depends on the input and on how much of the state is in
//! memory yet, so the decoding side may leave the tail of a block undecoded (copied) for
//! the counting side to [`BlockDecoder::finish`]: how much is the caller's choice, and
//! the block counts the same whoever decoded what.

use super::Engine;
use super::batch::{self, Decoded};
use crate::classify::StreamKeys;
use crate::decode::{Decoder, Invalid};

/// Decoded events in arrival order, their stream keys, and the events refused unread
/// (`too_large`) among them.
#[derive(Default)]
pub struct DecodedBlock {
    pub(super) events: Vec<Result<Decoded, Invalid>>,
    pub(super) keys: Vec<u8>,
    /// The payloads after `events`, not decoded yet: their bytes end to end, and where
    /// each one ends.
    raw: Vec<u8>,
    pub(super) raw_ends: Vec<usize>,
    pub(super) too_large: usize,
}

/// Decodes payloads for an [`Engine`], independently of it.
pub struct BlockDecoder {
    decoder: Decoder,
    streams: StreamKeys,
}

impl BlockDecoder {
    /// Replaces the contents of `block` with the first `now` of `payloads` decoded, the
    /// others copied for [`BlockDecoder::finish`], and `too_large` events refused unread.
    pub fn decode(
        &mut self,
        payloads: &[&[u8]],
        now: usize,
        too_large: usize,
        block: &mut DecodedBlock,
    ) {
        block.events.clear();
        block.keys.clear();
        block.raw.clear();
        block.raw_ends.clear();
        block.too_large = too_large;
        let (now, later) = payloads.split_at(now.min(payloads.len()));
        for payload in now {
            let decoded = batch::decode(&mut self.decoder, &self.streams, payload, &mut block.keys);
            block.events.push(decoded);
        }
        for payload in later {
            block.raw.extend_from_slice(payload);
            block.raw_ends.push(block.raw.len());
        }
    }

    /// Decodes the payloads [`BlockDecoder::decode`] left in `block`, after the others.
    pub fn finish(&mut self, block: &mut DecodedBlock) {
        let DecodedBlock {
            events,
            keys,
            raw,
            raw_ends,
            ..
        } = block;
        let mut start = 0;
        for &end in raw_ends.iter() {
            events.push(batch::decode(
                &mut self.decoder,
                &self.streams,
                &raw[start..end],
                keys,
            ));
            start = end;
        }
        raw.clear();
        raw_ends.clear();
    }
}

impl Engine {
    /// A decoder of this engine's events, for another thread.
    pub fn block_decoder(&self) -> BlockDecoder {
        BlockDecoder {
            decoder: self.decoder.clone(),
            streams: self.streams.clone(),
        }
    }

    /// Counts a block decoded by this engine's [`BlockDecoder`] (and finished): the same
    /// as [`Engine::ingest_all`] on its payloads, then [`Engine::reject`] for each event
    /// refused unread.
    pub fn ingest_block(&mut self, block: &DecodedBlock) {
        debug_assert!(block.raw_ends.is_empty(), "a block counted unfinished");
        self.ingest_decoded(&block.events, &block.keys);
        (0..block.too_large).for_each(|_| self.reject(Invalid::TooLarge));
    }
}
