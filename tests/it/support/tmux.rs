//! The tmux harness shared by the end-to-end tests: a real terminal emulator on a private
//! `-L` socket, a plain shell in it, keys sent as a person types them, and waits with
//! deadlines that print the whole screen when they run out.

use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server with one session running `bash`; killed on drop.
pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Starts a `cols`×`rows` shell and types `cmd` into it (so the shell is still there to
    /// check after the program exits).
    pub fn shell(session: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: format!("aviary-{session}-{}", std::process::id()),
            session: session.to_string(),
        };
        let (c, r) = (cols.to_string(), rows.to_string());
        t.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &c,
            "-y",
            &r,
            "bash --norc --noprofile",
        ]);
        t.type_line(cmd);
        t
    }

    /// Runs a tmux command on this server.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux must be installed (apt-get install tmux; .ci/run does it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as plain text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Sends one key (tmux key name: `A`, `Enter`, `Escape`, …).
    pub fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", &self.session, k]);
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
        self.keys("Enter");
    }

    /// Polls the screen until `pred` gives a value; on timeout fails with the whole screen.
    pub fn wait_for<T>(&self, what: &str, secs: u64, pred: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if let Some(v) = pred(&s) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out after {secs}s waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls the screen until `ok` holds.
    pub fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) {
        self.wait_for(what, secs, |s| ok(s).then_some(()));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The demo router's address in the header (`router http://127.0.0.1:PORT`).
pub fn router_addr(screen: &str) -> Option<String> {
    let i = screen.find("router http://")?;
    let rest = &screen[i + "router http://".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.contains(':').then_some(addr)
}

/// Which build answered one real request through the demo router (`x-aviary-build`).
pub fn build_of(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the demo router");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-aviary-build:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no x-aviary-build header in {resp}"))
}
