//! Reloads: they apply, they do not restart work, and they never half-apply.
