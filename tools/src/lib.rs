//! Shared code of the offline tools.
#![forbid(unsafe_code)]
