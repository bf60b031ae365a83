//! What reaches the operator and the public: no secrets in outputs, nothing that drives a
//! terminal, a store that notices its file is gone.
