//! Packet transformers.
