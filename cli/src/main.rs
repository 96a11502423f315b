//! `cairn`: deduplicating, compressed, encrypted backups.
//!
//! Thin glue: parses the command line, opens the repository, runs one engine operation from
//! `cairn-core` with the adapters of `cairn-std`, and prints the outcome for people (with a
//! progress bar on a terminal) or for scripts (`--json`). Exit codes are listed in
//! [`exit`] and in the README.

mod args;
mod commands;
mod durations;
mod exit;
mod output;
mod repo;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cairn_std::tune_allocator();
    let cli = args::Cli::parse();
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            output::print_error(&e, json);
            exit::for_error(&e)
        }
    }
}
