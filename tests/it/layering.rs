//! The layering is checked, not hoped for: this test reads every file under `src/` and fails
//! when a part imports one it must not. The rules are the ones docs/ARCHITECTURE.md draws:
//! the domain is the centre and imports nothing else of aviary; the judge (`driver`) sees only
//! the domain; `update` decides without knowing any router; providers never reach into the
//! app's state or the screen; the UI draws state and never talks to the outside world.

use std::path::{Path, PathBuf};

/// Which part of aviary a file under `src/` belongs to: its top-level module.
fn part(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_string()
}

/// `Only(list)`: the part may import only these parts (and itself). `Never(list)`: anything but.
enum Rule {
    Only(&'static [&'static str]),
    Never(&'static [&'static str]),
}

fn rule(part: &str) -> Option<Rule> {
    Some(match part {
        "domain" => Rule::Only(&[]),
        "driver" => Rule::Only(&["domain"]),
        "ui" => Rule::Never(&["providers", "effect", "metrics", "update", "run", "session"]),
        "providers" => Rule::Never(&["app", "update", "ui", "effect", "run", "session"]),
        "update" => Rule::Never(&["providers", "metrics", "ui", "run", "session"]),
        "app" => Rule::Never(&["providers", "metrics", "effect", "ui", "update"]),
        "metrics" => Rule::Never(&["app", "update", "ui", "providers", "effect", "run"]),
        "msg" => Rule::Never(&["app", "update", "ui", "providers", "effect", "metrics"]),
        _ => return None,
    })
}

/// The parts of aviary a file's code names (`crate::X`), with the line each first appears
/// on. Comments are skipped so a doc link to another part is not an import.
fn imports(text: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && !out.iter().any(|(n, _)| *n == name) {
                out.push((name.clone(), i + 1));
            }
            rest = after;
        }
    }
    out
}

/// Every broken rule in `files` (`(path relative to src/, text)`), as "file:line: imports X".
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, text) in files {
        let me = part(rel);
        let Some(rule) = rule(&me) else { continue };
        for (other, line) in imports(text) {
            if other == me || other == "install_crypto_provider" {
                continue;
            }
            let bad = match &rule {
                Rule::Only(ok) => !ok.contains(&other.as_str()),
                Rule::Never(no) => no.contains(&other.as_str()),
            };
            if bad {
                out.push(format!(
                    "src/{rel}:{line}: `{me}` must not import `crate::{other}`"
                ));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).expect("under src/");
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push((rel.to_string_lossy().replace('\\', "/"), text));
        }
    }
}

#[test]
fn no_part_imports_what_it_must_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "read {} files", files.len());
    let v = violations(&files);
    assert!(v.is_empty(), "forbidden imports:\n{}", v.join("\n"));
}

/// The check is not vacuous: a planted import of a provider into `update`, of the metrics
/// client into the judge, and of anything into the domain are each caught, naming the file,
/// the line and the import.
#[test]
fn a_planted_forbidden_import_is_named() {
    let planted = [
        (
            "update/keys.rs",
            "use crate::app::App;\nuse crate::providers::haproxy::HaproxyRouter;\n",
            "src/update/keys.rs:2: `update` must not import `crate::providers`",
        ),
        (
            "driver/judge.rs",
            "use crate::domain::Plan;\nuse crate::metrics::poller::PromSource;\n",
            "src/driver/judge.rs:2: `driver` must not import `crate::metrics`",
        ),
        (
            "domain/plan.rs",
            "// crate::ui in a comment is fine\nfn f() { let _ = crate::effect::Effect::Quit; }\n",
            "src/domain/plan.rs:2: `domain` must not import `crate::effect`",
        ),
        (
            "ui/overview.rs",
            "use crate::effect::Executor;\n",
            "src/ui/overview.rs:1: `ui` must not import `crate::effect`",
        ),
    ];
    for (file, text, want) in planted {
        let v = violations(&[(file.to_string(), text.to_string())]);
        assert_eq!(v, vec![want.to_string()], "{file}");
    }
}
