//! Identity and near-duplicates: the items of one document → the same items with stable keys
//! and canonical links, repeats removed ([`identity`]); and what tells two feeds' items apart
//! or makes them one story: the fingerprint an item is indexed by ([`fingerprint`]) and the
//! judgement of a candidate ([`fingerprint::judge`]), with numbers compared in one style
//! ([`numbers`]). The index of fingerprints is the store's, since it mirrors stored rows.

pub mod fingerprint;
pub mod identity;
pub mod numbers;

pub use identity::{canonical_link, identify};
