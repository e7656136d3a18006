use clap::Parser;

fn main() {
    // A panic is a perfguard bug, never a verdict: report it as Rust does
    // (RUST_BACKTRACE works), stop what perfguard started, exit 2.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let location = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "perfguard: internal error{location}: {message}\nthis is a perfguard bug, not a verdict about your code; please report it with the command you ran"
        );
        perfguard::interrupt::clean_up();
        std::process::exit(perfguard::exit_codes::COULD_NOT_DECIDE);
    }));
    if std::env::var_os("PERFGUARD_DEBUG_PANIC").is_some() {
        // For the test of the hook above: there is no known panic to trigger.
        panic!("PERFGUARD_DEBUG_PANIC is set");
    }
    let cli = perfguard::cli::Cli::parse();
    // The one Ctrl-C handler: the library stops what it started, then we exit.
    let _ = ctrlc::set_handler(|| {
        if perfguard::interrupt::on_interrupt() == perfguard::interrupt::AfterInterrupt::Exit {
            std::process::exit(perfguard::exit_codes::COULD_NOT_DECIDE);
        }
    });
    std::process::exit(perfguard::main_impl(cli));
}
