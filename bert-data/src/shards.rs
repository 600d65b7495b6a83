//! Tokenized rows on disk, for corpora larger than memory: Apache Arrow IPC stream files
//! (the format of HF `datasets`' cache files, which `datasets.Dataset.from_file` reads), read
//! back through a memory map without copying.
//!
//! A shard folder holds `part-00000.arrow`, `part-00001.arrow`, ...; each has the columns
//! `input_ids` (list of u32), `special_tokens_mask` and `word_start` (lists of u8, 1 or 0), one
//! row per block of tokens, in record batches of [`BATCH_ROWS`] rows, and optionally a fourth
//! column of one integer label a row (`next_sentence_label` for pre-training instances).
//! [`ShardWriter`] writes
//! them row by row with bounded memory; [`Shards`] maps them and hands out rows as slices of the
//! mapped files, so reading a corpus costs the pages touched, not its size. Touched pages stay
//! mapped (and counted in the process's RSS: the kernel maps 64 KB around each fault) until
//! [`Shards`] lets go of them, after opening each file and every [`RELEASE_EVERY`] rows read;
//! they stay in the page cache, so reading them again costs no disk.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, UInt32Builder, UInt8Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt32Type, UInt8Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 1024;

/// Rows read between two releases of the mapped pages.
pub const RELEASE_EVERY: usize = 64;

/// The column names, in order.
pub const COLUMNS: [&str; 3] = ["input_ids", "special_tokens_mask", "word_start"];

/// What reading or writing shards can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a shard of this layout.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One row: a block of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRow<'a> {
    /// Token ids.
    pub ids: &'a [u32],
    /// 1 for tokens never masked (`[CLS]`, `[SEP]`), else 0.
    pub special: &'a [u8],
    /// 1 for tokens that start a word, else 0.
    pub word_start: &'a [u8],
}

/// Writes rows into shards of at most `rows_per_shard` rows each.
pub struct ShardWriter {
    dir: PathBuf,
    rows_per_shard: usize,
    shard: Option<(PathBuf, StreamWriter<BufWriter<File>>)>,
    rows_in_shard: usize,
    ids: ListBuilder<UInt32Builder>,
    special: ListBuilder<UInt8Builder>,
    word_start: ListBuilder<UInt8Builder>,
    label: Option<(String, Int64Builder)>,
    pending: usize,
    files: Vec<PathBuf>,
}

impl ShardWriter {
    /// A writer into `dir` (created if missing).
    pub fn create(dir: &Path, rows_per_shard: usize) -> Result<Self, ShardError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            rows_per_shard: rows_per_shard.max(1),
            shard: None,
            rows_in_shard: 0,
            ids: ListBuilder::new(UInt32Builder::new()),
            special: ListBuilder::new(UInt8Builder::new()),
            word_start: ListBuilder::new(UInt8Builder::new()),
            label: None,
            pending: 0,
            files: Vec::new(),
        })
    }

    /// A writer whose rows also have an integer label, in the column `name`
    /// ([`ShardWriter::push_labelled`]).
    pub fn create_labelled(
        dir: &Path,
        rows_per_shard: usize,
        name: &str,
    ) -> Result<Self, ShardError> {
        let mut writer = Self::create(dir, rows_per_shard)?;
        writer.label = Some((name.to_string(), Int64Builder::new()));
        Ok(writer)
    }

    /// Appends one row and its label.
    ///
    /// # Panics
    /// If the writer was not made by [`ShardWriter::create_labelled`].
    pub fn push_labelled(&mut self, row: TokenRow<'_>, label: i64) -> Result<(), ShardError> {
        let (_, labels) = self.label.as_mut().expect("a writer of labelled rows");
        labels.append_value(label);
        self.append(row)
    }

    /// Appends one row.
    ///
    /// # Panics
    /// If the writer was made by [`ShardWriter::create_labelled`].
    pub fn push(&mut self, row: TokenRow<'_>) -> Result<(), ShardError> {
        assert!(self.label.is_none(), "a labelled row without its label");
        self.append(row)
    }

    fn append(&mut self, row: TokenRow<'_>) -> Result<(), ShardError> {
        self.ids.values().append_slice(row.ids);
        self.ids.append(true);
        self.special.values().append_slice(row.special);
        self.special.append(true);
        self.word_start.values().append_slice(row.word_start);
        self.word_start.append(true);
        self.pending += 1;
        if self.pending == BATCH_ROWS || self.rows_in_shard + self.pending == self.rows_per_shard {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is pending and closes the last shard; the files written, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, ShardError> {
        self.flush()?;
        self.close_shard()?;
        Ok(self.files)
    }

    /// Writes the pending rows as one record batch of the current shard.
    fn flush(&mut self) -> Result<(), ShardError> {
        if self.pending == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.special.finish()),
            Arc::new(self.word_start.finish()),
        ];
        let mut names: Vec<&str> = COLUMNS.to_vec();
        if let Some((name, labels)) = &mut self.label {
            columns.push(Arc::new(labels.finish()));
            names.push(name);
        }
        let fields: Vec<Field> = names
            .iter()
            .zip(&columns)
            .map(|(name, c)| Field::new(*name, c.data_type().clone(), false))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        if self.shard.is_none() {
            let path = self.dir.join(format!("part-{:05}.arrow", self.files.len()));
            let file = File::create(&path).map_err(io_error(&path))?;
            let writer =
                StreamWriter::try_new(BufWriter::new(file), &schema).map_err(arrow_error(&path))?;
            self.files.push(path.clone());
            self.shard = Some((path, writer));
        }
        let (path, writer) = self.shard.as_mut().expect("a shard is open");
        let batch = RecordBatch::try_new(schema, columns).map_err(arrow_error(path))?;
        writer.write(&batch).map_err(arrow_error(path))?;
        self.rows_in_shard += self.pending;
        self.pending = 0;
        if self.rows_in_shard >= self.rows_per_shard {
            self.close_shard()?;
        }
        Ok(())
    }

    fn close_shard(&mut self) -> Result<(), ShardError> {
        if let Some((path, mut writer)) = self.shard.take() {
            writer.finish().map_err(arrow_error(&path))?;
            let file = writer.into_inner().map_err(arrow_error(&path))?;
            let file = file
                .into_inner()
                .map_err(|e| io_error(&path)(e.into_error()))?;
            file.sync_all().map_err(io_error(&path))?;
        }
        self.rows_in_shard = 0;
        Ok(())
    }
}

/// The rows of a shard folder, read through memory maps.
pub struct Shards {
    batches: Vec<RecordBatch>,
    /// Rows before the end of each batch.
    ends: Vec<usize>,
    /// The mapped files.
    maps: Vec<Arc<memmap2::Mmap>>,
    /// The name of the label column, when the rows have one.
    label: Option<String>,
    /// Rows read so far.
    reads: AtomicUsize,
}

impl Shards {
    /// Maps every `*.arrow` file of `dir`, in name order, and checks their columns.
    pub fn open(dir: &Path) -> Result<Self, ShardError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_error(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "arrow"))
            .collect();
        files.sort();
        let mut shards = Shards {
            batches: Vec::new(),
            ends: Vec::new(),
            maps: Vec::new(),
            label: None,
            reads: AtomicUsize::new(0),
        };
        for path in &files {
            let (map, batches) = map_batches(path)?;
            for batch in batches {
                let label = check_columns(&batch, path)?;
                if shards.batches.is_empty() {
                    shards.label = label.clone();
                }
                if label != shards.label {
                    let message = "its columns are not those of the folder's first file";
                    return Err(format_error(path, message));
                }
                let end = shards.len() + batch.num_rows();
                shards.batches.push(batch);
                shards.ends.push(end);
            }
            release(&map);
            shards.maps.push(map);
        }
        Ok(shards)
    }

    /// Rows in all shards.
    pub fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of the rows' label column, if they have one.
    pub fn label_column(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The label of row `i`, if the rows have one.
    ///
    /// # Panics
    /// If `i` is not below [`Shards::len`].
    pub fn label(&self, i: usize) -> Option<i64> {
        self.label.as_ref()?;
        let (batch, r) = self.locate(i);
        Some(batch.column(3).as_primitive::<Int64Type>().value(r))
    }

    /// Row `i` (in file order), as slices of the mapped files.
    ///
    /// # Panics
    /// If `i` is not below [`Shards::len`].
    pub fn row(&self, i: usize) -> TokenRow<'_> {
        if self.reads.fetch_add(1, Ordering::Relaxed) % RELEASE_EVERY == RELEASE_EVERY - 1 {
            self.maps.iter().for_each(|map| release(map));
        }
        let (batch, r) = self.locate(i);
        TokenRow {
            ids: list_row::<UInt32Type>(batch.column(0), r),
            special: list_row::<UInt8Type>(batch.column(1), r),
            word_start: list_row::<UInt8Type>(batch.column(2), r),
        }
    }

    /// The batch holding row `i`, and the row's place in it.
    fn locate(&self, i: usize) -> (&RecordBatch, usize) {
        let b = self.ends.partition_point(|&end| end <= i);
        let start = if b == 0 { 0 } else { self.ends[b - 1] };
        (&self.batches[b], i - start)
    }
}

/// The values of row `r` of a list column.
fn list_row<T: arrow_array::ArrowPrimitiveType>(column: &ArrayRef, r: usize) -> &[T::Native] {
    let list = column.as_list::<i32>();
    let offsets = list.value_offsets();
    let values = list.values().as_primitive::<T>().values();
    &values[offsets[r] as usize..offsets[r + 1] as usize]
}

/// Drops the pages of `map` from this process's page tables (not from the page cache): the next
/// read of a row maps its page again.
pub(crate) fn release(map: &memmap2::Mmap) {
    // SAFETY: the map is a read-only shared mapping of a file that is not changed while mapped;
    // MADV_DONTNEED only unmaps its pages, and reading them again gives the same bytes. Rows
    // handed out earlier stay valid: the mapping itself stays.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

/// The record batches of one stream file, their buffers inside its memory map.
fn map_batches(path: &Path) -> Result<(Arc<memmap2::Mmap>, Vec<RecordBatch>), ShardError> {
    let file = File::open(path).map_err(io_error(path))?;
    // SAFETY: the map is read only; shards are written once, renamed into place, and not
    // changed while a run reads them.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error(path))?;
    let Some(start) = NonNull::new(map.as_ptr() as *mut u8).filter(|_| !map.is_empty()) else {
        return Err(format_error(path, "the file is empty"));
    };
    let len = map.len();
    let map = Arc::new(map);
    // SAFETY: `start..start + len` is the mapping, which the buffer keeps alive (its owner).
    let mut buffer = unsafe { Buffer::from_custom_allocation(start, len, map.clone()) };
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(arrow_error(path))? {
            batches.push(batch);
        }
    }
    decoder.finish().map_err(arrow_error(path))?;
    Ok((map, batches))
}

/// Refuses a batch whose columns are not [`COLUMNS`] with their types, optionally followed by
/// one column of i64 labels; the name of that column.
fn check_columns(batch: &RecordBatch, path: &Path) -> Result<Option<String>, ShardError> {
    let schema = batch.schema();
    let fields = schema.fields();
    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    let wanted = [
        list(DataType::UInt32),
        list(DataType::UInt8),
        list(DataType::UInt8),
    ];
    let tokens = fields.len() >= 3
        && fields
            .iter()
            .zip(COLUMNS.iter().zip(&wanted))
            .all(|(f, (name, t))| f.name() == name && f.data_type() == t);
    let label = match fields.len() {
        3 => Some(None),
        4 if fields[3].data_type() == &DataType::Int64 => Some(Some(fields[3].name().clone())),
        _ => None,
    };
    let no_nulls = batch.columns().iter().all(|c| c.null_count() == 0);
    if let (true, Some(label), true) = (tokens, label, no_nulls) {
        return Ok(label);
    }
    let found: Vec<String> = fields
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    Err(format_error(
        path,
        &format!(
            "expected columns input_ids (list of u32), special_tokens_mask and word_start (lists \
             of u8), and optionally a label (i64), without nulls, found {}",
            found.join(", ")
        ),
    ))
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ShardError + '_ {
    move |source| ShardError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn arrow_error(path: &Path) -> impl Fn(ArrowError) -> ShardError + '_ {
    move |e| format_error(path, &e.to_string())
}

fn format_error(path: &Path, message: &str) -> ShardError {
    ShardError::Format {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> (Vec<u32>, Vec<u8>, Vec<u8>) {
        let n = 2 + i % 7;
        let ids = (0..n as u32).map(|k| k * 31 + i as u32).collect();
        let special = (0..n).map(|k| u8::from(k == 0 || k == n - 1)).collect();
        let word_start = (0..n).map(|k| u8::from(k % 3 != 1)).collect();
        (ids, special, word_start)
    }

    #[test]
    fn rows_come_back_in_order_across_batches_and_shards() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::create(dir.path(), 2500).unwrap();
        let rows: Vec<_> = (0..6000).map(row).collect();
        for (ids, special, word_start) in &rows {
            writer
                .push(TokenRow {
                    ids,
                    special,
                    word_start,
                })
                .unwrap();
        }
        let files = writer.finish().unwrap();
        assert_eq!(files.len(), 3);
        let shards = Shards::open(dir.path()).unwrap();
        assert_eq!(shards.len(), 6000);
        for (i, (ids, special, word_start)) in rows.iter().enumerate() {
            let back = shards.row(i);
            assert_eq!(
                (back.ids, back.special, back.word_start),
                (&ids[..], &special[..], &word_start[..]),
                "row {i}"
            );
        }
    }

    #[test]
    fn labelled_rows_keep_their_labels_and_unlabelled_folders_have_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::create_labelled(dir.path(), 1500, "next").unwrap();
        let rows: Vec<_> = (0..3000).map(row).collect();
        for (i, (ids, special, word_start)) in rows.iter().enumerate() {
            let row = TokenRow {
                ids,
                special,
                word_start,
            };
            writer.push_labelled(row, i as i64 % 3 - 1).unwrap();
        }
        writer.finish().unwrap();
        let shards = Shards::open(dir.path()).unwrap();
        assert_eq!(shards.label_column(), Some("next"));
        for (i, (ids, _, _)) in rows.iter().enumerate() {
            assert_eq!(shards.label(i), Some(i as i64 % 3 - 1), "row {i}");
            assert_eq!(shards.row(i).ids, &ids[..], "row {i}");
        }

        let plain = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::create(plain.path(), 1500).unwrap();
        let (ids, special, word_start) = row(0);
        let row = TokenRow {
            ids: &ids,
            special: &special,
            word_start: &word_start,
        };
        writer.push(row).unwrap();
        writer.finish().unwrap();
        let shards = Shards::open(plain.path()).unwrap();
        assert_eq!((shards.label_column(), shards.label(0)), (None, None));

        // A folder mixing both layouts is refused.
        std::fs::copy(
            plain.path().join("part-00000.arrow"),
            dir.path().join("part-00009.arrow"),
        )
        .unwrap();
        let Err(error) = Shards::open(dir.path()) else {
            panic!("mixed columns were read");
        };
        assert!(error.to_string().contains("part-00009.arrow"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_shard_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-00000.arrow");
        std::fs::write(&path, b"not arrow at all, just text").unwrap();
        let Err(error) = Shards::open(dir.path()) else {
            panic!("garbage was read as a shard");
        };
        assert!(error.to_string().contains("part-00000.arrow"), "{error}");
        std::fs::write(&path, b"").unwrap();
        let Err(error) = Shards::open(dir.path()) else {
            panic!("an empty file was read as a shard");
        };
        assert!(error.to_string().contains("empty"), "{error}");
    }
}
