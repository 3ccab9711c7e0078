//! Decoding ahead of the engine, on another thread: what lets `replay` use two cores.
//!
//! Decoding reads no engine state (see [`batch::decode`]), so a [`BlockDecoder`] can turn
//! payloads into a [`DecodedBlock`] on one thread while the engine counts the block before
//! it on another. Blocks are owned and reused (cleared, not freed), so the hand-over costs
//! no allocation per event; [`Engine::ingest_block`] then does exactly what
//! [`Engine::ingest_all`] does after decoding, in the same order.

use super::Engine;
use super::batch::{self, Decoded};
use crate::classify::StreamKeys;
use crate::decode::{Decoder, Invalid};

/// Decoded events in arrival order, their stream keys, and the events refused unread
/// (`too_large`) among them.
#[derive(Default)]
pub struct DecodedBlock {
    events: Vec<Result<Decoded, Invalid>>,
    keys: Vec<u8>,
    too_large: usize,
}

/// Decodes payloads for an [`Engine`], independently of it.
pub struct BlockDecoder {
    decoder: Decoder,
    streams: StreamKeys,
}

impl BlockDecoder {
    /// Replaces the contents of `block` with `payloads` decoded, and `too_large` events
    /// refused unread.
    pub fn decode(&mut self, payloads: &[&[u8]], too_large: usize, block: &mut DecodedBlock) {
        block.events.clear();
        block.keys.clear();
        block.too_large = too_large;
        for payload in payloads {
            let decoded = batch::decode(&mut self.decoder, &self.streams, payload, &mut block.keys);
            block.events.push(decoded);
        }
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

    /// Counts a block decoded by this engine's [`BlockDecoder`]: the same as
    /// [`Engine::ingest_all`] on its payloads, then [`Engine::reject`] for each event
    /// refused unread.
    pub fn ingest_block(&mut self, block: &DecodedBlock) {
        self.ingest_decoded(&block.events, &block.keys);
        (0..block.too_large).for_each(|_| self.reject(Invalid::TooLarge));
    }
}
