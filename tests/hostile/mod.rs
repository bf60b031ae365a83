//! The hostile-input catalogue: what a feed publisher or a stranger on the network can send,
//! and what must hold when they do. One module per surface; each test reproduces one attack
//! over real sockets on loopback and a real SQLite file, and fails without its fix.

mod articles;
mod feeds;
pub(crate) mod fetch_policy;
mod operator;
mod reads;
mod reload;
mod server;
