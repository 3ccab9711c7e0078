//! Scale-out (docs/scale-out.md): several `run` instances in one consumer group give
//! exactly the SLIs of one. Kafka is the distributed engine, as in Kafka Streams; there
//! is no cluster protocol of slipstream's own.
//!
//! ```text
//!  input ──stage 1──▶ PreAggregator ──flush──▶ repartition topic (keyed by series)
//!  (kafka.group)      (preagg)                  │
//!                                               ▼ stage 2 (scale_out.group)
//!                     Engine ◀── Owner::apply ──┘   exactly once per source range
//!                       │  ▲
//!       checkpoint ─────┘  └──── restore on assignment
//!            ▼
//!  changelog topic (compacted, keyed by series)
//! ```
//!
//! The pure parts: [`record`] (the repartition record), [`preagg`] (stage 1's
//! aggregation), [`owner`] (stage 2's exactly-once apply, and the changelog). The
//! shells: [`stage1`] and [`stage2`] (a consumer thread each), [`peers`] (which
//! instances are alive, for the whole-picture API) and [`topics`] (creating the internal
//! topics).

pub mod owner;

pub mod preagg;
pub mod record;
