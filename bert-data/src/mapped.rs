//! Flat files of numbers (`u32` or `u64`, native byte order), written in order and read back
//! through a memory map: scratch space for data read at random while it is worked on (the
//! sentences pre-training instances are drawn from), where Arrow's layout would touch several
//! places of the file per row. Like [`crate::shards::Shards`], a map can drop its pages from the
//! process ([`MappedValues::release`]), so what stays resident is what was read since.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
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

    /// Writes what is buffered and maps the file.
    pub fn finish(self) -> Result<MappedValues<T>, ShardError> {
        let path = self.path;
        self.file
            .into_inner()
            .map_err(|e| io_error(&path)(e.into_error()))?;
        MappedValues::open(&path)
    }
}

/// A file of numbers, mapped.
pub struct MappedValues<T> {
    map: Option<memmap2::Mmap>,
    kind: PhantomData<T>,
}

impl<T: bytemuck::Pod> MappedValues<T> {
    /// Maps `path`, a file of whole numbers of type `T`.
    pub fn open(path: &Path) -> Result<Self, ShardError> {
        let file = File::open(path).map_err(io_error(path))?;
        let len = file.metadata().map_err(io_error(path))?.len();
        if len % std::mem::size_of::<T>() as u64 != 0 {
            return Err(ShardError::Format {
                path: path.to_path_buf(),
                message: format!("{len} bytes is not a whole number of values"),
            });
        }
        // SAFETY: the map is read only, of a scratch file this process wrote and nobody
        // changes while it is mapped.
        let map = match len {
            0 => None,
            _ => Some(unsafe { memmap2::Mmap::map(&file) }.map_err(io_error(path))?),
        };
        Ok(MappedValues {
            map,
            kind: PhantomData,
        })
    }

    /// The numbers (a map starts on a page, so it is aligned for any `T`).
    pub fn values(&self) -> &[T] {
        self.map
            .as_ref()
            .map(|map| bytemuck::cast_slice(&map[..]))
            .unwrap_or(&[])
    }

    /// Drops the map's pages from this process's page tables (they stay in the page cache):
    /// the next read maps them again.
    pub fn release(&self) {
        if let Some(map) = &self.map {
            crate::shards::release(map);
        }
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
        let mapped = writer.finish().unwrap();
        assert_eq!(mapped.values(), &values[..]);
        mapped.release();
        assert_eq!(mapped.values()[99_999], values[99_999]);
        let empty = ValuesWriter::<u32>::create(&dir.path().join("empty.bin")).unwrap();
        assert!(empty.finish().unwrap().values().is_empty());
        std::fs::write(&path, [0u8; 12]).unwrap();
        let Err(error) = MappedValues::<u64>::open(&path) else {
            panic!("12 bytes were read as u64s");
        };
        assert!(error.to_string().contains("values.bin"), "{error}");
    }
}
