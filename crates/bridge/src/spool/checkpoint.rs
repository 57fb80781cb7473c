//! A sink's delivery checkpoint: how far into the spool that sink holds every action
//! durably (`acked`), and how far the forwarder had sent (`dispatched`) when it was written.
//!
//! A restart resumes each sink at its `acked` position; the actions between `acked` and
//! `dispatched` are the only ones the sink may already have, which is what a restart counts
//! as redelivered. The file has two fixed slots written in turn (`magic | counter | acked |
//! dispatched | crc32`, 48 bytes each) with `pwrite` + `fdatasync`: a write torn by a crash
//! spoils at most the slot being written, and the other one still holds the previous
//! checkpoint. The file is allocated when created, so overwriting a slot needs no new space
//! on a full disk.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"ALCK";
const SLOT: usize = 48;

/// A position in the spool: a segment and a byte offset in it (a record boundary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) seq: u64,
    pub(crate) offset: u64,
}

impl Pos {
    pub(crate) fn new(seq: u64, offset: u64) -> Self {
        Self { seq, offset }
    }
}

/// One checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Everything before it is durable in the sink.
    pub(crate) acked: Pos,
    /// Everything before it had been handed to the sink.
    pub(crate) dispatched: Pos,
}

/// What the file held when opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// A valid checkpoint (the newer of the two slots).
    Mark(Mark),
    /// Nothing written yet (a new file).
    Empty,
    /// Neither slot is valid although something was written: garbage.
    Garbage,
}

fn encode(counter: u64, m: &Mark) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[..4].copy_from_slice(MAGIC);
    for (i, v) in [
        counter,
        m.acked.seq,
        m.acked.offset,
        m.dispatched.seq,
        m.dispatched.offset,
    ]
    .into_iter()
    .enumerate()
    {
        b[4 + 8 * i..12 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[..SLOT - 4]);
    b[SLOT - 4..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(b: &[u8]) -> Option<(u64, Mark)> {
    if b.len() != SLOT || &b[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(b[SLOT - 4..].try_into().ok()?);
    if crc32fast::hash(&b[..SLOT - 4]) != crc {
        return None;
    }
    let v = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            b[4 + 8 * i..12 + 8 * i].try_into().ok()?,
        ))
    };
    let mark = Mark {
        acked: Pos::new(v(1)?, v(2)?),
        dispatched: Pos::new(v(3)?, v(4)?),
    };
    // A dispatch mark behind the acknowledged one is not something a forwarder writes.
    (mark.dispatched >= mark.acked).then_some((v(0)?, mark))
}

fn write_slot(file: &File, counter: u64, mark: &Mark) -> std::io::Result<()> {
    let slot = (counter % 2) * SLOT as u64;
    file.write_all_at(&encode(counter, mark), slot)?;
    file.sync_data()
}

/// An open checkpoint file.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    file: Arc<File>,
    path: PathBuf,
    counter: u64,
}

impl CheckpointFile {
    /// Opens (creating and allocating it if needed) the checkpoint at `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<(Self, Loaded)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut buf = Vec::with_capacity(2 * SLOT);
        (&mut file).take(2 * SLOT as u64).read_to_end(&mut buf)?;
        if buf.is_empty() {
            file.write_all_at(&[0; 2 * SLOT], 0)?;
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                super::segment::sync_dir(dir)?;
            }
        }
        let slots: Vec<Option<(u64, Mark)>> = buf.chunks(SLOT).map(decode).collect();
        let best = slots.iter().flatten().max_by_key(|(c, _)| *c).copied();
        let loaded = match best {
            Some((_, m)) => Loaded::Mark(m),
            None if buf.iter().all(|&b| b == 0) => Loaded::Empty,
            None => Loaded::Garbage,
        };
        let counter = best.map_or(0, |(c, _)| c);
        Ok((
            Self {
                file: Arc::new(file),
                path: path.to_path_buf(),
                counter,
            },
            loaded,
        ))
    }

    /// Writes `mark` into the older slot and syncs it.
    #[cfg(test)]
    pub(crate) fn store_blocking(&mut self, mark: &Mark) -> std::io::Result<()> {
        let counter = self.counter + 1;
        write_slot(&self.file, counter, mark)?;
        self.counter = counter;
        Ok(())
    }

    /// [`Self::store_blocking`] on a blocking thread.
    pub(crate) async fn store(&mut self, mark: &Mark) -> std::io::Result<()> {
        let counter = self.counter + 1;
        let (file, mark) = (self.file.clone(), *mark);
        tokio::task::spawn_blocking(move || write_slot(&file, counter, &mark))
            .await
            .map_err(std::io::Error::other)??;
        self.counter = counter;
        Ok(())
    }

    /// The file's path, for log lines.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(a: u64, d: u64) -> Mark {
        Mark {
            acked: Pos::new(1, a),
            dispatched: Pos::new(1, d),
        }
    }

    #[test]
    fn the_newest_valid_slot_wins_and_a_torn_slot_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        let (mut f, l) = CheckpointFile::open(&p).unwrap();
        assert_eq!(l, Loaded::Empty);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * SLOT as u64);
        f.store_blocking(&mark(10, 20)).unwrap();
        f.store_blocking(&mark(20, 30)).unwrap();
        drop(f);
        let (mut f, l) = CheckpointFile::open(&p).unwrap();
        assert_eq!(l, Loaded::Mark(mark(20, 30)));
        // The next store goes to the other slot: after it, the newest is read again.
        f.store_blocking(&mark(30, 40)).unwrap();
        drop(f);
        assert_eq!(
            CheckpointFile::open(&p).unwrap().1,
            Loaded::Mark(mark(30, 40))
        );
        // Tear the newest slot (counter 3 is in slot 1): the previous checkpoint is used.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[SLOT + 20] ^= 0x55;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(
            CheckpointFile::open(&p).unwrap().1,
            Loaded::Mark(mark(20, 30))
        );
    }

    #[test]
    fn garbage_is_told_from_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::fs::write(
            &p,
            b"not a checkpoint at all, just some bytes somebody wrote here",
        )
        .unwrap();
        assert_eq!(CheckpointFile::open(&p).unwrap().1, Loaded::Garbage);
        // A slot whose dispatch mark is behind its acknowledged mark is refused too.
        let bad = encode(
            1,
            &Mark {
                acked: Pos::new(2, 0),
                dispatched: Pos::new(1, 0),
            },
        );
        std::fs::write(&p, bad).unwrap();
        assert_eq!(CheckpointFile::open(&p).unwrap().1, Loaded::Garbage);
    }

    #[test]
    fn a_full_disk_fails_the_store_and_keeps_the_previous_checkpoint_readable() {
        // /dev/full accepts opening, reads zeros and fails every write with ENOSPC.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::os::unix::fs::symlink("/dev/full", &p).unwrap();
        let (mut f, l) = CheckpointFile::open(&p).unwrap();
        assert_eq!(l, Loaded::Empty);
        let e = f.store_blocking(&mark(1, 2)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}"); // ENOSPC
    }
}
