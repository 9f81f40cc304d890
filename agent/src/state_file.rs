//! The learned table's file (`state-file`): read once when the agent is
//! first configured, and written by a thread of its own, so that neither
//! the disk's speed nor its errors ever hold up the agent task or learning.
//!
//! A write goes to a temporary file beside the target, is synced, and
//! replaces the target by `rename(2)`: a crash or a full disk leaves the
//! previous table whole, never half of one. The agent offers a table at
//! most every few seconds ([`Saver::offer`]); one that arrives while the
//! previous is still being written is dropped, as the next offer carries
//! everything newer. Errors are logged once each, and again when they end.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::mpsc::{self, SyncSender, TrySendError},
    thread::JoinHandle,
    time::Duration,
};

use tracing::{info, warn};

use crate::core::saved::SavedTable;

/// Reads the table at `path`: `Ok(None)` when there is no file (a first
/// start), `Err` with one line that says why when it cannot be used.
pub fn read(path: &Path) -> Result<Option<SavedTable>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    SavedTable::parse(&text).map(Some).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `table` to `path` atomically (temporary file, sync, rename).
pub fn write(path: &Path, table: &SavedTable) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        let text = serde_json::to_vec(table).map_err(std::io::Error::other)?;
        file.write_all(&text)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // The rename itself is durable once the directory is synced.
        fs::File::open(dir).and_then(|d| d.sync_all())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The writer thread.
#[derive(Debug)]
pub struct Saver {
    path: PathBuf,
    tables: Option<SyncSender<SavedTable>>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    /// Starts a writer for `path`.
    #[must_use]
    pub fn start(path: PathBuf) -> Self {
        let (tx, rx) = mpsc::sync_channel::<SavedTable>(1);
        let target = path.clone();
        let thread = std::thread::Builder::new()
            .name("state-file".into())
            .spawn(move || {
                let mut failing: Option<String> = None;
                for table in rx {
                    match write(&target, &table) {
                        Ok(()) => {
                            if failing.take().is_some() {
                                info!(path = %target.display(), macs = table.len(), "learned table written again");
                            }
                        }
                        Err(e) => {
                            let text = e.to_string();
                            if failing.as_deref() != Some(text.as_str()) {
                                warn!(path = %target.display(), error = %text,
                                    "cannot write the learned table: an agent restart will start without it");
                                failing = Some(text);
                            }
                        }
                    }
                }
            })
            .map_err(|e| warn!(error = %e, "cannot start the state-file writer: the learned table is not kept"))
            .ok();
        Self { path, tables: thread.as_ref().map(|_| tx), thread }
    }

    /// Where it writes.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands `table` to the writer; false if it is still busy with the
    /// previous one (the table is dropped: offer a newer one later).
    #[must_use]
    pub fn offer(&self, table: SavedTable) -> bool {
        match &self.tables {
            Some(tables) => match tables.try_send(table) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        }
    }

    /// Writes `table` as the last one and waits for the writer, at most
    /// `limit` (a stopping agent must not hang on a slow disk).
    pub fn finish(mut self, table: SavedTable, limit: Duration) {
        if let Some(tables) = self.tables.take() {
            let deadline = std::time::Instant::now() + limit;
            let mut table = Some(table);
            while let Some(next) = table.take() {
                match tables.try_send(next) {
                    Ok(()) => {}
                    Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                        table = Some(back);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => {
                        warn!("the state-file writer is still busy: the last learned table was not written");
                    }
                }
            }
        }
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + limit;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                warn!("the state-file writer did not finish in time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::core::saved::{FORMAT, VERSION};

    fn table(macs: usize) -> SavedTable {
        let mac = |n: usize| crate::core::saved::SavedMac {
            mac: bgp_wire::MacAddr([
                2,
                0,
                0,
                0,
                u8::try_from(n >> 8).unwrap_or(0),
                u8::try_from(n & 0xff).unwrap_or(0),
            ]),
            vtep: std::net::Ipv4Addr::new(192, 0, 2, 1),
            ips: BTreeMap::new(),
            last_seen_unix_ms: 1,
            sequence: 0,
            best_remote_sequence: 0,
            status: crate::core::saved::SavedStatus::Active,
        };
        SavedTable {
            format: FORMAT.to_owned(),
            version: VERSION,
            written_at_unix_ms: 1,
            mac_vrfs: BTreeMap::from([("blue".to_owned(), (0..macs).map(mac).collect())]),
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sva-state-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_table_is_written_whole_and_read_back() {
        let dir = scratch("whole");
        let path = dir.join("deep/learned.json");
        assert_eq!(read(&path), Ok(None), "no file yet: a first start");
        write(&path, &table(3)).expect("written");
        assert_eq!(read(&path).expect("readable").expect("there").len(), 3);
        // Nothing else is left in the directory (the temporary file is renamed).
        let names: Vec<_> =
            fs::read_dir(dir.join("deep")).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["learned.json"]);
        let saver = Saver::start(path.clone());
        let _ = saver.offer(table(5));
        saver.finish(table(7), Duration::from_secs(5));
        assert_eq!(read(&path).expect("readable").expect("there").len(), 7, "the last table wins");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn unusable_files_say_why_in_one_line() {
        let dir = scratch("bad");
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("learned.json");
        write(&path, &table(2)).expect("written");
        let whole = fs::read_to_string(&path).expect("text");
        fs::write(&path, &whole[..whole.len() / 2]).expect("truncate");
        let error = read(&path).expect_err("truncated");
        assert!(error.contains("invalid JSON") && !error.contains('\n'), "{error}");
        fs::write(&path, whole.replace("\"version\":1", "\"version\":9")).expect("write");
        assert!(read(&path).expect_err("newer").contains("version 9"));
        // A directory where the file should be: readable as an error, and a
        // write fails without panicking or leaving a temporary file.
        let blocked = dir.join("blocked");
        fs::create_dir_all(blocked.join("x")).expect("dir");
        assert!(read(&blocked).is_err());
        assert!(write(&blocked, &table(1)).is_err());
        assert!(
            fs::read_dir(&dir)
                .expect("dir")
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
