//! Schemas of the resource kinds.
