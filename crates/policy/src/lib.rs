//! IAM policy language: parse, validate and evaluate policy documents. Pure: no I/O.
//! (Built by the access-control issue.)
#![forbid(unsafe_code)]
