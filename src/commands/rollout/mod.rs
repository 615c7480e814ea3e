//! A staged rollout (`apply --waves`): the accounts in waves, each wave published, then watched
//! for refused calls the change caused, and rolled back by itself when one is seen.

pub mod spec;
pub mod undo;
pub mod watch;
pub mod waves;
