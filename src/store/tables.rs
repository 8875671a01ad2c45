//! A check of every table file's trailer and table of contents before the engine opens them.
//!
//! fjall's table files are sfa archives: sections, then a table of contents (`TOC!`, a u32
//! entry count, entries of `u64 pos, u64 len, u16 name length, name`), then a 38-byte trailer
//! (`SFA!`, version 1, checksum type 0, the ToC's xxh3-128 checksum, the ToC's position and
//! length). The engine (sfa 1.0.0, `TocReader::from_reader`) allocates the entry count it reads
//! *before* it checks the ToC's checksum, so one flipped byte there asks for up to 60 GB and
//! aborts the process at startup (ARCHITECTURE.md "Storage engine facts" has the
//! reproduction). Here the trailer, the ToC's checksum and every section's bounds are checked
//! first; a file that fails is named as damage, and the engine never reads it.

use super::Error;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const TRAILER: u64 = 4 + 1 + 1 + 16 + 8 + 8;
/// Smallest ToC entry: pos, len, name length (an empty name).
const MIN_ENTRY: u64 = 8 + 8 + 2;

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_le_bytes)
}

/// Why a table file is damaged, if it is.
fn check(path: &Path) -> std::io::Result<Option<String>> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if size < TRAILER {
        return Ok(Some(format!("{size} bytes, shorter than its trailer")));
    }
    let mut trailer = [0u8; TRAILER as usize];
    f.seek(SeekFrom::Start(size - TRAILER))?;
    f.read_exact(&mut trailer)?;
    if trailer.get(..6) != Some(b"SFA!\x01\x00".as_slice()) {
        return Ok(Some("its trailer is not an sfa trailer".into()));
    }
    let want = trailer
        .get(6..22)
        .and_then(|s| <[u8; 16]>::try_from(s).ok())
        .map(u128::from_le_bytes);
    let (Some(want), Some(toc_pos)) = (want, u64_at(&trailer, 22)) else {
        return Ok(Some("its trailer is unreadable".into()));
    };
    let toc_end = size - TRAILER;
    if toc_pos.saturating_add(8) > toc_end {
        return Ok(Some("its table of contents lies outside the file".into()));
    }
    let mut toc = vec![0u8; usize::try_from(toc_end - toc_pos).unwrap_or(0)];
    f.seek(SeekFrom::Start(toc_pos))?;
    f.read_exact(&mut toc)?;
    if toc.get(..4) != Some(b"TOC!".as_slice()) {
        return Ok(Some("its table of contents has no header".into()));
    }
    let count = toc
        .get(4..8)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_le_bytes);
    if u64::from(count).saturating_mul(MIN_ENTRY) > toc_end - toc_pos - 8 {
        return Ok(Some(format!(
            "its table of contents claims {count} sections, more than fit"
        )));
    }
    // the checksum covers the header, the count and the entries (not what follows them)
    let mut at = 8usize;
    for _ in 0..count {
        let (Some(pos), Some(len)) = (u64_at(&toc, at), u64_at(&toc, at + 8)) else {
            return Ok(Some("its table of contents is cut short".into()));
        };
        let name_len = toc
            .get(at + 16..at + 18)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map_or(0, u16::from_le_bytes);
        at += 18 + usize::from(name_len);
        if at > toc.len() || pos.saturating_add(len) > toc_pos {
            return Ok(Some("a section lies outside the file".into()));
        }
    }
    let got = toc
        .get(..at)
        .map(xxhash_rust::xxh3::xxh3_128)
        .unwrap_or_default();
    if got != want {
        return Ok(Some("its table of contents fails its checksum".into()));
    }
    Ok(None)
}

fn table_files(keyspaces: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(spaces) = std::fs::read_dir(keyspaces) else {
        return Ok(out);
    };
    for ks in spaces {
        let tables = ks?.path().join("tables");
        let Ok(files) = std::fs::read_dir(&tables) else {
            continue;
        };
        for f in files {
            let p = f?.path();
            if p.is_file() {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Checks every table file under `keyspaces`; the first damaged one is named.
pub fn check_all(keyspaces: &Path) -> Result<(), Error> {
    for t in table_files(keyspaces)? {
        if let Some(why) = check(&t)? {
            return Err(Error::Damaged(format!(
                "table file {} is damaged: {why}",
                t.display()
            )));
        }
    }
    Ok(())
}
