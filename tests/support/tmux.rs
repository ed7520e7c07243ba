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
