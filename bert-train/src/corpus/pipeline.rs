//! Reading a text file's documents while they are tokenized: a thread reads chunks of
//! documents, another has each chunk encoded on the rayon pool, and the caller's thread takes
//! the encoded documents in file order. The three stages overlap, so no core waits.

use std::sync::mpsc;

use rayon::prelude::*;

use bert_data::readers::{Documents, TextDocument};
use bert_data::PieceIds;

use super::progress::Progress;
use super::Source;
use crate::TrainError;

/// Text read before a chunk of documents is encoded (in parallel).
const CHUNK_BYTES: usize = 4 << 20;

/// A chunk of documents as read: the documents, or the error that ended the reading, and the
/// bytes of the file read by then.
type Chunk<T> = (Result<Vec<T>, TrainError>, u64);

/// What reading a text gave: documents and bytes read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Read {
    /// Documents (lines, one per line) read.
    pub documents: usize,
    /// Bytes of the file read.
    pub bytes: u64,
}

/// Reads the documents of `source` (up to its limit; one per line with `line_by_line`, with
/// their lines when `keep_lines`), has `encode` make each into a `T` on the rayon pool (with
/// buffers it may reuse), and hands them to `consume` in file order, reporting the bytes read
/// to `progress`.
pub fn read_encoded<T: Send>(
    source: &Source,
    line_by_line: bool,
    keep_lines: bool,
    progress: &mut dyn Progress,
    encode: &(dyn Fn(&mut PieceIds, &TextDocument) -> T + Sync),
    consume: &mut dyn FnMut(T) -> Result<(), TrainError>,
) -> Result<Read, TrainError> {
    let total = std::fs::metadata(source.path).map(|m| m.len()).unwrap_or(0);
    let mut documents = Documents::open(source.path, line_by_line)?;
    if !keep_lines {
        documents = documents.without_lines();
    }
    let mut read = Read::default();
    std::thread::scope(|scope| -> Result<(), TrainError> {
        let (read_tx, read_rx) = mpsc::sync_channel::<Chunk<TextDocument>>(2);
        let (encoded_tx, encoded_rx) = mpsc::sync_channel::<Chunk<T>>(2);
        scope.spawn(move || {
            let mut left = source.limit.unwrap_or(usize::MAX);
            loop {
                let chunk = next_chunk(&mut documents, &mut left);
                let end = matches!(&chunk, Ok(c) if c.is_empty()) || chunk.is_err();
                // The receiver is gone when consuming failed.
                if read_tx.send((chunk, documents.bytes_read())).is_err() || end {
                    break;
                }
            }
        });
        scope.spawn(move || {
            for (chunk, bytes) in read_rx {
                let encoded = chunk.map(|documents| {
                    documents
                        .par_iter()
                        .map_init(PieceIds::default, |buffers, d| encode(buffers, d))
                        .collect()
                });
                if encoded_tx.send((encoded, bytes)).is_err() {
                    break;
                }
            }
        });
        for (encoded, bytes) in encoded_rx {
            let encoded = encoded?;
            read.documents += encoded.len();
            for document in encoded {
                consume(document)?;
            }
            read.bytes = bytes;
            progress.update(bytes, total);
        }
        Ok(())
    })?;
    Ok(read)
}

/// The next documents, up to about [`CHUNK_BYTES`] of text and at most `left` of them.
fn next_chunk(
    documents: &mut Documents,
    left: &mut usize,
) -> Result<Vec<TextDocument>, TrainError> {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while bytes < CHUNK_BYTES && *left > 0 {
        let Some(document) = documents.next() else {
            break;
        };
        let document = document?;
        bytes += document.text.len();
        *left -= 1;
        chunk.push(document);
    }
    Ok(chunk)
}
