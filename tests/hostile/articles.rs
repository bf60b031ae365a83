//! Article pages: a feed's poll never waits on them, and what they cost is bounded.
