//! The `sightline` binary: see the library for everything.

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
