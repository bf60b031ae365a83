//! The HTTP server under hostile clients: trickling and silent connections, and query
//! variants, cost bounded time and memory.
