//! rolebook's pure model. No I/O, no async runtime: everything here is a
//! function of its inputs, so the command side, the read side and the replay
//! tool all share one implementation of the access rules.

pub mod hash;
pub mod store;
