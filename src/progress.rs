//! Progress display during measurement: an indicatif spinner naming the
//! benchmark being measured when stderr is a terminal; otherwise one plain line
//! per finished item, so CI logs stay readable.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How much to print while measuring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    /// Also stream the measured command's own output.
    Verbose,
}

pub struct Progress {
    verbosity: Verbosity,
    bar: Option<ProgressBar>,
    suite: Mutex<String>,
}

impl Progress {
    /// A spinner on a terminal, plain lines otherwise.
    pub fn new(verbosity: Verbosity) -> Progress {
        let interactive = std::io::stderr().is_terminal() && verbosity == Verbosity::Normal;
        let bar = interactive.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {wide_msg}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            verbosity,
            bar,
            suite: Mutex::new(String::new()),
        }
    }

    fn line(&self, text: &str) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn start_suite(&self, suite: &str, command: &str) {
        if let Ok(mut current) = self.suite.lock() {
            *current = suite.to_string();
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(suite.to_string());
            bar.set_message(format!("building and starting `{command}`"));
        }
        self.line(&format!("perfguard: [{suite}] running `{command}`"));
    }

    pub fn benchmark(&self, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("measuring {name}"));
        }
    }

    pub fn finished_benchmark(&self, name: &str) {
        let suite = self.suite.lock().map(|s| s.clone()).unwrap_or_default();
        self.line(&format!("perfguard: [{suite}] measured {name}"));
    }

    pub fn output_line(&self, text: &str) {
        if self.verbosity == Verbosity::Verbose {
            self.line(text);
        }
    }

    pub fn finish_suite(&self, suite: &str, ok: bool) {
        self.line(&format!(
            "perfguard: [{suite}] {}",
            if ok { "done" } else { "failed" }
        ));
    }

    /// A free-form status message (probes, git).
    pub fn status(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
        self.line(&format!("perfguard: {text}"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
