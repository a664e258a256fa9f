//! The `dir:` target: a local git repository; each publication is one
//! commit, made with the `git` command line.
//!
//! Commits are built with plumbing on a private index file, and `HEAD` is
//! moved with `git update-ref HEAD <new> <old>`, a compare-and-swap: like
//! the contents API's `sha`, two publishers racing never overwrite each
//! other. The working tree is then brought up to date with a two-tree
//! `git read-tree -m -u`, which never overwrites local changes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use crate::publish::{Publication, Snapshot, Store, Written};
use crate::target::{Layout, history_message};
use crate::{AUTHOR_EMAIL, AUTHOR_NAME, Error};

/// Environment variables that would point git somewhere else than `-C`.
const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
];

/// A local git repository as a publication store.
pub(crate) struct GitDir {
    path: PathBuf,
    git_dir: PathBuf,
    layout: Layout,
}

/// A temporary index file, removed when dropped.
struct TempIndex(PathBuf);

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl GitDir {
    /// Opens the repository at `path`, creating it with `git init` if the
    /// directory is missing or empty.
    ///
    /// Another publisher may be creating the same repository at the same
    /// time: while `.git` exists but git does not accept it yet, this waits
    /// (up to a second) for the other `git init` to finish.
    ///
    /// # Errors
    /// [`Error::NotAGitRepository`] for a non-empty directory without
    /// `.git`; [`Error::Io`] or [`Error::Git`] if creating it fails.
    pub(crate) async fn open(path: &Path) -> Result<Self, Error> {
        let mut tries = 0;
        loop {
            match Self::try_open(path).await {
                Err(Error::Git { .. }) if tries < 20 && path.join(".git").exists() => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                result => return result,
            }
        }
    }

    async fn try_open(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let empty = match std::fs::read_dir(path) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path).map_err(io)?;
                true
            }
            Err(e) => return Err(io(e)),
        };
        let mut dir = GitDir {
            path: path.to_owned(),
            git_dir: PathBuf::new(),
            layout: Layout::new(""),
        };
        if empty {
            dir.git(&["init", "-q", "-b", "main"], None, None).await?;
        } else if !path.join(".git").exists() {
            return Err(Error::NotAGitRepository {
                path: path.to_owned(),
            });
        }
        let out = dir
            .git(&["rev-parse", "--absolute-git-dir"], None, None)
            .await?;
        dir.git_dir = PathBuf::from(String::from_utf8_lossy(&out).trim());
        Ok(dir)
    }

    /// A `git` command in the repository, isolated from the caller's git
    /// configuration and environment.
    fn command(&self, args: &[&str], index: Option<&Path>) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.path).args(args);
        for var in GIT_LOCATION_VARS {
            cmd.env_remove(var);
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
            .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
            .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
            .env("LC_ALL", "C");
        if let Some(index) = index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        cmd
    }

    /// Runs git; returns its output whatever the exit status.
    async fn git_output(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<std::process::Output, Error> {
        let mut cmd = self.command(args, index);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let spawn_err = |source| Error::Io {
            path: "git".into(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data).await.map_err(spawn_err)?;
        }
        child.wait_with_output().await.map_err(spawn_err)
    }

    /// Runs git; returns stdout, or [`Error::Git`] if it failed.
    async fn git(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        index: Option<&Path>,
    ) -> Result<Vec<u8>, Error> {
        let out = self.git_output(args, stdin, index).await?;
        if !out.status.success() {
            return Err(Error::Git {
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out.stdout)
    }

    /// The commit `HEAD` points at, `None` before the first commit.
    async fn head(&self) -> Result<Option<String>, Error> {
        let out = self
            .git_output(
                &["rev-parse", "-q", "--verify", "HEAD^{commit}"],
                None,
                None,
            )
            .await?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The file at `path` in commit `head`, `None` if absent.
    async fn read(&self, head: Option<&str>, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(head) = head else {
            return Ok(None);
        };
        let object = format!("{head}:{path}");
        let exists = self
            .git_output(&["cat-file", "-e", &object], None, None)
            .await?;
        if !exists.status.success() {
            return Ok(None);
        }
        Ok(Some(
            self.git(&["cat-file", "blob", &object], None, None).await?,
        ))
    }

    /// Commits `files` on top of `head` and moves `HEAD` from `head` to the
    /// new commit, atomically; `Conflict` if `HEAD` moved in the meantime.
    async fn commit(
        &self,
        head: Option<&str>,
        files: &[(String, &[u8])],
        message: &str,
    ) -> Result<Written, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let index = TempIndex(self.git_dir.join(format!(
            "stateanchor-publish-{}-{}.index",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )));
        let idx = Some(index.0.as_path());
        match head {
            Some(h) => self.git(&["read-tree", h], None, idx).await?,
            None => self.git(&["read-tree", "--empty"], None, idx).await?,
        };
        for (path, bytes) in files {
            let blob = self
                .git(&["hash-object", "-w", "--stdin"], Some(bytes), None)
                .await?;
            let blob = String::from_utf8_lossy(&blob).trim().to_owned();
            let info = format!("100644,{blob},{path}");
            self.git(&["update-index", "--add", "--cacheinfo", &info], None, idx)
                .await?;
        }
        let tree = self.git(&["write-tree"], None, idx).await?;
        let tree = String::from_utf8_lossy(&tree).trim().to_owned();
        // Never signed: a repository's `commit.gpgSign` must not make the
        // publisher wait for a passphrase.
        let mut args = vec!["commit-tree", "--no-gpg-sign", tree.as_str()];
        if let Some(h) = head {
            args.extend(["-p", h]);
        }
        args.extend(["-m", message]);
        let commit = self.git(&args, None, idx).await?;
        let commit = String::from_utf8_lossy(&commit).trim().to_owned();
        // The commit point: `HEAD` moves only if it still is `head`.
        let old = head.unwrap_or("");
        let moved = self
            .git_output(
                &["update-ref", "-m", message, "HEAD", &commit, old],
                None,
                None,
            )
            .await?;
        if !moved.status.success() {
            if self.head().await?.as_deref() != head {
                return Ok(Written::Conflict);
            }
            return Err(Error::Git {
                command: format!("update-ref HEAD {commit} {old}"),
                stderr: String::from_utf8_lossy(&moved.stderr).trim().to_owned(),
            });
        }
        self.sync_worktree(head, &commit).await;
        Ok(Written::Done {
            commit: Some(commit),
        })
    }

    /// Brings the index and working tree from `old` to `new` without
    /// touching local changes. A failure leaves the (committed)
    /// publication intact and is only logged.
    async fn sync_worktree(&self, old: Option<&str>, new: &str) {
        let args: Vec<&str> = match old {
            Some(old) => vec!["read-tree", "-m", "-u", old, new],
            None => vec!["read-tree", "-m", "-u", new],
        };
        if let Err(e) = self.git(&args, None, None).await {
            tracing::warn!(error = %e, path = %self.path.display(),
                "published, but the working tree was not updated");
        }
    }
}

impl Store for GitDir {
    type Version = Option<String>;

    async fn snapshot(&self) -> Result<Snapshot<Option<String>>, Error> {
        let head = self.head().await?;
        Ok(Snapshot {
            checkpoint: self
                .read(head.as_deref(), &self.layout.checkpoint())
                .await?,
            log_json: self.read(head.as_deref(), &self.layout.log_json()).await?,
            readme: self.read(head.as_deref(), &self.layout.readme()).await?,
            version: head,
        })
    }

    async fn read_history(
        &self,
        snapshot: &Snapshot<Option<String>>,
        tree_size: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read(snapshot.version.as_deref(), &self.layout.history(tree_size))
            .await
    }

    /// One commit with `checkpoint`, `checkpoints/<tree size>`, `log.json`
    /// and `README.md` (each if it changed).
    async fn publish(
        &self,
        snapshot: &Snapshot<Option<String>>,
        p: &Publication,
    ) -> Result<Written, Error> {
        let mut files = vec![(self.layout.checkpoint(), p.checkpoint.as_slice())];
        if p.write_history {
            files.push((self.layout.history(p.tree_size), p.checkpoint.as_slice()));
        }
        if let Some(log_json) = &p.log_json {
            files.push((self.layout.log_json(), log_json.as_slice()));
        }
        if let Some(readme) = &p.readme {
            files.push((self.layout.readme(), readme.as_slice()));
        }
        self.commit(snapshot.version.as_deref(), &files, &p.message)
            .await
    }

    async fn write_history(
        &self,
        snapshot: &Snapshot<Option<String>>,
        tree_size: u64,
        checkpoint: &[u8],
        origin: &str,
    ) -> Result<Written, Error> {
        let files = [(self.layout.history(tree_size), checkpoint)];
        let message = history_message(origin, tree_size);
        self.commit(snapshot.version.as_deref(), &files, &message)
            .await
    }
}
