//! The lines of a text file, numbered as an editor numbers them.

use std::io::BufRead;

/// The byte-order mark some editors put at the start of UTF-8 files.
const BOM: char = '\u{feff}';

/// Each line of `reader` with its 1-based number, without its line ending (`\n` or `\r\n`)
/// and, on line 1, without a UTF-8 byte-order mark.
pub fn numbered_lines<R: BufRead>(
    reader: R,
) -> impl Iterator<Item = (usize, std::io::Result<String>)> {
    reader.lines().enumerate().map(|(index, line)| {
        let line = match (index, line) {
            (0, Ok(first)) => Ok(first.strip_prefix(BOM).map(str::to_string).unwrap_or(first)),
            (_, other) => other,
        };
        (index + 1, line)
    })
}

/// Line numbers of byte offsets in a file's bytes (for the csv crate, whose own line count is
/// off with `\r\n` endings).
pub(crate) struct LineIndex<'a> {
    bytes: &'a [u8],
    /// The offset of every `\n`.
    newlines: Vec<u64>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let newlines = (0..bytes.len() as u64)
            .filter(|&i| bytes[i as usize] == b'\n')
            .collect();
        LineIndex { bytes, newlines }
    }

    /// The 1-based line of a csv record or error position (0 when there is none). A position
    /// may point at the end of the line before (the `\n` of a `\r\n`): line endings there are
    /// skipped.
    pub(crate) fn line(&self, position: Option<&csv::Position>) -> usize {
        let Some(p) = position else {
            return 0;
        };
        let mut at = p.byte() as usize;
        while at < self.bytes.len() && matches!(self.bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        self.newlines.partition_point(|&n| n < at as u64) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_in_every_line_ending_and_a_bom_is_dropped() {
        for text in [
            "\u{feff}a\nb\n\nc",
            "a\r\nb\r\n\r\nc\r\n",
            "\u{feff}a\r\nb\n\r\nc",
        ] {
            let lines: Vec<(usize, String)> = numbered_lines(text.as_bytes())
                .map(|(n, l)| (n, l.unwrap()))
                .collect();
            let expected = [(1, "a"), (2, "b"), (3, ""), (4, "c")].map(|(n, l)| (n, l.to_string()));
            assert_eq!(lines, expected, "{text:?}");
        }
    }
}
