use clap::Parser;

fn main() {
    let cli = perfguard::cli::Cli::parse();
    std::process::exit(perfguard::main_impl(cli));
}
