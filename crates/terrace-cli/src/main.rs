//! The `terrace` command: a thin layer over the library's public API (see `terrace::engine`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
