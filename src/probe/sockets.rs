//! Who listens where, read from Linux's `/proc`: the process holding a port
//! perfguard needs, and the ports an application's process group listens on
//! when it never answered the URL perfguard polled. Elsewhere (or without
//! permission to read another user's file descriptors) the answers are empty
//! and the messages fall back to saying less.

use std::collections::BTreeSet;
use std::path::Path;

/// TCP state `LISTEN` in `/proc/net/tcp`.
const LISTEN: &str = "0A";

/// One listening TCP socket: its port and the inode that names it in `/proc/*/fd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Listener {
    port: u16,
    inode: u64,
}

/// Parse the listening sockets of one `/proc/net/tcp`-format table.
fn parse_listeners(table: &str) -> Vec<Listener> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != LISTEN {
                return None;
            }
            let port = u16::from_str_radix(fields[1].rsplit(':').next()?, 16).ok()?;
            let inode = fields[9].parse().ok()?;
            Some(Listener { port, inode })
        })
        .collect()
}

fn listeners() -> Vec<Listener> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| parse_listeners(&table))
        .collect()
}

/// Socket inodes a process holds open.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// `pid 1234 (python3 -m http.server 8080)`: a process as a message names it.
fn describe(pid: u32) -> String {
    let proc = Path::new("/proc").join(pid.to_string());
    let command_line = std::fs::read(proc.join("cmdline"))
        .ok()
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|word| !word.is_empty())
                .map(|word| String::from_utf8_lossy(word).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|line| !line.is_empty())
        .or_else(|| {
            std::fs::read_to_string(proc.join("comm"))
                .ok()
                .map(|c| c.trim().to_string())
        })
        .unwrap_or_default();
    let shown: String = command_line.chars().take(120).collect();
    format!("pid {pid} ({shown})")
}

/// The process listening on `port`, described for a message, when it can be found.
pub fn holder_of(port: u16) -> Option<String> {
    let inodes: BTreeSet<u64> = listeners()
        .into_iter()
        .filter(|l| l.port == port)
        .map(|l| l.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    pids()
        .into_iter()
        .find(|pid| !socket_inodes(*pid).is_disjoint(&inodes))
        .map(describe)
}

/// Process group of a process, from `/proc/PID/stat` (the field after the parent pid).
fn process_group(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(2)?.parse().ok()
}

/// TCP ports the processes of a process group listen on.
pub fn ports_of_group(group: i32) -> Vec<u16> {
    let inodes: BTreeSet<u64> = pids()
        .into_iter()
        .filter(|pid| process_group(*pid) == Some(group))
        .flat_map(socket_inodes)
        .collect();
    let ports: BTreeSet<u16> = listeners()
        .into_iter()
        .filter(|l| inodes.contains(&l.inode))
        .map(|l| l.port)
        .collect();
    ports.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 434343 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(
            parse_listeners(table),
            vec![Listener {
                port: 8080,
                inode: 424242
            }]
        );
    }

    #[test]
    fn a_listening_socket_of_this_process_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !Path::new("/proc/net/tcp").exists() {
            eprintln!("skipped: no /proc/net/tcp on this system");
            return;
        }
        let holder = holder_of(port).expect("this test holds the port");
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
        let group = nix::unistd::getpgrp().as_raw();
        assert!(ports_of_group(group).contains(&port));
    }
}
