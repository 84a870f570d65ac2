//! Addresses of resources and resource instances.
