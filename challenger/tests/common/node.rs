//! Nodes in their own processes: anvil from the npm package the test
//! command installs (started directly, not through the package's node
//! launcher, so that signals reach it), or `verdict devnet`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Anvil,
    /// `verdict devnet`, mining an empty block every second when idle.
    Devnet,
}

/// A running node; killed when dropped.
pub(crate) struct Node {
    kind: Kind,
    child: Child,
    port: u16,
    /// Where it dumps its state on exit and loads it from on a restart.
    state: Option<PathBuf>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn anvil() -> PathBuf {
    let scope = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/@foundry-rs");
    std::fs::read_dir(&scope)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/anvil"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no anvil binary under {}: run `npm ci` in contracts/ (scripts/test does)",
                scope.display()
            )
        })
}

fn spawn(kind: Kind, port: u16, state: Option<&Path>) -> Child {
    let mut cmd = match kind {
        Kind::Anvil => {
            let mut cmd = Command::new(anvil());
            cmd.args(["--hardfork", "osaka", "--silent"]);
            cmd
        }
        Kind::Devnet => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_verdict"));
            cmd.args(["devnet", "--block-time", "1"]);
            cmd
        }
    };
    cmd.args(["--port", &port.to_string()]);
    if let Some(state) = state {
        cmd.arg("--dump-state").arg(state);
        if state.is_file() {
            cmd.arg("--load-state").arg(state);
        }
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{kind:?} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Node {
    /// A node on a free port.
    pub(crate) fn start(kind: Kind) -> Node {
        let port = free_port();
        Node {
            kind,
            child: spawn(kind, port, None),
            port,
            state: None,
        }
    }

    /// A node on a free port that dumps its state to `state` when stopped.
    pub(crate) fn with_state(kind: Kind, state: PathBuf) -> Node {
        let port = free_port();
        Node {
            kind,
            child: spawn(kind, port, Some(&state)),
            port,
            state: Some(state),
        }
    }

    /// Its JSON-RPC URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it with SIGTERM (it dumps its state), waits `down`, and starts
    /// it again on the same port from the dumped state.
    pub(crate) fn restart(&mut self, down: Duration) {
        let state = self.state.clone().expect("a node with a state file");
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        self.child.wait().unwrap();
        std::thread::sleep(down);
        self.child = spawn(self.kind, self.port, Some(&state));
    }
}
