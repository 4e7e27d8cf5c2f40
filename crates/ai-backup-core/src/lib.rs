//! ai-backup-core: everything ai-backup does — back up a module of the AI-Server stack into one
//! verifiable archive, and restore it so that a failure at any point leaves the live data as it
//! was. The binaries only turn user input into calls to this crate and its events into output.

pub mod archive;
pub mod catalog;
pub mod config;
pub mod describe;
pub mod docker;
pub mod engine;
pub mod error;
pub mod health;
pub mod jobs;
pub mod journal;
pub mod lock;
pub mod memory;
pub mod progress;
pub mod runner;
pub mod secrets;
pub mod store;

pub use error::{Error, Result};
pub use progress::{Cancel, Event, Reporter};

/// Version of this tool, recorded in every archive.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
