//! Cluster mode: several `onair serve` nodes on one PostgreSQL (the truth)
//! and one Redis, which only carries "something changed" notifications
//! between them (see [`bus`]).

pub mod bus;
