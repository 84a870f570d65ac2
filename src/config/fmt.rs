//! Canonical formatting of configuration files.
