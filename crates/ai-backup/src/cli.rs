//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use ai_backup_core::archive::Compression;

#[derive(Parser)]
#[command(
    name = "ai-backup",
    version,
    about = "Back up and restore the data of the AI-Server modules (n8n, One API, Dify, RAGFlow)"
)]
pub struct Cli {
    /// Config file merged over the built-in AI-Server profile
    /// (default: $AI_BACKUP_CONFIG, else ~/.config/ai-backup/config.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print NDJSON events, ending with the result object {"success",...}.
    #[arg(long, global = true)]
    pub json: bool,
    /// Cancel when the line "cancel" arrives on standard input: for callers that cannot send
    /// a signal (a desktop app on Windows). The end of input does not cancel.
    #[arg(long, global = true)]
    pub cancel_on_stdin: bool,
    /// Read the passphrase of an encrypted archive (or for --encrypt) from this file, its
    /// first line break removed. Else $AI_BACKUP_PASSPHRASE, else a prompt on the terminal.
    #[arg(long, global = true, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Back up a module into <module>-backup-YYYYMMDD-HHMMSS.tar.gz (.tar.zst with zstd,
    /// .age appended when encrypted).
    Backup {
        module: String,
        /// Output file, or directory for the default name.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// gzip (the default: any tar reads it) or zstd (faster, smaller; .tar.zst). Default:
        /// what the output file's name says, else gzip.
        #[arg(long, value_name = "gzip|zstd", value_parser = parse_compression)]
        compression: Option<Compression>,
        /// Encrypt the archive with a passphrase (age format), asked for on the terminal or
        /// given by --passphrase-file or $AI_BACKUP_PASSPHRASE.
        #[arg(long)]
        encrypt: bool,
        /// Free text stored in metadata.json.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Replace a module's data with an archive's (asks first unless --yes).
    Restore {
        module: String,
        archive: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Put the archived secrets (e.g. n8n's encryption key) in place when they differ.
        #[arg(long)]
        restore_secrets: bool,
    },
    /// Bring a module whose restore was interrupted (the process died) to one consistent end:
    /// its previous data, or the restored data once the swap was done. Every module when none
    /// is named.
    Recover { module: Option<String> },
    /// Check an archive whole: format, every entry's checksum.
    Verify { archive: PathBuf },
    /// Show what an archive holds.
    Inspect { archive: PathBuf },
    /// List the modules: containers, database present, size.
    Modules,
    /// Show exactly which database, buckets/prefixes and indices a backup or restore of the
    /// module would touch.
    Plan { module: String },
    /// Print the effective configuration (passwords redacted).
    Config,
    /// Serve the module settings page on 127.0.0.1 and open it in the browser.
    Ui {
        /// Port to listen on (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not open the browser; only print the URL.
        #[arg(long)]
        no_open: bool,
        /// The folder the page saves backups to and lists archives from
        /// (default: <Documents>/ai-backup, else ~/ai-backup). Changeable on the page.
        #[arg(long, value_name = "DIR")]
        backup_dir: Option<PathBuf>,
    },
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    Compression::parse(text).ok_or_else(|| format!("'{text}' is not gzip or zstd"))
}
