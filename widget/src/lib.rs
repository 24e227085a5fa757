//! The onair chat box (being built).
