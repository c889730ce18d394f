//! The deterministic level (filled in below).
