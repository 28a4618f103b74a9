//! Request routing before authentication (placeholder until the router lands).
