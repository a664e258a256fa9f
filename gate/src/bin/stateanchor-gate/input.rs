//! Reading the documents: files (with an fs loader confined to the
//! document's directory) and `git:REV:PATH` (through `git show`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use gate::{Document, Limits, Loader};

/// Reads at most `limit + 1` bytes of a file, so that an oversized one is refused without reading it all.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(buf)
}

/// Files under one directory, never outside it (symbolic links included).
struct DirLoader {
    base: PathBuf,
    limit: usize,
}

impl Loader for DirLoader {
    fn load(&self, path: &str) -> std::result::Result<Vec<u8>, String> {
        let p = self.base.join(path);
        let real = p.canonicalize().map_err(|e| format!("cannot open: {e}"))?;
        if !real.starts_with(&self.base) {
            return Err("the file is outside the document's directory".to_owned());
        }
        read_bounded(&real, self.limit).map_err(|e| format!("{e:#}"))
    }
}

/// Files of one git revision, under the document's directory in that revision.
struct GitLoader {
    rev: String,
    dir: String,
    limit: usize,
}

fn git_show(rev: &str, path: &str, limit: usize) -> Result<Vec<u8>> {
    let spec = format!("{rev}:{path}");
    if rev.starts_with('-') {
        bail!("invalid git revision {rev:?}");
    }
    let out = Command::new("git")
        .args(["show", "--no-textconv", &spec])
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git show {spec} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if out.stdout.len() > limit {
        bail!("{spec} is larger than {limit} bytes");
    }
    Ok(out.stdout)
}

impl Loader for GitLoader {
    fn load(&self, path: &str) -> std::result::Result<Vec<u8>, String> {
        let full = if self.dir.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.dir)
        };
        git_show(&self.rev, &full, self.limit).map_err(|e| format!("{e:#}"))
    }
}

/// Opens `BASE` or `REVISION`: a file path, or `git:REV:PATH`.
pub fn open(spec: &str, limits: &Limits) -> Result<Document> {
    if let Some(rest) = spec.strip_prefix("git:") {
        let (rev, path) = rest
            .rsplit_once(':')
            .with_context(|| format!("{spec:?} is not git:REV:PATH"))?;
        if rev.is_empty() || path.is_empty() {
            bail!("{spec:?} is not git:REV:PATH");
        }
        let path = path.trim_start_matches("./");
        let bytes = git_show(rev, path, limits.max_document_bytes)?;
        let dir = path
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        let loader = GitLoader {
            rev: rev.to_owned(),
            dir,
            limit: limits.max_document_bytes,
        };
        return Document::from_bytes(&bytes, spec, &loader, limits)
            .with_context(|| format!("cannot read {spec}"));
    }
    let path = Path::new(spec);
    let bytes = read_bounded(path, limits.max_document_bytes)?;
    let real = path
        .canonicalize()
        .with_context(|| format!("cannot open {spec}"))?;
    let base = real.parent().map(Path::to_path_buf).unwrap_or_default();
    let loader = DirLoader {
        base,
        limit: limits.max_document_bytes,
    };
    Document::from_bytes(&bytes, spec, &loader, limits)
        .with_context(|| format!("cannot read {spec}"))
}

/// Reads `BASE` or `REVISION` as text for a log server, which classifies
/// single documents: one that refers to other files is refused here, with
/// the advice to bundle it first.
pub fn read_single(spec: &str, limits: &Limits) -> Result<String> {
    let bytes = if let Some(rest) = spec.strip_prefix("git:") {
        let (rev, path) = rest
            .rsplit_once(':')
            .filter(|(r, p)| !r.is_empty() && !p.is_empty())
            .with_context(|| format!("{spec:?} is not git:REV:PATH"))?;
        git_show(
            rev,
            path.trim_start_matches("./"),
            limits.max_document_bytes,
        )?
    } else {
        read_bounded(Path::new(spec), limits.max_document_bytes)?
    };
    Document::from_bytes(&bytes, spec, &gate::NoFiles, limits).with_context(|| {
        format!(
            "cannot read {spec} as one document (the log classifies single documents; bundle a spec that refers to other files first, e.g. with `redocly bundle`)"
        )
    })?;
    String::from_utf8(bytes).with_context(|| format!("{spec} is not UTF-8"))
}

/// Reads a small text file (the overrides file).
pub fn read_text(path: &str) -> Result<String> {
    let bytes = read_bounded(Path::new(path), 1 << 20)?;
    String::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))
}
