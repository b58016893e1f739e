//! Build script: the git commit the binary is built from, for the `marketlounge_build_info`
//! metric (`unknown` when the source is not a git checkout or git is missing).

use std::process::Command;

fn main() {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
        let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
        (!text.is_empty()).then_some(text)
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MARKETLOUNGE_GIT_COMMIT={commit}");
    // Built again when HEAD moves: HEAD itself (a checkout), the branch it names (a commit) and
    // the packed refs (a branch packed by gc). In a worktree these live in its git directory.
    for path in [Some("HEAD".to_owned()), git(&["symbolic-ref", "-q", "HEAD"]), Some("packed-refs".to_owned())]
        .into_iter()
        .flatten()
    {
        // A path that does not exist would make cargo run this script on every build.
        if let Some(file) = git(&["rev-parse", "--git-path", &path]).filter(|file| std::path::Path::new(file).exists())
        {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
