//! The application under test: started from `[app].command` in its own process
//! group with the templated environment, output captured to a log file, ready
//! when `[app].ready` answers 2xx, and stopped (SIGTERM, then SIGKILL, then
//! reaped) on every exit path, including Ctrl-C.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::ProbeError;
use crate::config::App;

/// Lines of the application's log shown when it fails.
pub const LOG_TAIL_LINES: usize = 40;

/// SIGTERM the group, wait up to 5 s for it to go, then SIGKILL.
pub(crate) fn stop_group(group: i32) {
    let pid = Pid::from_raw(group);
    if killpg(pid, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        // Signal 0 (None) only checks that the group still exists.
        if killpg(pid, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pid, Signal::SIGKILL);
}

/// Replace `{port}` and `{database_url}` in a template.
pub fn expand(template: &str, port: u16, database_url: &str) -> String {
    template
        .replace("{port}", &port.to_string())
        .replace("{database_url}", database_url)
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::from("(no log)");
    };
    let mut tail = VecDeque::with_capacity(lines);
    for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
        if tail.len() == lines {
            tail.pop_front();
        }
        tail.push_back(String::from_utf8_lossy(&line).into_owned());
    }
    if tail.is_empty() {
        String::from("(the log is empty)")
    } else {
        tail.into_iter().collect::<Vec<_>>().join("\n")
    }
}

/// A log file in a new temporary directory (removed with the returned guard).
pub(crate) fn temporary_log(
    prefix: &str,
    name: &str,
) -> Result<(tempfile::TempDir, PathBuf), ProbeError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| ProbeError::Io {
            what: format!("create a temporary directory for {name}"),
            source: e,
        })?;
    let path = dir.path().join(name);
    Ok((dir, path))
}

/// Run `[app].build` (through `sh -c`) in `working_dir`; its output is kept
/// and its tail shown when it fails. Not counted against `startup_timeout`.
pub fn build(
    app: &App,
    working_dir: &Path,
    extra_env: &[(String, String)],
) -> Result<(), ProbeError> {
    let Some(command) = app.build.as_deref() else {
        return Ok(());
    };
    let (_log_dir, log_path) = temporary_log("perfguard-build-", "build.log")?;
    let status = run_logged(command, working_dir, extra_env, &[], &log_path)?;
    if status.success() {
        Ok(())
    } else {
        Err(ProbeError::BuildFailed {
            command: command.to_string(),
            status: status.to_string(),
            tail: log_tail(&log_path, LOG_TAIL_LINES),
        })
    }
}

/// Run a shell command line with its output (both streams) in `log_path`.
pub(crate) fn run_logged(
    command: &str,
    working_dir: &Path,
    extra_env: &[(String, String)],
    env: &[(String, String)],
    log_path: &Path,
) -> Result<std::process::ExitStatus, ProbeError> {
    let log = std::fs::File::create(log_path).map_err(|e| ProbeError::Io {
        what: format!("create {}", log_path.display()),
        source: e,
    })?;
    let log_err = log.try_clone().map_err(|e| ProbeError::Io {
        what: format!("open {}", log_path.display()),
        source: e,
    })?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(working_dir)
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| ProbeError::Io {
            what: format!("run `{command}` with sh"),
            source: e,
        })?;
    let group = child.id() as i32;
    crate::interrupt::register_app_group(group);
    let status = child.wait();
    crate::interrupt::unregister_app_group(group);
    status.map_err(|e| ProbeError::Io {
        what: format!("wait for `{command}`"),
        source: e,
    })
}

/// The port an app start uses: a free one for `{port}`, else `[app].url`'s,
/// which must be free (the message names the process holding it).
fn choose_port(app: &App) -> Result<u16, ProbeError> {
    let fixed =
        crate::config::app_url_port(&app.url).map_err(|message| ProbeError::BadCommand {
            command: format!("[app] url {:?}: {message}", app.url),
        })?;
    let Some(port) = fixed else {
        return free_port().map_err(|e| ProbeError::Io {
            what: "pick a free port".into(),
            source: e,
        });
    };
    match TcpListener::bind(("0.0.0.0", port)) {
        Ok(_) => Ok(port),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Err(ProbeError::PortInUse {
            url: app.url.clone(),
            port,
            holder: super::sockets::holder_of(port)
                .map(|h| format!(" by {h}"))
                .unwrap_or_default(),
        }),
        // Binding may be refused for other reasons (a privileged port): let the app try.
        Err(_) => Ok(port),
    }
}

/// A started application; stopped when dropped.
pub struct RunningApp {
    child: Child,
    pub port: u16,
    /// `[app].url` with its port filled in, without a trailing slash.
    pub base_url: String,
    pub log_path: PathBuf,
    _log_dir: tempfile::TempDir,
    command: String,
}

impl RunningApp {
    /// Start the app and wait until `ready` answers 2xx.
    pub fn start(
        app: &App,
        working_dir: &Path,
        extra_env: &[(String, String)],
        database_url: &str,
    ) -> Result<RunningApp, ProbeError> {
        let port = choose_port(app)?;
        let base_url = expand(&app.url, port, database_url)
            .trim_end_matches('/')
            .to_string();
        let command_line = expand(&app.command, port, database_url);
        let words = shell_words::split(&command_line)
            .ok()
            .filter(|w| !w.is_empty())
            .ok_or_else(|| ProbeError::BadCommand {
                command: app.command.clone(),
            })?;
        let (log_dir, log_path) = temporary_log("perfguard-app-", "app.log")?;
        let log = std::fs::File::create(&log_path).map_err(|e| ProbeError::Io {
            what: format!("create {}", log_path.display()),
            source: e,
        })?;
        let log_err = log.try_clone().map_err(|e| ProbeError::Io {
            what: "open the app log".into(),
            source: e,
        })?;
        let env: BTreeMap<String, String> = app
            .env
            .iter()
            .map(|(k, v)| (k.clone(), expand(v, port, database_url)))
            .collect();
        let child = Command::new(&words[0])
            .args(&words[1..])
            .current_dir(working_dir)
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|source| ProbeError::AppNotFound {
                program: words[0].clone(),
                command: command_line.clone(),
                source,
            })?;
        crate::interrupt::register_app_group(child.id() as i32);
        let mut running = RunningApp {
            child,
            port,
            base_url,
            log_path,
            _log_dir: log_dir,
            command: command_line,
        };
        let ready = if app.ready.starts_with('/') {
            format!("{}{}", running.base_url, app.ready)
        } else {
            expand(&app.ready, port, database_url)
        };
        running.wait_ready(app, &ready, app.startup_timeout.0)?;
        Ok(running)
    }

    fn wait_ready(&mut self, app: &App, url: &str, timeout: Duration) -> Result<(), ProbeError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        let started = Instant::now();
        loop {
            self.check_alive("while starting")?;
            let last_answer = match agent.get(url).call() {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(error) => error.to_string(),
            };
            if started.elapsed() >= timeout {
                return Err(ProbeError::NeverReady {
                    url: url.to_string(),
                    timeout,
                    last_answer,
                    hint: self.not_ready_hint(app),
                    tail: log_tail(&self.log_path, LOG_TAIL_LINES),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What to do about an app that never answered: where it listens instead,
    /// or why it may not know the port perfguard chose.
    fn not_ready_hint(&self, app: &App) -> String {
        let listening = super::sockets::ports_of_group(self.child.id() as i32);
        let elsewhere: Vec<u16> = listening
            .iter()
            .copied()
            .filter(|p| *p != self.port)
            .collect();
        if !elsewhere.is_empty() && !listening.contains(&self.port) {
            let ports = elsewhere
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return format!(
                "the application listens on port {ports}, not {}: set [app] url = \"http://127.0.0.1:{}\" in perfguard.toml",
                self.port, elsewhere[0]
            );
        }
        let uses_port = app.url.contains("{port}")
            && !app.command.contains("{port}")
            && !app.env.values().any(|v| v.contains("{port}"));
        if uses_port {
            return "[app].command and [app].env never pass {port} to the application, so it cannot know the port perfguard chose: pass it (e.g. env = { PORT = \"{port}\" }) or give its fixed address as [app] url = \"http://127.0.0.1:8080\"".to_string();
        }
        "raise [app].startup_timeout, check [app].ready, or fix the app".to_string()
    }
    /// An error when the app has exited.
    pub fn check_alive(&mut self, when: &str) -> Result<(), ProbeError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(ProbeError::AppExited {
                command: self.command.clone(),
                when: when.to_string(),
                status: status.to_string(),
                tail: log_tail(&self.log_path, LOG_TAIL_LINES),
            }),
            _ => Ok(()),
        }
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path, LOG_TAIL_LINES)
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        let pid = Pid::from_raw(group);
        if killpg(pid, Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(5);
            // Reap the leader as it exits, and wait for the rest of its group.
            while Instant::now() < deadline {
                let leader_gone = matches!(self.child.try_wait(), Ok(Some(_)));
                if leader_gone && killpg(pid, None).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = killpg(pid, Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::interrupt::unregister_app_group(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand() {
        assert_eq!(
            expand("http://127.0.0.1:{port}/health", 8080, ""),
            "http://127.0.0.1:8080/health"
        );
        assert_eq!(
            expand("{database_url}", 1, "postgres://x@127.0.0.1:5/db"),
            "postgres://x@127.0.0.1:5/db"
        );
    }
}
