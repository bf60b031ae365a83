//! Feed documents: every cost a publisher controls is linear and bounded.
