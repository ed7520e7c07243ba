//! Record a 60 s demo of the fleet, replay it headless: the JSON lines are the live run's,
//! second for second. A replay never opens a connection to any router of the recording.
//! Broken recordings (cut mid-line, from a newer aviary, not JSON) end in partial replay or a
//! clear error, never a panic.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Live {
    dir: tempfile::TempDir,
    stdout: String,
}

impl Live {
    fn recording(&self) -> PathBuf {
        self.dir.path().join("demo.jsonl")
    }
}

/// One live 60 s fleet run, recorded, shared by the tests of this file.
fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = aviary(&[
            "demo",
            "--headless",
            "--pace",
            "fast",
            "--duration",
            "60s",
            "--seed",
            "7",
            "--audit-log",
            &dir.path().join("audit.jsonl").display().to_string(),
            "--record",
            &dir.path().join("demo.jsonl").display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Live {
            dir,
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
        }
    })
}

fn aviary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(args)
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("aviary-replay-test-config"),
        )
        .output()
        .expect("run aviary")
}

fn replay_headless(file: &Path) -> Output {
    aviary(&["replay", "--headless", &file.display().to_string()])
}

#[test]
fn a_recorded_60s_demo_replays_the_same_json_lines_second_for_second() {
    let live = live();
    let out = replay_headless(&live.recording());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed = String::from_utf8(out.stdout).expect("utf-8");
    let (a, b): (Vec<&str>, Vec<&str>) =
        (live.stdout.lines().collect(), replayed.lines().collect());
    // At least 59 seconds of lines for each of the four services, plus the summaries.
    assert!(a.len() >= 59 * 4 + 4, "{} live lines", a.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "line {} differs", i + 1);
    }
    assert_eq!(a.len(), b.len());
}

/// Router addresses named in the recording (`"router":"http://127.0.0.1:PORT"`).
fn routers(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .split("\"router\":\"http://")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_replay_never_opens_a_router_connection() {
    let live = live();
    let text = std::fs::read_to_string(live.recording()).expect("recording");
    let addrs = routers(&text);
    assert_eq!(addrs.len(), 4, "{addrs:?}");
    // The live run is over; stand in for its routers and count who knocks.
    let knocks = Arc::new(AtomicUsize::new(0));
    let mut bound = 0;
    for a in &addrs {
        let Ok(l) = TcpListener::bind(a) else {
            continue;
        };
        bound += 1;
        let k = knocks.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                if c.is_ok() {
                    k.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    assert!(bound >= 1, "none of {addrs:?} could be bound again");
    let out = replay_headless(&live.recording());
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).is_empty());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        knocks.load(Ordering::SeqCst),
        0,
        "the replay connected to a router"
    );
}

#[test]
fn a_recording_cut_mid_line_replays_up_to_its_last_complete_line() {
    let live = live();
    let text = std::fs::read_to_string(live.recording()).expect("recording");
    let cut = &text[..text.len() - 40]; // inside the last line
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("cut.jsonl");
    std::fs::write(&f, cut).expect("write");
    let out = replay_headless(&f);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("incomplete"), "{err}");
    let lines = String::from_utf8_lossy(&out.stdout);
    assert!(lines.lines().count() > 200, "{lines}");
    assert!(lines.contains("\"summary\""), "{lines}");
}

fn refused(content: &str, expect: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, content).expect("write");
    let out = replay_headless(&f);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted {content:?}");
    assert!(err.contains(expect), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_recording_from_a_newer_aviary_is_refused_by_name() {
    let live = live();
    let text = std::fs::read_to_string(live.recording()).expect("recording");
    let newer = text.replacen("\"aviary_recording\":1", "\"aviary_recording\":99", 1);
    refused(
        &newer,
        "recording format 99 is newer than this aviary reads (up to 1)",
    );
}

#[test]
fn files_that_are_not_recordings_are_refused_with_the_reason() {
    refused(
        "hello, world\n",
        "bad.jsonl:1: not an aviary recording (not JSON",
    );
    refused("", "not an aviary recording (the file is empty)");
    refused("{\"some\":\"json\"}\n", "no \"aviary_recording\" version");
    let live = live();
    let text = std::fs::read_to_string(live.recording()).expect("recording");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "garbage in the middle");
    refused(
        &(lines.join("\n") + "\n"),
        "bad.jsonl:4: not a recording entry",
    );
}

#[test]
fn secrets_in_error_texts_never_reach_the_recording() {
    use aviary::app::App;
    use aviary::domain::Plan;
    use aviary::domain::observation::SourceId;
    use aviary::msg::Msg;
    use aviary::record::{Reader, Recorder};
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("r.jsonl");
    let app = App::new(std::time::SystemTime::now(), Plan::default());
    let mut r = Recorder::create(&f, &app).expect("recorder");
    r.record(&Msg::SourceError {
        source: SourceId("prometheus".into()),
        error: "GET https://ops:hunter2@prom:9090/api/v1/query?token=s3cr3t: 401 (Authorization: Bearer abc.def)".into(),
    });
    r.record(&Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('P'),
        crossterm::event::KeyModifiers::SHIFT,
    )));
    drop(r);
    let text = std::fs::read_to_string(&f).expect("recording");
    for secret in ["hunter2", "ops:", "s3cr3t", "abc.def"] {
        assert!(!text.contains(secret), "{secret} reached the file:\n{text}");
    }
    let rec = Reader::open(&f).expect("readable");
    assert_eq!(rec.entries.len(), 2);
    assert!(
        matches!(&rec.entries[1].msg, Msg::Key(k) if k.code == crossterm::event::KeyCode::Char('P'))
    );
}

#[test]
fn a_recording_that_cannot_be_created_is_an_error_before_anything_starts() {
    let out = aviary(&[
        "demo",
        "--headless",
        "--duration",
        "2s",
        "--record",
        "/nonexistent-dir/rec.jsonl",
        "--audit-log",
        &std::env::temp_dir()
            .join("aviary-replay-test-audit.jsonl")
            .display()
            .to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("could not create the recording /nonexistent-dir/rec.jsonl"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
