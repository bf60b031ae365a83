//! Identity and near-duplicates. [`identity`]: the items of one document → the same items
//! with stable keys and canonical links, repeats removed. Near-duplicates across feeds: the
//! [`fingerprint`] an item is indexed by, and the [`judge`](mod@judge)ment of a candidate by its
//! [`title`], text and link, with [`numbers`] compared in one style. The index of
//! fingerprints is the store's (`store::bands`): it mirrors stored rows and is updated in the
//! store's write transactions.

pub mod fingerprint;
pub mod identity;
pub mod judge;
pub mod numbers;
pub mod title;

pub use identity::{TrackingParams, canonical_link, identify};
pub use judge::{Doc, judge};
pub use title::titles_compatible;
