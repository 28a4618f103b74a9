//! Model-constraint validation of canonical input values (placeholder until the codec work lands).
