//! SIPp as the office phone behind the company PBX (`MFA_SIPP`, exported by
//! `scripts/test.sh`), running one of the scenarios in tests/sipp.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_udp_port;

/// One SIPp office phone, running one scenario for one call.
pub struct Sipp {
    child: Child,
    /// Where it listens for SIP.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Sipp {
    pub fn start(scenario: &str) -> Sipp {
        Self::start_for(scenario, 1)
    }

    /// SIPp answering `calls` calls in turn with the same scenario.
    pub fn start_for(scenario: &str, calls: u32) -> Sipp {
        Self::start_with(scenario, calls, "u1")
    }

    /// SIPp on a transport: `u1` (UDP) or `t1` (TCP, one connection).
    pub fn start_with(scenario: &str, calls: u32, transport: &str) -> Sipp {
        let sipp = std::env::var("MFA_SIPP")
            .expect("MFA_SIPP is not set: run the SIP tests through scripts/test.sh");
        let scenario_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(format!("{scenario}.xml"));
        let port = free_udp_port();
        let media_port = free_udp_port();
        let tmp = std::env::var("MFA_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let log = tmp.join(format!("sipp-{scenario}-{port}.log"));
        let mut command = Command::new(sipp);
        command
            .arg("-sf")
            .arg(&scenario_path)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-mp", &media_port.to_string()])
            .args(["-t", transport])
            .args([
                "-m",
                &calls.to_string(),
                "-nostdin",
                "-timeout",
                "60s",
                "-timeout_error",
            ])
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("sipp starts");
        if transport == "t1" {
            // Over TCP nothing retransmits: wait until SIPp listens.
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "sipp does not listen on TCP");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Sipp {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        }
    }

    /// Waits for SIPp to finish its one call; true when the scenario ran as written.
    pub fn finished_as_scripted(mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    eprintln!("sipp exited with {status}; its messages:\n{log}");
                }
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
