//! The default store: one directory holding a sled database and a snapshot file.
//!
//! This is the only file that imports sled. Layout of the data directory (a directory whose
//! `log/log/db` exists is in the layout of earlier builds, one level down, and is opened there):
//! - `log/`: the sled database. Tree `records`: key = first [`Seq`] of the batch (big-endian
//!   u64, so key order is log order), value = the checksummed record. Tree `meta`: `high_water`.
//! - `snapshot.bin`: `"HPSNAP01" | seq u64 LE | crc32 u32 LE | len u64 LE | state bytes`,
//!   replaced atomically (write temp, fsync, rename, fsync directory).
//!
//! Durability: sled's `flush()` writes its buffers and calls `sync_file_range`, which does not
//! flush the disk's write cache, so with [`Durability::Fsync`] we also `fdatasync` the database
//! file itself, and `fsync` every blob file sled wrote since the last sync (sled writes page
//! fragments over its blob threshold, about 128 KiB, to files under `blobs/` and never syncs
//! them), then the blob directory.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::event::Seq;
use crate::store::{Durability, EventStore, Snapshot, SnapshotSink, StoreError, covered_records};

const SNAPSHOT_MAGIC: &[u8; 8] = b"HPSNAP01";
const HIGH_WATER: &[u8] = b"high_water";
/// Key of the marker a readiness probe writes (in the meta tree; the log never reads it).
const PROBE: &[u8] = b"probe";

/// An [`EventStore`] on a sled database in one directory.
pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    meta: sled::Tree,
    /// With [`Durability::Fsync`]: the files each sync makes durable beyond sled's flush.
    files: Option<Arc<DurableFiles>>,
    durability: Durability,
    high_water: Seq,
    /// Readiness probes written since open: each probe writes a new value (sled may keep an
    /// unchanged one without writing).
    probes: u64,
}

/// What an fsync must reach that sled's `flush()` does not: sled's flush ends in
/// `sync_file_range`, which leaves the disk's write cache alone, and it never syncs the blob
/// files it writes under `blobs/` for any page fragment over its blob threshold (a quarter of
/// the 512 KiB segment: a large batch, or a leaf page of 16 records of a few KiB each).
struct DurableFiles {
    /// sled's database file, kept open so that each sync is one `fdatasync`.
    db_file: File,
    /// sled's blob directory.
    blobs: PathBuf,
    /// The blob files already made durable (and the directory entries naming them).
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl DurableFiles {
    fn open(sled_dir: &Path) -> Result<DurableFiles, StoreError> {
        let db_file = OpenOptions::new()
            .read(true)
            .open(sled_dir.join("db"))
            .map_err(|e| StoreError::io("open sled db file", e))?;
        Ok(DurableFiles {
            db_file,
            blobs: sled_dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// `fdatasync` of the database file, then `fsync` of every blob file not synced yet and,
    /// if there was one, of the blob directory. Blobs sled removed meanwhile are forgotten.
    fn sync(&self) -> Result<(), StoreError> {
        self.db_file
            .sync_data()
            .map_err(|e| StoreError::io("fsync", e))?;
        let entries = match fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("list blobs", e)),
        };
        let mut synced = self.synced_blobs.lock();
        let mut present = HashSet::with_capacity(synced.len());
        let mut new = false;
        for entry in entries {
            let name = entry
                .map_err(|e| StoreError::io("list blobs", e))?
                .file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(file) => file
                        .sync_all()
                        .map_err(|e| StoreError::io("fsync blob", e))?,
                    // Removed by sled since the listing: nothing to make durable.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io("open blob", e)),
                }
                new = true;
            }
            present.insert(name);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        *synced = present;
        Ok(())
    }
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the directory cannot be created or sled cannot open it (for
    /// example because another process holds it).
    pub fn open(dir: &Path, durability: Durability) -> Result<SledStore, StoreError> {
        let legacy = dir.join("log");
        let dir = match legacy.join("log").join("db").is_file() {
            // Earlier builds put the store one level down (`DIR/log/log/`, `DIR/log/snapshot.bin`).
            true => {
                tracing::info!(dir = %legacy.display(), "opening a data directory in the earlier layout");
                legacy.as_path()
            }
            false => dir,
        };
        private_dir(dir)?;
        private_dir(&dir.join("log"))?;
        let db = open_sled(&dir.join("log"))?;
        // sled creates its files with the process umask; they hold e-mails and password hashes.
        for name in ["conf", "db"] {
            private_file(&dir.join("log").join(name))?;
        }
        let records = db
            .open_tree("records")
            .map_err(|e| StoreError::io("open tree", e))?;
        let meta = db
            .open_tree("meta")
            .map_err(|e| StoreError::io("open tree", e))?;
        let files = match durability {
            Durability::Fsync => Some(Arc::new(DurableFiles::open(&dir.join("log"))?)),
            _ => None,
        };
        let stored_high = meta
            .get(HIGH_WATER)
            .map_err(|e| StoreError::io("read high water", e))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let last_key = records
            .last()
            .map_err(|e| StoreError::io("read last record", e))?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let store = SledStore {
            dir: dir.to_path_buf(),
            db,
            records,
            meta,
            files,
            durability,
            high_water: Seq(stored_high.max(last_key)),
            probes: 0,
        };
        sync_dir(dir)?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot.bin")
    }
}

impl EventStore for SledStore {
    fn append(
        &mut self,
        first: Seq,
        last: Seq,
        expected_last: Seq,
        record: &[u8],
    ) -> Result<(), StoreError> {
        if expected_last < self.high_water || first <= self.high_water {
            return Err(StoreError::Conflict {
                expected: expected_last,
                found: self.high_water,
            });
        }
        let mut batch = sled::Batch::default();
        batch.insert(&first.0.to_be_bytes(), record);
        self.records
            .apply_batch(batch)
            .map_err(|e| StoreError::io("append", e))?;
        // The high water mark may lag the records on disk after a crash; open() takes the max.
        self.meta
            .insert(HIGH_WATER, &last.0.to_be_bytes())
            .map_err(|e| StoreError::io("append", e))?;
        self.high_water = last;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        sync_db(&self.db, self.files.as_deref(), self.durability)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        // A marker in the meta tree: a real write through sled's log, so ENOSPC or sled's
        // sticky error after an earlier I/O failure shows here as on the next append.
        self.probes = self.probes.wrapping_add(1);
        self.meta
            .insert(PROBE, &self.probes.to_be_bytes())
            .map_err(|e| StoreError::io("probe", e))?;
        self.sync()
    }

    fn discard(&mut self, first: Seq) -> Result<(), StoreError> {
        self.records
            .remove(first.0.to_be_bytes())
            .map_err(|e| StoreError::io("discard", e))?;
        Ok(())
    }

    fn read_after(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let start = after.0.saturating_add(1).to_be_bytes();
        for item in self.records.range(start..) {
            let (key, value) = item.map_err(|e| StoreError::io("read log", e))?;
            let Ok(key) = <[u8; 8]>::try_from(key.as_ref()) else {
                return Err(StoreError::io(
                    "read log",
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed record key"),
                ));
            };
            visit(Seq(u64::from_be_bytes(key)), &value)?;
        }
        Ok(())
    }

    fn high_water(&self) -> Seq {
        self.high_water
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        write_snapshot(&self.dir, snapshot)
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        let path = self.snapshot_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open snapshot", e)),
        };
        let corrupt = |reason: &str| StoreError::CorruptSnapshot {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let read = |e| StoreError::io("read snapshot", e);
        // The header first, then the body straight into a buffer of its final size: a
        // snapshot of a million sessions is 100 MB, not worth growing and shifting.
        let mut header = [0u8; 28];
        if let Err(e) = file.read_exact(&mut header) {
            return match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Err(corrupt("bad header")),
                _ => Err(read(e)),
            };
        }
        if &header[..8] != SNAPSHOT_MAGIC {
            return Err(corrupt("bad header"));
        }
        let word = |at: usize| -> [u8; 8] {
            let mut w = [0; 8];
            w.copy_from_slice(&header[at..at + 8]);
            w
        };
        let seq = Seq(u64::from_le_bytes(word(8)));
        let crc = [header[16], header[17], header[18], header[19]];
        let len = u64::from_le_bytes(word(20));
        let on_disk = file.metadata().map_err(read)?.len();
        if on_disk.checked_sub(28) != Some(len) {
            return Err(corrupt("length mismatch"));
        }
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| corrupt("length mismatch"))?];
        file.read_exact(&mut bytes).map_err(read)?;
        if crc32fast::hash(&bytes).to_le_bytes() != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(Some(Snapshot { seq, bytes }))
    }

    fn compact_through(&mut self, through: Seq) -> Result<(), StoreError> {
        compact(&self.records, through, self.high_water)?;
        self.sync()
    }

    fn snapshot_sink(&self) -> Option<Box<dyn SnapshotSink>> {
        Some(Box::new(SledSnapshotSink {
            dir: self.dir.clone(),
            db: self.db.clone(),
            records: self.records.clone(),
            files: self.files.clone(),
            durability: self.durability,
        }))
    }

    fn size_on_disk(&self) -> Option<u64> {
        let snapshot = fs::metadata(self.snapshot_path())
            .map(|m| m.len())
            .unwrap_or(0);
        self.db.size_on_disk().ok().map(|s| s + snapshot)
    }
}

/// Saves snapshots and compacts the log beside the writer: sled's trees take concurrent
/// writers, compaction removes only keys at or before the snapshot, and the writer appends only
/// after it.
struct SledSnapshotSink {
    dir: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    files: Option<Arc<DurableFiles>>,
    durability: Durability,
}

impl SnapshotSink for SledSnapshotSink {
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        write_snapshot(&self.dir, snapshot)
    }

    fn compact_through(&mut self, through: Seq, high_water: Seq) -> Result<(), StoreError> {
        compact(&self.records, through, high_water)?;
        sync_db(&self.db, self.files.as_deref(), self.durability)
    }
}

/// Makes what was written to `db` durable as `durability` says.
fn sync_db(
    db: &sled::Db,
    files: Option<&DurableFiles>,
    durability: Durability,
) -> Result<(), StoreError> {
    match durability {
        Durability::None => Ok(()),
        Durability::Flush => {
            db.flush().map_err(|e| StoreError::io("flush", e))?;
            Ok(())
        }
        Durability::Fsync => {
            db.flush().map_err(|e| StoreError::io("flush", e))?;
            match files {
                Some(files) => files.sync(),
                None => Ok(()),
            }
        }
    }
}

/// Atomically replaces `dir/snapshot.bin`: write a temporary file, fsync, rename, fsync the
/// directory.
fn write_snapshot(dir: &Path, snapshot: &Snapshot) -> Result<(), StoreError> {
    let tmp = dir.join("snapshot.tmp");
    let io = |e| StoreError::io("write snapshot", e);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    let mut header = Vec::with_capacity(28);
    header.extend_from_slice(SNAPSHOT_MAGIC);
    header.extend_from_slice(&snapshot.seq.0.to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(&snapshot.bytes).to_le_bytes());
    header.extend_from_slice(&(snapshot.bytes.len() as u64).to_le_bytes());
    file.write_all(&header).map_err(io)?;
    file.write_all(&snapshot.bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, dir.join("snapshot.bin")).map_err(io)?;
    sync_dir(dir)
}

/// Drops every record of `records` whose events all lie at or before `through`, given the log's
/// `high_water` (see [`covered_records`]).
fn compact(records: &sled::Tree, through: Seq, high_water: Seq) -> Result<(), StoreError> {
    let key_of = |k: &[u8]| {
        <[u8; 8]>::try_from(k)
            .ok()
            .map(|k| Seq(u64::from_be_bytes(k)))
    };
    let keys: Vec<Seq> = records
        .range(..=through.0.to_be_bytes())
        .keys()
        .filter_map(|k| k.ok().and_then(|k| key_of(&k)))
        .collect();
    let next = records
        .get_gt(through.0.to_be_bytes())
        .map_err(|e| StoreError::io("compact", e))?
        .and_then(|(k, _)| key_of(&k));
    let mut batch = sled::Batch::default();
    for key in covered_records(&keys, next, high_water, through) {
        batch.remove(&key.0.to_be_bytes());
    }
    records
        .apply_batch(batch)
        .map_err(|e| StoreError::io("compact", e))
}

/// Opens the sled database, waiting briefly for a lock that the same process still holds.
///
/// sled releases its file lock when its last internal handle drops, which can trail the drop
/// of our `Db` by a moment (its I/O threads hold handles); an engine closed and reopened in one
/// process would otherwise see a spurious "could not acquire lock". Another process holding
/// the directory still fails, after the wait.
fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let mut attempts = 0;
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if attempts < 50 && e.to_string().contains("lock") => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(StoreError::io("open sled", e)),
        }
    }
}

/// Creates `dir` if missing, readable by the owner only (0700 on Unix): the log and snapshots
/// hold e-mail addresses and password hashes. A directory that exists keeps its mode (it may be
/// one the operator chose), with a warning when others can read it.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |e| StoreError::io("create data directory", e);
    if dir.is_dir() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the data directory is readable by others; it holds e-mail addresses and \
                     password hashes (chmod 700 it)"
                );
            }
        }
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)
}

/// Narrows `file`, if it exists, to its owner (0600 on Unix).
fn private_file(file: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::set_permissions(file, fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::io("restrict file permissions", e));
            }
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: records and pages over sled's blob threshold live in files under `blobs/`,
    /// which sled never fsyncs; the store's sync must, or an acknowledged large batch is not
    /// durable against power loss.
    #[test]
    fn every_blob_file_is_synced_by_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SledStore::open(dir.path(), Durability::Fsync).unwrap();
        let mut high = Seq(0);
        for i in 1..=3u64 {
            // 600 KiB: over the blob threshold of a 512 KiB segment.
            let record = vec![i as u8; 600 * 1024];
            store.append(Seq(i), Seq(i), high, &record).unwrap();
            high = Seq(i);
            store.sync().unwrap();
        }
        let blobs = dir.path().join("log").join("blobs");
        let on_disk: HashSet<OsString> = fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(!on_disk.is_empty(), "large records went to blob files");
        let files = store.files.as_ref().unwrap();
        let synced = files.synced_blobs.lock();
        assert!(
            on_disk.iter().all(|name| synced.contains(name)),
            "blob files not synced: {:?}",
            on_disk.difference(&synced).collect::<Vec<_>>()
        );
        // And the records read back whole.
        let mut read = 0;
        store
            .read_after(Seq(0), &mut |_, bytes| {
                assert_eq!(bytes.len(), 600 * 1024);
                read += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(read, 3);
    }

    /// The data directory and the files in it are the owner's alone: they hold e-mail
    /// addresses and password hashes.
    #[cfg(unix)]
    #[test]
    fn the_data_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let mut store = SledStore::open(&dir, Durability::Fsync).unwrap();
        store
            .save_snapshot(&Snapshot {
                seq: Seq(0),
                bytes: vec![1, 2, 3],
            })
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("log")), 0o700);
        for file in ["log/db", "log/conf", "snapshot.bin"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
    }
}
