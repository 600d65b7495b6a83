//! Flat files of numbers (`u32` or `u64`, native byte order), written in order and read back
//! by position: scratch space for data read at random while it is worked on (the sentences
//! pre-training instances are drawn from), where Arrow's layout would touch several places of
//! the file per row. Reads copy out of the page cache, so the process holds only what it
//! copied: a memory map would count every page it touched as the process's own.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::shards::{io_error, ShardError};

/// Writes numbers to a file, in order.
pub struct ValuesWriter<T> {
    path: PathBuf,
    file: BufWriter<File>,
    kind: PhantomData<T>,
}

impl<T: bytemuck::Pod> ValuesWriter<T> {
    /// A new file at `path` (replaced if there).
    pub fn create(path: &Path) -> Result<Self, ShardError> {
        let file = File::create(path).map_err(io_error(path))?;
        Ok(ValuesWriter {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(1 << 20, file),
            kind: PhantomData,
        })
    }

    /// Appends `values`.
    pub fn write(&mut self, values: &[T]) -> Result<(), ShardError> {
        let bytes = bytemuck::cast_slice(values);
        self.file.write_all(bytes).map_err(io_error(&self.path))
    }

    /// Writes what is buffered and opens the file for reading.
    pub fn finish(self) -> Result<ValuesFile<T>, ShardError> {
        let path = self.path;
        self.file
            .into_inner()
            .map_err(|e| io_error(&path)(e.into_error()))?;
        ValuesFile::open(&path)
    }
}

/// A file of numbers, read by position.
pub struct ValuesFile<T> {
    path: PathBuf,
    file: File,
    len: usize,
    kind: PhantomData<T>,
}

impl<T: bytemuck::Pod> ValuesFile<T> {
    /// Opens `path`, a file of whole numbers of type `T`.
    pub fn open(path: &Path) -> Result<Self, ShardError> {
        let file = File::open(path).map_err(io_error(path))?;
        let bytes = file.metadata().map_err(io_error(path))?.len();
        let size = std::mem::size_of::<T>() as u64;
        if bytes % size != 0 {
            return Err(ShardError::Format {
                path: path.to_path_buf(),
                message: format!("{bytes} bytes is not a whole number of values"),
            });
        }
        Ok(ValuesFile {
            path: path.to_path_buf(),
            file,
            len: (bytes / size) as usize,
            kind: PhantomData,
        })
    }

    /// How many numbers the file holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file holds no number.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replaces the contents of `out` with the numbers in `range` (an error past the end).
    pub fn read(&self, range: Range<usize>, out: &mut Vec<T>) -> Result<(), ShardError> {
        out.clear();
        out.resize(range.len(), T::zeroed());
        let at = (range.start * std::mem::size_of::<T>()) as u64;
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(out), at)
            .map_err(io_error(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("values.bin");
        let mut writer = ValuesWriter::<u64>::create(&path).unwrap();
        let values: Vec<u64> = (0..100_000).map(|v| v * 0x1_0000_0001).collect();
        for chunk in values.chunks(777) {
            writer.write(chunk).unwrap();
        }
        let file = writer.finish().unwrap();
        assert_eq!(file.len(), values.len());
        let mut out = Vec::new();
        file.read(0..values.len(), &mut out).unwrap();
        assert_eq!(out, values);
        file.read(99_990..99_999, &mut out).unwrap();
        assert_eq!(out, &values[99_990..99_999]);
        let past = file.read(99_990..100_001, &mut out).unwrap_err();
        assert!(past.to_string().contains("values.bin"), "{past}");
        let empty = ValuesWriter::<u32>::create(&dir.path().join("empty.bin")).unwrap();
        assert!(empty.finish().unwrap().is_empty());
        std::fs::write(&path, [0u8; 12]).unwrap();
        let Err(error) = ValuesFile::<u64>::open(&path) else {
            panic!("12 bytes were read as u64s");
        };
        assert!(error.to_string().contains("values.bin"), "{error}");
    }
}
