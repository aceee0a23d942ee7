//! A real OpenSSH server on a loopback port, running as the current user,
//! with a generated host key and client key in a temp dir, and an
//! ssh_config that sends every host alias to it. `scripts/test-deps.sh`
//! installs openssh-server where it is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    /// An ssh_config file: `Host *` → 127.0.0.1:port with the test key.
    pub config: PathBuf,
    child: Child,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A loopback port where nothing listens (connections are refused).
pub fn closed_port() -> u16 {
    free_port()
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bosun-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is needed: run scripts/test-deps.sh");
    assert!(st.success());
}

impl Sshd {
    /// Starts sshd with its files under `dir`.
    pub fn start(dir: &Path) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: the SSH tests need openssh-server (run scripts/test-deps.sh)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("id_ed25519");
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
        // Privilege separation needs this directory when sshd runs as root.
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        if uid.trim_ascii() == b"0" {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = free_port();
        let sshd_config = dir.join("sshd_config");
        std::fs::write(
            &sshd_config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 MaxStartups 200\nMaxSessions 200\nLogLevel ERROR\n",
                hk = host_key.display(),
                dir = dir.display()
            ),
        )
        .unwrap();
        let pubkey = std::fs::read_to_string(dir.join("host_ed25519.pub")).unwrap();
        let mut kh = String::new();
        for k in pubkey.split_whitespace().take(2) {
            kh.push_str(k);
            kh.push(' ');
        }
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", kh.trim()),
        )
        .unwrap();
        let config = dir.join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host *\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {dir}/known_hosts\n  \
                 StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                key = client_key.display(),
                dir = dir.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&sshd_config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < end,
                "sshd did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            port,
            dir: dir.to_path_buf(),
            config,
            child,
        }
    }

    /// Runs `cmd` over ssh to `alias` with the test config (for checks).
    pub fn ssh(&self, alias: &str, cmd: &str) -> std::process::Output {
        Command::new("ssh")
            .arg("-F")
            .arg(&self.config)
            .args(["-o", "BatchMode=yes", alias, cmd])
            .output()
            .unwrap()
    }

    /// Kills every connection sshd serves (its per-connection children),
    /// as a host that drops mid-step would; the listener stays up.
    pub fn drop_connections(&self) -> usize {
        let mut killed = 0;
        for pid in children_of(self.child.id()) {
            // A positive pid: one process, never a group.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            killed += 1;
        }
        killed
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.drop_connections();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
