//! The `sluice` binary under test.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

// ---------------------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------------------

/// A running `sluice run`, killed on drop. When the test panicked its stderr is printed.
pub struct Gateway {
    child: Child,
    ip: IpAddr,
    pub port: u16,
    dir: TempDir,
    config_path: PathBuf,
    /// Arguments after `run --config FILE`, kept for [`Gateway::restart`].
    args: Vec<String>,
}

/// `sluice run --config FILE ARGS` with stdout and stderr in (fresh) files of `dir`.
fn spawn(dir: &TempDir, config_path: &Path, args: &[&str]) -> Child {
    let stderr = fs::File::create(dir.path().join("stderr.log")).unwrap();
    let stdout = fs::File::create(dir.path().join("stdout.log")).unwrap();
    Command::new(SLUICE)
        .arg("run")
        .arg("--config")
        .arg(config_path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn sluice")
}

/// The preamble (`name`, `listen`) followed by the dedented `yaml`.
fn config_text(ip: IpAddr, port: u16, yaml: &str) -> String {
    let listen = SocketAddr::new(ip, port);
    format!("name: test\nlisten: [\"{listen}\"]\n{}", dedent(yaml))
}

impl Gateway {
    /// Starts the gateway on `name: test`, `listen: ["127.0.0.1:$PORT"]` followed by
    /// `yaml` (dedented), and waits until it accepts TCP.
    pub fn start(yaml: &str) -> Gateway {
        Self::launch(Ipv4Addr::LOCALHOST.into(), yaml, &[])
    }

    /// Like [`Gateway::start`] with extra arguments after `run --config FILE`.
    pub fn start_with_args(yaml: &str, args: &[&str]) -> Gateway {
        Self::launch(Ipv4Addr::LOCALHOST.into(), yaml, args)
    }

    /// Like [`Gateway::start`], listening on `[::1]`.
    pub fn start_ipv6(yaml: &str) -> Gateway {
        Self::launch(Ipv6Addr::LOCALHOST.into(), yaml, &[])
    }

    fn launch(ip: IpAddr, yaml: &str, args: &[&str]) -> Gateway {
        // Port 0: the gateway binds a free port itself and logs it, so no other test can
        // take the port between choosing and binding it (with SO_REUSEPORT two gateways on
        // one port would silently share its connections).
        let dir = TempDir::new();
        let config_path = dir.write("sluice.yaml", &config_text(ip, 0, yaml));
        let child = spawn(&dir, &config_path, args);
        let mut gw = Gateway {
            child,
            ip,
            port: 0,
            dir,
            config_path,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        gw.wait_started();
        gw
    }

    /// Kills the process with SIGKILL (no drain, no clean-up) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the gateway again on the same config file and folder (after [`Gateway::kill9`]
    /// or an exit); its ports are new, read from the fresh log.
    pub fn restart(&mut self) {
        self.kill9();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn(&self.dir, &self.config_path, &args);
        self.wait_started();
    }

    /// The admin listener's address, as logged (`admin listening addr=...`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.stderr()
            .lines()
            .filter(|l| l.contains("admin listening"))
            .find_map(|l| {
                l.split("addr=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no `admin listening` line; stderr:\n{}", self.stderr()))
    }

    /// The folder holding the config file (and, by default, the admin data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn wait_started(&mut self) {
        let gw = self;
        let ready = gw
            .wait_bound_port(Duration::from_secs(10))
            .and_then(|port| {
                gw.port = port;
                gw.wait_ready(Duration::from_secs(10))
            });
        if let Err(why) = ready {
            let _ = gw.child.kill();
            panic!(
                "gateway not ready: {why}\n--- config ---\n{}--- stderr ---\n{}",
                fs::read_to_string(&gw.config_path).unwrap_or_default(),
                gw.stderr()
            );
        }
    }

    /// The port the gateway logged as `listening addr=IP:PORT`.
    fn wait_bound_port(&mut self, timeout: Duration) -> Result<u16, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited early with {status}"));
            }
            let log = self.stderr();
            let port = log
                .lines()
                .filter(|l| l.contains("listening") && !l.contains("admin"))
                .find_map(|l| {
                    let addr = l.split("addr=").nth(1)?.split_whitespace().next()?;
                    addr.parse::<SocketAddr>().ok().map(|a| a.port())
                });
            if let Some(port) = port {
                return Ok(port);
            }
            if Instant::now() >= deadline {
                return Err(format!("no `listening` line after {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited early with {status}"));
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "port {} not accepting after {timeout:?}",
                    self.port
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        poll(timeout, || self.stderr().contains(needle))
    }

    /// Rewrites the config file with the same preamble (same port) and a new `yaml` body.
    pub fn rewrite_config(&self, yaml: &str) {
        self.dir
            .write("sluice.yaml", &config_text(self.ip, self.port, yaml));
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Peak resident set size (`VmHWM`) in KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// A fresh keep-alive connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// One request on a fresh connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.connect().request(method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let stderr = self.stderr();
            let lines: Vec<&str> = stderr.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- gateway stderr (last {} lines) ---\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}
