//! Names the commit in `aviary --version`, so a bug report says exactly which build it is.

fn main() {
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AVIARY_COMMIT={commit}");
    // HEAD moves on checkout and commit; refs change on commit to the current branch. Ask git
    // where they are (a worktree keeps HEAD elsewhere), and watch nothing outside a checkout.
    for what in ["HEAD", "refs/heads"] {
        if let Some(path) = git(&["rev-parse", "--git-path", what]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
