//! `actionlog decode FILE`: print a length-delimited UserAction file as JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliResult;
use actionlog::codec::LengthDelimitedReader;
use actionlog::json::to_json_line;

/// Arguments of `actionlog decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Length-delimited UserAction file (as written by the file sink); `-` for stdin.
    file: PathBuf,
}

/// Prints every record; on a truncated or corrupt record, prints the records before it,
/// then fails naming the byte offset of the bad record.
pub(crate) fn run(args: Args) -> CliResult {
    let input: Box<dyn std::io::Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.file)
                .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?,
        )
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    for record in LengthDelimitedReader::new(input) {
        match record {
            Ok(action) => {
                writeln!(out, "{}", to_json_line(&action))?;
                n += 1;
            }
            Err(e) => {
                out.flush()?;
                return Err(
                    format!("{}: {e} (after {n} good record(s))", args.file.display()).into(),
                );
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
