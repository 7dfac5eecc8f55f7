//! Shared fixtures for the criterion benches of lvs-rs.
