//! One module per subcommand.
pub mod build;
pub mod debug;
pub mod learn;
pub mod profile;
pub mod rules;
pub mod shell;
pub mod xray;
