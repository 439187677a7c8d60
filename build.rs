//! Records the commit the binary is built from, so reports can tell two builds apart
//! (`report merge` refuses shards of different builds).

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    // A new commit moves HEAD or the branch it names; rebuild then (a worktree or a
    // checkout without git has neither, and keeps "unknown").
    // Only files that exist: a missing one would rerun this script on every build.
    let watch = |path: String| {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    if let (Some(dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) {
        watch(format!("{dir}/HEAD"));
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(format!("{common}/{head}"));
        }
        watch(format!("{common}/packed-refs"));
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CAMPROOF_COMMIT={commit}");
}
