//! The `actionlog` command-line tool.

fn main() -> std::process::ExitCode {
    actionlog::cli::main()
}
