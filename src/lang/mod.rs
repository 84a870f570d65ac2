//! The language: evaluating expressions, the built-in functions, what expressions refer to,
//! and the evaluation of a whole configuration.

mod body;
pub mod checks;
pub mod console;
pub mod eval;
pub mod functions;
pub mod refs;
pub mod scope;
pub mod settings;
pub mod variables;
pub mod walk;
